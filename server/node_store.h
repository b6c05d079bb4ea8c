/* node_store.h - the store at start: --restore seeds it, a damaged one is
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

/* kvd --restore @file: seeds an empty data dir's store from a copy of it.
 * 0 (also when the data dir holds a store already), or -1 with one line
 * in @err. */
int node_restore_file(struct node *n, const char *file, char *err,
		      size_t errlen);

/* Opens the store into n->kv and checks it against the WAL @w, rebuilding
 * a damaged one: 0, or -1 with one line in @err. */
int node_open_store(struct node *n, struct wal *w, char *err, size_t errlen);

/* Drops the stored log of @w when the store holds a snapshot at @applied
 * (term @applied_term) that the log does not continue: 0, or -1 with one
 * line in @err. */
int node_recover_snapshot_install(struct wal *w, raft_index applied,
				  raft_term applied_term, char *err,
				  size_t errlen);

#endif /* SERVER_NODE_STORE_H_ */
