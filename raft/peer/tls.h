/* tls.h - TLS for a listener and for outgoing connections: an OpenSSL
 * context built from certificate, key and CA files, reloaded atomically,
 * and the bufferevents that accept or open TLS connections with it
 * (DESIGN.md §1.8). The peer transport, the snapshot transfer and
 * discovery use it, and kvd's client listener and its requests to other
 * members. */
#ifndef RAFT_PEER_TLS_H_
#define RAFT_PEER_TLS_H_

#include <stddef.h>

struct bufferevent;
struct event_base;
struct tls_server;
struct tls_client;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

struct tls_files {
	const char *name; /* "client" or "peer", for messages; static */
	const char *cert; /* PEM certificate (chain), required */
	const char *key;  /* PEM private key, required */
	/* PEM CA certificates; NULL: peers are not asked for a certificate.
	 * Given: a peer must present a certificate it signed, else the
	 * handshake fails. */
	const char *ca;
	/* Where the warnings go (an expired certificate, a key others may
	 * read): one line each; NULL: stderr. tls_no_warn() drops them (a
	 * second context of the same files). */
	void (*warn)(void *arg, const char *line);
	void *warn_arg;
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
 * context, its socket not yet set (evhttp_set_bevcb's contract). When out
 * of memory for the TLS one, a bufferevent that ends the connection at its
 * first byte (never a plain one, which evhttp would make itself on NULL);
 * NULL only when that cannot be made either. Freeing it frees its SSL and
 * closes the socket. */
struct bufferevent *tls_server_bev(struct tls_server *t,
				   struct event_base *base);

/* The current context (tests). */
SSL_CTX *tls_server_ctx(const struct tls_server *t);

/* Whether @path's mode lets group or others read it: 1 yes, 0 no, -1 it
 * cannot be examined (errno set). */
int tls_file_loose(const char *path);

/* NULL is a no-op. */
void tls_server_free(struct tls_server *t);

/* A tls_files.warn that drops the line. */
void tls_no_warn(void *arg, const char *line);

/* A context for outgoing connections from @f: @f->cert and @f->key are
 * presented as the client certificate, the server's certificate is
 * verified against @f->ca (NULL: the system's store). Errors and
 * warnings as tls_server_new(). */
struct tls_client *tls_client_new(const struct tls_files *f, char *err,
				  size_t errlen);

/* As tls_server_reload(): connections open keep the old context. */
int tls_client_reload(struct tls_client *c, char *err, size_t errlen);

/* A new SSL for one connection to @host (a name or an IP literal, no
 * brackets) with the current context: the server's certificate must name
 * @host. NULL when out of memory or @host is unfit. */
SSL *tls_client_ssl(struct tls_client *c, const char *host);

/* A bufferevent that connects one TLS connection to @host with a new SSL
 * (tls_client_ssl()), its socket not yet set, for
 * evhttp_connection_base_bufferevent_new(); NULL on failure. Freeing it
 * frees its SSL and closes the socket. Its SSL keeps the context of the
 * time: a connection made after a reload takes a new bufferevent. */
struct bufferevent *tls_client_bev(struct tls_client *c,
				   struct event_base *base, const char *host);

/* The current context (tests). */
SSL_CTX *tls_client_ctx(const struct tls_client *c);

/* The TLS bufferevents made here read ahead once their connection carries
 * data: OpenSSL takes all the socket holds in one read(2), where it would
 * read each record's header and then its body in two. libevent hands over
 * at most two records per readable event and would leave the others in
 * OpenSSL's buffer, where no event tells of them; so each time data reaches
 * the input, and each time the reader takes some out, the whole records
 * read ahead follow into the input, while it holds less than its read high
 * watermark (1 MiB without one: a sender that keeps the socket full does
 * not keep the loop). */

/* NULL is a no-op. */
void tls_client_free(struct tls_client *c);

/* The output of a TLS bufferevent made here is joined into one chunk
 * while it is within this many bytes, the most one record carries (RFC
 * 8446 §5.1): a write OpenSSL began and could not finish is then handed
 * to it again whole by libevent (write_now.c relies on it). */
#define TLS_JOIN_MAX 16384

#endif /* RAFT_PEER_TLS_H_ */
