/* core_ready.c - building struct raft_ready and taking it back (advance). */
#include "core_ready.h"

#include <assert.h>
#include <string.h>

#include "core_config.h"
#include "core_read.h"
#include "core_replication.h"
#include "core_state.h"
#include "core_transfer.h"

static raft_index min_index(raft_index a, raft_index b)
{
	return a < b ? a : b;
}

static bool hs_equal(const struct raft_hard_state *a,
		     const struct raft_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote &&
	       a->commit == b->commit;
}

static raft_index apply_to(const struct raft *r)
{
	/* Rule 5: only entries both committed and durable here. */
	return min_index(r->log.commit, r->log.persisted);
}

bool raft_has_ready(const struct raft *r)
{
	struct raft_hard_state hs = {r->term, r->vote, r->log.commit};

	return !hs_equal(&hs, &r->prev_hs) ||
	       raft__log_last_index(&r->log) > r->log.stable_handed ||
	       r->msgs.n > 0 || r->msgs_after.n > 0 ||
	       apply_to(r) > r->log.applied_handed || r->reads_out.n > 0 ||
	       r->failed_out.n > 0 || r->snap_pending ||
	       r->role != r->prev_role || r->leader != r->prev_leader ||
	       raft__read_wants_flush(r) || raft__repl_wants_flush(r) ||
	       raft__transfer_wants_flush(r) || raft__config_changed(r);
}

void raft__ready(struct raft *r, struct raft_ready *rd)
{
	struct raft_log *l = &r->log;
	raft_index last, to;

	/* Deferred work first, so that its messages are in this ready:
	 * read rounds (their heartbeats also carry commit), then appends,
	 * then a TIMEOUT_NOW once they brought the transferee up to date. */
	raft__read_flush(r);
	raft__repl_flush(r);
	raft__transfer_flush(r);

	memset(rd, 0, sizeof(*rd));
	rd->has_snapshot = r->snap_pending;
	rd->snapshot = r->snap_out;
	rd->hs.term = r->term;
	rd->hs.vote = r->vote;
	rd->hs.commit = l->commit;
	rd->hs_changed = !hs_equal(&rd->hs, &r->prev_hs);

	last = raft__log_last_index(l);
	if (last > l->stable_handed) {
		rd->entries =
		    (struct raft_entry *)raft__log_get(l, l->stable_handed + 1);
		rd->n_entries = last - l->stable_handed;
		/* Nothing handed out for storage is compacted away: a
		 * compaction raises stable_handed with it. */
		assert(rd->entries != NULL);
	}
	rd->msgs = r->msgs.v;
	rd->n_msgs = r->msgs.n;
	rd->msgs_after_persist = r->msgs_after.v;
	rd->n_msgs_after_persist = r->msgs_after.n;

	to = apply_to(r);
	if (to > l->applied_handed) {
		rd->committed = (struct raft_entry *)raft__log_get(
		    l, l->applied_handed + 1);
		rd->n_committed = to - l->applied_handed;
		assert(rd->committed != NULL);
	}
	rd->reads = r->reads_out.v;
	rd->n_reads = r->reads_out.n;
	rd->failed_reads = r->failed_out.v;
	rd->n_failed_reads = r->failed_out.n;
	rd->soft_changed =
	    r->role != r->prev_role || r->leader != r->prev_leader;
	rd->role = r->role;
	rd->leader = r->leader;
	rd->config_changed = raft__config_changed(r);
	rd->config = raft_membership(r);
}

void raft__advance(struct raft *r, const struct raft_ready *rd)
{
	struct raft_log *l = &r->log;

	/* @rd is the ready raft__ready() just made (no call may come
	 * between, raft.h): what it handed out starts where the last
	 * advance left off. */
	assert(!rd->has_snapshot || r->snap_pending);
	assert(rd->n_entries == 0 ||
	       rd->entries[0].index == l->stable_handed + 1);
	assert(rd->n_committed == 0 ||
	       rd->committed[0].index == l->applied_handed + 1);
	if (rd->has_snapshot)
		r->snap_pending = false;
	if (rd->hs_changed)
		r->prev_hs = rd->hs;
	if (rd->n_entries > 0) {
		raft_index end = rd->entries[rd->n_entries - 1].index;

		assert(end == raft__log_last_index(l));
		l->stable_handed = end;
	}
	if (rd->n_committed > 0) {
		raft_index end = rd->committed[rd->n_committed - 1].index;

		assert(end > l->applied_handed);
		l->applied_handed = end;
	}
	assert(rd->n_msgs == r->msgs.n);
	assert(rd->n_msgs_after_persist == r->msgs_after.n);
	raft__msgq_clear(&r->msgs);
	raft__msgq_clear(&r->msgs_after);
	r->reads_out.n = 0;
	r->failed_out.n = 0;
	r->prev_role = rd->role;
	r->prev_leader = rd->leader;
	if (rd->config_changed)
		raft__config_handed(r);
}
