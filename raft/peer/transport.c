/* transport.c - raft messages between members over evhttp (see
 * transport.h): creating and freeing the transport, its counters and
 * error strings. Sending is in transport_send.c, receiving in
 * transport_recv.c. */
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

#include <event2/event.h>
#include <event2/http.h>

#include "stream_frame.h"
#include "transport_internal.h"

#define DEFAULT_MAX_QUEUED_BYTES   ((size_t)64 << 20)
#define DEFAULT_MAX_QUEUED_MSGS	   65536
#define DEFAULT_BATCH_BYTES	   ((size_t)1 << 20)
#define DEFAULT_MAX_BODY_BYTES	   ((size_t)64 << 20)
#define DEFAULT_REQUEST_TIMEOUT_MS 5000
#define DEFAULT_BACKOFF_MIN_MS	   50
#define DEFAULT_BACKOFF_MAX_MS	   2000
#define DEFAULT_LOG_INTERVAL_MS	   10000
#define DEFAULT_PIPELINE_RTT_MS	   4
#define DEFAULT_MAX_INFLIGHT_POSTS 16
#define DEFAULT_STREAM_PING_MS	   1000

void transport__log(struct transport *t, int level, const char *fmt, ...)
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
bool transport__printable(const char *s)
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
	if ((o->token &&
	     (!transport__printable(o->token) || o->token[0] == '\0')) ||
	    (o->client_url && !transport__printable(o->client_url)) ||
	    (o->peer_url && !transport__printable(o->peer_url)))
		return TRANSPORT_EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return TRANSPORT_ENOMEM;
	t->base = base;
	t->self = o->self;
	snprintf(t->self_str, sizeof(t->self_str), "%" PRIu64, o->self);
	t->source_host = dup_opt(o->source_host, TRANSPORT_MAX_URL, &rc);
	t->client_url = dup_opt(o->client_url, TRANSPORT_MAX_URL, &rc);
	t->peer_url = dup_opt(o->peer_url, TRANSPORT_MAX_URL, &rc);
	t->token = dup_opt(o->token, TRANSPORT_MAX_TOKEN, &rc);
	if (rc != TRANSPORT_OK)
		goto fail;
	t->token_len = t->token ? strlen(t->token) : 0;
	t->share = share_cache_new(base);
	if (t->share == NULL) {
		rc = TRANSPORT_ENOMEM;
		goto fail;
	}
	if ((o->tls_server == NULL) != (o->tls_client == NULL)) {
		rc = TRANSPORT_EINVAL;
		goto fail;
	}
	t->tls_server = o->tls_server;
	t->tls_client = o->tls_client;
	t->on_messages = o->on_messages;
	t->log = o->log;
	t->on_round_trip = o->on_round_trip;
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
	if (!l->pipeline_rtt_ms)
		l->pipeline_rtt_ms = DEFAULT_PIPELINE_RTT_MS;
	if (!l->max_inflight_posts)
		l->max_inflight_posts = DEFAULT_MAX_INFLIGHT_POSTS;
	if (!l->stream_ping_ms)
		l->stream_ping_ms = DEFAULT_STREAM_PING_MS;
	if (l->backoff_min_ms > l->backoff_max_ms ||
	    l->max_inflight_posts > TRANSPORT_MAX_INFLIGHT_POSTS) {
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
	free(t->peer_url);
	free(t->token);
	free(t);
	return rc;
}

void transport_free(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->http) {
		evhttp_del_cb(t->http, TRANSPORT_PATH);
		evhttp_del_cb(t->http, STREAM_PATH);
		evhttp_del_cb(t->http, PEER_PROOF_PATH);
		if (t->gate || t->tls_server)
			evhttp_set_bevcb(t->http, NULL, NULL);
	}
	/* Their connections go with them (evhttp_connection_free()). */
	transport__streams_close(t);
	transport__gate_unref(t->gate);
	for (size_t i = 0; i < t->n_peers; i++)
		transport__peer_free(t->peers[i]);
	share_cache_free(t->share);
	free(t->peers);
	free(t->source_host);
	free(t->client_url);
	free(t->peer_url);
	free(t->token);
	free(t);
}

bool transport_url_https(const char *url)
{
	return url != NULL && strncasecmp(url, "https://", 8) == 0;
}

struct peer *transport__find_peer(const struct transport *t, raft_id id,
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

void transport__counters_add(struct counters *to, const struct counters *c)
{
	to->msgs_sent += c->msgs_sent;
	to->bytes_sent += c->bytes_sent;
	to->posts_sent += c->posts_sent;
	to->msgs_dropped += c->msgs_dropped;
	to->errors += c->errors;
	to->heartbeat_failures += c->heartbeat_failures;
	to->proof_failures += c->proof_failures;
	to->posts_pipelined += c->posts_pipelined;
	to->streams_opened += c->streams_opened;
	to->frames_sent += c->frames_sent;
}

int transport_peer_stats(const struct transport *t, raft_id id,
			 struct transport_peer_stats *out)
{
	const struct peer *p;
	bool any = false, up = true;

	if (t == NULL || out == NULL)
		return TRANSPORT_EINVAL;
	p = transport__find_peer(t, id, NULL);
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
	out->streams_opened = p->c.streams_opened;
	out->frames_sent = p->c.frames_sent;
	out->proof_failures = p->c.proof_failures;
	out->proven = t->token == NULL || p->proven;
	out->queued_msgs = p->queued_msgs;
	out->queued_bytes = p->queued_bytes;
	for (int i = 0; i < N_LANES; i++) {
		const struct lane *ln = &p->lanes[i];

		out->inflight_msgs += ln->inflight_msgs;
		out->lanes_streaming += ln->streaming;
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
		transport__counters_add(&sum, &t->peers[i]->c);
	out->n_peers = t->n_peers;
	out->msgs_sent = sum.msgs_sent;
	out->bytes_sent = sum.bytes_sent;
	out->posts_sent = sum.posts_sent;
	out->msgs_dropped = sum.msgs_dropped;
	out->errors = sum.errors;
	out->heartbeat_failures = sum.heartbeat_failures;
	out->posts_received = t->posts_received;
	out->msgs_received = t->msgs_received;
	out->bytes_received = t->bytes_received;
	out->msgs_misrouted = t->msgs_misrouted;
	out->bad_requests = t->bad_requests;
	out->unauthorized = t->unauthorized;
	out->frames_encoded = t->frames_encoded;
	out->frames_shared = t->frames_shared;
	out->proof_failures = sum.proof_failures;
	out->posts_pipelined = sum.posts_pipelined;
	out->hellos_answered = t->hellos_answered;
	out->hellos_limited = t->hellos_limited;
	out->streams_opened = sum.streams_opened;
	out->frames_sent = sum.frames_sent;
	out->streams_accepted = t->streams_accepted;
	out->streams_refused = t->streams_refused;
	out->frames_received = t->frames_received;
	out->streams_open = t->n_streams;
}

bool transport_peer_proven(const struct transport *t, raft_id id)
{
	const struct peer *p;

	if (t == NULL)
		return false;
	if (t->token == NULL)
		return true;
	p = transport__find_peer(t, id, NULL);
	return p != NULL && p->proven;
}

size_t transport_peers(const struct transport *t, raft_id *ids, size_t cap)
{
	for (size_t i = 0; i < t->n_peers && i < cap; i++)
		ids[i] = t->peers[i]->id;
	return t->n_peers;
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
		return "not an http(s)://host:port URL";
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
