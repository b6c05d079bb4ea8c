/* node_waits.h - the requests that wait for the cluster: proposals, reads,
 * transfers and watched work, their ids, timeouts and completion.
 *
 * Each pending struct node_wait (node.h) is in the list of all waits, and
 * until it has a read index, in a hash by request id; a read the core has
 * given an index waits in the read queue for the applied index to reach it.
 * Every wait ends through node_wait_finish(), which calls its done() once.
 * Loop thread only.
 */
#ifndef RAFT_NODE_WAITS_H_
#define RAFT_NODE_WAITS_H_

#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "raft.h"

#define NODE_WAITS_BUCKETS 4096

enum wait_kind {
	WAIT_WRITE = 1,	   /* a proposal, completed by its apply result */
	WAIT_READ = 2,	   /* a read index, then the apply index reaching it */
	WAIT_TRANSFER = 3, /* a leadership transfer, until the target leads */
	WAIT_EXTERNAL = 4  /* the caller's own work (node_watch) */
};

/* Embedded in struct node; only node_waits.c touches its fields. */
struct node_waits {
	uint64_t next_id; /* the next request id (random start) */
	struct node_wait *buckets[NODE_WAITS_BUCKETS];
	struct node_wait *list;	 /* every pending wait */
	struct node_wait *readq; /* reads with an index, waiting for apply
				  * (linked by hnext) */
	size_t count;		 /* waits in the list */
};

struct node;

/* Takes the wait of request @id out of the hash: NULL when there is none
 * (timed out, or proposed by an earlier run). */
struct node_wait *node_waits_take(struct node *n, uint64_t id);

/* Completes @w, already taken out of the hash or the read queue: unlinks
 * it from the wait list, stops its timer and calls done() (after which @w
 * is the caller's again). */
void node_wait_finish(struct node *n, struct node_wait *w, int err,
		      const void *result);

/* Queues read @w, taken from the hash, until the applied index reaches
 * @index (above the applied index now). */
void node_waits_queue_read(struct node *n, struct node_wait *w,
			   raft_index index);

/* Answers the waiting writes that @ents (@cnt applied entries, as stored:
 * with their identity) complete; @results holds apply()'s result of each
 * (kvdraft_app.result_size bytes apart). */
void node_waits_complete_writes(struct node *n, const struct raft_entry *ents,
				const unsigned char *results, size_t cnt);

/* The bytes the default identity (kvdraft_app.identity_offset < 0) puts
 * in front of each command. */
#define NODE_IDENTITY_BYTES 16

/* Serves the reads whose index the applied index has reached. */
void node_waits_serve_reads(struct node *n);

/* Completes the transfers waiting for @leader to lead. */
void node_waits_finish_transfers(struct node *n, raft_id leader);

/* Fails every pending wait with @err (shutdown). */
void node_waits_fail_all(struct node *n, int err);

#endif /* RAFT_NODE_WAITS_H_ */
