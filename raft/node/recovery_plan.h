/* recovery_plan.h - the driver's recovery policy as a pure function: where
 * the stored log restarts after a crash and what the core is handed.
 *
 * At start the driver has a stored log (kvd: the WAL) with its newest hard
 * state, and a state machine (kvd: LMDB) applied up to some index, which a
 * snapshot may have replaced. recovery_plan() decides, from those alone,
 * whether the stored log is dropped (raft.h rule 7 on recovery), where the
 * core's log starts, and which hard state and applied index the core gets
 * (struct raft_restore). kvd's node and the simulated cluster (tests/sim)
 * both recover by it. No IO, no allocation.
 *
 * The driver then: resets the stored log after reset_index when reset
 * (kvd: wal_reset()); hands the core (raft_new()) the hard state @hs, the
 * snapshot (snapshot_index, snapshot_term), the stored entries
 * [snapshot_index + 1, last] and @applied; and, when needs_config, the
 * configuration in effect at the state machine's applied index (kvd:
 * members.json), since compaction may have dropped the configuration
 * entries.
 */
#ifndef RAFT_NODE_RECOVERY_PLAN_H_
#define RAFT_NODE_RECOVERY_PLAN_H_

#include <stdbool.h>
#include <stddef.h>

#include "raft.h"

/* What recovery found on disk. */
struct recovery_state {
	/* The stored log: entries [first, last], consecutive (first = last
	 * + 1 when empty; first > 1 when compacted below first, or reset).
	 * @entries holds them all (n_entries = last - first + 1), or is
	 * NULL with n_entries 0 when the log is empty. Not copied. */
	raft_index first, last;
	const struct raft_entry *entries;
	size_t n_entries;
	/* The newest stored hard state. */
	struct raft_hard_state hs;
	/* The state machine has applied every entry up to @applied, the one
	 * at @applied of term @applied_term (a state machine a snapshot
	 * replaced: the snapshot's last index and term). */
	raft_index applied;
	raft_term applied_term;
};

enum recovery_error {
	RECOVERY_OK = 0,
	/* The stored log starts after first - 1 but the state machine has
	 * applied less: the entries between are gone. */
	RECOVERY_EBEHIND = -1
};

struct recovery_plan {
	/* Rule 7 on recovery: the stored log does not continue the state
	 * machine's snapshot (it ends before @applied, or holds another
	 * term there): every stored entry is dropped and the log restarts
	 * after reset_index (= applied). */
	bool reset;
	raft_index reset_index;
	/* The stored log after the reset: entries [first, last]. */
	raft_index first, last;
	/* The core's log starts after (snapshot_index, snapshot_term), 0
	 * for a log never compacted; it gets the stored entries from
	 * snapshot_index + 1 to last (entries + skip, n_entries of them;
	 * none after a reset). */
	raft_index snapshot_index;
	raft_term snapshot_term;
	size_t skip;
	size_t n_entries;
	/* The hard state for the core, its commit index clamped to what
	 * was applied and what is stored. */
	struct raft_hard_state hs;
	raft_index applied;
	/* snapshot_index > 0: the configuration before the first stored
	 * configuration entry is not in the log any more; the driver passes
	 * the one it kept (raft_restore.snapshot_config). */
	bool needs_config;
};

/* Plans recovery from *@in into *@out. Returns RECOVERY_OK, or
 * RECOVERY_EBEHIND (then *@out holds nothing usable). Pure. */
int recovery_plan(const struct recovery_state *in, struct recovery_plan *out);

#endif /* RAFT_NODE_RECOVERY_PLAN_H_ */
