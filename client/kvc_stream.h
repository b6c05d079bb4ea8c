/* kvc_stream.h - libkvc's reader of one streamed HTTP/1.1 answer (internal,
 * not installed): its head, then its body (chunked, sized, or up to the
 * close) cut into lines, from bytes fed in pieces of any size. Pure: no IO,
 * no clock; the watch (kvc_watch.c) feeds it what the socket gives.
 *
 * Use:
 *     kvc_stream_init(&s, max_line);
 *     for each piece read:  kvc_stream_feed(&s, buf, n);
 *     at the end of input: kvc_stream_eof(&s);
 *     then, until it says KVC_STREAM_MORE:
 *         step = kvc_stream_next(&s, &line, &len);
 *     kvc_stream_free(&s);
 */
#ifndef KVC_KVC_STREAM_H_
#define KVC_KVC_STREAM_H_

#include "kvc_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What kvc_stream_next() found (negative values are KVC_E* codes). */
enum kvc_stream_step {
	KVC_STREAM_MORE = 0, /* needs more bytes, or kvc_stream_eof() */
	KVC_STREAM_HEAD = 1, /* the head is read: status and headers set */
	KVC_STREAM_LINE = 2, /* one body line, without its '\n' */
	KVC_STREAM_END = 3,  /* the body ended; *line: what followed its
				last '\n' (len 0 when it ended with one) */
	KVC_STREAM_CUT = 4   /* the input ended before the body did */
};

/* Bounds of what the head may hold; beyond them the answer is KVC_EPROTO. */
#define KVC_STREAM_MAX_HEAD	 (64u * 1024)
#define KVC_STREAM_MAX_CHUNK_EXT 1024 /* one chunk-size line */

struct kvc_stream {
	/* The head, valid once kvc_stream_next() said KVC_STREAM_HEAD. */
	int status;	/* 200..599 */
	bool has_index; /* X-Kv-Index was present (and a number) */
	uint64_t index; /* its value, at most INT64_MAX */
	bool ndjson;	/* Content-Type: application/x-ndjson */
	/* Private. */
	int state;
	int err; /* the sticky error, once one happened */
	bool eof;
	bool chunked;
	bool sized;
	uint64_t left;	   /* bytes left in this chunk, or in a sized body */
	size_t head_bytes; /* of the head (or the trailers) so far */
	size_t max_line;
	char *in; /* raw input: in[in_off..in_len) not parsed yet */
	size_t in_off, in_len, in_cap;
	char *body; /* decoded body: body[b_off..b_len) not handed out */
	size_t b_off, b_len, b_cap;
	size_t scanned; /* bytes after b_off known to hold no '\n' */
};

/* Starts reading an answer whose body lines are at most @max_line bytes
 * (a longer one is KVC_ETOO_LARGE). Allocates nothing yet. */
KVC_INTERNAL void kvc_stream_init(struct kvc_stream *s, size_t max_line);

/* Releases what @s holds; @s may be initialized again. */
KVC_INTERNAL void kvc_stream_free(struct kvc_stream *s);

/* Appends @len bytes of input (copied). 0 or KVC_ENOMEM. */
KVC_INTERNAL int kvc_stream_feed(struct kvc_stream *s, const void *buf,
				 size_t len);

/* Says the input ended (the peer closed). A body without a length then
 * ends; any other unfinished answer is cut. */
KVC_INTERNAL void kvc_stream_eof(struct kvc_stream *s);

/* Steps the reader: a kvc_stream_step, or KVC_EPROTO (malformed head or
 * framing, a head or a chunk-size line above its bound), KVC_ETOO_LARGE (a
 * body line above max_line), KVC_ENOMEM. Errors are sticky. *@line and *@len
 * are set on KVC_STREAM_LINE and KVC_STREAM_END; the bytes belong to @s and
 * stay valid until the next call on @s. After KVC_STREAM_END or KVC_STREAM_CUT,
 * every call says the same again (END with an empty rest). */
KVC_INTERNAL int kvc_stream_next(struct kvc_stream *s, const char **line,
				 size_t *len);

#endif /* KVC_KVC_STREAM_H_ */
