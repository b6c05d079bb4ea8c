/* raft.c - the core's public entry points: creation, step dispatch by role
 * and term, proposals, status and names. */
#include "raft.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core_buf.h"
#include "core_check.h"
#include "core_config.h"
#include "core_election.h"
#include "core_read.h"
#include "core_ready.h"
#include "core_replication.h"
#include "core_state.h"
#include "core_transfer.h"

/* The invariants of struct raft (core_check.h) hold after every public
 * entry point that changes it; like assert(), only NDEBUG compiles the
 * check out. */
#ifdef NDEBUG
#define CHECK(r) ((void)(r))
#else
#define CHECK(r) raft__check(r)
#endif

static void set_defaults(struct raft_options *o)
{
	if (o->max_append_entries == 0)
		o->max_append_entries = RAFT_DEFAULT_MAX_APPEND_ENTRIES;
	if (o->max_append_bytes == 0)
		o->max_append_bytes = RAFT_DEFAULT_MAX_APPEND_BYTES;
	if (o->max_inflight == 0)
		o->max_inflight = RAFT_DEFAULT_MAX_INFLIGHT;
	if (o->max_pending_entries == 0)
		o->max_pending_entries = RAFT_DEFAULT_MAX_PENDING_ENTRIES;
	if (o->max_pending_reads == 0)
		o->max_pending_reads = RAFT_DEFAULT_MAX_PENDING_READS;
	if (o->max_read_rounds == 0)
		o->max_read_rounds = RAFT_DEFAULT_MAX_READ_ROUNDS;
	if (o->max_entry_bytes == 0)
		o->max_entry_bytes = RAFT_DEFAULT_MAX_ENTRY_BYTES;
}

/* Whether every term and index of @rs is within the number space
 * (raft.h). Checked apart from restore_valid() so that the caller can say
 * which: a state from before the range checks is not merely malformed. */
static bool restore_in_range(const struct raft_restore *rs)
{
	if (rs->hs.term > RAFT_TERM_MAX || rs->snapshot_term > RAFT_TERM_MAX ||
	    rs->hs.commit > RAFT_INDEX_MAX ||
	    rs->snapshot_index > RAFT_INDEX_MAX ||
	    rs->applied > RAFT_INDEX_MAX ||
	    rs->n_entries > RAFT_INDEX_MAX - rs->snapshot_index)
		return false;
	for (size_t i = 0; i < rs->n_entries; i++)
		if (rs->entries != NULL && rs->entries[i].term > RAFT_TERM_MAX)
			return false;
	return true;
}

static bool restore_valid(const struct raft_restore *rs)
{
	raft_term t = rs->snapshot_term;
	raft_index last = rs->snapshot_index + rs->n_entries;

	if (rs->n_entries > 0 && rs->entries == NULL)
		return false;
	if ((rs->snapshot_index == 0) != (rs->snapshot_term == 0))
		return false;
	for (size_t i = 0; i < rs->n_entries; i++) {
		const struct raft_entry *e = &rs->entries[i];

		/* Entries of a term above hs.term are fine: see raft_new(). */
		if (e->index != rs->snapshot_index + 1 + i || e->term < t ||
		    e->term == 0)
			return false;
		if (e->len > 0 && e->data == NULL)
			return false;
		t = e->term;
	}
	if (rs->applied > last)
		return false;
	return rs->hs.vote == 0 || rs->hs.term > 0;
}

static void free_members(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		raft__progress_close(&r->prs[i]);
	free(r->prs);
	raft__log_close(&r->log);
	raft__msgq_clear(&r->msgs);
	raft__msgq_clear(&r->msgs_after);
	free(r->msgs.v);
	free(r->msgs_after.v);
	free(r->reads_out.v);
	free(r->failed_out.v);
	free(r->reads.v);
	for (size_t i = 0; i < r->fwd.n; i++)
		raft__buf_unref(r->fwd.v[i].data);
	free(r->fwd.v);
	raft__config_close(r);
}

raft_index raft_restore_commit(const struct raft_restore *rs)
{
	raft_index last = rs->snapshot_index, c = rs->hs.commit;

	/* Saturating: @rs may not have been range checked yet. */
	if (rs->n_entries <= RAFT_INDEX_MAX - last)
		last += rs->n_entries;
	else
		last = RAFT_INDEX_MAX;
	if (c > last)
		c = last;
	if (c < rs->applied)
		c = rs->applied;
	if (c < rs->snapshot_index)
		c = rs->snapshot_index;
	return c;
}

int raft_new(const struct raft_options *opts,
	     const struct raft_restore *restore, struct raft **out)
{
	static const struct raft_restore empty;
	const struct raft_restore *rs = restore != NULL ? restore : &empty;
	struct raft *r;

	*out = NULL;
	if (opts == NULL || opts->id == 0 || opts->election_ticks == 0 ||
	    opts->heartbeat_ticks == 0 ||
	    opts->heartbeat_ticks >= opts->election_ticks ||
	    (opts->n_voters > 0 && opts->voters == NULL))
		return RAFT_EINVAL;
	if (opts->lease_ticks > 0 &&
	    (!opts->check_quorum || opts->election_ticks < 4 ||
	     opts->lease_ticks > opts->election_ticks - 3))
		return RAFT_EINVAL;
	if (!restore_in_range(rs))
		return RAFT_ERANGE;
	if (!restore_valid(rs))
		return RAFT_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RAFT_ENOMEM;
	r->id = opts->id;
	r->opts = *opts;
	r->opts.voters = NULL;
	r->opts.n_voters = 0;
	set_defaults(&r->opts);
	/* An empty voter list is a member waiting to be added (later). */
	if (opts->n_voters > 0 &&
	    raft__quorum_init(&r->quorum, opts->voters, opts->n_voters) != 0)
		goto einval;
	raft__rng_seed(&r->rng, opts->seed);
	/* Follower read request ids start at a random point: an answer
	 * meant for this member's previous incarnation (same ids, delayed in
	 * the network across a restart) must not match a new request
	 * (thesis §6.4). */
	r->read_seq = raft__rng_next(&r->rng) >> 2;

	r->prs = calloc(opts->n_voters ? opts->n_voters : 1, sizeof(*r->prs));
	if (r->prs == NULL)
		goto enomem;
	for (size_t i = 0; i < opts->n_voters; i++) {
		if (raft__progress_init(&r->prs[i], opts->voters[i],
					r->opts.max_inflight) != 0)
			goto enomem;
		r->n_prs++;
	}
	if (raft__log_init(&r->log, rs->snapshot_index, rs->snapshot_term,
			   rs->entries, rs->n_entries) != 0)
		goto enomem;
	r->term = rs->hs.term;
	r->vote = rs->hs.vote;
	r->log.commit = rs->hs.commit;
	/* A crash may keep any prefix of the writes under way (rule 1 fixes
	 * no order inside one ready): entries of a term whose hard state
	 * did not reach the disk, or a commit index past the entries that
	 * did. Nothing was acknowledged for them (rule 3), so no vote of
	 * that newer term was ever promised; and the commit index is only a
	 * hint. The last term is the snapshot's when no entry follows it: a
	 * snapshot installed (rule 7) before its ready's hard state. */
	if (raft__log_last_term(&r->log) > r->term) {
		r->term = raft__log_last_term(&r->log);
		r->vote = 0;
	}
	r->log.commit = raft_restore_commit(rs);
	assert(r->log.commit <= raft__log_last_index(&r->log));
	r->applied =
	    rs->applied > rs->snapshot_index ? rs->applied : rs->snapshot_index;
	r->log.applied_handed = r->applied;
	/* The configuration: the last one in the log, else the snapshot's,
	 * else the founding voters (core_config.h). */
	switch (raft__config_init(r, opts, rs)) {
	case RAFT_OK:
		break;
	case RAFT_EINVAL:
		goto einval;
	default:
		goto enomem;
	}

	r->role = RAFT_FOLLOWER;
	r->prev_role = RAFT_FOLLOWER;
	r->prev_hs = rs->hs;
	raft__reset_timeout(r);
	CHECK(r);
	*out = r;
	return RAFT_OK;

einval:
	free_members(r);
	free(r);
	return RAFT_EINVAL;
enomem:
	free_members(r);
	free(r);
	return RAFT_ENOMEM;
}

void raft_free(struct raft *r)
{
	if (r == NULL)
		return;
	free_members(r);
	free(r);
}

void raft_tick(struct raft *r)
{
	r->ticks++;
	raft__election_tick(r);
	raft__transfer_tick(r);
	raft__read_tick(r);
	CHECK(r);
}

static bool from_leader(const struct raft_msg *m)
{
	return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
	       m->type == RAFT_MSG_SNAPSHOT;
}

/* Reconciles the message's term with ours (Figure 2, "Rules for Servers":
 * a higher term makes us follower; a lower one marks a stale message).
 * Returns whether the message is to be handled further. */
static bool step_term(struct raft *r, const struct raft_msg *m)
{
	if (m->term > r->term) {
		if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
			if (raft__in_lease(r, m))
				return false;
		}
		/* A PreVote does not change terms, nor does a granted
		 * answer to ours (it carries the term we would use). */
		if (m->type == RAFT_MSG_PREVOTE ||
		    (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
			return true;
		raft__become_follower(r, m->term, from_leader(m) ? m->from : 0);
		return true;
	}
	if (m->term < r->term) {
		if ((r->opts.check_quorum || r->opts.pre_vote) &&
		    from_leader(m)) {
			/* A leader cut off while we moved on would otherwise
			 * never learn the newer term: with PreVote nobody
			 * sends it a higher-term VOTE. Tell it. */
			struct raft_msg resp = {
			    .type = RAFT_MSG_APPEND_RESP,
			    .to = m->from,
			    .reject = true,
			};
			raft__send(r, &resp, false);
		} else if (m->type == RAFT_MSG_PREVOTE) {
			struct raft_msg resp = {
			    .type = RAFT_MSG_PREVOTE_RESP,
			    .to = m->from,
			    .reject = true,
			};
			raft__send(r, &resp, false);
		}
		return false;
	}
	return true;
}

static int step(struct raft *r, const struct raft_msg *m);

/* A SNAPSHOT stepped with the snapshot's configuration (raft.h): the
 * message is handled without it, and the configuration becomes the base
 * one if the snapshot was accepted. */
static int step_snapshot_config(struct raft *r, const struct raft_msg *m)
{
	struct raft_membership cfg;
	struct raft_msg plain = *m;
	int rv;

	if (m->entries == NULL ||
	    raft_membership_decode(m->entries[0].data, m->entries[0].len,
				   &cfg) != RAFT_OK)
		return RAFT_EINVAL;
	cfg.index = m->entries[0].index ? m->entries[0].index : m->index;
	plain.entries = NULL;
	plain.n_entries = 0;
	rv = step(r, &plain);
	if (rv == RAFT_OK && r->snap_pending && r->snap_out.index == m->index)
		raft__config_snapshot(r, &cfg);
	return rv;
}

/* Whether every term and index @m carries is within the number space
 * (raft.h). A term past RAFT_TERM_MAX would be adopted and never left
 * again (term + 1 must not wrap), so it is refused before anything else. */
static bool msg_in_range(const struct raft_msg *m)
{
	if (m->term > RAFT_TERM_MAX || m->log_term > RAFT_TERM_MAX ||
	    m->hint_term > RAFT_TERM_MAX || m->index > RAFT_INDEX_MAX ||
	    m->commit > RAFT_INDEX_MAX || m->hint_index > RAFT_INDEX_MAX)
		return false;
	if (m->type == RAFT_MSG_APPEND &&
	    m->n_entries > RAFT_INDEX_MAX - m->index)
		return false;
	for (size_t i = 0; i < m->n_entries && m->entries != NULL; i++)
		if (m->entries[i].term > RAFT_TERM_MAX ||
		    m->entries[i].index > RAFT_INDEX_MAX)
			return false;
	return true;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	int rv;

	if (m == NULL)
		return RAFT_EINVAL;
	if (!msg_in_range(m))
		return RAFT_ERANGE;
	if (m->type == RAFT_MSG_SNAPSHOT && m->n_entries == 1 &&
	    m->entries != NULL && m->entries[0].type == RAFT_ENTRY_CONFIG)
		rv = step_snapshot_config(r, m);
	else
		rv = step(r, m);
	/* Configurations take effect when appended, and a leader acts on
	 * committed ones (core_config.h). */
	raft__config_after(r);
	CHECK(r);
	return rv;
}

static int step(struct raft *r, const struct raft_msg *m)
{
	/* Thesis §4.1: "servers process incoming RPC requests without
	 * consulting their current configurations": a member whose
	 * configuration is stale must still follow a leader it does not
	 * know of yet, and vote for it. A removed member cannot disrupt:
	 * its votes lack the up-to-date log, and PreVote and the leader
	 * lease keep its terms from spreading (§4.2.3). */
	if (m->to != r->id || m->from == 0 || m->from == r->id)
		return RAFT_OK;
	if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_SNAPSHOT)
		return RAFT_EINVAL;
	if (!step_term(r, m))
		return RAFT_OK;

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		/* Election Safety (§5.2): one leader per term, so this
		 * comes from a broken peer; it must not make us truncate. */
		if (r->role == RAFT_LEADER)
			return RAFT_OK;
		if (r->role != RAFT_FOLLOWER)
			raft__become_follower(r, m->term, m->from);
		if (m->type == RAFT_MSG_APPEND)
			return raft__step_append(r, m);
		if (m->type == RAFT_MSG_SNAPSHOT)
			return raft__step_snapshot(r, m);
		return raft__step_heartbeat(r, m);
	case RAFT_MSG_APPEND_RESP:
		if (r->role == RAFT_LEADER)
			return raft__step_append_resp(r, m);
		return RAFT_OK;
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == RAFT_LEADER)
			return raft__step_heartbeat_resp(r, m);
		return RAFT_OK;
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		return raft__step_vote(r, m);
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		return raft__step_vote_resp(r, m);
	case RAFT_MSG_PROPOSE:
		if (r->role == RAFT_LEADER && r->transferee == 0)
			return raft__step_propose(r, m);
		return RAFT_OK;
	case RAFT_MSG_READ_INDEX:
		return raft__step_read_index(r, m);
	case RAFT_MSG_READ_INDEX_RESP:
		return raft__step_read_index_resp(r, m);
	case RAFT_MSG_TIMEOUT_NOW:
		/* Thesis §3.10: the target "starts a new election
		 * immediately", skipping PreVote: the leader asked for it. */
		if (r->role != RAFT_LEADER)
			raft__campaign(r, false, true);
		return RAFT_OK;
	}
	assert(!"every message type in range has a case");
	return RAFT_OK;
}

static int propose(struct raft *r, const void *data, size_t len,
		   raft_index *index)
{
	if (index != NULL)
		*index = 0;
	if (len > 0 && data == NULL)
		return RAFT_EINVAL;
	if (r->role == RAFT_LEADER) {
		if (r->transferee != 0)
			return RAFT_ETRANSFER;
		return raft__append_local(r, RAFT_ENTRY_NORMAL, data, len,
					  index);
	}
	if (r->leader == 0)
		return RAFT_ENOLEADER;
	return raft__forward(r, data, len);
}

int raft_propose(struct raft *r, const void *data, size_t len,
		 raft_index *index)
{
	int rv = propose(r, data, len, index);

	CHECK(r);
	return rv;
}

int raft_propose_config(struct raft *r, const struct raft_config_change *c,
			raft_index *index)
{
	int rv = raft__config_propose(r, c, index);

	CHECK(r);
	return rv;
}

int raft_transfer_leadership(struct raft *r, raft_id to)
{
	int rv = raft__transfer(r, to);

	CHECK(r);
	return rv;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
	int rv = raft__read_index(r, ctx);

	CHECK(r);
	return rv;
}

void raft_persisted(struct raft *r, raft_index index, raft_term term)
{
	/* Rule 2 of raft.h: the leader's own copy counts toward a majority
	 * only once durable. */
	if (raft__log_persisted(&r->log, index, term) &&
	    r->role == RAFT_LEADER) {
		/* An entry of this term is durable: a restart resumes at
		 * least in this term (raft_new() takes the last entry's
		 * term), so the term can no longer be won twice. */
		if (term == r->term)
			r->term_unwitnessed = false;
		raft__maybe_commit(r);
		raft__config_after(r);
	}
	CHECK(r);
}

void raft_applied(struct raft *r, raft_index index)
{
	if (index > r->applied)
		r->applied = index;
	CHECK(r);
}

int raft_compact(struct raft *r, raft_index index)
{
	if (index <= r->log.snap_index)
		return RAFT_OK;
	/* Only what the state machine holds may leave the log: entries
	 * applied here (and so committed and durable, rule 5). */
	if (index > r->applied || index > r->log.applied_handed)
		return RAFT_EINVAL;
	raft__config_compact(r, index);
	raft__log_compact(&r->log, index);
	CHECK(r);
	return RAFT_OK;
}

void raft_report_snapshot(struct raft *r, raft_id peer, bool ok)
{
	raft__report_snapshot(r, peer, ok);
	CHECK(r);
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	raft__ready(r, rd);
	CHECK(r);
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	raft__advance(r, rd);
	CHECK(r);
}

void raft_status(const struct raft *r, struct raft_status *out)
{
	memset(out, 0, sizeof(*out));
	out->id = r->id;
	out->role = r->role;
	out->term = r->term;
	out->leader = r->leader;
	out->commit = r->log.commit;
	out->applied = r->applied;
	out->persisted = r->log.persisted;
	out->first_index = raft__log_first_index(&r->log);
	out->last_index = raft__log_last_index(&r->log);
	out->snapshot_index = r->log.snap_index;
	out->snapshot_term = r->log.snap_term;
	out->pending_reads = r->reads.n;
	if (r->role == RAFT_LEADER)
		out->pending_entries =
		    (size_t)(raft__log_last_index(&r->log) - r->log.commit);
	raft__config_status(r, out);
}

void raft_read_counts(const struct raft *r, uint64_t *rounds,
		      uint64_t *lease_reads)
{
	*rounds = r->read_rounds;
	*lease_reads = r->lease_reads;
}

enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}

raft_id raft_leader(const struct raft *r)
{
	return r->leader;
}

const char *raft_strerror(int err)
{
	switch (err) {
	case RAFT_OK:
		return "ok";
	case RAFT_ENOLEADER:
		return "no leader known";
	case RAFT_EBUSY:
		return "too many pending requests";
	case RAFT_EINVAL:
		return "invalid argument";
	case RAFT_ENOMEM:
		return "out of memory";
	case RAFT_ETOO_LARGE:
		return "entry too large";
	case RAFT_ETRANSFER:
		return "leadership transfer in progress";
	case RAFT_ENOTLEADER:
		return "not the leader any more";
	case RAFT_EREMOVED:
		return "removed from the cluster";
	case RAFT_ECONFIG:
		return "a membership change is in progress";
	case RAFT_ERANGE:
		return "a term or index out of range (terms stop at 2^63-1, "
		       "indexes at 2^64-2)";
	}
	return "unknown error";
}

const char *raft_role_name(enum raft_role role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRECANDIDATE:
		return "precandidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	}
	return "unknown";
}

const char *raft_msg_type_name(int type)
{
	static const char *const names[] = {
	    [RAFT_MSG_APPEND] = "append",
	    [RAFT_MSG_APPEND_RESP] = "append_resp",
	    [RAFT_MSG_VOTE] = "vote",
	    [RAFT_MSG_VOTE_RESP] = "vote_resp",
	    [RAFT_MSG_PREVOTE] = "prevote",
	    [RAFT_MSG_PREVOTE_RESP] = "prevote_resp",
	    [RAFT_MSG_HEARTBEAT] = "heartbeat",
	    [RAFT_MSG_HEARTBEAT_RESP] = "heartbeat_resp",
	    [RAFT_MSG_PROPOSE] = "propose",
	    [RAFT_MSG_READ_INDEX] = "read_index",
	    [RAFT_MSG_READ_INDEX_RESP] = "read_index_resp",
	    [RAFT_MSG_TIMEOUT_NOW] = "timeout_now",
	    [RAFT_MSG_SNAPSHOT] = "snapshot",
	};

	if (type < RAFT_MSG_APPEND || type > RAFT_MSG_SNAPSHOT)
		return "unknown";
	return names[type];
}
