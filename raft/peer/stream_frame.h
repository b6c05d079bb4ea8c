/* stream_frame.h - the frames of a peer stream (POST /raft/stream): a
 * fixed header of a type byte and a 32-bit big-endian payload length, then
 * the payload. Pure: bytes in, a verdict out; no IO, no allocation.
 *
 * Sender to receiver: STREAM_FRAME_MESSAGES (the payload is a
 * /raft/messages body, msg_codec.h) and STREAM_FRAME_PING (8 opaque
 * bytes). Receiver to sender: STREAM_FRAME_PONG only, echoing a ping's 8
 * bytes. docs/FORMAT.md ("Peer streams") has the details. */
#ifndef RAFT_PEER_STREAM_FRAME_H_
#define RAFT_PEER_STREAM_FRAME_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_PATH	    "/raft/stream"
#define STREAM_CONTENT_TYPE "application/x-kvd-raft-stream"
#define STREAM_FRAME_HEAD   5 /* type byte + 32-bit length */
#define STREAM_PING_BYTES   8 /* payload of a ping and of its pong */

enum stream_frame_type {
	STREAM_FRAME_MESSAGES = 1,
	STREAM_FRAME_PING = 2,
	STREAM_FRAME_PONG = 3
};

enum stream_frame_error {
	STREAM_FRAME_MORE = 0,	     /* no whole header yet: read on */
	STREAM_FRAME_ETYPE = -1,     /* a type this direction never carries */
	STREAM_FRAME_ELENGTH = -2,   /* ping/pong not 8 bytes, empty batch */
	STREAM_FRAME_ETOO_LARGE = -3 /* payload above the limit */
};

/* Which way the frames travel: what the reader accepts. */
enum stream_frame_dir {
	STREAM_TO_RECEIVER = 0, /* messages and pings */
	STREAM_TO_SENDER = 1	/* pongs */
};

struct stream_frame_hdr {
	uint8_t type; /* enum stream_frame_type */
	uint32_t len; /* payload bytes */
};

/* Writes the header of a frame of @type with @len payload bytes. */
void stream_frame_head(uint8_t out[STREAM_FRAME_HEAD], uint8_t type,
		       uint32_t len);

/* Reads the frame header at the start of @p (@avail bytes, which may go
 * on with the payload and further frames). Returns 1 with *@out filled
 * when the header is whole and acceptable for @dir (its payload may not be
 * all in yet: the caller waits for STREAM_FRAME_HEAD + out->len bytes),
 * STREAM_FRAME_MORE when fewer than STREAM_FRAME_HEAD bytes are there, or
 * a negative stream_frame_error (the stream is unusable). A messages
 * frame's payload is 1 .. @max_len bytes. */
int stream_frame_parse(const uint8_t *p, size_t avail,
		       enum stream_frame_dir dir, size_t max_len,
		       struct stream_frame_hdr *out);

/* A static string naming a negative stream_frame_error. */
const char *stream_frame_strerror(int err);

#endif /* RAFT_PEER_STREAM_FRAME_H_ */
