/* kvc_watch.c - libkvc's watches (kvc.h): GET /v1/watch streamed over a
 * socket of the watch's own, read with kvc_stream.c, parsed with
 * kvc_watch_line.c, and resumed on the next member at the next index when
 * the serving one fails.
 *
 * The position (where a new stream resumes, what it must send again) is
 * kvc_watch_pos.c's.
 *
 * The connection is a small state machine driven by poll(): idle (waiting
 * for the next attempt), connecting, the TLS handshake (https:// members),
 * sending the request, reading the head, reading an error answer's body,
 * streaming. Its timers (connect and answer
 * timeouts, backoff, a silent stream) and the caller's timeout bound every
 * wait, so kvc_watch_next() returns on time even while a member is down. */
#include "kvc.h"
#include "kvc_http.h"
#include "kvc_stream.h"
#include "kvc_tls.h"
#include "kvc_watch_line.h"
#include "kvc_watch_pos.h"

#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The longest event line: a 16 MiB value (DESIGN.md §1.3's bound of
 * --max-value-bytes) in base64, plus a key of 511 bytes JSON-escaped (at
 * most 6 bytes each) and the other fields. */
#define WATCH_MAX_LINE	     (((16u << 20) + 2) / 3 * 4 + 8192)
#define WATCH_READ_BYTES     (64 * 1024)
#define WATCH_MAX_ERROR_BODY (64 * 1024) /* kept of a non-200 answer */
/* A stream silent for this long (no event, no progress) is taken for dead:
 * six periods of the default --watch-progress-ms. */
#define WATCH_SILENT_MS	  30000
#define WATCH_BACKOFF_MIN 20 /* ms, as kvc_http.c's retries */
#define WATCH_BACKOFF_MAX 1000

enum wstate {
	W_IDLE,	      /* no connection; the next attempt at retry_at */
	W_CONNECTING, /* non-blocking connect() under way */
	W_HANDSHAKE,  /* https://: the TLS handshake under way */
	W_SENDING,    /* the request, req_sent of req_len bytes out */
	W_HEAD,	      /* waiting for the answer's head */
	W_ERRBODY,    /* reading the body of an answer other than 200 */
	W_STREAM      /* 200: event lines */
};

struct kvc_watch {
	struct kvc *h;
	char *key;   /* the key or prefix watched */
	char *param; /* "key=..." or "prefix=...", percent-encoded */
	/* The connection. */
	enum wstate state;
	int fd;
	SSL *ssl;   /* https://: the session over fd; NULL for http:// */
	short want; /* over TLS: what the last SSL call waits for (POLLIN,
		       POLLOUT), 0 when it did not have to wait */
	size_t ep;  /* index in h->eps of the member tried or used */
	char *req;
	size_t req_len, req_sent;
	struct kvc_stream st;
	char *errbody; /* of a non-200 answer, NUL-terminated */
	size_t errbody_len;
	bool got_line;		/* this stream brought a change or progress */
	uint64_t attempt_start; /* when the attempt began */
	uint64_t attempt_deadline;   /* W_CONNECTING..W_ERRBODY */
	uint64_t silent_deadline;    /* W_STREAM */
	uint64_t retry_at;	     /* W_IDLE */
	uint64_t reconnect_deadline; /* 0: no reconnection under way */
	uint64_t backoff;	     /* ms, the next pause's scale */
	struct kvc_watch_pos pos;    /* kvc_watch_pos.h */
	int fatal;		   /* a definite error, returned from then on */
	bool opened;		   /* kvc_watch_open() succeeded */
	struct kvc_watch_line cur; /* the change last handed out */
	char rbuf[WATCH_READ_BYTES];
};

static uint64_t silent_ms(const struct kvc_watch *w)
{
	uint64_t r = 3 * (uint64_t)w->h->opts.request_timeout_ms;
	return r > WATCH_SILENT_MS ? r : WATCH_SILENT_MS;
}

static const struct endpoint *cur_ep(const struct kvc_watch *w)
{
	return &w->h->eps[w->ep];
}

/* Closes the connection and forgets the answer read so far. */
static void drop_conn(struct kvc_watch *w)
{
	SSL_free(w->ssl); /* no close_notify: the socket closes anyway */
	w->ssl = NULL;
	w->want = 0;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->req);
	w->req = NULL;
	free(w->errbody);
	w->errbody = NULL;
	w->errbody_len = 0;
	kvc_stream_free(&w->st);
	w->state = W_IDLE;
}

/* A definite error: the watch ends; every later call returns @rc. */
static int fail_definite(struct kvc_watch *w, int rc)
{
	drop_conn(w);
	w->fatal = rc;
	return rc;
}

static void begin_reconnect(struct kvc_watch *w, uint64_t now)
{
	if (w->reconnect_deadline == 0)
		w->reconnect_deadline =
		    now + (uint64_t)w->h->opts.retry_deadline_ms;
}

/* The attempt or the stream failed (the reason is in the handle's errmsg):
 * the next attempt goes to the next member, at once when the stream had
 * brought changes or progress (the member served, then failed), else after
 * a jittered, growing pause. Returns @code when the reconnection's deadline has
 * passed (the next call starts a new one), else 0. */
static int fail_attempt(struct kvc_watch *w, int code)
{
	bool served = w->state == W_STREAM && w->got_line;
	drop_conn(w);
	w->ep = (w->ep + 1) % w->h->n_eps;
	uint64_t now = clock_now_ms();
	begin_reconnect(w, now);
	if (served) {
		w->retry_at = now;
		return 0;
	}
	if (now >= w->reconnect_deadline) {
		w->reconnect_deadline = 0;
		/* After the open, KVC_ETIMEOUT means "no change in time"
		 * only: members that did not answer make the cluster
		 * unavailable. */
		return w->opened ? KVC_EUNAVAILABLE : code;
	}
	uint64_t b = w->backoff;
	uint64_t pause = b / 2 + kvc_http_rng_next(w->h) % (b / 2 + 1);
	if (pause > w->reconnect_deadline - now)
		pause = w->reconnect_deadline - now;
	w->retry_at = now + pause;
	w->backoff = b * 2 > WATCH_BACKOFF_MAX ? WATCH_BACKOFF_MAX : b * 2;
	return 0;
}

/* Starts an attempt on the current member: resolves it, opens a
 * non-blocking connection and prepares the request. 0 (the attempt is under
 * way, or failed and the next one is scheduled) or a code to return. */
static int start_attempt(struct kvc_watch *w, uint64_t now)
{
	const struct endpoint *ep = cur_ep(w);
	struct kvc *h = w->h;
	w->attempt_start = now;
	w->got_line = false;
	uint64_t from = kvc_watch_pos_next_from(&w->pos);
	char fromq[40] = "";
	if (from)
		snprintf(fromq, sizeof(fromq), "&from=%" PRIu64, from);
	/* kvc_open() checked the token: no space or control character. */
	const char *tok = h->opts.token;
	int n = snprintf(NULL, 0,
			 "GET /v1/watch?%s%s HTTP/1.1\r\nHost: %s:%d\r\n"
			 "Accept: application/x-ndjson\r\n"
			 "%s%s%s"
			 "Connection: close\r\n\r\n",
			 w->param, fromq, ep->host, ep->port,
			 tok ? "Authorization: Bearer " : "", tok ? tok : "",
			 tok ? "\r\n" : "");
	w->req = malloc((size_t)n + 1);
	if (!w->req)
		return fail_definite(w, KVC_ENOMEM);
	snprintf(w->req, (size_t)n + 1,
		 "GET /v1/watch?%s%s HTTP/1.1\r\nHost: %s:%d\r\n"
		 "Accept: application/x-ndjson\r\n"
		 "%s%s%s"
		 "Connection: close\r\n\r\n",
		 w->param, fromq, ep->host, ep->port,
		 tok ? "Authorization: Bearer " : "", tok ? tok : "",
		 tok ? "\r\n" : "");
	w->req_len = (size_t)n;
	w->req_sent = 0;
	kvc_stream_init(&w->st, WATCH_MAX_LINE);

	char port[16];
	snprintf(port, sizeof(port), "%d", ep->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(ep->host, port, &hints, &ai) != 0 || !ai) {
		kvc_http_set_errmsg(h, "%s:%d: cannot resolve", ep->host,
				    ep->port);
		return fail_attempt(w, KVC_EUNAVAILABLE);
	}
	w->fd = socket(ai->ai_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = w->fd < 0 ? -1 : connect(w->fd, ai->ai_addr, ai->ai_addrlen);
	int err = errno;
	freeaddrinfo(ai);
	uint64_t cms = (uint64_t)h->opts.connect_timeout_ms;
	if (cms > (uint64_t)h->opts.request_timeout_ms)
		cms = (uint64_t)h->opts.request_timeout_ms;
	w->attempt_deadline = now + cms;
	if (w->fd >= 0 && ep->tls) {
		kvc_http_nodelay(w->fd); /* the request goes as two records */
		SSL_CTX *ctx = kvc_tls_ctx_of(h);
		if (!ctx)
			return fail_definite(w, KVC_EINVAL); /* errmsg set */
		w->ssl = kvc_tls_ssl_new(ctx, ep->host);
		if (!w->ssl || SSL_set_fd(w->ssl, w->fd) != 1)
			return fail_definite(w, KVC_ENOMEM);
	}
	if (rc == 0) {
		w->state = w->ssl ? W_HANDSHAKE : W_SENDING;
	} else if (w->fd >= 0 && err == EINPROGRESS) {
		w->state = W_CONNECTING;
	} else {
		kvc_http_set_errmsg(h, "%s:%d: connection failed: %s", ep->host,
				    ep->port, strerror(err));
		return fail_attempt(w, KVC_EUNAVAILABLE);
	}
	return 0;
}

/* A non-200 answer, its body read: a member that cannot serve now (503,
 * 504) makes the watch try the next one; anything else is definite. */
static int answer_error(struct kvc_watch *w)
{
	struct kvc *h = w->h;
	struct resp r = {
	    .status = w->st.status, .body = w->errbody, .len = w->errbody_len};
	int rc = kvc_http_status_to_rc(h, &r);
	if (r.status == 503 || r.status == 504)
		return fail_attempt(w, rc);
	if (rc == KVC_ECOMPACTED) {
		json_t *j = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
		json_t *o = json_object_get(j, "oldest");
		if (json_is_integer(o) && json_integer_value(o) > 0)
			h->watch_oldest = (uint64_t)json_integer_value(o);
		json_decref(j);
		size_t used = strlen(h->errmsg);
		snprintf(h->errmsg + used, sizeof(h->errmsg) - used,
			 " (the oldest index held is %" PRIu64 ")",
			 h->watch_oldest);
	}
	return fail_definite(w, rc);
}

static int proto_error(struct kvc_watch *w, const char *what,
		       const char *detail)
{
	const struct endpoint *ep = cur_ep(w);
	kvc_http_set_errmsg(w->h, "%s:%d: %s%s%s", ep->host, ep->port, what,
			    *detail ? ": " : "", detail);
	return fail_definite(w, KVC_EPROTO);
}

static bool key_watched(const struct kvc_watch *w, const char *key)
{
	if (w->pos.prefix)
		return strncmp(key, w->key, strlen(w->key)) == 0;
	return strcmp(key, w->key) == 0;
}

/* The stream brought a change or a progress event: the member serves, and
 * if it fails later the watch resumes elsewhere at once. (An error event
 * alone does not count: a member that only ever ends streams must not make
 * the watch spin.) */
static void mark_served(struct kvc_watch *w)
{
	if (!w->got_line) {
		w->got_line = true;
		w->backoff = WATCH_BACKOFF_MIN;
	}
}

/* One line of a 200 stream. 1 with *@ev set, 0 to read on, or a code. */
static int handle_line(struct kvc_watch *w, const char *line, size_t len,
		       struct kvc_event *ev)
{
	struct kvc_watch_line l;
	const char *why;
	int rc = kvc_watch_line_parse(line, len, &l, &why);
	if (rc == KVC_ENOMEM)
		return fail_definite(w, rc);
	if (rc < 0)
		return proto_error(w, "malformed event line", why);
	const struct endpoint *ep = cur_ep(w);
	char detail[96];
	switch (l.type) {
	case KVC_LINE_PROGRESS:
		rc = kvc_watch_pos_progress(&w->pos, l.index, detail,
					    sizeof(detail));
		kvc_watch_line_clear(&l);
		if (rc < 0)
			return proto_error(w, "broken resume", detail);
		mark_served(w);
		return 0;
	case KVC_LINE_ERROR:
		if (strcmp(l.error, "compacted") == 0) {
			w->h->watch_oldest = l.oldest;
			kvc_http_set_errmsg(w->h,
					    "%s:%d: compacted: %s (the oldest "
					    "index held is %" PRIu64 ")",
					    ep->host, ep->port, l.message,
					    l.oldest);
			kvc_watch_line_clear(&l);
			return fail_definite(w, KVC_ECOMPACTED);
		}
		/* slow_consumer, removed, shutting_down: the member ends
		 * the stream; another one serves the rest. */
		kvc_http_set_errmsg(w->h, "%s:%d: the stream ended: %s%s%s",
				    ep->host, ep->port, l.error,
				    *l.message ? ": " : "", l.message);
		kvc_watch_line_clear(&l);
		return fail_attempt(w, KVC_EUNAVAILABLE);
	default:
		break;
	}
	uint64_t i = l.index;
	mark_served(w);
	if (!key_watched(w, l.key)) {
		kvc_watch_line_clear(&l);
		return proto_error(w, "a change of a key not watched", "");
	}
	const char *what;
	rc = kvc_watch_pos_change(&w->pos, i, &what, detail, sizeof(detail));
	if (rc <= 0) {
		kvc_watch_line_clear(&l);
		return rc < 0 ? proto_error(w, what, detail) : 0;
	}
	w->cur = l;
	ev->type = l.type;
	ev->key = l.key;
	ev->value = l.value;
	ev->value_len = l.value_len;
	ev->index = i;
	return 1;
}

/* Keeps up to WATCH_MAX_ERROR_BODY bytes of an error answer's body. */
static int keep_errbody(struct kvc_watch *w, const char *p, size_t n,
			bool newline)
{
	size_t add = n + (newline ? 1 : 0);
	if (w->errbody_len + add > WATCH_MAX_ERROR_BODY)
		return 0;
	char *nb = realloc(w->errbody, w->errbody_len + add + 1);
	if (!nb)
		return fail_definite(w, KVC_ENOMEM);
	memcpy(nb + w->errbody_len, p, n);
	if (newline)
		nb[w->errbody_len + n] = '\n';
	w->errbody = nb;
	w->errbody_len += add;
	nb[w->errbody_len] = '\0';
	return 0;
}

/* Steps the answer read so far. 1: an event is in *@ev (or, with @open, a
 * stream was accepted); 0: more input is needed; else a code to return. */
static int drain(struct kvc_watch *w, struct kvc_event *ev, bool open)
{
	struct kvc *h = w->h;
	const struct endpoint *ep = cur_ep(w);
	for (;;) {
		const char *line;
		size_t len;
		int r = kvc_stream_next(&w->st, &line, &len);
		int rc;
		switch (r) {
		case KVC_STREAM_MORE:
			return 0;
		case KVC_STREAM_HEAD:
			if (w->st.status != 200) {
				w->state = W_ERRBODY;
				continue;
			}
			if (!w->st.ndjson)
				return proto_error(w, "not an NDJSON stream",
						   "");
			if (!w->pos.known) {
				if (!w->st.has_index)
					return proto_error(
					    w, "no X-Kv-Index header", "");
				w->pos.done = w->st.index;
				w->pos.known = true;
			}
			w->state = W_STREAM;
			w->silent_deadline = clock_now_ms() + silent_ms(w);
			w->reconnect_deadline = 0;
			if (open)
				return 1;
			continue;
		case KVC_STREAM_LINE:
			if (w->state == W_ERRBODY) {
				rc = keep_errbody(w, line, len, true);
				if (rc < 0)
					return rc;
				continue;
			}
			rc = handle_line(w, line, len, ev);
			if (rc != 0)
				return rc;
			if (w->state != W_STREAM)
				return 0; /* an error event ended it */
			continue;
		case KVC_STREAM_END:
			if (w->state == W_ERRBODY) {
				rc = keep_errbody(w, line, len, false);
				return rc < 0 ? rc : answer_error(w);
			}
			if (len > 0)
				return proto_error(w,
						   "the stream ended inside "
						   "a line",
						   "");
			kvc_http_set_errmsg(h, "%s:%d: the stream ended",
					    ep->host, ep->port);
			return fail_attempt(w, KVC_EUNAVAILABLE);
		case KVC_STREAM_CUT:
			kvc_http_set_errmsg(h, "%s:%d: connection lost",
					    ep->host, ep->port);
			return fail_attempt(w, KVC_EUNAVAILABLE);
		case KVC_ETOO_LARGE:
			return proto_error(w, "an event line too long", "");
		case KVC_EPROTO:
			return proto_error(w, "malformed HTTP answer", "");
		default:
			return fail_definite(w, r);
		}
	}
}

/* After an SSL call on the watch's session returned @ret: 1 when it only
 * has to wait (w->want says for what), 0 when the peer closed the session,
 * -1 for a failure, said in the handle's errmsg. */
static int tls_outcome(struct kvc_watch *w, int ret, const char *what)
{
	const struct endpoint *ep = cur_ep(w);
	int e = SSL_get_error(w->ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		w->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return 1;
	}
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && ret == 0)) {
		ERR_clear_error();
		return 0;
	}
	long v = SSL_get_verify_result(w->ssl);
	char why[256];
	const char *alert = kvc_tls_alert(w->ssl);
	if (v == X509_V_OK && kvc_tls_cert_missing(w->ssl)) {
		ERR_clear_error();
		kvc_http_set_errmsg(w->h, "%s:%d: TLS: %s", ep->host, ep->port,
				    KVC_TLS_CERT_MISSING);
	} else if (v == X509_V_OK && alert) {
		ERR_clear_error();
		kvc_http_set_errmsg(w->h,
				    "%s:%d: TLS: the member refused the "
				    "session: %s",
				    ep->host, ep->port, alert);
	} else if (v != X509_V_OK) {
		ERR_clear_error();
		kvc_http_set_errmsg(w->h,
				    "%s:%d: TLS: the member's certificate is "
				    "refused: %s",
				    ep->host, ep->port,
				    X509_verify_cert_error_string(v));
	} else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		kvc_http_set_errmsg(w->h, "%s:%d: %s: %s", ep->host, ep->port,
				    what, strerror(errno));
	} else {
		kvc_http_set_errmsg(w->h, "%s:%d: %s: %s", ep->host, ep->port,
				    what, kvc_tls_reason(why, sizeof(why)));
	}
	return -1;
}

/* The socket is ready (or failed): moves the attempt on. 0 or a code. */
static int on_ready(struct kvc_watch *w, short revents)
{
	struct kvc *h = w->h;
	const struct endpoint *ep = cur_ep(w);
	if (w->state == W_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err) {
			kvc_http_set_errmsg(h, "%s:%d: connection failed: %s",
					    ep->host, ep->port, strerror(err));
			return fail_attempt(w, KVC_EUNAVAILABLE);
		}
		w->state = w->ssl ? W_HANDSHAKE : W_SENDING;
		w->attempt_deadline =
		    w->attempt_start + (uint64_t)h->opts.request_timeout_ms;
	}
	if (w->state == W_HANDSHAKE) {
		w->want = 0;
		struct sigpipe_guard spg;
		kvc_http_sigpipe_block(&spg);
		int ret = SSL_connect(w->ssl);
		kvc_http_sigpipe_restore(&spg);
		if (ret != 1) {
			int o = tls_outcome(w, ret, "TLS handshake failed");
			if (o > 0)
				return 0;
			if (o == 0)
				kvc_http_set_errmsg(h,
						    "%s:%d: TLS handshake "
						    "failed: connection closed",
						    ep->host, ep->port);
			/* A certificate refused is refused by every
			 * member that shows it: the watch ends. */
			if (SSL_get_verify_result(w->ssl) != X509_V_OK)
				return fail_definite(w, KVC_EUNAVAILABLE);
			return fail_attempt(w, KVC_EUNAVAILABLE);
		}
		w->state = W_SENDING;
	}
	if (w->state == W_SENDING && w->ssl) {
		w->want = 0;
		struct sigpipe_guard spg;
		kvc_http_sigpipe_block(&spg);
		int ret = SSL_write(w->ssl, w->req + w->req_sent,
				    (int)(w->req_len - w->req_sent));
		kvc_http_sigpipe_restore(&spg);
		if (ret <= 0) {
			if (tls_outcome(w, ret, "send") > 0)
				return 0;
			return fail_attempt(w, KVC_EUNAVAILABLE);
		}
		w->req_sent += (size_t)ret;
		if (w->req_sent == w->req_len)
			w->state = W_HEAD;
		return 0;
	}
	if (w->state == W_SENDING) {
		ssize_t n = send(w->fd, w->req + w->req_sent,
				 w->req_len - w->req_sent, MSG_NOSIGNAL);
		if (n < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n < 0) {
			kvc_http_set_errmsg(h, "%s:%d: send: %s", ep->host,
					    ep->port, strerror(errno));
			return fail_attempt(w, KVC_EUNAVAILABLE);
		}
		w->req_sent += (size_t)n;
		if (w->req_sent == w->req_len)
			w->state = W_HEAD;
		return 0;
	}
	(void)revents;
	ssize_t n;
	if (w->ssl) {
		w->want = 0;
		/* A read may send too (a TLS 1.3 key update's answer). */
		struct sigpipe_guard spg;
		kvc_http_sigpipe_block(&spg);
		int ret = SSL_read(w->ssl, w->rbuf, (int)sizeof(w->rbuf));
		kvc_http_sigpipe_restore(&spg);
		if (ret <= 0) {
			int o = tls_outcome(w, ret, "TLS");
			if (o > 0)
				return 0;
			if (o == 0) {
				kvc_stream_eof(&w->st);
				return 0;
			}
			/* A TLS alert (a client certificate the member
			 * refuses, for one): the errmsg says its reason. */
			return fail_attempt(w, KVC_EUNAVAILABLE);
		}
		n = ret;
	} else {
		n = recv(w->fd, w->rbuf, sizeof(w->rbuf), 0);
	}
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* A reset or the peer's close: whatever is unfinished is
		 * cut (kvc_stream decides). */
		kvc_stream_eof(&w->st);
		return 0;
	}
	if (w->state == W_STREAM)
		w->silent_deadline = clock_now_ms() + silent_ms(w);
	int rc = kvc_stream_feed(&w->st, w->rbuf, (size_t)n);
	return rc < 0 ? fail_definite(w, rc) : 0;
}

/* Runs the watch until an event is in *@ev (with @open: until a stream is
 * accepted), @until passes (when @has_until), or an error. */
static int pump(struct kvc_watch *w, struct kvc_event *ev, bool has_until,
		uint64_t until, bool open)
{
	for (;;) {
		int rc;
		if (w->state >= W_HEAD) {
			rc = drain(w, ev, open);
			if (rc != 0)
				return rc > 0 ? 0 : rc;
			if (w->fatal)
				return w->fatal;
		}
		uint64_t now = clock_now_ms();
		uint64_t wake;
		if (w->state == W_IDLE) {
			begin_reconnect(w, now);
			if (now >= w->retry_at) {
				rc = start_attempt(w, now);
				if (rc != 0)
					return rc;
				continue;
			}
			wake = w->retry_at;
		} else if (w->state == W_STREAM) {
			if (now >= w->silent_deadline) {
				kvc_http_set_errmsg(w->h,
						    "%s:%d: the stream went "
						    "silent",
						    cur_ep(w)->host,
						    cur_ep(w)->port);
				w->got_line = false; /* pause first */
				rc = fail_attempt(w, KVC_EUNAVAILABLE);
				if (rc != 0)
					return rc;
				continue;
			}
			wake = w->silent_deadline;
		} else {
			if (now >= w->attempt_deadline) {
				kvc_http_set_errmsg(
				    w->h, "%s:%d: no answer in time",
				    cur_ep(w)->host, cur_ep(w)->port);
				rc = fail_attempt(w, KVC_ETIMEOUT);
				if (rc != 0)
					return rc;
				continue;
			}
			wake = w->attempt_deadline;
		}
		if (has_until && until < wake)
			wake = until;
		uint64_t wait = wake > now ? wake - now : 0;
		if (wait > INT_MAX)
			wait = INT_MAX;
		/* Bytes OpenSSL already holds are not in the socket: read
		 * them before waiting on it. */
		if (w->ssl && w->state >= W_HEAD && SSL_pending(w->ssl) > 0) {
			rc = on_ready(w, POLLIN);
			if (rc != 0)
				return rc;
			continue;
		}
		struct pollfd pfd = {.fd = w->fd,
				     .events =
					 w->state == W_CONNECTING ||
						 w->state == W_HANDSHAKE ||
						 w->state == W_SENDING
					     ? POLLOUT
					     : POLLIN};
		if (w->ssl && w->want)
			pfd.events = w->want;
		int n = poll(&pfd, w->fd >= 0 ? 1 : 0, (int)wait);
		if (n < 0 && errno == EINTR && !open) {
			kvc_http_set_errmsg(w->h, "interrupted");
			return KVC_ETIMEOUT;
		}
		if (n > 0) {
			rc = on_ready(w, pfd.revents);
			if (rc != 0)
				return rc;
			continue;
		}
		if (has_until && clock_now_ms() >= until) {
			kvc_http_set_errmsg(w->h, "no change in time");
			return KVC_ETIMEOUT;
		}
	}
}

int kvc_watch_open(struct kvc *h, const char *key, unsigned flags,
		   uint64_t from, struct kvc_watch **out)
{
	if (!out)
		return KVC_EINVAL;
	*out = NULL;
	bool prefix = flags & KVC_WATCH_PREFIX;
	if (!h || !key || (flags & ~KVC_WATCH_PREFIX) ||
	    strlen(key) > KVC_MAX_KEY || (!prefix && !*key) || from > INT64_MAX)
		return KVC_EINVAL;
	struct kvc_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return KVC_ENOMEM;
	w->h = h;
	w->fd = -1;
	w->pos.prefix = prefix;
	w->ep = h->cur;
	w->backoff = WATCH_BACKOFF_MIN;
	if (from) {
		w->pos.known = true;
		w->pos.done = from - 1;
	}
	int rc = KVC_ENOMEM;
	w->key = strdup(key);
	char *enc = evhttp_uriencode(key, -1, 0);
	if (!w->key || !enc)
		goto fail;
	size_t n = strlen(enc) + 16;
	w->param = malloc(n);
	if (!w->param)
		goto fail;
	snprintf(w->param, n, "%s=%s", prefix ? "prefix" : "key", enc);
	free(enc);
	enc = NULL;
	h->errmsg[0] = '\0';
	h->watch_oldest = 0;
	rc = pump(w, NULL, false, 0, true);
	if (rc == 0) {
		w->opened = true;
		*out = w;
		return 0;
	}
fail:
	free(enc);
	kvc_watch_close(w);
	return rc;
}

int kvc_watch_next(struct kvc_watch *w, struct kvc_event *ev, int timeout_ms)
{
	if (!w || !ev)
		return KVC_EINVAL;
	memset(ev, 0, sizeof(*ev));
	kvc_watch_line_clear(&w->cur);
	if (w->fatal)
		return w->fatal;
	w->h->errmsg[0] = '\0';
	uint64_t until =
	    clock_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	return pump(w, ev, timeout_ms >= 0, until, false);
}

uint64_t kvc_watch_index(const struct kvc_watch *w)
{
	return w ? w->pos.done : 0;
}

uint64_t kvc_watch_oldest(const struct kvc *h)
{
	return h ? h->watch_oldest : 0;
}

void kvc_watch_close(struct kvc_watch *w)
{
	if (!w)
		return;
	drop_conn(w);
	kvc_watch_line_clear(&w->cur);
	free(w->key);
	free(w->param);
	free(w);
}
