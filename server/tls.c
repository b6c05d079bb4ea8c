/* tls.c - OpenSSL server contexts for the listeners: built from files,
 * swapped whole on reload, and handed to bufferevent_openssl. */
#include "tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct tls_server {
	const char *name;
	char *cert, *key, *ca; /* owned; ca NULL when absent */
	SSL_CTX *ctx;
};

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
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
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
	if (t->ca != NULL) {
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
		log_warn("%s TLS: the certificate %s has expired; clients "
			 "will refuse it",
			 n, t->cert);
	if (tls_file_loose(t->key) == 1)
		log_warn("%s TLS: the key %s may be read by others "
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

struct tls_server *tls_server_new(const struct tls_files *f, char *err,
				  size_t errlen)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	int failed = t == NULL;
	if (t != NULL) {
		t->name = f->name;
		t->cert = dup_or_null(f->cert, &failed);
		t->key = dup_or_null(f->key, &failed);
		t->ca = dup_or_null(f->ca, &failed);
	}
	if (failed || t->cert == NULL || t->key == NULL) {
		snprintf(err, errlen, "%s TLS: %s", f->name,
			 failed ? "out of memory"
				: "a certificate and a key are both needed");
		tls_server_free(t);
		return NULL;
	}
	t->ctx = build(t, err, errlen);
	if (t->ctx == NULL) {
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

struct bufferevent *tls_server_bev(struct tls_server *t,
				   struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A client that closes without close_notify has still sent whole
	 * requests; HTTP framing, not TLS, tells where they end. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

SSL_CTX *tls_server_ctx(const struct tls_server *t)
{
	return t->ctx;
}

void tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->cert);
	free(t->key);
	free(t->ca);
	free(t);
}
