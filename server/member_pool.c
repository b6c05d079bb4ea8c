/* member_pool.c - idle keep-alive connections to other members' client
 * URLs, reused by URL (see member_pool.h). */
#include "member_pool.h"

#include <assert.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "member_tls.h"

/* evhttp's own read timeout on an idle connection (it watches the socket
 * for the other side's close) would be the last request's timeout, far
 * shorter than the pool's for the cluster view (700 ms): an idle
 * connection gets this much more than the pool's timeout instead, so that
 * the pool's timer closes it first. */
#define EVHTTP_IDLE_MARGIN_MS 5000

enum conn_state {
	CONN_BUSY, /* taken: the caller's until handed back */
	CONN_IDLE, /* on the idle list, its timer running */
	CONN_DEAD  /* on the dead list, freed at the next reap */
};

struct member_conn {
	struct member_pool *pool;
	struct evhttp_connection *evcon;
	struct event *timer; /* the idle timeout */
	/* The URL: scheme, host, port. */
	int https;
	struct config_addr addr;
	uint64_t gen; /* the pool's generation when it was made */
	bool closed;  /* evhttp closed it: never reused */
	enum conn_state state;
	struct member_conn *prev, *next; /* in the list of its state */
};

struct list {
	struct member_conn *head, *tail;
	unsigned n;
};

struct member_pool {
	struct event_base *base;
	struct member_tls *tls;
	struct member_pool_limits lim;
	/* Idle ones, the least recently given back first. */
	struct list idle, busy, dead;
	/* Frees the dead list outside any connection's callback. */
	struct event *reap;
	uint64_t gen; /* moved by member_pool_flush() */
	uint64_t opened, reused;
};

static void list_add(struct list *l, struct member_conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void list_del(struct list *l, struct member_conn *c)
{
	assert(l->n > 0);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

static struct list *list_of(struct member_pool *p, enum conn_state s)
{
	return s == CONN_BUSY ? &p->busy : s == CONN_IDLE ? &p->idle : &p->dead;
}

static void conn_move(struct member_conn *c, enum conn_state to)
{
	struct member_pool *p = c->pool;
	list_del(list_of(p, c->state), c);
	c->state = to;
	list_add(list_of(p, to), c);
}

static void conn_free(struct member_conn *c)
{
	/* evhttp_connection_free() calls the close callback of a connection
	 * still open: this one is going, it must not come back. */
	evhttp_connection_set_closecb(c->evcon, NULL, NULL);
	evhttp_connection_free(c->evcon);
	event_free(c->timer);
	free(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct member_pool *p = arg;
	struct member_conn *c;
	while ((c = p->dead.head) != NULL) {
		list_del(&p->dead, c);
		conn_free(c);
	}
}

/* Onto the dead list; freed on a later turn of the loop, never inside the
 * callback of the connection (evhttp still uses it when that returns). */
static void conn_kill(struct member_conn *c)
{
	if (c->state == CONN_IDLE)
		evtimer_del(c->timer);
	conn_move(c, CONN_DEAD);
	event_active(c->pool->reap, EV_TIMEOUT, 1);
}

/* evhttp closed the connection (the other side closed it, an answer said
 * "Connection: close", a request failed): over TLS its bufferevent cannot
 * be connected again (member_tls.h), and over plain HTTP a new connection
 * is what evhttp would make anyway. Called inside evhttp's callbacks. */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct member_conn *c = arg;
	(void)evcon;
	c->closed = true;
	if (c->state == CONN_IDLE)
		conn_kill(c);
}

static void idle_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct member_conn *c = arg;
	assert(c->state == CONN_IDLE);
	conn_kill(c);
}

struct member_pool *member_pool_new(struct event_base *base,
				    struct member_tls *tls,
				    const struct member_pool_limits *lim)
{
	struct member_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->tls = tls;
	if (lim != NULL) {
		p->lim = *lim;
	} else {
		p->lim.idle_per_url = MEMBER_POOL_IDLE_PER_URL;
		p->lim.idle_max = MEMBER_POOL_IDLE_MAX;
		p->lim.idle_timeout_ms = MEMBER_POOL_IDLE_TIMEOUT_MS;
	}
	assert(p->lim.idle_per_url >= 1 && p->lim.idle_max >= 1);
	p->reap = event_new(base, -1, 0, reap_cb, p);
	if (p->reap == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static bool same_url(const struct member_conn *c, int https,
		     const struct config_addr *a)
{
	return c->https == https && c->addr.port == a->port &&
	       strcmp(c->addr.host, a->host) == 0;
}

static unsigned idle_for(const struct member_pool *p,
			 const struct member_conn *like)
{
	unsigned n = 0;
	for (const struct member_conn *c = p->idle.head; c != NULL; c = c->next)
		if (same_url(c, like->https, &like->addr))
			n++;
	return n;
}

/* What a previous user may have set is not carried over to the next. */
static void conn_reset_settings(struct evhttp_connection *evcon)
{
	evhttp_connection_set_max_body_size(evcon, -1);
	evhttp_connection_set_max_headers_size(evcon, -1);
	evhttp_connection_set_retries(evcon, 0);
}

struct member_conn *member_pool_take(struct member_pool *p, const char *url,
				     struct config_addr *a)
{
	int https = config_url_https(url);
	if (config_parse_url_scheme(url, https, a) != 0)
		return NULL;
	/* The most recent first: the one least likely to be near its idle
	 * timeout, and the others may time out unused. */
	for (struct member_conn *c = p->idle.tail; c != NULL; c = c->prev) {
		if (!same_url(c, https, a))
			continue;
		assert(!c->closed && c->gen == p->gen);
		evtimer_del(c->timer);
		conn_move(c, CONN_BUSY);
		conn_reset_settings(c->evcon);
		p->reused++;
		return c;
	}
	struct member_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->evcon = member_tls_connect(p->tls, p->base, url, a);
	c->timer = evtimer_new(p->base, idle_timeout_cb, c);
	if (c->evcon == NULL || c->timer == NULL) {
		if (c->evcon != NULL)
			evhttp_connection_free(c->evcon);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	c->pool = p;
	c->https = https;
	c->addr = *a;
	c->gen = p->gen;
	c->state = CONN_BUSY;
	list_add(&p->busy, c);
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	conn_reset_settings(c->evcon);
	p->opened++;
	return c;
}

struct evhttp_connection *member_conn_evcon(const struct member_conn *c)
{
	return c->evcon;
}

/* Whether evhttp keeps @evcon connected: after an answer with
 * "Connection: close" it has closed the socket already (and told
 * conn_closed()); this looks at the socket itself too. */
static bool evcon_open(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	return bev != NULL && bufferevent_getfd(bev) >= 0;
}

void member_pool_give(struct member_pool *p, struct member_conn *c,
		      struct evhttp_request *resp)
{
	assert(c->pool == p && c->state == CONN_BUSY);
	int code = resp != NULL ? evhttp_request_get_response_code(resp) : 0;
	if (code == 0 || c->closed || c->gen != p->gen ||
	    !evcon_open(c->evcon) || idle_for(p, c) >= p->lim.idle_per_url) {
		conn_kill(c);
		return;
	}
	/* The pool is full: the least recently used goes. */
	if (p->idle.n >= p->lim.idle_max)
		conn_kill(p->idle.head);
	conn_move(c, CONN_IDLE);
	struct timeval tv =
	    clock_ms_to_timeval(p->lim.idle_timeout_ms + EVHTTP_IDLE_MARGIN_MS);
	evhttp_connection_set_timeout_tv(c->evcon, &tv);
	tv = clock_ms_to_timeval(p->lim.idle_timeout_ms);
	evtimer_add(c->timer, &tv);
}

void member_pool_drop(struct member_pool *p, struct member_conn *c)
{
	assert(c->pool == p && c->state == CONN_BUSY);
	(void)p;
	conn_kill(c);
}

void member_pool_flush(struct member_pool *p)
{
	p->gen++;
	while (p->idle.head != NULL)
		conn_kill(p->idle.head);
}

void member_pool_stats(const struct member_pool *p,
		       struct member_pool_stats *st)
{
	st->opened = p->opened;
	st->reused = p->reused;
	st->idle = p->idle.n;
	st->busy = p->busy.n;
}

void member_pool_free(struct member_pool *p)
{
	if (p == NULL)
		return;
	struct list *lists[] = {&p->idle, &p->busy, &p->dead};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct member_conn *c;
		while ((c = lists[i]->head) != NULL) {
			list_del(lists[i], c);
			conn_free(c);
		}
	}
	event_free(p->reap);
	free(p);
}
