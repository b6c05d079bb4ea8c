/* transport_internal.h - what the peer transport's files share: the
 * peers, their lanes and queues, the transport's state and the helpers
 * that the sending side (transport_send.c), the receiving side
 * (transport_recv.c) and the shared state (transport.c) call across. Not
 * a public header: nothing outside raft/peer includes it. */
#ifndef RAFT_PEER_TRANSPORT_INTERNAL_H_
#define RAFT_PEER_TRANSPORT_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/util.h>

#include "peer_proof.h"
#include "refused_log.h"
#include "rtt_window.h"
#include "transport.h"
#include "transport_share.h"

enum lane_kind { LANE_CONTROL = 0, LANE_DATA = 1, N_LANES = 2 };

/* Encoded messages waiting for a POST; one chunk becomes one body. */
struct chunk {
	struct chunk *next;
	struct evbuffer *buf;
	size_t msgs;
	bool heartbeat; /* carries a RAFT_MSG_HEARTBEAT */
};

struct peer;
struct lane_conn;
struct lane_answer;

/* Answers and headers the asking side reads from a peer: a hello answer
 * is one short line, a POST's answer is empty or a line of text. */
#define LANE_MAX_ANSWER_BYTES (16u << 10)
/* A lane's smallest round trip is taken over its answers of the last
 * LANE_RTT_WINDOW_S to twice that (rtt_window.h). */
#define LANE_RTT_WINDOW_S 5.0

/* A request written on a lane's connection and not answered yet: a POST
 * and what it carries, or the hello. */
struct post {
	size_t msgs, bytes;
	bool heartbeat; /* carries a RAFT_MSG_HEARTBEAT */
	bool hello;
	bool stream;	/* the request that opens a stream (stream_send.c) */
	double sent_at; /* when it was written */
};

/* One connection to a peer with its own queue. Its POSTs are written one
 * at a time, or, when the peer is far (lane_pipelining(), transport_send.c),
 * up to max_inflight_posts at once (lane_conn.h). */
struct lane {
	struct peer *peer;
	enum lane_kind kind;
	/* NULL, or the connection; made anew after it failed or closed
	 * (with TLS, a new SSL from the current context). */
	struct lane_conn *conn;
	struct event *kick; /* fires to send the next POST (now or after
			     * a backoff delay) */
	struct chunk *head, *tail;
	/* The requests in flight, oldest first: a ring of
	 * lim.max_inflight_posts records from posts[post_head]. */
	struct post *posts;
	size_t post_head, inflight;
	size_t inflight_msgs, inflight_bytes; /* sums over the ring */
	bool backing_off;
	unsigned backoff_ms; /* 0 after a success */
	bool used;	     /* at least one POST was answered or failed */
	bool up;	     /* the last POST succeeded */
	/* The smallest round trip of the POSTs answered lately. */
	struct rtt_window rtt;
	/* The peer hello (transport_hello.c): with a token, nothing goes
	 * out on a connection before the peer proved it holds the token on
	 * it; a new connection is not proven. */
	bool hello;  /* the request in flight is a hello */
	bool proven; /* conn is proven */
	uint8_t nonce[PEER_PROOF_NONCE_BYTES]; /* of the hello in flight */
	/* The stream (stream_send.c): @opening while its request is in
	 * flight, @streaming once it is open (then batches go out as frames
	 * on @conn, nothing in flight). A ping is out when @ping_out: sent
	 * at @ping_sent_at with the number @ping_seq; @ping_ev sends the next
	 * one and checks that its pong came in time. */
	bool opening, streaming;
	struct event *ping_ev;
	bool ping_out;
	uint64_t ping_seq;
	double ping_sent_at;
};

/* Counters that survive the peer (summed into transport_stats). */
struct counters {
	uint64_t msgs_sent, bytes_sent, posts_sent, msgs_dropped, errors;
	uint64_t heartbeat_failures;
	uint64_t proof_failures; /* hellos not answered with a good proof */
	/* POSTs written while another was in flight on the same lane. */
	uint64_t posts_pipelined;
	/* Streams opened, messages frames written on them. */
	uint64_t streams_opened, frames_sent;
};

struct peer {
	struct transport *t;
	raft_id id;
	char url[TRANSPORT_MAX_URL];
	char host_header[TRANSPORT_MAX_URL + 16];
	char host[TRANSPORT_MAX_URL]; /* of the URL, IPv6 without brackets */
	/* The head of every POST to this peer but its Content-Length:
	 * request line, Host, Content-Type and the X-Kvd-* headers. */
	char *post_head;
	size_t post_head_len;
	int port;
	struct lane lanes[N_LANES];
	struct counters c;
	uint64_t msgs_refused;
	size_t queued_msgs, queued_bytes;
	char last_error[128];
	/* Rate limiting of failure lines. */
	uint64_t last_log_ms;
	uint64_t suppressed;
	uint64_t failures_in_row;
	/* A lane proved the peer holds the token, and no hello failed since
	 * (transport_peer_proven()). */
	bool proven;
	/* The peer answered a stream request 404 or 405 (an older member):
	 * its lanes send POSTs until clock_now_ms() reaches this. */
	uint64_t posts_until_ms;
	/* The head of the request that opens a stream to this peer: the
	 * POST head's headers under `POST /raft/stream`. */
	char *stream_head;
	size_t stream_head_len;
};

struct transport {
	struct event_base *base;
	raft_id self;
	char self_str[24];
	char *source_host, *client_url, *peer_url, *token;
	size_t token_len;
	struct transport_limits lim;
	void (*on_messages)(void *ctx, const struct raft_msg *msgs, size_t n,
			    raft_id from, const char *from_client_url,
			    const char *from_addr, const char *from_peer_url);
	void (*log)(void *ctx, int level, const char *line);
	void (*on_round_trip)(void *ctx, raft_id peer, double seconds);
	void *ctx;
	uint64_t rng;

	struct peer **peers;
	size_t n_peers, cap_peers;
	struct counters removed; /* counters of removed peers */

	struct share_cache *share; /* large entry frames of this turn */
	struct evhttp *http;	   /* attached server, not owned */
	struct gate *gate; /* with a token: the listener's header check */
	struct tls_server *tls_server; /* not owned; NULL: plain HTTP */
	struct tls_client *tls_client; /* not owned; NULL: plain HTTP */
	uint64_t posts_received, msgs_received, bytes_received;
	uint64_t msgs_misrouted, bad_requests, unauthorized;
	uint64_t frames_encoded, frames_shared;
	struct refused_log refused; /* lines about refused requests */
	/* Hellos answered, and refused by the rate limit, whose bucket
	 * holds hello_bucket answers, refilled from hello_refill_ms. */
	uint64_t hellos_answered, hellos_limited;
	double hello_bucket;
	uint64_t hello_refill_ms;
	/* Streams received (stream_recv.c): open ones, a list; counters. */
	struct stream_in *streams;
	size_t n_streams;
	uint64_t streams_accepted, streams_refused, frames_received;
};

struct gate;
struct stream_in;
struct evkeyvalq;

/* Streams a member may have open on this listener at once, and all
 * members together: a peer holding the token cannot make the listener
 * hold unbounded connections and buffers. */
#define STREAM_MAX_PER_MEMBER 4
#define STREAM_MAX_OPEN	      64
/* How long a lane sends POSTs after its peer answered a stream request
 * 404 or 405 (an older member), before it asks again. */
#define STREAM_FALLBACK_MS (5u * 60u * 1000u)
/* A streaming lane stops writing frames while its connection holds more
 * than this many unwritten bytes, and resumes once they are written. */
#define STREAM_MAX_OUTPUT_BYTES ((size_t)4 << 20)

/* Passes a formatted line to the transport's log callback, if any. */
void transport__log(struct transport *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether @s is printable ASCII, fit for a header value (transport.c). */
bool transport__printable(const char *s);

/* The peer @id, or NULL; with @pos, its place in t->peers. */
struct peer *transport__find_peer(const struct transport *t, raft_id id,
				  size_t *pos);

/* Adds the counters @c into @to. */
void transport__counters_add(struct counters *to, const struct counters *c);

/* Frees @p, its lanes and what they queued, without calling callbacks
 * (transport_send.c). */
void transport__peer_free(struct peer *p);

/* Whether @ln must prove its peer before its next POST: the transport
 * has a token and the lane's connection is not proven (transport_hello.c). */
bool transport__hello_needed(const struct lane *ln);

/* Sends a hello on @ln (a new connection, nothing in flight); its
 * answer (transport__hello_done()) either proves the connection and kicks
 * the lane, or fails it like a failed POST (transport__lane_failed). */
void transport__hello_start(struct lane *ln);

/* The answer @a, or the failure @err, of the hello in flight on @ln: the
 * oldest request in flight (transport_hello.c). */
void transport__hello_done(struct lane *ln, const struct lane_answer *a,
			   const char *err);

/* Registers GET PEER_PROOF_PATH on @http (transport_hello.c). */
int transport__hello_attach(struct transport *t, struct evhttp *http);

/* Whether the request line of the header block @head is a hello's: a GET
 * of PEER_PROOF_PATH with a query. The gate lets such a request through
 * without a token when it announces no body, keeping its connection
 * (transport_hello.c). */
bool transport__head_is_hello(const char *head);

/* lane_failed() and lane_kick_now() of transport_send.c, for the hello;
 * lane_write() writes one request (@head, then @body moved, NULL: none) on
 * the lane's connection and records it (@rec) as the newest in flight:
 * 0, or -1 with nothing written or recorded. lane_pop() forgets the
 * oldest request in flight, answered. */
void transport__lane_failed(struct lane *ln, const char *why);
void transport__lane_kick(struct lane *ln);
int transport__lane_write(struct lane *ln, const char *head, size_t head_len,
			  struct evbuffer *body, const struct post *rec);
struct post transport__lane_pop(struct lane *ln);
/* Records @rec as the newest request in flight, written already. */
void transport__lane_record(struct lane *ln, const struct post *rec);
/* The lane_conn done callback of every request of a lane. */
void transport__lane_answer(void *arg, const struct lane_answer *a,
			    const char *err);
/* Frees the lane's connection (from its callback too) without failing
 * the lane: the next send makes a new one. */
void transport__lane_drop_conn(struct lane *ln);
/* The lane reached its peer: a line if it had been failing. */
void transport__lane_reachable(struct lane *ln);

/* Parses a member id header value: decimal, 1 .. 2^64-1 (transport_recv.c). */
bool transport__parse_id(const char *s, raft_id *out);

/* The checks every batch received goes through, on POST /raft/messages
 * and in a stream's messages frame alike (transport_recv.c): decodes
 * @body (@len bytes) sent by member @from; refuses it whole (-1, the
 * reason in *@why, counted in bad_requests and logged about @req,
 * nothing delivered) when it is malformed, carries a snapshot message or
 * a message whose `from` is not @from; else hands the messages to this
 * member to on_messages() (the others counted misrouted), counts the
 * bytes and messages received and returns 0. -2: out of memory. */
int transport__deliver(struct transport *t, struct evhttp_request *req,
		       const uint8_t *body, size_t len, raft_id from,
		       const char *curl, const char *addr, const char *purl,
		       const char **why);

/* The X-Kvd-Client-URL and X-Kvd-Peer-URL of a request, NULL when absent
 * or unfit (transport_recv.c). */
void transport__request_urls(struct evkeyvalq *h, const char **curl,
			     const char **purl);

/* Whether a request carries the token (always true without one). */
bool transport__request_authorized(const struct transport *t,
				   struct evkeyvalq *h, bool *present);

/* A plain-text answer (@text NULL: no body) (transport_recv.c). */
void transport__reply(struct evhttp_request *req, int code, const char *reason,
		      const char *text);

/* Whether a request to a peer route may go on: a POST (else 405) with the
 * peer token when there is one (else 401, counted and logged), checked
 * before its body is looked at (transport_recv.c). */
bool transport__admit(struct transport *t, struct evhttp_request *req);

/* A rate-limited line about a refused request (transport_recv.c). */
void transport__refused(struct transport *t, struct evhttp_request *req,
			const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* POST /raft/stream: the receiving end of a stream (stream_recv.c). */
void transport__handle_stream(struct evhttp_request *req, void *arg);

/* Closes every stream received, freeing their connections
 * (transport_free(), stream_recv.c). */
void transport__streams_close(struct transport *t);

/* ---- the sending end of a stream (stream_send.c) ---- */

/* Makes @p->stream_head from its POST head. */
int transport__stream_head(struct peer *p);

/* Whether @ln should open a stream before sending: not forced to POSTs,
 * the peer not known to lack the route. */
bool transport__stream_wanted(const struct lane *ln);

/* Asks for a stream on @ln's proven connection, nothing in flight. */
void transport__stream_start(struct lane *ln);

/* The answer @a, or the failure @err, of the stream request in flight. */
void transport__stream_open_done(struct lane *ln, const struct lane_answer *a,
				 const char *err);

/* Writes queued batches as frames while the connection's output is
 * below its bound. */
void transport__stream_flush(struct lane *ln);

/* Forgets the lane's stream state (the connection failed or is freed). */
void transport__stream_reset(struct lane *ln);

/* The lane's connection closed (lane_conn's on_close): a stream fails the
 * lane. */
void transport__lane_conn_closed(void *arg, const char *why);

/* The ping timer of a lane (lane_init()). */
void transport__stream_ping_cb(evutil_socket_t fd, short what, void *arg);

/* Drops a reference to the token gate (transport_recv.c); NULL is fine. */
void transport__gate_unref(struct gate *g);

#endif /* RAFT_PEER_TRANSPORT_INTERNAL_H_ */
