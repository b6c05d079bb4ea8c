/* listener.c - listening sockets with errors worth printing, served
 * through evhttp with a connection bound, descriptor pauses and a header
 * deadline. */
#include "listener.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"
#include "clock.h"
#include "util.h"

#define LISTEN_BACKLOG 1024

int listener_open(const struct config_addr *addr, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)addr->port);
	int rc = getaddrinfo(addr->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", addr->host,
			 (unsigned)addr->port, gai_strerror(rc));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s:%u: %s", addr->host,
			 (unsigned)addr->port, strerror(saved));
	return fd;
}

/* ---- serving: connection count, descriptor pauses, header deadline ---- */

/* How long accepting pauses after accept() failed for want of file
 * descriptors or memory: short enough that service resumes soon after
 * descriptors are freed, long enough that a member out of descriptors
 * costs a few wakeups a second rather than a core. */
#define ACCEPT_RETRY_MS 100
/* The least time between two log lines about the same limit, so that a
 * member hovering at a limit does not fill its log. */
#define LIMIT_LOG_INTERVAL_S 60.0

struct listener {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock; /* NULL once stopped */
	struct evconnlistener *lev;	  /* owned by @sock */
	struct event *retry;		  /* ends a descriptor pause */
	const char *name;
	unsigned max_connections;
	struct timeval header_timeout;
	struct bufferevent *(*wrap)(void *arg, struct bufferevent *sock);
	void *wrap_arg;
	struct bufferevent *(*new_bev)(void *arg, struct event_base *base);
	void *new_bev_arg;
	int deadline_from_accept;
	bool (*gate_on)(void *arg);
	bool (*gate_refuse)(void *arg, const char *head, size_t len);
	void *gate_arg;
	unsigned count;	      /* connections open */
	uint64_t accepted;    /* connections accepted since the start */
	int enabled;	      /* whether @lev accepts */
	int out_of_fds;	      /* paused until @retry fires */
	int fd_episode;	      /* an episode was logged and has not ended */
	uint64_t fd_failures; /* failed accepts in the logged episode */
	double fd_logged_at;  /* when an episode was last logged, 0: never */
	double full_logged_at;
	struct listener *next; /* in all_listeners */
};

/* Whether a line about the limit whose last line was logged at
 * *@logged_at (0: never) may be logged now: at most one per
 * LIMIT_LOG_INTERVAL_S. When it may, *@logged_at becomes now. */
static int log_due(double *logged_at)
{
	double now = clock_now_seconds();

	if (*logged_at != 0 && now - *logged_at < LIMIT_LOG_INTERVAL_S)
		return 0;
	*logged_at = now;
	return 1;
}

/* Every listener being served. libevent hands an accept error callback
 * the user data evhttp gave the evconnlistener (the evhttp), not ours, so
 * the listener is found by its evhttp. Touched on the loop's thread only. */
static struct listener *all_listeners;

enum conn_phase {
	CONN_IDLE,    /* waiting for a request's first byte */
	CONN_HEADERS, /* inside a header section: the deadline runs */
	CONN_BODY     /* headers complete: the request is evhttp's */
};

/* One accepted connection. Created in the bufferevent callback, before
 * evhttp has the connection object; its close callback is installed by
 * the first run of @ev (see conn_event). */
struct conn {
	struct listener *l;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until set up */
	struct event *ev;		 /* set-up, then the header deadline */
	struct evbuffer_cb_entry *in_cb, *out_cb;
	enum conn_phase phase;
	int scan_state;
	int interim; /* the output being written is a 1xx answer */
	/* The gate (listener_opts.gate_on): this request's bytes held back
	 * from evhttp while @gating; @discard after a refusal; @busy while
	 * the gate itself moves bytes in and out of the input. */
	struct evbuffer *held;
	bool gating, discard, busy;
	/* A handler took the connection over (answer_is_takeover()): its
	 * bytes are no requests, no deadline applies. */
	bool taken;
};

size_t listener_scan_headers(const unsigned char *p, size_t n, int *state)
{
	/* *state: 0 inside a line, 1 at the start of a line, 2 after a CR at
	 * the start of a line. An empty line ends the header section. */
	int s = *state;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (s != 0) {
				*state = 0;
				return i + 1;
			}
			s = 1;
		} else {
			s = p[i] == '\r' && s == 1 ? 2 : 0;
		}
	}
	*state = s;
	return 0;
}

static void update_accepting(struct listener *l)
{
	if (l->lev == NULL)
		return;
	int want = !l->out_of_fds && l->count < l->max_connections;
	if (want == l->enabled)
		return;
	if (want ? evconnlistener_enable(l->lev)
		 : evconnlistener_disable(l->lev))
		return; /* tried again at the next change */
	l->enabled = want;
}

static void conn_free(struct conn *c)
{
	struct listener *l = c->l;
	assert(l->count > 0);
	l->count--;
	if (c->in_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev),
					 c->in_cb);
	if (c->out_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
					 c->out_cb);
	event_free(c->ev);
	if (c->held != NULL)
		evbuffer_free(c->held);
	free(c);
	update_accepting(l);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	assert(c->evcon == evcon);
	(void)evcon;
	conn_free(c);
}

/* Looks for the end of the header section in the @n bytes of @buf that
 * start at @off; on finding it the request is evhttp's (CONN_BODY), and
 * the offset in @buf just past the header section is returned (else 0). */
static size_t conn_scan(struct conn *c, struct evbuffer *buf, size_t off,
			size_t n)
{
	struct evbuffer_ptr pos;
	if (n == 0 || evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0)
		return 0;
	while (n > 0) {
		struct evbuffer_iovec v[8];
		int nv = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);
		if (nv <= 0)
			return 0;
		size_t seen = 0;
		for (int i = 0; i < nv && i < 8 && seen < n; i++) {
			size_t len =
			    v[i].iov_len < n - seen ? v[i].iov_len : n - seen;
			size_t end = listener_scan_headers(v[i].iov_base, len,
							   &c->scan_state);
			if (end != 0) {
				c->phase = CONN_BODY;
				evtimer_del(c->ev);
				return off + seen + end;
			}
			seen += len;
		}
		n -= seen;
		off += seen;
		if (n > 0 &&
		    evbuffer_ptr_set(buf, &pos, seen, EVBUFFER_PTR_ADD) != 0)
			return 0;
	}
	return 0;
}

static void conn_start_headers(struct conn *c)
{
	c->phase = CONN_HEADERS;
	c->scan_state = 0;
	c->gating = c->l->gate_on != NULL && c->l->gate_on(c->l->gate_arg);
	evtimer_add(c->ev, &c->l->header_timeout);
}

/* The gate: takes every byte of the input @in (only this request's, from
 * its first: evhttp has read none of them) into @c->held. Once the header
 * block is complete, the owner decides: the held bytes go back to @in
 * unchanged, or LISTENER_GATE_REFUSED goes up in their place and the rest
 * of the connection is dropped. A block longer than
 * LISTENER_GATE_MAX_HEAD is refused. */
static void gate_take(struct conn *c, struct evbuffer *in)
{
	struct listener *l = c->l;
	size_t before = evbuffer_get_length(c->held), end;
	bool refuse = false;

	c->busy = true;
	if (evbuffer_add_buffer(c->held, in) != 0) {
		/* Out of memory: leave the bytes to evhttp, ungated; its
		 * route still refuses the request, only after its body. */
		c->gating = false;
		c->busy = false;
		return;
	}
	end = conn_scan(c, c->held, before,
			evbuffer_get_length(c->held) - before);
	if (end == 0 &&
	    evbuffer_get_length(c->held) <= LISTENER_GATE_MAX_HEAD) {
		c->busy = false;
		return; /* the header block goes on */
	}
	if (end != 0) {
		const char *head =
		    (const char *)evbuffer_pullup(c->held, (ev_ssize_t)end);
		refuse = head != NULL && l->gate_refuse(l->gate_arg, head, end);
	} else {
		/* Too long a block: refused, its request now the owner's. */
		refuse = true;
		c->phase = CONN_BODY;
		evtimer_del(c->ev);
	}
	/* @in is empty now. Its end is frozen outside a read (the
	 * bufferevent's rule), its front is not: the bytes go in there. */
	if (refuse) {
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
		evbuffer_prepend(in, LISTENER_GATE_REFUSED,
				 strlen(LISTENER_GATE_REFUSED));
		c->discard = true;
	} else {
		evbuffer_prepend_buffer(in, c->held);
	}
	c->gating = false;
	c->busy = false;
}

/* After a refusal: the bytes just added to @in are dropped; what was there
 * before them (the refused request, not yet read by evhttp) stays. */
static void gate_discard(struct conn *c, struct evbuffer *in, size_t added)
{
	size_t len = evbuffer_get_length(in);
	struct evbuffer *keep;

	if (added > len)
		added = len;
	c->busy = true;
	if (added == len) {
		evbuffer_drain(in, len);
	} else if ((keep = evbuffer_new()) != NULL) {
		evbuffer_remove_buffer(in, keep, len - added);
		evbuffer_drain(in, added);
		evbuffer_prepend_buffer(in, keep);
		evbuffer_free(keep);
	}
	c->busy = false;
}

/* Bytes arrived (or were read by evhttp) on the connection. */
static void conn_input(struct evbuffer *buf,
		       const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->busy || info->n_added == 0 || c->taken)
		return;
	if (c->discard) {
		gate_discard(c, buf, info->n_added);
		return;
	}
	if (c->phase == CONN_BODY)
		return;
	size_t len = evbuffer_get_length(buf);
	/* The bytes added are the last ones (callbacks are not deferred, so
	 * each reports one change). */
	size_t added = info->n_added < len ? info->n_added : len;
	if (c->phase == CONN_IDLE)
		conn_start_headers(c);
	if (c->gating)
		gate_take(c, buf);
	else
		conn_scan(c, buf, len - added, added);
}

/* Whether the answer starting at the front of @buf, written whole at
 * once, hands the connection over to its handler: a 200 whose head
 * announces neither a length nor chunks, so that its body runs until the
 * connection closes (the peer transport's stream, POST /raft/stream, and
 * the like). What comes in after it is the handler's, not a request, and
 * no header deadline applies. evhttp's own answers always announce their
 * length or chunks. */
static bool answer_is_takeover(struct evbuffer *buf)
{
	char head[1024];
	ev_ssize_t n = evbuffer_copyout(buf, head, sizeof(head) - 1);
	if (n < 17)
		return false;
	head[n] = '\0';
	char *end = strstr(head, "\r\n\r\n");
	if (end == NULL || strncmp(head, "HTTP/1.1 200 ", 13) != 0)
		return false;
	end[2] = '\0';
	return strcasestr(head, "\r\nContent-Length:") == NULL &&
	       strcasestr(head, "\r\nTransfer-Encoding:") == NULL;
}

/* An answer was queued or sent. Once a final answer has left, the next
 * bytes in are a new request; a 1xx answer ("100 Continue") is not final. */
static void conn_output(struct evbuffer *buf,
			const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	if (c->taken)
		return;
	if (info->n_added > 0 && info->orig_size == 0 &&
	    c->phase == CONN_BODY && answer_is_takeover(buf)) {
		c->taken = true;
		evtimer_del(c->ev);
		return;
	}
	if (info->n_added > 0 && info->orig_size == 0) {
		char head[10];
		c->interim = evbuffer_copyout(buf, head, sizeof(head)) ==
				 (ev_ssize_t)sizeof(head) &&
			     memcmp(head, "HTTP/1.", 7) == 0 && head[9] == '1';
	}
	if (info->n_deleted == 0 || evbuffer_get_length(buf) != 0 ||
	    c->phase != CONN_BODY)
		return;
	if (c->interim) {
		c->interim = 0;
		return;
	}
	c->phase = CONN_IDLE;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t pending = evbuffer_get_length(in);
	if (pending > 0 && !c->discard) { /* a request sent before the
					   * answer left */
		conn_start_headers(c);
		if (c->gating)
			gate_take(c, in);
		else
			conn_scan(c, in, 0, pending);
	}
}

/* First run: evhttp has made its connection object around our bufferevent
 * (or failed and freed it); find it and hear of its close. Later runs: a
 * header section took longer than the deadline. */
/* An answer goes out as soon as it is written: over TLS one answer is
 * often two records, and Nagle's algorithm would hold the second until the
 * client's delayed acknowledgement of the first (40 ms a request). */
static void set_nodelay(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	int one = 1;
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
}

static void conn_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->evcon == NULL) {
		bufferevent_event_cb eventcb = NULL;
		void *cbarg = NULL;
		bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &cbarg);
		struct bufferevent *bev = c->bev;
		if (eventcb == NULL || cbarg == NULL) {
			/* evhttp gave up on the connection (out of memory)
			 * and freed the bufferevent, which our reference
			 * kept. */
			conn_free(c);
		} else {
			c->evcon = cbarg;
			evhttp_connection_set_closecb(c->evcon, conn_closed, c);
			set_nodelay(bev);
			if (c->l->deadline_from_accept && c->phase == CONN_IDLE)
				conn_start_headers(c);
		}
		bufferevent_decref(bev);
		return;
	}
	if (c->phase != CONN_HEADERS)
		return;
	log_debug("%s listener: closing a connection whose request headers "
		  "took longer than %ld ms",
		  c->l->name,
		  (long)(c->l->header_timeout.tv_sec * 1000 +
			 c->l->header_timeout.tv_usec / 1000));
	/* The request was never handed to a handler: freeing the
	 * connection frees it too, and conn_closed frees @c. */
	evhttp_connection_free(c->evcon);
}

/* evhttp's hook for the bufferevent of each accepted connection: the one
 * place that sees every connection before its first byte. */
static struct bufferevent *conn_new(struct event_base *base, void *arg)
{
	struct listener *l = arg;
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev =
	    l->new_bev != NULL
		? l->new_bev(l->new_bev_arg, base)
		: bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL && l->wrap != NULL)
		bev = l->wrap(l->wrap_arg, bev);
	if (c == NULL || bev == NULL)
		goto fail;
	c->l = l;
	c->bev = bev;
	c->ev = evtimer_new(base, conn_event, c);
	if (l->gate_refuse != NULL && (c->held = evbuffer_new()) == NULL)
		goto fail;
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c);
	c->out_cb =
	    evbuffer_add_cb(bufferevent_get_output(bev), conn_output, c);
	if (c->ev == NULL || c->in_cb == NULL || c->out_cb == NULL)
		goto fail;
	/* Kept until conn_event's first run, which learns whether evhttp
	 * still holds the bufferevent. */
	bufferevent_incref(bev);
	event_active(c->ev, EV_TIMEOUT, 1);
	l->count++;
	l->accepted++;
	if (l->fd_episode) {
		log_info("%s listener: accepting again after %" PRIu64
			 " failed accept() calls",
			 l->name, l->fd_failures);
		l->fd_episode = 0;
	}
	if (l->count >= l->max_connections && log_due(&l->full_logged_at))
		log_warn("%s listener: %u connections open "
			 "(--max-connections); new ones wait until one closes",
			 l->name, l->count);
	/* Disabling here ends libevent's accept loop before the next
	 * accept(), so the count never passes the limit. */
	update_accepting(l);
	return bev;
fail:
	/* evhttp cannot do without a bufferevent; one of its own may still
	 * be made if memory allows, uncounted. */
	if (c != NULL) {
		if (c->ev != NULL)
			event_free(c->ev);
		if (c->held != NULL)
			evbuffer_free(c->held);
		if (c->in_cb != NULL)
			evbuffer_remove_cb_entry(bufferevent_get_input(bev),
						 c->in_cb);
		if (c->out_cb != NULL)
			evbuffer_remove_cb_entry(bufferevent_get_output(bev),
						 c->out_cb);
		free(c);
	}
	if (bev != NULL)
		bufferevent_free(bev);
	return NULL;
}

/* accept() failed with an error libevent does not retry by itself:
 * EMFILE, ENFILE, ENOBUFS, ENOMEM. The socket stays readable, so without
 * a pause the loop would spin on it. */
static void accept_failed(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct listener *l = all_listeners;
	while (l != NULL && (l->http != arg || l->lev != lev))
		l = l->next;
	if (l == NULL) { /* not ours: do at least not spin */
		evconnlistener_disable(lev);
		return;
	}
	struct timeval tv = clock_ms_to_timeval(ACCEPT_RETRY_MS);
	l->fd_failures++;
	if (!l->fd_episode && log_due(&l->fd_logged_at)) {
		log_warn("%s listener: accept: %s; new connections wait until "
			 "descriptors are free (%u connections open)",
			 l->name, evutil_socket_error_to_string(err), l->count);
		l->fd_episode = 1;
		l->fd_failures = 1;
	}
	l->out_of_fds = 1;
	update_accepting(l);
	evtimer_add(l->retry, &tv);
}

static void accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct listener *l = arg;
	l->out_of_fds = 0;
	update_accepting(l);
}

struct listener *listener_serve(struct event_base *base, struct evhttp *http,
				int fd, const struct listener_opts *opts)
{
	assert(opts->max_connections > 0 && opts->header_timeout_ms > 0);
	struct listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		return NULL;
	}
	l->base = base;
	l->http = http;
	l->name = opts->name;
	l->max_connections = opts->max_connections;
	l->wrap = opts->wrap;
	l->wrap_arg = opts->wrap_arg;
	l->new_bev = opts->new_bev;
	l->new_bev_arg = opts->new_bev_arg;
	l->deadline_from_accept = opts->deadline_from_accept;
	l->gate_on = opts->gate_refuse != NULL ? opts->gate_on : NULL;
	l->gate_refuse = opts->gate_refuse;
	l->gate_arg = opts->gate_arg;
	l->header_timeout = clock_ms_to_timeval(opts->header_timeout_ms);
	l->retry = evtimer_new(base, accept_retry, l);
	if (l->retry == NULL) {
		close(fd);
		free(l);
		return NULL;
	}
	l->sock = evhttp_accept_socket_with_handle(http, fd);
	if (l->sock == NULL) {
		close(fd);
		event_free(l->retry);
		free(l);
		return NULL;
	}
	l->lev = evhttp_bound_socket_get_listener(l->sock);
	l->enabled = 1;
	evconnlistener_set_error_cb(l->lev, accept_failed);
	evhttp_set_bevcb(http, conn_new, l);
	l->next = all_listeners;
	all_listeners = l;
	return l;
}

void listener_stop(struct listener *l)
{
	if (l == NULL || l->sock == NULL)
		return;
	evhttp_del_accept_socket(l->http, l->sock);
	l->sock = NULL;
	l->lev = NULL;
	evtimer_del(l->retry);
}

unsigned listener_connections(const struct listener *l)
{
	return l->count;
}

uint64_t listener_accepted(const struct listener *l)
{
	return l->accepted;
}

void listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	listener_stop(l);
	for (struct listener **p = &all_listeners; *p != NULL; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	event_free(l->retry);
	free(l);
}
