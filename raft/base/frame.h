/* frame.h - the one CRC-framed record codec, for the WAL and the wire.
 *
 * Layout (little-endian; docs/FORMAT.md is the byte-by-byte reference):
 *
 *   off size field
 *     0    4 header_crc   CRC32C of bytes [4, 32) of the header
 *     4    4 payload_crc  CRC32C of the payload bytes
 *     8    1 version      FRAME_VERSION
 *     9    1 type         enum frame_type
 *    10    2 reserved     zero
 *    12    4 length       payload length in bytes
 *    16    8 term
 *    24    8 index
 *    32  len payload
 */
#ifndef RAFT_FRAME_H_
#define RAFT_FRAME_H_

#include <stddef.h>
#include <stdint.h>

#include "byteorder.h"
#include "entry.h"

#define FRAME_HEADER_SIZE 32
#define FRAME_VERSION	  1

/* Frame types. 1..3 are log entries (enum raft_entry_type); the others are
 * records of the WAL and the peer protocol. */
enum frame_type {
	FRAME_ENTRY_NORMAL = RAFT_ENTRY_NORMAL,
	FRAME_ENTRY_NOOP = RAFT_ENTRY_NOOP,
	FRAME_ENTRY_CONFIG = RAFT_ENTRY_CONFIG,
	FRAME_HARD_STATE = 16,	  /* WAL: term, vote, commit */
	FRAME_SEGMENT = 17,	  /* WAL: segment header */
	FRAME_MESSAGE = 32,	  /* wire: a raft message header */
	FRAME_SNAPSHOT_CHUNK = 33 /* wire: a chunk of a snapshot */
};

/* Decoding errors: negative, distinct, never a crash or an over-read. */
enum frame_error {
	FRAME_OK = 0,
	FRAME_ETRUNCATED = -1,	 /* fewer bytes than the header or length say */
	FRAME_EVERSION = -2,	 /* unknown version byte */
	FRAME_EHEADER_CRC = -3,	 /* header checksum mismatch */
	FRAME_ETOO_LARGE = -4,	 /* length above the caller's limit */
	FRAME_EPAYLOAD_CRC = -5, /* payload checksum mismatch */
	FRAME_ETYPE = -6,	 /* unknown type or nonzero reserved bits */
	FRAME_EZERO = -7	 /* an all-zero header: preallocated space */
};

/* A decoded frame. @payload points into the caller's buffer. */
struct frame {
	uint8_t type;
	raft_term term;
	raft_index index;
	uint32_t len;
	const uint8_t *payload;
};

/* Bytes needed to encode a frame with @len payload bytes. */
static inline size_t frame_size(uint32_t len)
{
	return FRAME_HEADER_SIZE + (size_t)len;
}

/* Encodes one frame into @out, which must hold frame_size(len) bytes, and
 * returns the number of bytes written. @payload may be NULL when len == 0. */
size_t frame_encode(uint8_t *out, uint8_t type, raft_term term,
		    raft_index index, const void *payload, uint32_t len);

/* Encodes only the header for a payload already placed at @out +
 * FRAME_HEADER_SIZE (lets callers build the payload in place). */
void frame_encode_header(uint8_t *out, uint8_t type, raft_term term,
			 raft_index index, uint32_t len);

/* Decodes the frame at the start of @buf (@avail bytes). On success returns
 * FRAME_OK, fills @out (its payload points into @buf) and sets *@consumed to
 * the frame's size. Payloads longer than @max_len give FRAME_ETOO_LARGE
 * before any payload byte is read. On error returns a negative enum
 * frame_error and leaves *@consumed untouched. */
int frame_decode(const uint8_t *buf, size_t avail, uint32_t max_len,
		 struct frame *out, size_t *consumed);

/* Whether @buf (@avail bytes) starts with a whole header whose checksum
 * holds, whatever its version, type or length; then, if @len is not NULL,
 * *@len is its length field. Readers use it to tell a record that was
 * written whole (its header vouches for its length) from a torn one. */
int frame_header_intact(const uint8_t *buf, size_t avail, uint32_t *len);

/* A static string describing a frame_error code. */
const char *frame_strerror(int err);

#endif /* RAFT_FRAME_H_ */
