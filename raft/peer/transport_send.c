/* transport_send.c - the sending side of the peer transport: peers and
 * their lanes (one connection each, at most one POST in flight), batching
 * of queued messages into bodies, and the backoff after a failed POST. */
#include "transport.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "clock.h"
#include "frame.h"
#include "tls.h"
#include "transport_internal.h"

/* xorshift64*: jitter only, no security use. */
static uint64_t rng_next(struct transport *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void chunk_free(struct chunk *c)
{
	if (c->buf)
		evbuffer_free(c->buf);
	free(c);
}

static void lane_clear(struct lane *ln)
{
	struct chunk *c, *next;

	if (ln->kick)
		event_free(ln->kick);
	/* Frees queued requests without calling their callbacks. */
	if (ln->conn)
		evhttp_connection_free(ln->conn);
	for (c = ln->head; c; c = next) {
		next = c->next;
		chunk_free(c);
	}
	ln->kick = NULL;
	ln->conn = NULL;
	ln->head = ln->tail = NULL;
}

void transport__peer_free(struct peer *p)
{
	for (int i = 0; i < N_LANES; i++)
		lane_clear(&p->lanes[i]);
	free(p);
}

/* Splits a peer URL (transport.h); @why says why it refuses. */
int transport_parse_url(const char *url, char *host, size_t host_cap, int *port,
			const char **why)
{
	struct evhttp_uri *u;
	const char *scheme, *h, *path;
	size_t hl;
	int rc = TRANSPORT_EURL;

	*why = "not a URL";
	if (url == NULL || strlen(url) >= TRANSPORT_MAX_URL) {
		*why = "missing or too long";
		return TRANSPORT_EURL;
	}
	u = evhttp_uri_parse(url);
	if (u == NULL)
		return TRANSPORT_EURL;
	scheme = evhttp_uri_get_scheme(u);
	h = evhttp_uri_get_host(u);
	path = evhttp_uri_get_path(u);
	if (scheme == NULL || (strcasecmp(scheme, "http") != 0 &&
			       strcasecmp(scheme, "https") != 0)) {
		*why = "scheme is not http or https";
		goto out;
	}
	if (h == NULL || h[0] == '\0') {
		*why = "no host";
		goto out;
	}
	if (evhttp_uri_get_port(u) <= 0 || evhttp_uri_get_port(u) > 65535) {
		*why = "no port";
		goto out;
	}
	if (evhttp_uri_get_userinfo(u) || evhttp_uri_get_query(u) ||
	    evhttp_uri_get_fragment(u) ||
	    (path && path[0] && strcmp(path, "/") != 0)) {
		*why = "only http://host:port is allowed (no path, query, "
		       "user or fragment)";
		goto out;
	}
	hl = strlen(h);
	if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= host_cap) {
		*why = "host too long";
		goto out;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = evhttp_uri_get_port(u);
	rc = TRANSPORT_OK;
out:
	evhttp_uri_free(u);
	return rc;
}

static void lane_kick_cb(evutil_socket_t fd, short what, void *arg);

/* Turns Nagle's algorithm off on the lane's socket. A POST is written as
 * headers then body; with Nagle on, the body's small tail waits for the
 * peer's delayed ACK (about 40 ms), which caps a lane at a few dozen POSTs
 * a second and with it the cluster's write rate. evhttp makes a new socket
 * on every reconnect (and fd numbers are reused, so the number cannot tell
 * one socket from the next): it is set after a request is queued on a
 * socket that may be new, which is after every close or failure
 * (ln->nodelay_on cleared), and not again while the socket lasts. The
 * socket exists by then: evhttp_make_request() connects synchronously. */
static void lane_set_nodelay(struct lane *ln)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(ln->conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (ln->nodelay_on || fd < 0)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		ln->nodelay_on = true;
}

/* evhttp closed the lane's connection (or it is being freed, or makes a
 * new one in its place): what the peer proved was proven on the closed
 * one (transport_hello.c), and over TLS the next POST takes a new
 * connection. evhttp has one close callback per connection: this one. */
static void lane_conn_closed(struct evhttp_connection *conn, void *arg)
{
	struct lane *ln = arg;

	(void)conn;
	ln->conn_gen++;
	ln->renew = true;
	ln->nodelay_on = false;
}

/* Makes the lane's connection to its peer. Over TLS, the connection's SSL
 * belongs to the context it was made from: were evhttp to reconnect with
 * it, a certificate reloaded since (SIGHUP) would never be presented, and
 * the old session's state would be carried over. So a connection that
 * closed is made anew before the next POST (lane_flush()), with a new SSL
 * from the current context. Open connections stay: a handshake per POST
 * would cost more than the POST. */
static int lane_connect(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	struct bufferevent *bev = NULL;
	struct timeval tv;

	if (t->tls_client != NULL) {
		bev = tls_client_bev(t->tls_client, t->base, p->host);
		if (bev == NULL)
			return TRANSPORT_ENOMEM;
	}
	ln->conn = evhttp_connection_base_bufferevent_new(
	    t->base, NULL, bev, p->host, (ev_uint16_t)p->port);
	if (ln->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return TRANSPORT_ENOMEM;
	}
	if (t->source_host)
		evhttp_connection_set_local_address(ln->conn, t->source_host);
	tv = clock_ms_to_timeval(t->lim.request_timeout_ms);
	evhttp_connection_set_timeout_tv(ln->conn, &tv);
	/* Our own backoff decides when to try again, never evhttp. */
	evhttp_connection_set_retries(ln->conn, 0);
	evhttp_connection_set_closecb(ln->conn, lane_conn_closed, ln);
	ln->renew = false;
	ln->nodelay_on = false;
	return TRANSPORT_OK;
}

/* Over TLS, replaces a connection that closed or failed by a new one
 * (lane_connect()); nothing to do otherwise. */
static int lane_renew(struct lane *ln)
{
	if (!ln->renew || ln->peer->t->tls_client == NULL)
		return TRANSPORT_OK;
	if (ln->conn != NULL)
		evhttp_connection_free(ln->conn);
	ln->conn = NULL;
	return lane_connect(ln);
}

static int lane_init(struct transport *t, struct peer *p, struct lane *ln,
		     enum lane_kind kind)
{
	int rc;

	ln->peer = p;
	ln->kind = kind;
	rc = lane_connect(ln);
	if (rc != TRANSPORT_OK)
		return rc;
	ln->kick = evtimer_new(t->base, lane_kick_cb, ln);
	if (ln->kick == NULL)
		return TRANSPORT_ENOMEM;
	return TRANSPORT_OK;
}

int transport_add_peer(struct transport *t, raft_id id, const char *peer_url)
{
	char host[TRANSPORT_MAX_URL];
	const char *why;
	struct peer *p;
	int port, rc;

	if (t == NULL || id == 0 || id == t->self)
		return TRANSPORT_EINVAL;
	if (transport__find_peer(t, id, NULL))
		return TRANSPORT_EEXIST;
	rc = transport_parse_url(peer_url, host, sizeof(host), &port, &why);
	if (rc != TRANSPORT_OK) {
		transport__log(t, TRANSPORT_LOG_ERROR,
			       "peer %" PRIu64 ": bad peer URL \"%.200s\": %s",
			       id, peer_url ? peer_url : "(null)", why);
		return rc;
	}
	if (t->n_peers == t->cap_peers) {
		size_t cap = t->cap_peers ? 2 * t->cap_peers : 8;
		struct peer **np = realloc(t->peers, cap * sizeof(*np));

		if (np == NULL)
			return TRANSPORT_ENOMEM;
		t->peers = np;
		t->cap_peers = cap;
	}
	if (transport_url_https(peer_url) != (t->tls_client != NULL)) {
		transport__log(t, TRANSPORT_LOG_ERROR,
			       "peer %" PRIu64 ": bad peer URL \"%.200s\": %s",
			       id, peer_url,
			       t->tls_client != NULL
				   ? "peer TLS is on: https:// only"
				   : "https:// needs peer TLS");
		return TRANSPORT_EURL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return TRANSPORT_ENOMEM;
	p->t = t;
	p->id = id;
	snprintf(p->url, sizeof(p->url), "%s", peer_url);
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->port = port;
	if (strchr(host, ':'))
		snprintf(p->host_header, sizeof(p->host_header), "[%s]:%d",
			 host, port);
	else
		snprintf(p->host_header, sizeof(p->host_header), "%s:%d", host,
			 port);
	for (int i = 0; i < N_LANES; i++) {
		rc = lane_init(t, p, &p->lanes[i], (enum lane_kind)i);
		if (rc != TRANSPORT_OK) {
			transport__peer_free(p);
			return rc;
		}
	}
	t->peers[t->n_peers++] = p;
	transport__log(t, TRANSPORT_LOG_INFO, "peer %" PRIu64 " added at %s",
		       id, p->url);
	return TRANSPORT_OK;
}

int transport_remove_peer(struct transport *t, raft_id id)
{
	struct peer *p;
	size_t pos;

	if (t == NULL)
		return TRANSPORT_EINVAL;
	p = transport__find_peer(t, id, &pos);
	if (p == NULL)
		return TRANSPORT_ENOPEER;
	/* What was queued or in flight is lost with the peer. */
	p->c.msgs_dropped += p->queued_msgs;
	for (int i = 0; i < N_LANES; i++)
		p->c.msgs_dropped += p->lanes[i].inflight_msgs;
	transport__counters_add(&t->removed, &p->c);
	memmove(&t->peers[pos], &t->peers[pos + 1],
		(t->n_peers - pos - 1) * sizeof(t->peers[0]));
	t->n_peers--;
	transport__log(t, TRANSPORT_LOG_INFO, "peer %" PRIu64 " removed", id);
	transport__peer_free(p);
	return TRANSPORT_OK;
}

/* Large appends and proposals go on the data lane; everything small and
 * latency-sensitive (heartbeats, votes, responses) on the control lane. */
static enum lane_kind lane_for(const struct raft_msg *m)
{
	if ((m->type == RAFT_MSG_APPEND && m->n_entries > 0) ||
	    m->type == RAFT_MSG_PROPOSE)
		return LANE_DATA;
	return LANE_CONTROL;
}

static void lane_kick_now(struct lane *ln)
{
	if (!ln->inflight && !ln->backing_off)
		event_active(ln->kick, EV_TIMEOUT, 1);
}

static bool has_large_entry(const struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entries[i].len >= SHARE_MIN_BYTES)
			return true;
	return false;
}

/* Appends @m (checked, @size encoded bytes) to @buf as one copy. */
static int encode_copying(struct transport *t, struct evbuffer *buf,
			  const struct raft_msg *m, size_t size)
{
	struct evbuffer_iovec vec;
	size_t w;

	if (evbuffer_reserve_space(buf, (ev_ssize_t)size, &vec, 1) < 1 ||
	    vec.iov_len < size)
		return TRANSPORT_ENOMEM;
	if (msg_codec_encode(m, &t->lim.codec, vec.iov_base, vec.iov_len, &w) !=
	    MSG_CODEC_OK)
		return TRANSPORT_EMSG; /* checked by the caller */
	vec.iov_len = w;
	if (evbuffer_commit_space(buf, &vec, 1) != 0)
		return TRANSPORT_ENOMEM;
	return TRANSPORT_OK;
}

/* Appends @m (checked) to @buf with its large entry frames shared with
 * other peers' bodies (transport_share.h). The message is built apart and
 * moved to @buf whole (evbuffer_add_buffer moves, it does not copy), so a
 * failure leaves @buf as it was. */
static int encode_sharing(struct transport *t, struct evbuffer *buf,
			  const struct raft_msg *m)
{
	uint8_t head[MSG_CODEC_HEAD_SIZE];
	struct evbuffer *one;
	int rc = TRANSPORT_OK;

	if (msg_codec_encode_head(m, &t->lim.codec, head, sizeof(head)) !=
	    MSG_CODEC_OK)
		return TRANSPORT_EMSG; /* checked by the caller */
	one = evbuffer_new();
	if (one == NULL || evbuffer_add(one, head, sizeof(head)) != 0)
		rc = TRANSPORT_ENOMEM;
	for (size_t i = 0; rc == TRANSPORT_OK && i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		struct evbuffer_iovec vec;

		if (e->len >= SHARE_MIN_BYTES) {
			if (share_cache_append(t->share, one, e,
					       &t->frames_encoded,
					       &t->frames_shared) != 0)
				rc = TRANSPORT_ENOMEM;
			continue;
		}
		if (evbuffer_reserve_space(one, (ev_ssize_t)frame_size(e->len),
					   &vec, 1) < 1 ||
		    vec.iov_len < frame_size(e->len)) {
			rc = TRANSPORT_ENOMEM;
			continue;
		}
		vec.iov_len = frame_encode(vec.iov_base, e->type, e->term,
					   e->index, e->data, e->len);
		if (evbuffer_commit_space(one, &vec, 1) != 0)
			rc = TRANSPORT_ENOMEM;
	}
	if (rc == TRANSPORT_OK && evbuffer_add_buffer(buf, one) != 0)
		rc = TRANSPORT_ENOMEM;
	if (one != NULL)
		evbuffer_free(one);
	return rc;
}

int transport_send(struct transport *t, const struct raft_msg *m)
{
	struct peer *p;
	struct lane *ln;
	struct chunk *c;
	size_t size;
	int rc;

	if (t == NULL || m == NULL)
		return TRANSPORT_EINVAL;
	p = transport__find_peer(t, m->to, NULL);
	if (p == NULL)
		return TRANSPORT_ENOPEER;
	/* A receiver refuses it (400): the snapshot's file travels apart. */
	if (m->from != t->self || m->type == RAFT_MSG_SNAPSHOT)
		return TRANSPORT_EMSG;
	rc = msg_codec_check(m, &t->lim.codec);
	if (rc == MSG_CODEC_ETOO_LARGE)
		return TRANSPORT_ETOO_LARGE;
	if (rc != MSG_CODEC_OK)
		return TRANSPORT_EMSG;
	size = msg_codec_size(m);
	if (p->queued_msgs + 1 > t->lim.max_queued_msgs ||
	    p->queued_bytes + size > t->lim.max_queued_bytes) {
		p->msgs_refused++;
		p->c.msgs_dropped++;
		if (m->type == RAFT_MSG_HEARTBEAT)
			p->c.heartbeat_failures++;
		return TRANSPORT_EFULL;
	}

	ln = &p->lanes[lane_for(m)];
	c = ln->tail;
	if (c == NULL || c->msgs >= t->lim.codec.max_msgs ||
	    evbuffer_get_length(c->buf) + size > t->lim.batch_bytes) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return TRANSPORT_ENOMEM;
		c->buf = evbuffer_new();
		if (c->buf == NULL) {
			free(c);
			return TRANSPORT_ENOMEM;
		}
		if (ln->tail)
			ln->tail->next = c;
		else
			ln->head = c;
		ln->tail = c;
	}
	rc = has_large_entry(m) ? encode_sharing(t, c->buf, m)
				: encode_copying(t, c->buf, m, size);
	if (rc != TRANSPORT_OK)
		return rc;
	c->msgs++;
	if (m->type == RAFT_MSG_HEARTBEAT)
		c->heartbeat = true;
	p->queued_msgs++;
	p->queued_bytes += size;
	lane_kick_now(ln);
	return TRANSPORT_OK;
}

static const char *lane_name(const struct lane *ln)
{
	return ln->kind == LANE_DATA ? "data" : "control";
}

/* A POST failed: drop its messages and those queued behind it (Raft
 * retransmits, and they would be stale by the time the peer answers), then
 * wait a jittered, doubling delay before the lane's next POST. A dead peer
 * so costs one attempt and at most one backoff period of queued messages
 * per period, and never a busy loop. */
static void lane_failed(struct lane *ln, const char *why)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	uint64_t now = clock_now_ms(), delay;
	struct timeval tv;
	struct chunk *c;

	ln->inflight = false;
	ln->used = true;
	ln->up = false;
	ln->renew = true; /* over TLS, the next POST takes a new connection */
	ln->nodelay_on = false; /* and over plain HTTP a new socket */
	p->c.errors++;
	p->c.msgs_dropped += ln->inflight_msgs;
	/* One per body, as etcd counts heartbeat send failures: the lines
	 * about the peer's trouble are the rate-limited one below. */
	if (ln->inflight_heartbeat)
		p->c.heartbeat_failures++;
	ln->inflight_msgs = ln->inflight_bytes = 0;
	ln->inflight_heartbeat = false;
	while ((c = ln->head) != NULL) {
		ln->head = c->next;
		p->c.msgs_dropped += c->msgs;
		if (c->heartbeat)
			p->c.heartbeat_failures++;
		p->queued_msgs -= c->msgs;
		p->queued_bytes -= evbuffer_get_length(c->buf);
		chunk_free(c);
	}
	ln->tail = NULL;
	p->failures_in_row++;
	snprintf(p->last_error, sizeof(p->last_error), "%s lane: %s",
		 lane_name(ln), why);

	if (p->last_log_ms == 0 ||
	    now - p->last_log_ms >= t->lim.log_interval_ms) {
		transport__log(
		    t, TRANSPORT_LOG_WARN,
		    "peer %" PRIu64 " (%s): POST failed on the %s lane: %s"
		    " (%" PRIu64 " similar lines suppressed)",
		    p->id, p->url, lane_name(ln), why, p->suppressed);
		p->last_log_ms = now;
		p->suppressed = 0;
	} else {
		p->suppressed++;
	}

	if (ln->backoff_ms == 0)
		ln->backoff_ms = t->lim.backoff_min_ms;
	else if (ln->backoff_ms > t->lim.backoff_max_ms / 2)
		ln->backoff_ms = t->lim.backoff_max_ms;
	else
		ln->backoff_ms *= 2;
	/* Uniform in [backoff/2, backoff]: peers that failed together do not
	 * retry in lockstep. */
	delay = ln->backoff_ms / 2 + rng_next(t) % (ln->backoff_ms / 2 + 1);
	tv = clock_ms_to_timeval(delay);
	ln->backing_off = true;
	evtimer_add(ln->kick, &tv);
}

static void lane_error_cb(enum evhttp_request_error err, void *arg)
{
	struct lane *ln = arg;
	const char *s;

	switch (err) {
	case EVREQ_HTTP_TIMEOUT:
		s = "timeout";
		break;
	case EVREQ_HTTP_EOF:
		s = "connection closed";
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		s = "invalid response header";
		break;
	case EVREQ_HTTP_BUFFER_ERROR:
		s = "connection error";
		break;
	case EVREQ_HTTP_REQUEST_CANCEL:
		s = "cancelled";
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		s = "response too long";
		break;
	default:
		s = "unknown error";
		break;
	}
	snprintf(ln->err, sizeof(ln->err), "%s", s);
}

static void lane_done_cb(struct evhttp_request *req, void *arg)
{
	struct lane *ln = arg;
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	char why[128];

	if (!ln->inflight)
		return;
	if (code >= 200 && code < 300) {
		if (t->on_round_trip != NULL)
			t->on_round_trip(t->ctx, p->id,
					 clock_now_seconds() - ln->sent_at);
		ln->inflight = false;
		ln->used = true;
		ln->up = true;
		ln->backoff_ms = 0;
		p->c.posts_sent++;
		p->c.msgs_sent += ln->inflight_msgs;
		p->c.bytes_sent += ln->inflight_bytes;
		ln->inflight_msgs = ln->inflight_bytes = 0;
		ln->inflight_heartbeat = false;
		if (p->failures_in_row > 0) {
			transport__log(t, TRANSPORT_LOG_INFO,
				       "peer %" PRIu64
				       " (%s) reachable again after %" PRIu64
				       " failed POSTs",
				       p->id, p->url, p->failures_in_row);
			p->failures_in_row = 0;
			p->last_log_ms = 0;
		}
		/* Whatever queued meanwhile goes out as the next POST, from
		 * the loop rather than from inside evhttp's callback. */
		if (ln->head)
			lane_kick_now(ln);
		return;
	}
	if (code != 0)
		snprintf(why, sizeof(why), "HTTP %d %.80s", code,
			 evhttp_request_get_response_code_line(req)
			     ? evhttp_request_get_response_code_line(req)
			     : "");
	else if (ln->err[0])
		snprintf(why, sizeof(why), "%s", ln->err);
	else
		snprintf(why, sizeof(why), "connection failed");
	lane_failed(ln, why);
}

/* Sends the first queued chunk as one POST, if the lane is free. */
static void lane_flush(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	struct chunk *c = ln->head;
	size_t bytes;

	if (ln->inflight || ln->backing_off || c == NULL)
		return;
	if (lane_renew(ln) != TRANSPORT_OK) {
		lane_failed(ln, "cannot connect: out of memory");
		return;
	}
	/* Nothing with the token goes to an address that has not proven it
	 * holds the token too (transport_hello.c). */
	if (transport__hello_needed(ln)) {
		transport__hello_start(ln);
		return;
	}
	req = evhttp_request_new(lane_done_cb, ln);
	if (req == NULL) {
		lane_failed(ln, "out of memory");
		return;
	}
	evhttp_request_set_error_cb(req, lane_error_cb);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", p->host_header) ||
	    evhttp_add_header(h, "Content-Type", "application/octet-stream") ||
	    evhttp_add_header(h, TRANSPORT_HEADER_FROM, t->self_str) ||
	    (t->client_url && evhttp_add_header(h, TRANSPORT_HEADER_CLIENT_URL,
						t->client_url)) ||
	    (t->peer_url &&
	     evhttp_add_header(h, TRANSPORT_HEADER_PEER_URL, t->peer_url)) ||
	    (t->token &&
	     evhttp_add_header(h, TRANSPORT_HEADER_TOKEN, t->token))) {
		evhttp_request_free(req);
		lane_failed(ln, "out of memory");
		return;
	}
	bytes = evbuffer_get_length(c->buf);
	if (evbuffer_add_buffer(evhttp_request_get_output_buffer(req),
				c->buf) != 0) {
		evhttp_request_free(req);
		lane_failed(ln, "out of memory");
		return;
	}
	ln->head = c->next;
	if (ln->head == NULL)
		ln->tail = NULL;
	p->queued_msgs -= c->msgs;
	p->queued_bytes -= bytes;
	ln->inflight = true;
	ln->inflight_msgs = c->msgs;
	ln->inflight_bytes = bytes;
	ln->inflight_heartbeat = c->heartbeat;
	ln->err[0] = '\0';
	chunk_free(c);
	ln->sent_at = clock_now_seconds();
	if (evhttp_make_request(ln->conn, req, EVHTTP_REQ_POST,
				TRANSPORT_PATH) != 0) {
		/* evhttp freed the request; a synchronous callback may
		 * already have counted the failure. */
		if (ln->inflight)
			lane_failed(ln,
				    ln->err[0] ? ln->err : "cannot connect");
		return;
	}
	lane_set_nodelay(ln);
}

static void lane_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *ln = arg;

	(void)fd;
	(void)what;
	ln->backing_off = false;
	lane_flush(ln);
}

void transport__lane_failed(struct lane *ln, const char *why)
{
	lane_failed(ln, why);
}

void transport__lane_kick(struct lane *ln)
{
	lane_kick_now(ln);
}

void transport__lane_error_cb(enum evhttp_request_error err, void *arg)
{
	lane_error_cb(err, arg);
}
