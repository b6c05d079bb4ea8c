/* transport.h - the peer transport: raft messages over HTTP (sent on
 * lane_conn.h connections, received with evhttp).
 *
 * Client side: for each peer, messages handed to transport_send() are
 * encoded at once (msg_codec.h) into that peer's queue and go out as
 * frames on a stream (below), or as the body of `POST /raft/messages` on
 * a keep-alive connection (lane_conn.h).
 *
 * Streams (stream_send.c, stream_recv.c, stream_frame.h): once a lane's
 * connection is proven, the lane asks `POST /raft/stream` on it; answered
 * 200, the connection carries the lane's batches as frames (each what
 * would have been one POST's body) with no answer each, and pings whose
 * pongs give the round trip; a pong missing for request_timeout_ms fails
 * the lane as a failed POST does. A peer that answers 404 or 405 (an
 * older member) gets POSTs for STREAM_FALLBACK_MS; force_posts makes
 * every lane use POSTs. What follows about POSTs applies to a lane
 * without a stream.
 * Near peers get one POST at a time, and the transport batches: while a
 * POST is in flight, new messages queue; when it completes, everything
 * queued (up to batch_bytes) goes out as the next POST. Messages sent in
 * one loop turn travel in one POST. Far peers (the smallest round trip of
 * a lane's recent answers at least pipeline_rtt_ms) get up to
 * max_inflight_posts POSTs in flight on one connection (HTTP/1.1
 * pipelining; the answers come in order): one POST per round trip would
 * cap a lane at 1/RTT batches a second.
 *
 * Each peer has two lanes, each with its own connection, so a large
 * AppendEntries never delays a heartbeat or a vote:
 *   data lane:    APPEND with entries, PROPOSE;
 *   control lane: every other message (heartbeats, votes, responses,
 *                 empty APPEND probes, ReadIndex, TimeoutNow).
 * Order is kept within a lane, not across lanes (Raft tolerates reordering;
 * §5.3 consistency check). An entry of SHARE_MIN_BYTES or more is encoded
 * once per loop turn and referenced by every peer's body it goes into
 * (transport_share.h), not copied for each.
 *
 * Failures (refused, timeout, non-2xx answer): the messages of the failed
 * POST and those queued behind it on its lane are dropped and counted (Raft
 * retransmits, so dropping is safe), the error is counted and logged
 * (rate-limited), and the lane waits an exponential, jittered backoff
 * (backoff_min_ms .. backoff_max_ms) before its next POST; meanwhile new
 * messages queue up to the limits, beyond which transport_send() refuses
 * them (back-pressure, counted as drops).
 *
 * Server side: transport_attach() serves `POST /raft/messages` on the peer
 * listener: token check (401), size limit (413), decode (400 on any
 * malformed body or a SNAPSHOT message, nothing delivered), then
 * on_messages() with the messages addressed to this member, then 204.
 * It serves `POST /raft/stream` too: the same checks on the request and
 * on each frame's batch (a bad frame closes the stream), at most
 * STREAM_MAX_PER_MEMBER streams per sender and STREAM_MAX_OPEN in all
 * (503), the connection taken over from evhttp until either side closes.
 * With a token, the whole peer listener checks it before reading a body
 * (transport_attach()).
 *
 * Proof of membership: with a token, before a lane's connection carries
 * anything (every connect and reconnect), the transport asks the peer
 * `GET /raft/hello?nonce=N` without the token, and sends on that
 * connection only once the answer proves that the peer holds the token
 * and is the member it is being sent to (peer_proof.h); until then the
 * lane fails as if the peer were unreachable. The listener answers
 * hellos without a token, rate-limited.
 *
 * Headers: Content-Type: application/octet-stream, X-Kvd-From: <id>,
 * X-Kvd-Client-URL: <advertised client URL> (when set), X-Kvd-Peer-URL:
 * <advertised peer URL> (when set), X-Kvd-Token:
 * <token> (when set). docs/FORMAT.md ("Peer messages") has the details.
 *
 * Threads: none. Everything runs on the caller's event_base; call every
 * transport_* function from that base's thread. Callbacks run from the
 * loop. No callback may call transport_free(); on_messages() may call
 * transport_send(), transport_add_peer() and transport_remove_peer();
 * log() may call no transport_* function.
 *
 * Errors are negative TRANSPORT_E* codes; transport_strerror() names them.
 */
#ifndef RAFT_TRANSPORT_H_
#define RAFT_TRANSPORT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "msg_codec.h"
#include "raft.h"

struct event_base;
struct evhttp;
struct bufferevent;
struct tls_server;
struct tls_client;

#define TRANSPORT_PATH		    "/raft/messages"
#define TRANSPORT_HEADER_FROM	    "X-Kvd-From"
#define TRANSPORT_HEADER_CLIENT_URL "X-Kvd-Client-URL"
#define TRANSPORT_HEADER_PEER_URL   "X-Kvd-Peer-URL"
#define TRANSPORT_HEADER_TOKEN	    "X-Kvd-Token"
#define TRANSPORT_MAX_URL	    1024 /* bytes of a peer or client URL */
#define TRANSPORT_MAX_TOKEN	    4096 /* bytes of the token */

/* Cap of transport_limits.max_inflight_posts. */
#define TRANSPORT_MAX_INFLIGHT_POSTS 1024

enum transport_error {
	TRANSPORT_OK = 0,
	TRANSPORT_EINVAL = -1, /* bad argument or option */
	TRANSPORT_ENOMEM = -2,
	TRANSPORT_EURL = -3,	   /* not an http(s)://host:port URL */
	TRANSPORT_ENOPEER = -4,	   /* no peer with that id */
	TRANSPORT_EEXIST = -5,	   /* a peer with that id already exists */
	TRANSPORT_EFULL = -6,	   /* the peer's queue is full: dropped */
	TRANSPORT_ETOO_LARGE = -7, /* one message above max_body_bytes */
	TRANSPORT_EMSG = -8,	   /* the message fails msg_codec_check() */
	TRANSPORT_EEVENT = -9,	   /* a libevent call failed */
	TRANSPORT_EATTACHED = -10  /* transport_attach() was already called */
};

enum transport_log_level {
	TRANSPORT_LOG_ERROR = 0,
	TRANSPORT_LOG_WARN = 1,
	TRANSPORT_LOG_INFO = 2,
	TRANSPORT_LOG_DEBUG = 3
};

/* Limits. A field left 0 takes the default in parentheses. */
struct transport_limits {
	size_t max_queued_bytes; /* encoded bytes queued per peer (64 MiB) */
	size_t max_queued_msgs;	 /* messages queued per peer (65536) */
	size_t batch_bytes;	 /* target body size of one POST (1 MiB);
				  * one larger message still goes alone */
	size_t max_body_bytes;	 /* largest body sent or accepted (64 MiB) */
	unsigned request_timeout_ms; /* connect + request + answer (5000) */
	unsigned backoff_min_ms;  /* first retry delay after a failure (50) */
	unsigned backoff_max_ms;  /* cap of the doubling delay (2000) */
	unsigned log_interval_ms; /* at most one failure line per peer per
				   * interval (10000) */
	/* A lane pipelines (several POSTs in flight on its connection) when
	 * the smallest round trip of its POSTs answered in the last 5 to
	 * 10 s is at least this (4); nearer, one POST at a time makes
	 * bigger batches and costs the receiver fewer requests to parse,
	 * and the CPU rather than the round trip limits the writes (members
	 * 2 ms apart on a 2-CPU machine wrote 15-20% fewer PUTs when their
	 * lanes pipelined). While pipelining, a lane spaces its POSTs by at
	 * least that round trip / max_inflight_posts and at least 1 ms.
	 * Negative: always, spaced by the round trip / max_inflight_posts
	 * alone (tests). */
	int pipeline_rtt_ms;
	/* POSTs in flight per lane when pipelining (16), at most
	 * TRANSPORT_MAX_INFLIGHT_POSTS; 1: never pipeline. */
	unsigned max_inflight_posts;
	struct msg_codec_limits codec; /* decoding limits; codec.max_body_bytes
					* is forced to max_body_bytes */
	/* Send every batch as a POST /raft/messages, never on a stream
	 * (tests keep the POST path covered with it). false: each lane
	 * opens a stream (POST /raft/stream) once its connection is proven,
	 * and falls back to POSTs for STREAM_FALLBACK_MS (5 min) when the
	 * peer answers it 404 or 405 (an older member). */
	bool force_posts;
	/* A streaming lane pings every this often (1000); a pong not back
	 * within request_timeout_ms of its ping fails the lane. A received
	 * stream that has been silent for request_timeout_ms + 2 *
	 * stream_ping_ms is closed. */
	unsigned stream_ping_ms;
};

struct transport_options {
	raft_id self; /* this member's id, > 0 */
	/* Host (IP literal) outgoing connections are bound to: the host of
	 * --listen-peer. NULL: let the kernel choose. Copied. */
	const char *source_host;
	/* This member's advertised client URL, sent to peers in
	 * X-Kvd-Client-URL so they learn it. NULL: not sent. Copied. */
	const char *client_url;
	/* This member's advertised peer URL, sent to peers in X-Kvd-Peer-URL
	 * so that one that does not know this member yet (it waits to be
	 * added) can answer it. NULL: not sent. Copied. */
	const char *peer_url;
	/* Shared secret: sent with every POST and required on every one
	 * received (compared in constant time). NULL: none. Copied. */
	const char *token;
	struct transport_limits limits;
	/* Peer TLS (DESIGN.md §1.8), both not owned and outliving the
	 * transport, both or neither: the listener accepts TLS only, with
	 * @tls_server (transport_attach(), transport_new_peer_conn()); lanes
	 * connect with @tls_client, a new SSL on each (re)connect, to https://
	 * peer URLs only. NULL: plain HTTP, http:// peer URLs only. */
	struct tls_server *tls_server;
	struct tls_client *tls_client;
	/* Seed of the backoff jitter; 0: derived from the clock and pid. */
	uint64_t seed;
	/* Messages received for this member (to == self; every message's
	 * from equals @from, else the body was refused), in body order. @msgs
	 * and everything they point to (entries and their data) are owned by
	 * the transport and valid only during the call; copy what you keep
	 * (raft_step() copies). @from is the X-Kvd-From of the request;
	 * @from_client_url its X-Kvd-Client-URL (printable, shorter than
	 * TRANSPORT_MAX_URL, as the peer sent it) or NULL; @from_addr the
	 * address the request came from (an IP literal) or NULL;
	 * @from_peer_url its X-Kvd-Peer-URL (printable, a URL
	 * transport_parse_url() takes, as the peer sent it) or NULL. With a
	 * token, the request carried it. Required. */
	void (*on_messages)(void *ctx, const struct raft_msg *msgs, size_t n,
			    raft_id from, const char *from_client_url,
			    const char *from_addr, const char *from_peer_url);
	/* One log line (no newline), enum transport_log_level. May be NULL. */
	void (*log)(void *ctx, int level, const char *line);
	/* A POST to @peer was answered 2xx @seconds after it was sent: the
	 * round trip to it (the peer answers on receipt, before its core
	 * handles the messages). May be NULL. */
	void (*on_round_trip)(void *ctx, raft_id peer, double seconds);
	void *ctx; /* passed to the callbacks */
};

/* Counters of one peer (client side). */
struct transport_peer_stats {
	raft_id id;
	char url[TRANSPORT_MAX_URL];
	uint64_t msgs_sent;    /* delivered: answered 2xx, or written
				* into an open stream */
	uint64_t bytes_sent;   /* body bytes of answered POSTs and of
				* messages frames written */
	uint64_t posts_sent;   /* POSTs answered 2xx */
	uint64_t msgs_dropped; /* refused by a full queue or lost in a
				* failed POST */
	uint64_t msgs_refused; /* the part of msgs_dropped refused at send */
	uint64_t errors;       /* failed POSTs */
	size_t queued_msgs;    /* waiting, not yet in a POST */
	size_t queued_bytes;
	size_t inflight_msgs; /* in POSTs not answered yet */
	bool up;	      /* the last POST on each used lane succeeded */
	char last_error[128]; /* "" when none yet */
	/* Hellos the peer answered without a good proof (a wrong token, id
	 * or answer); and whether it proved itself (always with no token). */
	uint64_t proof_failures;
	bool proven;
	/* Streams opened to the peer, messages frames written on them, and
	 * lanes whose stream is open now (0 .. 2). */
	uint64_t streams_opened, frames_sent;
	unsigned lanes_streaming;
};

/* Counters of the whole transport. */
struct transport_stats {
	size_t n_peers;
	uint64_t msgs_sent, bytes_sent, posts_sent; /* sums over peers, */
	uint64_t msgs_dropped, errors;		    /* live and removed */
	/* Bodies carrying a heartbeat that did not reach their peer: the
	 * POST failed or was answered with an error, it was dropped behind
	 * such a failure, or the heartbeat was refused by a full queue. */
	uint64_t heartbeat_failures;
	uint64_t posts_received; /* accepted POSTs */
	uint64_t msgs_received;	 /* delivered to on_messages */
	uint64_t bytes_received; /* body bytes of accepted POSTs */
	uint64_t msgs_misrouted; /* received with `to` != self: dropped */
	uint64_t bad_requests;	 /* 400 / 405 / 413 answers */
	uint64_t unauthorized;	 /* 401 answers */
	/* Large entry frames (transport_share.h) encoded, and taken again
	 * for another peer's body without a second copy. */
	uint64_t frames_encoded, frames_shared;
	/* Asking side: hellos answered without a good proof (sum over
	 * peers). Answering side: hellos answered, and refused by the
	 * rate limit (429). */
	uint64_t proof_failures;
	uint64_t hellos_answered, hellos_limited;
	/* POSTs written while another was in flight on the same lane
	 * (pipelining to a far peer; sum over peers, live and removed). */
	uint64_t posts_pipelined;
	/* Sending side: streams opened (answered 200) and messages frames
	 * written on them (sums over peers, live and removed). Receiving
	 * side: streams accepted, refused by the caps (503), open now, and
	 * messages frames delivered. A bad frame counts in bad_requests. */
	uint64_t streams_opened, frames_sent;
	uint64_t streams_accepted, streams_refused, frames_received;
	size_t streams_open;
};

struct transport;

/* Creates a transport on @base (not owned; must outlive it). @opts and the
 * strings in it are copied. Returns TRANSPORT_OK and *@out, TRANSPORT_EINVAL
 * (self == 0, no on_messages, oversized token or URL, backoff_min_ms >
 * backoff_max_ms, max_inflight_posts above TRANSPORT_MAX_INFLIGHT_POSTS,
 * ...) or TRANSPORT_ENOMEM. */
int transport_new(struct event_base *base, const struct transport_options *opts,
		  struct transport **out);

/* Frees @t: in-flight POSTs are cancelled, queued messages discarded,
 * streams closed both ways (their connections freed), and the handlers
 * registered by transport_attach() are removed. Call it before freeing
 * the attached evhttp and the event_base. NULL is a no-op. */
void transport_free(struct transport *t);

/* Adds peer @id reachable at @peer_url ("http://host:port", optionally with
 * a trailing "/"; host is an IP literal or a name resolved blocking;
 * "https://" with peer TLS, and only then). Copies @peer_url. Returns
 * TRANSPORT_EURL (with a log line saying why),
 * TRANSPORT_EEXIST, TRANSPORT_EINVAL (id 0 or self), TRANSPORT_ENOMEM. */
int transport_add_peer(struct transport *t, raft_id id, const char *peer_url);

/* Splits "http://host:port[/]" or "https://host:port[/]" (shorter than
 * TRANSPORT_MAX_URL; transport_url_https() tells which) into @host
 * (brackets of an IPv6 literal removed; shorter than @host_cap) and @port.
 * Returns TRANSPORT_OK, or TRANSPORT_EURL with why it refuses in *@why.
 * The one parser of peer URLs: the snapshot transfer uses it too. */
int transport_parse_url(const char *url, char *host, size_t host_cap, int *port,
			const char **why);

/* Whether @url's scheme is https (TLS); false for NULL. */
bool transport_url_https(const char *url);

/* Removes peer @id: its queued and in-flight messages are discarded (its
 * counters are kept in transport_stats). Returns TRANSPORT_ENOPEER. */
int transport_remove_peer(struct transport *t, raft_id id);

/* Queues @m for peer m->to: it is encoded at once, so nothing of @m is kept
 * (entries' data included). Returns TRANSPORT_OK, TRANSPORT_ENOPEER,
 * TRANSPORT_EMSG (m->from != self, a SNAPSHOT message, whose file travels
 * apart, or the codec refuses it),
 * TRANSPORT_ETOO_LARGE, or TRANSPORT_EFULL when the peer's queue is at its
 * limits (the message is dropped and counted; Raft will retransmit). */
int transport_send(struct transport *t, const struct raft_msg *m);

/* Registers `POST /raft/messages` and `POST /raft/stream` (a request with
 * the token passes the filter below unchecked from then on: its frames
 * are no requests) on @peer_http (not owned) and sets its
 * maximum body size to max_body_bytes. Other methods get 405. With a
 * token, every connection @peer_http accepts from then on reads through a
 * filter (evhttp_set_bevcb(), so @peer_http must not have one of its own)
 * that checks the token of each request once its headers are in: a
 * request without it reaches its handler with no body and
 * `Connection: close` (so every path of the listener answers it 401 having
 * read none of its body), and the rest of that connection is discarded;
 * but a hello (`GET /raft/hello?...` announcing no body), which goes up
 * unchanged and keeps its connection. Also registers GET /raft/hello
 * (peer_proof.h), answered without a token.
 * Returns TRANSPORT_EATTACHED on a second call, TRANSPORT_EEVENT if evhttp
 * refuses the path (already taken), TRANSPORT_ENOMEM. */
int transport_attach(struct transport *t, struct evhttp *peer_http);

/* For a caller that serves @peer_http with a bufferevent callback of its
 * own (installed after transport_attach(), replacing the transport's):
 * it passes each new connection's socket bufferevent @sock (ownership
 * taken) through this and hands evhttp what comes back: @sock itself
 * without a token, else the token filter around it; NULL when out of
 * memory (@sock freed). */
struct bufferevent *transport_wrap_peer_conn(struct transport *t,
					     struct bufferevent *sock);

/* For the same caller: the bufferevent of a new peer connection, its
 * socket not yet set (evhttp_set_bevcb()'s contract), to hand to
 * transport_wrap_peer_conn(): a TLS one that accepts with tls_server (and
 * requires a client certificate), else a plain socket one. NULL when out
 * of memory. */
struct bufferevent *transport_new_peer_conn(struct transport *t,
					    struct event_base *base);

/* Copies the counters of peer @id into @out; TRANSPORT_ENOPEER. */
int transport_peer_stats(const struct transport *t, raft_id id,
			 struct transport_peer_stats *out);

/* Copies the transport-wide counters into @out. */
void transport_stats(const struct transport *t, struct transport_stats *out);

/* Fills @ids with up to @cap peer ids (in the order added) and returns the
 * number of peers (which may exceed @cap). */
size_t transport_peers(const struct transport *t, raft_id *ids, size_t cap);

/* Whether peer @id may be sent the token and the log outside the
 * transport (a snapshot): the transport has no token (then any id), or
 * one of the peer's lanes proved it holds it and no hello answered
 * wrongly since (then false for an unknown peer). */
bool transport_peer_proven(const struct transport *t, raft_id id);

/* A static string for a transport_error code. */
const char *transport_strerror(int err);

#endif /* RAFT_TRANSPORT_H_ */
