/* kvc.c - libkvc: blocking kvd client over libevent's HTTP client. */
#include "kvc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define KVC_MAX_ENDPOINTS      64
#define KVC_MAX_URL	       1024
#define KVC_MAX_RESPONSE_BYTES (256u << 20) /* one response body */
#define KVC_BACKOFF_MIN_MS     20
#define KVC_BACKOFF_MAX_MS     1000
#define KVC_ERRMSG	       512
#define KVC_STATUS_TIMEOUT_MS  1000 /* leader discovery, per member */

/* A member's client address. */
struct endpoint {
	char host[256];
	int port;
};

struct kvc {
	struct event_base *base; /* private: one per handle */
	struct kvc_options opts;
	struct endpoint eps[KVC_MAX_ENDPOINTS];
	size_t n_eps;
	size_t cur;		/* endpoint tried first */
	struct endpoint leader; /* valid when has_leader */
	bool has_leader;
	char client_id[17]; /* X-Kv-Client */
	uint64_t seq;	    /* X-Kv-Seq of the last logical write */
	uint64_t rng;	    /* xorshift state for backoff jitter */
	char errmsg[KVC_ERRMSG];
};

/* One HTTP request: what to send. */
struct call {
	enum evhttp_cmd_type method;
	const char *path; /* path and query, already encoded */
	const void *body;
	size_t body_len;
	bool to_leader;		      /* writes and linearizable reads */
	bool any_member;	      /* a fixed URL is not required */
	uint64_t seq;		      /* X-Kv-Seq when non-zero */
	const struct endpoint *fixed; /* only this member (kvc_status) */
	bool long_wait; /* one attempt may take the whole deadline */
};

/* One HTTP answer. */
struct resp {
	int status; /* 0: no answer (connection failure or timeout) */
	bool timed_out;
	char *body; /* malloc'd, NUL-terminated */
	size_t len;
	uint64_t x_kv_index;
	bool has_x_kv_index;
};

/* The state of one attempt while the loop runs. */
struct attempt {
	struct kvc *h;
	struct resp *r;
	struct evhttp_connection *conn;
	bool done;
	bool nomem;
	bool too_large;
};

static const char *const errstr[] = {
    [0] = "success",
    [-KVC_EINVAL] = "invalid argument",
    [-KVC_ENOMEM] = "out of memory",
    [-KVC_ENOTFOUND] = "not found",
    [-KVC_ECAS] = "compare-and-swap failed",
    [-KVC_EUNAVAILABLE] = "cluster unavailable",
    [-KVC_ETIMEOUT] = "timed out",
    [-KVC_EBADREQ] = "bad request",
    [-KVC_ETOO_LARGE] = "too large",
    [-KVC_ECONFLICT] = "conflict",
    [-KVC_EPROTO] = "unexpected response",
    [-KVC_ESERVER] = "server error",
};

const char *kvc_strerror(int rc)
{
	if (rc > 0 || -rc >= (int)(sizeof(errstr) / sizeof(errstr[0])))
		return "unknown error";
	return errstr[-rc];
}

const char *kvc_errmsg(const struct kvc *h)
{
	return h ? h->errmsg : "";
}

static void set_errmsg(struct kvc *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->errmsg, sizeof(h->errmsg), fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t rng_next(struct kvc *h)
{
	/* xorshift64: the jitter only needs to differ between clients. */
	uint64_t x = h->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	h->rng = x;
	return x;
}

static int read_random(void *buf, size_t len)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Parses "http://host:port" (the scheme may be left out; port defaults to
 * 80). Only plain http is spoken. */
static int parse_endpoint(const char *url, size_t len, struct endpoint *ep)
{
	char in[KVC_MAX_URL + 1], buf[KVC_MAX_URL + 16];
	if (len == 0 || len > KVC_MAX_URL)
		return KVC_EINVAL;
	memcpy(in, url, len);
	in[len] = '\0';
	if (strncmp(in, "http://", 7) == 0)
		snprintf(buf, sizeof(buf), "%s", in);
	else if (!strstr(in, "://"))
		snprintf(buf, sizeof(buf), "http://%s", in);
	else
		return KVC_EINVAL;
	struct evhttp_uri *u = evhttp_uri_parse(buf);
	if (!u)
		return KVC_EINVAL;
	const char *host = evhttp_uri_get_host(u);
	int port = evhttp_uri_get_port(u);
	int rc = KVC_EINVAL;
	const char *path = evhttp_uri_get_path(u);
	/* A client URL names a member, not a resource: no path, query or
	 * user info (a trailing slash is harmless). */
	if (host && *host && strlen(host) < sizeof(ep->host) &&
	    (!path || !*path || strcmp(path, "/") == 0) &&
	    !evhttp_uri_get_query(u) && !evhttp_uri_get_userinfo(u)) {
		snprintf(ep->host, sizeof(ep->host), "%s", host);
		ep->port = port > 0 ? port : 80;
		rc = 0;
	}
	evhttp_uri_free(u);
	return rc;
}

int kvc_open(const char *endpoints, const struct kvc_options *opts,
	     struct kvc **out)
{
	if (!endpoints || !out)
		return KVC_EINVAL;
	*out = NULL;
	struct kvc *h = calloc(1, sizeof(*h));
	if (!h)
		return KVC_ENOMEM;
	int rc = KVC_EINVAL;
	const char *p = endpoints;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0) {
			if (h->n_eps == KVC_MAX_ENDPOINTS)
				goto fail;
			if (parse_endpoint(p, len, &h->eps[h->n_eps]) < 0)
				goto fail;
			h->n_eps++;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (h->n_eps == 0)
		goto fail;
	if (opts)
		h->opts = *opts;
	if (h->opts.connect_timeout_ms <= 0)
		h->opts.connect_timeout_ms = 1000;
	if (h->opts.request_timeout_ms <= 0)
		h->opts.request_timeout_ms = 5000;
	if (h->opts.retry_deadline_ms <= 0)
		h->opts.retry_deadline_ms = 10000;

	unsigned char id[8];
	if (read_random(id, sizeof(id)) < 0) {
		rc = KVC_ESERVER;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(h->client_id + 2 * i, 3, "%02x", id[i]);
	memcpy(&h->rng, id, sizeof(h->rng));
	h->rng ^= (uint64_t)getpid() << 32 | now_ms();
	if (h->rng == 0)
		h->rng = 0x9e3779b97f4a7c15u;
	h->cur = (size_t)(rng_next(h) % h->n_eps);

	rc = KVC_ENOMEM;
	h->base = event_base_new();
	if (!h->base)
		goto fail;
	*out = h;
	return 0;
fail:
	kvc_close(h);
	return rc;
}

void kvc_close(struct kvc *h)
{
	if (!h)
		return;
	if (h->base)
		event_base_free(h->base);
	free(h);
}

static void resp_clear(struct resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct attempt *a = arg;
	if (a->done)
		return;
	a->done = true;
	if (!req || evhttp_request_get_response_code(req) == 0)
		return; /* connection failure: r->status stays 0 */
	struct resp *r = a->r;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	r->body = malloc(len + 1);
	if (!r->body) {
		a->nomem = true;
		return;
	}
	evbuffer_remove(in, r->body, len);
	r->body[len] = '\0';
	r->len = len;
	r->status = evhttp_request_get_response_code(req);
	const char *xi = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-Kv-Index");
	if (xi) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(xi, &end, 10);
		if (errno == 0 && end != xi && *end == '\0') {
			r->x_kv_index = v;
			r->has_x_kv_index = true;
		}
	}
}

static void on_error(enum evhttp_request_error err, void *arg)
{
	struct attempt *a = arg;
	if (err == EVREQ_HTTP_TIMEOUT)
		a->r->timed_out = true;
	if (err == EVREQ_HTTP_DATA_TOO_LONG)
		a->too_large = true;
}

/* Fires at the connect timeout: give up if the TCP connection is not up. */
static void on_connect_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct attempt *a = arg;
	if (a->done)
		return;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(a->conn);
	evutil_socket_t s = bev ? bufferevent_getfd(bev) : -1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (s < 0 || getpeername(s, (struct sockaddr *)&ss, &sl) != 0) {
		a->done = true;
		a->r->timed_out = true;
	}
}

/* Fires at the attempt's deadline. */
static void on_attempt_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct attempt *a = arg;
	if (!a->done) {
		a->done = true;
		a->r->timed_out = true;
	}
}

/* A member closing its end while we send raises SIGPIPE, whose default
 * action would kill the caller's process: block it in this thread while we
 * talk, and take back one that we caused. */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	g->was_pending = sigismember(&pend, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	if (!g->was_pending && sigismember(&pend, SIGPIPE) == 1) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* One HTTP exchange with @ep within @timeout_ms. Returns 0 with r->status
 * set (0 when no answer came), or KVC_ENOMEM/KVC_ETOO_LARGE. */
static int http_once(struct kvc *h, const struct endpoint *ep,
		     const struct call *c, uint64_t timeout_ms, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	struct attempt a = {.h = h, .r = r};
	struct event *tconn = NULL, *tall = NULL;
	struct evhttp_request *req = NULL;
	int rc = KVC_ENOMEM;

	a.conn = evhttp_connection_base_new(h->base, NULL, ep->host,
					    (unsigned short)ep->port);
	if (!a.conn)
		goto out;
	evhttp_connection_set_retries(a.conn, 0);
	/* The inactivity timeout of evhttp; our own timers bound the whole
	 * exchange and the connect. */
	evhttp_connection_set_timeout(a.conn, (int)(timeout_ms / 1000 + 1));
	evhttp_connection_set_max_body_size(a.conn, KVC_MAX_RESPONSE_BYTES);

	req = evhttp_request_new(on_response, &a);
	if (!req)
		goto out;
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	char hostport[300], num[32];
	snprintf(hostport, sizeof(hostport), "%s:%d", ep->host, ep->port);
	if (evhttp_add_header(hd, "Host", hostport) != 0 ||
	    evhttp_add_header(hd, "Connection", "close") != 0)
		goto out_req;
	if (c->seq) {
		snprintf(num, sizeof(num), "%" PRIu64, c->seq);
		if (evhttp_add_header(hd, "X-Kv-Client", h->client_id) != 0 ||
		    evhttp_add_header(hd, "X-Kv-Seq", num) != 0)
			goto out_req;
	}
	if (c->method == EVHTTP_REQ_PUT || c->method == EVHTTP_REQ_POST) {
		if (evhttp_add_header(hd, "Content-Type",
				      c->method == EVHTTP_REQ_POST
					  ? "application/json"
					  : "application/octet-stream") != 0)
			goto out_req;
		if (c->body_len &&
		    evbuffer_add(evhttp_request_get_output_buffer(req), c->body,
				 c->body_len) != 0)
			goto out_req;
	}

	tconn = evtimer_new(h->base, on_connect_timer, &a);
	tall = evtimer_new(h->base, on_attempt_timer, &a);
	if (!tconn || !tall)
		goto out_req;
	uint64_t cms = (uint64_t)h->opts.connect_timeout_ms;
	if (cms > timeout_ms)
		cms = timeout_ms;
	struct timeval tv = {.tv_sec = (time_t)(cms / 1000),
			     .tv_usec = (suseconds_t)(cms % 1000) * 1000};
	evtimer_add(tconn, &tv);
	tv.tv_sec = (time_t)(timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	evtimer_add(tall, &tv);

	/* On success the connection owns req (freed after the callback). */
	if (evhttp_make_request(a.conn, req, c->method, c->path) != 0) {
		req = NULL; /* evhttp frees it on failure */
		rc = 0;	    /* no answer: the caller retries */
		goto out;
	}
	req = NULL;
	struct sigpipe_guard spg;
	sigpipe_block(&spg);
	while (!a.done) {
		if (event_base_loop(h->base, EVLOOP_ONCE) < 0)
			break;
	}
	sigpipe_restore(&spg);
	rc = 0;
	if (a.nomem) {
		resp_clear(r);
		rc = KVC_ENOMEM;
	} else if (a.too_large) {
		resp_clear(r);
		rc = KVC_ETOO_LARGE;
	}
	goto out;
out_req:
	if (req)
		evhttp_request_free(req);
out:
	if (tconn)
		event_free(tconn);
	if (tall)
		event_free(tall);
	/* Frees a request still queued without calling its callback. */
	if (a.conn)
		evhttp_connection_free(a.conn);
	return rc;
}

/* Maps an HTTP status to a KVC code and keeps the server's message. */
static int status_to_rc(struct kvc *h, const struct resp *r)
{
	if (r->status >= 200 && r->status < 300)
		return 0;
	json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *msg =
	    j ? json_string_value(json_object_get(j, "message")) : NULL;
	const char *code =
	    j ? json_string_value(json_object_get(j, "error")) : NULL;
	set_errmsg(h, "HTTP %d%s%s%s%s", r->status, code ? " " : "",
		   code ? code : "", msg ? ": " : "", msg ? msg : "");
	json_decref(j);
	switch (r->status) {
	case 400:
		return KVC_EBADREQ;
	case 404:
		return KVC_ENOTFOUND;
	case 409:
		return KVC_ECONFLICT;
	case 412:
		return KVC_ECAS;
	case 413:
		return KVC_ETOO_LARGE;
	case 503:
		return KVC_EUNAVAILABLE;
	case 504:
		return KVC_ETIMEOUT;
	case 405:
		return KVC_EPROTO;
	default:
		return KVC_ESERVER;
	}
}

/* Asks endpoint @ep for the leader; sets h->leader when one is known. */
static void discover(struct kvc *h, const struct endpoint *ep,
		     uint64_t timeout_ms)
{
	struct call c = {.method = EVHTTP_REQ_GET, .path = "/v1/status"};
	struct resp r;
	if (http_once(h, ep, &c, timeout_ms, &r) != 0 || r.status != 200) {
		resp_clear(&r);
		return;
	}
	json_t *j = json_loadb(r.body, r.len, 0, NULL);
	json_t *lid = json_object_get(j, "leader");
	const char *url =
	    json_string_value(json_object_get(j, "leader_client_url"));
	if (json_is_integer(lid) && json_integer_value(lid) > 0 && url &&
	    *url && parse_endpoint(url, strlen(url), &h->leader) == 0)
		h->has_leader = true;
	json_decref(j);
	resp_clear(&r);
}

/* Sends @c, retrying on connection failure, 503 and 504 with jittered
 * exponential backoff until the handle's deadline. On return 0 the answer
 * (any status that is not retried) is in @r; the caller maps it. */
static int call_retry(struct kvc *h, const struct call *c, struct resp *r)
{
	uint64_t deadline = now_ms() + (uint64_t)h->opts.retry_deadline_ms;
	uint64_t backoff = KVC_BACKOFF_MIN_MS;
	int last = KVC_EUNAVAILABLE;
	memset(r, 0, sizeof(*r));
	h->errmsg[0] = '\0';
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		uint64_t tmo = (uint64_t)h->opts.request_timeout_ms;
		if (c->long_wait || tmo > left)
			tmo = left;
		const struct endpoint *ep = &h->eps[h->cur];
		if (c->fixed) {
			ep = c->fixed;
		} else if (c->to_leader && !h->has_leader) {
			/* /v1/status answers at once on a live member: a short
			 * wait suffices, so a hung member costs little. */
			uint64_t stmo = KVC_STATUS_TIMEOUT_MS;
			if (stmo < (uint64_t)h->opts.connect_timeout_ms)
				stmo = (uint64_t)h->opts.connect_timeout_ms;
			if (stmo > tmo)
				stmo = tmo;
			discover(h, ep, stmo);
			if (!h->has_leader) {
				/* Down, or it knows no leader: a write sent
				 * there would only wait for one. */
				last = KVC_EUNAVAILABLE;
				set_errmsg(h, "%s:%d: no leader known",
					   ep->host, ep->port);
				goto again;
			}
		}
		if (c->to_leader && h->has_leader && !c->fixed)
			ep = &h->leader;
		now = now_ms();
		if (now >= deadline)
			break;
		left = deadline - now;
		if (tmo > left)
			tmo = left;
		int rc = http_once(h, ep, c, tmo, r);
		if (rc < 0)
			return rc;
		if (r->status == 0) {
			last = r->timed_out ? KVC_ETIMEOUT : KVC_EUNAVAILABLE;
			set_errmsg(h, "%s:%d: %s", ep->host, ep->port,
				   r->timed_out ? "no answer in time"
						: "connection failed");
		} else if (r->status == 503 || r->status == 504) {
			last = status_to_rc(h, r);
		} else {
			return 0;
		}
		resp_clear(r);
	again:
		/* The member we used may be down or no longer lead: ask
		 * another one next time. */
		h->has_leader = false;
		if (!c->fixed)
			h->cur = (h->cur + 1) % h->n_eps;
		now = now_ms();
		if (now >= deadline)
			break;
		uint64_t pause = backoff / 2 + rng_next(h) % (backoff / 2 + 1);
		if (pause > deadline - now)
			pause = deadline - now;
		sleep_ms(pause);
		backoff *= 2;
		if (backoff > KVC_BACKOFF_MAX_MS)
			backoff = KVC_BACKOFF_MAX_MS;
	}
	/* A connection failure at the end means nobody answered: the cluster
	 * is unavailable; a 504 or a silent member means we timed out. */
	if (h->errmsg[0] == '\0')
		set_errmsg(h, "retry deadline of %d ms passed",
			   h->opts.retry_deadline_ms);
	return last;
}

/* "/v1/kv/<key percent-encoded>" plus an optional query. Caller frees. */
static char *kv_path(const char *key, const char *query)
{
	char *enc = evhttp_uriencode(key, -1, 0);
	if (!enc)
		return NULL;
	size_t n = strlen(enc) + strlen(query ? query : "") + 16;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "/v1/kv/%s%s", enc, query ? query : "");
	free(enc);
	return p;
}

static json_t *body_json(struct kvc *h, const struct resp *r)
{
	json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	if (!j)
		set_errmsg(h, "response is not JSON");
	return j;
}

/* Sends @c with retries and maps the answer's status to a code. When that
 * code is 0 (or KVC_ECAS and @json_on_cas: a failed compare-and-swap still
 * says the key's index), the body is parsed into *@j, which the caller owns
 * (json_decref) and which is NULL when the body is not JSON; otherwise *@j is
 * NULL. */
static int call_json(struct kvc *h, const struct call *c, bool json_on_cas,
		     json_t **j)
{
	struct resp r;
	*j = NULL;
	int rc = call_retry(h, c, &r);
	if (rc < 0)
		return rc;
	rc = status_to_rc(h, &r);
	if (rc == 0 || (json_on_cas && rc == KVC_ECAS))
		*j = body_json(h, &r);
	resp_clear(&r);
	return rc;
}

static int get_u64(json_t *obj, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return KVC_EPROTO;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static bool key_ok(const char *key)
{
	return key && *key;
}

int kvc_get(struct kvc *h, const char *key, unsigned flags, void **value,
	    size_t *len, uint64_t *mod_index)
{
	if (!h || !key_ok(key) || !value || !len)
		return KVC_EINVAL;
	bool stale = (flags & KVC_GET_STALE) || h->opts.stale_reads;
	char *path = kv_path(key, stale ? "?consistency=stale" : NULL);
	if (!path)
		return KVC_ENOMEM;
	struct call c = {
	    .method = EVHTTP_REQ_GET, .path = path, .to_leader = !stale};
	struct resp r;
	int rc = call_retry(h, &c, &r);
	free(path);
	if (rc < 0)
		return rc;
	rc = status_to_rc(h, &r);
	if (rc == 0) {
		if (!r.has_x_kv_index) {
			set_errmsg(h, "no X-Kv-Index header");
			rc = KVC_EPROTO;
		} else {
			*value = r.body; /* NUL-terminated by on_response */
			*len = r.len;
			if (mod_index)
				*mod_index = r.x_kv_index;
			r.body = NULL;
		}
	}
	resp_clear(&r);
	return rc;
}

/* PUT or DELETE on a key, with optional cas. */
static int kv_write(struct kvc *h, enum evhttp_cmd_type method, const char *key,
		    const void *value, size_t len, bool has_cas, uint64_t cas,
		    uint64_t *index, bool *deleted)
{
	if (!h || !key_ok(key) || (len && !value))
		return KVC_EINVAL;
	char q[40] = "";
	if (has_cas)
		snprintf(q, sizeof(q), "?cas=%" PRIu64, cas);
	char *path = kv_path(key, q);
	if (!path)
		return KVC_ENOMEM;
	/* One sequence number per logical write, kept across retries. */
	struct call c = {.method = method,
			 .path = path,
			 .body = value,
			 .body_len = len,
			 .to_leader = true,
			 .seq = ++h->seq};
	json_t *j;
	int rc = call_json(h, &c, true, &j);
	free(path);
	if (rc == 0 || rc == KVC_ECAS) {
		uint64_t idx = 0;
		if (!j || get_u64(j, "index", &idx) < 0) {
			set_errmsg(h, "response without \"index\"");
			rc = KVC_EPROTO;
		} else {
			if (index)
				*index = idx;
			if (rc == 0 && method == EVHTTP_REQ_DELETE) {
				json_t *d = json_object_get(j, "deleted");
				if (!json_is_boolean(d))
					rc = KVC_EPROTO;
				else if (deleted)
					*deleted = json_is_true(d);
			}
		}
	}
	json_decref(j);
	return rc;
}

int kvc_put(struct kvc *h, const char *key, const void *value, size_t len,
	    uint64_t *index)
{
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, false, 0, index,
			NULL);
}

int kvc_cas_put(struct kvc *h, const char *key, const void *value, size_t len,
		uint64_t cas, uint64_t *index)
{
	return kv_write(h, EVHTTP_REQ_PUT, key, value, len, true, cas, index,
			NULL);
}

int kvc_delete(struct kvc *h, const char *key, uint64_t *index, bool *deleted)
{
	return kv_write(h, EVHTTP_REQ_DELETE, key, NULL, 0, false, 0, index,
			deleted);
}

int kvc_cas_delete(struct kvc *h, const char *key, uint64_t cas,
		   uint64_t *index, bool *deleted)
{
	return kv_write(h, EVHTTP_REQ_DELETE, key, NULL, 0, true, cas, index,
			deleted);
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decodes standard base64 (RFC 4648, with padding) into a malloc'd buffer
 * with a trailing NUL. */
static int b64_decode(const char *s, void **out, size_t *out_len)
{
	size_t n = strlen(s);
	if (n % 4 != 0)
		return KVC_EPROTO;
	unsigned char *buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return KVC_ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = s[i + k] == '='
				   ? -2
				   : b64val((unsigned char)s[i + k]);
			if (v[k] == -1 || (v[k] == -2 && (i + 4 != n || k < 2)))
				goto bad;
		}
		if (v[2] == -2 && v[3] != -2)
			goto bad;
		buf[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			buf[o++] =
			    (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[3] >= 0)
			buf[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
bad:
	free(buf);
	return KVC_EPROTO;
}

void kvc_kvs_free(struct kvc_kv *kvs, size_t n)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

int kvc_list(struct kvc *h, const char *prefix, const char *after,
	     unsigned limit, struct kvc_kv **kvs, size_t *n, bool *more)
{
	if (!h || !kvs || !n)
		return KVC_EINVAL;
	*kvs = NULL;
	*n = 0;
	struct evbuffer *pb = evbuffer_new();
	if (!pb)
		return KVC_ENOMEM;
	int rc = KVC_ENOMEM;
	char sep = '?';
	evbuffer_add_printf(pb, "/v1/kv");
	const char *names[2] = {"prefix", "after"};
	const char *vals[2] = {prefix, after};
	for (int i = 0; i < 2; i++) {
		if (!vals[i] || !*vals[i])
			continue;
		char *e = evhttp_uriencode(vals[i], -1, 0);
		if (!e)
			goto out_pb;
		evbuffer_add_printf(pb, "%c%s=%s", sep, names[i], e);
		free(e);
		sep = '&';
	}
	if (limit) {
		evbuffer_add_printf(pb, "%climit=%u", sep, limit);
		sep = '&';
	}
	if (h->opts.stale_reads)
		evbuffer_add_printf(pb, "%cconsistency=stale", sep);
	evbuffer_add(pb, "", 1);
	const char *path = (const char *)evbuffer_pullup(pb, -1);
	if (!path)
		goto out_pb;
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = path,
			 .to_leader = !h->opts.stale_reads};
	json_t *j;
	rc = call_json(h, &c, false, &j);
	if (rc < 0)
		goto out_pb;
	json_t *arr = json_object_get(j, "kvs");
	json_t *m = json_object_get(j, "more");
	rc = KVC_EPROTO;
	if (!json_is_array(arr) || !json_is_boolean(m))
		goto out_j;
	size_t cnt = json_array_size(arr);
	struct kvc_kv *out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (!out) {
		rc = KVC_ENOMEM;
		goto out_j;
	}
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(arr, i);
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *v = json_string_value(json_object_get(e, "value"));
		rc = KVC_EPROTO;
		if (!k || !v || get_u64(e, "index", &out[i].index) < 0)
			goto bad;
		rc = b64_decode(v, &out[i].value, &out[i].value_len);
		if (rc < 0)
			goto bad;
		out[i].key = strdup(k);
		if (!out[i].key) {
			rc = KVC_ENOMEM;
			goto bad;
		}
	}
	*kvs = out;
	*n = cnt;
	if (more)
		*more = json_is_true(m);
	rc = 0;
	goto out_j;
bad:
	if (rc == KVC_EPROTO)
		set_errmsg(h, "malformed list entry");
	kvc_kvs_free(out, cnt);
out_j:
	if (rc == KVC_EPROTO && !h->errmsg[0])
		set_errmsg(h, "malformed list response");
	json_decref(j);
out_pb:
	evbuffer_free(pb);
	return rc;
}

void kvc_members_free(struct kvc_member *members, size_t n)
{
	if (!members)
		return;
	for (size_t i = 0; i < n; i++) {
		free(members[i].peer_url);
		free(members[i].client_url);
	}
	free(members);
}

static int parse_members(json_t *arr, struct kvc_member **out, size_t *n)
{
	if (!json_is_array(arr))
		return KVC_EPROTO;
	size_t cnt = json_array_size(arr);
	struct kvc_member *m = calloc(cnt ? cnt : 1, sizeof(*m));
	if (!m)
		return KVC_ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		json_t *e = json_array_get(arr, i);
		const char *p =
		    json_string_value(json_object_get(e, "peer_url"));
		const char *c =
		    json_string_value(json_object_get(e, "client_url"));
		json_t *v = json_object_get(e, "voter");
		if (!p || get_u64(e, "id", &m[i].id) < 0 ||
		    !json_is_boolean(v)) {
			rc = KVC_EPROTO;
			break;
		}
		m[i].voter = json_is_true(v);
		m[i].peer_url = strdup(p);
		m[i].client_url = strdup(c ? c : "");
		if (!m[i].peer_url || !m[i].client_url)
			rc = KVC_ENOMEM;
	}
	if (rc < 0) {
		kvc_members_free(m, cnt);
		return rc;
	}
	*out = m;
	*n = cnt;
	return 0;
}

void kvc_status_free(struct kvc_status *st)
{
	if (!st)
		return;
	free(st->state);
	free(st->leader_client_url);
	kvc_members_free(st->members, st->n_members);
	free(st);
}

int kvc_status(struct kvc *h, const char *url, struct kvc_status **st)
{
	if (!h || !st)
		return KVC_EINVAL;
	*st = NULL;
	struct endpoint ep;
	if (url && parse_endpoint(url, strlen(url), &ep) < 0)
		return KVC_EINVAL;
	struct call c = {.method = EVHTTP_REQ_GET,
			 .path = "/v1/status",
			 .fixed = url ? &ep : NULL};
	json_t *j;
	int rc = call_json(h, &c, false, &j);
	if (rc < 0)
		return rc;
	struct kvc_status *s = calloc(1, sizeof(*s));
	rc = KVC_ENOMEM;
	if (!s)
		goto out_j;
	rc = KVC_EPROTO;
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *lurl =
	    json_string_value(json_object_get(j, "leader_client_url"));
	if (!state || get_u64(j, "id", &s->id) < 0 ||
	    get_u64(j, "term", &s->term) < 0 ||
	    get_u64(j, "leader", &s->leader) < 0 ||
	    get_u64(j, "commit_index", &s->commit_index) < 0 ||
	    get_u64(j, "applied_index", &s->applied_index) < 0 ||
	    get_u64(j, "last_index", &s->last_index) < 0 ||
	    get_u64(j, "snapshot_index", &s->snapshot_index) < 0) {
		set_errmsg(h, "malformed status response");
		goto out_s;
	}
	rc = parse_members(json_object_get(j, "members"), &s->members,
			   &s->n_members);
	if (rc < 0)
		goto out_s;
	s->state = strdup(state);
	s->leader_client_url = strdup(lurl ? lurl : "");
	rc = KVC_ENOMEM;
	if (!s->state || !s->leader_client_url)
		goto out_s;
	*st = s;
	s = NULL;
	rc = 0;
out_s:
	kvc_status_free(s);
out_j:
	json_decref(j);
	return rc;
}

int kvc_members(struct kvc *h, struct kvc_member **members, size_t *n)
{
	if (!h || !members || !n)
		return KVC_EINVAL;
	struct call c = {.method = EVHTTP_REQ_GET, .path = "/v1/members"};
	json_t *j;
	int rc = call_json(h, &c, false, &j);
	if (rc == 0) {
		rc = parse_members(json_object_get(j, "members"), members, n);
		if (rc == KVC_EPROTO)
			set_errmsg(h, "malformed members response");
	}
	json_decref(j);
	return rc;
}

/* A membership or leadership request with a JSON body (or none). */
static int admin_call(struct kvc *h, enum evhttp_cmd_type method,
		      const char *path, json_t *body)
{
	char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			return KVC_ENOMEM;
	}
	/* Membership changes and transfers answer once done (a learner
	 * catching up, an election): let one attempt use the whole deadline
	 * rather than repeat a change that may be under way. */
	struct call c = {.method = method,
			 .path = path,
			 .body = text,
			 .body_len = text ? strlen(text) : 0,
			 .to_leader = true,
			 .long_wait = true};
	struct resp r;
	int rc = call_retry(h, &c, &r);
	free(text);
	if (rc < 0)
		return rc;
	rc = status_to_rc(h, &r);
	resp_clear(&r);
	return rc;
}

int kvc_member_add(struct kvc *h, uint64_t id, const char *peer_url)
{
	if (!h || id == 0 || !peer_url || !*peer_url)
		return KVC_EINVAL;
	json_t *b =
	    json_pack("{s:I,s:s}", "id", (json_int_t)id, "peer_url", peer_url);
	if (!b)
		return KVC_ENOMEM;
	return admin_call(h, EVHTTP_REQ_POST, "/v1/members", b);
}

int kvc_member_remove(struct kvc *h, uint64_t id)
{
	if (!h || id == 0)
		return KVC_EINVAL;
	char path[48];
	snprintf(path, sizeof(path), "/v1/members/%" PRIu64, id);
	return admin_call(h, EVHTTP_REQ_DELETE, path, NULL);
}

int kvc_leader_transfer(struct kvc *h, uint64_t to)
{
	if (!h || to == 0)
		return KVC_EINVAL;
	json_t *b = json_pack("{s:I}", "to", (json_int_t)to);
	if (!b)
		return KVC_ENOMEM;
	return admin_call(h, EVHTTP_REQ_POST, "/v1/leader/transfer", b);
}
