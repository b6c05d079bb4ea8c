/* member_pool.h - idle keep-alive connections from kvd to other members'
 * client URLs, kept by URL and reused by the requests that go there (a
 * follower's relay to the leader, the cluster view's status requests), so
 * that such a request costs no TCP connect and, over https://, no TLS
 * handshake. Loop thread only. */
#ifndef SERVER_MEMBER_POOL_H_
#define SERVER_MEMBER_POOL_H_

#include <stdint.h>

#include "config.h"

struct event_base;
struct evhttp_connection;
struct evhttp_request;
struct member_tls;
struct member_pool;
struct member_conn;

/* Idle connections kept per URL (scheme, host and port), and in all. A
 * connection in use is not idle and is not counted: these bound what is
 * kept, never what is asked for. */
#define MEMBER_POOL_IDLE_PER_URL 8
#define MEMBER_POOL_IDLE_MAX	 64
/* An idle connection is closed after this long. Below the idle timeout of
 * kvd's own client listener (120 s, http_api.c) and of common servers
 * (nginx 75 s, Apache 5 s aside), so that it is this side that closes:
 * a request is never sent on a connection the other side closes at the
 * same moment, short of a member's restart. */
#define MEMBER_POOL_IDLE_TIMEOUT_MS 30000

struct member_pool_limits {
	unsigned idle_per_url; /* at least 1 */
	unsigned idle_max;     /* at least 1 */
	unsigned idle_timeout_ms;
};

/* What the pool did since it was made (metrics, tests). */
struct member_pool_stats {
	uint64_t opened; /* connections made */
	uint64_t reused; /* takes served by an idle connection */
	unsigned idle;	 /* idle connections now */
	unsigned busy;	 /* connections taken and not given back */
};

/* A pool on @base whose https:// connections use @tls (not owned; NULL:
 * only http:// URLs), with @lim (NULL: the MEMBER_POOL_* defaults). NULL
 * when out of memory. */
struct member_pool *member_pool_new(struct event_base *base,
				    struct member_tls *tls,
				    const struct member_pool_limits *lim);

/* A connection to the member client URL @url ("http://HOST:PORT" or
 * "https://HOST:PORT"), its host and port in *@a (for the Host header):
 * the most recently used idle one for that URL, else a new one
 * (member_tls_connect()). It has evhttp's defaults for body and header
 * sizes and no retries; the caller sets its timeout and makes one request
 * on it, then hands it back with member_pool_give() or member_pool_drop()
 * (exactly one of them). NULL when @url is not such a URL or out of
 * memory. */
struct member_conn *member_pool_take(struct member_pool *p, const char *url,
				     struct config_addr *a);

/* @c's evhttp connection, valid until @c is handed back. The pool owns
 * it: never free it, nor set its close callback. */
struct evhttp_connection *member_conn_evcon(const struct member_conn *c);

/* Hands @c back once its request's callback came with @resp (NULL when it
 * failed). @c is kept for reuse only after a complete answer (a response
 * code) on a connection evhttp keeps open (not closed by either side, as
 * after "Connection: close"), made since the last member_pool_flush(),
 * while its URL and the pool have room; else it is freed. Safe inside @c's
 * own request callback: a connection is never freed there, but on a later
 * turn of the loop. */
void member_pool_give(struct member_pool *p, struct member_conn *c,
		      struct evhttp_request *resp);

/* Hands @c back after its request failed, timed out or was cancelled: it
 * is freed (on a later turn of the loop, so also safe inside its
 * callbacks). */
void member_pool_drop(struct member_pool *p, struct member_conn *c);

/* Closes every idle connection, and makes those in use be freed when
 * handed back (SIGHUP: later connections are made with the TLS context
 * just reloaded, member_tls_reload()). */
void member_pool_flush(struct member_pool *p);

void member_pool_stats(const struct member_pool *p,
		       struct member_pool_stats *st);

/* Frees the pool and every connection it holds, idle or not (after the
 * loop stopped: a connection still in use is freed too). NULL is a
 * no-op. */
void member_pool_free(struct member_pool *p);

#endif /* SERVER_MEMBER_POOL_H_ */
