/* fuzz_http.h - sends raw bytes to an in-process evhttp server over a
 * loopback TCP connection and collects the answer (header-only helper for
 * the HTTP fuzz targets). */
#ifndef TESTS_FUZZ_HTTP_H_
#define TESTS_FUZZ_HTTP_H_

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"

/* A server that neither answers nor closes within this time hangs: that is
 * a bug the target reports. */
#define FUZZ_HTTP_DEADLINE_S 10

/* Binds @http to 127.0.0.1 on a free port and returns the port. */
static inline uint16_t fuzz_http_listen(struct evhttp *http)
{
	struct evhttp_bound_socket *bs =
	    evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	FUZZ_CHECK(bs != NULL);
	FUZZ_CHECK(getsockname(evhttp_bound_socket_get_fd(bs),
			       (struct sockaddr *)&sa, &sl) == 0);
	return ntohs(sa.sin_port);
}

struct fuzz_http_exchange {
	struct event_base *base;
	struct evbuffer *answer; /* every byte the server sent */
	int done;
	int error; /* the connection failed (reset) rather than closed */
	int timed_out;
};

static inline void fuzz_http_read_cb(struct bufferevent *bev, void *arg)
{
	struct fuzz_http_exchange *x = arg;

	evbuffer_add_buffer(x->answer, bufferevent_get_input(bev));
}

/* All bytes are out: half-close, so the server sees the end of input. */
static inline void fuzz_http_write_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static inline void fuzz_http_event_cb(struct bufferevent *bev, short what,
				      void *arg)
{
	struct fuzz_http_exchange *x = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		evbuffer_add_buffer(x->answer, bufferevent_get_input(bev));
		x->error = (what & BEV_EVENT_ERROR) != 0;
		x->done = 1;
		event_base_loopbreak(x->base);
	}
}

static inline void fuzz_http_timeout_cb(evutil_socket_t fd, short what,
					void *arg)
{
	struct fuzz_http_exchange *x = arg;

	(void)fd;
	(void)what;
	x->timed_out = 1;
	event_base_loopbreak(x->base);
}

/* Connects to 127.0.0.1:@port, sends @len bytes of @req, half-closes, and
 * runs @base until the server closes the connection. The answer's bytes
 * are appended to @answer. Returns 0 on a clean close, 1 when the
 * connection was reset (the server may close before reading everything,
 * e.g. after refusing a too-large body). Aborts when the server hangs. */
static inline int fuzz_http_exchange(struct event_base *base, uint16_t port,
				     const uint8_t *req, size_t len,
				     struct evbuffer *answer)
{
	struct fuzz_http_exchange x = {.base = base, .answer = answer};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = FUZZ_HTTP_DEADLINE_S};
	struct bufferevent *bev;
	struct event *timer;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	/* The client closes first, so each connection leaves a TIME_WAIT
	 * socket for a minute; thousands of inputs a second would use up the
	 * ephemeral ports of one source address. Each connection therefore
	 * comes from the next of 65535 loopback addresses (127.100.0.0/16). */
	static uint32_t next_src;
	struct sockaddr_in src = {.sin_family = AF_INET};
	next_src = next_src % 65535 + 1;
	src.sin_addr.s_addr = htonl(0x7f640000u | next_src);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
	/* The listener's backlog accepts the connection before the loop
	 * runs, so a blocking connect returns at once. */
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	FUZZ_CHECK(evutil_make_socket_nonblocking(fd) == 0);
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	FUZZ_CHECK(bev != NULL);
	bufferevent_setcb(bev, fuzz_http_read_cb, fuzz_http_write_cb,
			  fuzz_http_event_cb, &x);
	FUZZ_CHECK(bufferevent_enable(bev, EV_READ | EV_WRITE) == 0);
	if (len > 0)
		FUZZ_CHECK(bufferevent_write(bev, req, len) == 0);
	else
		shutdown(fd, SHUT_WR);
	timer = evtimer_new(base, fuzz_http_timeout_cb, &x);
	FUZZ_CHECK(timer != NULL && evtimer_add(timer, &tv) == 0);
	while (!x.done && !x.timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	if (x.timed_out)
		fprintf(stderr,
			"server neither answered nor closed within "
			"%d s\n",
			FUZZ_HTTP_DEADLINE_S);
	FUZZ_CHECK(!x.timed_out);
	event_free(timer);
	bufferevent_free(bev);
	return x.error;
}

/* One answer parsed from the bytes a server sent. */
struct fuzz_http_answer {
	int status;
	size_t body_off, body_len;
	int json;      /* Content-Type: application/json */
	int truncated; /* fewer body bytes than its Content-Length, or no
			* Content-Length: may have been cut short */
};

/* Parses the answers in @p (@len bytes) into @out (up to @cap). Every
 * answer must be well formed: "HTTP/d.d DDD ...", headers, then the body
 * its Content-Length gives (or, without one, the rest). Returns the
 * number parsed; aborts on malformed bytes. */
static inline size_t fuzz_http_parse_answers(const char *p, size_t len,
					     struct fuzz_http_answer *out,
					     size_t cap)
{
	size_t n = 0, off = 0;

	while (off < len && n < cap) {
		const char *s = p + off;
		size_t left = len - off;
		const char *end = memmem(s, left, "\r\n\r\n", 4);

		/* The status line: evhttp answers in the request's version,
		 * whatever digits it had (HTTP/0.1, HTTP/1.11 too). It keeps
		 * each number in a char, so "HTTP/1.1666" comes back as
		 * "HTTP/1.-126": a sign is allowed. */
		size_t i = 5, d0;
		int ok = left > 5 && memcmp(s, "HTTP/", 5) == 0;
		if (ok && i < left && s[i] == '-')
			i++;
		d0 = i;
		while (ok && i < left && i < 16 && s[i] >= '0' && s[i] <= '9')
			i++;
		ok = ok && i > d0 && i < left && s[i++] == '.';
		if (ok && i < left && s[i] == '-')
			i++;
		d0 = i;
		while (ok && i < left && i < 32 && s[i] >= '0' && s[i] <= '9')
			i++;
		ok = ok && i > d0;
		ok = ok && left - i >= 4 && s[i] == ' ' && s[i + 1] >= '1' &&
		     s[i + 1] <= '5' && s[i + 2] >= '0' && s[i + 2] <= '9' &&
		     s[i + 3] >= '0' && s[i + 3] <= '9';
		if (!ok)
			fprintf(stderr, "answer bytes at %zu: %.*s\n", off,
				(int)(left < 200 ? left : 200), s);
		FUZZ_CHECK(ok);
		out[n].status = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 +
				(s[i + 3] - '0');
		FUZZ_CHECK(end != NULL);
		out[n].json = 0;
		size_t hlen = (size_t)(end - s) + 4;
		long clen = -1;
		for (const char *h = s; h < end;) {
			const char *eol =
			    memmem(h, (size_t)(end - h) + 2, "\r\n", 2);
			if (eol - h > 15 &&
			    strncasecmp(h, "Content-Length:", 15) == 0)
				clen = strtol(h + 15, NULL, 10);
			if (eol - h > 13 &&
			    strncasecmp(h, "Content-Type:", 13) == 0 &&
			    memmem(h, (size_t)(eol - h), "application/json",
				   16) != NULL)
				out[n].json = 1;
			h = eol + 2;
		}
		out[n].body_off = off + hlen;
		/* A body cut short: the server closed the connection while
		 * the answer was still going out (evhttp does that when a
		 * later pipelined request is malformed). Without a
		 * Content-Length (HTTP/1.0 and 0.x answers) the body ends at
		 * the close, so a cut cannot be told apart. */
		out[n].truncated = clen < 0 || (size_t)clen > left - hlen;
		if (clen < 0 || (size_t)clen > left - hlen)
			clen = (long)(left - hlen);
		/* An answer to HEAD has a Content-Length but no body. */
		if (clen >= 12 && memcmp(s + hlen, "HTTP/", 5) == 0 &&
		    s[hlen + 6] == '.' && s[hlen + 8] == ' ' &&
		    s[hlen + 9] >= '1' && s[hlen + 9] <= '5')
			clen = 0, out[n].truncated = 0;
		out[n].body_len = (size_t)clen;
		off += hlen + (size_t)clen;
		n++;
	}
	return n;
}

#endif /* TESTS_FUZZ_HTTP_H_ */
