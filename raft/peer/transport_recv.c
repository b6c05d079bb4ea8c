/* transport_recv.c - the receiving side of the peer transport: the route
 * POST /raft/messages (token, sender, body limits, decoding), and the
 * gate that checks a request's token before its body is read (letting
 * through only the peer hello, transport_hello.c, without one). */
#include "transport.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "frame.h"
#include "refused_log.h"
#include "secret.h"
#include "stream_frame.h"
#include "tls.h"
#include "transport_internal.h"

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

void transport__reply(struct evhttp_request *req, int code, const char *reason,
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

bool transport__parse_id(const char *s, raft_id *out)
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

/* One line per log interval at most: a misbehaving peer must not flood the
 * log. */
void transport__refused(struct transport *t, struct evhttp_request *req,
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
		transport__log(t, TRANSPORT_LOG_WARN, "%s", line);
}

bool transport__request_authorized(const struct transport *t,
				   struct evkeyvalq *h, bool *present)
{
	const char *token;

	*present = true;
	if (t->token == NULL)
		return true;
	token = request_token(h);
	*present = token != NULL;
	return token != NULL && secret_equal(token, t->token, t->token_len);
}

bool transport__admit(struct transport *t, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	bool present;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		t->bad_requests++;
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "POST");
		transport__reply(req, 405, "Method Not Allowed", "use POST");
		return false;
	}
	/* Authenticate before the body is looked at. */
	if (!transport__request_authorized(t, h, &present)) {
		t->unauthorized++;
		transport__refused(t, req, "%s peer token",
				   present ? "wrong" : "missing");
		transport__reply(req, 401, "Unauthorized",
				 "peer token required");
		return false;
	}
	return true;
}

void transport__request_urls(struct evkeyvalq *h, const char **curl,
			     const char **purl)
{
	char phost[TRANSPORT_MAX_URL];
	const char *why;
	int pport;

	*curl = evhttp_find_header(h, TRANSPORT_HEADER_CLIENT_URL);
	if (*curl && (strlen(*curl) >= TRANSPORT_MAX_URL ||
		      !transport__printable(*curl)))
		*curl = NULL;
	/* Only a peer URL this member could dial goes up. */
	*purl = evhttp_find_header(h, TRANSPORT_HEADER_PEER_URL);
	if (*purl && (!transport__printable(*purl) ||
		      transport_parse_url(*purl, phost, sizeof(phost), &pport,
					  &why) != TRANSPORT_OK))
		*purl = NULL;
}

int transport__deliver(struct transport *t, struct evhttp_request *req,
		       const uint8_t *body, size_t len, raft_id from,
		       const char *curl, const char *addr, const char *purl,
		       const char **why)
{
	struct msg_batch b;
	size_t err_off = 0, n = 0;
	int rc;

	rc = msg_codec_decode(body, len, &t->lim.codec, &b, &err_off);
	if (rc != MSG_CODEC_OK) {
		if (rc == MSG_CODEC_ENOMEM)
			return -2;
		t->bad_requests++;
		transport__refused(t, req,
				   "bad body from member %" PRIu64
				   " (%zu bytes): %s at offset %zu",
				   from, len, msg_codec_strerror(rc), err_off);
		*why = msg_codec_strerror(rc);
		return -1;
	}
	for (size_t i = 0; i < b.n_msgs; i++) {
		/* A snapshot's message is stepped only once its file has
		 * arrived (POST /raft/snapshot); stepped from here, the core
		 * would accept a snapshot that is nowhere. */
		if (b.msgs[i].type == RAFT_MSG_SNAPSHOT) {
			t->bad_requests++;
			transport__refused(
			    t, req,
			    "snapshot message from member %" PRIu64
			    " on the message route",
			    from);
			*why = "snapshot messages are not taken here";
			msg_batch_free(&b);
			return -1;
		}
		if (b.msgs[i].from != from) {
			t->bad_requests++;
			transport__refused(t, req,
					   "message from %" PRIu64
					   " in a body sent by member %" PRIu64,
					   b.msgs[i].from, from);
			*why = "message sender differs "
			       "from " TRANSPORT_HEADER_FROM;
			msg_batch_free(&b);
			return -1;
		}
	}
	/* Keep only messages for this member, in body order. */
	for (size_t i = 0; i < b.n_msgs; i++) {
		if (b.msgs[i].to == t->self)
			b.msgs[n++] = b.msgs[i];
		else
			t->msgs_misrouted++;
	}
	t->bytes_received += len;
	t->msgs_received += n;
	if (n > 0)
		t->on_messages(t->ctx, b.msgs, n, from, curl, addr, purl);
	msg_batch_free(&b);
	return 0;
}

static void handle_messages(struct evhttp_request *req, void *arg)
{
	struct transport *t = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	const char *curl, *purl, *why = NULL;
	char *addr = NULL;
	ev_uint16_t port = 0;
	size_t len;
	uint8_t *body;
	raft_id from;
	int rc;

	if (!transport__admit(t, req))
		return;
	len = evbuffer_get_length(in);
	if (len > t->lim.max_body_bytes) {
		t->bad_requests++;
		transport__refused(t, req, "body of %zu bytes above the limit",
				   len);
		transport__reply(req, 413, "Payload Too Large",
				 "body too large");
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
	transport__request_urls(h, &curl, &purl);
	body = len ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
	if (len && body == NULL) {
		transport__reply(req, 500, "Internal Server Error",
				 "out of memory");
		return;
	}
	if (c)
		evhttp_connection_get_peer(c, &addr, &port);
	rc =
	    transport__deliver(t, req, body, len, from, curl, addr, purl, &why);
	if (rc == -2) {
		transport__reply(req, 500, "Internal Server Error",
				 "out of memory");
		return;
	}
	if (rc != 0) {
		transport__reply(req, 400, "Bad Request", why);
		return;
	}
	t->posts_received++;
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
	/* @sock writes its output to the socket as it is (a socket
	 * bufferevent, not a TLS one, whose output is plaintext that only
	 * it may put on the wire). */
	bool raw_fd;
};

void transport__gate_unref(struct gate *g)
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
	transport__gate_unref(c->g);
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

/* Whether the request line of @head opens a stream (POST /raft/stream). */
static bool head_is_stream(const char *head)
{
	static const char line[] = "POST " STREAM_PATH " HTTP/1.";

	return strncmp(head, line, sizeof(line) - 1) == 0;
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

/* The header block of a refused request, made bodiless: its request line
 * and headers without those that announce a body or say what becomes of
 * the connection; with @close, final (Connection: close).
 *
 * Over TLS the request is not made final: evhttp frees a connection it
 * closes as soon as the answer is handed to the filter, and the TLS
 * bufferevent under it would go with the answer unsent (on a plain socket
 * gate_out() writes it at once; TLS records only the TLS bufferevent may
 * write). The connection stays open instead, everything after the
 * refused request discarded, until the asker closes it or the listener's
 * deadlines do. */
static int gate_refuse(struct evbuffer *dst, const char *head, bool close)
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
	return evbuffer_add_printf(dst, "Content-Length: 0\r\n%s\r\n",
				   close ? "Connection: close\r\n" : "") < 0
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
			/* A stream's frames follow its head: no more heads
			 * on this connection, and its sender holds the
			 * token. */
			if (head_is_stream(head))
				c->st = GATE_PASS;
			rc = evbuffer_remove_buffer(src, dst, n) == (int)n ? 0
									   : -1;
		} else if (transport__head_is_hello(head) &&
			   head_body_length(head, &c->left) && c->left == 0) {
			/* A hello needs no token and has no body: it goes
			 * up and the connection stays, for the messages
			 * its answer lets the asker send (transport_hello.c).
			 */
			rc = evbuffer_remove_buffer(src, dst, n) == (int)n ? 0
									   : -1;
		} else {
			c->st = GATE_DISCARD;
			rc = gate_refuse(dst, head, c->raw_fd);
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
	evutil_socket_t fd = c->raw_fd ? bufferevent_getfd(c->sock) : -1;

	(void)limit;
	(void)mode;
	if (evbuffer_add_buffer(dst, src) != 0)
		return BEV_ERROR;
	/* Over TLS the answer goes through the TLS bufferevent, the
	 * ordinary way: written raw it would break the TLS stream. */
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

/* Wraps the bufferevent @sock (ownership taken; a TLS one when @tls) in
 * the gate's filter. NULL when out of memory (@sock freed). */
static struct bufferevent *gate_wrap(struct gate *g, struct bufferevent *sock,
				     bool tls)
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
	c->raw_fd = !tls;
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
	return sock != NULL ? gate_wrap(arg, sock, false) : NULL;
}

struct bufferevent *transport_wrap_peer_conn(struct transport *t,
					     struct bufferevent *sock)
{
	if (t == NULL || sock == NULL) {
		if (sock != NULL)
			bufferevent_free(sock);
		return NULL;
	}
	return t->gate != NULL ? gate_wrap(t->gate, sock, t->tls_server != NULL)
			       : sock;
}

struct bufferevent *transport_new_peer_conn(struct transport *t,
					    struct event_base *base)
{
	if (t == NULL || base == NULL)
		return NULL;
	if (t->tls_server != NULL)
		return tls_server_bev(t->tls_server, base);
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* With TLS, every connection the listener accepts: the TLS bufferevent,
 * under the token gate when there is a token. */
static struct bufferevent *tls_peer_bev(struct event_base *base, void *arg)
{
	struct transport *t = arg;
	struct bufferevent *sock = transport_new_peer_conn(t, base);

	/* NULL: evhttp then makes a plain one, on which a TLS client's
	 * handshake is no HTTP request: it is refused. */
	return sock != NULL ? transport_wrap_peer_conn(t, sock) : NULL;
}

int transport_attach(struct transport *t, struct evhttp *peer_http)
{
	if (t == NULL || peer_http == NULL)
		return TRANSPORT_EINVAL;
	if (t->http)
		return TRANSPORT_EATTACHED;
	if (evhttp_set_cb(peer_http, TRANSPORT_PATH, handle_messages, t) != 0)
		return TRANSPORT_EEVENT;
	if (evhttp_set_cb(peer_http, STREAM_PATH, transport__handle_stream,
			  t) != 0) {
		evhttp_del_cb(peer_http, TRANSPORT_PATH);
		return TRANSPORT_EEVENT;
	}
	if (transport__hello_attach(t, peer_http) != TRANSPORT_OK) {
		evhttp_del_cb(peer_http, TRANSPORT_PATH);
		evhttp_del_cb(peer_http, STREAM_PATH);
		return TRANSPORT_EEVENT;
	}
	evhttp_set_max_body_size(peer_http, (ev_ssize_t)t->lim.max_body_bytes);
	if (t->token) {
		t->gate = calloc(1, sizeof(*t->gate));
		if (t->gate == NULL ||
		    (t->gate->token = strdup(t->token)) == NULL) {
			free(t->gate);
			t->gate = NULL;
			evhttp_del_cb(peer_http, TRANSPORT_PATH);
			evhttp_del_cb(peer_http, STREAM_PATH);
			evhttp_del_cb(peer_http, PEER_PROOF_PATH);
			return TRANSPORT_ENOMEM;
		}
		t->gate->token_len = t->token_len;
		t->gate->refs = 1;
		evhttp_set_bevcb(peer_http, gate_bev, t->gate);
	}
	/* Freed before @t (transport_free() removes the hook). */
	if (t->tls_server)
		evhttp_set_bevcb(peer_http, tls_peer_bev, t);
	t->http = peer_http;
	return TRANSPORT_OK;
}
