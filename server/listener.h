/* listener.h - the client and peer listening sockets: opening them, and
 * serving them through evhttp with a bound on connections
 * (--max-connections; docs/API.md, "Connections and limits"), a pause
 * when file descriptors run out, and a header deadline. */
#ifndef SERVER_LISTENER_H_
#define SERVER_LISTENER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct evhttp;

/* Binds and listens on @addr (non-blocking, close-on-exec, SO_REUSEADDR so
 * a restart does not wait for TIME_WAIT). Returns the socket, or -1 with
 * one line in @err ("cannot listen on 127.0.0.1:7001: Address already in
 * use"). */
int listener_open(const struct config_addr *addr, char *err, size_t errlen);

struct bufferevent;
struct listener;

struct listener_opts {
	const char *name; /* "client" or "peer", for log lines; static */
	/* Connections open at once; at the limit the listener stops
	 * accepting and new connections wait in the kernel's backlog until
	 * one closes. At least 1. */
	unsigned max_connections;
	/* A request's header section must be complete this long after its
	 * first byte arrived, else the connection is closed. At least 1. */
	unsigned header_timeout_ms;
	/* Optional: each new connection's socket bufferevent (ownership
	 * taken) passes through this, and evhttp gets what it returns (the
	 * peer listener's token filter); NULL when out of memory, having
	 * freed @sock. */
	struct bufferevent *(*wrap)(void *arg, struct bufferevent *sock);
	void *wrap_arg;
	/* Optional: makes each new connection's bufferevent, its socket not
	 * yet set (a TLS one: tls_server_bev()); NULL when out of memory.
	 * Without it, a plain socket bufferevent. @wrap still applies. */
	struct bufferevent *(*new_bev)(void *arg, struct event_base *base);
	void *new_bev_arg;
	/* Nonzero: the header deadline of a connection's first request runs
	 * from the accept, not from its first byte: a TLS handshake comes
	 * first and must not hold a connection open for ever. */
	int deadline_from_accept;
	/* Optional: a gate on each request's header block (the client
	 * listener's auth, DESIGN.md §1.8), for whoever must refuse a request
	 * before its body is read. When @gate_on says so at a request's first
	 * byte, its bytes are held back from evhttp until the header block is
	 * complete; then @gate_refuse (the block, its blank line included)
	 * decides (a block over LISTENER_GATE_MAX_HEAD is refused). A
	 * request let through goes up unchanged. A refused one
	 * goes up as LISTENER_GATE_REFUSED (bodiless, Connection: close, no
	 * credentials), which the gate's owner answers itself (401), and
	 * every byte after it (its body included) is dropped unread; evhttp
	 * closes the connection after the answer. */
	bool (*gate_on)(void *arg);
	bool (*gate_refuse)(void *arg, const char *head, size_t len);
	void *gate_arg;
};

/* What a refused request becomes (see listener_opts.gate_refuse): a
 * route whose owner refuses a request without credentials. */
#define LISTENER_GATE_REFUSED                                                  \
	"GET /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n"

/* The most bytes held for a header block (evhttp's own limit on the
 * client port is 64 KiB of headers). A longer one is refused like one
 * without credentials: letting it through would let its body be read. */
#define LISTENER_GATE_MAX_HEAD ((size_t)64 << 10)

/* Serves listening socket @fd (ownership taken, also on failure) through
 * @http, which must have no other listening socket and no bufferevent
 * callback of its own (evhttp_set_bevcb): the listener installs one to
 * see each connection. When accept() fails for want of file descriptors
 * (or memory) the listener pauses and retries a little later instead of
 * spinning on a socket that stays readable; each such episode and each
 * time the connection limit is reached is logged once. Returns the
 * listener, or NULL when out of memory. Free with listener_free() after
 * evhttp_free(@http), whose connections the listener counts until they
 * close. */
struct listener *listener_serve(struct event_base *base, struct evhttp *http,
				int fd, const struct listener_opts *opts);

/* Stops accepting: closes the listening socket. Open connections stay
 * (and still count). Idempotent. */
void listener_stop(struct listener *l);

/* Connections open now (tests and metrics). */
unsigned listener_connections(const struct listener *l);

/* Connections accepted since listener_serve() (metrics: whether clients,
 * other members among them, reuse their connections). */
uint64_t listener_accepted(const struct listener *l);

/* Frees @l (stopping it first). Call after evhttp_free(). NULL is a no-op. */
void listener_free(struct listener *l);

/* Scans @n bytes of a request's header section, continuing from *@state
 * (0 at the request's first byte). Returns the number of bytes up to and
 * including the blank line that ends the header section, or 0 when it has
 * not ended yet (*@state then carries over to the next bytes). A line ends
 * with "\n" or "\r\n", as evhttp reads it. Exposed for unit tests. */
size_t listener_scan_headers(const unsigned char *p, size_t n, int *state);

#endif /* SERVER_LISTENER_H_ */
