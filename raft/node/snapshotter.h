/* snapshotter.h - the driver's snapshot duties: taking snapshots on a
 * background thread every --snapshot-entries applied entries, keeping the
 * newest --snapshot-keep (one by default), streaming the newest to members that
 * need it, receiving one from the leader, and their metrics.
 *
 * The node stays in charge of the raft core, the WAL and the store: the
 * snapshotter reports through callbacks (a snapshot was taken: compact; a
 * send finished: raft_report_snapshot(); a snapshot arrived: step it).
 *
 * Callbacks come from the snapshotter's own loop events, never from
 * inside a snapshotter_* call, so the node may call them between
 * raft_ready() and raft_advance() (raft.h allows no core call there).
 *
 * Threads: every function runs on the loop thread. The copy itself runs on
 * one background thread at a time, reading the store through an LMDB read
 * transaction while the loop keeps applying (see snapshotter.c).
 */
#ifndef RAFT_NODE_SNAPSHOTTER_H_
#define RAFT_NODE_SNAPSHOTTER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvdraft_node.h"
#include "raft.h"
#include "snap_protect.h"
#include "snapshot.h"
#include "snapshot_transfer.h"

struct event_base;
struct evhttp;
struct evbuffer;
struct tls_client;

struct snapshotter_options {
	raft_id self;
	const char *data_dir;	/* copied */
	uint64_t every_entries; /* --snapshot-entries; 0: never on its own */
	/* --snapshot-keep: snapshots kept on disk, older ones deleted after
	 * each new one; 0: one. */
	unsigned keep;
	const char *source_host;       /* copied; NULL: any */
	const char *token;	       /* copied; NULL: none */
	struct tls_client *tls_client; /* peer TLS; NULL: none (not owned) */
	/* A snapshot is durable in DATA_DIR/snap and the store synced. */
	void (*taken)(void *ctx, const struct snapshot_info *info);
	/* The membership in effect at @index, encoded into @buf (@cap
	 * bytes), its entry's index in *@cfg_index. Returns 0, or -1 when
	 * unknown (the snapshot is then sent without one). */
	int (*config_at)(void *ctx, raft_index index, uint8_t *buf, size_t cap,
			 size_t *len, raft_index *cfg_index);
	/* A send to @peer finished. */
	void (*sent)(void *ctx, raft_id peer, bool ok);
	/* Whether the node still runs (snapshots may be taken), and its
	 * applied index. */
	bool (*running)(void *ctx, raft_index *applied);
	/* The state machine: snapshot_write() makes each snapshot, sync()
	 * follows it, snapshot_check() verifies received ones. */
	const struct kvdraft_app *app;
	/* A snapshot arrived whole and verified (snapshot_transfer.h). */
	int (*received)(void *ctx, const struct snap_xfer_received *r);
	/* The leader as this member knows it: snapshots come from it only
	 * (snap_xfer_options.leader). */
	raft_id (*leader)(void *ctx);
	void *ctx;
};

struct snapshotter;

/* Creates the snapshotter: makes DATA_DIR/snap, removes leftovers of
 * interrupted work, and checks the newest snapshot's checksum. A corrupt
 * newest snapshot is set aside (renamed *.corrupt, logged) and the one
 * before it is used, when one is kept (--snapshot-keep above 1); with none
 * left, a fresh one is taken at the next apply or when a member needs one.
 * Returns 0 or -1 with one line in @err. */
int snapshotter_new(struct event_base *base,
		    const struct snapshotter_options *o,
		    struct snapshotter **out, char *err, size_t errlen);

/* Waits for a running copy, cancels sends, frees. NULL is a no-op. */
void snapshotter_free(struct snapshotter *sn);

int snapshotter_attach(struct snapshotter *sn, struct evhttp *peer_http);

/* Called after each apply: starts a snapshot when @applied is
 * --snapshot-entries past the newest one. */
void snapshotter_applied(struct snapshotter *sn, raft_index applied);

/* Starts a snapshot now unless one is running. Returns 0 or -1. */
int snapshotter_take(struct snapshotter *sn);

/* Whether a copy is running; and waiting for it to end (the store must
 * not be closed under it). */
bool snapshotter_busy(const struct snapshotter *sn);
void snapshotter_wait(struct snapshotter *sn);

/* The newest snapshot, false when none. */
bool snapshotter_newest(const struct snapshotter *sn,
			struct snapshot_info *out);

/* Receives the snapshot file a snapshotter_file_at() waited for: @path
 * and @info when it is there (@path is valid only during the call: open
 * the file in it, the next snapshot may prune it), or @path NULL and @err
 * saying why not (a failed copy, or the member stopping). */
typedef void (*snapshotter_file_fn)(void *arg, const char *path,
				    const struct snapshot_info *info,
				    const char *err);

/* Requests waiting in snapshotter_file_at() at most. */
#define SNAPSHOTTER_FILE_WAITS_MAX 16

/* Hands @fn a snapshot file holding at least every entry up to @index:
 * at once when the newest one does, else once a snapshot started now (or
 * the one running, or the next) is taken. The copy runs on the background
 * thread, so the loop keeps serving meanwhile. Returns 0, or -1 when
 * SNAPSHOTTER_FILE_WAITS_MAX calls wait already or the member is
 * stopping (@fn is then not called). Loop thread only. */
int snapshotter_file_at(struct snapshotter *sn, raft_index index,
			snapshotter_file_fn fn, void *arg);

/* A RAFT_MSG_SNAPSHOT for @m->to (at @peer_url) came out of the core: the
 * newest snapshot is streamed to it, after taking one first when the
 * newest is older than @m->index. */
void snapshotter_send(struct snapshotter *sn, const struct raft_msg *m,
		      const char *peer_url);

/* The snapshots sent or being sent to members and not released (one per
 * member, the newest sent to it; since: when the first of them started),
 * at most @cap into @out; their count. Compaction keeps the log after
 * them (node_snapshot.c, snap_protect.h). */
size_t snapshotter_sent(const struct snapshotter *sn, struct snap_protect *out,
			size_t cap);

/* Forgets what was sent to @peer (it caught up, or its protection ran
 * out). */
void snapshotter_release(struct snapshotter *sn, raft_id peer);

/* Reports a send to @peer failed (from a later loop callback). */
void snapshotter_report_failed(struct snapshotter *sn, raft_id peer);

/* The verified received file of the snapshot at @index ("" when none). */
void snapshotter_received_path(const struct snapshotter *sn, raft_index index,
			       char *out);

/* Makes the verified received file @recv of the snapshot @info (its
 * size and CRC as the transfer checked them) this member's newest
 * snapshot: renamed to its data file (its path into @out,
 * SNAPSHOT_PATH_MAX bytes), the .meta written, durably, older ones
 * pruned. Returns 0, or -1 with one line in @err. */
int snapshotter_adopt(struct snapshotter *sn, const struct snapshot_info *info,
		      const char *recv, char *out, char *err, size_t errlen);

/* Counts an installed snapshot and its duration. */
void snapshotter_installed(struct snapshotter *sn, double seconds);

void snapshotter_stop(struct snapshotter *sn);

/* Fills the snapshot fields of @out. */
void snapshotter_stats(const struct snapshotter *sn,
		       struct kvdraft_node_stats *out);

#endif /* RAFT_NODE_SNAPSHOTTER_H_ */
