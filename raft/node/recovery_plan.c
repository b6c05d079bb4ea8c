/* recovery_plan.c - the driver's recovery policy (see recovery_plan.h). */
#include "recovery_plan.h"

#include <assert.h>
#include <string.h>

/* The term of the stored entry at @i, 0 when it is not stored. */
static raft_term stored_term(const struct recovery_state *in, raft_index i)
{
	if (i < in->first || i > in->last || in->n_entries == 0)
		return 0;
	const struct raft_entry *e = &in->entries[i - in->first];
	assert(e->index == i);
	return e->term;
}

int recovery_plan(const struct recovery_state *in, struct recovery_plan *out)
{
	assert(in != NULL && out != NULL);
	assert(in->first >= 1 && in->last + 1 >= in->first);
	assert(in->n_entries == in->last + 1 - in->first);
	assert(in->n_entries == 0 || in->entries != NULL);
	memset(out, 0, sizeof(*out));
	raft_index applied = in->applied;
	if (applied + 1 < in->first)
		return RECOVERY_EBEHIND;
	out->applied = applied;
	out->first = in->first;
	out->last = in->last;

	/* Raft.h rule 7 on recovery: a crash after a received snapshot
	 * replaced the store (applied = its index) but before the log was
	 * reset leaves a log that ends before the snapshot or holds a
	 * conflicting entry at its index. Either way the stored log is
	 * dropped, as the install would have done; a tail that matches the
	 * snapshot's term is kept. */
	bool reset = applied > 0 && applied > in->last;
	if (applied > 0 && applied >= in->first && applied <= in->last)
		reset = stored_term(in, applied) != in->applied_term;
	if (reset) {
		out->reset = true;
		out->reset_index = applied;
		out->first = applied + 1;
		out->last = applied;
	}
	size_t n_stored = reset ? 0 : in->n_entries;

	/* The core's log starts after an index whose term is known: 0 for a
	 * log that was never compacted; else the first stored entry when the
	 * store has applied it (compaction keeps a margin below the
	 * snapshot, so followers a little behind still get entries); else
	 * the store's own applied index (the store IS the snapshot). */
	if (out->first > 1 && n_stored > 0 && out->first <= applied) {
		out->snapshot_index = in->entries[0].index;
		out->snapshot_term = in->entries[0].term;
		out->skip = 1;
	} else if (out->first > 1) {
		out->snapshot_index = applied;
		out->snapshot_term = in->applied_term;
	}
	out->n_entries = n_stored - out->skip;
	assert(out->n_entries == out->last - out->snapshot_index);
	out->needs_config = out->snapshot_index > 0;

	/* The core's one rule for the recovered commit index: within the
	 * log handed to it, and what was applied was committed even if the
	 * hard state recording that commit index did not reach the disk. */
	out->hs = in->hs;
	out->hs.commit = raft_restore_commit(&(struct raft_restore){
	    .hs = in->hs,
	    .snapshot_index = out->snapshot_index,
	    .n_entries = out->n_entries,
	    .applied = applied,
	});
	assert(out->hs.commit >= applied && out->hs.commit <= out->last);
	return RECOVERY_OK;
}
