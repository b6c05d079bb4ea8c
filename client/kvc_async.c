/* kvc_async.c - libkvc's event-loop API (kvc_async.h): requests and watches
 * as bufferevents on the caller's event_base.
 *
 * The handle wraps a struct kvc (kvc_http.h) for what the blocking calls
 * keep: the members, the leader known, the client id and write sequence,
 * the backoff generator and the error context; its private event_base is
 * never run. A request is a small state machine: it waits for one of the
 * handle's KVC_ASYNC_MAX_CONNS slots, asks a member for the leader (GET
 * /v1/status) when it goes to the leader and none is known, sends, reads the
 * answer with kvc_stream.c, and either completes or, after a jittered
 * backoff without its slot, tries again (the next member, the leader found
 * anew) until its deadline. A connection whose answer completed goes back
 * to an idle pool for the next request to the same member. A watch streams
 * GET /v1/watch on a connection of its own, parsed by kvc_watch_line.c and
 * resumed where kvc_watch_pos.c says, as kvc_watch.c does. */
#include "kvc_async.h"
#include "kvc.h"
#include "kvc_http.h"
#include "kvc_stream.h"
#include "kvc_tls.h"
#include "kvc_watch_line.h"
#include "kvc_watch_pos.h"

#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#define BACKOFF_MIN_MS	  20 /* as kvc_http.c's retries */
#define BACKOFF_MAX_MS	  1000
#define STATUS_TIMEOUT_MS 1000 /* leader discovery, per member */
/* The longest answer line: a value of 16 MiB (DESIGN.md §1.3) in base64
 * plus the rest of an event, as kvc_watch.c's bound. A get's raw value is
 * cut at '\n' and joined again, so no line of it is longer. */
#define MAX_LINE	   (((16u << 20) + 2) / 3 * 4 + 8192)
#define MAX_BODY	   ((16u << 20) + 8192)
#define WATCH_SILENT_MS	   30000 /* as kvc_watch.c */
#define WATCH_MAX_ERR_BODY (64 * 1024)

enum kind { K_GET, K_PUT, K_DEL };

struct idle_conn {
	struct endpoint ep;
	struct bufferevent *bev;
	struct kvc_async *a;
	struct idle_conn *next;
};

/* A writer: a client id and its sequence. A member keeps the last sequence
 * of each client id only, so writes in flight together need ids of their
 * own: a write takes a writer at its first attempt, keeps it (and its
 * X-Kv-Seq) across its retries, and gives it back when it completes. */
struct writer {
	char id[17];
	uint64_t seq;
	struct writer *next;
};

struct areq {
	struct kvc_async *a;
	struct areq *prev, *next; /* every pending request */
	struct areq *qnext;	  /* waiting for a slot */
	bool queued, has_slot;
	enum kind kind;
	char *path;
	void *body;
	size_t body_len;
	bool to_leader;
	struct writer *wr; /* writes: from the first attempt on */
	uint64_t seq;	   /* X-Kv-Seq with wr's id */
	void (*cb)(void);  /* a kvc_put_cb, kvc_get_cb or kvc_del_cb */
	void *arg;
	uint64_t deadline, backoff;
	/* Endpoints (bits of h->eps) that refused the connection once and
	 * twice since the last other outcome: when every one refused twice,
	 * nothing listens (as kvc_http_call() judges). Counted per endpoint,
	 * not in a row: the requests in flight share h->cur, so one request
	 * may meet the same dead member several times while others move on. */
	uint64_t refused1, refused2;
	bool maybe_sent;
	int last; /* the code if the deadline passes now */
	/* The handle's errmsg when the last attempt failed: other requests
	 * overwrite the handle's before this one's deadline passes. */
	char why[KVC_ERRMSG];
	/* The attempt. */
	bool discovering; /* GET /v1/status for the leader */
	struct endpoint ep;
	struct bufferevent *bev;
	bool reused, connected, got_bytes;
	/* Inside bufferevent_socket_connect_hostname(), which may report a
	 * failure through the event callback before it returns: noted, and
	 * acted upon once it has returned. */
	bool in_connect, connect_failed;
	int connect_err;
	bool tls_failed; /* the last refusal was a TLS failure (errmsg) */
	struct kvc_stream st;
	bool head;
	int status;
	bool has_index;
	uint64_t index;
	char *in; /* the body */
	size_t in_len, in_cap;
	struct event *timer; /* the attempt's timeout, or the backoff */
};

enum wstate { W_IDLE, W_HEAD, W_ERRBODY, W_STREAM };

struct kvc_async_watch {
	struct kvc_async *a;
	struct kvc_async_watch *prev, *next;
	char *key, *param;
	struct kvc_watch_pos pos;
	kvc_event_cb cb;
	void *arg;
	size_t ep;
	enum wstate state;
	struct bufferevent *bev;
	struct kvc_stream st;
	char *errbody;
	size_t errbody_len;
	bool got_line;
	uint64_t reconnect_deadline, backoff;
	struct event *timer;
	bool in_cb, cancelled;
	bool in_connect, connect_failed; /* as struct areq's */
};

struct kvc_async {
	struct event_base *base;
	struct kvc *h;
	struct areq *reqs;
	struct areq *qhead, *qtail;
	unsigned busy; /* slots taken */
	struct idle_conn *idle;
	unsigned n_idle;
	struct kvc_async_watch *watches;
	struct writer *writers; /* free */
};

static void req_attempt(struct areq *r);
static void watch_attempt(struct kvc_async_watch *w);

static struct timeval tv_ms(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

static bool same_ep(const struct endpoint *x, const struct endpoint *y)
{
	return kvc_http_same_ep(x, y);
}

/* A bufferevent for a new connection to @ep on @base, its socket not yet
 * set (bufferevent_socket_connect_hostname() makes it): over TLS, on a
 * fresh SSL whose peer must be @ep's host, the handshake done before
 * BEV_EVENT_CONNECTED. NULL when out of memory or when no TLS context can
 * be built (*@no_tls set; the handle's errmsg says why). */
static struct bufferevent *bev_new(struct kvc *h, struct event_base *base,
				   const struct endpoint *ep, bool *no_tls)
{
	*no_tls = false;
	if (!ep->tls)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	SSL_CTX *ctx = kvc_tls_ctx_of(h);
	if (!ctx) {
		*no_tls = true;
		return NULL;
	}
	SSL *ssl = kvc_tls_ssl_new(ctx, ep->host);
	if (!ssl)
		return NULL;
	/* The bufferevent owns the SSL and frees it with itself. */
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	/* On failure libevent has freed @ssl (BEV_OPT_CLOSE_ON_FREE). */
	if (!bev)
		return NULL;
	/* A member may close without a TLS close_notify (HTTP says where
	 * a body ends): an end of file, not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return kvc_tls_joined(bev);
}

/* After @bev (TLS or not) reported an error: when the TLS session failed,
 * says why in the handle's errmsg and returns true. */
static bool tls_failure(struct kvc *h, const struct endpoint *ep,
			struct bufferevent *bev)
{
	char why[300];
	if (!kvc_tls_bev_failed(bev, why, sizeof(why)))
		return false;
	kvc_http_set_errmsg(h, "%s:%d: %s", ep->host, ep->port, why);
	return true;
}

/* ---- The idle pool. ---- */

static void idle_remove(struct kvc_async *a, struct idle_conn *c)
{
	for (struct idle_conn **p = &a->idle; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			a->n_idle--;
			return;
		}
}

/* An idle connection closed or spoke out of turn: drop it. */
static void idle_event(struct bufferevent *bev, short what, void *arg)
{
	struct idle_conn *c = arg;
	(void)what;
	(void)bev;
	idle_remove(c->a, c);
	bufferevent_free(c->bev);
	free(c);
}

static void idle_read(struct bufferevent *bev, void *arg)
{
	idle_event(bev, BEV_EVENT_ERROR, arg);
}

static void idle_put(struct kvc_async *a, const struct endpoint *ep,
		     struct bufferevent *bev)
{
	struct idle_conn *c =
	    a->n_idle < KVC_ASYNC_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		bufferevent_free(bev);
		return;
	}
	c->ep = *ep;
	c->bev = bev;
	c->a = a;
	c->next = a->idle;
	a->idle = c;
	a->n_idle++;
	bufferevent_setcb(bev, idle_read, NULL, idle_event, c);
	bufferevent_enable(bev, EV_READ);
}

static struct bufferevent *idle_take(struct kvc_async *a,
				     const struct endpoint *ep)
{
	for (struct idle_conn *c = a->idle; c; c = c->next)
		if (same_ep(&c->ep, ep)) {
			struct bufferevent *bev = c->bev;
			idle_remove(a, c);
			free(c);
			return bev;
		}
	return NULL;
}

/* ---- Writers. ---- */

static struct writer *writer_take(struct kvc_async *a)
{
	struct writer *w = a->writers;
	if (w) {
		a->writers = w->next;
		return w;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	unsigned char id[8];
	if (kvc_http_read_random(id, sizeof(id)) < 0) {
		uint64_t x = kvc_http_rng_next(a->h);
		memcpy(id, &x, sizeof(id));
	}
	for (size_t i = 0; i < sizeof(id); i++)
		snprintf(w->id + 2 * i, 3, "%02x", id[i]);
	return w;
}

static void writer_give(struct kvc_async *a, struct writer *w)
{
	if (!w)
		return;
	w->next = a->writers;
	a->writers = w;
}

/* ---- Requests. ---- */

static void drop_attempt(struct areq *r, bool keep)
{
	if (r->bev) {
		if (keep)
			idle_put(r->a, &r->ep, r->bev);
		else
			bufferevent_free(r->bev);
	}
	r->bev = NULL;
	kvc_stream_free(&r->st);
	free(r->in);
	r->in = NULL;
	r->in_len = r->in_cap = 0;
	r->head = false;
	r->status = 0;
	r->has_index = false;
	evtimer_del(r->timer);
}

/* Gives the request's slot to the first request waiting for one. */
static void release_slot(struct areq *r)
{
	struct kvc_async *a = r->a;
	if (!r->has_slot)
		return;
	r->has_slot = false;
	a->busy--;
	struct areq *n = a->qhead;
	if (!n)
		return;
	a->qhead = n->qnext;
	if (!a->qhead)
		a->qtail = NULL;
	n->queued = false;
	n->has_slot = true;
	a->busy++;
	req_attempt(n);
}

static void req_free(struct areq *r)
{
	struct kvc_async *a = r->a;
	if (r->prev)
		r->prev->next = r->next;
	else
		a->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->queued) {
		struct areq **p = &a->qhead;
		while (*p != r)
			p = &(*p)->qnext;
		*p = r->qnext;
		a->qtail = NULL;
		for (struct areq *q = a->qhead; q; q = q->qnext)
			a->qtail = q;
	}
	drop_attempt(r, false);
	writer_give(a, r->wr);
	if (r->timer)
		event_free(r->timer);
	free(r->path);
	free(r->body);
	free(r);
}

/* Calls the request's callback once with @rc and the answer's @j or body,
 * then frees it. */
static void req_finish(struct areq *r, int rc, json_t *j)
{
	struct kvc *h = r->a->h;
	h->maybe_sent =
	    r->maybe_sent && (rc == KVC_ETIMEOUT || rc == KVC_EUNAVAILABLE ||
			      rc == KVC_ECANCELED);
	uint64_t idx = 0;
	bool deleted = false;
	if (r->kind != K_GET && (rc == 0 || rc == KVC_ECAS) && j) {
		if (kvc_http_get_u64(j, "index", &idx) < 0) {
			kvc_http_set_errmsg(h, "response without \"index\"");
			rc = KVC_EPROTO;
		} else if (rc == 0 && r->kind == K_DEL) {
			json_t *d = json_object_get(j, "deleted");
			if (!json_is_boolean(d))
				rc = KVC_EPROTO;
			deleted = json_is_true(d);
		}
	}
	if (r->kind == K_GET && rc == 0 && !r->has_index) {
		kvc_http_set_errmsg(h, "no X-Kv-Index header");
		rc = KVC_EPROTO;
	}
	if (rc == 0)
		h->errmsg[0] = '\0';
	struct kvc_async *a = r->a;
	bool slot = r->has_slot;
	/* Unlinked first: the callback may start requests of its own. */
	r->has_slot = false;
	if (slot)
		a->busy--;
	void *arg = r->arg;
	switch (r->kind) {
	case K_GET:
		((kvc_get_cb)r->cb)(arg, rc, rc == 0 ? r->in : NULL,
				    rc == 0 ? r->in_len : 0,
				    rc == 0 ? r->index : 0);
		break;
	case K_PUT:
		((kvc_put_cb)r->cb)(arg, rc, idx);
		break;
	case K_DEL:
		((kvc_del_cb)r->cb)(arg, rc, idx, deleted);
		break;
	}
	req_free(r);
	if (slot && a->qhead) {
		/* Hand the freed slot on. */
		struct areq dummy = {.a = a, .has_slot = true};
		a->busy++;
		release_slot(&dummy);
	}
}

/* The attempt failed with @code (the reason in the handle's errmsg): the
 * next one goes to another member after a pause, without the slot. */
static void req_retry(struct areq *r, int code, bool refused)
{
	struct kvc_async *a = r->a;
	struct kvc *h = a->h;
	bool reused_empty = r->reused && !r->got_bytes;
	if (r->connected && !r->discovering)
		r->maybe_sent = true;
	snprintf(r->why, sizeof(r->why), "%s", h->errmsg);
	drop_attempt(r, false);
	if (reused_empty) {
		/* A kept-alive connection the member had closed: try at
		 * once on a fresh one; nothing says the member failed. */
		req_attempt(r);
		return;
	}
	r->last = code;
	size_t i = 0;
	while (i < h->n_eps && !same_ep(&h->eps[i], &r->ep))
		i++;
	if (!refused) {
		r->refused1 = r->refused2 = 0;
	} else if (i < h->n_eps) {
		uint64_t bit = (uint64_t)1 << i;
		if (r->refused1 & bit)
			r->refused2 |= bit;
		r->refused1 |= bit;
	}
	uint64_t all =
	    h->n_eps >= 64 ? UINT64_MAX : ((uint64_t)1 << h->n_eps) - 1;
	if (r->refused2 == all) {
		/* A TLS failure says its own reason (errmsg). */
		if (!r->tls_failed)
			kvc_http_set_errmsg(h,
					    "connection refused by every "
					    "endpoint (last %s:%d)",
					    r->ep.host, r->ep.port);
		req_finish(r, KVC_EUNAVAILABLE, NULL);
		return;
	}
	h->has_leader = false;
	h->cur = (h->cur + 1) % h->n_eps;
	uint64_t now = clock_now_ms();
	if (now >= r->deadline) {
		req_finish(r, code, NULL);
		return;
	}
	uint64_t b = r->backoff;
	uint64_t pause = b / 2 + kvc_http_rng_next(h) % (b / 2 + 1);
	if (pause > r->deadline - now)
		pause = r->deadline - now;
	r->backoff = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	release_slot(r);
	struct timeval tv = tv_ms(pause);
	evtimer_add(r->timer, &tv);
}

/* A complete answer. */
static void req_answer(struct areq *r)
{
	struct kvc *h = r->a->h;
	struct resp resp = {.status = r->status,
			    .body = r->in,
			    .len = r->in_len,
			    .x_kv_index = r->index,
			    .has_x_kv_index = r->has_index};
	if (r->discovering) {
		json_t *j = r->status == 200 ? json_loadb(r->in ? r->in : "",
							  r->in_len, 0, NULL)
					     : NULL;
		json_t *lid = json_object_get(j, "leader");
		const char *url =
		    json_string_value(json_object_get(j, "leader_client_url"));
		if (json_is_integer(lid) && json_integer_value(lid) > 0 &&
		    url && *url &&
		    kvc_http_parse_endpoint(url, strlen(url), &h->leader) == 0)
			h->has_leader = true;
		json_decref(j);
		if (r->status == 401 || r->status == 403) {
			/* Auth is on and the token will not do: no other
			 * member thinks otherwise. */
			int rc = kvc_http_status_to_rc(h, &resp);
			drop_attempt(r, false);
			evtimer_del(r->timer);
			req_finish(r, rc, NULL);
			return;
		}
		if (!h->has_leader) {
			kvc_http_set_errmsg(h, "%s:%d: no leader known",
					    r->ep.host, r->ep.port);
			req_retry(r, KVC_EUNAVAILABLE, false);
			return;
		}
		drop_attempt(r, true);
		req_attempt(r);
		return;
	}
	r->maybe_sent = true;
	int rc = kvc_http_status_to_rc(h, &resp);
	if (r->status == 503 || r->status == 504) {
		req_retry(r, rc, false);
		return;
	}
	json_t *j = NULL;
	if (r->kind != K_GET && (rc == 0 || rc == KVC_ECAS))
		j = json_loadb(r->in ? r->in : "", r->in_len, 0, NULL);
	if (r->kind != K_GET && (rc == 0 || rc == KVC_ECAS) && !j) {
		kvc_http_set_errmsg(h, "response not JSON");
		rc = KVC_EPROTO;
	}
	/* The answer is whole and no more was asked: the connection can
	 * serve the next request to this member. */
	struct bufferevent *bev = r->bev;
	r->bev = NULL;
	idle_put(r->a, &r->ep, bev);
	if (rc == 0 && r->kind == K_GET && !r->in) {
		r->in = strdup("");
		if (!r->in)
			rc = KVC_ENOMEM;
	}
	evtimer_del(r->timer);
	req_finish(r, rc, j);
	json_decref(j);
}

static int body_add(struct areq *r, const char *p, size_t n, bool nl)
{
	size_t add = n + (nl ? 1 : 0);
	if (r->in_len + add > MAX_BODY)
		return KVC_ETOO_LARGE;
	if (r->in_len + add + 1 > r->in_cap) {
		size_t cap = (r->in_len + add + 1) * 2;
		char *nb = realloc(r->in, cap);
		if (!nb)
			return KVC_ENOMEM;
		r->in = nb;
		r->in_cap = cap;
	}
	memcpy(r->in + r->in_len, p, n);
	if (nl)
		r->in[r->in_len + n] = '\n';
	r->in_len += add;
	r->in[r->in_len] = '\0';
	return 0;
}

/* Steps the answer read so far. */
static void req_drain(struct areq *r)
{
	struct kvc *h = r->a->h;
	for (;;) {
		const char *line;
		size_t len;
		int s = kvc_stream_next(&r->st, &line, &len);
		int rc;
		switch (s) {
		case KVC_STREAM_MORE:
			return;
		case KVC_STREAM_HEAD:
			r->head = true;
			r->status = r->st.status;
			r->has_index = r->st.has_index;
			r->index = r->st.index;
			continue;
		case KVC_STREAM_LINE:
		case KVC_STREAM_END:
			rc = body_add(r, line, len, s == KVC_STREAM_LINE);
			if (rc < 0) {
				kvc_http_set_errmsg(h, "%s:%d: answer: %s",
						    r->ep.host, r->ep.port,
						    kvc_strerror(rc));
				r->maybe_sent = true;
				drop_attempt(r, false);
				req_finish(r, rc, NULL);
				return;
			}
			if (s == KVC_STREAM_END) {
				req_answer(r);
				return;
			}
			continue;
		case KVC_STREAM_CUT:
			kvc_http_set_errmsg(h, "%s:%d: connection lost",
					    r->ep.host, r->ep.port);
			req_retry(r, KVC_EUNAVAILABLE, false);
			return;
		default:
			kvc_http_set_errmsg(h, "%s:%d: malformed HTTP answer",
					    r->ep.host, r->ep.port);
			r->maybe_sent = true;
			drop_attempt(r, false);
			req_finish(r, s == KVC_ETOO_LARGE ? s : KVC_EPROTO,
				   NULL);
			return;
		}
	}
}

static void req_read(struct bufferevent *bev, void *arg)
{
	struct areq *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	if (n == 0)
		return;
	r->got_bytes = true;
	unsigned char *p = evbuffer_pullup(in, -1);
	int rc = p ? kvc_stream_feed(&r->st, p, n) : KVC_ENOMEM;
	evbuffer_drain(in, n);
	if (rc < 0) {
		drop_attempt(r, false);
		req_finish(r, rc, NULL);
		return;
	}
	req_drain(r);
}

static void req_event(struct bufferevent *bev, short what, void *arg)
{
	struct areq *r = arg;
	struct kvc *h = r->a->h;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		r->connected = true;
		return;
	}
	if (r->in_connect) {
		r->connect_failed = true;
		r->connect_err = EVUTIL_SOCKET_ERROR();
		return;
	}
	if ((what & BEV_EVENT_EOF) && r->connected) {
		kvc_stream_eof(&r->st);
		req_drain(r);
		return;
	}
	int err = EVUTIL_SOCKET_ERROR();
	bool refused = !r->connected && err == ECONNREFUSED;
	r->tls_failed = tls_failure(h, &r->ep, r->bev);
	if (!r->tls_failed)
		kvc_http_set_errmsg(h, "%s:%d: %s", r->ep.host, r->ep.port,
				    refused	    ? "connection refused"
				    : !r->connected ? "connection failed"
						    : "connection lost");
	/* A member whose certificate we refuse, or that refuses ours,
	 * counts as one that refuses the connection. */
	req_retry(r, KVC_EUNAVAILABLE, refused || r->tls_failed);
}

static void req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct areq *r = arg;
	(void)fd;
	(void)what;
	if (!r->bev) {
		/* The backoff ended: try again, in a slot. */
		struct kvc_async *a = r->a;
		if (a->busy >= KVC_ASYNC_MAX_CONNS) {
			r->queued = true;
			r->qnext = NULL;
			if (a->qtail)
				a->qtail->qnext = r;
			else
				a->qhead = r;
			a->qtail = r;
			return;
		}
		r->has_slot = true;
		a->busy++;
		req_attempt(r);
		return;
	}
	kvc_http_set_errmsg(r->a->h, "%s:%d: no answer in time", r->ep.host,
			    r->ep.port);
	req_retry(r, KVC_ETIMEOUT, false);
}

/* Starts an attempt in the request's slot. */
static void req_attempt(struct areq *r)
{
	struct kvc_async *a = r->a;
	struct kvc *h = a->h;
	uint64_t now = clock_now_ms();
	if (now >= r->deadline) {
		if (r->why[0])
			kvc_http_set_errmsg(h, "%s", r->why);
		else
			kvc_http_set_errmsg(h, "retry deadline of %d ms passed",
					    h->opts.retry_deadline_ms);
		req_finish(r, r->last, NULL);
		return;
	}
	uint64_t tmo = (uint64_t)h->opts.request_timeout_ms;
	r->discovering = r->to_leader && !h->has_leader;
	if (r->discovering) {
		r->ep = h->eps[h->cur];
		if (tmo > STATUS_TIMEOUT_MS &&
		    STATUS_TIMEOUT_MS >= (uint64_t)h->opts.connect_timeout_ms)
			tmo = STATUS_TIMEOUT_MS;
	} else {
		r->ep = r->to_leader ? h->leader : h->eps[h->cur];
	}
	if (tmo > r->deadline - now)
		tmo = r->deadline - now;
	if (r->kind != K_GET && !r->wr) {
		/* One sequence number per logical write, kept across
		 * retries. */
		r->wr = writer_take(a);
		if (!r->wr) {
			req_finish(r, KVC_ENOMEM, NULL);
			return;
		}
		r->seq = ++r->wr->seq;
	}
	r->got_bytes = false;
	kvc_stream_init(&r->st, MAX_LINE);
	r->bev = idle_take(a, &r->ep);
	r->reused = r->bev != NULL;
	r->connected = r->reused;
	if (!r->bev) {
		bool no_tls;
		r->bev = bev_new(h, a->base, &r->ep, &no_tls);
		if (!r->bev) {
			req_finish(r, no_tls ? KVC_EINVAL : KVC_ENOMEM, NULL);
			return;
		}
	}
	bufferevent_setcb(r->bev, req_read, NULL, req_event, r);
	bufferevent_enable(r->bev, EV_READ | EV_WRITE);
	struct evbuffer *out = bufferevent_get_output(r->bev);
	static const char *const meth[] = {"GET", "PUT", "DELETE"};
	const char *m = r->discovering ? "GET" : meth[r->kind];
	const char *path = r->discovering ? "/v1/status" : r->path;
	int rc = evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n",
				     m, path, r->ep.host, r->ep.port);
	/* kvc_open() checked the token: no space or control character. */
	if (rc >= 0 && h->opts.token)
		rc = evbuffer_add_printf(out, "Authorization: Bearer %s\r\n",
					 h->opts.token);
	if (rc >= 0 && !r->discovering && r->wr)
		rc = evbuffer_add_printf(
		    out, "X-Kv-Client: %s\r\nX-Kv-Seq: %" PRIu64 "\r\n",
		    r->wr->id, r->seq);
	if (rc >= 0 && !r->discovering && r->kind == K_PUT)
		rc = evbuffer_add_printf(
		    out,
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Length: %zu\r\n",
		    r->body_len);
	else if (rc >= 0 && !r->discovering && r->kind == K_DEL)
		rc = evbuffer_add_printf(out, "Content-Length: 0\r\n");
	if (rc >= 0)
		rc = evbuffer_add(out, "\r\n", 2);
	if (rc >= 0 && !r->discovering && r->body_len)
		rc = evbuffer_add(out, r->body, r->body_len);
	if (rc < 0) {
		drop_attempt(r, false);
		req_finish(r, KVC_ENOMEM, NULL);
		return;
	}
	struct timeval tv = tv_ms(tmo);
	evtimer_add(r->timer, &tv);
	if (r->reused)
		return;
	r->in_connect = true;
	r->connect_failed = false;
	rc = bufferevent_socket_connect_hostname(r->bev, NULL, AF_UNSPEC,
						 r->ep.host, r->ep.port);
	r->in_connect = false;
	if (rc == 0 && !r->connect_failed && r->ep.tls)
		kvc_http_nodelay(bufferevent_getfd(r->bev));
	if (rc != 0 || r->connect_failed) {
		bool refused =
		    r->connect_failed && r->connect_err == ECONNREFUSED;
		kvc_http_set_errmsg(h, "%s:%d: %s", r->ep.host, r->ep.port,
				    refused ? "connection refused"
					    : "connection failed");
		req_retry(r, KVC_EUNAVAILABLE, refused);
	}
}

/* Starts the request soon (in the loop, never inside the caller's call). */
static void req_start(struct areq *r)
{
	struct timeval tv = {0, 0};
	evtimer_add(r->timer, &tv);
}

static int req_new(struct kvc_async *a, enum kind kind, const char *key,
		   const void *value, size_t len, bool stale, void (*cb)(void),
		   void *arg)
{
	if (!a || !cb || !kvc_http_key_ok(key) || (len && !value))
		return KVC_EINVAL;
	struct areq *r = calloc(1, sizeof(*r));
	if (!r)
		return KVC_ENOMEM;
	r->a = a;
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	r->to_leader = !stale;
	r->last = KVC_EUNAVAILABLE;
	r->backoff = BACKOFF_MIN_MS;
	r->deadline = clock_now_ms() + (uint64_t)a->h->opts.retry_deadline_ms;
	r->path = kvc_http_kv_path(key, stale ? "?consistency=stale" : NULL);
	r->timer = evtimer_new(a->base, req_timer, r);
	if (len) {
		r->body = malloc(len);
		if (r->body)
			memcpy(r->body, value, len);
	}
	r->body_len = len;
	if (!r->path || !r->timer || (len && !r->body)) {
		if (r->timer)
			event_free(r->timer);
		free(r->path);
		free(r->body);
		free(r);
		return KVC_ENOMEM;
	}
	r->next = a->reqs;
	if (a->reqs)
		a->reqs->prev = r;
	a->reqs = r;
	req_start(r);
	return 0;
}

int kvc_async_put(struct kvc_async *a, const char *key, const void *value,
		  size_t len, kvc_put_cb cb, void *arg)
{
	return req_new(a, K_PUT, key, value, len, false, (void (*)(void))cb,
		       arg);
}

int kvc_async_get(struct kvc_async *a, const char *key, unsigned flags,
		  kvc_get_cb cb, void *arg)
{
	if (flags & ~KVC_GET_STALE)
		return KVC_EINVAL;
	bool stale = (flags & KVC_GET_STALE) || (a && a->h->opts.stale_reads);
	return req_new(a, K_GET, key, NULL, 0, stale, (void (*)(void))cb, arg);
}

int kvc_async_del(struct kvc_async *a, const char *key, kvc_del_cb cb,
		  void *arg)
{
	return req_new(a, K_DEL, key, NULL, 0, false, (void (*)(void))cb, arg);
}

/* ---- Watches. ---- */

static void watch_drop_conn(struct kvc_async_watch *w)
{
	if (w->bev)
		bufferevent_free(w->bev);
	w->bev = NULL;
	kvc_stream_free(&w->st);
	free(w->errbody);
	w->errbody = NULL;
	w->errbody_len = 0;
	w->state = W_IDLE;
	evtimer_del(w->timer);
}

static void watch_free(struct kvc_async_watch *w)
{
	struct kvc_async *a = w->a;
	if (w->prev)
		w->prev->next = w->next;
	else
		a->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	watch_drop_conn(w);
	event_free(w->timer);
	free(w->key);
	free(w->param);
	free(w);
}

/* Hands @ev or the end @rc to the callback. Returns false when the watch
 * is gone (ended, or cancelled from its callback). */
static bool watch_deliver(struct kvc_async_watch *w, int rc,
			  const struct kvc_event *ev)
{
	w->in_cb = true;
	w->cb(w->arg, rc, ev);
	w->in_cb = false;
	if (rc != 0 || w->cancelled) {
		watch_free(w);
		return false;
	}
	return true;
}

/* A definite error: the watch ends. */
static void watch_end(struct kvc_async_watch *w, int rc)
{
	watch_drop_conn(w);
	watch_deliver(w, rc, NULL);
}

static void watch_proto(struct kvc_async_watch *w, const char *what,
			const char *detail)
{
	const struct endpoint *ep = &w->a->h->eps[w->ep];
	kvc_http_set_errmsg(w->a->h, "%s:%d: %s%s%s", ep->host, ep->port, what,
			    *detail ? ": " : "", detail);
	watch_end(w, KVC_EPROTO);
}

/* The attempt or the stream failed: the next member, at once when this
 * one had served, else after a pause; the watch ends with
 * KVC_EUNAVAILABLE when no member served within the retry deadline. */
static void watch_retry(struct kvc_async_watch *w)
{
	struct kvc *h = w->a->h;
	bool served = w->state == W_STREAM && w->got_line;
	watch_drop_conn(w);
	w->ep = (w->ep + 1) % h->n_eps;
	uint64_t now = clock_now_ms();
	if (w->reconnect_deadline == 0)
		w->reconnect_deadline =
		    now + (uint64_t)h->opts.retry_deadline_ms;
	uint64_t pause = 0;
	if (!served) {
		if (now >= w->reconnect_deadline) {
			watch_end(w, KVC_EUNAVAILABLE);
			return;
		}
		uint64_t b = w->backoff;
		pause = b / 2 + kvc_http_rng_next(h) % (b / 2 + 1);
		if (pause > w->reconnect_deadline - now)
			pause = w->reconnect_deadline - now;
		w->backoff = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	}
	struct timeval tv = tv_ms(pause);
	evtimer_add(w->timer, &tv);
}

static void watch_served(struct kvc_async_watch *w)
{
	if (!w->got_line) {
		w->got_line = true;
		w->backoff = BACKOFF_MIN_MS;
	}
}

static bool key_watched(const struct kvc_async_watch *w, const char *key)
{
	if (w->pos.prefix)
		return strncmp(key, w->key, strlen(w->key)) == 0;
	return strcmp(key, w->key) == 0;
}

/* One line of a 200 stream. false: the watch stopped reading this
 * stream (gone, failed over, or ended). */
static bool watch_line(struct kvc_async_watch *w, const char *line, size_t len)
{
	struct kvc *h = w->a->h;
	const struct endpoint *ep = &h->eps[w->ep];
	struct kvc_watch_line l;
	const char *why;
	char detail[96];
	int rc = kvc_watch_line_parse(line, len, &l, &why);
	if (rc == KVC_ENOMEM) {
		watch_end(w, rc);
		return false;
	}
	if (rc < 0) {
		watch_proto(w, "malformed event line", why);
		return false;
	}
	switch (l.type) {
	case KVC_LINE_PROGRESS:
		rc = kvc_watch_pos_progress(&w->pos, l.index, detail,
					    sizeof(detail));
		kvc_watch_line_clear(&l);
		if (rc < 0) {
			watch_proto(w, "broken resume", detail);
			return false;
		}
		watch_served(w);
		return true;
	case KVC_LINE_ERROR:
		if (strcmp(l.error, "compacted") == 0) {
			h->watch_oldest = l.oldest;
			kvc_http_set_errmsg(h,
					    "%s:%d: compacted: %s (the oldest "
					    "index held is %" PRIu64 ")",
					    ep->host, ep->port, l.message,
					    l.oldest);
			kvc_watch_line_clear(&l);
			watch_end(w, KVC_ECOMPACTED);
			return false;
		}
		kvc_http_set_errmsg(h, "%s:%d: the stream ended: %s", ep->host,
				    ep->port, l.error);
		kvc_watch_line_clear(&l);
		watch_retry(w);
		return false;
	default:
		break;
	}
	watch_served(w);
	if (!key_watched(w, l.key)) {
		kvc_watch_line_clear(&l);
		watch_proto(w, "a change of a key not watched", "");
		return false;
	}
	const char *what;
	rc = kvc_watch_pos_change(&w->pos, l.index, &what, detail,
				  sizeof(detail));
	if (rc <= 0) {
		kvc_watch_line_clear(&l);
		if (rc < 0)
			watch_proto(w, what, detail);
		return rc == 0;
	}
	struct kvc_event ev = {.type = l.type,
			       .key = l.key,
			       .value = l.value,
			       .value_len = l.value_len,
			       .index = l.index};
	bool alive = watch_deliver(w, 0, &ev);
	kvc_watch_line_clear(&l);
	return alive;
}

static void watch_silent_timer(struct kvc_async_watch *w)
{
	uint64_t ms = 3 * (uint64_t)w->a->h->opts.request_timeout_ms;
	if (ms < WATCH_SILENT_MS)
		ms = WATCH_SILENT_MS;
	struct timeval tv = tv_ms(ms);
	evtimer_add(w->timer, &tv);
}

static void watch_drain(struct kvc_async_watch *w)
{
	struct kvc *h = w->a->h;
	const struct endpoint *ep = &h->eps[w->ep];
	for (;;) {
		const char *line;
		size_t len;
		int s = kvc_stream_next(&w->st, &line, &len);
		switch (s) {
		case KVC_STREAM_MORE:
			return;
		case KVC_STREAM_HEAD:
			if (w->st.status != 200) {
				w->state = W_ERRBODY;
				continue;
			}
			if (!w->st.ndjson) {
				watch_proto(w, "not an NDJSON stream", "");
				return;
			}
			if (!w->pos.known) {
				if (!w->st.has_index) {
					watch_proto(w, "no X-Kv-Index header",
						    "");
					return;
				}
				w->pos.done = w->st.index;
				w->pos.known = true;
			}
			w->state = W_STREAM;
			w->reconnect_deadline = 0;
			watch_silent_timer(w);
			continue;
		case KVC_STREAM_LINE:
		case KVC_STREAM_END:
			if (w->state == W_ERRBODY) {
				size_t add = len + 1;
				if (w->errbody_len + add <=
				    WATCH_MAX_ERR_BODY) {
					char *nb =
					    realloc(w->errbody,
						    w->errbody_len + add + 1);
					if (!nb) {
						watch_end(w, KVC_ENOMEM);
						return;
					}
					memcpy(nb + w->errbody_len, line, len);
					nb[w->errbody_len + len] = '\n';
					w->errbody = nb;
					w->errbody_len += add;
					nb[w->errbody_len] = '\0';
				}
				if (s == KVC_STREAM_LINE)
					continue;
				struct resp r = {.status = w->st.status,
						 .body = w->errbody,
						 .len = w->errbody_len};
				int rc = kvc_http_status_to_rc(h, &r);
				if (r.status == 503 || r.status == 504)
					watch_retry(w);
				else
					watch_end(w, rc);
				return;
			}
			if (s == KVC_STREAM_END) {
				if (len > 0) {
					watch_proto(w,
						    "the stream ended inside "
						    "a line",
						    "");
					return;
				}
				kvc_http_set_errmsg(h,
						    "%s:%d: the stream ended",
						    ep->host, ep->port);
				watch_retry(w);
				return;
			}
			if (!watch_line(w, line, len))
				return;
			continue;
		case KVC_STREAM_CUT:
			kvc_http_set_errmsg(h, "%s:%d: connection lost",
					    ep->host, ep->port);
			watch_retry(w);
			return;
		default:
			watch_proto(w, "malformed HTTP answer", "");
			return;
		}
	}
}

static void watch_read(struct bufferevent *bev, void *arg)
{
	struct kvc_async_watch *w = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	if (n == 0)
		return;
	unsigned char *p = evbuffer_pullup(in, -1);
	int rc = p ? kvc_stream_feed(&w->st, p, n) : KVC_ENOMEM;
	evbuffer_drain(in, n);
	if (rc < 0) {
		watch_end(w, rc);
		return;
	}
	if (w->state == W_STREAM)
		watch_silent_timer(w);
	watch_drain(w);
}

static void watch_event(struct bufferevent *bev, short what, void *arg)
{
	struct kvc_async_watch *w = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (w->in_connect) {
		w->connect_failed = true;
		return;
	}
	if (what & BEV_EVENT_EOF) {
		kvc_stream_eof(&w->st);
		watch_drain(w);
		return;
	}
	const struct endpoint *ep = &w->a->h->eps[w->ep];
	if (!tls_failure(w->a->h, ep, w->bev))
		kvc_http_set_errmsg(w->a->h, "%s:%d: connection failed",
				    ep->host, ep->port);
	watch_retry(w);
}

static void watch_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kvc_async_watch *w = arg;
	(void)fd;
	(void)what;
	if (w->state == W_IDLE) {
		watch_attempt(w);
		return;
	}
	const struct endpoint *ep = &w->a->h->eps[w->ep];
	kvc_http_set_errmsg(w->a->h, "%s:%d: %s", ep->host, ep->port,
			    w->state == W_STREAM ? "the stream went silent"
						 : "no answer in time");
	w->got_line = false; /* pause first */
	watch_retry(w);
}

static void watch_attempt(struct kvc_async_watch *w)
{
	struct kvc *h = w->a->h;
	const struct endpoint *ep = &h->eps[w->ep];
	w->got_line = false;
	uint64_t from = kvc_watch_pos_next_from(&w->pos);
	char fromq[40] = "";
	if (from)
		snprintf(fromq, sizeof(fromq), "&from=%" PRIu64, from);
	kvc_stream_init(&w->st, MAX_LINE);
	bool no_tls;
	w->bev = bev_new(h, w->a->base, ep, &no_tls);
	if (!w->bev) {
		watch_end(w, no_tls ? KVC_EINVAL : KVC_ENOMEM);
		return;
	}
	w->state = W_HEAD;
	bufferevent_setcb(w->bev, watch_read, NULL, watch_event, w);
	bufferevent_enable(w->bev, EV_READ | EV_WRITE);
	if (evbuffer_add_printf(bufferevent_get_output(w->bev),
				"GET /v1/watch?%s%s HTTP/1.1\r\nHost: %s:%d\r\n"
				"Accept: application/x-ndjson\r\n"
				"%s%s%s"
				"Connection: close\r\n\r\n",
				w->param, fromq, ep->host, ep->port,
				h->opts.token ? "Authorization: Bearer " : "",
				h->opts.token ? h->opts.token : "",
				h->opts.token ? "\r\n" : "") < 0) {
		watch_end(w, KVC_ENOMEM);
		return;
	}
	struct timeval tv = tv_ms((uint64_t)h->opts.request_timeout_ms);
	evtimer_add(w->timer, &tv);
	w->in_connect = true;
	w->connect_failed = false;
	int rc = bufferevent_socket_connect_hostname(w->bev, NULL, AF_UNSPEC,
						     ep->host, ep->port);
	w->in_connect = false;
	if (rc == 0 && !w->connect_failed && ep->tls)
		kvc_http_nodelay(bufferevent_getfd(w->bev));
	if (rc != 0 || w->connect_failed) {
		kvc_http_set_errmsg(h, "%s:%d: connection failed", ep->host,
				    ep->port);
		watch_retry(w);
	}
}

int kvc_async_watch(struct kvc_async *a, const char *key, unsigned flags,
		    uint64_t from, kvc_event_cb cb, void *arg,
		    struct kvc_async_watch **out)
{
	if (out)
		*out = NULL;
	bool prefix = flags & KVC_WATCH_PREFIX;
	if (!a || !cb || !key || (flags & ~KVC_WATCH_PREFIX) ||
	    strlen(key) > KVC_MAX_KEY || (!prefix && !*key) || from > INT64_MAX)
		return KVC_EINVAL;
	struct kvc_async_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return KVC_ENOMEM;
	w->a = a;
	w->cb = cb;
	w->arg = arg;
	w->pos.prefix = prefix;
	w->ep = a->h->cur;
	w->backoff = BACKOFF_MIN_MS;
	if (from) {
		w->pos.known = true;
		w->pos.done = from - 1;
	}
	w->key = strdup(key);
	char *enc = evhttp_uriencode(key, -1, 0);
	size_t n = enc ? strlen(enc) + 16 : 0;
	w->param = enc ? malloc(n) : NULL;
	w->timer = evtimer_new(a->base, watch_timer, w);
	if (!w->key || !w->param || !w->timer) {
		free(enc);
		free(w->key);
		free(w->param);
		if (w->timer)
			event_free(w->timer);
		free(w);
		return KVC_ENOMEM;
	}
	snprintf(w->param, n, "%s=%s", prefix ? "prefix" : "key", enc);
	free(enc);
	w->next = a->watches;
	if (a->watches)
		a->watches->prev = w;
	a->watches = w;
	/* Started from the loop, as the requests are. */
	struct timeval tv = {0, 0};
	evtimer_add(w->timer, &tv);
	if (out)
		*out = w;
	return 0;
}

uint64_t kvc_async_watch_index(const struct kvc_async_watch *w)
{
	return w ? w->pos.done : 0;
}

void kvc_async_watch_cancel(struct kvc_async_watch *w)
{
	if (!w)
		return;
	if (w->in_cb) {
		w->cancelled = true;
		return;
	}
	watch_free(w);
}

/* ---- The handle. ---- */

int kvc_async_open(struct event_base *base, const char *endpoints,
		   const struct kvc_options *opts, struct kvc_async **out)
{
	if (!out)
		return KVC_EINVAL;
	*out = NULL;
	if (!base)
		return KVC_EINVAL;
	struct kvc_async *a = calloc(1, sizeof(*a));
	if (!a)
		return KVC_ENOMEM;
	int rc = kvc_open(endpoints, opts, &a->h);
	if (rc < 0) {
		free(a);
		return rc;
	}
	a->base = base;
	*out = a;
	return 0;
}

void kvc_async_close(struct kvc_async *a)
{
	if (!a)
		return;
	kvc_http_set_errmsg(a->h, "the handle was closed");
	/* Each callback once. Nothing waiting gets a slot now: every request
	 * is cancelled. */
	a->qhead = a->qtail = NULL;
	for (struct areq *q = a->reqs; q; q = q->next)
		q->queued = false;
	/* A callback may start requests or watches: those are cancelled in
	 * turn. */
	while (a->watches || a->reqs) {
		if (a->watches) {
			watch_end(a->watches, KVC_ECANCELED);
			continue;
		}
		struct areq *r = a->reqs;
		drop_attempt(r, false);
		req_finish(r, KVC_ECANCELED, NULL);
	}
	while (a->idle)
		idle_event(a->idle->bev, BEV_EVENT_EOF, a->idle);
	while (a->writers) {
		struct writer *w = a->writers;
		a->writers = w->next;
		free(w);
	}
	kvc_close(a->h);
	free(a);
}

const char *kvc_async_errmsg(const struct kvc_async *a)
{
	return a ? kvc_errmsg(a->h) : "";
}

bool kvc_async_outcome_unknown(const struct kvc_async *a)
{
	return a ? kvc_outcome_unknown(a->h) : false;
}
