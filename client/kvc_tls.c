/* kvc_tls.c - libkvc's TLS: the client context from the handle's files
 * and a fresh SSL per connection, its peer checked against the URL's host
 * (see kvc_tls.h). */
#include "kvc_tls.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

const char *kvc_tls_reason(char *buf, size_t len)
{
	/* The first error raised is the cause; later ones only add the
	 * call chain. */
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	if (r)
		snprintf(buf, len, "%s", r);
	else if (e != 0)
		snprintf(buf, len, "OpenSSL error %lu", e);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

/* What a session met, kept in its app data (which SSL_clear() keeps: a
 * session libevent resets after a failure still says it): the member asked
 * for a certificate the client did not have, and the fatal alert it sent
 * (its code plus one; 0: none). */
#define SEEN_CERT_ASKED 0x10000u
#define SEEN_ALERT_MASK 0xffffu

static uintptr_t seen(const SSL *ssl)
{
	return (uintptr_t)SSL_get_app_data(ssl);
}

/* OpenSSL asks for a client certificate only when none is set. */
static int on_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)x509;
	(void)pkey;
	SSL_set_app_data(ssl, (void *)(seen(ssl) | SEEN_CERT_ASKED));
	return 0; /* go on without one: the member decides */
}

static void on_info(const SSL *ssl, int where, int ret)
{
	/* A fatal alert from the member says why it ends the session; it
	 * may come after the client's side of the handshake is done (TLS
	 * 1.3), when libevent reports only a closed connection. */
	if ((where & SSL_CB_READ_ALERT) && (ret >> 8) == SSL3_AL_FATAL)
		SSL_set_app_data(
		    (SSL *)ssl,
		    (void *)((seen(ssl) & ~(uintptr_t)SEEN_ALERT_MASK) |
			     (uintptr_t)((ret & 0xff) + 1)));
}

bool kvc_tls_cert_missing(const SSL *ssl)
{
	return (seen(ssl) & SEEN_CERT_ASKED) != 0;
}

const char *kvc_tls_alert(const SSL *ssl)
{
	uintptr_t a = seen(ssl) & SEEN_ALERT_MASK;
	if (!a)
		return NULL;
	/* OpenSSL names the alerts of TLS 1.2; newer ones are "unknown". */
	const char *d = SSL_alert_desc_string_long((int)(a - 1));
	return strcmp(d, "unknown") == 0 ? "a fatal alert" : d;
}

bool kvc_tls_bev_failed(struct bufferevent *bev, char *why, size_t len)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl)
		return false;
	long v = SSL_get_verify_result(ssl);
	/* libevent keeps, per failure, SSL_get_error()'s code (SSL_ERROR_SSL
	 * for a protocol failure, SSL_ERROR_SYSCALL for one of the socket)
	 * followed by OpenSSL's queue; the first queued error is the cause. */
	unsigned long e, first = 0;
	bool protocol = false;
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) != 0 && first == 0)
			first = e;
		if (e == SSL_ERROR_SSL)
			protocol = true;
	}
	ERR_clear_error();
	if (v != X509_V_OK) {
		snprintf(why, len,
			 "TLS: the member's certificate is refused: %s",
			 X509_verify_cert_error_string(v));
		return true;
	}
	const char *alert = kvc_tls_alert(ssl);
	if (kvc_tls_cert_missing(ssl) && (alert || first == 0)) {
		snprintf(why, len, "TLS: %s", KVC_TLS_CERT_MISSING);
		return true;
	}
	if (alert) {
		snprintf(why, len, "TLS: the member refused the session: %s",
			 alert);
		return true;
	}
	if (first != 0) {
		const char *r = ERR_reason_error_string(first);
		char code[128];
		if (!r) {
			ERR_error_string_n(first, code, sizeof(code));
			r = code;
		}
		snprintf(why, len, "TLS handshake failed: %s", r);
		return true;
	}
	if (protocol) {
		/* With TLS 1.3 a member that refuses the client's certificate
		 * (or its absence) does so after the client's side of the
		 * handshake is done, by an alert OpenSSL may not have
		 * queued. */
		snprintf(why, len,
			 "TLS handshake failed: the member ended the session "
			 "(does it require a client certificate?)");
		return true;
	}
	return false;
}

/* Whether @path can be opened for reading; else one line in @err. Asked
 * before OpenSSL sees the file, so that a missing file reads as such
 * rather than as a PEM error. */
static int readable(const char *what, const char *path, char *err,
		    size_t errlen)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "TLS: cannot read the %s %s: %s", what,
			 path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

SSL_CTX *kvc_tls_ctx_new(const char *cacert, const char *cert, const char *key,
			 char *err, size_t errlen)
{
	char why[256];
	ERR_clear_error();
	if ((cert != NULL) != (key != NULL)) {
		snprintf(err, errlen,
			 "TLS: a client certificate needs its key and a key "
			 "its certificate (cert and key go together)");
		return NULL;
	}
	if ((cacert && readable("CA file", cacert, err, errlen) < 0) ||
	    (cert && readable("certificate", cert, err, errlen) < 0) ||
	    (key && readable("key", key, err, errlen) < 0))
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		snprintf(err, errlen, "TLS: cannot create a context: %s",
			 kvc_tls_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "TLS: cannot require TLS 1.2: %s",
			 kvc_tls_reason(why, sizeof(why)));
		goto fail;
	}
	if (cacert) {
		if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
			snprintf(err, errlen,
				 "TLS: the CA file %s does not load: %s",
				 cacert, kvc_tls_reason(why, sizeof(why)));
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "TLS: the system's CA store: %s",
			 kvc_tls_reason(why, sizeof(why)));
		goto fail;
	}
	if (cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			snprintf(err, errlen,
				 "TLS: the certificate %s does not load: %s",
				 cert, kvc_tls_reason(why, sizeof(why)));
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
			1 &&
		    ERR_GET_REASON(ERR_peek_error()) ==
			X509_R_KEY_VALUES_MISMATCH) {
			snprintf(err, errlen,
				 "TLS: the key %s does not match the "
				 "certificate %s",
				 key, cert);
			ERR_clear_error();
			goto fail;
		}
		if (ERR_peek_error() != 0) {
			snprintf(err, errlen,
				 "TLS: the key %s does not load: %s", key,
				 kvc_tls_reason(why, sizeof(why)));
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen,
				 "TLS: the key %s does not match the "
				 "certificate %s",
				 key, cert);
			ERR_clear_error();
			goto fail;
		}
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_client_cert_cb(ctx, on_cert_request);
	SSL_CTX_set_info_callback(ctx, on_info);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void kvc_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *kvc_tls_ssl_new(SSL_CTX *ctx, const char *host)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	/* An IP literal names the member by address: match it against the
	 * certificate's IP SANs. A host name is matched against its DNS
	 * names, and sent as SNI (which never carries an address). */
	unsigned char addr[16];
	char bare[256];
	size_t n = strlen(host);
	/* "[::1]": an IPv6 literal as a URL writes it. */
	if (n >= 2 && n < sizeof(bare) && host[0] == '[' && host[n - 1] == ']')
		snprintf(bare, sizeof(bare), "%.*s", (int)(n - 2), host + 1);
	else
		snprintf(bare, sizeof(bare), "%s", host);
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	bool ip = inet_pton(AF_INET, bare, addr) == 1 ||
		  inet_pton(AF_INET6, bare, addr) == 1;
	int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, bare)
		    : X509_VERIFY_PARAM_set1_host(vp, bare, 0);
	if (ok == 1 && !ip)
		ok = SSL_set_tlsext_host_name(ssl, bare) == 1;
	if (ok != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

SSL_CTX *kvc_tls_ctx_of(struct kvc *h)
{
	if (h->tls_ctx)
		return h->tls_ctx;
	char err[KVC_ERRMSG];
	h->tls_ctx = kvc_tls_ctx_new(h->opts.cacert, h->opts.cert, h->opts.key,
				     err, sizeof(err));
	if (!h->tls_ctx)
		kvc_http_set_errmsg(h, "%s", err);
	return h->tls_ctx;
}

#define KVC_TLS_JOIN_MAX 16384 /* one record's worth */

static void join_output(struct evbuffer *buf,
			const struct evbuffer_cb_info *info, void *arg)
{
	(void)arg;
	/* libevent lets the buffer move between writes
	 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
	if (info->n_added > 0 && evbuffer_get_length(buf) <= KVC_TLS_JOIN_MAX)
		(void)evbuffer_pullup(buf, -1);
}

struct bufferevent *kvc_tls_joined(struct bufferevent *bev)
{
	if (bev != NULL)
		(void)evbuffer_add_cb(bufferevent_get_output(bev), join_output,
				      NULL);
	return bev;
}
