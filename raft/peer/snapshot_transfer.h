/* snapshot_transfer.h - InstallSnapshot over HTTP: a leader streams its
 * snapshot file to a lagging member in checksummed chunks; the member
 * writes them to a temporary file, verifies the whole file and hands it to
 * the driver (docs/FORMAT.md, "Snapshot transfer").
 *
 *   POST /raft/snapshot?index=I&term=T&offset=O   (on --listen-peer)
 *   X-Kvd-From, X-Kvd-Token: as for /raft/messages
 *   X-Kvd-Snapshot-Size: total bytes   X-Kvd-Snapshot-CRC: whole file
 *   X-Kvd-Chunk-CRC: CRC-32C of this body
 *   X-Kvd-Raft-Term, X-Kvd-Raft-Commit: of the leader's SNAPSHOT message
 *   X-Kvd-Snapshot-Config, -Config-Index: the membership at the snapshot
 *   (hex of an encoded raft_membership) and its entry's index (optional)
 *   answer 200, X-Kvd-Snapshot-Offset: bytes the receiver holds; 401
 *   without the token; 409 when the sender is not this member's leader;
 *   507 when the declared size does not fit the file system
 *
 *   answer 200 also carries the offset as its body ("<decimal>\n"): a
 *   sender reads it there, an older sender in the header
 *
 * A sender keeps up to max_inflight chunks in flight on one pipelining
 * connection (snapshot_send.c); the receiver takes them in order, one at a
 * time. Memory is bounded on both sides: max_inflight chunks per send
 * (the receiver's connection buffers at most what the sender has in
 * flight). Offsets make a transfer resumable: a sender always learns where
 * the receiver stands and continues from there, also after a failed
 * attempt.
 *
 * The files are opaque here: the caller says where they go
 * (snap_xfer_options.dir) and what a whole one must be (.verify).
 *
 * Loop thread only; blocking file IO is limited to one chunk per request
 * (and one read-back of the finished file to verify it).
 */
#ifndef RAFT_PEER_SNAPSHOT_TRANSFER_H_
#define RAFT_PEER_SNAPSHOT_TRANSFER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "snapshot_info.h"

struct event_base;
struct evhttp;
struct tls_client;

#define SNAP_XFER_PATH "/raft/snapshot"
/* A chunk's size (at most; the last may be shorter), and how many chunks
 * a send keeps in flight by default and at most (memory: their product,
 * per send). Receivers since the first version take chunks of up to
 * 16 MiB. */
#define SNAP_XFER_CHUNK_BYTES  (4u << 20)
#define SNAP_XFER_INFLIGHT     4
#define SNAP_XFER_MAX_INFLIGHT 16
/* Path buffers: the directory (at most SNAP_XFER_PATH_MAX - 64 bytes,
 * else snap_xfer_new() fails) plus a file name. */
#define SNAP_XFER_PATH_MAX 4200
/* Largest configuration sent with a snapshot (bytes, before hex). */
#define SNAP_XFER_CONFIG_MAX (64 * 1024)

/* A received and verified snapshot, handed to the driver. */
struct snap_xfer_received {
	raft_id from;
	raft_term msg_term; /* the leader's term */
	raft_index commit;  /* the leader's commit index */
	struct snapshot_info info;
	const char *path;      /* the verified file (the driver may move it) */
	const uint8_t *config; /* the membership stored with it, or NULL */
	size_t config_len;
	raft_index config_index;
};

struct snap_xfer_options {
	raft_id self;
	/* Where the partial file (recv.part) and the received ones
	 * (recv-<016x index>.snap) go; made (0700) when missing. Copied. */
	const char *dir;
	const char *source_host; /* outgoing connections; NULL: any. Copied */
	const char *token;	 /* peer token; NULL: none. Copied */
	/* Peer TLS: sends connect to https:// peer URLs with it (a new SSL
	 * per send), and only there; not owned, outlives the transfer.
	 * NULL: http:// peer URLs only. */
	struct tls_client *tls_client;
	/* Per 1 MiB chunk (default 10000): a chunk in flight must be
	 * answered within this per MiB in flight when it was queued (16 x
	 * with the defaults), so a send survives the same slow links as one
	 * 1 MiB chunk per request did. */
	unsigned request_timeout_ms;
	/* Sending: a chunk's bytes (0: SNAP_XFER_CHUNK_BYTES, also the
	 * most) and chunks in flight (0: SNAP_XFER_INFLIGHT; at most
	 * SNAP_XFER_MAX_INFLIGHT). */
	size_t chunk_bytes;
	size_t max_inflight;
	/* Whether the whole file at @path, its size and CRC checked, is a
	 * snapshot: 0 with the last entry it covers in *@index and *@term,
	 * or -1 with one line in @err. NULL: the size and CRC suffice. */
	int (*verify)(void *ctx, const char *path, raft_index *index,
		      raft_term *term, char *err, size_t errlen);
	/* The whole file arrived and verified: step it into the core.
	 * Returns 0 when taken (the file is kept for the install), 1 when
	 * the core has no use for it (the file is deleted; the sender is
	 * told it arrived), -1 to refuse (the receiver then answers 503 and
	 * the leader tries again later). */
	int (*on_received)(void *ctx, const struct snap_xfer_received *r);
	/* The leader as this member knows it (0: none). Chunks from any
	 * other member are refused (409). NULL: not checked. */
	raft_id (*leader)(void *ctx);
	/* A send finished: @ok when the receiver holds the whole file. */
	void (*on_sent)(void *ctx, raft_id peer, bool ok);
	void (*log)(void *ctx, int level, const char *line); /* 0 err..3 */
	void *ctx;
};

struct snap_xfer_stats {
	uint64_t sends_started, sends_ok, sends_failed;
	uint64_t bytes_sent;
	uint64_t received; /* whole snapshots received and verified */
	uint64_t bytes_received;
	uint64_t bad_chunks;   /* refused chunks (checksum, offset, headers,
				* not from the leader, no room) */
	uint64_t unauthorized; /* 401 answers */
	/* Sending: times a send continued from an offset the receiver named
	 * other than the one it expected (a kept partial file, a damaged
	 * chunk); the most chunks one send had in flight; sends to
	 * receivers that take one chunk at a time (older versions). */
	uint64_t resumes;
	uint64_t inflight_peak;
	uint64_t legacy_sends;
};

struct snap_xfer;

int snap_xfer_new(struct event_base *base, const struct snap_xfer_options *o,
		  struct snap_xfer **out);
void snap_xfer_free(struct snap_xfer *x);

/* The name of the snapshot of @index received into @dir, into @out
 * (SNAP_XFER_PATH_MAX bytes). */
void snap_xfer_received_path(const char *dir, raft_index index, char *out);

/* Serves POST SNAP_XFER_PATH on @peer_http. Returns 0 or -1. */
int snap_xfer_attach(struct snap_xfer *x, struct evhttp *peer_http);

/* Streams the snapshot @info from @path to @peer at @peer_url, as the
 * answer to a SNAPSHOT message of @msg_term carrying @commit, with the
 * membership @config (copied; may be NULL) of entry @config_index. A send
 * already running to @peer is cancelled (on_sent not called for it).
 * on_sent() follows exactly once unless cancelled. Returns 0 or -1. */
int snap_xfer_send(struct snap_xfer *x, raft_id peer, const char *peer_url,
		   const char *path, const struct snapshot_info *info,
		   raft_term msg_term, raft_index commit, const uint8_t *config,
		   size_t config_len, raft_index config_index);

/* Whether a send to @peer is under way. */
bool snap_xfer_sending(const struct snap_xfer *x, raft_id peer);

/* Refuses further chunks (503) and cancels every send. */
void snap_xfer_stop(struct snap_xfer *x);

void snap_xfer_stats(const struct snap_xfer *x, struct snap_xfer_stats *out);

#endif /* RAFT_PEER_SNAPSHOT_TRANSFER_H_ */
