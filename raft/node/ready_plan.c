/* ready_plan.c - the driver's policy for one ready (see ready_plan.h). */
#include "ready_plan.h"

#include <assert.h>
#include <string.h>

void ready_plan(const struct raft_ready *rd, const struct ready_pipeline *pl,
		enum raft_role role, struct ready_plan *out)
{
	assert(rd != NULL && pl != NULL && out != NULL);
	assert(pl->jobs_in_flight > 0 || !pl->halted);
	memset(out, 0, sizeof(*out));
	out->next = *pl;

	/* Rule 7a: the received snapshot replaces the store first. */
	out->install_snapshot = rd->has_snapshot;

	/* Rules 1 and 3: storage, and the messages that wait for it. A
	 * message may skip the queue only when nothing is in flight. A new
	 * commit index alone needs no job when nothing is in flight either:
	 * it is a hint (raft.h) that the writer would not sync anyway, and
	 * what waits for it waits for nothing. It rides with the next job
	 * (or the one the driver makes when it closes), which saves the
	 * writer thread a round trip per write on every member: the leader's
	 * commit after the acknowledgements, a follower's after the next
	 * append. */
	bool defer_hs = rd->hs_changed && rd->hs.term == pl->hs_last.term &&
			rd->hs.vote == pl->hs_last.vote && rd->n_entries == 0 &&
			!rd->has_snapshot && pl->jobs_in_flight == 0;
	bool job_needed =
	    rd->n_entries > 0 || (rd->hs_changed && !defer_hs) ||
	    rd->has_snapshot ||
	    (rd->n_msgs_after_persist > 0 && pl->jobs_in_flight > 0);
	/* A deferred hard state only ever stands alone. */
	assert(!(defer_hs && job_needed));
	if (rd->hs_changed) {
		out->next.hs_last = rd->hs;
		out->next.hs_deferred = defer_hs;
	}
	if (job_needed) {
		if (rd->hs_changed || out->next.hs_deferred) {
			out->job_has_hs = true;
			out->job_hs = out->next.hs_last;
		}
		out->next.hs_deferred = false;
		out->job = true;
		/* Rule 7b, before this ready's entries. */
		out->job_install = rd->has_snapshot;
		out->next.jobs_in_flight++;
	}
	/* Rule 2 sends rd->msgs at once; rule 3 lets rd->msgs_after_persist
	 * follow them only when no job is made, which needs nothing in
	 * flight (above). */
	out->send_after_persist_now = !job_needed;

	/* A member that is not the leader has nothing to do while its disk
	 * works (its answers wait for the write), so when nothing else is in
	 * flight it writes on its own thread, at the end of this ready: two
	 * thread wake-ups fewer on the path of every write. The leader keeps
	 * serving clients and replicating meanwhile, so its writes always go
	 * to the writer thread. */
	out->write_inline = job_needed && pl->jobs_in_flight == 0 &&
			    !pl->halted && role != RAFT_LEADER;
}
