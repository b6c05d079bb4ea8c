/* kvc_tls.h - libkvc's TLS (internal, not installed): the client context
 * built from kvc_options' cacert, cert and key, and one fresh SSL per
 * connection that checks the member's certificate against the host name or
 * IP address of its URL (DESIGN.md §1.8). */
#ifndef KVC_KVC_TLS_H_
#define KVC_KVC_TLS_H_

#include "kvc_http.h"

#include <stddef.h>

struct bufferevent;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* Builds a client context: TLS 1.2 or newer, the server's certificate
 * verified against the PEM CA file @cacert (NULL: the system's store), the
 * PEM certificate @cert and key @key presented when both are given (one
 * without the other is an error). Returns NULL with one line in @err naming
 * the file and OpenSSL's reason. Nothing read from the files is ever
 * said. The caller owns the context (kvc_tls_ctx_free()). */
KVC_INTERNAL SSL_CTX *kvc_tls_ctx_new(const char *cacert, const char *cert,
				      const char *key, char *err,
				      size_t errlen);

/* NULL is a no-op. */
KVC_INTERNAL void kvc_tls_ctx_free(SSL_CTX *ctx);

/* A fresh SSL of @ctx for one connection to @host, in client mode: the
 * server's certificate must name @host (an IP address is matched against
 * its IP subject alternative names, a name against its DNS names), and a
 * name is sent as SNI. NULL when out of memory. The caller owns it (or
 * hands it to a bufferevent that frees it). */
KVC_INTERNAL SSL *kvc_tls_ssl_new(SSL_CTX *ctx, const char *host);

/* Joins @bev's output into one chunk while it fits a TLS record, so that a
 * request goes out as one record in one write(2) rather than one per
 * chunk (OpenSSL writes each chunk on its own). Returns @bev. */
KVC_INTERNAL struct bufferevent *kvc_tls_joined(struct bufferevent *bev);

/* The handle's context, built on first use from its options when kvc_open()
 * did not build one (an https:// leader URL met on a handle whose endpoints
 * are all http://). NULL with the handle's errmsg set when it cannot be
 * built. */
KVC_INTERNAL SSL_CTX *kvc_tls_ctx_of(struct kvc *h);

/* Says why the last TLS operation on this thread failed (OpenSSL's reason
 * for the first error of its queue, e.g. "certificate verify failed") in
 * @buf, and clears the queue. Returns @buf. */
KVC_INTERNAL const char *kvc_tls_reason(char *buf, size_t len);

/* Whether the member of @ssl's session (one of kvc_tls_ssl_new()) asked
 * for a client certificate and none was given. With TLS 1.3 the member
 * refuses it only after the client's side of the handshake is done; its
 * alert may then be lost to a reset when the client sends its request at
 * the same time, so a connection that ends without an answer is said to
 * fail for this. */
KVC_INTERNAL bool kvc_tls_cert_missing(const SSL *ssl);

/* The fatal alert the member of @ssl's session sent ("certificate
 * required", "unknown CA", ...), or NULL. */
KVC_INTERNAL const char *kvc_tls_alert(const SSL *ssl);
#define KVC_TLS_CERT_MISSING                                                   \
	"the member asks for a client certificate and none was given "         \
	"(cert and key)"

/* After a TLS bufferevent @bev (NULL, or one that is not TLS: false)
 * reported an error: whether the TLS session failed (the member's
 * certificate refused, a TLS alert, a handshake the member ended) rather
 * than the connection under it (refused, reset: false). When it did, says
 * why in @why. Drains the errors libevent kept for @bev. */
KVC_INTERNAL bool kvc_tls_bev_failed(struct bufferevent *bev, char *why,
				     size_t len);

#endif /* KVC_KVC_TLS_H_ */
