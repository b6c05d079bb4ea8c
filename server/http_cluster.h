/* http_cluster.h - GET /v1/cluster (docs/API.md): this member's view of
 * every member, fetched by this member, for the status page. */
#ifndef SERVER_HTTP_CLUSTER_H_
#define SERVER_HTTP_CLUSTER_H_

struct evhttp_request;
struct kvdraft_node;

/* How long one round's answer is served again, so that many open pages
 * cost one round of requests to the members, not one each. */
#define HTTP_CLUSTER_CACHE_MS 500
/* How long a member has to answer its /v1/status before it is shown
 * unreachable: within the page's 2 s to turn a silent member red, with
 * its 1 s poll. */
#define HTTP_CLUSTER_FETCH_TIMEOUT_MS 700
/* Requests waiting for one round; more are answered 503. */
#define HTTP_CLUSTER_WAITERS_MAX 64
/* The longest Authorization header sent on to the members (a bearer
 * token is far shorter). */
#define HTTP_CLUSTER_AUTH_MAX 1024

/* Answers @req (a GET of /v1/cluster) from the cached view, or once a new
 * round has asked every other member's client URL for /v1/status (in
 * parallel, on the node's loop), sending on the Authorization header of
 * the request that started the round. Callers are checked before this, so
 * any one of them may be served a view another's round fetched (every
 * token may read /v1/status). Counts the answer in the metrics under
 * route `cluster`. Only one kvd node per process uses this. */
void http_cluster_get(struct kvdraft_node *n, struct evhttp_request *req,
		      double t0);

#endif /* SERVER_HTTP_CLUSTER_H_ */
