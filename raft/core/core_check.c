/* core_check.c - the invariants of one struct raft: one table of {name,
 * source, check}, run after every public entry point (core_check.h). */
#include "core_check.h"

#include <stdio.h>
#include <stdlib.h>

#include "core_config.h"

struct invariant {
	const char *name;   /* what must hold, as the failure names it */
	const char *source; /* the paper section or raft.h rule */
	bool (*holds)(const struct raft *r);
	bool full; /* walks a queue: only with KVD_CORE_CHECK */
};

static bool implies(bool a, bool b)
{
	return !a || b;
}

static raft_index last_index(const struct raft *r)
{
	return raft__log_last_index(&r->log);
}

/* ---- terms, votes and roles ---- */

/* raft.h, "The number space": a term beyond it would never be left. */
static bool term_in_range(const struct raft *r)
{
	return r->term <= RAFT_TERM_MAX;
}

/* Figure 2: votedFor is the candidate voted for in currentTerm; there is
 * none in term 0. */
static bool vote_has_term(const struct raft *r)
{
	return implies(r->vote != 0, r->term > 0);
}

/* Figure 2: currentTerm "increases monotonically" — never below the
 * hard state the last ready handed out. */
static bool term_not_below_handed(const struct raft *r)
{
	return r->prev_hs.term <= r->term;
}

static bool role_known(const struct raft *r)
{
	return r->role == RAFT_FOLLOWER || r->role == RAFT_PRECANDIDATE ||
	       r->role == RAFT_CANDIDATE || r->role == RAFT_LEADER;
}

/* Raft §5.2: a member knows itself as leader exactly while it leads. */
static bool leader_is_self_when_leading(const struct raft *r)
{
	return (r->role == RAFT_LEADER) == (r->leader == r->id);
}

/* Raft §5.2: a candidate "votes for itself", and keeps that vote as the
 * leader of the same term. */
static bool candidate_voted_for_self(const struct raft *r)
{
	return implies(r->role == RAFT_CANDIDATE || r->role == RAFT_LEADER,
		       r->vote == r->id);
}

/* Raft §5.2, thesis §9.6: a member campaigns only once it heard from no
 * leader; a leader it hears from makes it follower again. */
static bool campaign_knows_no_leader(const struct raft *r)
{
	return implies(r->role == RAFT_CANDIDATE ||
			   r->role == RAFT_PRECANDIDATE,
		       r->leader == 0);
}

/* raft.h rule 3: only a leader that won without a remote vote holds back
 * its messages until its term is durable. */
static bool unwitnessed_only_on_leader(const struct raft *r)
{
	return implies(r->term_unwitnessed, r->role == RAFT_LEADER);
}

/* Raft §5.2: election timeouts are random in [e, 2e); a leader's timers
 * restart when they expire. */
static bool timers_in_bounds(const struct raft *r)
{
	unsigned e = r->opts.election_ticks;

	if (r->randomized_timeout < e || r->randomized_timeout >= 2 * e)
		return false;
	return implies(r->role == RAFT_LEADER,
		       r->election_elapsed < e &&
			   r->heartbeat_elapsed < r->opts.heartbeat_ticks);
}

/* ---- the log ---- */

/* Figure 2: every entry carries the term of the leader that created it,
 * which this member has seen (raft_new() raises the term to the log's). */
static bool log_not_of_later_term(const struct raft *r)
{
	return raft__log_last_term(&r->log) <= r->term &&
	       r->log.snap_term <= r->term;
}

/* Thesis §5.1: a snapshot includes at least one entry, which has a term. */
static bool snapshot_index_and_term_together(const struct raft *r)
{
	return (r->log.snap_index == 0) == (r->log.snap_term == 0);
}

/* Raft §5.3, Log Matching: the log is consecutive after the snapshot and
 * terms never decrease along it. raft__log_append() asserts it for each
 * entry it takes; this checks the ends. */
static bool log_continues_snapshot(const struct raft *r)
{
	const struct raft_log *l = &r->log;

	if (l->n == 0)
		return true;
	return l->ents != NULL && l->ents[0].index == l->snap_index + 1 &&
	       l->ents[0].term >= l->snap_term && l->ents[0].term > 0 &&
	       l->ents[l->n - 1].index == last_index(r) &&
	       l->ents[l->n - 1].term >= l->ents[0].term;
}

/* Figure 2, AppendEntries receiver 5: commitIndex = min(leaderCommit,
 * index of last new entry): nothing past the log is committed. */
static bool commit_within_log(const struct raft *r)
{
	return r->log.commit <= last_index(r);
}

/* Thesis §5.1: a snapshot holds committed state only. */
static bool snapshot_committed(const struct raft *r)
{
	return r->log.snap_index <= r->log.commit;
}

/* raft.h rule 5: entries handed out to apply are committed and durable
 * here, and none at or below the snapshot is handed out again. */
static bool handed_to_apply_committed_durable(const struct raft *r)
{
	const struct raft_log *l = &r->log;

	return l->snap_index <= l->applied_handed &&
	       l->applied_handed <= l->commit &&
	       l->applied_handed <= l->persisted;
}

/* Figure 2, lastApplied <= commitIndex: the state machine applies only
 * committed entries (raft_applied() reports what was handed out). */
static bool applied_committed(const struct raft *r)
{
	return r->applied <= r->log.commit;
}

/* raft.h rules 1 and 4: durable entries were handed out for storage,
 * and only entries in the log were. */
static bool durable_within_handed(const struct raft *r)
{
	return r->log.persisted <= r->log.stable_handed &&
	       r->log.stable_handed <= last_index(r);
}

/* ---- progress (leader's view of each peer) ---- */

/* core_config.c rebuild(): one progress per member, this one always
 * included; members plus those a leader keeps until their removal
 * commits. */
static bool progress_of_self(const struct raft *r)
{
	bool self = false;

	if (r->n_prs == 0 || r->prs == NULL ||
	    r->n_prs > 2 * RAFT_MAX_MEMBERS + 1)
		return false;
	for (size_t i = 0; i < r->n_prs; i++)
		self = self || r->prs[i].id == r->id;
	return self;
}

/* Figure 2 (nextIndex, matchIndex), Raft §5.3: the next entry to send
 * lies after what is known to match. */
static bool match_below_next(const struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].match >= r->prs[i].next)
			return false;
	return true;
}

/* Raft §5.3: a follower acknowledges only entries the leader sent it,
 * and a leader never truncates its log (Leader Append-Only, §5.2). */
static bool leader_match_within_log(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return true;
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].match > last_index(r))
			return false;
	return true;
}

/* Thesis §10.2.1: at most max_inflight appends pipelined per peer, and
 * only in replicate state; thesis §5.2: a peer waits for a snapshot of
 * some index. */
static bool inflight_within_window(const struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		const struct raft_inflights *in = &pr->infl;

		if (in->buf == NULL || in->cap != r->opts.max_inflight ||
		    in->count > in->cap || in->start >= in->cap)
			return false;
		if (pr->state != RAFT_PR_REPLICATE && in->count != 0)
			return false;
		if (pr->state == RAFT_PR_SNAPSHOT && pr->pending_snapshot == 0)
			return false;
	}
	return true;
}

/* Thesis §10.2.1: appends go out in log order and the window frees
 * them as they are acknowledged: what is in flight is ascending, above
 * the peer's match and (on the leader) within the log. */
static bool inflight_ascending(const struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		const struct raft_inflights *in = &pr->infl;
		raft_index prev = pr->match;

		for (size_t k = 0; k < in->count; k++) {
			raft_index x = in->buf[(in->start + k) % in->cap];

			if (x <= prev)
				return false;
			if (r->role == RAFT_LEADER && x > last_index(r))
				return false;
			prev = x;
		}
	}
	return true;
}

static bool progress_ids_distinct(const struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		if (r->prs[i].id == 0)
			return false;
		for (size_t j = i + 1; j < r->n_prs; j++)
			if (r->prs[i].id == r->prs[j].id)
				return false;
	}
	return true;
}

/* ---- membership (thesis §4) ---- */

static size_t count_flag(const struct raft_membership *m, uint8_t flag)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += (m->members[i].flags & flag) != 0;
	return n;
}

static bool has_flag(const struct raft_membership *m, raft_id id, uint8_t flag)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->members[i].id == id)
			return (m->members[i].flags & flag) != 0;
	return false;
}

/* Thesis §4.3: a configuration holds at most RAFT_MAX_MEMBERS members. */
static bool config_within_max_members(const struct raft *r)
{
	return r->configs != NULL && r->configs->cur.n <= RAFT_MAX_MEMBERS &&
	       r->configs->base.n <= RAFT_MAX_MEMBERS &&
	       r->quorum.voters.n <= RAFT_MAX_MEMBERS &&
	       r->quorum.outgoing.n <= RAFT_MAX_MEMBERS;
}

/* Thesis §4.3: majorities are counted over the configuration in effect:
 * C_new's voters, and C_old's (the OUTGOING members) while joint. */
static bool quorum_follows_config(const struct raft *r)
{
	const struct raft_membership *m = &r->configs->cur;

	return r->quorum.voters.n == count_flag(m, RAFT_MEMBER_VOTER) &&
	       r->quorum.outgoing.n == count_flag(m, RAFT_MEMBER_OUTGOING) &&
	       m->joint == (r->quorum.outgoing.n > 0);
}

/* The same, member by member. */
static bool quorum_members_flagged(const struct raft *r)
{
	const struct raft_membership *m = &r->configs->cur;

	for (size_t i = 0; i < r->quorum.voters.n; i++)
		if (!has_flag(m, r->quorum.voters.ids[i], RAFT_MEMBER_VOTER))
			return false;
	for (size_t i = 0; i < r->quorum.outgoing.n; i++)
		if (!has_flag(m, r->quorum.outgoing.ids[i],
			      RAFT_MEMBER_OUTGOING))
			return false;
	return true;
}

/* Thesis §4.2.2: a leader removed from the configuration manages the
 * cluster until C_new is committed, then steps down; before that, and
 * otherwise always, it is a voter. */
static bool leader_is_voter(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return true;
	return raft__quorum_is_voter(&r->quorum, r->id) ||
	       r->configs->cur.index > r->log.commit;
}

/* Thesis §4.1: "a server always uses the latest configuration in its
 * log": it comes from a CONFIG entry of the log (or from the snapshot,
 * or is the founding one). */
static bool config_from_log(const struct raft *r)
{
	const struct raft_membership *m = &r->configs->cur;
	const struct raft_entry *e;

	if (m->index > last_index(r) ||
	    r->configs->base.index > r->log.snap_index)
		return false;
	e = raft__log_get(&r->log, m->index);
	return e == NULL || e->type == RAFT_ENTRY_CONFIG;
}

/* Thesis §4.1, the same: no CONFIG entry follows the configuration in
 * effect in the part of the log scanned since (the scan is stale only
 * right after a compaction; the next change rescans it all). */
static bool config_latest(const struct raft *r)
{
	const struct raft_configs *c = r->configs;
	const struct raft_log *l = &r->log;
	raft_index from = c->scanned;

	if (from < l->snap_index || from > last_index(r) ||
	    raft__log_term_at(l, from) != c->scanned_term)
		return true;
	if (c->cur.index > from)
		return false;
	for (raft_index i = from + 1; i <= last_index(r); i++)
		if (raft__log_get(l, i)->type == RAFT_ENTRY_CONFIG)
			return false;
	return true;
}

/* ---- reads (thesis §6.4) ---- */

/* Thesis §6.4: a read waits for a leader's commit index; without a
 * known leader it has failed (raft__set_leader() fails them). */
static bool reads_need_leader(const struct raft *r)
{
	return implies(r->leader == 0, r->reads.n == 0) &&
	       r->reads.n <= r->opts.max_pending_reads;
}

/* Thesis §6.4 step 3, rounds overlapping (core_read.c): a leader's rounds
 * out for confirmation run from its first read's round to read_seq, at
 * most max_read_rounds of them. */
static bool read_rounds_bounded(const struct raft *r)
{
	uint64_t oldest;

	if (r->role != RAFT_LEADER || r->reads.n == 0 ||
	    r->reads.v[0].round == 0)
		return true;
	oldest = r->reads.v[0].round;
	return oldest <= r->read_seq &&
	       r->read_seq - oldest < r->opts.max_read_rounds;
}

/* Thesis §6.4 step 3: a follower acknowledges only rounds this leader
 * started (its heartbeats carry read_seq), so no acknowledgement can
 * release a round not yet started. */
static bool read_acks_of_started_rounds(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return true;
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].read_acked > r->read_seq)
			return false;
	return true;
}

static bool unrounded_counted(const struct raft *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->reads.n; i++)
		n += r->reads.v[i].round == 0;
	return n == r->reads_unrounded;
}

/* Thesis §6.4: reads wait in the order they came, and their timeouts
 * count from then. */
static bool reads_in_arrival_order(const struct raft *r)
{
	uint64_t t = 0;

	for (size_t i = 0; i < r->reads.n; i++) {
		if (r->reads.v[i].tick < t || r->reads.v[i].tick > r->ticks)
			return false;
		t = r->reads.v[i].tick;
	}
	return true;
}

/* Thesis §6.4 step 2: a leader records its commit index as the read
 * index of every waiting read at once, round by round: rounded reads
 * precede unrounded ones, their rounds and indexes ascend, and no index
 * is above the commit index. */
static bool leader_read_indexes_ordered(const struct raft *r)
{
	uint64_t round = 0;
	raft_index index = 0;
	bool unrounded = false;

	if (r->role != RAFT_LEADER)
		return true;
	for (size_t i = 0; i < r->reads.n; i++) {
		const struct raft_pending_read *p = &r->reads.v[i];

		if (p->round == 0) {
			unrounded = true;
			continue;
		}
		if (unrounded || p->round < round || p->index < index ||
		    p->round > r->read_seq || p->index > r->log.commit)
			return false;
		round = p->round;
		index = p->index;
	}
	return true;
}

/* core_read.c push(): room for every pending read to come out at once,
 * so that releasing them never needs memory. */
static bool reads_can_be_released(const struct raft *r)
{
	return r->reads_out.cap >= r->reads_out.n + r->reads.n &&
	       r->failed_out.cap >= r->failed_out.n + r->reads.n;
}

/* ---- transfer, snapshots, forwarding ---- */

/* Thesis §3.10: only a leader transfers its leadership, to another
 * member, for at most an election timeout. */
static bool transfer_only_on_leader(const struct raft *r)
{
	return implies(r->transferee != 0,
		       r->role == RAFT_LEADER && r->transferee != r->id &&
			   r->transfer_elapsed < r->opts.election_ticks);
}

/* Thesis §5.2, raft.h rule 7: an accepted snapshot is committed and the
 * log starts at or after it. */
static bool accepted_snapshot_in_log(const struct raft *r)
{
	return implies(r->snap_pending,
		       r->snap_out.index > 0 && r->snap_out.term > 0 &&
			   r->snap_out.index <= r->log.snap_index);
}

/* raft_options: forwarded proposals obey the leader's pending limit. */
static bool forwarded_within_limit(const struct raft *r)
{
	return r->fwd.n <= r->opts.max_pending_entries;
}

/* ---- outboxes (raft.h rules 2 and 3) ---- */

static bool msg_sane(const struct raft *r, const struct raft_msg *m)
{
	bool future = m->type == RAFT_MSG_PREVOTE ||
		      (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject);

	/* A PreVote and a granted answer to one carry the term the
	 * campaign would use (thesis §9.6); everything else at most ours. */
	return m->from == r->id && m->to != 0 && m->to != r->id &&
	       m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_SNAPSHOT &&
	       implies(m->n_entries > 0, m->entries != NULL) &&
	       (future || m->term <= r->term);
}

/* Figure 2, "Rules for Servers": messages carry the sender and its term;
 * none goes to the sender itself. */
static bool outbox_sane(const struct raft *r)
{
	for (size_t i = 0; i < r->msgs.n; i++)
		if (!msg_sane(r, &r->msgs.v[i]))
			return false;
	for (size_t i = 0; i < r->msgs_after.n; i++)
		if (!msg_sane(r, &r->msgs_after.v[i]))
			return false;
	return true;
}

/* The table, one row an invariant: X(name, source, check, full). Cheap
 * checks (O(1) or O(members)) first, then those that walk queues (full:
 * only with KVD_CORE_CHECK). A macro rather than an array of function
 * pointers, so that the compiler inlines each check: this runs after
 * every public entry point. */
#define RAFT_INVARIANTS(X)                                                     \
	X("term within the number space", "raft.h", term_in_range, false)      \
	X("a vote only in a started term", "Figure 2", vote_has_term, false)   \
	X("term not below the handed-out hard state", "Figure 2",              \
	  term_not_below_handed, false)                                        \
	X("role is a known role", "Figure 2", role_known, false)               \
	X("leader is self exactly when leading", "§5.2",                       \
	  leader_is_self_when_leading, false)                                  \
	X("candidate voted for itself", "§5.2", candidate_voted_for_self,      \
	  false)                                                               \
	X("a campaign knows no leader", "§5.2, thesis §9.6",                   \
	  campaign_knows_no_leader, false)                                     \
	X("unwitnessed term only on a leader", "raft.h rule 3",                \
	  unwitnessed_only_on_leader, false)                                   \
	X("timers within their bounds", "§5.2", timers_in_bounds, false)       \
	X("log not of a later term", "Figure 2", log_not_of_later_term, false) \
	X("snapshot index and term together", "thesis §5.1",                   \
	  snapshot_index_and_term_together, false)                             \
	X("log continues the snapshot", "§5.3", log_continues_snapshot, false) \
	X("commit <= last index", "Figure 2", commit_within_log, false)        \
	X("snapshot index <= commit", "thesis §5.1", snapshot_committed,       \
	  false)                                                               \
	X("applied handed out: committed and durable", "raft.h rule 5",        \
	  handed_to_apply_committed_durable, false)                            \
	X("applied <= commit", "Figure 2", applied_committed, false)           \
	X("persisted <= handed to storage <= last index", "raft.h rules 1, 4", \
	  durable_within_handed, false)                                        \
	X("a progress for this member", "core_config.c", progress_of_self,     \
	  false)                                                               \
	X("match < next for each peer", "§5.3", match_below_next, false)       \
	X("leader: match <= last index", "§5.3", leader_match_within_log,      \
	  false)                                                               \
	X("inflight windows within bounds", "thesis §10.2.1",                  \
	  inflight_within_window, false)                                       \
	X("configuration within RAFT_MAX_MEMBERS", "thesis §4.3",              \
	  config_within_max_members, false)                                    \
	X("quorum view follows the configuration", "thesis §4.3",              \
	  quorum_follows_config, false)                                        \
	X("leader is a voter until its removal commits", "thesis §4.2.2",      \
	  leader_is_voter, false)                                              \
	X("configuration comes from the log", "thesis §4.1", config_from_log,  \
	  false)                                                               \
	X("reads pending only with a leader", "thesis §6.4",                   \
	  reads_need_leader, false)                                            \
	X("read rounds within max_read_rounds", "thesis §6.4",                 \
	  read_rounds_bounded, false)                                          \
	X("read acks only of rounds started", "thesis §6.4",                   \
	  read_acks_of_started_rounds, false)                                  \
	X("transfer only on a leader", "thesis §3.10",                         \
	  transfer_only_on_leader, false)                                      \
	X("accepted snapshot in the log", "thesis §5.2, raft.h rule 7",        \
	  accepted_snapshot_in_log, false)                                     \
	X("forwarded proposals within the limit", "raft_options",              \
	  forwarded_within_limit, false)                                       \
	X("configuration is the latest in the log", "thesis §4.1",             \
	  config_latest, true)                                                 \
	X("progress ids distinct", "core_config.c", progress_ids_distinct,     \
	  true)                                                                \
	X("quorum members flagged in the configuration", "thesis §4.3",        \
	  quorum_members_flagged, true)                                        \
	X("inflight appends ascending above match", "thesis §10.2.1",          \
	  inflight_ascending, true)                                            \
	X("unrounded reads counted", "thesis §6.4", unrounded_counted, true)   \
	X("read queue in arrival order", "thesis §6.4",                        \
	  reads_in_arrival_order, true)                                        \
	X("leader read indexes in order, at most commit", "thesis §6.4",       \
	  leader_read_indexes_ordered, true)                                   \
	X("room to release every pending read", "core_read.c",                 \
	  reads_can_be_released, true)                                         \
	X("outbox messages from this member", "Figure 2", outbox_sane, true)

bool raft__check_full(void)
{
#ifdef KVD_CORE_CHECK
	return true;
#else
	return false;
#endif
}

const char *raft__check_violation(const struct raft *r)
{
	const bool full = raft__check_full();

#define CHECK_ROW(name, source, check, walks)                                  \
	if ((full || !(walks)) && !check(r))                                   \
		return name " (" source ")";
	RAFT_INVARIANTS(CHECK_ROW)
#undef CHECK_ROW
	return NULL;
}

void raft__check(const struct raft *r)
{
	const char *name = raft__check_violation(r);

	if (name == NULL)
		return;
	/* Like a failed assert(): the one line a crash report needs. */
	fprintf(stderr, "raft core: invariant violated on member %llu: %s\n",
		(unsigned long long)r->id, name);
	abort();
}
