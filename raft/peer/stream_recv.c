/* stream_recv.c - the receiving end of a peer stream: POST /raft/stream
 * checked as a POST /raft/messages is, then the connection taken over
 * from evhttp: the 200 head written here, frames read off the bufferevent
 * (messages delivered with the checks of every batch, pings answered with
 * pongs) until either side closes, and the evhttp connection freed then.
 *
 * evhttp hands a POST that announces no body (no Content-Length, no
 * Transfer-Encoding) to its handler at once, the request left on its
 * connection and the connection's bufferevent holding whatever followed
 * the head. The handler here replaces evhttp's callbacks and timeouts on
 * that bufferevent with its own, so evhttp reads nothing more; the stream
 * ends with evhttp_connection_free(), which frees the request and the
 * bufferevent, from an event of the stream's own, never from within
 * evhttp's or the bufferevent's calls.
 *
 * The connection's close callback is not the stream's: whoever accepted
 * the connection may hold it (kvd's listener counts its connections
 * there), and evhttp keeps one. So the stream holds a reference to the
 * bufferevent instead: should evhttp free the connection itself
 * (evhttp_free() before transport_free(), against transport.h's rule),
 * the bufferevent's memory stays and its callbacks are cleared, which
 * stream_alive() sees; such a stream is then only forgotten, never freed
 * twice. */
#include "transport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "clock.h"
#include "stream_frame.h"
#include "transport_internal.h"

struct stream_in {
	struct transport *t;
	struct stream_in *prev, *next;
	struct evhttp_connection *evcon;
	/* The request that opened the stream: freed with its connection;
	 * names the peer in log lines. */
	struct evhttp_request *req;
	struct bufferevent *bev;
	struct event *ev; /* reads what came with the head; closes */
	raft_id from;
	char *curl, *purl;
	char addr[64];
	bool closing;
};

/* Whether the connection is still the stream's: evhttp has not freed it
 * (which clears the bufferevent's callbacks). */
static bool stream_alive(const struct stream_in *s)
{
	bufferevent_event_cb eventcb = NULL;
	void *arg = NULL;

	bufferevent_getcb(s->bev, NULL, NULL, &eventcb, &arg);
	return eventcb != NULL && arg == s;
}

static void stream_event_cb(struct bufferevent *bev, short what, void *arg);

/* Forgets @s and frees its connection when it is still there. */
static void stream_free(struct stream_in *s)
{
	struct transport *t = s->t;

	if (s->prev)
		s->prev->next = s->next;
	else
		t->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	t->n_streams--;
	if (stream_alive(s))
		evhttp_connection_free(s->evcon);
	bufferevent_decref(s->bev);
	event_free(s->ev);
	free(s->curl);
	free(s->purl);
	free(s);
}

/* The stream ends: reading stops now, the connection is freed from the
 * stream's event (its close callback then frees @s). */
static void stream_close(struct stream_in *s)
{
	if (s->closing)
		return;
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	event_active(s->ev, EV_WRITE, 1);
}

static void stream_bad(struct stream_in *s, const char *why)
{
	s->t->bad_requests++;
	transport__refused(s->t, s->req,
			   "bad stream frame from member %" PRIu64 ": %s",
			   s->from, why);
	stream_close(s);
}

/* Reads the whole frames in the input. */
static void stream_read(struct stream_in *s)
{
	struct transport *t = s->t;
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (!s->closing) {
		uint8_t h[STREAM_FRAME_HEAD], ping[STREAM_PING_BYTES];
		struct stream_frame_hdr f;
		size_t avail = evbuffer_get_length(in);
		const char *why = NULL;
		uint8_t *body;
		int rc;

		if (avail < STREAM_FRAME_HEAD)
			return;
		evbuffer_copyout(in, h, sizeof(h));
		rc = stream_frame_parse(h, sizeof(h), STREAM_TO_RECEIVER,
					t->lim.max_body_bytes, &f);
		if (rc < 0) {
			stream_bad(s, stream_frame_strerror(rc));
			return;
		}
		if (avail - STREAM_FRAME_HEAD < f.len)
			return; /* the read watermark leaves room for it */
		evbuffer_drain(in, STREAM_FRAME_HEAD);
		if (f.type == STREAM_FRAME_PING) {
			evbuffer_remove(in, ping, sizeof(ping));
			stream_frame_head(h, STREAM_FRAME_PONG, sizeof(ping));
			if (bufferevent_write(s->bev, h, sizeof(h)) != 0 ||
			    bufferevent_write(s->bev, ping, sizeof(ping)) != 0)
				stream_close(s);
			continue;
		}
		body = evbuffer_pullup(in, (ev_ssize_t)f.len);
		rc = body == NULL
			 ? -2
			 : transport__deliver(t, s->req, body, f.len, s->from,
					      s->curl, s->addr, s->purl, &why);
		evbuffer_drain(in, f.len);
		if (rc == -1) {
			/* Counted and logged by transport__deliver(). */
			stream_close(s);
			return;
		}
		if (rc != 0) {
			stream_close(s);
			return;
		}
		t->frames_received++;
	}
}

static void stream_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	stream_read(arg);
}

static void stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	/* End of stream, an error or a timeout: the sender reconnects. */
	stream_close(arg);
}

static void stream_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream_in *s = arg;

	(void)fd;
	(void)what;
	if (s->closing)
		stream_free(s);
	else
		stream_read(s);
}

void transport__streams_close(struct transport *t)
{
	while (t->streams != NULL)
		stream_free(t->streams);
}

/* Streams open from @from; forgets those whose connection evhttp freed
 * (see the top of the file), so that they do not hold the caps. */
static size_t streams_from(struct transport *t, raft_id from)
{
	struct stream_in *s, *next;
	size_t n = 0;

	for (s = t->streams; s; s = next) {
		next = s->next;
		if (!stream_alive(s))
			stream_free(s);
		else
			n += s->from == from;
	}
	return n;
}

static char *dup_or_null(const char *s, bool *nomem)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*nomem = true;
	return d;
}

void transport__handle_stream(struct evhttp_request *req, void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
				 "Content-Type: " STREAM_CONTENT_TYPE "\r\n"
				 "Cache-Control: no-store\r\n"
				 "Connection: close\r\n\r\n";
	struct transport *t = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *curl, *purl;
	struct stream_in *s;
	struct timeval tv;
	char *addr = NULL;
	ev_uint16_t port = 0;
	bool nomem = false;
	raft_id from;

	if (!transport__admit(t, req))
		return;
	/* A stream's bytes are frames, not a body: one announced would have
	 * been read as such (and the frames after it taken for requests). */
	if (evhttp_find_header(h, "Content-Length") != NULL ||
	    evhttp_find_header(h, "Transfer-Encoding") != NULL ||
	    evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0) {
		t->bad_requests++;
		transport__refused(t, req, "a stream request with a body");
		transport__reply(req, 400, "Bad Request",
				 "a stream has no body");
		return;
	}
	if (!transport__parse_id(evhttp_find_header(h, TRANSPORT_HEADER_FROM),
				 &from)) {
		t->bad_requests++;
		transport__refused(t, req,
				   "missing or bad " TRANSPORT_HEADER_FROM);
		transport__reply(req, 400, "Bad Request",
				 "bad " TRANSPORT_HEADER_FROM);
		return;
	}
	if (evcon == NULL || streams_from(t, from) >= STREAM_MAX_PER_MEMBER ||
	    t->n_streams >= STREAM_MAX_OPEN) {
		t->streams_refused++;
		transport__refused(
		    t, req, "too many streams open (member %" PRIu64 ")", from);
		transport__reply(req, 503, "Service Unavailable",
				 "too many streams");
		return;
	}
	transport__request_urls(h, &curl, &purl);
	s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->curl = dup_or_null(curl, &nomem);
		s->purl = dup_or_null(purl, &nomem);
		s->ev = event_new(t->base, -1, 0, stream_ev_cb, s);
	}
	if (s == NULL || nomem || s->ev == NULL) {
		if (s != NULL) {
			if (s->ev != NULL)
				event_free(s->ev);
			free(s->curl);
			free(s->purl);
			free(s);
		}
		transport__reply(req, 500, "Internal Server Error",
				 "out of memory");
		return;
	}
	s->t = t;
	s->evcon = evcon;
	s->req = req;
	s->bev = evhttp_connection_get_bufferevent(evcon);
	s->from = from;
	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(s->addr, sizeof(s->addr), "%s", addr ? addr : "");
	s->next = t->streams;
	if (t->streams)
		t->streams->prev = s;
	t->streams = s;
	t->n_streams++;
	t->streams_accepted++;
	bufferevent_incref(s->bev);
	/* From here the connection is the stream's: evhttp reads nothing
	 * more of it. Its input is bounded to one whole frame (reading
	 * stops above it until a frame is taken off), and a sender that
	 * neither sends nor pings for longer than it should is dropped. */
	bufferevent_setcb(s->bev, stream_read_cb, NULL, stream_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0,
				 STREAM_FRAME_HEAD + t->lim.max_body_bytes);
	tv = clock_ms_to_timeval((uint64_t)t->lim.request_timeout_ms +
				 2 * (uint64_t)t->lim.stream_ping_ms);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	if (bufferevent_write(s->bev, ok, sizeof(ok) - 1) != 0 ||
	    bufferevent_enable(s->bev, EV_READ | EV_WRITE) != 0) {
		stream_close(s);
		return;
	}
	/* Frames that came with the head are in the input already: read
	 * from the loop, outside evhttp's call. */
	event_active(s->ev, EV_READ, 1);
}
