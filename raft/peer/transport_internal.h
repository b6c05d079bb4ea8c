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

#include "refused_log.h"
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

/* One connection to a peer with its own queue: at most one POST in flight. */
struct lane {
	struct peer *peer;
	enum lane_kind kind;
	struct evhttp_connection *conn;
	struct event *kick; /* fires to send the next POST (now or after
			     * a backoff delay) */
	struct chunk *head, *tail;
	bool inflight;
	size_t inflight_msgs, inflight_bytes;
	bool inflight_heartbeat; /* the POST in flight carries a heartbeat */
	double sent_at; /* when the POST in flight was handed to evhttp */
	bool backing_off;
	unsigned backoff_ms; /* 0 after a success */
	bool used;	     /* at least one POST was answered or failed */
	bool up;	     /* the last POST succeeded */
	char err[96];	     /* reason given by evhttp's error callback */
};

/* Counters that survive the peer (summed into transport_stats). */
struct counters {
	uint64_t msgs_sent, bytes_sent, posts_sent, msgs_dropped, errors;
	uint64_t heartbeat_failures;
};

struct peer {
	struct transport *t;
	raft_id id;
	char url[TRANSPORT_MAX_URL];
	char host_header[TRANSPORT_MAX_URL + 16];
	struct lane lanes[N_LANES];
	struct counters c;
	uint64_t msgs_refused;
	size_t queued_msgs, queued_bytes;
	char last_error[128];
	/* Rate limiting of failure lines. */
	uint64_t last_log_ms;
	uint64_t suppressed;
	uint64_t failures_in_row;
};

struct transport {
	struct event_base *base;
	raft_id self;
	char self_str[24];
	char *source_host, *client_url, *token;
	size_t token_len;
	struct transport_limits lim;
	void (*on_messages)(void *ctx, const struct raft_msg *msgs, size_t n,
			    raft_id from, const char *from_client_url,
			    const char *from_addr);
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
	uint64_t posts_received, msgs_received, bytes_received;
	uint64_t msgs_misrouted, bad_requests, unauthorized;
	uint64_t frames_encoded, frames_shared;
	struct refused_log refused; /* lines about refused requests */
};

struct gate;

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

/* Drops a reference to the token gate (transport_recv.c); NULL is fine. */
void transport__gate_unref(struct gate *g);

#endif /* RAFT_PEER_TRANSPORT_INTERNAL_H_ */
