/* http_answer.h - a strict parser of the head of one HTTP/1.x answer, as
 * a peer's lane reads it (lane_conn.h): status line, headers, the body's
 * length and whether the server closes after it. Pure: bytes in, a
 * verdict out; no IO, no allocation. */
#ifndef RAFT_PEER_HTTP_ANSWER_H_
#define RAFT_PEER_HTTP_ANSWER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_ANSWER_REASON_MAX 80 /* bytes of the reason kept, NUL included */

enum http_answer_error {
	HTTP_ANSWER_MORE = 0,	    /* no whole head yet: read on */
	HTTP_ANSWER_ETOO_LONG = -1, /* the head exceeds max_head_bytes */
	HTTP_ANSWER_ESTATUS = -2,   /* not `HTTP/1.x NNN reason` */
	HTTP_ANSWER_EHEADER = -3,   /* a malformed header line */
	HTTP_ANSWER_ELENGTH = -4,   /* Content-Length missing, repeated,
				     * not digits, or above max_body_bytes */
	HTTP_ANSWER_ECHUNKED = -5,  /* Transfer-Encoding: not ours */
	HTTP_ANSWER_EINTERIM = -6   /* 101 Switching Protocols */
};

struct http_answer {
	int status;		 /* 100 .. 599 */
	int minor;		 /* 0 or 1: HTTP/1.minor */
	uint64_t content_length; /* 0 when the status has no body */
	/* The server closes the connection after this answer:
	 * `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`. */
	bool close;
	bool interim; /* 1xx (but 101): another answer follows */
	char reason[HTTP_ANSWER_REASON_MAX]; /* printable ASCII */
};

/* Parses the answer head at the start of @p (@len bytes, which may go on
 * past the head: the body, further answers). Lines end in CRLF; the head
 * ends at the first empty line. Returns the head's length in bytes (> 0)
 * with *@out filled; HTTP_ANSWER_MORE when @p holds no whole head yet and
 * no more than @max_head_bytes; else a negative http_answer_error (the
 * connection is unusable). Content-Length is required but for 1xx, 204
 * and 304, at most @max_body_bytes; Transfer-Encoding is refused. Header
 * names are case-insensitive; values are not interpreted beyond
 * Content-Length, Transfer-Encoding and Connection. A verdict on a prefix
 * of an accepted head is always HTTP_ANSWER_MORE. */
long http_answer_parse(const char *p, size_t len, size_t max_head_bytes,
		       uint64_t max_body_bytes, struct http_answer *out);

/* A static string naming a negative http_answer_error. */
const char *http_answer_strerror(long err);

#endif /* RAFT_PEER_HTTP_ANSWER_H_ */
