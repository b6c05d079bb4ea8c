/* core_read.c - ReadIndex (thesis §6.4) on leaders and followers. */
#include "core_read.h"

#include <assert.h>
#include <stdlib.h>

#include "core_replication.h"

static int readv_reserve(struct raft_readv *v, size_t need)
{
	struct raft_read *p;
	size_t cap;

	if (need <= v->cap)
		return 0;
	cap = v->cap ? v->cap : 16;
	while (cap < need)
		cap *= 2;
	p = realloc(v->v, cap * sizeof(*p));
	if (p == NULL)
		return -1;
	v->v = p;
	v->cap = cap;
	return 0;
}

static int push(struct raft *r, uint64_t ctx, raft_id from)
{
	struct raft_readq *q = &r->reads;
	size_t need = q->n + 1;

	if (q->n >= r->opts.max_pending_reads)
		return RAFT_EBUSY;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct raft_pending_read *v = realloc(q->v, cap * sizeof(*v));

		if (v == NULL)
			return RAFT_ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	/* Room for every pending read to come out at once, so releasing
	 * them never needs memory. */
	if (readv_reserve(&r->reads_out, r->reads_out.n + need) != 0 ||
	    readv_reserve(&r->failed_out, r->failed_out.n + need) != 0)
		return RAFT_ENOMEM;
	q->v[q->n++] = (struct raft_pending_read){
	    .ctx = ctx,
	    .from = from,
	    .tick = r->ticks,
	};
	r->reads_unrounded++;
	return RAFT_OK;
}

int raft__read_index(struct raft *r, uint64_t ctx)
{
	if (r->leader == 0)
		return RAFT_ENOLEADER;
	return push(r, ctx, 0);
}

int raft__step_read_index(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg resp = {
	    .type = RAFT_MSG_READ_INDEX_RESP,
	    .to = m->from,
	    .context = m->context,
	    .reject = true,
	};

	if (r->role == RAFT_LEADER && push(r, m->context, m->from) == RAFT_OK)
		return RAFT_OK;
	return raft__send(r, &resp, false);
}

int raft__step_read_index_resp(struct raft *r, const struct raft_msg *m)
{
	struct raft_readq *q = &r->reads;
	size_t j = 0;

	if (r->role != RAFT_FOLLOWER || m->from != r->leader || m->context == 0)
		return RAFT_OK;
	for (size_t i = 0; i < q->n; i++) {
		struct raft_pending_read *p = &q->v[i];

		if (p->round == m->context && p->from == 0)
			raft__read_done(r, p->ctx, m->index, m->reject);
		else
			q->v[j++] = *p;
	}
	q->n = j;
	return RAFT_OK;
}

/* Hands a confirmed read to its asker. */
static void release(struct raft *r, const struct raft_pending_read *p)
{
	if (p->from == 0) {
		raft__read_done(r, p->ctx, p->index, false);
	} else {
		struct raft_msg m = {
		    .type = RAFT_MSG_READ_INDEX_RESP,
		    .to = p->from,
		    .context = p->ctx,
		    .index = p->index,
		};
		raft__send(r, &m, false);
	}
}

/* Releases every read of a round <= @round. */
static void release_to(struct raft *r, uint64_t round)
{
	struct raft_readq *q = &r->reads;
	size_t j = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct raft_pending_read *p = &q->v[i];

		if (p->round != 0 && p->round <= round)
			release(r, p);
		else
			q->v[j++] = *p;
	}
	q->n = j;
}

static raft_index acked_of(void *arg, raft_id id)
{
	struct raft *r = arg;
	struct raft_progress *pr;

	/* The leader confirms its own rounds as it starts them. */
	if (id == r->id)
		return r->read_seq;
	pr = raft__progress(r, id);
	return pr != NULL ? pr->read_acked : 0;
}

/* The newest round a quorum (of each set while joint) has acknowledged:
 * every heartbeat carries the newest round, so an answer to it confirms
 * that round and every earlier one. Members of an earlier configuration
 * no longer count; one added later has read_acked 0 until it answers a
 * heartbeat sent after it joined, which carries every round so far. */
static uint64_t quorum_acked(const struct raft *r)
{
	return raft__quorum_quorum_index(&r->quorum, acked_of, (void *)r);
}

/* Leader: the oldest round whose reads wait for confirmation, or 0.
 * Reads are queued in round order (rounded ones first), so it is the
 * first read's; rounds oldest..read_seq are out. */
static uint64_t oldest_round(const struct raft *r)
{
	return r->reads.n > 0 ? r->reads.v[0].round : 0;
}

static size_t rounds_out(const struct raft *r)
{
	uint64_t oldest = oldest_round(r);

	return oldest != 0 ? (size_t)(r->read_seq - oldest + 1) : 0;
}

static bool committed_in_term(const struct raft *r)
{
	/* Thesis §6.4 step 1: "If the leader has not yet marked an entry
	 * from its current term committed, it waits until it has" — only
	 * then is its commit index at least that of any earlier leader. */
	return raft__log_term_at(&r->log, r->log.commit) == r->term;
}

static bool has_unrounded(const struct raft *r)
{
	return r->reads_unrounded > 0;
}

/* The tick (+ 1) of the newest heartbeat @id answered in this term; the
 * leader's own is now. */
static raft_index lease_tick_of(void *arg, raft_id id)
{
	struct raft *r = arg;
	struct raft_progress *pr;

	if (id == r->id)
		return r->ticks + 1;
	pr = raft__progress(r, id);
	return pr != NULL ? pr->lease_tick : 0;
}

/* Leader: whether its lease holds now (raft.h, lease_ticks). */
static bool lease_held(const struct raft *r)
{
	uint64_t k;

	if (r->role != RAFT_LEADER || r->opts.lease_ticks == 0 ||
	    r->lease_given_up)
		return false;
	/* A quorum answered heartbeats this leader sent at tick k - 1 or
	 * later: each of its members heard one then or later, and refuses
	 * votes until an election timeout after (raft__in_lease()). */
	k = raft__quorum_quorum_index(&r->quorum, lease_tick_of, (void *)r);
	return k > 0 && r->ticks < k - 1 + r->opts.lease_ticks;
}

/* Leader with a lease: every read waiting for a round is served at the
 * commit index now, no round needed. */
static void release_unrounded(struct raft *r)
{
	struct raft_readq *q = &r->reads;
	size_t j = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct raft_pending_read *p = &q->v[i];

		if (p->round == 0) {
			p->index = r->log.commit;
			release(r, p);
			r->lease_reads++;
		} else {
			q->v[j++] = *p;
		}
	}
	q->n = j;
	r->reads_unrounded = 0;
}

/* Whether a quorum acknowledged a round that still has reads. */
static bool round_confirmed(const struct raft *r)
{
	uint64_t oldest = oldest_round(r);

	return oldest != 0 && quorum_acked(r) >= oldest;
}

bool raft__read_wants_flush(const struct raft *r)
{
	if (r->reads.n == 0)
		return false;
	if (r->role == RAFT_LEADER) {
		if (!committed_in_term(r))
			return false;
		return round_confirmed(r) ||
		       (has_unrounded(r) &&
			(rounds_out(r) < r->opts.max_read_rounds ||
			 lease_held(r)));
	}
	return r->role == RAFT_FOLLOWER && r->leader != 0 && has_unrounded(r);
}

static void leader_flush(struct raft *r)
{
	struct raft_readq *q = &r->reads;

	if (!committed_in_term(r))
		return;
	/* Step 3: "the leader ... waits for a majority to acknowledge"; an
	 * acknowledgement of round k releases every round up to k, and
	 * only those: a later round started after the answer left. */
	if (round_confirmed(r))
		release_to(r,
			   (r->opts.mutations & RAFT_MUTATE_READ_RELEASE_LATER)
			       ? r->read_seq
			       : quorum_acked(r));
	if (has_unrounded(r) && lease_held(r)) {
		release_unrounded(r);
		return;
	}
	if (!has_unrounded(r) || rounds_out(r) >= r->opts.max_read_rounds)
		return;
	/* Step 2 and 3: record the commit index as the read index, then
	 * confirm leadership with one heartbeat round shared by every read
	 * waiting now. Rounds overlap (up to max_read_rounds): a read
	 * arriving during a round starts the next one at once instead of
	 * waiting for the end of the current one, and reads arriving while
	 * all are out join the next. */
	r->read_seq++;
	r->read_rounds++;
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i].round != 0)
			continue;
		q->v[i].round = r->read_seq;
		q->v[i].index = r->log.commit;
	}
	r->reads_unrounded = 0;
	/* The mutation skips the confirmation: a deposed leader then serves
	 * stale reads. */
	if (r->opts.mutations & RAFT_MUTATE_READ_NO_HEARTBEAT) {
		release_to(r, r->read_seq);
		return;
	}
	/* A single voter is its own majority. */
	if (round_confirmed(r)) {
		release_to(r, quorum_acked(r));
		return;
	}
	raft__bcast_heartbeat(r);
}

static void follower_flush(struct raft *r)
{
	struct raft_readq *q = &r->reads;
	struct raft_msg m = {
	    .type = RAFT_MSG_READ_INDEX,
	    .to = r->leader,
	};
	bool any = false;

	if (r->leader == 0 || r->leader == r->id)
		return;
	/* One request to the leader for every read waiting now; its id
	 * maps back to their contexts when the answer comes. */
	for (size_t i = 0; i < q->n; i++) {
		if (q->v[i].round != 0)
			continue;
		if (!any)
			r->read_seq++;
		any = true;
		q->v[i].round = r->read_seq;
	}
	r->reads_unrounded = 0;
	if (!any)
		return;
	m.context = r->read_seq;
	raft__send(r, &m, false);
}

void raft__read_flush(struct raft *r)
{
	if (r->role == RAFT_LEADER)
		leader_flush(r);
	else if (r->role == RAFT_FOLLOWER)
		follower_flush(r);
}

void raft__read_tick(struct raft *r)
{
	struct raft_readq *q = &r->reads;
	uint64_t limit = 2 * (uint64_t)r->opts.election_ticks;
	size_t j = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct raft_pending_read *p = &q->v[i];

		if (r->ticks - p->tick < limit) {
			/* A follower asks once more after an election
			 * timeout in case its request or the answer was
			 * lost; a late answer to the old id is ignored. */
			if (r->role == RAFT_FOLLOWER && p->round != 0 &&
			    r->ticks - p->tick == r->opts.election_ticks) {
				p->round = 0;
				r->reads_unrounded++;
			}
			q->v[j++] = *p;
			continue;
		}
		if (p->round == 0) {
			assert(r->reads_unrounded > 0);
			r->reads_unrounded--;
		}
		raft__reject_read(r, p);
	}
	q->n = j;
}
