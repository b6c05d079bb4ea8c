/* tls.h - TLS for a listener: an OpenSSL context built from certificate,
 * key and CA files, reloaded atomically, and the bufferevents that accept
 * TLS connections with it (DESIGN.md §1.8). */
#ifndef SERVER_TLS_H_
#define SERVER_TLS_H_

#include <stddef.h>

struct bufferevent;
struct event_base;
struct tls_server;
typedef struct ssl_ctx_st SSL_CTX;

struct tls_files {
	const char *name; /* "client" or "peer", for messages; static */
	const char *cert; /* PEM certificate (chain), required */
	const char *key;  /* PEM private key, required */
	/* PEM CA certificates; NULL: peers are not asked for a certificate.
	 * Given: a peer must present a certificate it signed, else the
	 * handshake fails. */
	const char *ca;
};

/* Builds a server context from @f (names copied): TLS 1.2 or newer, no
 * renegotiation, the key checked against the certificate. Returns NULL
 * with one line in @err naming the file and OpenSSL's reason. A key file
 * readable by group or others and a certificate already expired are
 * logged as warnings. Nothing read from the files is ever logged. */
struct tls_server *tls_server_new(const struct tls_files *f, char *err,
				  size_t errlen);

/* Reads the same files again into a new context and, only when that
 * succeeded, makes it the one new connections use; connections open keep
 * theirs. Returns 0, or -1 with one line in @err (the old context stays). */
int tls_server_reload(struct tls_server *t, char *err, size_t errlen);

/* A bufferevent that accepts one TLS connection with the current
 * context, its socket not yet set (evhttp_set_bevcb's contract); NULL when
 * out of memory. Freeing it frees its SSL and closes the socket. */
struct bufferevent *tls_server_bev(struct tls_server *t,
				   struct event_base *base);

/* The current context (tests). */
SSL_CTX *tls_server_ctx(const struct tls_server *t);

/* Whether @path's mode lets group or others read it: 1 yes, 0 no, -1 it
 * cannot be examined (errno set). */
int tls_file_loose(const char *path);

/* NULL is a no-op. */
void tls_server_free(struct tls_server *t);

#endif /* SERVER_TLS_H_ */
