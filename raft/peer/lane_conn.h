/* lane_conn.h - one client connection to a peer that carries several
 * HTTP/1.1 requests at once (pipelining), the answers matched to the
 * requests in the order they were written.
 *
 * evhttp's client connection sends a request only once the previous one is
 * answered, so a lane of the peer transport carried one batch per round
 * trip: with members far apart, the round trip, not the work, capped the
 * rate of writes. A lane_conn writes each request as soon as it is given
 * and reads the answers as they come, with a strict parser of its own
 * (http_answer.h).
 *
 * A lane_conn connects itself when made (plain TCP or TLS with a new SSL
 * from tls_client_bev(); bound to @source_host when given; the host is an
 * IP literal or a name resolved blocking, as evhttp does without a DNS
 * base), with TCP_NODELAY set once on its socket. Every failure - connect
 * error, end of stream, read or write error, a malformed answer, an answer
 * nothing asked for, the oldest request in flight not answered within
 * timeout_ms of being written - kills the connection: every request in
 * flight fails, in order, each done callback called once with the reason,
 * then on_close is called once. An answer with `Connection: close` is
 * delivered, then the requests written after it fail the same way (the
 * server did not read them). A dead lane_conn takes no more requests: its
 * owner makes a new one.
 *
 * Callbacks run from the event loop, never from within lane_conn_new() or
 * lane_conn_request(). A callback may call lane_conn_request() on any
 * lane_conn (on the one calling it, only while it lives:
 * lane_conn_alive()) and lane_conn_free() on any, the calling one
 * included: then the callbacks of its other requests are not called, and
 * it is freed once the callback returns.
 *
 * Threads: none; call everything from the event_base's thread. */
#ifndef RAFT_PEER_LANE_CONN_H_
#define RAFT_PEER_LANE_CONN_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct tls_client;
struct lane_conn;

#define LANE_CONN_MAX_HEAD_BYTES   (64u << 10) /* of one answer's head */
#define LANE_CONN_MAX_INFLIGHT	   1024	       /* cap of max_inflight */
#define LANE_CONN_REASON_MAX	   80	       /* bytes of reason kept */
#define LANE_CONN_MAX_ANSWER_BYTES (1u << 30)  /* cap of max_answer_bytes */

enum lane_conn_error {
	LANE_CONN_OK = 0,
	LANE_CONN_EINVAL = -1, /* bad option */
	LANE_CONN_ENOMEM = -2,
	LANE_CONN_ECONNECT = -3, /* the connect could not even start */
	LANE_CONN_EDEAD = -4,	 /* the connection failed or closed */
	LANE_CONN_EFULL = -5,	 /* max_inflight requests in flight */
	LANE_CONN_ESTREAM = -6	 /* a stream was asked for on it */
};

struct lane_conn_options {
	struct event_base *base; /* not owned, outlives the connection */
	const char *host;	 /* IP literal (IPv6 without brackets) or a
				  * name; copied */
	int port;		 /* 1 .. 65535 */
	/* Local address (an IP literal) the socket is bound to; NULL: the
	 * kernel chooses. Copied. */
	const char *source_host;
	/* TLS with a new SSL of this context (tls_client_bev(), the
	 * certificate must name @host); NULL: plain TCP. Not owned. */
	struct tls_client *tls;
	unsigned timeout_ms; /* the oldest request's answer, > 0 */
	size_t max_inflight; /* 1 .. LANE_CONN_MAX_INFLIGHT */
	/* Largest answer body taken, <= LANE_CONN_MAX_ANSWER_BYTES; a longer
	 * Content-Length fails the connection. */
	uint64_t max_answer_bytes;
	/* Called once when the connection dies (@why says how), after the
	 * requests in flight failed. May be NULL. */
	void (*on_close)(void *arg, const char *why);
	void *close_arg;
};

/* One answer: valid during the done callback only. */
struct lane_answer {
	int status; /* 100 .. 599, never 1xx (interim answers are skipped) */
	char reason[LANE_CONN_REASON_MAX]; /* printable ASCII */
	/* The body (Content-Length bytes): the callback may read or drain
	 * it; freed after the callback. */
	struct evbuffer *body;
	bool close; /* the server closes after it: the connection is dead */
};

/* A request's end: @a is its answer, or NULL and @err says why it failed
 * (a static or short-lived string: copy it to keep it). */
typedef void (*lane_conn_done_fn)(void *arg, const struct lane_answer *a,
				  const char *err);

/* Makes a connection and starts connecting. Returns LANE_CONN_OK and
 * *@out, or LANE_CONN_EINVAL, LANE_CONN_ENOMEM, LANE_CONN_ECONNECT (with a
 * reason in @err: the source address cannot be bound, the host not
 * resolved); nothing is left behind on failure. */
int lane_conn_new(const struct lane_conn_options *o, struct lane_conn **out,
		  char *err, size_t errlen);

/* Writes one request: @head (@head_len bytes: request line and headers,
 * each ending in CRLF, then an empty line; Content-Length saying the size
 * of @body) and then @body, whose bytes are moved out of it (not copied;
 * NULL: none). @done(@arg, ...) is called once with its answer or failure,
 * from the loop. Returns LANE_CONN_OK, or LANE_CONN_EDEAD, LANE_CONN_EFULL,
 * LANE_CONN_ENOMEM: then nothing was written or taken from @body and
 * @done is never called. */
int lane_conn_request(struct lane_conn *c, const char *head, size_t head_len,
		      struct evbuffer *body, lane_conn_done_fn done, void *arg);

/* ---- stream mode: the connection taken over after one request ----
 *
 * A stream (the peer transport's POST /raft/stream) is one request whose
 * answer head, 200 with no length, is followed by frames until either side
 * closes, while the asker writes frames of its own. */

/* Bytes read on a streaming connection: @in holds them; the callback
 * drains what it consumed and leaves the rest (an incomplete frame) for
 * the next call. */
typedef void (*lane_conn_data_fn)(void *arg, struct evbuffer *in);
/* The output buffer drained (written to the socket or TLS) while
 * streaming. */
typedef void (*lane_conn_drain_fn)(void *arg);

/* Writes the request that opens a stream (@head as for
 * lane_conn_request(), announcing no body); no request can follow it
 * (LANE_CONN_ESTREAM). @done gets its answer as any request's: an answer
 * with status 200 (its head consumed, no body read: a stream has no
 * length) opens the stream, and from then on every byte read goes to
 * @on_data(@arg, ...), lane_conn_write() writes, @on_drain (may be NULL)
 * is called each time the output is written out, and no timeout applies
 * (the owner checks liveness itself); any other answer is read and
 * delivered as usual. A streaming connection fails as any other (end of
 * stream, errors): on_close says so. Returns as lane_conn_request(). */
int lane_conn_stream(struct lane_conn *c, const char *head, size_t head_len,
		     lane_conn_done_fn done, lane_conn_data_fn on_data,
		     lane_conn_drain_fn on_drain, void *arg);

/* Writes @data (moved out of it) on a streaming connection. Returns
 * LANE_CONN_OK, LANE_CONN_EDEAD (not streaming, or dead), LANE_CONN_ENOMEM. */
int lane_conn_write(struct lane_conn *c, struct evbuffer *data);

/* Bytes written and not yet handed to the socket (or to TLS). */
size_t lane_conn_output_bytes(const struct lane_conn *c);

/* Whether @c is alive and its stream is open. */
bool lane_conn_streaming(const struct lane_conn *c);

/* Requests written and not yet answered or failed. */
size_t lane_conn_inflight(const struct lane_conn *c);

/* Whether @c still takes requests: not failed, not closed. */
bool lane_conn_alive(const struct lane_conn *c);

/* Closes and frees @c; the callbacks of its requests in flight and
 * on_close are not called. NULL is a no-op. From a callback of @c, the
 * free happens once the callback returns. */
void lane_conn_free(struct lane_conn *c);

/* A static string for a lane_conn_error. */
const char *lane_conn_strerror(int err);

#endif /* RAFT_PEER_LANE_CONN_H_ */
