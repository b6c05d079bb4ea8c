/* write_now.c - a connection's bytes written from the caller's turn
 * (write_now.h). */
#include "write_now.h"

#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

/* The iovecs handed to the kernel at once: a frame is a header and a batch
 * of a few chunks, an answer its head and body. */
#define WRITE_NOW_IOV 16

/* What the socket @fd takes of @buf at once, drained from @buf. */
static void send_some(evutil_socket_t fd, struct evbuffer *buf)
{
	struct evbuffer_iovec v[WRITE_NOW_IOV];
	struct iovec iov[WRITE_NOW_IOV];
	struct msghdr m = {0};
	ssize_t n;
	int k = evbuffer_peek(buf, -1, NULL, v, WRITE_NOW_IOV);

	if (k <= 0)
		return;
	if (k > WRITE_NOW_IOV)
		k = WRITE_NOW_IOV;
	for (int i = 0; i < k; i++)
		iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
	m.msg_iov = iov;
	m.msg_iovlen = (size_t)k;
	/* MSG_NOSIGNAL: a peer gone is an error for the bufferevent to
	 * report, not a SIGPIPE. */
	n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		(void)evbuffer_drain(buf, (size_t)n);
}

/* @buf as one TLS record on @ssl, drained from @buf when OpenSSL took it.
 * A record OpenSSL began and could not finish stays in @buf, to be handed
 * to it again by libevent (the same bytes, in one chunk). */
static void ssl_write_some(SSL *ssl, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);
	unsigned char *p;
	int r;

	if (len == 0 || len > TLS_JOIN_MAX || !SSL_is_init_finished(ssl))
		return;
	p = evbuffer_pullup(buf, -1);
	if (p == NULL)
		return;
	ERR_clear_error();
	r = SSL_write(ssl, p, (int)len);
	if (r > 0)
		(void)evbuffer_drain(buf, (size_t)r);
	else
		ERR_clear_error();
}

/* Writes what it can of @buf on @bev's connection. */
static void write_some(struct bufferevent *bev, struct evbuffer *buf)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	evutil_socket_t fd;

	if (ssl != NULL) {
		ssl_write_some(ssl, buf);
		return;
	}
	fd = bufferevent_getfd(bev);
	if (bufferevent_get_underlying(bev) == NULL && fd >= 0)
		send_some(fd, buf);
}

void write_now(struct bufferevent *bev, struct evbuffer *data)
{
	if (bev != NULL && data != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		write_some(bev, data);
}

bool write_now_output(struct bufferevent *bev)
{
	struct evbuffer *out;
	bool plain;

	if (bev == NULL)
		return false;
	out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0)
		return false;
	/* A socket bufferevent keeps the front of its output frozen, so that
	 * only its own write drains it (libevent unfreezes it around that
	 * write, as here); a TLS one does not freeze it. */
	plain = bufferevent_openssl_get_ssl(bev) == NULL;
	if (plain)
		evbuffer_unfreeze(out, 1);
	write_some(bev, out);
	if (plain)
		evbuffer_freeze(out, 1);
	return evbuffer_get_length(out) == 0;
}
