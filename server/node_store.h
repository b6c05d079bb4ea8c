/* node_store.h - the data dir at start: members.json (or the founding
 * members on first boot), --restore seeds the store, a damaged store is
 * rebuilt from a snapshot and the WAL, and a snapshot install a crash
 * interrupted is finished on the WAL (raft.h rule 7 on recovery).
 * Loop thread only, before the node runs.
 */
#ifndef SERVER_NODE_STORE_H_
#define SERVER_NODE_STORE_H_

#include <stddef.h>

#include "raft.h"

struct node;
struct wal;

/* Loads members.json into n->members, or on first boot stores the
 * founding members from --initial-cluster; a member without either waits
 * to be added. 0, or -1 with one line in @err (a WAL without
 * members.json where guessing could make a second cluster). */
int node_open_members(struct node *n, char *err, size_t errlen);

/* kvd --restore @file: seeds an empty data dir's store from a copy of it.
 * 0 (also when the data dir holds a store already), or -1 with one line
 * in @err. */
int node_restore_file(struct node *n, const char *file, char *err,
		      size_t errlen);

/* Opens the store into n->kv and checks it against the WAL @w, rebuilding
 * a damaged one: 0, or -1 with one line in @err. */
int node_open_store(struct node *n, struct wal *w, char *err, size_t errlen);

#endif /* SERVER_NODE_STORE_H_ */
