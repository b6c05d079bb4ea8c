/* http_auth.h - auth on the client API (§1.8; docs/API.md, "Auth"): who a
 * request comes from, the check every route passes through (auth_check()
 * on the store's auth state and tokens), the routes under /v1/auth, and
 * the header-block gate that refuses a request without a valid token
 * before its body is read. */
#ifndef SERVER_HTTP_AUTH_H_
#define SERVER_HTTP_AUTH_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>

#include "auth.h"
#include "kv.h"
#include "metrics.h"

struct kvdraft_node;

#define HTTP_AUTH_PATH "/v1/auth"

/* Who a request comes from, as the store says at the time of the check
 * (no cache: a token revoked by an applied entry is refused from then). */
struct http_auth_caller {
	bool enabled;	     /* auth is on */
	struct auth_who who; /* role NONE: no token or an unknown one;
			      * who.prefix points into @tok */
	struct kv_token tok;
};

/* The check every request of the client API passes through, before its
 * route: finds the caller (Authorization: Bearer T) and decides with
 * auth_check() on the request's method, path and the key or prefix it
 * names (a key from the path, a list's, watch's or prefix delete's from
 * the query; a transaction's keys are checked by its route with
 * http_auth_txn()). Returns true when the request may go on (@caller
 * filled, may be NULL); otherwise it was answered 401 unauthorized or
 * 403 forbidden, counted under @route and in kvd_auth_failures_total. */
bool http_auth_check(struct kvdraft_node *n, struct evhttp_request *req,
		     enum evhttp_cmd_type cmd, const char *path,
		     const char *query, enum metrics_route route, double t0,
		     struct http_auth_caller *caller);

/* What a request that answers later (a watch stream, a blocking read)
 * keeps of its caller, to look again when the auth state changed: no
 * permission outlives the apply of the entry that withdrew it. */
struct http_auth_hold {
	bool has_token; /* the caller had a valid token */
	uint8_t hash[KV_AUTH_HASH_SIZE];
	uint64_t generation; /* kv_auth_generation() it was valid at */
};

/* Fills @h from @caller (allowed by http_auth_check()). */
void http_auth_hold(const struct http_auth_caller *caller,
		    struct http_auth_hold *h);

/* Whether the caller kept in @h is still allowed: the auth state has not
 * changed since (kv_auth_generation()), or auth is off, or its token
 * still exists (a token's role and prefix never change). Updates @h. */
bool http_auth_hold_ok(struct kvdraft_node *n, struct http_auth_hold *h);

/* http_auth_hold_ok(), answering @req 401 (counted under @route) when
 * not. */
bool http_auth_recheck(struct kvdraft_node *n, struct evhttp_request *req,
		       enum metrics_route route, double t0,
		       struct http_auth_hold *h);

/* Whether every key and prefix of transaction @t (compares, and the ops
 * of both branches) is within @caller's reach; when not, @req is answered
 * 403 (counted under @route) and false returned. */
bool http_auth_txn(struct kvdraft_node *n, struct evhttp_request *req,
		   enum metrics_route route, double t0,
		   const struct http_auth_caller *caller,
		   const struct kv_txn *t);

/* Whether every key attached to lease @id (in this member's store) is
 * within @caller's reach: a lease is not a way around a prefix (revoking
 * it deletes its keys; reading it names them). When not, @req is answered
 * 403 (counted under @route) and false returned. */
bool http_auth_lease(struct kvdraft_node *n, struct evhttp_request *req,
		     enum metrics_route route, double t0,
		     const struct http_auth_caller *caller, uint64_t id);

/* Serves @path under /v1/auth: POST enable, POST disable, GET and POST
 * tokens, DELETE tokens/{name}. */
void http_auth_handle(struct kvdraft_node *n, struct evhttp_request *req,
		      const char *path, double t0);

/* The client listener's gate (listener_opts.gate), @arg the node: whether
 * auth is on (only then are header blocks held for the gate), and whether
 * the request with header block @head (@len bytes) must be refused: auth
 * on, a path that needs a token, and no valid one. */
bool http_auth_gate_on(void *arg);
bool http_auth_gate_refuse(void *arg, const char *head, size_t len);

#endif /* SERVER_HTTP_AUTH_H_ */
