/* core_progress.c - a leader's view of one peer and its in-flight window. */
#include "core_progress.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int raft__progress_init(struct raft_progress *pr, raft_id id,
			size_t max_inflight)
{
	assert(max_inflight > 0);
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->infl.buf = calloc(max_inflight, sizeof(*pr->infl.buf));
	if (pr->infl.buf == NULL)
		return -1;
	pr->infl.cap = max_inflight;
	pr->next = 1;
	return 0;
}

void raft__progress_close(struct raft_progress *pr)
{
	free(pr->infl.buf);
	pr->infl.buf = NULL;
}

void raft__progress_reset(struct raft_progress *pr, raft_index next)
{
	pr->match = 0;
	pr->next = next;
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = false;
	/* A new leader gives every peer one election timeout before
	 * CheckQuorum may count it as silent. */
	pr->recent_active = true;
	pr->commit_sent = 0;
	pr->read_acked = 0;
	pr->lease_tick = 0;
	raft__inflights_reset(&pr->infl);
}

void raft__progress_become_probe(struct raft_progress *pr)
{
	pr->state = RAFT_PR_PROBE;
	pr->next = pr->match + 1;
	pr->probe_sent = false;
	raft__inflights_reset(&pr->infl);
}

void raft__progress_become_snapshot(struct raft_progress *pr, raft_index index)
{
	pr->state = RAFT_PR_SNAPSHOT;
	pr->pending_snapshot = index;
	pr->probe_sent = false;
	raft__inflights_reset(&pr->infl);
}

void raft__progress_become_replicate(struct raft_progress *pr)
{
	pr->state = RAFT_PR_REPLICATE;
	pr->next = pr->match + 1;
	pr->probe_sent = false;
	raft__inflights_reset(&pr->infl);
}

bool raft__progress_maybe_update(struct raft_progress *pr, raft_index index)
{
	bool grew = false;

	if (index > pr->match) {
		pr->match = index;
		grew = true;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	pr->probe_sent = false;
	raft__inflights_free_to(&pr->infl, index);
	return grew;
}

bool raft__progress_maybe_decr(struct raft_progress *pr, raft_index rejected,
			       raft_index hint, uint64_t seq)
{
	raft_index next;

	if (pr->state == RAFT_PR_REPLICATE) {
		/* Only an append past what is known to match can be
		 * rejected; anything else is an old, reordered answer. */
		if (rejected <= pr->match)
			return false;
		raft__progress_become_probe(pr);
	} else if (pr->state == RAFT_PR_SNAPSHOT) {
		/* No append is out: an old answer. The snapshot's outcome
		 * comes as an acknowledgement or a driver report. */
		return false;
	} else if (rejected != pr->next - 1) {
		return false; /* not the answer to the probe out now */
	} else if (seq != 0 && seq == pr->probe_seq && hint <= pr->match) {
		/* The answer to the probe out now, sent after match was
		 * recorded, says the peer's log ends (or differs) below
		 * match: it lost acknowledged entries. Lowering match only
		 * makes the leader more cautious; its commit index stays. */
		pr->match = hint > 0 ? hint - 1 : 0;
		pr->next = pr->match + 1;
		pr->probe_sent = false;
		return true;
	}
	/* Skip back to the follower's hint (the start of its conflicting
	 * term, or its end), never below what is known to match. */
	next = hint < rejected ? hint : rejected;
	if (next < pr->match + 1)
		next = pr->match + 1;
	if (next < 1)
		next = 1;
	pr->next = next;
	pr->probe_sent = false;
	return true;
}

void raft__progress_sent(struct raft_progress *pr, raft_index last, size_t n)
{
	if (pr->state == RAFT_PR_REPLICATE) {
		if (n > 0) {
			/* Optimistically assume delivery and pipeline the
			 * next batch (thesis §10.2.1). */
			pr->next = last + 1;
			raft__inflights_add(&pr->infl, last);
		}
	} else {
		pr->probe_sent = true;
	}
}

bool raft__progress_is_paused(const struct raft_progress *pr)
{
	if (pr->state == RAFT_PR_PROBE)
		return pr->probe_sent;
	if (pr->state == RAFT_PR_SNAPSHOT)
		return true;
	return raft__inflights_full(&pr->infl);
}

bool raft__inflights_full(const struct raft_inflights *in)
{
	return in->count == in->cap;
}

void raft__inflights_add(struct raft_inflights *in, raft_index last)
{
	assert(!raft__inflights_full(in));
	in->buf[(in->start + in->count) % in->cap] = last;
	in->count++;
}

void raft__inflights_free_to(struct raft_inflights *in, raft_index index)
{
	while (in->count > 0 && in->buf[in->start] <= index) {
		in->start = (in->start + 1) % in->cap;
		in->count--;
	}
}

void raft__inflights_reset(struct raft_inflights *in)
{
	in->start = 0;
	in->count = 0;
}
