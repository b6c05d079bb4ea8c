/* transport_fixture.h - what the transport tests over real loopback HTTP
 * share: a member (an evhttp listener, a transport, what it received),
 * waiting for deliveries and counters, raw requests. Each test file has
 * its own copy of the state below (static). */
#ifndef TESTS_TRANSPORT_TRANSPORT_FIXTURE_H_
#define TESTS_TRANSPORT_TRANSPORT_FIXTURE_H_

#include <arpa/inet.h>
#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "loop_wait.h"
#include "msg_codec.h"
#include "peer_proof.h"
#include "transport.h"

/* Whether node_start() lets lanes open streams; false: every batch is a
 * POST (transport_limits.force_posts), the POST path's tests. */
static bool use_streams;

static struct event_base *base;

/* ---- a member: evhttp listener + transport + what it received ---- */

struct node {
	raft_id id;
	struct evhttp *http;
	int port;
	struct transport *t;
	/* Deep copies of every delivered message. */
	struct raft_msg *msgs;
	size_t n, cap;
	uint64_t calls;
	raft_id last_from;
	char last_client_url[TRANSPORT_MAX_URL];
	char last_peer_url[TRANSPORT_MAX_URL];
	char last_addr[64];
	bool answer_heartbeats; /* reply HEARTBEAT_RESP from the callback */
	char log[64][512];
	size_t n_log;
	uint64_t round_trips; /* on_round_trip() calls */
};

static inline void copy_msg(struct raft_msg *dst, const struct raft_msg *src)
{
	*dst = *src;
	dst->entries = NULL;
	if (src->n_entries == 0)
		return;
	dst->entries = calloc(src->n_entries, sizeof(*dst->entries));
	ck_assert_ptr_nonnull(dst->entries);
	for (size_t i = 0; i < src->n_entries; i++) {
		dst->entries[i] = src->entries[i];
		dst->entries[i].data = NULL;
		if (src->entries[i].len) {
			dst->entries[i].data = malloc(src->entries[i].len);
			memcpy(dst->entries[i].data, src->entries[i].data,
			       src->entries[i].len);
		}
	}
}

static inline void on_messages(void *ctx, const struct raft_msg *msgs, size_t n,
			       raft_id from, const char *client_url,
			       const char *from_addr, const char *peer_url)
{
	struct node *nd = ctx;

	snprintf(nd->last_peer_url, sizeof(nd->last_peer_url), "%s",
		 peer_url ? peer_url : "");
	snprintf(nd->last_addr, sizeof(nd->last_addr), "%s",
		 from_addr ? from_addr : "");

	nd->calls++;
	nd->last_from = from;
	snprintf(nd->last_client_url, sizeof(nd->last_client_url), "%s",
		 client_url ? client_url : "");
	for (size_t i = 0; i < n; i++) {
		if (nd->n == nd->cap) {
			nd->cap = nd->cap ? 2 * nd->cap : 64;
			nd->msgs =
			    realloc(nd->msgs, nd->cap * sizeof(*nd->msgs));
			ck_assert_ptr_nonnull(nd->msgs);
		}
		copy_msg(&nd->msgs[nd->n++], &msgs[i]);
		if (nd->answer_heartbeats &&
		    msgs[i].type == RAFT_MSG_HEARTBEAT) {
			struct raft_msg r = {
			    .type = RAFT_MSG_HEARTBEAT_RESP,
			    .from = nd->id,
			    .to = from,
			    .term = msgs[i].term,
			    .context = msgs[i].context,
			};
			ck_assert_int_eq(transport_send(nd->t, &r),
					 TRANSPORT_OK);
		}
	}
}

static inline void on_log(void *ctx, int level, const char *line)
{
	struct node *nd = ctx;

	(void)level;
	if (nd->n_log < 64)
		snprintf(nd->log[nd->n_log++], sizeof(nd->log[0]), "%s", line);
}

static inline void on_rtt(void *ctx, raft_id peer, double seconds)
{
	struct node *nd = ctx;

	(void)peer;
	ck_assert(seconds >= 0 && seconds < 60);
	nd->round_trips++;
}

static inline bool logged(const struct node *nd, const char *needle)
{
	for (size_t i = 0; i < nd->n_log; i++)
		if (strstr(nd->log[i], needle))
			return true;
	return false;
}

static inline int bound_port(struct evhttp_bound_socket *s)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(s);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

static inline void url_of(char *buf, size_t cap, int port)
{
	snprintf(buf, cap, "http://127.0.0.1:%d", port);
}

/* Starts an HTTP listener on 127.0.0.1:@port (0: any) and a transport. */
static inline void node_start(struct node *nd, raft_id id, const char *token,
			      const struct transport_limits *lim, int port,
			      const char *source)
{
	struct transport_options o;
	struct evhttp_bound_socket *s;
	char curl[64], purl[64];

	memset(nd, 0, sizeof(*nd));
	nd->id = id;
	nd->http = evhttp_new(base);
	ck_assert_ptr_nonnull(nd->http);
	s = evhttp_bind_socket_with_handle(nd->http, "127.0.0.1",
					   (ev_uint16_t)port);
	ck_assert_ptr_nonnull(s);
	nd->port = bound_port(s);
	evhttp_set_timeout(nd->http, 120);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", 9000 + (int)id);
	memset(&o, 0, sizeof(o));
	o.self = id;
	o.source_host = source ? source : "127.0.0.1";
	o.client_url = curl;
	url_of(purl, sizeof(purl), nd->port);
	o.peer_url = purl;
	o.token = token;
	if (lim)
		o.limits = *lim;
	if (!use_streams)
		o.limits.force_posts = true;
	o.seed = id;
	o.on_messages = on_messages;
	o.log = on_log;
	o.on_round_trip = on_rtt;
	o.ctx = nd;
	ck_assert_int_eq(transport_new(base, &o, &nd->t), TRANSPORT_OK);
	ck_assert_int_eq(transport_attach(nd->t, nd->http), TRANSPORT_OK);
}

static inline void node_free_msgs(struct node *nd)
{
	for (size_t i = 0; i < nd->n; i++) {
		for (size_t j = 0; j < nd->msgs[i].n_entries; j++)
			free(nd->msgs[i].entries[j].data);
		free(nd->msgs[i].entries);
	}
	free(nd->msgs);
	nd->msgs = NULL;
	nd->n = nd->cap = 0;
}

static inline void node_stop(struct node *nd)
{
	transport_free(nd->t);
	evhttp_free(nd->http);
	nd->t = NULL;
	nd->http = NULL;
	node_free_msgs(nd);
}

static inline void add_peer(struct node *from, const struct node *to)
{
	char url[64];

	url_of(url, sizeof(url), to->port);
	ck_assert_int_eq(transport_add_peer(from->t, to->id, url),
			 TRANSPORT_OK);
}

static inline struct raft_msg heartbeat(raft_id from, raft_id to, uint64_t ctx)
{
	struct raft_msg m = {
	    .type = RAFT_MSG_HEARTBEAT,
	    .from = from,
	    .to = to,
	    .term = 7,
	    .commit = ctx * 2,
	    .context = ctx,
	};
	return m;
}

struct count_goal {
	const struct node *nd;
	size_t n;
};

static inline bool has_n(void *arg)
{
	struct count_goal *g = arg;

	return g->nd->n >= g->n;
}

static inline void wait_received(const struct node *nd, size_t n)
{
	struct count_goal g = {nd, n};

	ck_assert_msg(loop_run_until(base, has_n, &g, 10000),
		      "node %" PRIu64 " got %zu of %zu messages", nd->id, nd->n,
		      n);
}

struct stat_goal {
	const struct node *nd;
	raft_id peer;
	uint64_t errors, sent;
};

static inline bool peer_reached(void *arg)
{
	struct stat_goal *g = arg;
	struct transport_peer_stats ps;

	ck_assert_int_eq(transport_peer_stats(g->nd->t, g->peer, &ps),
			 TRANSPORT_OK);
	return ps.errors >= g->errors && ps.msgs_sent >= g->sent;
}

static inline void wait_peer(const struct node *nd, raft_id peer,
			     uint64_t errors, uint64_t sent)
{
	struct stat_goal g = {nd, peer, errors, sent};

	ck_assert_msg(loop_run_until(base, peer_reached, &g, 10000),
		      "peer %" PRIu64 " never reached errors>=%" PRIu64
		      " sent>=%" PRIu64,
		      peer, errors, sent);
}

/* ---- raw HTTP requests, for what a transport never sends ---- */

struct raw_result {
	bool done;
	int code;
};

static inline void raw_done(struct evhttp_request *req, void *arg)
{
	struct raw_result *r = arg;

	r->done = true;
	r->code = req ? evhttp_request_get_response_code(req) : 0;
}

static inline bool raw_is_done(void *arg)
{
	return ((struct raw_result *)arg)->done;
}

/* Sends one request; @hdrs is NULL or name, value, ..., NULL. Returns the
 * status (0: no answer). */
static inline int raw_request(int port, enum evhttp_cmd_type cmd,
			      const void *body, size_t len,
			      const char *const *hdrs)
{
	struct evhttp_connection *c = evhttp_connection_base_new(
	    base, NULL, "127.0.0.1", (ev_uint16_t)port);
	struct raw_result r = {0};
	struct evhttp_request *req = evhttp_request_new(raw_done, &r);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_connection_set_retries(c, 0);
	evhttp_add_header(h, "Host", "127.0.0.1");
	for (size_t i = 0; hdrs && hdrs[i]; i += 2)
		evhttp_add_header(h, hdrs[i], hdrs[i + 1]);
	if (len)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	ck_assert_int_eq(evhttp_make_request(c, req, cmd, TRANSPORT_PATH), 0);
	ck_assert(loop_run_until(base, raw_is_done, &r, 10000));
	evhttp_connection_free(c);
	return r.code;
}

static inline uint8_t *encode(const struct raft_msg *msgs, size_t n,
			      size_t *len)
{
	uint8_t *body;

	ck_assert_int_eq(msg_codec_encode_batch(msgs, n, NULL, &body, len),
			 MSG_CODEC_OK);
	return body;
}

static inline void setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static inline void teardown(void)
{
	event_base_free(base);
	base = NULL;
}

/* ---- a raw connection, for what a transport never sends ---- */

struct raw_conn {
	int fd;
	char got[4096];
	size_t n;
	bool closed;
};

static inline void raw_connect(struct raw_conn *rc, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};

	memset(rc, 0, sizeof(*rc));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(rc->fd, 0);
	ck_assert_int_eq(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(rc->fd), 0);
}

static inline void raw_send(struct raw_conn *rc, const void *buf, size_t len)
{
	ck_assert_int_eq(send(rc->fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads what has arrived; true once a whole answer head is in. */
static inline bool raw_answered(void *arg)
{
	struct raw_conn *rc = arg;
	ssize_t r = -1;

	while (rc->n < sizeof(rc->got) - 1 &&
	       (r = recv(rc->fd, rc->got + rc->n, sizeof(rc->got) - 1 - rc->n,
			 0)) > 0)
		rc->n += (size_t)r;
	if (r == 0)
		rc->closed = true;
	rc->got[rc->n] = '\0';
	return strstr(rc->got, "\r\n\r\n") != NULL;
}

static inline bool raw_closed(void *arg)
{
	struct raw_conn *rc = arg;

	(void)raw_answered(rc);
	return rc->closed;
}

#endif /* TESTS_TRANSPORT_TRANSPORT_FIXTURE_H_ */
