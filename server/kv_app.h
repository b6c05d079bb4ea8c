/* kv_app.h - kvd's state machine as the node sees it: the LMDB store
 * (kv/) behind the callbacks of struct kvdraft_app (raft/node/
 * kvdraft_node.h), and the store's own duties at start: --restore seeds
 * it, and a damaged one is moved aside so that the node rebuilds it from a
 * snapshot and the WAL. Loop thread only, except the snapshot callbacks
 * (KVDRAFT_APP_SNAPSHOT_CONCURRENT: the copy runs beside the loop).
 */
#ifndef SERVER_KV_APP_H_
#define SERVER_KV_APP_H_

#include <stdbool.h>
#include <stddef.h>

#include "kv.h"
#include "kvdraft_node.h"

struct config;
struct node;

struct kv_app {
	struct kv *kv;
	const char *data_dir;
	/* Set once the node is open: a store reopen or install waits for its
	 * snapshot copy first (LMDB must not close under a reader). */
	struct node *node;
	/* Found damaged at start: told to the node by applied(). */
	bool damaged;
	char damaged_why[512];
};

/* Opens the store in cfg->data_dir/kv: seeds an empty data dir from
 * cfg->restore first, and moves a damaged store aside to
 * kv.damaged-<time> (an empty one takes its place; the node then restores
 * the newest snapshot and replays the WAL). 0, or -1 with one line in
 * @err. */
int kv_app_open(struct kv_app *a, const struct config *cfg, char *err,
		size_t errlen);

/* The callbacks on @a. */
void kv_app_callbacks(struct kv_app *a, struct kvdraft_app *app);

/* Syncs and closes the store (after the node is closed). */
void kv_app_close(struct kv_app *a);

/* The store of the node @n runs (its kvdraft_app.ctx is a struct kv_app):
 * the HTTP layer reads it. */
struct kv *kv_app_store(struct node *n);

/* The suffix of kvd's snapshot files: they are LMDB data files. */
#define KV_APP_SNAPSHOT_EXT "mdb"

#endif /* SERVER_KV_APP_H_ */
