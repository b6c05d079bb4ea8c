/* core_progress.h - a leader's view of one peer: match/next, probe or
 * replicate, and the window of AppendEntries in flight. */
#ifndef RAFT_CORE_PROGRESS_H_
#define RAFT_CORE_PROGRESS_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"

/* Probe: where the peer's log matches ours is unknown; one AppendEntries at
 * a time, next moves back on each rejection (Raft §5.3).
 * Replicate: the peer matches up to match; appends are pipelined, next
 * advancing optimistically after each send (thesis §10.2.1).
 * Snapshot: the peer needs entries compacted away; the driver transfers a
 * snapshot (at pending_snapshot or newer) and no append goes out until the
 * peer acknowledges it or the driver reports the outcome (thesis §5.2). */
enum raft_pr_state {
	RAFT_PR_PROBE = 0,
	RAFT_PR_REPLICATE = 1,
	RAFT_PR_SNAPSHOT = 2
};

/* A ring of the last index of each AppendEntries in flight, oldest first. */
struct raft_inflights {
	raft_index *buf;
	size_t cap;
	size_t start;
	size_t count;
};

struct raft_progress {
	raft_id id;
	raft_index match;
	raft_index next;
	enum raft_pr_state state;
	bool probe_sent;    /* probe: an append is out, wait for its answer */
	bool recent_active; /* heard from since the last CheckQuorum */
	int vote;	    /* this election: 1 granted, -1 refused, 0 none */
	raft_index commit_sent; /* the highest commit this peer was told */
	uint64_t read_acked;	/* the newest read round it confirmed */
	/* Leader leases: 1 + the tick of the newest heartbeat it answered
	 * (echoed in HEARTBEAT_RESP.index); 0: none in this term. */
	uint64_t lease_tick;
	uint64_t stall_tick;	     /* since when the oldest append is out */
	raft_index pending_snapshot; /* snapshot state: the index sent */
	uint64_t append_seq;	     /* stamp of the last append sent */
	uint64_t probe_seq;	     /* probe state: stamp of the probe out */
	struct raft_inflights infl;
};

/* Sets up @pr for @id with a window of @max_inflight (> 0). Returns 0 or
 * -1 when out of memory. */
int raft__progress_init(struct raft_progress *pr, raft_id id,
			size_t max_inflight);
void raft__progress_close(struct raft_progress *pr);

/* A new leader knows nothing of the peer: probe from @next. */
void raft__progress_reset(struct raft_progress *pr, raft_index next);

void raft__progress_become_probe(struct raft_progress *pr);
void raft__progress_become_replicate(struct raft_progress *pr);
/* A snapshot at @index is being sent to the peer. */
void raft__progress_become_snapshot(struct raft_progress *pr, raft_index index);

/* The peer acknowledged entries up to @index. Returns whether match grew. */
bool raft__progress_maybe_update(struct raft_progress *pr, raft_index index);

/* The peer rejected an append whose previous index was @rejected, hinting
 * that its log differs from @hint on; @seq is the stamp of the append it
 * answers (0: unknown). Returns false for a stale answer. A rejection of
 * the probe out now (@seq == probe_seq) whose hint is at or below match
 * proves the peer lost entries it had acknowledged (a disk dropping synced
 * writes): match falls back to hint - 1 so that they are sent again. */
bool raft__progress_maybe_decr(struct raft_progress *pr, raft_index rejected,
			       raft_index hint, uint64_t seq);

/* An append ending at @last with @n entries was sent. */
void raft__progress_sent(struct raft_progress *pr, raft_index last, size_t n);

/* Whether no further append may be sent now. */
bool raft__progress_is_paused(const struct raft_progress *pr);

bool raft__inflights_full(const struct raft_inflights *in);
void raft__inflights_add(struct raft_inflights *in, raft_index last);
/* Frees every in-flight append ending at or below @index. */
void raft__inflights_free_to(struct raft_inflights *in, raft_index index);
void raft__inflights_reset(struct raft_inflights *in);

#endif /* RAFT_CORE_PROGRESS_H_ */
