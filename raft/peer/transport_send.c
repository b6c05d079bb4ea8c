/* transport_send.c - the sending side of the peer transport: peers and
 * their lanes (one connection each, one POST in flight, or several to a
 * far peer), batching of queued messages into bodies, and the backoff
 * after a failed POST. */
#include "transport.h"

#include <assert.h>
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
#include "lane_conn.h"
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
	if (ln->ping_ev)
		event_free(ln->ping_ev);
	/* Frees the requests in flight without calling their callbacks. */
	lane_conn_free(ln->conn);
	for (c = ln->head; c; c = next) {
		next = c->next;
		chunk_free(c);
	}
	free(ln->posts);
	ln->kick = NULL;
	ln->ping_ev = NULL;
	ln->conn = NULL;
	ln->posts = NULL;
	ln->head = ln->tail = NULL;
}

void transport__peer_free(struct peer *p)
{
	for (int i = 0; i < N_LANES; i++)
		lane_clear(&p->lanes[i]);
	free(p->post_head);
	free(p->stream_head);
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

_Static_assert(TRANSPORT_MAX_INFLIGHT_POSTS <= LANE_CONN_MAX_INFLIGHT,
	       "a lane_conn takes max_inflight_posts requests");

static void lane_answer_cb(void *arg, const struct lane_answer *a,
			   const char *err);

/* Makes the lane's connection to its peer (lane_conn.h), in place of one
 * that failed or closed. Over TLS, a connection's SSL belongs to the
 * context it was made from: a connection kept across reconnects would
 * never present a certificate reloaded since (SIGHUP), and would carry
 * the old session's state over. So every connection that closed is made
 * anew before the next POST, with a new SSL from the current context.
 * Open connections stay: a handshake per POST would cost more than the
 * POST. TCP_NODELAY is set once on each new socket (lane_conn.c says
 * why). */
static int lane_connect(struct lane *ln, char *err, size_t errlen)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	struct lane_conn_options o = {
	    .base = t->base,
	    .host = p->host,
	    .port = p->port,
	    .source_host = t->source_host,
	    .tls = t->tls_client,
	    .timeout_ms = t->lim.request_timeout_ms,
	    .max_inflight = t->lim.max_inflight_posts,
	    .max_answer_bytes = LANE_MAX_ANSWER_BYTES,
	    .on_close = transport__lane_conn_closed,
	    .close_arg = ln,
	};
	int rc;

	lane_conn_free(ln->conn);
	ln->conn = NULL;
	/* What the peer proved, it proved on the old connection. */
	ln->proven = false;
	transport__stream_reset(ln);
	rc = lane_conn_new(&o, &ln->conn, err, errlen);
	if (rc != LANE_CONN_OK && err[0] == '\0')
		snprintf(err, errlen, "cannot connect: %s",
			 lane_conn_strerror(rc));
	return rc == LANE_CONN_OK ? 0 : -1;
}

static int lane_init(struct transport *t, struct peer *p, struct lane *ln,
		     enum lane_kind kind)
{
	ln->peer = p;
	ln->kind = kind;
	rtt_window_init(&ln->rtt, LANE_RTT_WINDOW_S);
	/* Connected on the first POST (lane_flush()). */
	ln->posts = calloc(t->lim.max_inflight_posts, sizeof(*ln->posts));
	ln->kick = evtimer_new(t->base, lane_kick_cb, ln);
	ln->ping_ev = evtimer_new(t->base, transport__stream_ping_cb, ln);
	if (ln->posts == NULL || ln->kick == NULL || ln->ping_ev == NULL)
		return TRANSPORT_ENOMEM;
	return TRANSPORT_OK;
}

/* The head of every POST to @p but its Content-Length (struct peer). The
 * values were checked printable (no CR or LF) by transport_new(). */
static int peer_post_head(struct transport *t, struct peer *p)
{
	size_t cap = 512 + strlen(p->host_header) +
		     (t->client_url ? strlen(t->client_url) : 0) +
		     (t->peer_url ? strlen(t->peer_url) : 0) + t->token_len;
	int n;

	p->post_head = malloc(cap);
	if (p->post_head == NULL)
		return TRANSPORT_ENOMEM;
	n = snprintf(p->post_head, cap,
		     "POST " TRANSPORT_PATH " HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/octet-stream\r\n"
		     "%s: %s\r\n%s%s%s%s%s%s%s%s%s",
		     p->host_header, TRANSPORT_HEADER_FROM, t->self_str,
		     t->client_url ? TRANSPORT_HEADER_CLIENT_URL ": " : "",
		     t->client_url ? t->client_url : "",
		     t->client_url ? "\r\n" : "",
		     t->peer_url ? TRANSPORT_HEADER_PEER_URL ": " : "",
		     t->peer_url ? t->peer_url : "", t->peer_url ? "\r\n" : "",
		     t->token ? TRANSPORT_HEADER_TOKEN ": " : "",
		     t->token ? t->token : "", t->token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return TRANSPORT_ENOMEM;
	p->post_head_len = (size_t)n;
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
	rc = peer_post_head(t, p);
	if (rc == TRANSPORT_OK)
		rc = transport__stream_head(p);
	for (int i = 0; rc == TRANSPORT_OK && i < N_LANES; i++)
		rc = lane_init(t, p, &p->lanes[i], (enum lane_kind)i);
	if (rc != TRANSPORT_OK) {
		transport__peer_free(p);
		return rc;
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

/* The least time between two POSTs of a pipelining lane (unless
 * pipelining is forced): a peer a few ms away would otherwise get a POST
 * every fraction of a ms. */
#define LANE_MIN_SPACING_S 0.001

/* Whether the lane's round trips say its peer is far: the smallest of
 * its answers' of the last 5 to 10 s is at least pipeline_rtt_ms. The
 * smallest, because the others include the time the peer took for the
 * POSTs ahead of them, and over seconds, because on a machine whose CPUs
 * are all busy every round trip to a near peer may take a few ms for a
 * while: a busy near peer is not a far one (and pipelining to it would
 * make it busier). *@min_s: that round trip (0 when none is known). */
static bool lane_pipelining(const struct lane *ln, double *min_s)
{
	const struct transport_limits *l = &ln->peer->t->lim;
	double min = rtt_window_min(&ln->rtt);

	*min_s = min > 0 ? min : 0;
	if (l->max_inflight_posts <= 1)
		return false;
	if (l->pipeline_rtt_ms < 0)
		return true;
	return min >= 0 && min * 1000.0 >= (double)l->pipeline_rtt_ms;
}

/* Whether the lane may write its next POST now: nothing in flight, or,
 * to a far peer, fewer than max_inflight_posts and no hello (nothing goes
 * out on a connection before its hello is answered), and the newest POST
 * written at least RTT / max_inflight_posts ago, and at least
 * LANE_MIN_SPACING_S ago. That spacing spreads the POSTs of a round trip
 * evenly: without it, every loop turn with a message queued would write a
 * POST of its own, and tiny POSTs cost the receiver (and the answers they
 * make, the sender) a request each for the same messages. When only the
 * spacing holds the lane back, *@wait_s says for how long (else 0). */
static bool lane_may_send(const struct lane *ln, double *wait_s)
{
	const struct transport_limits *l = &ln->peer->t->lim;
	double min, gap, since;

	*wait_s = 0;
	if (ln->backing_off)
		return false;
	if (ln->inflight == 0)
		return true;
	if (ln->hello || ln->opening || ln->inflight >= l->max_inflight_posts ||
	    !lane_pipelining(ln, &min))
		return false;
	gap = min / (double)l->max_inflight_posts;
	if (l->pipeline_rtt_ms > 0 && gap < LANE_MIN_SPACING_S)
		gap = LANE_MIN_SPACING_S;
	since =
	    clock_now_seconds() - ln->posts[(ln->post_head + ln->inflight - 1) %
					    l->max_inflight_posts]
				      .sent_at;
	if (since >= gap)
		return true;
	*wait_s = gap - since;
	return false;
}

/* Sends from the loop: now when the lane may, else after the spacing
 * (lane_may_send()) when only that holds it back; otherwise an answer or
 * the backoff's end kicks it again. */
static void lane_kick_now(struct lane *ln)
{
	double wait_s;

	if (lane_may_send(ln, &wait_s)) {
		event_active(ln->kick, EV_TIMEOUT, 1);
	} else if (wait_s > 0 && !evtimer_pending(ln->kick, NULL)) {
		struct timeval tv = {
		    .tv_sec = 0,
		    .tv_usec = (suseconds_t)(wait_s * 1e6) + 1,
		};

		evtimer_add(ln->kick, &tv);
	}
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
	bool stream = ln->streaming;

	ln->used = true;
	ln->up = false;
	/* Every request in flight is lost with the connection (the failed
	 * one first): the next POST takes a new connection (with TLS, a new
	 * SSL). Freed from its own callback, the connection calls no more
	 * of them. */
	lane_conn_free(ln->conn);
	ln->conn = NULL;
	ln->proven = false;
	ln->hello = false;
	transport__stream_reset(ln);
	p->c.errors += ln->inflight > 0 ? ln->inflight : 1;
	p->c.msgs_dropped += ln->inflight_msgs;
	while (ln->inflight > 0) {
		struct post r = transport__lane_pop(ln);

		/* One per body, as etcd counts heartbeat send failures: the
		 * lines about the peer's trouble are the rate-limited one
		 * below. */
		if (r.heartbeat)
			p->c.heartbeat_failures++;
	}
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
		transport__log(t, TRANSPORT_LOG_WARN,
			       "peer %" PRIu64
			       " (%s): %s failed on the %s lane: %s"
			       " (%" PRIu64 " similar lines suppressed)",
			       p->id, p->url, stream ? "stream" : "POST",
			       lane_name(ln), why, p->suppressed);
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

void transport__lane_record(struct lane *ln, const struct post *rec)
{
	const struct transport *t = ln->peer->t;
	struct post *slot;

	assert(ln->inflight < t->lim.max_inflight_posts);
	slot = &ln->posts[(ln->post_head + ln->inflight) %
			  t->lim.max_inflight_posts];
	*slot = *rec;
	slot->sent_at = clock_now_seconds();
	ln->inflight++;
	ln->inflight_msgs += rec->msgs;
	ln->inflight_bytes += rec->bytes;
}

int transport__lane_write(struct lane *ln, const char *head, size_t head_len,
			  struct evbuffer *body, const struct post *rec)
{
	const struct transport *t = ln->peer->t;

	/* Nothing goes out on a connection before its hello is answered,
	 * and a hello goes out on a connection that carries nothing else. */
	assert(!ln->hello);
	assert(!rec->hello || ln->inflight == 0);
	if (ln->inflight >= t->lim.max_inflight_posts ||
	    lane_conn_request(ln->conn, head, head_len, body, lane_answer_cb,
			      ln) != LANE_CONN_OK)
		return -1;
	transport__lane_record(ln, rec);
	return 0;
}

struct post transport__lane_pop(struct lane *ln)
{
	struct post r = ln->posts[ln->post_head];

	assert(ln->inflight > 0);
	assert(ln->inflight_msgs >= r.msgs && ln->inflight_bytes >= r.bytes);
	ln->post_head =
	    (ln->post_head + 1) % ln->peer->t->lim.max_inflight_posts;
	ln->inflight--;
	ln->inflight_msgs -= r.msgs;
	ln->inflight_bytes -= r.bytes;
	return r;
}

/* A POST's answer @a, or its failure @err. */
static void post_done(struct lane *ln, const struct lane_answer *a,
		      const char *err)
{
	struct peer *p = ln->peer;
	struct transport *t = p->t;
	char why[128];
	struct post r;
	double rtt, now;

	if (a == NULL || a->status < 200 || a->status >= 300) {
		if (a != NULL)
			snprintf(why, sizeof(why), "HTTP %d %.80s", a->status,
				 a->reason);
		else
			snprintf(why, sizeof(why), "%s", err);
		lane_failed(ln, why);
		return;
	}
	r = transport__lane_pop(ln);
	now = clock_now_seconds();
	rtt = now - r.sent_at;
	if (t->on_round_trip != NULL)
		t->on_round_trip(t->ctx, p->id, rtt);
	rtt_window_add(&ln->rtt, now, rtt);
	ln->used = true;
	ln->up = true;
	ln->backoff_ms = 0;
	p->c.posts_sent++;
	p->c.msgs_sent += r.msgs;
	p->c.bytes_sent += r.bytes;
	transport__lane_reachable(ln);
	/* Whatever queued meanwhile goes out as the next POST, from the
	 * loop rather than from inside the connection's callback. An answer
	 * that closed the connection is no failure: the next POST takes a
	 * new one. */
	if (ln->head)
		lane_kick_now(ln);
}

void transport__lane_reachable(struct lane *ln)
{
	struct peer *p = ln->peer;

	if (p->failures_in_row > 0) {
		transport__log(p->t, TRANSPORT_LOG_INFO,
			       "peer %" PRIu64
			       " (%s) reachable again after %" PRIu64
			       " failed POSTs",
			       p->id, p->url, p->failures_in_row);
		p->failures_in_row = 0;
		p->last_log_ms = 0;
	}
}

/* The oldest request in flight on the lane ended: answered (@a) or failed
 * (@err). A failed one fails the lane, which frees the connection: no
 * callback of it comes after that. */
static void lane_answer_cb(void *arg, const struct lane_answer *a,
			   const char *err)
{
	struct lane *ln = arg;

	if (ln->inflight == 0)
		return; /* cannot happen: see lane_failed() */
	if (ln->posts[ln->post_head].hello)
		transport__hello_done(ln, a, err);
	else if (ln->posts[ln->post_head].stream)
		transport__stream_open_done(ln, a, err);
	else
		post_done(ln, a, err);
}

void transport__lane_answer(void *arg, const struct lane_answer *a,
			    const char *err)
{
	lane_answer_cb(arg, a, err);
}

void transport__lane_drop_conn(struct lane *ln)
{
	lane_conn_free(ln->conn);
	ln->conn = NULL;
	ln->proven = false;
	transport__stream_reset(ln);
}

/* Writes the first queued chunk as one POST; false when the lane failed. */
static bool lane_post(struct lane *ln)
{
	struct peer *p = ln->peer;
	struct chunk *c = ln->head;
	struct post rec = {.msgs = c->msgs, .heartbeat = c->heartbeat};
	char head[TRANSPORT_MAX_URL * 3 + TRANSPORT_MAX_TOKEN + 512];
	size_t bytes = evbuffer_get_length(c->buf);
	bool behind = ln->inflight > 0;
	int n;

	n = snprintf(head, sizeof(head), "%.*sContent-Length: %zu\r\n\r\n",
		     (int)p->post_head_len, p->post_head, bytes);
	rec.bytes = bytes;
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    transport__lane_write(ln, head, (size_t)n, c->buf, &rec) != 0) {
		lane_failed(ln, "out of memory");
		return false;
	}
	if (behind)
		p->c.posts_pipelined++;
	ln->head = c->next;
	if (ln->head == NULL)
		ln->tail = NULL;
	p->queued_msgs -= c->msgs;
	p->queued_bytes -= bytes;
	chunk_free(c);
	return true;
}

/* Sends queued chunks as POSTs while the lane may (lane_may_send()):
 * one when the lane is free, more to a far peer. */
static void lane_flush(struct lane *ln)
{
	char err[160];
	double wait_s;

	while (ln->head != NULL && lane_may_send(ln, &wait_s)) {
		if (!lane_conn_alive(ln->conn)) {
			/* Its requests fail from the loop first. */
			if (ln->inflight > 0)
				return;
			if (lane_connect(ln, err, sizeof(err)) != 0) {
				lane_failed(ln, err);
				return;
			}
		}
		/* Nothing with the token goes to an address that has not
		 * proven it holds the token too (transport_hello.c). */
		if (transport__hello_needed(ln)) {
			if (ln->inflight == 0)
				transport__hello_start(ln);
			return;
		}
		/* A stream carries the batches with no answer each
		 * (stream_send.c); it is asked for once the POSTs in flight
		 * on the connection are answered. */
		if (ln->streaming) {
			transport__stream_flush(ln);
			return;
		}
		if (transport__stream_wanted(ln)) {
			if (ln->inflight == 0)
				transport__stream_start(ln);
			return;
		}
		if (!lane_post(ln))
			return;
	}
	/* What is left waits for the spacing's end, or for an answer. */
	if (ln->head != NULL && wait_s > 0)
		lane_kick_now(ln);
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
