/* msg_codec.h - encodes batches of raft messages to bytes and back (wire).
 *
 * A body is a sequence of messages, all for one peer. Each message is one
 * FRAME_MESSAGE frame (frame.h) whose payload holds the fixed fields, then
 * n_entries entry frames (frame type = entry type, term and index in the
 * frame header, the command as payload). docs/FORMAT.md ("Peer messages")
 * gives the layout byte by byte.
 *
 * Message payload, version 1 (little-endian, MSG_CODEC_PAYLOAD_SIZE bytes):
 *
 *   off size field
 *     0    1 version     MSG_CODEC_VERSION
 *     1    1 type        enum raft_msg_type
 *     2    1 flags       bit 0: reject (HEARTBEAT: no answer wanted);
 *                         other bits zero
 *     3    1 reserved    zero
 *     4    4 n_entries   entry frames following this frame
 *     8    8 from
 *    16    8 to
 *    24    8 term
 *    32    8 index
 *    40    8 log_term
 *    48    8 commit
 *    56    8 hint_index
 *    64    8 hint_term
 *    72    8 context
 *
 * The frame header of a message frame has term = index = 0.
 *
 * Decoding trusts no length or count: every limit in struct
 * msg_codec_limits is checked before memory is allocated or bytes are read,
 * and every failure is a distinct negative code. The encoder checks the same
 * rules (msg_codec_check), so whatever encodes also decodes.
 *
 * Pure code: no IO, no libevent. Not thread-safe per object; the functions
 * themselves keep no state.
 */
#ifndef RAFT_MSG_CODEC_H_
#define RAFT_MSG_CODEC_H_

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "frame.h"
#include "raft.h"

#define MSG_CODEC_VERSION      1
#define MSG_CODEC_PAYLOAD_SIZE 80
#define MSG_CODEC_FLAG_REJECT  0x01

/* Defaults used when a limit is 0. */
#define MSG_CODEC_DEFAULT_MAX_MSGS	  65536
#define MSG_CODEC_DEFAULT_MAX_ENTRIES	  65536
#define MSG_CODEC_DEFAULT_MAX_ENTRY_BYTES (16u << 20)
#define MSG_CODEC_DEFAULT_MAX_BODY_BYTES  ((size_t)64 << 20)

/* The codec's defaults carry whatever the core's defaults let a leader
 * send in one AppendEntries, and any membership entry. */
_Static_assert(MSG_CODEC_DEFAULT_MAX_ENTRIES >= RAFT_DEFAULT_MAX_APPEND_ENTRIES,
	       "an AppendEntries of the core's default size must decode");
_Static_assert(MSG_CODEC_DEFAULT_MAX_ENTRY_BYTES >=
		   RAFT_DEFAULT_MAX_ENTRY_BYTES,
	       "an entry of the core's default largest size must decode");
_Static_assert(MSG_CODEC_DEFAULT_MAX_ENTRY_BYTES >= RAFT_MEMBERSHIP_MAX_BYTES,
	       "a membership entry must decode");

/* Errors. Frame errors (enum frame_error, -1..-99) found while decoding are
 * passed through unchanged; the codec's own codes start at -100, so one int
 * tells both apart and msg_codec_strerror() names either. */
enum msg_codec_error {
	MSG_CODEC_OK = 0,
	MSG_CODEC_ENOMEM = -100,
	MSG_CODEC_EINVAL = -101,      /* bad argument to an encode call */
	MSG_CODEC_EFRAME_TYPE = -102, /* a message frame where an entry was
				       * expected, or the reverse */
	MSG_CODEC_EVERSION = -103,    /* unknown message payload version */
	MSG_CODEC_ELENGTH = -104,     /* payload size wrong for its version */
	MSG_CODEC_EMSG_TYPE = -105,   /* unknown enum raft_msg_type */
	MSG_CODEC_ERESERVED = -106,   /* reserved bits/bytes set, or a
				       * message frame with term/index != 0 */
	MSG_CODEC_EID = -107,	      /* from or to is 0 */
	MSG_CODEC_ETOO_MANY_MSGS = -108,    /* above limits.max_msgs */
	MSG_CODEC_ETOO_MANY_ENTRIES = -109, /* above limits.max_entries */
	MSG_CODEC_ETOO_LARGE = -110,   /* body above limits.max_body_bytes, or
					* an entry above max_entry_bytes
					* (encode side) */
	MSG_CODEC_EENTRIES = -111,     /* entries on a type that has none */
	MSG_CODEC_EENTRY_TYPE = -112,  /* entry frame of a non-entry type */
	MSG_CODEC_EENTRY_INDEX = -113, /* APPEND entries not at prev+1, +2.. */
	MSG_CODEC_EENTRY_TERM = -114,  /* APPEND entry terms decreasing, below
					* log_term or above the message term */
	MSG_CODEC_ERANGE = -115	       /* a term above RAFT_TERM_MAX or an index
					* above RAFT_INDEX_MAX (raft.h), in the
					* message or in one of its entries */
};

/* Limits on one body. A field left 0 takes the MSG_CODEC_DEFAULT_* value. */
struct msg_codec_limits {
	size_t max_msgs;	  /* messages per body */
	size_t max_entries;	  /* entries per message */
	uint32_t max_entry_bytes; /* payload bytes of one entry */
	size_t max_body_bytes;	  /* bytes of one body */
};

/* A decoded body. @msgs[i].entries point into @entries; each entry's data
 * points into the body buffer that was decoded (zero-copy): the buffer must
 * stay alive and unchanged as long as the batch is used, and the data is
 * read-only although the pointer type is not const. */
struct msg_batch {
	struct raft_msg *msgs;
	size_t n_msgs;
	struct raft_entry *entries; /* all messages' entries, in order */
	size_t n_entries;
};

/* Checks that @m can be encoded within @lim (NULL: defaults): a known type,
 * nonzero ids, every term (term, log_term, hint_term, entry terms) at most
 * RAFT_TERM_MAX and every index (index, commit, hint_index, entry indexes)
 * at most RAFT_INDEX_MAX, entries only on APPEND and PROPOSE, APPEND entry
 * indexes
 * consecutive from m->index + 1 with terms in [log_term, term] and never
 * decreasing, entry types 1..3, sizes within limits. Returns MSG_CODEC_OK
 * or the code the decoder would give for the same bytes. */
int msg_codec_check(const struct raft_msg *m,
		    const struct msg_codec_limits *lim);

/* Bytes msg_codec_encode() writes for @m (its frame plus entry frames). */
size_t msg_codec_size(const struct raft_msg *m);

/* Encodes @m (after msg_codec_check) into @out, which holds @cap bytes.
 * Sets *@written (may be NULL) to msg_codec_size(m). Returns MSG_CODEC_OK,
 * a check error, or MSG_CODEC_EINVAL when @cap is too small. Nothing of @m
 * is kept. */
int msg_codec_encode(const struct raft_msg *m,
		     const struct msg_codec_limits *lim, uint8_t *out,
		     size_t cap, size_t *written);

/* Bytes of a message's own frame, before its entry frames. */
#define MSG_CODEC_HEAD_SIZE (FRAME_HEADER_SIZE + MSG_CODEC_PAYLOAD_SIZE)

/* Encodes only the message frame of @m (after msg_codec_check of the whole
 * message, entries included) into @out, which holds @cap >=
 * MSG_CODEC_HEAD_SIZE bytes. Its entry frames are to follow it, each as
 * frame_encode() writes it: msg_codec_encode() is this plus those frames,
 * for senders that place large entry frames themselves (shared between
 * several receivers' bodies, say). Returns as msg_codec_encode(). */
int msg_codec_encode_head(const struct raft_msg *m,
			  const struct msg_codec_limits *lim, uint8_t *out,
			  size_t cap);

/* Encodes @n messages into one newly malloc'd body (*@body, *@len; the
 * caller frees it with free()). Fails with MSG_CODEC_ETOO_MANY_MSGS or
 * MSG_CODEC_ETOO_LARGE when the body would exceed @lim. On error *@body is
 * NULL. */
int msg_codec_encode_batch(const struct raft_msg *msgs, size_t n,
			   const struct msg_codec_limits *lim, uint8_t **body,
			   size_t *len);

/* Decodes the body @body of @len bytes within @lim (NULL: defaults). An
 * empty body is valid and yields no messages. On success fills @out (free
 * it with msg_batch_free(); see struct msg_batch for the zero-copy rule).
 * On error returns a negative code (a frame_error or msg_codec_error),
 * leaves @out empty (nothing to free) and sets *@err_offset (may be NULL)
 * to the body offset of the frame that failed. Never reads outside
 * [body, body + len). */
int msg_codec_decode(const uint8_t *body, size_t len,
		     const struct msg_codec_limits *lim, struct msg_batch *out,
		     size_t *err_offset);

/* Frees the arrays of @b (not the body buffer) and empties it. */
void msg_batch_free(struct msg_batch *b);

/* A static string describing a msg_codec_error or frame_error code. */
const char *msg_codec_strerror(int err);

#endif /* RAFT_MSG_CODEC_H_ */
