/* member_tls.h - kvd's requests to another member's client URL (a
 * follower relaying to the leader, and any later such route): plain for
 * http://, HTTPS for https:// presenting --client-cert/--client-key as the
 * client certificate and verifying the member's against --client-ca (else
 * the system's store), its host against the URL's (DESIGN.md §1.8). */
#ifndef SERVER_MEMBER_TLS_H_
#define SERVER_MEMBER_TLS_H_

#include <stddef.h>

#include "config.h"

struct event_base;
struct evhttp_connection;
struct member_tls;

/* The outgoing context from @cfg's client TLS files; NULL without them
 * (err "") or when they do not load (one line in @err). Warnings (an
 * expired certificate, a key others may read) go to the log. */
struct member_tls *member_tls_new(const struct config *cfg, char *err,
				  size_t errlen);

/* Reads the files again (SIGHUP); connections open keep the old context.
 * 0, or -1 with one line in @err (the old context stays). */
int member_tls_reload(struct member_tls *m, char *err, size_t errlen);

/* A connection to the member client URL @url ("http://HOST:PORT", or
 * "https://HOST:PORT" when @m is not NULL) on @base, its host and port
 * in *@a (for the Host header). NULL when @url is not such a URL or out
 * of memory. A connection serves until it closes: over TLS, free it then
 * rather than reuse it. */
struct evhttp_connection *member_tls_connect(struct member_tls *m,
					     struct event_base *base,
					     const char *url,
					     struct config_addr *a);

/* NULL is a no-op. */
void member_tls_free(struct member_tls *m);

#endif /* SERVER_MEMBER_TLS_H_ */
