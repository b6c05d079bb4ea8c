/* kvc_http.c - libkvc's HTTP layer: one exchange with a member, timeouts,
 * response parsing, leader discovery and retries. Nothing here is exported;
 * kvc.c builds the API on top of it. */
#include "kvc_http.h"
#include "kvc_tls.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#define KVC_MAX_RESPONSE_BYTES (256u << 20) /* one response body */
#define KVC_BACKOFF_MIN_MS     20
#define KVC_BACKOFF_MAX_MS     1000
#define KVC_STATUS_TIMEOUT_MS  1000 /* leader discovery, per member */

/* The state of one attempt while the loop runs. */
struct attempt {
	struct kvc *h;
	struct resp *r;
	struct evhttp_connection *conn;
	bool done;
	bool nomem;
	bool too_large;
	bool error_cb; /* evhttp reported an error after connecting */
};

void kvc_http_set_errmsg(struct kvc *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->errmsg, sizeof(h->errmsg), fmt, ap);
	va_end(ap);
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t kvc_http_rng_next(struct kvc *h)
{
	/* xorshift64: the jitter only needs to differ between clients. */
	uint64_t x = h->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	h->rng = x;
	return x;
}

int kvc_http_read_random(void *buf, size_t len)
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

/* Parses "http://host:port" or "https://host:port" (the scheme may be left
 * out: http; the port defaults to 80 or 443). */
int kvc_http_parse_endpoint(const char *url, size_t len, struct endpoint *ep)
{
	char in[KVC_MAX_URL + 1], buf[KVC_MAX_URL + 16];
	if (len == 0 || len > KVC_MAX_URL)
		return KVC_EINVAL;
	memcpy(in, url, len);
	in[len] = '\0';
	bool tls = strncmp(in, "https://", 8) == 0;
	if (strncmp(in, "http://", 7) == 0 || tls)
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
		ep->port = port > 0 ? port : tls ? 443 : 80;
		ep->tls = tls;
		rc = 0;
	}
	evhttp_uri_free(u);
	return rc;
}

void kvc_http_resp_clear(struct resp *r)
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
	if (!req || evhttp_request_get_response_code(req) == 0) {
		/* Connection failure: r->status stays 0. evhttp calls the
		 * error callback first for every failure but the connect's
		 * own. */
		if (!a->error_cb)
			a->r->not_connected = true;
		return;
	}
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
	a->error_cb = true;
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
		a->r->not_connected = true;
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
void kvc_http_sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	g->was_pending = sigismember(&pend, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void kvc_http_sigpipe_restore(struct sigpipe_guard *g)
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

void kvc_http_nodelay(int fd)
{
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Whether a TCP connection to @ep is refused (ECONNREFUSED) within
 * @timeout_ms: evhttp does not say why a connect failed, so after one
 * failed we ask once more ourselves. */
static bool connect_refused(const struct endpoint *ep, int timeout_ms)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", ep->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(ep->host, port, &hints, &res) != 0)
		return false;
	bool refused = false;
	int fd = socket(res->ai_family,
			res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			res->ai_protocol);
	if (fd >= 0) {
		int r = connect(fd, res->ai_addr, res->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int err = 0;
			socklen_t el = sizeof(err);
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) ==
				0)
				refused = err == ECONNREFUSED;
		} else if (r < 0) {
			refused = errno == ECONNREFUSED;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return refused;
}

/* Body sizes from which a connection closed while sending is taken for a
 * member refusing the body (below, the default limit of a value). */
#define KVC_PROBE_BODY_BYTES (1u << 20)

/* After a request with a body of @c->body_len bytes lost its connection
 * while sending: a member closes the connection without reading a body
 * above its limit, and its 413 is lost with it. Ask again with the headers
 * alone, which a member judges before any body byte (and never applies:
 * the body never comes); true when it answers 413. */
static bool body_refused(const struct endpoint *ep, const struct call *c,
			 int timeout_ms)
{
	/* Over TLS the probe would need a handshake of its own: a refused
	 * body there stays a lost connection. */
	if (ep->tls)
		return false;
	char port[16];
	snprintf(port, sizeof(port), "%d", ep->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(ep->host, port, &hints, &res) != 0)
		return false;
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
			res->ai_protocol);
	bool refused = false;
	if (fd >= 0) {
		struct timeval tv = clock_ms_to_timeval((uint64_t)timeout_ms);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		char head[KVC_MAX_URL + 1024];
		int n = snprintf(head, sizeof(head),
				 "%s %s HTTP/1.1\r\nHost: %s:%d\r\n"
				 "Content-Length: %zu\r\n"
				 "Connection: close\r\n\r\n",
				 c->method == EVHTTP_REQ_POST ? "POST" : "PUT",
				 c->path, ep->host, ep->port, c->body_len);
		char ans[16] = {0};
		size_t got = 0;
		if (n > 0 && (size_t)n < sizeof(head) &&
		    connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
		    send(fd, head, (size_t)n, MSG_NOSIGNAL) == n) {
			while (got < 12) {
				ssize_t r = recv(fd, ans + got, 12 - got, 0);
				if (r <= 0)
					break;
				got += (size_t)r;
			}
		}
		refused = got == 12 && strncmp(ans, "HTTP/1.", 7) == 0 &&
			  strncmp(ans + 9, "413", 3) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return refused;
}

/* Whether a kept connection can carry a request: not connected (evhttp
 * connects it), or connected with nothing to read. An idle connection
 * that is readable was closed by its member (or sent what nobody asked
 * for): either way it is of no use. */
static bool conn_alive(struct evhttp_connection *conn, bool tls)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	/* Over TLS an unconnected connection is one whose session ended:
	 * evhttp would connect it again with the SSL of the session that
	 * ended, which cannot start another one. */
	if (fd < 0)
		return !tls;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, 0) == 0;
}

/* A new connection to @ep: over TLS, on a fresh SSL whose peer must be
 * @ep's host. NULL when out of memory or when no TLS context can be built
 * (the handle's errmsg says why). */
static struct evhttp_connection *conn_new(struct kvc *h,
					  const struct endpoint *ep)
{
	if (!ep->tls)
		return evhttp_connection_base_new(h->base, NULL, ep->host,
						  (unsigned short)ep->port);
	SSL_CTX *ctx = kvc_tls_ctx_of(h);
	SSL *ssl = ctx ? kvc_tls_ssl_new(ctx, ep->host) : NULL;
	if (!ssl)
		return NULL;
	/* The bufferevent owns the SSL and frees it with the connection. */
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    h->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	/* On failure libevent has freed @ssl (BEV_OPT_CLOSE_ON_FREE). */
	if (!bev)
		return NULL;
	/* A member may close without a TLS close_notify (HTTP says where
	 * a body ends): not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	kvc_tls_joined(bev);
	struct evhttp_connection *conn = evhttp_connection_base_bufferevent_new(
	    h->base, NULL, bev, ep->host, (unsigned short)ep->port);
	if (!conn)
		bufferevent_free(bev);
	return conn;
}

/* After an exchange over TLS that brought no answer: when the TLS session
 * failed, says why in the handle's errmsg and returns true. */
static bool tls_failure(struct kvc *h, const struct endpoint *ep,
			struct evhttp_connection *conn)
{
	char why[300];
	if (!conn ||
	    !kvc_tls_bev_failed(evhttp_connection_get_bufferevent(conn), why,
				sizeof(why)))
		return false;
	kvc_http_set_errmsg(h, "%s:%d: %s", ep->host, ep->port, why);
	return true;
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

	/* A connection kept from an earlier answer of this member, if any:
	 * HTTP/1.1 keep-alive saves a TCP handshake per call. */
	struct kvc_conn *slot = NULL;
	for (size_t i = 0; i < KVC_CONN_CACHE && !slot; i++)
		if (h->conns[i].conn && kvc_http_same_ep(&h->conns[i].ep, ep))
			slot = &h->conns[i];
	if (slot && !conn_alive(slot->conn, ep->tls)) {
		/* The member closed it while we were away (its idle timeout,
		 * a restart): a request sent on it would only fail. */
		evhttp_connection_free(slot->conn);
		slot->conn = conn_new(h, ep);
	}
	if (!slot) {
		slot = &h->conns[h->conn_next++ % KVC_CONN_CACHE];
		if (slot->conn)
			evhttp_connection_free(slot->conn);
		slot->ep = *ep;
		slot->conn = conn_new(h, ep);
	}
	a.conn = slot->conn;
	if (!a.conn) {
		if (ep->tls && !h->tls_ctx) {
			/* No context: the files do not load. As definite
			 * as a handshake refused. */
			r->tls_failed = true;
			rc = 0;
		}
		goto out;
	}
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
	if (evhttp_add_header(hd, "Host", hostport) != 0)
		goto out_req;
	if (h->opts.token) {
		/* Checked by kvc_open(): no control characters. */
		char auth[KVC_MAX_TOKEN + 16];
		snprintf(auth, sizeof(auth), "Bearer %s", h->opts.token);
		int hrc = evhttp_add_header(hd, "Authorization", auth);
		explicit_bzero(auth, sizeof(auth));
		if (hrc != 0)
			goto out_req;
	}
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
	struct timeval tv = clock_ms_to_timeval(cms);
	evtimer_add(tconn, &tv);
	tv = clock_ms_to_timeval(timeout_ms);
	evtimer_add(tall, &tv);

	/* On success the connection owns req (freed after the callback). */
	if (evhttp_make_request(a.conn, req, c->method, c->path) != 0) {
		req = NULL; /* evhttp frees it on failure */
		rc = 0;	    /* no answer: the caller retries */
		goto out;
	}
	req = NULL;
	if (ep->tls)
		kvc_http_nodelay(bufferevent_getfd(
		    evhttp_connection_get_bufferevent(a.conn)));
	struct sigpipe_guard spg;
	kvc_http_sigpipe_block(&spg);
	while (!a.done) {
		if (event_base_loop(h->base, EVLOOP_ONCE) < 0)
			break;
	}
	kvc_http_sigpipe_restore(&spg);
	if (r->status == 0 && ep->tls && tls_failure(h, ep, a.conn))
		r->tls_failed = true;
	else if (r->status == 0 && r->not_connected && !r->timed_out)
		r->refused = connect_refused(ep, h->opts.connect_timeout_ms);
	if (r->status == 0 && !r->not_connected && !r->timed_out &&
	    c->body_len >= KVC_PROBE_BODY_BYTES &&
	    body_refused(ep, c, h->opts.connect_timeout_ms)) {
		/* As if the member's 413 had arrived. */
		r->status = 413;
		r->body = strdup("{\"error\":\"too_large\",\"message\":"
				 "\"the member refused the body: larger than "
				 "its limit (kvd --max-value-bytes)\"}");
		r->len = r->body ? strlen(r->body) : 0;
		if (!r->body)
			a.nomem = true;
	}
	rc = 0;
	if (a.nomem) {
		kvc_http_resp_clear(r);
		rc = KVC_ENOMEM;
	} else if (a.too_large) {
		kvc_http_resp_clear(r);
		rc = KVC_ETOO_LARGE;
	} else if (r->status != 0 && !r->timed_out) {
		/* A whole answer: the connection is in a known state and
		 * serves the next call (evhttp reconnects by itself if the
		 * member closes it meanwhile). */
		a.conn = NULL;
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
	/* After a failure, or with an answer still on its way, the
	 * connection is dropped (which frees a request still queued without
	 * calling its callback): the next call starts afresh. */
	if (a.conn) {
		evhttp_connection_free(a.conn);
		slot->conn = NULL;
	}
	return rc;
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

int kvc_http_b64_decode(const char *s, void **out, size_t *out_len)
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

/* Maps an HTTP status to a KVC code and keeps the server's message. */
int kvc_http_status_to_rc(struct kvc *h, const struct resp *r)
{
	if (r->status >= 200 && r->status < 300)
		return 0;
	json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *msg =
	    j ? json_string_value(json_object_get(j, "message")) : NULL;
	const char *code =
	    j ? json_string_value(json_object_get(j, "error")) : NULL;
	kvc_http_set_errmsg(h, "HTTP %d%s%s%s%s", r->status, code ? " " : "",
			    code ? code : "", msg ? ": " : "", msg ? msg : "");
	json_decref(j);
	switch (r->status) {
	case 400:
		return KVC_EBADREQ;
	case 401:
		return KVC_EUNAUTHORIZED;
	case 403:
		return KVC_EFORBIDDEN;
	case 404:
		return KVC_ENOTFOUND;
	case 409:
		return KVC_ECONFLICT;
	case 412:
		return KVC_ECAS;
	case 413:
		return KVC_ETOO_LARGE;
	case 410:
		return KVC_ECOMPACTED;
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

/* Asks endpoint @ep for the leader; sets h->leader when one is known.
 * Returns 0 when @ep answered, else what kvc_http_call() counts: 1 when it
 * refused the connection, 3 when the TLS handshake failed (the handle's
 * errmsg says why), 4 when it answered 401 or 403 (the answer is in
 * *@out, which the caller releases), 2 for any other failure. A leader's
 * URL may be
 * https://: it is spoken to with the handle's TLS settings. */
static int discover(struct kvc *h, const struct endpoint *ep,
		    uint64_t timeout_ms, struct resp *out)
{
	struct call c = {.method = EVHTTP_REQ_GET, .path = "/v1/status"};
	struct resp r;
	if (http_once(h, ep, &c, timeout_ms, &r) == 0 &&
	    (r.status == 401 || r.status == 403)) {
		/* Auth is on and the token will not do: no other member
		 * thinks otherwise. */
		*out = r;
		return 4;
	}
	if (r.status != 200) {
		int rc = r.refused ? 1 : r.tls_failed ? 3 : 2;
		kvc_http_resp_clear(&r);
		return rc;
	}
	json_t *j = json_loadb(r.body, r.len, 0, NULL);
	json_t *lid = json_object_get(j, "leader");
	const char *url =
	    json_string_value(json_object_get(j, "leader_client_url"));
	if (json_is_integer(lid) && json_integer_value(lid) > 0 && url &&
	    *url && kvc_http_parse_endpoint(url, strlen(url), &h->leader) == 0)
		h->has_leader = true;
	json_decref(j);
	kvc_http_resp_clear(&r);
	return 0;
}

/* Sends @c, retrying on connection failure, 503 and 504 with jittered
 * exponential backoff until the handle's deadline. On return 0 the answer
 * (any status that is not retried) is in @r; the caller maps it. */
int kvc_http_call(struct kvc *h, const struct call *c, struct resp *r)
{
	uint64_t deadline =
	    clock_now_ms() + (uint64_t)h->opts.retry_deadline_ms;
	uint64_t backoff = KVC_BACKOFF_MIN_MS;
	int last = KVC_EUNAVAILABLE;
	/* Connections refused in a row: when every endpoint refused twice,
	 * nothing listens at any of them (a cluster not started, a wrong
	 * port). Waiting out the deadline would only hide that. */
	unsigned refusals = 0;
	unsigned refusals_max = 2 * (c->fixed ? 1u : (unsigned)h->n_eps);
	/* The last refusal was a TLS handshake that failed: a member we
	 * cannot trust (or that refuses our certificate) counts as one that
	 * refuses the connection, and its reason is the one to say. */
	bool tls_failed = false;
	memset(r, 0, sizeof(*r));
	h->errmsg[0] = '\0';
	h->maybe_sent = false;
	for (;;) {
		uint64_t now = clock_now_ms();
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
			int d = discover(h, ep, stmo, r);
			if (d == 4)
				return 0;
			if (!h->has_leader) {
				/* Down, or it knows no leader: a write sent
				 * there would only wait for one. */
				last = KVC_EUNAVAILABLE;
				refusals = d == 1 || d == 3 ? refusals + 1 : 0;
				tls_failed = d == 3;
				if (d != 3)
					kvc_http_set_errmsg(
					    h, "%s:%d: %s", ep->host, ep->port,
					    d == 1   ? "connection refused"
					    : d == 2 ? "no answer"
						     : "no leader known");
				goto again;
			}
		}
		if (c->to_leader && h->has_leader && !c->fixed)
			ep = &h->leader;
		now = clock_now_ms();
		if (now >= deadline)
			break;
		left = deadline - now;
		if (tmo > left)
			tmo = left;
		int rc = http_once(h, ep, c, tmo, r);
		/* Once connected, the member may have read the request and
		 * carried it out, whatever becomes of the answer. */
		if (!r->not_connected)
			h->maybe_sent = true;
		if (rc < 0)
			return rc;
		refusals = r->refused || r->tls_failed ? refusals + 1 : 0;
		tls_failed = r->tls_failed;
		if (r->status == 0 && !r->tls_failed) {
			last = r->timed_out ? KVC_ETIMEOUT : KVC_EUNAVAILABLE;
			kvc_http_set_errmsg(h, "%s:%d: %s", ep->host, ep->port,
					    r->refused ? "connection refused"
					    : r->timed_out
						? "no answer in time"
						: "connection failed");
		} else if (r->status == 0) {
			last = KVC_EUNAVAILABLE; /* errmsg says why */
		} else if ((r->status == 503 || r->status == 504) && !c->once) {
			last = kvc_http_status_to_rc(h, r);
		} else {
			return 0;
		}
		if (c->once) {
			kvc_http_resp_clear(r);
			return last;
		}
		kvc_http_resp_clear(r);
	again:
		if (refusals >= refusals_max && tls_failed)
			return KVC_EUNAVAILABLE;
		if (refusals >= refusals_max) {
			kvc_http_set_errmsg(
			    h,
			    "connection refused by every endpoint (last %s:%d)",
			    ep->host, ep->port);
			return KVC_EUNAVAILABLE;
		}
		/* The member we used may be down or no longer lead: ask
		 * another one next time. */
		h->has_leader = false;
		if (!c->fixed)
			h->cur = (h->cur + 1) % h->n_eps;
		now = clock_now_ms();
		if (now >= deadline)
			break;
		uint64_t pause =
		    backoff / 2 + kvc_http_rng_next(h) % (backoff / 2 + 1);
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
		kvc_http_set_errmsg(h, "retry deadline of %d ms passed",
				    h->opts.retry_deadline_ms);
	return last;
}

/* Helpers the API files share (moved from kvc.c). */

/* "/v1/kv/<key percent-encoded>" plus an optional query. Caller frees. */
char *kvc_http_kv_path(const char *key, const char *query)
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
		kvc_http_set_errmsg(h, "response is not JSON");
	return j;
}

/* Sends @c with retries and maps the answer's status to a code. When that
 * code is 0 (or KVC_ECAS and @json_on_cas: a failed compare-and-swap still
 * says the key's index), the body is parsed into *@j, which the caller owns
 * (json_decref) and which is NULL when the body is not JSON; otherwise *@j is
 * NULL. */
int kvc_http_call_json(struct kvc *h, const struct call *c, bool json_on_cas,
		       json_t **j)
{
	struct resp r;
	*j = NULL;
	int rc = kvc_http_call(h, c, &r);
	if (rc < 0)
		return rc;
	rc = kvc_http_status_to_rc(h, &r);
	if (rc == 0 || (json_on_cas && rc == KVC_ECAS))
		*j = body_json(h, &r);
	kvc_http_resp_clear(&r);
	return rc;
}

/* Sends @c with retries and maps the answer's status to a code; the body
 * is dropped. */
int kvc_http_call_status(struct kvc *h, const struct call *c)
{
	struct resp r;
	int rc = kvc_http_call(h, c, &r);
	if (rc < 0)
		return rc;
	rc = kvc_http_status_to_rc(h, &r);
	kvc_http_resp_clear(&r);
	return rc;
}

int kvc_http_get_u64(json_t *obj, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return KVC_EPROTO;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

bool kvc_http_same_ep(const struct endpoint *a, const struct endpoint *b)
{
	return a->port == b->port && a->tls == b->tls &&
	       strcmp(a->host, b->host) == 0;
}

bool kvc_http_key_ok(const char *key)
{
	return key && *key;
}
