/* http_api.h - the public HTTP API (docs/API.md) on --listen-client. */
#ifndef SERVER_HTTP_API_H_
#define SERVER_HTTP_API_H_

struct evhttp;
struct kvdraft_node;

/* Serves every public route on @http (not owned) from @n, and sets the
 * request limits (body and header sizes, idle timeout, methods). */
void http_api_attach(struct evhttp *http, struct kvdraft_node *n);

#endif /* SERVER_HTTP_API_H_ */
