/* kv_app.c - kvd's LMDB store behind the node's application callbacks
 * (see kv_app.h).
 */
#include "kv_app.h"
#include "kv_snapshot_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "durable.h"
#include "log.h"
#include "kvdraft_node.h"
#include "lease_mgr.h"
#include "util.h"
#include "watch_hub.h"

/* Records walked from each end of each database at start (kv_check()):
 * a store of up to twice this many keys is read whole, a larger one in
 * bounded time (a few hundred ms at most). */
#define STORE_CHECK_RECORDS 100000
/* Path buffers: the data dir (at most 4000 bytes) plus a file name. */
#define KV_APP_PATH_MAX 4200

/* kvd --restore FILE: seeds an empty data dir's store from a snapshot
 * file (a copy of it: the user's file stays). The node then finds a store
 * the WAL does not continue and starts the log after it. */
/* kvd's store options: the defaults, and the history --watch-history
 * asks for. */
static void store_options(const struct config *cfg, struct kv_options *ko)
{
	kv_options_init(ko);
	ko->watch_history = cfg->watch_history;
}

static int restore_file(const char *dir, const char *file, char *err,
			size_t errlen)
{
	char p[KV_APP_PATH_MAX], tmp[KV_APP_PATH_MAX], kerr[512] = "";
	struct stat st;
	snprintf(p, sizeof(p), "%s/kv/data.mdb", dir);
	if (stat(p, &st) == 0) {
		log_info("data dir %s already holds a store: ignoring "
			 "--restore",
			 dir);
		return 0;
	}
	raft_index idx;
	raft_term term;
	if (kv_snapshot_info(file, &idx, &term, kerr, sizeof(kerr)) != 0)
		return util_fail(err, errlen,
				 "--restore %s: not a kvd snapshot: %s", file,
				 kerr);
	snprintf(tmp, sizeof(tmp), "%s/kv.restore.tmp", dir);
	int in = open(file, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return util_fail(err, errlen, "--restore: opening %s: %s", file,
				 strerror(errno));
	int rc = kv_copy_fd_to_file(in, tmp, kerr, sizeof(kerr));
	close(in);
	if (rc != 0)
		return util_fail(err, errlen, "--restore %s: %s", file, kerr);
	if (kv_restore(dir, tmp, kerr, sizeof(kerr)) != 0) {
		unlink(tmp);
		return util_fail(err, errlen, "--restore %s: %s", file, kerr);
	}
	log_info("restored the store from %s: index %" PRIu64 " term %" PRIu64,
		 file, idx, term);
	return 0;
}

int kv_app_open(struct kv_app *a, const struct config *cfg,
		struct event_base *base, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	a->metrics.start_time = (double)now.tv_sec + now.tv_nsec / 1e9;
	a->data_dir = cfg->data_dir;
	a->cfg = cfg;
	a->base = base;
	if (durable_make_dirs(cfg->data_dir) != 0)
		return util_fail(err, errlen, "cannot create data dir %s: %s",
				 cfg->data_dir, strerror(errno));
	if (cfg->restore != NULL &&
	    restore_file(cfg->data_dir, cfg->restore, err, errlen) != 0)
		return -1;
	struct kv_options ko;
	store_options(a->cfg, &ko);
	char why[512] = "";
	int rc = kv_open(cfg->data_dir, &ko, &a->kv, why, sizeof(why));
	if (rc == 0) {
		rc = kv_check(a->kv, STORE_CHECK_RECORDS, why, sizeof(why));
		if (rc != 0) {
			kv_close(a->kv);
			a->kv = NULL;
		}
	}
	if (rc == KV_ECORRUPT) {
		/* The node decides: rebuilt when a snapshot and the WAL
		 * cover it, else the member refuses to start. */
		a->damaged = true;
		snprintf(a->damaged_why, sizeof(a->damaged_why), "%s", why);
		return 0;
	}
	if (rc != 0)
		return util_fail(err, errlen, "cannot open the store in %s: %s",
				 cfg->data_dir, why);
	return 0;
}

static bool member_removed(void *arg)
{
	return kvd_member_removed(((struct kv_app *)arg)->node);
}

int kv_app_start_watch(struct kv_app *a)
{
	struct watch_hub_options wo = {
	    .max_streams = a->cfg->max_watchers,
	    .progress_ms = a->cfg->watch_progress_ms,
	    .removed = member_removed,
	    .removed_arg = a,
	};
	a->hub = watch_hub_new(a->base, &a->kv, kv_applied_index(a->kv), &wo);
	return a->hub != NULL ? 0 : -1;
}

int kv_app_start_leases(struct kv_app *a)
{
	a->leases = lease_mgr_new(a->base, &a->kv);
	if (a->leases == NULL || lease_mgr_start(a->leases, a->node) != 0)
		return -1;
	return 0;
}

void kv_app_close(struct kv_app *a)
{
	lease_mgr_free(a->leases);
	a->leases = NULL;
	/* Its streams end (shutting_down) while their connections live. */
	watch_hub_free(a->hub);
	a->hub = NULL;
	if (a->kv == NULL)
		return;
	char err[256] = "";
	if (kv_sync(a->kv, err, sizeof(err)) != 0)
		log_error("syncing the store failed: %s", err);
	kv_close(a->kv);
	a->kv = NULL;
}

/* A store call found the store damaged (KV_ECORRUPT): the mark makes the
 * next start rebuild it. */
static void mark_damaged(struct kv_app *a, int rc, const char *why)
{
	if (rc != KV_ECORRUPT)
		return;
	if (kv_mark_damaged(a->data_dir, why) != 0)
		log_error("cannot mark the store damaged: the next start may "
			  "not rebuild it");
	else
		log_error("the store is damaged; the next start rebuilds it");
}

/* A failed write left LMDB's environment unusable (kv_needs_reopen()):
 * reopen it at its last good commit, which is where the node's backlog
 * starts. 0, or -1 with @err (fatal). */
static int store_reopen(struct kv_app *a, char *err, size_t errlen)
{
	raft_index before = kv_applied_index(a->kv);
	/* kv_reopen() closes the environment: no copy may still read it. */
	if (a->node != NULL)
		kvdraft_node_snapshot_wait(a->node);
	int rc = kv_reopen(a->kv, err, errlen);
	if (rc != 0) {
		mark_damaged(a, rc, err);
		return -1;
	}
	raft_index applied = kv_applied_index(a->kv);
	if (applied < before)
		return util_fail(err, errlen,
				 "reopening the store after a failed write: "
				 "it lost applied entries");
	log_warn("the store was reopened after a failed write (applied "
		 "index %" PRIu64 ")",
		 applied);
	return 0;
}

static int app_apply(void *ctx, const struct raft_entry *ents, size_t cnt,
		     void *results, char *err, size_t errlen)
{
	struct kv_app *a = ctx;
	struct kv_result *res = results;
	/* LMDB may only grow its map with no read transaction open: when the
	 * map is close to full, a running snapshot copy is waited for, which
	 * stops the loop for the rest of the copy (seconds on a store of
	 * gigabytes: long enough to lose the leadership). So between copies
	 * the map is kept well ahead of the store (kv_reserve_map()), and a
	 * copy's writes fit in it. */
	if (a->node != NULL && kvdraft_node_snapshot_busy(a->node)) {
		size_t bytes = 0;
		for (size_t i = 0; i < cnt; i++)
			bytes += ents[i].len;
		struct kv_stats st = {0};
		if (kv_stats(a->kv, &st) != 0 ||
		    st.used_bytes + 4 * (uint64_t)bytes + (64u << 20) >
			st.map_bytes) {
			double w0 = clock_now_seconds();
			a->snapshot_waits++;
			kvdraft_node_snapshot_wait(a->node);
			log_warn(
			    "applying waited %.3f s for a snapshot copy to "
			    "end: the store's map (%" PRIu64 " bytes, %" PRIu64
			    " used) could not grow "
			    "beside it",
			    clock_now_seconds() - w0, st.map_bytes,
			    st.used_bytes);
		}
	} else if (kv_reserve_map(a->kv, err, errlen) != 0) {
		/* Not fatal: kv_apply() grows a full map itself. */
		log_warn("keeping the store's map ahead: %s", err);
		err[0] = '\0';
	}
	double t0 = clock_now_seconds();
	int rc = kv_apply(a->kv, ents, cnt, res, err, errlen);
	kvdraft_histogram_observe(&a->metrics.store_commit_seconds,
				  clock_now_seconds() - t0);
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s", kv_strerror(rc));
		if (!kv_retryable(rc)) {
			mark_damaged(a, rc, err);
			return -1;
		}
		if (kv_needs_reopen(a->kv)) {
			char rerr[256] = "";
			if (store_reopen(a, rerr, sizeof(rerr)) != 0) {
				snprintf(err, errlen, "%s", rerr);
				return -1;
			}
		}
		return KVDRAFT_ERETRY;
	}
	for (size_t i = 0; i < cnt; i++)
		if (res[i].status == KV_BAD_COMMAND)
			log_warn("entry %" PRIu64 " is not a valid command "
				 "(%s); skipped",
				 res[i].entry_index,
				 kv_strerror(res[i].cmd_error));
	/* Grants and revokes reach the leader's lease deadlines. */
	if (a->leases != NULL)
		lease_mgr_applied(a->leases, res, cnt);
	/* Committed: the changes go to the watchers. */
	if (a->hub != NULL)
		watch_hub_applied_soon(a->hub, kv_applied_index(a->kv));
	return 0;
}

static int app_applied(void *ctx, raft_index *index, raft_term *term, char *err,
		       size_t errlen)
{
	struct kv_app *a = ctx;
	if (a->damaged) {
		snprintf(err, errlen, "%s", a->damaged_why);
		return 1;
	}
	*index = kv_applied_index(a->kv);
	*term = kv_applied_term(a->kv);
	return 0;
}

/* Renames DATA_DIR/kv to DATA_DIR/kv.damaged-<unix time>[-k] (kept for
 * inspection, never deleted) and syncs the data dir; the new name goes
 * into @aside. */
static int move_store_aside(const char *dir, char *aside, size_t cap, char *err,
			    size_t errlen)
{
	char from[KV_APP_PATH_MAX];
	snprintf(from, sizeof(from), "%s/kv", dir);
	long long t = (long long)time(NULL);
	for (int k = 0; k < 100; k++) {
		if (k == 0)
			snprintf(aside, cap, "%s/kv.damaged-%lld", dir, t);
		else
			snprintf(aside, cap, "%s/kv.damaged-%lld-%d", dir, t,
				 k);
		struct stat st;
		if (lstat(aside, &st) == 0)
			continue;
		if (rename(from, aside) != 0)
			return util_fail(err, errlen,
					 "cannot move the damaged store %s "
					 "aside: %s",
					 from, strerror(errno));
		if (durable_sync_dir(dir) != 0)
			return util_fail(err, errlen, "cannot sync %s: %s", dir,
					 strerror(errno));
		return 0;
	}
	return util_fail(err, errlen, "cannot find a name to move %s aside",
			 from);
}

/* The store is damaged or behind the log: it is moved aside and an empty
 * one takes its place, which the node fills from a snapshot and the WAL. */
static int app_reset(void *ctx, char *err, size_t errlen)
{
	struct kv_app *a = ctx;
	char aside[KV_APP_PATH_MAX], kerr[512] = "";
	if (a->kv != NULL) {
		kv_close(a->kv);
		a->kv = NULL;
	}
	if (move_store_aside(a->data_dir, aside, sizeof(aside), err, errlen) !=
	    0)
		return -1;
	log_warn("the damaged store was moved aside to %s", aside);
	a->damaged = false;
	struct kv_options ko;
	store_options(a->cfg, &ko);
	if (kv_open(a->data_dir, &ko, &a->kv, kerr, sizeof(kerr)) != 0)
		return util_fail(err, errlen,
				 "cannot open a new store in %s: %s",
				 a->data_dir, kerr);
	return 0;
}

/* The snapshot replaces the store atomically (kv_restore() renames a copy
 * into place: a crash leaves the old store or the new one). */
static int app_snapshot_restore(void *ctx, int fd, raft_index index,
				raft_term term, char *err, size_t errlen)
{
	struct kv_app *a = ctx;
	char tmp[KV_APP_PATH_MAX], kerr[512] = "";
	if (a->kv != NULL) {
		if (kv_sync(a->kv, kerr, sizeof(kerr)) != 0)
			return util_fail(err, errlen,
					 "syncing the store first: %s", kerr);
		kv_close(a->kv);
		a->kv = NULL;
	}
	snprintf(tmp, sizeof(tmp), "%s/kv.install.tmp", a->data_dir);
	if (kv_copy_fd_to_file(fd, tmp, err, errlen) != 0)
		return -1;
	if (kv_restore(a->data_dir, tmp, kerr, sizeof(kerr)) != 0) {
		unlink(tmp);
		return util_fail(err, errlen, "%s", kerr);
	}
	struct kv_options ko;
	store_options(a->cfg, &ko);
	if (kv_open(a->data_dir, &ko, &a->kv, kerr, sizeof(kerr)) != 0)
		return util_fail(err, errlen, "opening it: %s", kerr);
	if (kv_applied_index(a->kv) != index || kv_applied_term(a->kv) != term)
		return util_fail(err, errlen,
				 "the store does not hold the snapshot's "
				 "index");
	/* The installed store's history serves the watchers on, or ends
	 * those it has no longer. */
	if (a->hub != NULL)
		watch_hub_reset(a->hub, index);
	return 0;
}

static int app_sync(void *ctx, char *err, size_t errlen)
{
	struct kv_app *a = ctx;
	return a->kv == NULL || kv_sync(a->kv, err, errlen) == 0 ? 0 : -1;
}

void kv_app_callbacks(struct kv_app *a, struct kvdraft_app *app)
{
	kvdraft_app_init(app);
	app->ctx = a;
	app->apply = app_apply;
	app->result_size = sizeof(struct kv_result);
	app->applied = app_applied;
	app->reset = app_reset;
	app->snapshot_write = kv_snapshot_write_fd;
	app->snapshot_restore = app_snapshot_restore;
	app->snapshot_check = kv_snapshot_check_fd;
	app->sync = app_sync;
	/* The command's own header carries the proposal's identity. */
	app->identity_offset = KV_CMD_IDENTITY_OFFSET;
	app->flags = KVDRAFT_APP_SNAPSHOT_CONCURRENT;
}

static struct kv_app *app_of(struct kvdraft_node *n)
{
	return kvdraft_node_app_ctx(n);
}

struct kv *kv_app_store(struct kvdraft_node *n)
{
	return app_of(n)->kv;
}

uint64_t kvd_snapshot_waits(struct kvdraft_node *n)
{
	return app_of(n)->snapshot_waits;
}

const struct config *kvd_config(struct kvdraft_node *n)
{
	return app_of(n)->cfg;
}

struct watch_hub *kvd_watch_hub(struct kvdraft_node *n)
{
	return app_of(n)->hub;
}

struct lease_mgr *kvd_leases(struct kvdraft_node *n)
{
	return app_of(n)->leases;
}

bool kvd_member_removed(struct kvdraft_node *n)
{
	struct raft_status st;
	kvdraft_node_status(n, &st);
	return st.removed;
}

struct event_base *kvd_base(struct kvdraft_node *n)
{
	return app_of(n)->base;
}

struct member_pool *kvd_member_pool(struct kvdraft_node *n)
{
	return app_of(n)->member_pool;
}

struct listener *kvd_client_listener(struct kvdraft_node *n)
{
	return app_of(n)->client_listener;
}

struct metrics *kvd_metrics(struct kvdraft_node *n)
{
	return &app_of(n)->metrics;
}

const char *kvd_strerror(int err)
{
	if (err == KVD_ESTALE_SEQ)
		return "a newer X-Kv-Seq of this client was already applied";
	return kvdraft_strerror(err);
}

const char *kvd_leader_client_url(struct kvdraft_node *n)
{
	struct raft_status st;
	kvdraft_node_status(n, &st);
	return kvdraft_node_app_url(n, st.leader);
}

json_t *kvd_members_json(struct kvdraft_node *n)
{
	struct kvdraft_member ms[RAFT_MAX_MEMBERS];
	size_t cnt = kvdraft_node_members(n, ms, RAFT_MAX_MEMBERS);
	json_t *arr = json_array();
	for (size_t i = 0; i < cnt && i < RAFT_MAX_MEMBERS; i++)
		json_array_append_new(
		    arr, json_pack("{s:I, s:s, s:s, s:b}", "id",
				   (json_int_t)ms[i].id, "peer_url",
				   ms[i].peer_url, "client_url", ms[i].app_url,
				   "voter", ms[i].voter));
	return arr;
}

bool kvd_is_voter(struct kvdraft_node *n, raft_id id)
{
	struct kvdraft_member ms[RAFT_MAX_MEMBERS];
	size_t cnt = kvdraft_node_members(n, ms, RAFT_MAX_MEMBERS);
	for (size_t i = 0; i < cnt && i < RAFT_MAX_MEMBERS; i++)
		if (ms[i].id == id)
			return ms[i].voter;
	return false;
}
