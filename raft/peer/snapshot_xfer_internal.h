/* snapshot_xfer_internal.h - what the sending side (snapshot_send.c) and
 * the rest of the transfer (snapshot_transfer.c) share: the wire's header
 * names, the state of a send and of the receiver. Not an API. */
#ifndef RAFT_PEER_SNAPSHOT_XFER_INTERNAL_H_
#define RAFT_PEER_SNAPSHOT_XFER_INTERNAL_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "refused_log.h"
#include "snapshot_transfer.h"

struct evhttp_connection;
struct lane_conn;

#define HDR_FROM	"X-Kvd-From"
#define HDR_TOKEN	"X-Kvd-Token"
#define HDR_SIZE	"X-Kvd-Snapshot-Size"
#define HDR_CRC		"X-Kvd-Snapshot-CRC"
#define HDR_CHUNK_CRC	"X-Kvd-Chunk-CRC"
#define HDR_RAFT_TERM	"X-Kvd-Raft-Term"
#define HDR_RAFT_COMMIT "X-Kvd-Raft-Commit"
#define HDR_OFFSET	"X-Kvd-Snapshot-Offset"
#define HDR_CONFIG	"X-Kvd-Snapshot-Config"
#define HDR_CONFIG_IDX	"X-Kvd-Snapshot-Config-Index"
/* Largest chunk a receiver takes (senders use at most
 * SNAP_XFER_CHUNK_BYTES). */
#define MAX_CHUNK_BYTES (16u << 20)
/* Attempts at one stretch of the file (a damaged chunk, a whole file that
 * failed its check) before the send is reported failed. */
#define CHUNK_ATTEMPTS 3
/* A peer's host name (without IPv6 brackets); with the port, the Host
 * header. */
#define HOST_MAX 256

/* A chunk written and not answered yet. */
struct send_chunk {
	uint64_t off;
	size_t len;
};

struct send {
	struct snap_xfer *x;
	struct send *next;
	raft_id peer;
	char path[SNAP_XFER_PATH_MAX];
	struct snapshot_info info;
	raft_term msg_term;
	raft_index commit;
	uint64_t offset;   /* bytes the receiver said it holds */
	uint64_t high;	   /* the most it ever said: progress resets attempts */
	uint64_t next_off; /* where the next chunk to write starts */
	bool last_out;	   /* the chunk ending at the size is written */
	int attempts;
	int fd;
	char a_host[HOST_MAX]; /* to connect to */
	int a_port;
	char host[HOST_MAX + 8]; /* the Host header */
	char *config_hex;	 /* NULL: none */
	raft_index config_index;
	bool finished;
	/* Pipelined: chunks in flight on one lane_conn, in the order
	 * written (a ring of x->max_inflight). */
	struct lane_conn *lane;
	char *head; /* the headers every chunk's POST carries */
	size_t head_len;
	struct send_chunk *ring;
	size_t ring_first, inflight;
	/* A receiver that does not say its offset in the answer's body (an
	 * older kvd): one chunk at a time over evhttp, which reads the
	 * X-Kvd-Snapshot-Offset header. */
	struct evhttp_connection *conn;
	uint8_t *buf; /* that one chunk */
};

struct recv_state {
	bool active;
	raft_id from;
	struct snapshot_info info;
	uint8_t *config; /* as received with the chunks; NULL: none */
	size_t config_len;
	raft_index config_index;
	uint64_t offset;
	int fd;
	/* The last transfer completed, so that a retried final chunk is
	 * answered "complete" rather than starting over. */
	bool done_valid;
	raft_id done_from;
	struct snapshot_info done_info;
};

struct snap_xfer {
	struct event_base *base;
	struct snap_xfer_options o;
	char *dir, *source_host, *token;
	/* The directory that holds dir: the room for a snapshot is measured
	 * there, so a dir removed underneath is made again, not refused. */
	char *room_dir;
	size_t chunk_bytes;  /* o.chunk_bytes or the default */
	size_t max_inflight; /* o.max_inflight or the default */
	struct send *sends;
	struct recv_state rs;
	struct snap_xfer_stats st;
	bool stopped;
	struct refused_log refused; /* lines about refused chunks */
};

/* Helpers of both sides, here so that neither file calls the other for
 * them (snapshot_transfer.c calls down into snapshot_send.c only). */

static inline void snap_xfer_log(struct snap_xfer *x, int level,
				 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void snap_xfer_log(struct snap_xfer *x, int level,
				 const char *fmt, ...)
{
	if (x->o.log == NULL)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	x->o.log(x->o.ctx, level, line);
}

/* A decimal number of 20 digits at most, without sign or spaces. */
static inline bool snap_xfer_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || *s == '\0')
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Frees a send (its connection, file, buffers); not linked any more. */
void snap_xfer_send_free(struct send *s);

#endif /* RAFT_PEER_SNAPSHOT_XFER_INTERNAL_H_ */
