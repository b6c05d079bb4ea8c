/* http_api.h - the public HTTP API (docs/API.md) on --listen-client. */
#ifndef SERVER_HTTP_API_H_
#define SERVER_HTTP_API_H_

#include "metrics.h"

struct evhttp;
struct evhttp_request;
struct kvdraft_node;

/* Serves every public route on @http (not owned) from @n, and sets the
 * request limits (body and header sizes, idle timeout, methods). */
void http_api_attach(struct evhttp *http, struct kvdraft_node *n);

/* Answers @req for the node's error @err (enum kvdraft_error, or
 * KVD_ESTALE_SEQ): 409, 413, 500, 503 or 504, counted under @route. */
void http_api_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			 enum metrics_route route, double t0, int err);

#endif /* SERVER_HTTP_API_H_ */
