/* http_leases.h - the lease routes of the public API (DESIGN.md §1.6,
 * docs/API.md "Leases"): grant, keepalive (one or a batch), read, list,
 * revoke. Keepalives and reads are answered by the leader (a follower
 * relays them): only it knows the deadlines. */
#ifndef SERVER_HTTP_LEASES_H_
#define SERVER_HTTP_LEASES_H_

#include "kvdraft_node.h"

struct evhttp_request;
struct http_auth_caller;

/* The prefix of every lease path; "/v1/leases" itself too. */
#define HTTP_LEASES_PATH "/v1/leases"

/* Answers @req for @path (HTTP_LEASES_PATH or below it), @query (may be
 * NULL) arrived at @t0 (clock_now_seconds()). @caller (allowed by
 * http_auth_check()) may revoke, read or keep alive one lease only when
 * its keys are within the caller's prefix (http_auth_lease()). */
void http_leases_handle(struct kvdraft_node *n, struct evhttp_request *req,
			const char *path, const char *query, double t0,
			const struct http_auth_caller *caller);

#endif /* SERVER_HTTP_LEASES_H_ */
