/* kv_app.h - kvd's application on libkvdraft's node: the LMDB store (kv/)
 * behind the callbacks of struct kvdraft_app (raft/node/kvdraft_node.h),
 * the store's own duties at start (--restore seeds it, and a damaged one is
 * moved aside so that the node rebuilds it from a snapshot and the WAL),
 * and what the HTTP layer reaches through the node's kvdraft_app.ctx: the
 * flags, the loop, kvd's request metrics. Loop thread only, except the
 * snapshot callbacks (KVDRAFT_APP_SNAPSHOT_CONCURRENT: the copy runs
 * beside the loop).
 */
#ifndef SERVER_KV_APP_H_
#define SERVER_KV_APP_H_

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "kv.h"
#include "kvdraft_node.h"
#include "metrics.h"

struct config;
struct event_base;
struct lease_mgr;
struct listener;
struct member_pool;
struct watch_hub;

struct kv_app {
	struct kv *kv;
	const char *data_dir;
	const struct config *cfg;
	struct event_base *base;
	struct metrics metrics; /* kvd's requests */
	/* Set once the node is open: a store reopen or install waits for its
	 * snapshot copy first (LMDB must not close under a reader). */
	struct kvdraft_node *node;
	/* Its watchers (http_watch.c), fed after each apply. */
	struct watch_hub *hub;
	/* The leader's lease deadlines (lease_mgr.c), told of each apply. */
	struct lease_mgr *leases;
	/* Connections to other members' client URLs, over HTTPS for
	 * https:// ones (main.c; member_pool.h, member_tls.h). */
	struct member_pool *member_pool;
	/* The client listener (main.c), for its counts on /metrics. */
	struct listener *client_listener;
	/* Applies that waited for a running snapshot copy, the store's map
	 * being too full to take them beside it (app_apply()). */
	uint64_t snapshot_waits;
	/* Found damaged at start: told to the node by applied(). */
	bool damaged;
	char damaged_why[512];
};

/* Opens the store in cfg->data_dir/kv: seeds an empty data dir from
 * cfg->restore first, and moves a damaged store aside to
 * kv.damaged-<time> (an empty one takes its place; the node then restores
 * the newest snapshot and replays the WAL). 0, or -1 with one line in
 * @err. */
int kv_app_open(struct kv_app *a, const struct config *cfg,
		struct event_base *base, char *err, size_t errlen);

/* Starts the watch hub, once the node is open (what it applied while
 * opening is history). 0, or -1 when out of memory. */
int kv_app_start_watch(struct kv_app *a);

/* Starts following the node's leadership for leases, once the node is
 * open. 0, or -1 when out of memory. */
int kv_app_start_leases(struct kv_app *a);

/* The callbacks on @a. */
void kv_app_callbacks(struct kv_app *a, struct kvdraft_app *app);

/* Ends the watch streams (shutting_down), syncs and closes the store
 * (after the node is closed, before the HTTP server is freed). */
void kv_app_close(struct kv_app *a);

/* What the HTTP layer reaches from the node @n (its kvdraft_app.ctx is
 * a struct kv_app): the store, the flags, the loop, the metrics. */
struct kv *kv_app_store(struct kvdraft_node *n);
const struct config *kvd_config(struct kvdraft_node *n);
struct event_base *kvd_base(struct kvdraft_node *n);
struct metrics *kvd_metrics(struct kvdraft_node *n);
/* The connections to other members' client URLs (member_pool.h). */
struct member_pool *kvd_member_pool(struct kvdraft_node *n);
/* The client listener, NULL until it serves. */
struct listener *kvd_client_listener(struct kvdraft_node *n);

/* Applies that waited for a snapshot copy (struct kv_app). */
uint64_t kvd_snapshot_waits(struct kvdraft_node *n);

/* The member's watch hub. */
struct watch_hub *kvd_watch_hub(struct kvdraft_node *n);
/* The member's lease manager. */
struct lease_mgr *kvd_leases(struct kvdraft_node *n);
/* Whether this member was removed from the cluster. */
bool kvd_member_removed(struct kvdraft_node *n);

/* The leader's client URL, "" when unknown. */
const char *kvd_leader_client_url(struct kvdraft_node *n);
/* The members as GET /v1/members and /v1/status show them: an array of
 * {"id", "peer_url", "client_url", "voter"} (a new reference). */
json_t *kvd_members_json(struct kvdraft_node *n);
/* Whether @id is a voting member. */
bool kvd_is_voter(struct kvdraft_node *n, raft_id id);

/* A newer X-Kv-Seq of the client was applied already (the store's
 * KV_STALE_SEQ): 409. Beside the node's errors (enum kvdraft_error). */
#define KVD_ESTALE_SEQ (-100)
/* kvdraft_strerror(), and KVD_ESTALE_SEQ. */
const char *kvd_strerror(int err);

#endif /* SERVER_KV_APP_H_ */
