/* cluster.h - a few cores wired together by hand: each ready is carried out
 * at once (storage in memory), messages wait in a queue until delivered.
 * For the tests that take readies by hand; the others run on the
 * simulated cluster of tests/sim (on_sim.h). */
#ifndef TESTS_CORE_CLUSTER_H_
#define TESTS_CORE_CLUSTER_H_

#include <stdbool.h>
#include <stddef.h>

#include "raft.h"

#define CL_MAX_NODES 5
#define CL_MAX_LOG   256
#define CL_MAX_MSGS  1024
#define CL_MAX_READS 64

struct cl_node {
	struct raft *r;
	/* Stable storage. */
	struct raft_hard_state hs;
	struct raft_entry log[CL_MAX_LOG]; /* log[i] has index i + 1 */
	size_t n_log;
	/* Stored entries <= snap_index are gone (their slots hold no data;
	 * the slot at snap_index keeps its term). */
	raft_index snap_index;
	raft_term snap_term;
	/* The last snapshot received (a copy of the sender's state machine
	 * up to snap_file_index), waiting for rd.has_snapshot. */
	char snap_file[CL_MAX_LOG][32];
	raft_index snap_file_index;
	size_t n_installs;
	/* The driver's newest snapshot of its own state machine (taken at
	 * the applied index by cl_compact()), the one it sends. */
	raft_index drv_snap_index;
	/* The state machine: applied command payloads, in order. */
	char applied[CL_MAX_LOG][32];
	raft_index applied_index;
	struct raft_read reads[CL_MAX_READS];
	size_t n_reads;
	struct raft_read failed[CL_MAX_READS];
	size_t n_failed;
};

struct cl {
	size_t n;
	struct cl_node nodes[CL_MAX_NODES]; /* nodes[i] has id i + 1 */
	struct raft_msg q[CL_MAX_MSGS];	    /* in flight, deep copies */
	size_t n_q;
	struct raft_options opts;
	size_t n_voters; /* founding voters 1..n_voters; the rest start empty */
};

/* Options for @n members with ids 1..n. */
void cl_init(struct cl *c, size_t n, const struct raft_options *base);
/* The same with only 1..@n_voters founding voters: the other members
 * start empty, waiting to be added (as kvd without --initial-cluster). */
void cl_init_voters(struct cl *c, size_t n, size_t n_voters,
		    const struct raft_options *base);
void cl_free(struct cl *c);
struct raft *cl_r(struct cl *c, raft_id id);
struct cl_node *cl_node(struct cl *c, raft_id id);

/* Carries out every ready of one node (or all: id 0), queueing messages. */
void cl_ready(struct cl *c, raft_id id);

/* The driver's side of compaction: a snapshot of the state machine at the
 * applied index, then raft_compact(@id, @index) (@index below the applied
 * index keeps a margin), and the stored entries up to the core's snapshot
 * index are deleted. Returns raft_compact's code. */
int cl_compact(struct cl *c, raft_id id, raft_index index);

/* Restarts @id from its stable storage and state machine (its snapshot,
 * the entries after it, the hard state and the applied index). */
void cl_restart(struct cl *c, raft_id id);

/* Takes @id's next ready and crashes part way through carrying it out:
 * of (1) installing its snapshot, (2) resetting the stored log after it,
 * (3) storing its entries, (4) storing its hard state, only the first
 * @steps are done (those that apply); nothing is sent or applied. Then
 * @id restarts (cl_restart). */
void cl_crash_in_ready(struct cl *c, raft_id id, int steps);

/* Delivers (and removes) queued messages matching @type (0: any), @from
 * and @to (0: any). Returns how many were delivered. A SNAPSHOT message is
 * delivered as a driver would: the sender's newest snapshot (its state
 * machine at drv_snap_index, at least the message's index) is copied to
 * the receiver first (the transfer), then the message is stepped naming
 * that snapshot's index and term. */
size_t cl_deliver(struct cl *c, int type, raft_id from, raft_id to);

/* Drops queued messages matching the same filter. */
size_t cl_drop(struct cl *c, int type, raft_id from, raft_id to);

/* Counts queued messages matching the filter. */
size_t cl_count(struct cl *c, int type, raft_id from, raft_id to);

/* The oldest queued message of @type from @from to @to (@to 0: any), left
 * in the queue for a test to look at; NULL when none. */
const struct raft_msg *cl_find(struct cl *c, int type, raft_id from,
			       raft_id to);

/* Readies and deliveries until nothing moves. */
void cl_stabilize(struct cl *c);

/* Ticks @id until it campaigns, then stabilizes; returns its role. */
enum raft_role cl_elect(struct cl *c, raft_id id);

#endif /* TESTS_CORE_CLUSTER_H_ */
