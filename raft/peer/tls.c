/* tls.c - OpenSSL contexts for the listeners and for outgoing
 * connections: built from files, swapped whole on reload, and handed to
 * bufferevent_openssl. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tls_server {
	const char *name;
	char *cert, *key, *ca; /* owned; ca NULL when absent */
	SSL_CTX *ctx;
	bool client; /* a context for outgoing connections (tls_client) */
	void (*warn)(void *arg, const char *line);
	void *warn_arg;
};

/* Outgoing connections share the server's fields; the type differs so
 * that one is never handed where the other is meant. */
struct tls_client {
	struct tls_server s;
};

static void warn(const struct tls_server *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(const struct tls_server *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (t->warn != NULL)
		t->warn(t->warn_arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

/* OpenSSL's reason for the error at the head of its queue (the first
 * one raised is the cause; later ones only add the call chain), then
 * clears the queue so that the next failure starts afresh. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else if (e != 0)
		snprintf(buf, len, "OpenSSL error %lu", e);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

/* Whether @path can be opened for reading; else one line in @err. Done
 * before OpenSSL sees the file so that a missing file reads as such. */
static int readable(const char *name, const char *what, const char *path,
		    char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(err, errlen, "%s TLS: cannot read the %s %s: %s", name,
			 what, path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

int tls_file_loose(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	return (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
}

static SSL_CTX *build(const struct tls_server *t, char *err, size_t errlen)
{
	char why[256];
	const char *n = t->name;
	if (readable(n, "certificate", t->cert, err, errlen) != 0 ||
	    readable(n, "key", t->key, err, errlen) != 0 ||
	    (t->ca != NULL && readable(n, "CA", t->ca, err, errlen) != 0))
		return NULL;
	ERR_clear_error();
	SSL_CTX *ctx =
	    SSL_CTX_new(t->client ? TLS_client_method() : TLS_server_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "%s TLS: cannot create a context: %s", n,
			 ssl_reason(why, sizeof(why)));
		return NULL;
	}
	/* Renegotiation would let a client restart the costly handshake at
	 * will on an open connection; nothing here needs it. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "%s TLS: cannot require TLS 1.2: %s", n,
			 ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		snprintf(err, errlen,
			 "%s TLS: cannot load the certificate %s: %s", n,
			 t->cert, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	/* OpenSSL checks the key against the certificate as it loads it;
	 * that failure is told apart, being the usual one after a renewal
	 * that replaced one file but not the other. */
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, errlen, "%s TLS: cannot load the key %s: %s", n,
			 t->key, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (ERR_peek_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
			 "%s TLS: the key %s does not match the certificate "
			 "%s: %s",
			 n, t->key, t->cert, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (t->client) {
		/* The server's certificate is always verified: against the
		 * CA given, else the system's store. */
		int ok = t->ca != NULL
			     ? SSL_CTX_load_verify_locations(ctx, t->ca, NULL)
			     : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			snprintf(err, errlen,
				 "%s TLS: cannot load the CA %s: %s", n,
				 t->ca != NULL ? t->ca : "(system store)",
				 ssl_reason(why, sizeof(why)));
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else if (t->ca != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca);
		if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1 ||
		    names == NULL) {
			if (names != NULL)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			snprintf(err, errlen,
				 "%s TLS: cannot load the CA %s: %s", n, t->ca,
				 ssl_reason(why, sizeof(why)));
			goto fail;
		}
		/* Told to the client, so that it picks a certificate this
		 * CA signed. */
		SSL_CTX_set_client_CA_list(ctx, names);
		/* A client resuming a session skips sending its
		 * certificate; OpenSSL refuses such a resumption (an
		 * internal error alert) unless sessions are tied to a
		 * context, which names the listener. */
		if (SSL_CTX_set_session_id_context(ctx,
						   (const unsigned char *)n,
						   (unsigned)strlen(n)) != 1) {
			snprintf(err, errlen,
				 "%s TLS: cannot name the session context: %s",
				 n, ssl_reason(why, sizeof(why)));
			goto fail;
		}
		SSL_CTX_set_verify(
		    ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    NULL);
	}
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x != NULL && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		warn(t,
		     "%s TLS: the certificate %s has expired; %s will refuse "
		     "it",
		     n, t->cert, t->client ? "servers" : "clients");
	if (tls_file_loose(t->key) == 1)
		warn(t,
		     "%s TLS: the key %s may be read by others "
		     "(chmod 600 it)",
		     n, t->key);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static char *dup_or_null(const char *s, int *failed)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*failed = 1;
	return d;
}

/* The context of @t from @f: a server's, or with @client an outgoing
 * connections' (t->client). */
static int setup(struct tls_server *t, const struct tls_files *f, bool client,
		 char *err, size_t errlen)
{
	int failed = 0;
	t->client = client;
	t->name = f->name;
	t->warn = f->warn;
	t->warn_arg = f->warn_arg;
	t->cert = dup_or_null(f->cert, &failed);
	t->key = dup_or_null(f->key, &failed);
	t->ca = dup_or_null(f->ca, &failed);
	if (failed || t->cert == NULL || t->key == NULL) {
		snprintf(err, errlen, "%s TLS: %s", f->name,
			 failed ? "out of memory"
				: "a certificate and a key are both needed");
		return -1;
	}
	t->ctx = build(t, err, errlen);
	return t->ctx != NULL ? 0 : -1;
}

static void clear(struct tls_server *t)
{
	SSL_CTX_free(t->ctx);
	free(t->cert);
	free(t->key);
	free(t->ca);
}

struct tls_server *tls_server_new(const struct tls_files *f, char *err,
				  size_t errlen)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "%s TLS: out of memory", f->name);
		return NULL;
	}
	if (setup(t, f, false, err, errlen) != 0) {
		tls_server_free(t);
		return NULL;
	}
	return t;
}

int tls_server_reload(struct tls_server *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = build(t, err, errlen);
	if (ctx == NULL)
		return -1;
	/* Each SSL holds a reference on its context: connections made with
	 * the old one keep it alive until they close. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

/* OpenSSL makes each chunk of a TLS bufferevent's output a record of its
 * own, written by a write(2) of its own, and evhttp hands a message's
 * headers and body over in separate chunks. Joined while the output is
 * within one record's size, a request or an answer goes out as one record
 * in one system call. libevent lets the buffer move between writes
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER); larger outputs fill whole
 * records anyway. */
/* The largest plaintext a TLS record carries (RFC 8446 §5.1). */
#define TLS_RECORD_PLAIN_MAX TLS_JOIN_MAX
/* What take_read_ahead() moves into an input without a read high
 * watermark: a sender that keeps the socket full does not keep the loop. */
#define TLS_TAKE_MAX (1024 * 1024)

static void join_output(struct evbuffer *buf,
			const struct evbuffer_cb_info *info, void *arg)
{
	(void)arg;
	if (info->n_added > 0 && evbuffer_get_length(buf) <= TLS_JOIN_MAX)
		(void)evbuffer_pullup(buf, -1);
}

static struct bufferevent *joined(struct bufferevent *bev)
{
	if (bev != NULL)
		(void)evbuffer_add_cb(bufferevent_get_output(bev), join_output,
				      NULL);
	return bev;
}

/* Moves the whole records @ssl holds into @in while it holds less than
 * @max bytes. */
static void read_buffered(SSL *ssl, struct evbuffer *in, size_t max)
{
	/* SSL_has_pending(): bytes of a record OpenSSL holds, decrypted or
	 * not. A record not wholly there makes SSL_read() try the socket
	 * once more and answer "want read": the loop stops, and libevent
	 * reads on when the socket is readable again. */
	while (SSL_has_pending(ssl) && evbuffer_get_length(in) < max) {
		struct evbuffer_iovec v;
		int n;

		if (evbuffer_reserve_space(in, TLS_RECORD_PLAIN_MAX, &v, 1) <
		    1)
			break;
		if (v.iov_len > TLS_RECORD_PLAIN_MAX)
			v.iov_len = TLS_RECORD_PLAIN_MAX;
		ERR_clear_error();
		n = SSL_read(ssl, v.iov_base, (int)v.iov_len);
		if (n <= 0) {
			ERR_clear_error();
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(in, &v, 1);
	}
}

/* Set while take_read_ahead() moves records: its own additions to the
 * input call it again. A loop's connections are served by one thread. */
static _Thread_local bool taking;

/* The input of @arg's bufferevent changed (tls.h, "read ahead").
 * Read-ahead starts with the first data: the handshake is over by then.
 * Turned on before, it could leave the first request's record in
 * OpenSSL's buffer behind the last handshake message, and libevent reads
 * nothing when the handshake ends. Records are taken when data comes in
 * and when the reader takes some out: those left by the bound (below)
 * follow as the reader makes room. */
static void take_read_ahead(struct evbuffer *in,
			    const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	SSL *ssl;
	size_t high = 0;

	if (taking || (info->n_added == 0 && info->n_deleted == 0))
		return;
	ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl == NULL)
		return;
	if (!SSL_get_read_ahead(ssl)) {
		if (info->n_added > 0)
			SSL_set_read_ahead(ssl, 1);
		return;
	}
	if (!SSL_has_pending(ssl))
		return;
	bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	taking = true;
	read_buffered(ssl, in, high > 0 ? high : TLS_TAKE_MAX);
	taking = false;
}

/* A TLS bufferevent as this file hands them out: output joined into
 * records, input read ahead. */
static struct bufferevent *tls_bev(struct bufferevent *bev)
{
	if (bev != NULL)
		(void)evbuffer_add_cb(bufferevent_get_input(bev),
				      take_read_ahead, bev);
	return joined(bev);
}

static enum bufferevent_filter_result
refuse_bytes(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	     enum bufferevent_flush_mode mode, void *arg)
{
	(void)src;
	(void)dst;
	(void)limit;
	(void)mode;
	(void)arg;
	return BEV_ERROR;
}

/* What a TLS listener hands evhttp when it cannot make a TLS bufferevent
 * (memory): evhttp would make a plain one of its own and serve HTTP on a
 * TLS port; this one ends the connection at its first byte instead. NULL
 * only when even it cannot be made, and then evhttp's own cannot either
 * in all likelihood. */
static struct bufferevent *refusing_bev(struct event_base *base)
{
	struct bufferevent *sock =
	    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (sock == NULL)
		return NULL;
	struct bufferevent *f = bufferevent_filter_new(
	    sock, refuse_bytes, NULL, BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
	if (f == NULL)
		bufferevent_free(sock);
	return f;
}

struct bufferevent *tls_server_bev(struct tls_server *t,
				   struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return refusing_bev(base);
	}
	/* On failure libevent frees @ssl itself (BEV_OPT_CLOSE_ON_FREE). */
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return refusing_bev(base);
	/* A client that closes without close_notify has still sent whole
	 * requests; HTTP framing, not TLS, tells where they end. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return tls_bev(bev);
}

SSL_CTX *tls_server_ctx(const struct tls_server *t)
{
	return t->ctx;
}

void tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	clear(t);
	free(t);
}

void tls_no_warn(void *arg, const char *line)
{
	(void)arg, (void)line;
}

struct tls_client *tls_client_new(const struct tls_files *f, char *err,
				  size_t errlen)
{
	struct tls_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "%s TLS: out of memory", f->name);
		return NULL;
	}
	if (setup(&c->s, f, true, err, errlen) != 0) {
		tls_client_free(c);
		return NULL;
	}
	return c;
}

int tls_client_reload(struct tls_client *c, char *err, size_t errlen)
{
	return tls_server_reload(&c->s, err, errlen);
}

SSL *tls_client_ssl(struct tls_client *c, const char *host)
{
	unsigned char addr[16];
	SSL *ssl = SSL_new(c->s.ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	/* The certificate must name the host the URL names: an IP literal
	 * as an IP address SAN, a name as a DNS one (also sent as SNI). */
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	int ok;
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
		    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 &&
		     SSL_set_tlsext_host_name(ssl, host) == 1;
	}
	if (ok != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

struct bufferevent *tls_client_bev(struct tls_client *c,
				   struct event_base *base, const char *host)
{
	SSL *ssl = tls_client_ssl(c, host);
	if (ssl == NULL)
		return NULL;
	/* On failure libevent frees @ssl itself (BEV_OPT_CLOSE_ON_FREE). */
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		return NULL;
	/* As on the server side: HTTP framing tells where an answer ends,
	 * and a server may close without close_notify. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return tls_bev(bev);
}

SSL_CTX *tls_client_ctx(const struct tls_client *c)
{
	return c->s.ctx;
}

void tls_client_free(struct tls_client *c)
{
	if (c == NULL)
		return;
	clear(&c->s);
	free(c);
}
