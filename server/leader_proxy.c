/* leader_proxy.c - relays a request to the leader's client URL, bounded by
 * the node's request timeout. */
#include "leader_proxy.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "kv_app.h"
#include "member_pool.h"
#include "http_util.h"
#include "clock.h"
#include "util.h"

struct proxy {
	/* The node's timeout and shutdown while the leader answers. */
	struct kvdraft_wait *w;
	struct kvdraft_node *n;
	const struct leader_proxy_replies *replies;
	struct evhttp_request *req; /* the client's */
	struct member_conn *conn;   /* from the member pool */
	struct evhttp_request *out; /* ours, to the leader */
	double t0;
};

/* The leader answered (or the connection failed): relay the answer. */
static void proxy_http_done(struct evhttp_request *resp, void *arg)
{
	struct proxy *p = arg;
	struct kvdraft_node *n = p->n;
	kvdraft_node_unwatch(n, p->w);
	int code = resp != NULL ? evhttp_request_get_response_code(resp) : 0;
	if (code == 0) {
		p->replies->error(n, p->req, p->t0, 503, "unavailable",
				  "the leader could not be reached");
	} else {
		struct evkeyvalq *h = evhttp_request_get_output_headers(p->req);
		const char *ct = evhttp_find_header(
		    evhttp_request_get_input_headers(resp), "Content-Type");
		evhttp_add_header(h, "Content-Type",
				  ct != NULL ? ct : "application/json");
		if (code == 503)
			evhttp_add_header(h, "Retry-After", "1");
		http_send_reply(p->req, code, http_reason(code),
				evhttp_request_get_input_buffer(resp));
		metrics_http(kvd_metrics(n), p->replies->route, code,
			     clock_now_seconds() - p->t0);
	}
	/* Kept for the next relay after a complete answer on a connection
	 * left open, else freed; either way never from inside the
	 * connection's own callback (member_pool_give()). */
	member_pool_give(kvd_member_pool(n), p->conn, resp);
	free(p);
}

/* Timeout or shutdown before the leader answered. */
static void proxy_wait_done(void *arg, int err, const void *result)
{
	(void)result;
	struct proxy *p = arg;
	evhttp_cancel_request(p->out);
	member_pool_drop(kvd_member_pool(p->n), p->conn);
	p->replies->node_error(p->n, p->req, p->t0, err);
	free(p);
}

void leader_proxy_forward(struct kvdraft_node *n, struct evhttp_request *req,
			  double t0, const struct leader_proxy_replies *replies,
			  enum evhttp_cmd_type cmd, const char *path,
			  const void *body, size_t len)
{
	struct config_addr a;
	const char *url = kvd_leader_client_url(n);
	if (evhttp_find_header(evhttp_request_get_input_headers(req),
			       LEADER_PROXY_HEADER) != NULL) {
		replies->error(n, req, t0, 503, "unavailable",
			       "this member does not lead");
		return;
	}
	if (url[0] == '\0') {
		replies->error(n, req, t0, 503, "unavailable",
			       "no leader is known");
		return;
	}
	struct proxy *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		replies->error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	p->n = n;
	p->replies = replies;
	p->req = req;
	p->t0 = t0;
	/* Over HTTPS when the leader's client URL is https://; an idle
	 * connection from an earlier relay when there is one, which saves a
	 * connect and, over TLS, a handshake per relayed request. */
	p->conn = member_pool_take(kvd_member_pool(n), url, &a);
	if (p->conn == NULL) {
		free(p);
		replies->error(n, req, t0, 503, "unavailable",
			       "the leader's client URL cannot be reached");
		return;
	}
	p->out = evhttp_request_new(proxy_http_done, p);
	if (p->out == NULL) {
		member_pool_drop(kvd_member_pool(n), p->conn);
		free(p);
		replies->error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	struct evhttp_connection *evcon = member_conn_evcon(p->conn);
	/* The node's timer decides when to give up, not evhttp. */
	evhttp_connection_set_timeout(
	    evcon, (int)(kvd_config(n)->request_timeout_ms / 1000 + 2));
	struct evkeyvalq *h = evhttp_request_get_output_headers(p->out);
	evhttp_add_header(h, "Host", a.host);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, LEADER_PROXY_HEADER, "1");
	/* No "Connection" header (the client's is not passed on): HTTP/1.1
	 * keeps the connection open for the next relay. */
	/* The leader checks the caller again (DESIGN.md §1.8): its token
	 * goes along, and nowhere else. */
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	if (auth != NULL)
		evhttp_add_header(h, "Authorization", auth);
	if (len > 0)
		evbuffer_add(evhttp_request_get_output_buffer(p->out), body,
			     len);
	int rc = kvdraft_node_watch(n, proxy_wait_done, p, &p->w);
	if (rc != KVDRAFT_OK) {
		evhttp_request_free(p->out);
		member_pool_drop(kvd_member_pool(n), p->conn);
		free(p);
		replies->node_error(n, req, t0, rc);
		return;
	}
	if (evhttp_make_request(evcon, p->out, cmd, path) != 0) {
		/* evhttp freed p->out. */
		kvdraft_node_unwatch(n, p->w);
		member_pool_drop(kvd_member_pool(n), p->conn);
		free(p);
		replies->error(n, req, t0, 503, "unavailable",
			       "the leader could not be reached");
	}
}
