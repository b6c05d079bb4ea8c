/* kvc_http.h - libkvc's internal HTTP layer (not installed): the handle,
 * one request and its answer, and the retrying exchange kvc.c builds on. */
#ifndef KVC_KVC_HTTP_H_
#define KVC_KVC_HTTP_H_

#include "kvc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <jansson.h>

/* libkvc is built with default symbol visibility, so that kvc.h's functions
 * are exported: the functions shared between its files are hidden, and the
 * library exports kvc.h alone. */
#define KVC_INTERNAL __attribute__((visibility("hidden")))

#define KVC_MAX_ENDPOINTS 64
#define KVC_MAX_URL	  1024
#define KVC_ERRMSG	  512

/* A member's client address. */
struct endpoint {
	char host[256];
	int port;
};

/* Connections kept open between calls (HTTP/1.1 keep-alive), one per
 * member last talked to: the leader, and the members asked for it. */
#define KVC_CONN_CACHE 4

struct kvc_conn {
	struct endpoint ep;
	struct evhttp_connection *conn; /* NULL: none */
};

/* The handle of kvc.h: its members, the leader it knows, its writes' client
 * id and sequence, and its event loop. */
struct kvc {
	struct event_base *base; /* private: one per handle */
	struct kvc_options opts;
	struct endpoint eps[KVC_MAX_ENDPOINTS];
	size_t n_eps;
	size_t cur;		/* endpoint tried first */
	struct endpoint leader; /* valid when has_leader */
	bool has_leader;
	char client_id[17];    /* X-Kv-Client */
	uint64_t seq;	       /* X-Kv-Seq of the last logical write */
	uint64_t rng;	       /* xorshift state for backoff jitter */
	uint64_t watch_oldest; /* kvc_watch_oldest() */
	bool maybe_sent;       /* kvc_outcome_unknown() */
	struct kvc_conn conns[KVC_CONN_CACHE];
	unsigned conn_next; /* the slot a new connection takes */
	char errmsg[KVC_ERRMSG];
};

/* One HTTP request: what to send. */
struct call {
	enum evhttp_cmd_type method;
	const char *path; /* path and query, already encoded */
	const void *body;
	size_t body_len;
	bool to_leader;		      /* writes and linearizable reads */
	bool any_member;	      /* a fixed URL is not required */
	uint64_t seq;		      /* X-Kv-Seq when non-zero */
	const struct endpoint *fixed; /* only this member (kvc_status) */
	bool long_wait; /* one attempt may take the whole deadline */
	bool once;	/* one attempt: no retry on failure, 503 or 504 */
};

/* One HTTP answer. */
struct resp {
	int status; /* 0: no answer (connection failure or timeout) */
	bool timed_out;
	bool not_connected; /* no answer: the TCP connect failed */
	bool refused;	    /* ... with ECONNREFUSED: nothing listens */
	char *body;	    /* malloc'd, NUL-terminated */
	size_t len;
	uint64_t x_kv_index;
	bool has_x_kv_index;
};

/* Formats the context of the handle's last error (kvc_errmsg()). */
KVC_INTERNAL void kvc_http_set_errmsg(struct kvc *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The next number of the handle's xorshift generator (backoff jitter). */
KVC_INTERNAL uint64_t kvc_http_rng_next(struct kvc *h);

/* Fills @buf with @len bytes from /dev/urandom. 0 or -1. */
KVC_INTERNAL int kvc_http_read_random(void *buf, size_t len);

/* Parses the @len bytes of @url, "http://host:port" (the scheme may be left
 * out; port defaults to 80), into *@ep. 0 or KVC_EINVAL. */
KVC_INTERNAL int kvc_http_parse_endpoint(const char *url, size_t len,
					 struct endpoint *ep);

/* Decodes standard base64 (RFC 4648, with padding) from the NUL-terminated
 * @s into a malloc'd buffer with a trailing NUL (not counted in *@out_len),
 * owned by the caller. 0, KVC_EPROTO (not base64) or KVC_ENOMEM. */
KVC_INTERNAL int kvc_http_b64_decode(const char *s, void **out,
				     size_t *out_len);

/* Frees @r's body and zeroes @r. */
KVC_INTERNAL void kvc_http_resp_clear(struct resp *r);

/* Maps @r's HTTP status to 0 (2xx) or a KVC_E* code, and keeps the
 * server's "error" and "message" in the handle's errmsg. */
KVC_INTERNAL int kvc_http_status_to_rc(struct kvc *h, const struct resp *r);

/* Sends @c, finding the leader when @c goes to it, retrying on connection
 * failure, 503 and 504 with jittered exponential backoff until the handle's
 * retry deadline. Returns 0 with any answer that is not retried in @r (the
 * caller maps its status and releases it with kvc_http_resp_clear()), or a
 * negative KVC_E* code with @r empty. */
KVC_INTERNAL int kvc_http_call(struct kvc *h, const struct call *c,
			       struct resp *r);

/* "/v1/kv/<@key percent-encoded>" followed by @query (may be NULL), as
 * a malloc'd string the caller frees; NULL when out of memory. */
KVC_INTERNAL char *kvc_http_kv_path(const char *key, const char *query);

/* Sends @c with retries and maps the answer's status to a code. When that
 * code is 0 (or KVC_ECAS and @json_on_cas: a failed compare-and-swap still
 * says the key's index), the body is parsed into *@j, which the caller owns
 * (json_decref) and which is NULL when the body is not JSON; otherwise *@j
 * is NULL. */
KVC_INTERNAL int kvc_http_call_json(struct kvc *h, const struct call *c,
				    bool json_on_cas, json_t **j);

/* Sends @c with retries and maps the answer's status to 0 (2xx) or a
 * KVC_E* code; the body is dropped. */
KVC_INTERNAL int kvc_http_call_status(struct kvc *h, const struct call *c);

/* Reads the non-negative integer member @name of @obj into *@out. 0 or
 * KVC_EPROTO (absent, not an integer, negative). */
KVC_INTERNAL int kvc_http_get_u64(json_t *obj, const char *name, uint64_t *out);

/* Whether @key is a key the API accepts (not NULL, not empty; the server
 * checks the rest). */
KVC_INTERNAL bool kvc_http_key_ok(const char *key);

#endif /* KVC_KVC_HTTP_H_ */
