/* lane_conn.c - a pipelining HTTP/1.1 client connection to a peer
 * (lane_conn.h): requests written as they come, answers read in order. */
#include "lane_conn.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "clock.h"
#include "http_answer.h"
#include "tls.h"
#include "write_now.h"

/* One request written and not yet answered. */
struct lc_req {
	lane_conn_done_fn done;
	void *arg;
	uint64_t written_ms; /* its timeout runs from here */
	bool stream;	     /* opens a stream (lane_conn_stream()) */
};

struct lane_conn {
	struct event_base *base;
	struct bufferevent *bev; /* NULL once dead */
	/* The oldest request's deadline; also reports from the loop a
	 * failure found inside an API call (fail_pending). */
	struct event *timer;
	struct lc_req *q; /* ring of max_inflight, oldest at q[head] */
	size_t cap, head, n;
	unsigned timeout_ms;
	uint64_t max_answer_bytes;
	void (*on_close)(void *arg, const char *why);
	void *close_arg;
	/* The head of the answer being read, whose body is not all in. */
	struct http_answer cur;
	bool have_head;
	bool dead;	   /* takes no more requests */
	bool closed;	   /* failed: requests failed, on_close called */
	bool nodelay_on;   /* TCP_NODELAY set on the socket */
	bool in_api;	   /* inside lane_conn_new()/lane_conn_request() */
	bool fail_pending; /* a failure to report from the loop: why */
	char why[128];
	/* Callbacks running (they may nest: one may free another object
	 * whose ...); lane_conn_free() from within one waits for them. */
	unsigned busy;
	bool free_pending;
	/* Stream mode (lane_conn_stream()): a stream was asked for, so no
	 * request goes after it; once its 200 is read, every byte read goes
	 * to on_data and lane_conn_write() writes raw. */
	bool stream_asked, streaming;
	lane_conn_data_fn on_data;
	lane_conn_drain_fn on_drain;
	void *stream_arg;
};

static void really_free(struct lane_conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->q);
	free(c);
}

/* Leaves a callback section: whether @c was freed (the caller must not
 * touch it again). */
static bool leave(struct lane_conn *c)
{
	if (--c->busy == 0 && c->free_pending) {
		really_free(c);
		return true;
	}
	return false;
}

/* Turns Nagle's algorithm off, once per socket: a request is written as
 * head then body, and with Nagle on the body's small tail waits for the
 * peer's delayed ACK (about 40 ms). */
static void set_nodelay(struct lane_conn *c)
{
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	int one = 1;

	if (c->nodelay_on || fd < 0)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		c->nodelay_on = true;
}

/* Arms the timer for the oldest request in flight, or stops it. */
static void arm_timer(struct lane_conn *c)
{
	uint64_t now, due;
	struct timeval tv;

	if (c->n == 0) {
		evtimer_del(c->timer);
		return;
	}
	now = clock_now_ms();
	due = c->q[c->head].written_ms + c->timeout_ms;
	tv = clock_ms_to_timeval(due > now ? due - now : 0);
	evtimer_add(c->timer, &tv);
}

static struct lc_req pop(struct lane_conn *c)
{
	struct lc_req r = c->q[c->head];

	assert(c->n > 0);
	c->head = (c->head + 1) % c->cap;
	c->n--;
	return r;
}

/* The connection is dead: every request in flight fails, in order, then
 * on_close, once. Inside an API call the report waits for the loop. */
static void fail(struct lane_conn *c, const char *why)
{
	if (c->closed || c->fail_pending)
		return;
	c->dead = true;
	if (c->bev != NULL) {
		/* Safe from the bufferevent's own callback: libevent
		 * finishes the free once the callback returns. */
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->in_api) {
		snprintf(c->why, sizeof(c->why), "%s", why);
		c->fail_pending = true;
		event_active(c->timer, EV_TIMEOUT, 1);
		return;
	}
	c->closed = true;
	evtimer_del(c->timer);
	c->busy++;
	while (c->n > 0 && !c->free_pending) {
		struct lc_req r = pop(c);

		r.done(r.arg, NULL, why);
	}
	if (!c->free_pending && c->on_close != NULL)
		c->on_close(c->close_arg, why);
	leave(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane_conn *c = arg;
	char why[128];

	(void)fd;
	(void)what;
	if (c->fail_pending) {
		snprintf(why, sizeof(why), "%s", c->why);
		c->fail_pending = false;
		fail(c, why);
		return;
	}
	if (c->n > 0 &&
	    clock_now_ms() >= c->q[c->head].written_ms + c->timeout_ms)
		fail(c, "timeout");
	else
		arm_timer(c);
}

/* Whether the answer head of @head bytes at the start of @in opens the
 * stream asked for (status 200): then the head is consumed, the request
 * answered (an empty body) and the connection streams from now on. Any
 * other answer (404 from a member that does not know the route, 401, ...)
 * is read as an ordinary one. */
static bool stream_opened(struct lane_conn *c, struct evbuffer *in, size_t head)
{
	static const char *const ok[] = {"HTTP/1.1 200 ", "HTTP/1.0 200 "};
	struct lane_answer a;
	struct lc_req r;
	char line[16];

	if (head < 13)
		return false;
	evbuffer_copyout(in, line, 13);
	if (memcmp(line, ok[0], 13) != 0 && memcmp(line, ok[1], 13) != 0)
		return false;
	evbuffer_drain(in, head);
	memset(&a, 0, sizeof(a));
	a.body = evbuffer_new();
	if (a.body == NULL) {
		fail(c, "out of memory");
		return true;
	}
	a.status = 200;
	snprintf(a.reason, sizeof(a.reason), "OK");
	c->streaming = true;
	r = pop(c);
	evtimer_del(c->timer);
	r.done(r.arg, &a, NULL);
	evbuffer_free(a.body);
	return true;
}

/* Reads one whole answer off @in if there is one: 1 delivered, 0 wait for
 * more bytes, -1 the connection failed or @c was freed. */
static int read_answer(struct lane_conn *c, struct evbuffer *in)
{
	struct lane_answer a;
	struct lc_req r;
	char why[96];

	if (!c->have_head) {
		struct evbuffer_ptr end =
		    evbuffer_search(in, "\r\n\r\n", 4, NULL);
		size_t len = evbuffer_get_length(in);
		size_t head;
		long rc;

		if (c->n == 0) {
			fail(c, "an answer to no request");
			return -1;
		}
		if (end.pos < 0) {
			if (len < LANE_CONN_MAX_HEAD_BYTES)
				return 0;
			fail(c, http_answer_strerror(HTTP_ANSWER_ETOO_LONG));
			return -1;
		}
		head = (size_t)end.pos + 4;
		if (c->q[c->head].stream && stream_opened(c, in, head))
			return 1;
		rc = http_answer_parse(
		    (const char *)evbuffer_pullup(in, (ev_ssize_t)head), head,
		    LANE_CONN_MAX_HEAD_BYTES, c->max_answer_bytes, &c->cur);
		if (rc <= 0) {
			snprintf(why, sizeof(why), "bad answer: %s",
				 http_answer_strerror(
				     rc < 0 ? rc : HTTP_ANSWER_ETOO_LONG));
			fail(c, why);
			return -1;
		}
		evbuffer_drain(in, head);
		if (c->cur.interim)
			return 1; /* 100 Continue: the answer follows */
		c->have_head = true;
	}
	if (evbuffer_get_length(in) < c->cur.content_length)
		return 0;
	memset(&a, 0, sizeof(a));
	a.body = evbuffer_new();
	if (a.body == NULL ||
	    evbuffer_remove_buffer(in, a.body, (size_t)c->cur.content_length) !=
		(int)c->cur.content_length) {
		if (a.body != NULL)
			evbuffer_free(a.body);
		fail(c, "out of memory");
		return -1;
	}
	c->have_head = false;
	a.status = c->cur.status;
	snprintf(a.reason, sizeof(a.reason), "%s", c->cur.reason);
	a.close = c->cur.close;
	/* The server reads no request after this answer: none is taken
	 * from the callback on. */
	if (a.close)
		c->dead = true;
	r = pop(c);
	/* read_cb()'s section holds @c: a free from the callback waits. */
	assert(c->busy > 0);
	r.done(r.arg, &a, NULL);
	evbuffer_free(a.body);
	if (c->free_pending)
		return -1;
	if (a.close) {
		fail(c, "connection closed by the peer (Connection: close)");
		return -1;
	}
	arm_timer(c);
	return 1;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct lane_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->busy++;
	while (!c->closed && !c->free_pending && !c->streaming &&
	       evbuffer_get_length(in) > 0)
		if (read_answer(c, in) <= 0)
			break;
	if (c->streaming && !c->closed && !c->free_pending &&
	    evbuffer_get_length(in) > 0)
		c->on_data(c->stream_arg, in);
	leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct lane_conn *c = arg;

	(void)bev;
	if (!c->streaming || c->on_drain == NULL)
		return;
	c->busy++;
	if (!c->closed && !c->free_pending)
		c->on_drain(c->stream_arg);
	leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lane_conn *c = arg;
	char why[128];
	unsigned long ssl_err;

	if (what & BEV_EVENT_CONNECTED) {
		set_nodelay(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		snprintf(why, sizeof(why), "connection closed");
	} else if ((ssl_err = bufferevent_get_openssl_error(bev)) != 0) {
		snprintf(why, sizeof(why), "TLS error %lu", ssl_err);
	} else {
		int e = EVUTIL_SOCKET_ERROR();

		snprintf(why, sizeof(why), "connection error: %s",
			 e ? evutil_socket_error_to_string(e) : "unknown");
	}
	fail(c, why);
}

/* A nonblocking socket bound to @host, as evhttp binds a connection's
 * local address; -1 with a reason in @err. */
static evutil_socket_t bound_socket(const char *host, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	evutil_socket_t fd;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, "0", &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "source address %.100s: %s", host,
			 gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "source address %.100s: %s", host,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int lane_conn_new(const struct lane_conn_options *o, struct lane_conn **out,
		  char *err, size_t errlen)
{
	struct lane_conn *c;
	evutil_socket_t fd = -1;

	snprintf(err, errlen, "%s", "");
	if (o == NULL || out == NULL || o->base == NULL || o->host == NULL ||
	    o->port < 1 || o->port > 65535 || o->timeout_ms == 0 ||
	    o->max_inflight < 1 || o->max_inflight > LANE_CONN_MAX_INFLIGHT ||
	    o->max_answer_bytes > LANE_CONN_MAX_ANSWER_BYTES)
		return LANE_CONN_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return LANE_CONN_ENOMEM;
	c->base = o->base;
	c->cap = o->max_inflight;
	c->timeout_ms = o->timeout_ms;
	c->max_answer_bytes = o->max_answer_bytes;
	c->on_close = o->on_close;
	c->close_arg = o->close_arg;
	c->q = calloc(c->cap, sizeof(*c->q));
	c->timer = evtimer_new(o->base, timer_cb, c);
	if (c->q == NULL || c->timer == NULL)
		goto nomem;
	if (o->tls != NULL)
		c->bev = tls_client_bev(o->tls, o->base, o->host);
	else
		c->bev =
		    bufferevent_socket_new(o->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto nomem;
	if (o->source_host != NULL) {
		fd = bound_socket(o->source_host, err, errlen);
		if (fd < 0 || bufferevent_setfd(c->bev, fd) != 0) {
			if (fd >= 0)
				close(fd);
			really_free(c);
			return LANE_CONN_ECONNECT;
		}
	}
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		goto nomem;
	/* The name is resolved blocking (no DNS base), as evhttp does;
	 * a failure to even start is reported here, the rest from the
	 * loop (fail() waits while in_api). */
	c->in_api = true;
	if (bufferevent_socket_connect_hostname(c->bev, NULL, AF_UNSPEC,
						o->host, o->port) != 0 &&
	    !c->fail_pending) {
		c->in_api = false;
		snprintf(err, errlen, "cannot connect to %.100s:%d", o->host,
			 o->port);
		really_free(c);
		return LANE_CONN_ECONNECT;
	}
	c->in_api = false;
	set_nodelay(c);
	*out = c;
	return LANE_CONN_OK;
nomem:
	really_free(c);
	return LANE_CONN_ENOMEM;
}

int lane_conn_request(struct lane_conn *c, const char *head, size_t head_len,
		      struct evbuffer *body, lane_conn_done_fn done, void *arg)
{
	struct evbuffer *outb;
	size_t was;
	int rc = LANE_CONN_OK;

	if (c == NULL || head == NULL || head_len == 0 || done == NULL)
		return LANE_CONN_EINVAL;
	if (c->dead || c->bev == NULL || c->free_pending)
		return LANE_CONN_EDEAD;
	if (c->stream_asked)
		return LANE_CONN_ESTREAM;
	if (c->n == c->cap)
		return LANE_CONN_EFULL;
	outb = bufferevent_get_output(c->bev);
	was = evbuffer_get_length(outb);
	c->in_api = true;
	if (bufferevent_write(c->bev, head, head_len) != 0 ||
	    (body != NULL && bufferevent_write_buffer(c->bev, body) != 0)) {
		/* Nothing half-written goes out. */
		if (c->bev != NULL && evbuffer_get_length(outb) > was)
			evbuffer_drain(outb, evbuffer_get_length(outb) - was);
		rc = LANE_CONN_ENOMEM;
	}
	c->in_api = false;
	if (rc != LANE_CONN_OK)
		return rc;
	assert(c->n < c->cap);
	c->q[(c->head + c->n) % c->cap] = (struct lc_req){
	    .done = done, .arg = arg, .written_ms = clock_now_ms()};
	if (++c->n == 1 && !c->fail_pending)
		arm_timer(c);
	return LANE_CONN_OK;
}

int lane_conn_stream(struct lane_conn *c, const char *head, size_t head_len,
		     lane_conn_done_fn done, lane_conn_data_fn on_data,
		     lane_conn_drain_fn on_drain, void *arg)
{
	int rc;

	if (c == NULL || on_data == NULL)
		return LANE_CONN_EINVAL;
	rc = lane_conn_request(c, head, head_len, NULL, done, arg);
	if (rc != LANE_CONN_OK)
		return rc;
	c->q[(c->head + c->n - 1) % c->cap].stream = true;
	c->stream_asked = true;
	c->on_data = on_data;
	c->on_drain = on_drain;
	c->stream_arg = arg;
	return LANE_CONN_OK;
}

int lane_conn_write(struct lane_conn *c, struct evbuffer *data)
{
	int rc = LANE_CONN_OK;

	if (c == NULL || data == NULL)
		return LANE_CONN_EINVAL;
	if (c->dead || c->bev == NULL || c->free_pending || !c->streaming)
		return LANE_CONN_EDEAD;
	/* A TLS bufferevent may write, fail and report it from within the
	 * call: the failure is reported from the loop (fail()). */
	c->in_api = true;
	/* Left to the bufferevent, a frame would wait for the loop's next
	 * turn: on the path of every write twice (write_now.h). */
	write_now(c->bev, data);
	if (evbuffer_get_length(data) > 0 &&
	    bufferevent_write_buffer(c->bev, data) != 0)
		rc = LANE_CONN_ENOMEM;
	c->in_api = false;
	return rc;
}

size_t lane_conn_output_bytes(const struct lane_conn *c)
{
	return c != NULL && c->bev != NULL
		   ? evbuffer_get_length(bufferevent_get_output(c->bev))
		   : 0;
}

bool lane_conn_streaming(const struct lane_conn *c)
{
	return lane_conn_alive(c) && c->streaming;
}

size_t lane_conn_inflight(const struct lane_conn *c)
{
	return c ? c->n : 0;
}

bool lane_conn_alive(const struct lane_conn *c)
{
	return c != NULL && !c->dead && !c->free_pending;
}

void lane_conn_free(struct lane_conn *c)
{
	if (c == NULL)
		return;
	if (c->busy > 0) {
		/* The callback that called us is still running: the
		 * section it runs in frees @c on leaving. The socket goes
		 * now, so nothing more is read. */
		c->free_pending = true;
		c->dead = true;
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		return;
	}
	really_free(c);
}

const char *lane_conn_strerror(int err)
{
	switch (err) {
	case LANE_CONN_OK:
		return "ok";
	case LANE_CONN_EINVAL:
		return "invalid argument";
	case LANE_CONN_ENOMEM:
		return "out of memory";
	case LANE_CONN_ECONNECT:
		return "cannot connect";
	case LANE_CONN_EDEAD:
		return "connection closed";
	case LANE_CONN_EFULL:
		return "too many requests in flight";
	case LANE_CONN_ESTREAM:
		return "the connection carries a stream";
	default:
		return "unknown error";
	}
}
