/* node_store.h - the data dir at start: members.json (or the founding
 * members on first boot), and the state machine's starting point: where a
 * durable one stands, the newest snapshot for one kept in memory, a
 * damaged one rebuilt from a snapshot and the WAL.
 * Loop thread only, before the node runs.
 */
#ifndef RAFT_NODE_STORE_H_
#define RAFT_NODE_STORE_H_

#include <stddef.h>

#include "raft.h"

struct node;
struct wal;

/* Loads members.json into n->members, or on first boot stores the
 * founding members from --initial-cluster; a member without either waits
 * to be added. 0, or -1 with one line in @err (a WAL without
 * members.json where guessing could make a second cluster). */
int node_open_members(struct node *n, char *err, size_t errlen);

/* The state machine's starting point against the WAL @w (see
 * node_store.c): where it stands, or restored from a snapshot, or reset
 * and rebuilt when damaged. 0 with the index and term it holds, or -1
 * with one line in @err. */
int node_open_state(struct node *n, struct wal *w, raft_index *applied,
		    raft_term *applied_term, char *err, size_t errlen);

#endif /* RAFT_NODE_STORE_H_ */
