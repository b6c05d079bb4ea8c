/* ready_plan.h - the driver's policy for one struct raft_ready, as a pure
 * function: what is written, which messages leave now and which wait.
 *
 * kvd's node and the simulated cluster (tests/sim) both carry out a ready
 * by this plan, so every simulated seed runs the ordering the server obeys.
 * No IO, no allocation: a ready and the write pipeline's state in, a plan
 * out. The driver carries the plan out in this order (raft.h numbers the
 * rules):
 *
 *   1. rule 7a: when install_snapshot, rd->snapshot replaces the state
 *      machine before anything else of this ready;
 *   2. rules 1, 3 and 7b: when job, one write job is made of rd->entries,
 *      job_hs (when job_has_hs), rd->msgs_after_persist (unless
 *      send_after_persist_now) and, when job_install, the stored log
 *      restarting after rd->snapshot before those entries;
 *   3. rule 2: rd->msgs are sent, and rd->msgs_after_persist with them
 *      when send_after_persist_now;
 *   4. the job goes to the writer, unless write_inline: then the driver
 *      writes it itself once steps 5 and 6 are done;
 *   5. rules 5 and 6: rd->committed is applied, rd->reads served;
 *   6. raft_advance(); the job's messages leave and raft_persisted() is
 *      called when its write is durable (rules 3 and 4);
 *   7. the pipeline state becomes plan.next.
 */
#ifndef RAFT_NODE_READY_PLAN_H_
#define RAFT_NODE_READY_PLAN_H_

#include <stdbool.h>
#include <stddef.h>

#include "raft.h"

/* The write pipeline between two readies, as the driver keeps it. */
struct ready_pipeline {
	/* Jobs made and not yet written (in the writer, inline, or held
	 * for a retry). Jobs are written in the order they were made. */
	size_t jobs_in_flight;
	/* The writer is halted (disk full): a new job waits behind the
	 * failed ones, so it is never written inline. */
	bool halted;
	/* The newest hard state handed to a job, or deferred. */
	struct raft_hard_state hs_last;
	/* hs_last is in no job yet: it rides with the next one. */
	bool hs_deferred;
};

struct ready_plan {
	/* Rule 7a: install rd->snapshot into the state machine first. */
	bool install_snapshot;
	/* Rules 1 and 3: a write job is needed. */
	bool job;
	/* The hard state the job stores (a deferred one, or rd->hs). */
	bool job_has_hs;
	struct raft_hard_state job_hs;
	/* Rule 7b: the stored log restarts after rd->snapshot, before the
	 * job's entries are stored. */
	bool job_install;
	/* Rule 3 holds already (no job is needed, none is in flight): the
	 * messages that wait for durability leave now with rd->msgs. */
	bool send_after_persist_now;
	/* The job is written on the driver's own thread at the end of the
	 * ready (a member that is not the leader, nothing in flight). */
	bool write_inline;
	/* The pipeline after this ready (jobs_in_flight counts the job). */
	struct ready_pipeline next;
};

/* Plans the ready @rd (raft.h) for a member in @role whose write pipeline
 * is @pl. Pure: reads @rd and @pl, writes *@out only. @rd's arrays are not
 * copied; the plan refers to them by the flags above. */
void ready_plan(const struct raft_ready *rd, const struct ready_pipeline *pl,
		enum raft_role role, struct ready_plan *out);

#endif /* RAFT_NODE_READY_PLAN_H_ */
