/* snapshotter.c - snapshots in the background, their transfer and metrics
 * (see snapshotter.h).
 *
 * The copy is the application's snapshot_write(). With
 * KVDRAFT_APP_SNAPSHOT_CONCURRENT it runs on a thread of its own while
 * the loop keeps applying: the application promises a consistent state
 * of one applied index and says which (kvd's: mdb_env_copyfd2() through
 * one LMDB read transaction beside the loop's writes, as LMDB's MVCC
 * design intends; the index and term read back from the copy; kv_app.c
 * waits for the copy before LMDB would grow its map, the one call that
 * must not overlap a reader). Without the flag it runs on the loop
 * thread, so the state cannot move under it.
 */
#include "snapshotter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node_config.h"
#include "node_log.h"
#include "members_file.h"
#include "clock.h"
#include "durable.h"
#include "loop_wakeup.h"
#include "util.h"

/* Snapshots kept on disk when snapshotter_options.keep is 0. One is enough:
 * the log is compacted up to (newest - margin), so a member sent an older
 * one could not catch up from the log, and a restart starts from the store,
 * not from a snapshot file. */
#define KEEP_SNAPSHOTS_DEFAULT 1
/* Periodic snapshots take at most 1 / (1 + SNAPSHOT_REST_FACTOR) of the
 * time: after a copy that took T seconds, the next periodic one waits at
 * least SNAPSHOT_REST_FACTOR * T seconds, whatever the entry count says.
 * A copy costs the whole store (a read of every page, a write and a sync
 * of the file, a checksum), and the store grows while --snapshot-entries
 * stays put: on a large store under a heavy write load, copies would
 * otherwise follow each other back to back, taking a CPU and the disk
 * from the writes they are meant not to stall. The log then holds a few
 * more entries between snapshots; it stays bounded. */
#define SNAPSHOT_REST_FACTOR 9.0
/* Largest members.json embedded in a snapshot's record. */
#define MEMBERS_JSON_MAX (256 * 1024)

/* InstallSnapshot carries the configuration at the snapshot's index,
 * encoded and in hex (snapshot_transfer.c); one above SNAP_XFER_CONFIG_MAX
 * would not be sent, so the largest must fit. */
_Static_assert(RAFT_MEMBERSHIP_MAX_BYTES <= SNAP_XFER_CONFIG_MAX,
	       "the largest encoded configuration goes with InstallSnapshot");
/* The transfer takes the paths of snapshot files, and names the received
 * ones, in buffers of its own size. */
_Static_assert(SNAPSHOT_PATH_MAX == SNAP_XFER_PATH_MAX,
	       "snapshot paths fit the transfer's buffers");

struct pending_send {
	raft_id peer;
	raft_index index;
	raft_term msg_term;
	raft_index commit;
	char url[NODE_URL_MAX];
};

/* A caller of snapshotter_file_at() waiting for a snapshot. */
struct file_wait {
	raft_index index;
	snapshotter_file_fn fn;
	void *arg;
};

/* A send outcome waiting to be reported from its own loop callback. */
struct report {
	struct report *next;
	raft_id peer;
	bool ok;
};

struct snapshotter {
	struct event_base *base;
	struct snapshotter_options o;
	char *data_dir;
	size_t keep; /* snapshots kept by snapshot_prune() */
	struct snap_xfer *xfer;
	struct loop_wakeup *done_wake;
	/* Outcomes are reported to the node from report_cb, never from
	 * inside a call the node made: it may be between raft_ready() and
	 * raft_advance(), when the core takes no other call. */
	struct event *report_ev;
	struct report *reports, *reports_tail;
	bool taken_unreported; /* joined, the node not told yet */
	bool stopped;
	/* The background copy. The thread writes the result fields, then
	 * fires done_wake; the loop joins it before reading them. */
	bool busy;
	int thread_done; /* set (atomically) by the thread as it ends */
	pthread_t thread;
	int rc;
	char err[512];
	struct snapshot_info result;
	double started, took;
	/* The newest snapshot on disk. */
	bool has_newest;
	struct snapshot_info newest;
	raft_index last_attempt; /* applied index at the last start */
	double rest_until;	 /* no periodic snapshot before (monotonic s) */
	/* A periodic snapshot came due while resting: taken when the rest
	 * ends, even if no entry is applied after (rest_cb). */
	struct event *rest_ev;
	struct pending_send pending[NODE_MEMBERS_MAX];
	size_t n_pending;
	/* Snapshots sent or being sent, one per member, until the node
	 * releases them (snap_protect.h). */
	struct snap_protect sent[NODE_MEMBERS_MAX];
	size_t n_sent;
	struct file_wait waits[SNAPSHOTTER_FILE_WAITS_MAX];
	size_t n_waits;
	bool failed_unreported; /* the last copy failed; waits not told */
	/* Metrics. */
	uint64_t taken_total, failed_total, installs_total;
	double last_seconds, last_install_seconds;
};

/* members.json as text (NULL when absent or unreadable): the membership
 * the snapshot goes with. */
static char *read_members(const char *dir)
{
	char p[SNAPSHOT_PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, MEMBERS_FILE);
	FILE *f = fopen(p, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(MEMBERS_JSON_MAX + 1);
	size_t n = buf != NULL ? fread(buf, 1, MEMBERS_JSON_MAX, f) : 0;
	fclose(f);
	if (buf == NULL || n == 0 || n == MEMBERS_JSON_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void *copy_main(void *arg)
{
	struct snapshotter *sn = arg;
	char *members = read_members(sn->data_dir);
	sn->rc = snapshot_create(sn->o.app, sn->data_dir, members, &sn->result,
				 sn->err, sizeof(sn->err));
	free(members);
	/* The WAL below the snapshot is deleted next: the state machine
	 * must hold everything the snapshot says it does, on disk. */
	if (sn->rc == 0 && sn->o.app->sync != NULL &&
	    sn->o.app->sync(sn->o.app->ctx, sn->err, sizeof(sn->err)) != 0)
		sn->rc = -1;
	if (sn->rc == 0 && snapshot_prune(sn->data_dir, sn->keep, sn->err,
					  sizeof(sn->err)) < 0) {
		log_warn("pruning old snapshots: %s", sn->err);
		sn->err[0] = '\0';
	}
	sn->took = clock_now_seconds() - sn->started;
	__atomic_store_n(&sn->thread_done, 1, __ATOMIC_RELEASE);
	loop_wakeup_fire(sn->done_wake);
	return NULL;
}

/* Whether the copy runs on a thread of its own beside the loop's applies
 * (else on the loop thread, before the next apply). */
static bool copy_threaded(const struct snapshotter *sn)
{
	return (sn->o.app->flags & KVDRAFT_APP_SNAPSHOT_CONCURRENT) != 0;
}

static void start_pending(struct snapshotter *sn);

static void join_copy(struct snapshotter *sn)
{
	if (!sn->busy)
		return;
	if (copy_threaded(sn))
		pthread_join(sn->thread, NULL);
	sn->busy = false;
	sn->last_seconds = sn->took;
	sn->rest_until = clock_now_seconds() + SNAPSHOT_REST_FACTOR * sn->took;
	if (sn->rc != 0) {
		sn->failed_total++;
		sn->failed_unreported = true;
		log_error("snapshot failed: %s", sn->err);
		return;
	}
	sn->taken_total++;
	sn->taken_unreported = true;
	sn->has_newest = true;
	sn->newest = sn->result;
	log_info("snapshot at index %" PRIu64 " term %" PRIu64 ": %" PRIu64
		 " bytes, crc32c %08x, %.3f s",
		 sn->result.index, sn->result.term, sn->result.size,
		 sn->result.crc, sn->took);
}

/* Hands the newest file to the waits it satisfies, in their order; the
 * others wait on (@err NULL) or are told @err. */
static void serve_waits(struct snapshotter *sn, const char *err)
{
	char path[SNAPSHOT_PATH_MAX];
	size_t kept = 0;
	for (size_t i = 0; i < sn->n_waits; i++) {
		struct file_wait w = sn->waits[i];
		if (sn->has_newest && sn->newest.index >= w.index) {
			snapshot_data_path(sn->data_dir, sn->newest.index,
					   path);
			w.fn(w.arg, path, &sn->newest, NULL);
		} else if (err != NULL) {
			w.fn(w.arg, NULL, NULL, err);
		} else {
			sn->waits[kept++] = w;
		}
	}
	sn->n_waits = kept;
}

static void done_cb(void *arg)
{
	struct snapshotter *sn = arg;
	/* The copy may have been joined by snapshotter_wait() already, and
	 * another one started since. */
	if (sn->busy && __atomic_load_n(&sn->thread_done, __ATOMIC_ACQUIRE))
		join_copy(sn);
	if (sn->taken_unreported && !sn->stopped) {
		sn->taken_unreported = false;
		sn->o.taken(sn->o.ctx, &sn->newest);
	}
	if (sn->n_waits > 0 && !sn->busy) {
		bool failed = sn->failed_unreported;
		sn->failed_unreported = false;
		serve_waits(sn, failed ? sn->err : NULL);
		/* Those that arrived during the copy want a newer one. */
		if (sn->n_waits > 0 && snapshotter_take(sn) != 0)
			serve_waits(sn, "cannot start a snapshot");
	}
	sn->failed_unreported = false;
	start_pending(sn);
}

int snapshotter_take(struct snapshotter *sn)
{
	raft_index applied;
	if (sn->busy || sn->stopped || !sn->o.running(sn->o.ctx, &applied))
		return sn->busy ? 0 : -1;
	sn->busy = true;
	sn->thread_done = 0;
	sn->rc = 0;
	sn->err[0] = '\0';
	sn->started = clock_now_seconds();
	sn->last_attempt = applied;
	if (!copy_threaded(sn)) {
		/* On the loop thread, between applies: done_cb reports it. */
		copy_main(sn);
		return 0;
	}
	if (pthread_create(&sn->thread, NULL, copy_main, sn) != 0) {
		sn->busy = false;
		log_error("cannot start the snapshot thread");
		return -1;
	}
	return 0;
}

void snapshotter_applied(struct snapshotter *sn, raft_index applied)
{
	if (sn->o.every_entries == 0 || sn->busy || sn->stopped)
		return;
	raft_index base = sn->has_newest ? sn->newest.index : 0;
	if (sn->last_attempt > base)
		base = sn->last_attempt;
	if (applied < base + sn->o.every_entries)
		return;
	double now = clock_now_seconds();
	if (now >= sn->rest_until) {
		snapshotter_take(sn);
		return;
	}
	/* Due, but resting: taken when the rest ends, whether or not more
	 * entries come by then. */
	if (!evtimer_pending(sn->rest_ev, NULL)) {
		uint64_t ms = (uint64_t)((sn->rest_until - now) * 1e3) + 1;
		struct timeval tv = clock_ms_to_timeval(ms);
		evtimer_add(sn->rest_ev, &tv);
	}
}

static void rest_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct snapshotter *sn = arg;
	raft_index applied;
	if (sn->o.running(sn->o.ctx, &applied))
		snapshotter_applied(sn, applied);
}

bool snapshotter_busy(const struct snapshotter *sn)
{
	return sn->busy;
}

void snapshotter_wait(struct snapshotter *sn)
{
	if (!sn->busy)
		return;
	join_copy(sn);
	/* The node hears of it, and pending sends start, from done_cb. */
	loop_wakeup_fire(sn->done_wake);
}

bool snapshotter_newest(const struct snapshotter *sn, struct snapshot_info *out)
{
	if (sn->has_newest && out != NULL)
		*out = sn->newest;
	return sn->has_newest;
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct snapshotter *sn = arg;
	struct report *r = sn->reports;
	sn->reports = sn->reports_tail = NULL;
	while (r != NULL) {
		struct report *next = r->next;
		if (!sn->stopped)
			sn->o.sent(sn->o.ctx, r->peer, r->ok);
		free(r);
		r = next;
	}
}

/* Queues the outcome of a send for report_cb. */
static void report_sent(struct snapshotter *sn, raft_id peer, bool ok)
{
	struct report *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		/* The core asks again after a heartbeat round. */
		log_error("out of memory reporting a snapshot send");
		return;
	}
	r->peer = peer;
	r->ok = ok;
	if (sn->reports_tail != NULL)
		sn->reports_tail->next = r;
	else
		sn->reports = r;
	sn->reports_tail = r;
	event_active(sn->report_ev, EV_READ, 0);
}

void snapshotter_report_failed(struct snapshotter *sn, raft_id peer)
{
	report_sent(sn, peer, false);
}

static void note_sent(struct snapshotter *sn, raft_id peer, raft_index index);

static void send_now(struct snapshotter *sn, raft_id peer, const char *url,
		     raft_term msg_term, raft_index commit)
{
	char path[SNAPSHOT_PATH_MAX];
	uint8_t cfg[RAFT_MEMBERSHIP_MAX_BYTES];
	size_t cfg_len = 0;
	raft_index cfg_index = 0;
	snapshot_data_path(sn->data_dir, sn->newest.index, path);
	if (sn->o.config_at == NULL ||
	    sn->o.config_at(sn->o.ctx, sn->newest.index, cfg, sizeof(cfg),
			    &cfg_len, &cfg_index) != 0)
		cfg_len = 0;
	if (snap_xfer_send(sn->xfer, peer, url, path, &sn->newest, msg_term,
			   commit, cfg_len > 0 ? cfg : NULL, cfg_len,
			   cfg_index) != 0) {
		report_sent(sn, peer, false);
		return;
	}
	note_sent(sn, peer, sn->newest.index);
}

/* Remembers that @peer is sent the snapshot at @index; a send again (of
 * the same or a newer one) keeps the time of the first. */
static void note_sent(struct snapshotter *sn, raft_id peer, raft_index index)
{
	for (size_t i = 0; i < sn->n_sent; i++) {
		if (sn->sent[i].peer == peer) {
			sn->sent[i].index = index;
			return;
		}
	}
	if (sn->n_sent == NODE_MEMBERS_MAX)
		return;
	sn->sent[sn->n_sent++] = (struct snap_protect){
	    .peer = peer, .index = index, .since = clock_now_seconds()};
}

size_t snapshotter_sent(const struct snapshotter *sn, struct snap_protect *out,
			size_t cap)
{
	size_t n = sn->n_sent < cap ? sn->n_sent : cap;
	memcpy(out, sn->sent, n * sizeof(*out));
	return n;
}

void snapshotter_release(struct snapshotter *sn, raft_id peer)
{
	for (size_t i = 0; i < sn->n_sent; i++) {
		if (sn->sent[i].peer == peer) {
			sn->sent[i] = sn->sent[--sn->n_sent];
			return;
		}
	}
}

static void start_pending(struct snapshotter *sn)
{
	size_t keep = 0;
	for (size_t i = 0; i < sn->n_pending; i++) {
		struct pending_send *p = &sn->pending[i];
		if (sn->has_newest && sn->newest.index >= p->index) {
			send_now(sn, p->peer, p->url, p->msg_term, p->commit);
		} else if (!sn->busy) {
			/* The snapshot could not be taken. */
			report_sent(sn, p->peer, false);
		} else {
			sn->pending[keep++] = *p;
		}
	}
	sn->n_pending = keep;
}

void snapshotter_send(struct snapshotter *sn, const struct raft_msg *m,
		      const char *peer_url)
{
	if (sn->stopped)
		return;
	if (snap_xfer_sending(sn->xfer, m->to))
		return; /* the running send answers this request too */
	if (sn->has_newest && sn->newest.index >= m->index) {
		send_now(sn, m->to, peer_url, m->term, m->commit);
		return;
	}
	/* The core compacted past our newest file (e.g. after a restart):
	 * take a fresh one, then send it. */
	for (size_t i = 0; i < sn->n_pending; i++)
		if (sn->pending[i].peer == m->to)
			return;
	if (sn->n_pending == NODE_MEMBERS_MAX ||
	    strlen(peer_url) >= NODE_URL_MAX) {
		report_sent(sn, m->to, false);
		return;
	}
	struct pending_send *p = &sn->pending[sn->n_pending++];
	p->peer = m->to;
	p->index = m->index;
	p->msg_term = m->term;
	p->commit = m->commit;
	strcpy(p->url, peer_url);
	if (!sn->busy && snapshotter_take(sn) != 0) {
		sn->n_pending--;
		report_sent(sn, m->to, false);
	}
}

void snapshotter_received_path(const struct snapshotter *sn, raft_index index,
			       char *out)
{
	char sdir[SNAPSHOT_PATH_MAX];
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, sn->data_dir);
	snap_xfer_received_path(sdir, index, out);
}

int snapshotter_adopt(struct snapshotter *sn, const struct snapshot_info *info,
		      const char *recv, char *out, char *err, size_t errlen)
{
	char sdir[SNAPSHOT_PATH_MAX];
	snapshot_data_path(sn->data_dir, info->index, out);
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, sn->data_dir);
	if (rename(recv, out) != 0)
		return util_fail(err, errlen, "cannot rename %s: %s", recv,
				 strerror(errno));
	if (durable_sync_dir(sdir) != 0)
		return util_fail(err, errlen, "cannot sync %s: %s", sdir,
				 strerror(errno));
	char *members = read_members(sn->data_dir);
	int rc = snapshot_write_meta(sn->data_dir, info, members, err, errlen);
	free(members);
	if (rc != 0)
		return -1;
	sn->has_newest = true;
	sn->newest = *info;
	char perr[256];
	if (snapshot_prune(sn->data_dir, sn->keep, perr, sizeof(perr)) < 0)
		log_warn("pruning old snapshots: %s", perr);
	return 0;
}

void snapshotter_installed(struct snapshotter *sn, double seconds)
{
	sn->installs_total++;
	sn->last_install_seconds = seconds;
}

static void xfer_sent(void *ctx, raft_id peer, bool ok)
{
	struct snapshotter *sn = ctx;
	report_sent(sn, peer, ok);
}

static int xfer_received(void *ctx, const struct snap_xfer_received *r)
{
	struct snapshotter *sn = ctx;
	return sn->o.received(sn->o.ctx, r);
}

/* A received file is a snapshot when the application says so and that it
 * holds the index and term it was sent as (the transfer compares them). */
static int xfer_verify(void *ctx, const char *path, raft_index *index,
		       raft_term *term, char *err, size_t errlen)
{
	struct snapshotter *sn = ctx;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(errno));
		return -1;
	}
	int rc = sn->o.app->snapshot_check(sn->o.app->ctx, fd, index, term, err,
					   errlen);
	close(fd);
	return rc;
}

static raft_id xfer_leader(void *ctx)
{
	struct snapshotter *sn = ctx;
	return sn->o.leader(sn->o.ctx);
}

static void xfer_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	static const enum log_level map[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
					     LOG_LEVEL_INFO, LOG_LEVEL_DEBUG};
	if (level < 0 || level > 3)
		level = 0;
	log_msg(map[level], "snapshot: %s", line);
}

/* Removes received files that were never installed (a crash between
 * receiving and installing): the leader sends again. */
static void remove_leftovers(const char *dir)
{
	char sdir[SNAPSHOT_PATH_MAX], p[SNAPSHOT_PATH_MAX + 300];
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, dir);
	DIR *d = opendir(sdir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "recv", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", sdir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

int snapshotter_new(struct event_base *base,
		    const struct snapshotter_options *o,
		    struct snapshotter **out, char *err, size_t errlen)
{
	struct snapshotter *sn = calloc(1, sizeof(*sn));
	if (sn == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sn->base = base;
	sn->o = *o;
	sn->data_dir = strdup(o->data_dir);
	sn->keep = o->keep > 0 ? o->keep : KEEP_SNAPSHOTS_DEFAULT;
	sn->done_wake = loop_wakeup_new(base, done_cb, sn);
	sn->report_ev = event_new(base, -1, 0, report_cb, sn);
	sn->rest_ev = evtimer_new(base, rest_cb, sn);
	if (sn->data_dir == NULL || sn->done_wake == NULL ||
	    sn->report_ev == NULL || sn->rest_ev == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (snapshot_make_dir(sn->data_dir, err, errlen) != 0)
		goto fail;
	remove_leftovers(sn->data_dir);
	struct snapshot_info list[SNAPSHOT_LIST_MAX];
	char warn[512], lerr[512];
	int n = snapshot_list(sn->data_dir, list, SNAPSHOT_LIST_MAX, warn,
			      sizeof(warn), lerr, sizeof(lerr));
	if (n < 0) {
		snprintf(err, errlen, "%s", lerr);
		goto fail;
	}
	if (warn[0] != '\0')
		log_warn("ignoring a snapshot record: %s", warn);
	/* The newest snapshot that passes its checksum. A corrupt one is set
	 * aside (kept for inspection), never sent. With none left, a fresh
	 * one is taken at the first apply past --snapshot-entries (for a
	 * store that far along: the first apply after start), or as soon as
	 * a member needs one (snapshotter_send). Nothing else needs the
	 * file: a restart starts from the store. */
	for (int i = 0; i < n; i++) {
		if (snapshot_verify(sn->data_dir, &list[i], lerr,
				    sizeof(lerr)) == 0) {
			sn->has_newest = true;
			sn->newest = list[i];
			break;
		}
		char from[SNAPSHOT_PATH_MAX], to[SNAPSHOT_PATH_MAX + 16];
		log_error("snapshot %" PRIu64 " is corrupt: %s; setting it "
			  "aside",
			  list[i].index, lerr);
		snapshot_data_path(sn->data_dir, list[i].index, from);
		snprintf(to, sizeof(to), "%s.corrupt", from);
		rename(from, to);
		snapshot_meta_path(sn->data_dir, list[i].index, from);
		snprintf(to, sizeof(to), "%s.corrupt", from);
		rename(from, to);
	}
	if (sn->has_newest)
		log_info("newest snapshot: index %" PRIu64 " term %" PRIu64
			 ", %" PRIu64 " bytes",
			 sn->newest.index, sn->newest.term, sn->newest.size);
	else if (n > 0)
		log_warn("no usable snapshot left: a fresh one is taken at the "
			 "next apply past index %" PRIu64
			 " or when a member needs one",
			 o->every_entries);
	char sdir[SNAPSHOT_PATH_MAX];
	snprintf(sdir, sizeof(sdir), "%s/" SNAPSHOT_DIR, sn->data_dir);
	struct snap_xfer_options xo = {
	    .self = o->self,
	    .dir = sdir,
	    .source_host = o->source_host,
	    .token = o->token,
	    .tls_client = o->tls_client,
	    .verify = o->app->snapshot_check != NULL ? xfer_verify : NULL,
	    .on_received = xfer_received,
	    .leader = o->leader != NULL ? xfer_leader : NULL,
	    .on_sent = xfer_sent,
	    .log = xfer_log,
	    .ctx = sn,
	};
	if (snap_xfer_new(base, &xo, &sn->xfer) != 0) {
		snprintf(err, errlen, "cannot start the snapshot transfer");
		goto fail;
	}
	*out = sn;
	return 0;
fail:
	snapshotter_free(sn);
	return -1;
}

int snapshotter_attach(struct snapshotter *sn, struct evhttp *peer_http)
{
	return snap_xfer_attach(sn->xfer, peer_http);
}

int snapshotter_file_at(struct snapshotter *sn, raft_index index,
			snapshotter_file_fn fn, void *arg)
{
	if (sn->stopped || sn->n_waits == SNAPSHOTTER_FILE_WAITS_MAX)
		return -1;
	bool have = sn->has_newest && sn->newest.index >= index;
	/* A copy already running may have begun before @index was
	 * applied: done_cb() takes another for what it does not cover. */
	if (!have && !sn->busy && snapshotter_take(sn) != 0)
		return -1;
	sn->waits[sn->n_waits++] =
	    (struct file_wait){.index = index, .fn = fn, .arg = arg};
	if (have)
		serve_waits(sn, NULL);
	return 0;
}

void snapshotter_stop(struct snapshotter *sn)
{
	serve_waits(sn, "the member is stopping");
	sn->stopped = true;
	if (sn->rest_ev != NULL)
		event_del(sn->rest_ev);
	if (sn->xfer != NULL)
		snap_xfer_stop(sn->xfer);
	sn->n_pending = 0;
}

void snapshotter_free(struct snapshotter *sn)
{
	if (sn == NULL)
		return;
	sn->stopped = true;
	if (sn->busy) {
		pthread_join(sn->thread, NULL);
		sn->busy = false;
	}
	snap_xfer_free(sn->xfer);
	loop_wakeup_free(sn->done_wake);
	if (sn->report_ev != NULL)
		event_free(sn->report_ev);
	if (sn->rest_ev != NULL)
		event_free(sn->rest_ev);
	while (sn->reports != NULL) {
		struct report *r = sn->reports;
		sn->reports = r->next;
		free(r);
	}
	free(sn->data_dir);
	free(sn);
}

void snapshotter_stats(const struct snapshotter *sn,
		       struct kvdraft_node_stats *out)
{
	struct snap_xfer_stats xs = {0};
	if (sn->xfer != NULL)
		snap_xfer_stats(sn->xfer, &xs);
	out->has_snapshot = sn->has_newest;
	out->snapshot_index = sn->has_newest ? sn->newest.index : 0;
	out->snapshot_size = sn->has_newest ? sn->newest.size : 0;
	out->snapshot_last_seconds = sn->last_seconds;
	out->snapshots_taken = sn->taken_total;
	out->snapshots_failed = sn->failed_total;
	out->snapshot_in_progress = sn->busy;
	out->snapshot_sends_ok = xs.sends_ok;
	out->snapshot_sends_failed = xs.sends_failed;
	out->snapshot_bytes_sent = xs.bytes_sent;
	out->snapshots_received = xs.received;
	out->snapshot_bytes_received = xs.bytes_received;
	out->snapshot_bad_chunks = xs.bad_chunks;
	out->snapshot_unauthorized = xs.unauthorized;
	out->snapshot_installs = sn->installs_total;
	out->snapshot_last_install_seconds = sn->last_install_seconds;
}
