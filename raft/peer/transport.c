/* transport.c - raft messages between members over evhttp (see transport.h). */
#include "transport.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "frame.h"
#include "refused_log.h"
#include "secret.h"
#include "transport_share.h"

#define DEFAULT_MAX_QUEUED_BYTES   ((size_t)64 << 20)
#define DEFAULT_MAX_QUEUED_MSGS	   65536
#define DEFAULT_BATCH_BYTES	   ((size_t)1 << 20)
#define DEFAULT_MAX_BODY_BYTES	   ((size_t)64 << 20)
#define DEFAULT_REQUEST_TIMEOUT_MS 5000
#define DEFAULT_BACKOFF_MIN_MS	   50
#define DEFAULT_BACKOFF_MAX_MS	   2000
#define DEFAULT_LOG_INTERVAL_MS	   10000

enum lane_kind { LANE_CONTROL = 0, LANE_DATA = 1, N_LANES = 2 };

/* Encoded messages waiting for a POST; one chunk becomes one body. */
struct chunk {
	struct chunk *next;
	struct evbuffer *buf;
	size_t msgs;
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
	bool backing_off;
	unsigned backoff_ms; /* 0 after a success */
	bool used;	     /* at least one POST was answered or failed */
	bool up;	     /* the last POST succeeded */
	char err[96];	     /* reason given by evhttp's error callback */
};

/* Counters that survive the peer (summed into transport_stats). */
struct counters {
	uint64_t msgs_sent, bytes_sent, posts_sent, msgs_dropped, errors;
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
static void gate_unref(struct gate *g);

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

static void logf_(struct transport *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_(struct transport *t, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (t->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->log(t->ctx, level, line);
}

static char *dup_opt(const char *s, size_t max, int *rc)
{
	char *d;

	if (s == NULL)
		return NULL;
	if (strlen(s) > max) {
		*rc = TRANSPORT_EINVAL;
		return NULL;
	}
	d = strdup(s);
	if (d == NULL)
		*rc = TRANSPORT_ENOMEM;
	return d;
}

/* Header values must not carry CR/LF (header injection) or controls, and
 * are ASCII: a URL or token is, and a peer's client URL ends up in JSON
 * answers, which need valid UTF-8 (bytes >= 0x80 made /v1/status empty). */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int transport_new(struct event_base *base, const struct transport_options *o,
		  struct transport **out)
{
	struct transport *t;
	struct transport_limits *l;
	int rc = TRANSPORT_OK;

	if (base == NULL || o == NULL || out == NULL || o->self == 0 ||
	    o->on_messages == NULL)
		return TRANSPORT_EINVAL;
	if ((o->token && (!printable(o->token) || o->token[0] == '\0')) ||
	    (o->client_url && !printable(o->client_url)))
		return TRANSPORT_EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return TRANSPORT_ENOMEM;
	t->base = base;
	t->self = o->self;
	snprintf(t->self_str, sizeof(t->self_str), "%" PRIu64, o->self);
	t->source_host = dup_opt(o->source_host, TRANSPORT_MAX_URL, &rc);
	t->client_url = dup_opt(o->client_url, TRANSPORT_MAX_URL, &rc);
	t->token = dup_opt(o->token, TRANSPORT_MAX_TOKEN, &rc);
	if (rc != TRANSPORT_OK)
		goto fail;
	t->token_len = t->token ? strlen(t->token) : 0;
	t->share = share_cache_new(base);
	if (t->share == NULL) {
		rc = TRANSPORT_ENOMEM;
		goto fail;
	}
	t->on_messages = o->on_messages;
	t->log = o->log;
	t->ctx = o->ctx;

	t->lim = o->limits;
	l = &t->lim;
	if (!l->max_queued_bytes)
		l->max_queued_bytes = DEFAULT_MAX_QUEUED_BYTES;
	if (!l->max_queued_msgs)
		l->max_queued_msgs = DEFAULT_MAX_QUEUED_MSGS;
	if (!l->max_body_bytes)
		l->max_body_bytes = DEFAULT_MAX_BODY_BYTES;
	if (!l->batch_bytes)
		l->batch_bytes = DEFAULT_BATCH_BYTES;
	if (l->batch_bytes > l->max_body_bytes)
		l->batch_bytes = l->max_body_bytes;
	if (!l->request_timeout_ms)
		l->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
	if (!l->backoff_min_ms)
		l->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
	if (!l->backoff_max_ms)
		l->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (!l->log_interval_ms)
		l->log_interval_ms = DEFAULT_LOG_INTERVAL_MS;
	if (l->backoff_min_ms > l->backoff_max_ms) {
		rc = TRANSPORT_EINVAL;
		goto fail;
	}
	l->codec.max_body_bytes = l->max_body_bytes;
	if (!l->codec.max_msgs)
		l->codec.max_msgs = MSG_CODEC_DEFAULT_MAX_MSGS;

	t->rng = o->seed;
	if (t->rng == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t->rng = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
			 ((uint64_t)getpid() << 16) ^ (uintptr_t)t;
	}
	if (t->rng == 0)
		t->rng = 0x9E3779B97F4A7C15ULL;
	*out = t;
	return TRANSPORT_OK;
fail:
	share_cache_free(t->share);
	free(t->source_host);
	free(t->client_url);
	free(t->token);
	free(t);
	return rc;
}

/* ---- client side ---- */

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

static void peer_free(struct peer *p)
{
	for (int i = 0; i < N_LANES; i++)
		lane_clear(&p->lanes[i]);
	free(p);
}

void transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->http) {
		evhttp_del_cb(t->http, TRANSPORT_PATH);
		if (t->gate)
			evhttp_set_bevcb(t->http, NULL, NULL);
	}
	gate_unref(t->gate);
	for (size_t i = 0; i < t->n_peers; i++)
		peer_free(t->peers[i]);
	share_cache_free(t->share);
	free(t->peers);
	free(t->source_host);
	free(t->client_url);
	free(t->token);
	free(t);
}

static struct peer *find_peer(const struct transport *t, raft_id id,
			      size_t *pos)
{
	for (size_t i = 0; i < t->n_peers; i++) {
		if (t->peers[i]->id == id) {
			if (pos)
				*pos = i;
			return t->peers[i];
		}
	}
	return NULL;
}

/* Splits "http://host:port[/]" into @host (brackets of an IPv6 literal
 * removed) and @port; writes why it refuses into @why. */
static int parse_url(const char *url, char *host, size_t host_cap, int *port,
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
	if (scheme == NULL || strcasecmp(scheme, "http") != 0) {
		*why = "scheme is not http";
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
 * on every reconnect (and fd numbers are reused), so it is set after each
 * request is queued: one cheap system call per POST. */
static void lane_set_nodelay(struct lane *ln)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(ln->conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
}

static int lane_init(struct transport *t, struct peer *p, struct lane *ln,
		     enum lane_kind kind, const char *host, int port)
{
	struct timeval tv;

	ln->peer = p;
	ln->kind = kind;
	ln->conn = evhttp_connection_base_bufferevent_new(
	    t->base, NULL, NULL, host, (ev_uint16_t)port);
	if (ln->conn == NULL)
		return TRANSPORT_ENOMEM;
	if (t->source_host)
		evhttp_connection_set_local_address(ln->conn, t->source_host);
	tv = clock_ms_to_timeval(t->lim.request_timeout_ms);
	evhttp_connection_set_timeout_tv(ln->conn, &tv);
	/* Our own backoff decides when to try again, never evhttp. */
	evhttp_connection_set_retries(ln->conn, 0);
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
	if (find_peer(t, id, NULL))
		return TRANSPORT_EEXIST;
	rc = parse_url(peer_url, host, sizeof(host), &port, &why);
	if (rc != TRANSPORT_OK) {
		logf_(t, TRANSPORT_LOG_ERROR,
		      "peer %" PRIu64 ": bad peer URL \"%.200s\": %s", id,
		      peer_url ? peer_url : "(null)", why);
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
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return TRANSPORT_ENOMEM;
	p->t = t;
	p->id = id;
	snprintf(p->url, sizeof(p->url), "%s", peer_url);
	if (strchr(host, ':'))
		snprintf(p->host_header, sizeof(p->host_header), "[%s]:%d",
			 host, port);
	else
		snprintf(p->host_header, sizeof(p->host_header), "%s:%d", host,
			 port);
	for (int i = 0; i < N_LANES; i++) {
		rc = lane_init(t, p, &p->lanes[i], (enum lane_kind)i, host,
			       port);
		if (rc != TRANSPORT_OK) {
			peer_free(p);
			return rc;
		}
	}
	t->peers[t->n_peers++] = p;
	logf_(t, TRANSPORT_LOG_INFO, "peer %" PRIu64 " added at %s", id,
	      p->url);
	return TRANSPORT_OK;
}

static void counters_add(struct counters *to, const struct counters *c)
{
	to->msgs_sent += c->msgs_sent;
	to->bytes_sent += c->bytes_sent;
	to->posts_sent += c->posts_sent;
	to->msgs_dropped += c->msgs_dropped;
	to->errors += c->errors;
}

int transport_remove_peer(struct transport *t, raft_id id)
{
	struct peer *p;
	size_t pos;

	if (t == NULL)
		return TRANSPORT_EINVAL;
	p = find_peer(t, id, &pos);
	if (p == NULL)
		return TRANSPORT_ENOPEER;
	/* What was queued or in flight is lost with the peer. */
	p->c.msgs_dropped += p->queued_msgs;
	for (int i = 0; i < N_LANES; i++)
		p->c.msgs_dropped += p->lanes[i].inflight_msgs;
	counters_add(&t->removed, &p->c);
	memmove(&t->peers[pos], &t->peers[pos + 1],
		(t->n_peers - pos - 1) * sizeof(t->peers[0]));
	t->n_peers--;
	logf_(t, TRANSPORT_LOG_INFO, "peer %" PRIu64 " removed", id);
	peer_free(p);
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
	p = find_peer(t, m->to, NULL);
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
	p->c.errors++;
	p->c.msgs_dropped += ln->inflight_msgs;
	ln->inflight_msgs = ln->inflight_bytes = 0;
	while ((c = ln->head) != NULL) {
		ln->head = c->next;
		p->c.msgs_dropped += c->msgs;
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
		logf_(t, TRANSPORT_LOG_WARN,
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
		ln->inflight = false;
		ln->used = true;
		ln->up = true;
		ln->backoff_ms = 0;
		p->c.posts_sent++;
		p->c.msgs_sent += ln->inflight_msgs;
		p->c.bytes_sent += ln->inflight_bytes;
		ln->inflight_msgs = ln->inflight_bytes = 0;
		if (p->failures_in_row > 0) {
			logf_(t, TRANSPORT_LOG_INFO,
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
	ln->err[0] = '\0';
	chunk_free(c);
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

int transport_peer_stats(const struct transport *t, raft_id id,
			 struct transport_peer_stats *out)
{
	const struct peer *p;
	bool any = false, up = true;

	if (t == NULL || out == NULL)
		return TRANSPORT_EINVAL;
	p = find_peer(t, id, NULL);
	if (p == NULL)
		return TRANSPORT_ENOPEER;
	memset(out, 0, sizeof(*out));
	out->id = p->id;
	snprintf(out->url, sizeof(out->url), "%s", p->url);
	out->msgs_sent = p->c.msgs_sent;
	out->bytes_sent = p->c.bytes_sent;
	out->posts_sent = p->c.posts_sent;
	out->msgs_dropped = p->c.msgs_dropped;
	out->msgs_refused = p->msgs_refused;
	out->errors = p->c.errors;
	out->queued_msgs = p->queued_msgs;
	out->queued_bytes = p->queued_bytes;
	for (int i = 0; i < N_LANES; i++) {
		const struct lane *ln = &p->lanes[i];

		out->inflight_msgs += ln->inflight_msgs;
		if (ln->used) {
			any = true;
			up = up && ln->up;
		}
	}
	out->up = any && up;
	snprintf(out->last_error, sizeof(out->last_error), "%s", p->last_error);
	return TRANSPORT_OK;
}

void transport_stats(const struct transport *t, struct transport_stats *out)
{
	struct counters sum;

	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return;
	sum = t->removed;
	for (size_t i = 0; i < t->n_peers; i++)
		counters_add(&sum, &t->peers[i]->c);
	out->n_peers = t->n_peers;
	out->msgs_sent = sum.msgs_sent;
	out->bytes_sent = sum.bytes_sent;
	out->posts_sent = sum.posts_sent;
	out->msgs_dropped = sum.msgs_dropped;
	out->errors = sum.errors;
	out->posts_received = t->posts_received;
	out->msgs_received = t->msgs_received;
	out->bytes_received = t->bytes_received;
	out->msgs_misrouted = t->msgs_misrouted;
	out->bad_requests = t->bad_requests;
	out->unauthorized = t->unauthorized;
	out->frames_encoded = t->frames_encoded;
	out->frames_shared = t->frames_shared;
}

size_t transport_peers(const struct transport *t, raft_id *ids, size_t cap)
{
	for (size_t i = 0; i < t->n_peers && i < cap; i++)
		ids[i] = t->peers[i]->id;
	return t->n_peers;
}

/* ---- server side ---- */

static const char *request_token(struct evkeyvalq *h)
{
	const char *v = evhttp_find_header(h, TRANSPORT_HEADER_TOKEN);

	if (v)
		return v;
	v = evhttp_find_header(h, "Authorization");
	if (v && strncasecmp(v, "Bearer ", 7) == 0)
		return v + 7;
	return NULL;
}

static void reply(struct evhttp_request *req, int code, const char *reason,
		  const char *text)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (text) {
		evhttp_add_header(h, "Content-Type",
				  "text/plain; charset=utf-8");
		evbuffer_add_printf(b, "%s\n", text);
	}
	evhttp_send_reply(req, code, reason, NULL);
}

static void server_log(struct transport *t, struct evhttp_request *req,
		       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line per log interval at most: a misbehaving peer must not flood the
 * log. */
static void server_log(struct transport *t, struct evhttp_request *req,
		       const char *fmt, ...)
{
	char line[512];
	va_list ap;
	bool due;

	va_start(ap, fmt);
	due = refused_log_line(&t->refused, t->lim.log_interval_ms, req,
			       "peer request", line, sizeof(line), fmt, ap);
	va_end(ap);
	if (due)
		logf_(t, TRANSPORT_LOG_WARN, "%s", line);
}

static bool parse_id(const char *s, raft_id *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return false;
	*out = (raft_id)v;
	return true;
}

static void handle_messages(struct evhttp_request *req, void *arg)
{
	struct transport *t = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *token, *curl;
	struct msg_batch b;
	size_t len, err_off = 0, n = 0;
	uint8_t *body;
	raft_id from;
	int rc;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		t->bad_requests++;
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "POST");
		reply(req, 405, "Method Not Allowed", "use POST");
		return;
	}
	/* Authenticate before the body is looked at. */
	if (t->token) {
		token = request_token(h);
		if (token == NULL ||
		    !secret_equal(token, t->token, t->token_len)) {
			t->unauthorized++;
			server_log(t, req, "%s peer token",
				   token ? "wrong" : "missing");
			reply(req, 401, "Unauthorized", "peer token required");
			return;
		}
	}
	len = evbuffer_get_length(in);
	if (len > t->lim.max_body_bytes) {
		t->bad_requests++;
		server_log(t, req, "body of %zu bytes above the limit", len);
		reply(req, 413, "Payload Too Large", "body too large");
		return;
	}
	if (!parse_id(evhttp_find_header(h, TRANSPORT_HEADER_FROM), &from)) {
		t->bad_requests++;
		server_log(t, req, "missing or bad " TRANSPORT_HEADER_FROM);
		reply(req, 400, "Bad Request", "bad " TRANSPORT_HEADER_FROM);
		return;
	}
	curl = evhttp_find_header(h, TRANSPORT_HEADER_CLIENT_URL);
	if (curl && (strlen(curl) >= TRANSPORT_MAX_URL || !printable(curl)))
		curl = NULL;

	body = len ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
	if (len && body == NULL) {
		reply(req, 500, "Internal Server Error", "out of memory");
		return;
	}
	rc = msg_codec_decode(body, len, &t->lim.codec, &b, &err_off);
	if (rc != MSG_CODEC_OK) {
		if (rc == MSG_CODEC_ENOMEM) {
			reply(req, 500, "Internal Server Error",
			      "out of memory");
			return;
		}
		t->bad_requests++;
		server_log(t, req,
			   "bad body from member %" PRIu64
			   " (%zu bytes): %s at offset %zu",
			   from, len, msg_codec_strerror(rc), err_off);
		reply(req, 400, "Bad Request", msg_codec_strerror(rc));
		return;
	}
	for (size_t i = 0; i < b.n_msgs; i++) {
		/* A snapshot's message is stepped only once its file has
		 * arrived (POST /raft/snapshot); stepped from here, the core
		 * would accept a snapshot that is nowhere. */
		if (b.msgs[i].type == RAFT_MSG_SNAPSHOT) {
			t->bad_requests++;
			server_log(t, req,
				   "snapshot message from member %" PRIu64
				   " on " TRANSPORT_PATH,
				   from);
			reply(req, 400, "Bad Request",
			      "snapshot messages are not taken here");
			msg_batch_free(&b);
			return;
		}
		if (b.msgs[i].from != from) {
			t->bad_requests++;
			server_log(t, req,
				   "message from %" PRIu64
				   " in a body sent by member %" PRIu64,
				   b.msgs[i].from, from);
			reply(req, 400, "Bad Request",
			      "message sender differs "
			      "from " TRANSPORT_HEADER_FROM);
			msg_batch_free(&b);
			return;
		}
	}
	/* Keep only messages for this member, in body order. */
	for (size_t i = 0; i < b.n_msgs; i++) {
		if (b.msgs[i].to == t->self)
			b.msgs[n++] = b.msgs[i];
		else
			t->msgs_misrouted++;
	}
	t->posts_received++;
	t->bytes_received += len;
	t->msgs_received += n;
	if (n > 0) {
		struct evhttp_connection *c =
		    evhttp_request_get_connection(req);
		char *addr = NULL;
		ev_uint16_t port = 0;

		if (c)
			evhttp_connection_get_peer(c, &addr, &port);
		t->on_messages(t->ctx, b.msgs, n, from, curl, addr);
	}
	msg_batch_free(&b);
	evhttp_send_reply(req, 204, "No Content", NULL);
}

/* ---- the gate: the token is checked before a body is read ----
 *
 * evhttp calls a path's handler only once the whole body is in memory, so
 * a handler's token check comes too late to stop a stranger from making
 * the member buffer up to the body limit on every connection. With a
 * token, every connection of the peer listener reads through a filter
 * (evhttp_set_bevcb, bufferevent_filter_new) that holds a request's header
 * block until it is complete and looks for the token in it. A request
 * with the right token goes up unchanged (its body counted through by
 * Content-Length, so each request of a keep-alive connection is checked;
 * after one whose length cannot be followed, such as a chunked body, the
 * rest of that authenticated connection passes unchecked). A request
 * without it goes up with its header block only, with Content-Length: 0
 * and Connection: close, and everything after it is discarded: the
 * handler then answers 401 (counted and logged there) and evhttp closes
 * the connection, having buffered no byte of the body. */

/* A header block longer than this fails the connection (evhttp's own
 * limit is PEER_MAX_HEADERS_BYTES, 64 KiB, in server/main.c). */
#define GATE_MAX_HEAD ((size_t)64 << 10)

struct gate {
	unsigned refs; /* the transport's and each connection's */
	char *token;
	size_t token_len;
};

enum gate_state { GATE_HEAD, GATE_BODY, GATE_PASS, GATE_DISCARD };

struct gate_conn {
	struct gate *g;
	struct bufferevent *sock; /* under the filter */
	struct bufferevent *f;	  /* the filter evhttp reads and writes */
	struct event *flush_ev;	  /* see gate_out_added() */
	bool flush_pending;	  /* flush_ev active, a reference held */
	enum gate_state st;
	uint64_t left; /* GATE_BODY: body bytes still to go up */
};

static void gate_unref(struct gate *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	free(g->token);
	free(g);
}

static void gate_conn_free(void *arg)
{
	struct gate_conn *c = arg;

	if (c->flush_ev)
		event_free(c->flush_ev);
	gate_unref(c->g);
	free(c);
}

/* The value of header @name in the header block @head (its first line is
 * the request line), spaces trimmed, copied into @out; false if absent or
 * longer than @cap - 1. The first occurrence counts, as for
 * evhttp_find_header(). */
static bool head_value(const char *head, const char *name, char *out,
		       size_t cap, bool *present)
{
	size_t nl = strlen(name);
	const char *line = strstr(head, "\r\n");

	*present = false;
	while (line != NULL) {
		const char *p = line + 2, *end = strstr(p, "\r\n"), *v;
		size_t vl;

		if (end == NULL || end == p)
			return false;
		line = end;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		*present = true;
		v = p + nl + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		vl = (size_t)(end - v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (vl >= cap)
			return false;
		memcpy(out, v, vl);
		out[vl] = '\0';
		return true;
	}
	return false;
}

/* Whether the header block carries the token (the same headers, in the
 * same order, as request_token()). */
static bool head_authorized(const struct gate *g, const char *head)
{
	char v[TRANSPORT_MAX_TOKEN + 16];
	bool present;

	if (head_value(head, TRANSPORT_HEADER_TOKEN, v, sizeof(v), &present))
		return secret_equal(v, g->token, g->token_len);
	if (present)
		return false;
	if (head_value(head, "Authorization", v, sizeof(v), &present) &&
	    strncasecmp(v, "Bearer ", 7) == 0)
		return secret_equal(v + 7, g->token, g->token_len);
	return false;
}

/* What an authorized request's body is: its length in *@len, or false
 * when it cannot be followed (chunked, a bad or repeated length). */
static bool head_body_length(const char *head, uint64_t *len)
{
	char v[32], *end;
	bool present;
	const char *p;

	if (head_value(head, "Transfer-Encoding", v, sizeof(v), &present) ||
	    present)
		return false;
	*len = 0;
	if (!head_value(head, "Content-Length", v, sizeof(v), &present))
		return !present;
	p = strcasestr(head, "\r\nContent-Length:");
	if (p != NULL && strcasestr(p + 2, "\r\nContent-Length:") != NULL)
		return false;
	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	*len = strtoull(v, &end, 10);
	return errno == 0 && *end == '\0';
}

/* The header block of a refused request, made bodiless and final: its
 * request line and headers without those that announce a body or keep
 * the connection. */
static int gate_refuse(struct evbuffer *dst, const char *head)
{
	static const char *const drop[] = {
	    "Content-Length:", "Transfer-Encoding:", "Expect:", "Connection:"};
	const char *line = head, *end;

	while ((end = strstr(line, "\r\n")) != NULL && end != line) {
		bool keep = true;

		for (size_t i = 0; line != head && i < 4; i++)
			if (strncasecmp(line, drop[i], strlen(drop[i])) == 0)
				keep = false;
		if (keep && evbuffer_add(dst, line, (size_t)(end - line + 2)))
			return -1;
		line = end + 2;
	}
	return evbuffer_add_printf(dst, "Content-Length: 0\r\n"
					"Connection: close\r\n\r\n") < 0
		   ? -1
		   : 0;
}

static enum bufferevent_filter_result
gate_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	enum bufferevent_flush_mode mode, void *arg)
{
	struct gate_conn *c = arg;

	(void)limit;
	(void)mode;
	for (;;) {
		size_t avail = evbuffer_get_length(src), n;
		struct evbuffer_ptr e;
		char *head;
		int rc;

		if (avail == 0)
			return BEV_OK;
		switch (c->st) {
		case GATE_PASS:
			return evbuffer_add_buffer(dst, src) ? BEV_ERROR
							     : BEV_OK;
		case GATE_DISCARD:
			evbuffer_drain(src, avail);
			return BEV_OK;
		case GATE_BODY:
			n = avail < c->left ? avail : (size_t)c->left;
			if (evbuffer_remove_buffer(src, dst, n) != (int)n)
				return BEV_ERROR;
			c->left -= n;
			if (c->left == 0)
				c->st = GATE_HEAD;
			continue;
		case GATE_HEAD:
			break;
		}
		e = evbuffer_search(src, "\r\n\r\n", 4, NULL);
		if (e.pos < 0)
			return avail > GATE_MAX_HEAD ? BEV_ERROR
						     : BEV_NEED_MORE;
		n = (size_t)e.pos + 4;
		if (n > GATE_MAX_HEAD)
			return BEV_ERROR;
		head = malloc(n + 1);
		if (head == NULL)
			return BEV_ERROR;
		evbuffer_copyout(src, head, n);
		head[n] = '\0';
		if (head_authorized(c->g, head)) {
			c->st = head_body_length(head, &c->left)
				    ? (c->left > 0 ? GATE_BODY : GATE_HEAD)
				    : GATE_PASS;
			rc = evbuffer_remove_buffer(src, dst, n) == (int)n ? 0
									   : -1;
		} else {
			c->st = GATE_DISCARD;
			rc = gate_refuse(dst, head);
			evbuffer_drain(src, evbuffer_get_length(src));
		}
		free(head);
		if (rc != 0)
			return BEV_ERROR;
	}
}

/* Answers go out to the socket at once rather than on a later loop turn:
 * when evhttp closes a connection after an answer (a refused request, its
 * own errors, a client's Connection: close), it frees the connection as
 * soon as this filter has taken the answer, and the socket's bufferevent
 * would go with the answer still in it. Answers on the peer port are
 * small enough for the socket's send buffer; what does not fit goes out
 * the ordinary way. */
static enum bufferevent_filter_result
gate_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	 enum bufferevent_flush_mode mode, void *arg)
{
	struct gate_conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->sock);

	(void)limit;
	(void)mode;
	if (evbuffer_add_buffer(dst, src) != 0)
		return BEV_ERROR;
	if (fd >= 0)
		(void)evbuffer_write(dst, fd);
	return BEV_OK;
}

/* evhttp puts an answer into the filter's output before it enables
 * writing, and a filter (libevent 2.1) passes its output on only when data
 * is added while writing is enabled or when the socket under it has
 * written something: the answer would wait for a timeout. So once data is
 * added, the filter is flushed on the next loop turn, writing enabled by
 * then.
 *
 * Until then a reference to the filter is held. When evhttp closes the
 * connection from the filter's write callback (after an answer with
 * Connection: close), a filter that was passing its output on for the
 * socket under it (be_filter_writecb(), which holds no reference of its
 * own) would be freed there and then re-arm its write timeout, freed
 * memory left in the timer heap. Holding one, the last reference goes
 * here, outside any of the filter's own calls. */
static void gate_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate_conn *c = arg;
	struct bufferevent *f = c->f;
	bufferevent_event_cb eventcb = NULL;

	(void)fd;
	(void)what;
	c->flush_pending = false;
	/* Freed by evhttp meanwhile (its callbacks cleared): nothing to
	 * flush. */
	bufferevent_getcb(f, NULL, NULL, &eventcb, NULL);
	if (eventcb != NULL)
		bufferevent_flush(f, EV_WRITE, BEV_NORMAL);
	bufferevent_decref(f); /* may free it, and c with it */
}

static void gate_out_added(struct evbuffer *buf,
			   const struct evbuffer_cb_info *info, void *arg)
{
	struct gate_conn *c = arg;

	(void)buf;
	if (info->n_added == 0 || c->flush_pending)
		return;
	c->flush_pending = true;
	bufferevent_incref(c->f);
	event_active(c->flush_ev, EV_WRITE, 0);
}

/* Wraps the socket bufferevent @sock (ownership taken) in the gate's
 * filter. NULL when out of memory (@sock freed). */
static struct bufferevent *gate_wrap(struct gate *g, struct bufferevent *sock)
{
	struct event_base *base = bufferevent_get_base(sock);
	struct gate_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *f;

	if (c == NULL) {
		bufferevent_free(sock);
		return NULL;
	}
	c->g = g;
	c->sock = sock;
	c->st = GATE_HEAD;
	f = bufferevent_filter_new(sock, gate_in, gate_out,
				   BEV_OPT_CLOSE_ON_FREE, gate_conn_free, c);
	if (f == NULL) {
		bufferevent_free(sock);
		free(c);
		return NULL;
	}
	g->refs++;
	c->f = f;
	c->flush_ev = event_new(base, -1, 0, gate_flush_cb, c);
	if (c->flush_ev == NULL || evbuffer_add_cb(bufferevent_get_output(f),
						   gate_out_added, c) == NULL) {
		bufferevent_free(f); /* frees c */
		return NULL;
	}
	return f;
}

static struct bufferevent *gate_bev(struct event_base *base, void *arg)
{
	struct bufferevent *sock =
	    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	/* NULL: evhttp then makes a plain one, and the handlers still
	 * refuse the request, only after its body. */
	return sock != NULL ? gate_wrap(arg, sock) : NULL;
}

struct bufferevent *transport_wrap_peer_conn(struct transport *t,
					     struct bufferevent *sock)
{
	if (t == NULL || sock == NULL) {
		if (sock != NULL)
			bufferevent_free(sock);
		return NULL;
	}
	return t->gate != NULL ? gate_wrap(t->gate, sock) : sock;
}

int transport_attach(struct transport *t, struct evhttp *peer_http)
{
	if (t == NULL || peer_http == NULL)
		return TRANSPORT_EINVAL;
	if (t->http)
		return TRANSPORT_EATTACHED;
	if (evhttp_set_cb(peer_http, TRANSPORT_PATH, handle_messages, t) != 0)
		return TRANSPORT_EEVENT;
	evhttp_set_max_body_size(peer_http, (ev_ssize_t)t->lim.max_body_bytes);
	if (t->token) {
		t->gate = calloc(1, sizeof(*t->gate));
		if (t->gate == NULL ||
		    (t->gate->token = strdup(t->token)) == NULL) {
			free(t->gate);
			t->gate = NULL;
			evhttp_del_cb(peer_http, TRANSPORT_PATH);
			return TRANSPORT_ENOMEM;
		}
		t->gate->token_len = t->token_len;
		t->gate->refs = 1;
		evhttp_set_bevcb(peer_http, gate_bev, t->gate);
	}
	t->http = peer_http;
	return TRANSPORT_OK;
}

const char *transport_strerror(int err)
{
	switch (err) {
	case TRANSPORT_OK:
		return "ok";
	case TRANSPORT_EINVAL:
		return "invalid argument";
	case TRANSPORT_ENOMEM:
		return "out of memory";
	case TRANSPORT_EURL:
		return "not an http://host:port URL";
	case TRANSPORT_ENOPEER:
		return "no such peer";
	case TRANSPORT_EEXIST:
		return "peer already exists";
	case TRANSPORT_EFULL:
		return "peer queue full";
	case TRANSPORT_ETOO_LARGE:
		return "message too large";
	case TRANSPORT_EMSG:
		return "message cannot be encoded";
	case TRANSPORT_EEVENT:
		return "libevent call failed";
	case TRANSPORT_EATTACHED:
		return "already attached";
	default:
		return "unknown error";
	}
}
