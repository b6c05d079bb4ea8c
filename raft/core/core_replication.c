/* core_replication.c - log replication: AppendEntries, pipelining, fast
 * backtracking, the commit rule, heartbeats and proposal forwarding. */
#include "core_replication.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core_buf.h"

static raft_index min_index(raft_index a, raft_index b)
{
	return a < b ? a : b;
}

void raft__repl_become_leader(struct raft *r)
{
	raft_index last = raft__log_last_index(&r->log);

	assert(r->role == RAFT_LEADER);
	for (size_t i = 0; i < r->n_prs; i++) {
		raft__progress_reset(&r->prs[i], last + 1);
	}
	/* Thesis §5.4.2 / Raft §8: "a leader must have the latest
	 * information on which entries are committed ... having each leader
	 * commit a blank no-op entry into the log at the start of its term"
	 * (an entry of the current term is needed before anything of an
	 * earlier term can be known committed, Figure 8). If memory runs out
	 * here the first proposal of the term does the same job. */
	raft__append_local(r, RAFT_ENTRY_NOOP, NULL, 0, NULL);
}

int raft__append_local(struct raft *r, uint8_t type, const void *data,
		       size_t len, raft_index *index)
{
	struct raft_entry e;
	raft_index last = raft__log_last_index(&r->log);

	assert(r->role == RAFT_LEADER);
	if (len > r->opts.max_entry_bytes)
		return RAFT_ETOO_LARGE;
	if (last >= RAFT_INDEX_MAX)
		return RAFT_ERANGE;
	if (type == RAFT_ENTRY_NORMAL &&
	    last - r->log.commit >= r->opts.max_pending_entries)
		return RAFT_EBUSY;
	memset(&e, 0, sizeof(e));
	e.term = r->term;
	e.index = last + 1;
	e.type = type;
	e.len = (uint32_t)len;
	if (raft__buf_new(data, len, &e.data) != 0)
		return RAFT_ENOMEM;
	if (raft__log_append(&r->log, &e) != 0) {
		raft__buf_unref(e.data);
		return RAFT_ENOMEM;
	}
	if (index != NULL)
		*index = e.index;
	/* A single voter commits as soon as the entry is durable; nothing
	 * to do until raft_persisted(). */
	return RAFT_OK;
}

int raft__forward(struct raft *r, const void *data, size_t len)
{
	struct raft_entryv *q = &r->fwd;
	struct raft_entry e;

	if (len > r->opts.max_entry_bytes)
		return RAFT_ETOO_LARGE;
	if (q->n >= r->opts.max_pending_entries)
		return RAFT_EBUSY;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct raft_entry *v = realloc(q->v, cap * sizeof(*v));

		if (v == NULL)
			return RAFT_ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	memset(&e, 0, sizeof(e));
	e.type = RAFT_ENTRY_NORMAL;
	e.len = (uint32_t)len;
	if (raft__buf_new(data, len, &e.data) != 0)
		return RAFT_ENOMEM;
	q->v[q->n++] = e;
	return RAFT_OK;
}

static raft_index match_of(void *arg, raft_id id)
{
	struct raft *r = arg;
	struct raft_progress *pr;

	/* The leader's own log counts only once durable (thesis §10.2.1:
	 * the leader writes in parallel, but a commit needs durable
	 * copies on a majority, itself included if it is counted). */
	if (id == r->id)
		return r->log.persisted;
	pr = raft__progress(r, id);
	return pr != NULL ? pr->match : 0;
}

void raft__maybe_commit(struct raft *r)
{
	raft_index n;

	assert(r->role == RAFT_LEADER);
	/* Raft §5.3/§5.4.2, Figure 2: "If there exists an N such that N >
	 * commitIndex, a majority of matchIndex[i] >= N, and
	 * log[N].term == currentTerm: set commitIndex = N." */
	n = raft__quorum_quorum_index(&r->quorum, match_of, r);
	if (n <= r->log.commit)
		return;
	/* Every match counted is within the log: the leader's own is its
	 * durable index, a peer's only what it acknowledged of this log
	 * (raft__step_append_resp() refuses more; core_check.c). */
	assert(n <= raft__log_last_index(&r->log));
	/* Figure 8: counting replicas only ever commits entries of the
	 * current term; earlier ones commit along with them. */
	if (raft__log_term_at(&r->log, n) != r->term &&
	    !(r->opts.mutations & RAFT_MUTATE_COMMIT_OLD_TERM))
		return;
	r->log.commit = n;
}

/* @notice: sent only to tell a new commit index. Such a heartbeat asks
 * for no answer (reject set, raft.h) when the answer would tell the
 * leader nothing: the peer is replicating, so its appends' answers say
 * how it is doing, and it confirmed every read round started. A write
 * then costs each follower one message less (its commit notice's answer);
 * the heartbeats of the tick and of read rounds are always answered, so
 * liveness, probing and read rounds keep their answers. */
static void send_heartbeat(struct raft *r, struct raft_progress *pr,
			   bool notice)
{
	struct raft_msg m = {
	    .type = RAFT_MSG_HEARTBEAT,
	    .to = pr->id,
	    /* The follower may not have everything up to our commit; it
	     * is told only what it is known to hold. */
	    .commit = min_index(r->log.commit, pr->match),
	    /* Any heartbeat sent after a read round started confirms it:
	     * rounds are numbered upwards. */
	    .context = r->read_seq,
	    .reject = notice && pr->state == RAFT_PR_REPLICATE &&
		      pr->read_acked == r->read_seq,
	    /* When it left (+ 1, so 0 means none), for the lease. */
	    .index = r->ticks + 1,
	};

	if (raft__send(r, &m, false) == RAFT_OK && m.commit > pr->commit_sent)
		pr->commit_sent = m.commit;
}

void raft__bcast_heartbeat(struct raft *r)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id != r->id)
			send_heartbeat(r, &r->prs[i], false);
}

/* Thesis §5.2: "the leader must occasionally send snapshots to followers
 * that lag behind ... when it has already discarded the next log entry
 * that it needs to send". The driver streams the data; the peer waits in
 * snapshot state for the outcome. */
static void send_snapshot(struct raft *r, struct raft_progress *pr)
{
	struct raft_msg m = {
	    .type = RAFT_MSG_SNAPSHOT,
	    .to = pr->id,
	    .index = r->log.snap_index,
	    .log_term = r->log.snap_term,
	    .commit = r->log.commit,
	};

	/* A message lost to ENOMEM is retried at the next flush. */
	if (raft__send(r, &m, false) == RAFT_OK)
		raft__progress_become_snapshot(pr, m.index);
}

/* Sends one AppendEntries from pr->next (or the snapshot when the entries
 * are compacted away); returns false when no more appends can be sent now
 * (so that callers looping over the window stop). */
static bool send_append(struct raft *r, struct raft_progress *pr)
{
	struct raft_log *l = &r->log;
	raft_index prev = pr->next - 1;
	raft_term prev_term = raft__log_term_at(l, prev);
	size_t n = 0;
	struct raft_msg m;

	if (prev < l->snap_index || (prev > 0 && prev_term == 0)) {
		if (l->snap_index > 0)
			send_snapshot(r, pr);
		return false;
	}
	n = raft__log_batch(l, pr->next, r->opts.max_append_entries,
			    r->opts.max_append_bytes);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.to = pr->id;
	m.index = prev;
	m.log_term = prev_term;
	m.commit = l->commit;
	/* The stamp, echoed in the answer, tells the answer to the probe out
	 * now from an old one (see raft__progress_maybe_decr()). */
	m.context = ++pr->append_seq;
	if (pr->state == RAFT_PR_PROBE)
		pr->probe_seq = m.context;
	if (n > 0) {
		m.entries = malloc(n * sizeof(*m.entries));
		if (m.entries == NULL)
			return false;
		for (size_t i = 0; i < n; i++)
			raft__entry_share(&m.entries[i],
					  raft__log_get(l, pr->next + i));
		m.n_entries = n;
	}
	if (raft__send(r, &m, false) != RAFT_OK)
		return false;
	/* "If leaderCommit > commitIndex, set commitIndex =
	 * min(leaderCommit, index of last new entry)": that is what this
	 * peer learns from this message. */
	if (min_index(l->commit, prev + n) > pr->commit_sent)
		pr->commit_sent = min_index(l->commit, prev + n);
	if (pr->infl.count == 0)
		pr->stall_tick = r->ticks;
	raft__progress_sent(pr, prev + n, n);
	return n > 0;
}

static bool wants_append(const struct raft *r, const struct raft_progress *pr)
{
	raft_index last = raft__log_last_index(&r->log);

	if (raft__progress_is_paused(pr))
		return false;
	/* Entries below the snapshot are gone: that peer needs the
	 * snapshot itself (send_append() sends it). */
	if (pr->next <= r->log.snap_index)
		return true;
	if (pr->state == RAFT_PR_PROBE)
		return pr->match < last;
	return pr->next <= last;
}

bool raft__repl_wants_flush(const struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return r->fwd.n > 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];

		if (pr->id == r->id)
			continue;
		if (wants_append(r, pr))
			return true;
		if (min_index(r->log.commit, pr->match) > pr->commit_sent)
			return true;
	}
	return false;
}

static void flush_forward(struct raft *r)
{
	struct raft_entryv *q = &r->fwd;
	size_t i = 0;

	/* Proposals queued for a leader that is no longer known are
	 * dropped: the caller learns the outcome by its own timeout, as
	 * with any lost message. */
	while (i < q->n && r->leader != 0 && r->leader != r->id) {
		size_t n = q->n - i;
		struct raft_msg m;

		if (n > r->opts.max_append_entries)
			n = r->opts.max_append_entries;
		memset(&m, 0, sizeof(m));
		m.type = RAFT_MSG_PROPOSE;
		m.to = r->leader;
		m.entries = malloc(n * sizeof(*m.entries));
		if (m.entries == NULL)
			break;
		/* The message takes over the queue's references. */
		memcpy(m.entries, &q->v[i], n * sizeof(*m.entries));
		m.n_entries = n;
		i += n;
		raft__send(r, &m, false);
	}
	for (; i < q->n; i++)
		raft__buf_unref(q->v[i].data);
	q->n = 0;
}

void raft__repl_flush(struct raft *r)
{
	if (r->role != RAFT_LEADER) {
		flush_forward(r);
		return;
	}
	for (size_t i = 0; i < r->n_prs; i++) {
		struct raft_progress *pr = &r->prs[i];

		if (pr->id == r->id)
			continue;
		/* Replicate state sends batches until the window is full
		 * (pipelining); probe state sends one. */
		while (wants_append(r, pr))
			if (!send_append(r, pr) || pr->state == RAFT_PR_PROBE)
				break;
		/* Tell followers about a commit they have not heard of,
		 * even when there is nothing new to append. */
		if (min_index(r->log.commit, pr->match) > pr->commit_sent)
			send_heartbeat(r, pr, true);
	}
}

/* Checks that the entries of an AppendEntries follow its previous entry
 * in index and term order and not beyond its term. */
static bool entries_valid(const struct raft_msg *m)
{
	raft_term t = m->log_term;

	if (m->n_entries > 0 && m->entries == NULL)
		return false;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];

		if (e->index != m->index + 1 + i || e->term < t ||
		    e->term > m->term || e->term == 0)
			return false;
		if (e->len > 0 && e->data == NULL)
			return false;
		t = e->term;
	}
	return true;
}

int raft__step_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_log *l = &r->log;
	struct raft_msg resp = {
	    .type = RAFT_MSG_APPEND_RESP,
	    .to = m->from,
	    .context = m->context,
	};
	raft_index prev = m->index, last_new;
	raft_term prev_term = m->log_term;
	size_t skip = 0;

	assert(r->role == RAFT_FOLLOWER && m->term == r->term);
	if (!entries_valid(m))
		return RAFT_EINVAL;
	r->election_elapsed = 0;
	raft__set_leader(r, m->from);

	/* Entries up to commit are known to match the leader's (Leader
	 * Completeness, §5.4): start the check after them. */
	if (prev < l->commit) {
		skip = l->commit - prev;
		if (skip >= m->n_entries) {
			resp.index = l->commit;
			return raft__send(r, &resp, true);
		}
		prev = l->commit;
		prev_term = m->entries[skip - 1].term;
	}

	/* Figure 2, AppendEntries receiver: "Reply false if log doesn't
	 * contain an entry at prevLogIndex whose term matches
	 * prevLogTerm." */
	if (raft__log_term_at(l, prev) != prev_term) {
		raft_index last = raft__log_last_index(l);

		resp.reject = true;
		resp.index = m->index;
		/* Raft §5.3 (end): the follower names the first index of
		 * the conflicting term, or its log's end when it is short,
		 * so the leader skips a term per round trip rather than an
		 * entry. */
		if (prev > last) {
			resp.hint_index = last + 1;
			resp.hint_term = 0;
		} else {
			resp.hint_index =
			    raft__log_term_start(l, prev, l->commit + 1);
			resp.hint_term = raft__log_term_at(l, prev);
		}
		return raft__send(r, &resp, true);
	}

	/* "If an existing entry conflicts with a new one (same index but
	 * different terms), delete the existing entry and all that follow
	 * it (§5.3). Append any new entries not already in the log." */
	for (size_t i = skip; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		struct raft_entry copy;

		if (e->index <= raft__log_last_index(l)) {
			if (raft__log_term_at(l, e->index) == e->term)
				continue;
			raft__log_truncate_from(l, e->index);
		}
		if (raft__entry_copy(&copy, e) != 0)
			return RAFT_ENOMEM;
		if (raft__log_append(l, &copy) != 0) {
			raft__buf_unref(copy.data);
			return RAFT_ENOMEM;
		}
	}
	last_new = m->index + m->n_entries;
	/* "If leaderCommit > commitIndex, set commitIndex =
	 * min(leaderCommit, index of last new entry)." */
	if (m->commit > l->commit) {
		raft_index c = min_index(m->commit, last_new);

		if (c > l->commit)
			l->commit = c;
	}
	resp.index = last_new;
	return raft__send(r, &resp, true);
}

int raft__step_heartbeat(struct raft *r, const struct raft_msg *m)
{
	struct raft_log *l = &r->log;
	raft_index c = min_index(m->commit, raft__log_last_index(l));
	struct raft_msg resp = {
	    .type = RAFT_MSG_HEARTBEAT_RESP,
	    .to = m->from,
	    .context = m->context,
	    .index = m->index,
	};

	assert(r->role == RAFT_FOLLOWER && m->term == r->term);
	r->election_elapsed = 0;
	raft__set_leader(r, m->from);
	/* The leader sends min(its commit, our match): entries up to there
	 * match its log, so they are committed here too. */
	if (c > l->commit)
		l->commit = c;
	if (m->reject)
		return RAFT_OK; /* a commit notice: no answer wanted */
	return raft__send(r, &resp, false);
}

int raft__step_append_resp(struct raft *r, const struct raft_msg *m)
{
	struct raft_progress *pr = raft__progress(r, m->from);
	bool grew;

	assert(r->role == RAFT_LEADER && m->term == r->term);
	if (pr == NULL)
		return RAFT_OK;
	pr->recent_active = true;
	if (m->reject) {
		raft__progress_maybe_decr(pr, m->index, m->hint_index,
					  m->context);
		return RAFT_OK;
	}
	if (m->index > raft__log_last_index(&r->log))
		return RAFT_EINVAL; /* acknowledges what was never sent */
	grew = raft__progress_maybe_update(pr, m->index);
	if (pr->state == RAFT_PR_SNAPSHOT) {
		/* The peer installed the snapshot (or already had
		 * everything in it): replicate from there. */
		if (pr->match >= pr->pending_snapshot)
			raft__progress_become_replicate(pr);
	} else if (pr->state == RAFT_PR_PROBE &&
		   (grew ||
		    (m->index == pr->match && m->index == pr->next - 1))) {
		/* The probe matched (maybe where we already knew it
		 * would). */
		raft__progress_become_replicate(pr);
	}
	if (grew) {
		pr->stall_tick = r->ticks;
		raft__maybe_commit(r);
	}
	return RAFT_OK;
}

void raft__report_snapshot(struct raft *r, raft_id peer, bool ok)
{
	struct raft_progress *pr = raft__progress(r, peer);

	if (r->role != RAFT_LEADER || pr == NULL ||
	    pr->state != RAFT_PR_SNAPSHOT)
		return;
	if (ok) {
		/* The peer has the snapshot: probe right after it. Its
		 * acknowledgement (or, if that was lost, its next heartbeat
		 * answer) releases the probe. */
		raft_index next = pr->pending_snapshot + 1;

		raft__progress_become_probe(pr);
		if (pr->next < next)
			pr->next = next;
	} else {
		/* Try again, after a pause of one heartbeat round trip so
		 * that an unreachable peer is not flooded. */
		raft__progress_become_probe(pr);
	}
	pr->probe_sent = true;
}

int raft__step_snapshot(struct raft *r, const struct raft_msg *m)
{
	struct raft_log *l = &r->log;
	struct raft_msg resp = {
	    .type = RAFT_MSG_APPEND_RESP,
	    .to = m->from,
	};

	assert(r->role == RAFT_FOLLOWER && m->term == r->term);
	if (m->index == 0 || m->log_term == 0 || m->log_term > m->term ||
	    m->n_entries > 0)
		return RAFT_EINVAL;
	r->election_elapsed = 0;
	raft__set_leader(r, m->from);

	/* Nothing new in it: everything up to our commit index matches the
	 * leader's log already (Leader Completeness, §5.4). */
	if (m->index <= l->commit) {
		resp.index = l->commit;
		return raft__send(r, &resp, true);
	}
	/* Thesis §5.2 (InstallSnapshot receiver): "If existing log entry
	 * has same index and term as snapshot's last included entry,
	 * retain log entries following it and reply"; else "discard the
	 * entire log". Only the snapshot's index is known committed: the
	 * retained tail may still conflict with the leader's log. */
	if (raft__log_term_at(l, m->index) == m->log_term)
		raft__log_compact(l, m->index);
	else
		raft__log_reset(l, m->index, m->log_term);
	l->commit = m->index;
	if (r->applied < m->index)
		r->applied = m->index;
	r->snap_out.index = m->index;
	r->snap_out.term = m->log_term;
	r->snap_pending = true;
	/* The acknowledgement waits until the snapshot is installed
	 * (raft.h rule 7). */
	resp.index = m->index;
	return raft__send(r, &resp, true);
}

int raft__step_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
	struct raft_progress *pr = raft__progress(r, m->from);

	assert(r->role == RAFT_LEADER && m->term == r->term);
	if (pr == NULL)
		return RAFT_OK;
	pr->recent_active = true;
	/* A context above read_seq was never sent: ignored, it would
	 * confirm rounds not yet started. */
	if (m->context > pr->read_acked && m->context <= r->read_seq)
		pr->read_acked = m->context;
	/* A tick from the future was never sent: ignored. */
	if (m->index > pr->lease_tick && m->index <= r->ticks + 1)
		pr->lease_tick = m->index;
	if (pr->state == RAFT_PR_PROBE) {
		/* The peer is reachable again: resend the probe. */
		pr->probe_sent = false;
	} else if (pr->infl.count > 0 &&
		   r->ticks - pr->stall_tick >= r->opts.election_ticks) {
		/* Appends went unanswered for an election timeout while
		 * heartbeats get through: they were lost. Acks wait for the
		 * follower's disk, so a shorter wait would misjudge slow
		 * writes as losses. */
		raft__progress_become_probe(pr);
	}
	return RAFT_OK;
}

int raft__step_propose(struct raft *r, const struct raft_msg *m)
{
	assert(r->role == RAFT_LEADER);
	if (m->n_entries > 0 && m->entries == NULL)
		return RAFT_EINVAL;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		int rv;

		/* Only commands may be forwarded; a follower never decides
		 * NOOP or configuration entries. */
		if (e->type != RAFT_ENTRY_NORMAL)
			continue;
		if (e->len > 0 && e->data == NULL)
			return RAFT_EINVAL;
		rv = raft__append_local(r, RAFT_ENTRY_NORMAL, e->data, e->len,
					NULL);
		if (rv != RAFT_OK)
			return rv == RAFT_ENOMEM ? rv : RAFT_OK;
	}
	return RAFT_OK;
}
