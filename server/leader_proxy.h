/* leader_proxy.h - relays a client request that only the leader can serve
 * (leadership transfer, membership changes) to the leader's client URL and
 * relays its answer back. */
#ifndef SERVER_LEADER_PROXY_H_
#define SERVER_LEADER_PROXY_H_

#include <event2/http.h>
#include <stddef.h>

#include "metrics.h"
#include "kvdraft_node.h"

/* Marks a relayed request: a member that does not lead answers it 503
 * instead of relaying it again (no loops while leadership moves). */
#define LEADER_PROXY_HEADER "X-Kvd-Forwarded"

/* How the calling module answers when the leader's answer cannot be
 * relayed; each function sends the reply and counts it in the metrics. */
struct leader_proxy_replies {
	enum metrics_route route; /* counts the relayed answers */
	/* The §1.3 error shape. */
	void (*error)(struct kvdraft_node *n, struct evhttp_request *req,
		      double t0, int status, const char *code, const char *msg);
	/* The answer for a NODE_E* code (timeout, shutdown, ...). */
	void (*node_error)(struct kvdraft_node *n, struct evhttp_request *req,
			   double t0, int err);
};

/* Sends @cmd @path with @body (@len bytes, copied; JSON) to the leader and
 * answers @req with the leader's status, Content-Type and body (503 gets
 * Retry-After). Every other outcome is answered through @replies: 503 when
 * no leader is known, when @req was relayed already or the leader cannot
 * be reached, the node's error after --request-timeout-ms or at shutdown.
 * @req is always answered; @replies must outlive the request (static). */
void leader_proxy_forward(struct kvdraft_node *n, struct evhttp_request *req,
			  double t0, const struct leader_proxy_replies *replies,
			  enum evhttp_cmd_type cmd, const char *path,
			  const void *body, size_t len);

#endif /* SERVER_LEADER_PROXY_H_ */
