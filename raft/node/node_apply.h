/* node_apply.h - applying committed entries to the store (raft.h rule 5),
 * and the backlog that holds them in order while the store is full.
 * Loop thread only.
 */
#ifndef RAFT_NODE_APPLY_H_
#define RAFT_NODE_APPLY_H_

#include <stdbool.h>
#include <stddef.h>

#include "raft.h"

struct event;
struct node;

/* Embedded in struct node; only node_apply.c writes its fields. Store full
 * (node_apply.c): the committed entries [head, n) of @entries (copies,
 * owned) wait for retry_ev, in order. */
struct apply_backlog {
	bool store_full; /* proposals answer NODE_EDISKFULL meanwhile */
	struct raft_entry *entries;
	size_t head, n, cap;
	size_t bytes; /* entries and payloads */
	struct event *retry_ev;
};

/* Rule 5: applies @cnt committed entries (owned by the core until
 * raft_advance()) in order and answers the writes they complete, or keeps
 * copies behind the waiting ones while the store is full. A failure other
 * than a full store ends the process. */
void node_apply_committed(struct node *n, const struct raft_entry *ents,
			  size_t cnt);

/* Stops the retry timer (node_stop()). */
void node_apply_stop(struct node *n);

/* Frees the timer and the backlog (node_close()); entries never applied
 * are applied from the WAL by the next start. */
void node_apply_free(struct node *n);

#endif /* RAFT_NODE_APPLY_H_ */
