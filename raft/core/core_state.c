/* core_state.c - outboxes and role changes shared by the core's layers. */
#include "core_state.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core_buf.h"

static void msg_release(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		raft__buf_unref(m->entries[i].data);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}

int raft__send(struct raft *r, struct raft_msg *m, bool after_persist)
{
	struct raft_msgq *q;

	assert(m->to != 0 && m->to != r->id);
	assert(m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_SNAPSHOT);
	if (r->role == RAFT_LEADER && r->term_unwitnessed)
		after_persist = true;
	q = after_persist ? &r->msgs_after : &r->msgs;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct raft_msg *v = realloc(q->v, cap * sizeof(*v));

		if (v == NULL) {
			msg_release(m);
			return RAFT_ENOMEM;
		}
		q->v = v;
		q->cap = cap;
	}
	if (m->from == 0)
		m->from = r->id;
	if (m->term == 0)
		m->term = r->term;
	q->v[q->n++] = *m;
	return RAFT_OK;
}

void raft__msgq_clear(struct raft_msgq *q)
{
	for (size_t i = 0; i < q->n; i++)
		msg_release(&q->v[i]);
	q->n = 0;
}

struct raft_progress *raft__progress(struct raft *r, raft_id id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

void raft__reset_timeout(struct raft *r)
{
	/* Raft §5.2: "election timeouts are chosen randomly from a fixed
	 * interval", so that split votes are rare and resolve quickly. */
	r->randomized_timeout =
	    r->opts.election_ticks +
	    (unsigned)raft__rng_below(&r->rng, r->opts.election_ticks);
}

void raft__read_done(struct raft *r, uint64_t ctx, raft_index index,
		     bool failed)
{
	struct raft_readv *v = failed ? &r->failed_out : &r->reads_out;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct raft_read *p = realloc(v->v, cap * sizeof(*p));

		if (p == NULL)
			return;
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n].ctx = ctx;
	v->v[v->n].index = index;
	v->n++;
}

void raft__reject_read(struct raft *r, const struct raft_pending_read *p)
{
	if (p->from == 0) {
		raft__read_done(r, p->ctx, 0, true);
	} else {
		struct raft_msg m = {
		    .type = RAFT_MSG_READ_INDEX_RESP,
		    .to = p->from,
		    .context = p->ctx,
		    .reject = true,
		};
		raft__send(r, &m, false);
	}
}

void raft__fail_reads(struct raft *r)
{
	for (size_t i = 0; i < r->reads.n; i++)
		raft__reject_read(r, &r->reads.v[i]);
	r->reads.n = 0;
	r->reads_unrounded = 0;
}

void raft__become_follower(struct raft *r, raft_term term, raft_id leader)
{
	assert(term >= r->term);
	if (term > r->term) {
		/* Figure 2: "If RPC request or response contains term T >
		 * currentTerm: set currentTerm = T, convert to follower". A
		 * new term has no vote yet. */
		r->term = term;
		r->vote = 0;
	}
	if (r->role == RAFT_LEADER || r->leader != leader)
		raft__fail_reads(r);
	r->role = RAFT_FOLLOWER;
	r->term_unwitnessed = false;
	r->leader = leader;
	r->transferee = 0;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	raft__reset_timeout(r);
}

void raft__set_leader(struct raft *r, raft_id leader)
{
	if (r->leader == leader)
		return;
	/* Reads asked of the old leader will not be answered by the new
	 * one: fail them now rather than at their timeout. */
	raft__fail_reads(r);
	r->leader = leader;
}

bool raft__promotable(const struct raft *r)
{
	return raft__quorum_is_voter(&r->quorum, r->id);
}
