/* http_cluster.c - GET /v1/cluster: asks every member for /v1/status over
 * HTTP on the node's loop, bounded and cached, and answers the view. */
#include "http_cluster.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster_view.h"
#include "config.h"
#include "http_util.h"
#include "kv.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "member_pool.h"
#include "metrics.h"

struct waiter {
	struct evhttp_request *req;
	double t0;
};

/* One round of asking the members, and the answer of the last one. A
 * process runs one kvd node, so one of these serves it. */
static struct {
	struct kvdraft_node *n;
	bool in_flight;
	struct cluster_view_member ms[RAFT_MAX_MEMBERS];
	size_t count;
	size_t pending; /* fetches not yet answered */
	struct waiter waiters[HTTP_CLUSTER_WAITERS_MAX];
	size_t n_waiters;
	char *cached; /* JSON text of the last round, malloc'd */
	double cached_at;
	/* The Authorization header of the request that started the round,
	 * sent on with each member's request (empty: none): with auth on, a
	 * member answers /v1/status only to a token, and the caller's is the
	 * one it showed this member. Never logged. */
	char auth[HTTP_CLUSTER_AUTH_MAX + 1];
} cv;

/* One member's /v1/status request. */
struct fetch {
	size_t idx; /* in cv.ms */
	/* The node's shutdown (and its request timeout) while the member
	 * has not answered: a stopping member frees what it started. */
	struct kvdraft_wait *w;
	struct member_conn *conn; /* from the member pool */
	struct evhttp_request *out;
	enum evhttp_request_error error;
	bool failed;
};

static void send_text(struct evhttp_request *req, double t0, int status,
		      const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	struct evbuffer *b = evbuffer_new();
	if (b != NULL)
		evbuffer_add(b, text, strlen(text));
	http_send_reply(req, status, http_reason(status), b);
	if (b != NULL)
		evbuffer_free(b);
	metrics_http(kvd_metrics(cv.n), ROUTE_CLUSTER, status,
		     clock_now_seconds() - t0);
}

/* Every member answered or failed: answer everyone waiting. */
static void finish_round(void)
{
	int status = 200;
	json_t *view = cluster_view_json(cv.ms, cv.count, kvd_config(cv.n)->id);
	char *text = http_json_text(view, &status);
	if (status == 200 && text != NULL) {
		free(cv.cached);
		cv.cached = text;
		cv.cached_at = clock_now_seconds();
	}
	for (size_t i = 0; i < cv.n_waiters; i++) {
		if (text != NULL)
			send_text(cv.waiters[i].req, cv.waiters[i].t0, status,
				  text);
		else
			send_text(cv.waiters[i].req, cv.waiters[i].t0, 500,
				  "{\"error\":\"internal\",\"message\":\"out "
				  "of memory\"}");
	}
	if (text != cv.cached)
		free(text);
	cv.n_waiters = 0;
	cv.in_flight = false;
}

static void fetch_error_cb(enum evhttp_request_error err, void *arg)
{
	struct fetch *f = arg;
	f->error = err;
	f->failed = true;
}

static const char *fetch_error_text(const struct fetch *f)
{
	/* evhttp reports no error kind when the connection cannot be made
	 * (refused, no route): only its callback, without an answer. */
	if (!f->failed)
		return "connection failed";
	switch (f->error) {
	case EVREQ_HTTP_TIMEOUT:
		return "timed out";
	case EVREQ_HTTP_EOF:
		return "connection closed";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "status answer too large";
	default:
		return "connection failed";
	}
}

/* The member answered (resp != NULL with a code) or the request failed. */
static void fetch_done(struct evhttp_request *resp, void *arg)
{
	struct fetch *f = arg;
	struct cluster_view_member *m = &cv.ms[f->idx];
	kvdraft_node_unwatch(cv.n, f->w);
	int code = resp != NULL ? evhttp_request_get_response_code(resp) : 0;
	if (code == 0) {
		cluster_view_fail(m, fetch_error_text(f));
	} else if (code != 200) {
		char why[32];
		snprintf(why, sizeof(why), "answered HTTP %d", code);
		cluster_view_fail(m, why);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(resp);
		size_t len = evbuffer_get_length(in);
		const char *body = (const char *)evbuffer_pullup(in, -1);
		if (body == NULL && len > 0)
			cluster_view_fail(m, "out of memory");
		else
			cluster_view_parse_status(m, body != NULL ? body : "",
						  len);
	}
	/* Kept for the next round after a complete answer on a connection
	 * left open, else freed; either way never from inside the
	 * connection's own callback (member_pool_give()). */
	member_pool_give(kvd_member_pool(cv.n), f->conn, resp);
	free(f);
	if (--cv.pending == 0)
		finish_round();
}

/* The node stops (or its request timeout passed) before the member
 * answered: end the request here, its callback never comes. */
static void fetch_wait_done(void *arg, int err, const void *result)
{
	(void)result;
	struct fetch *f = arg;
	evhttp_cancel_request(f->out);
	member_pool_drop(kvd_member_pool(cv.n), f->conn);
	cluster_view_fail(&cv.ms[f->idx], err == KVDRAFT_ESTOPPING
					      ? "this member is stopping"
					      : "timed out");
	free(f);
	if (--cv.pending == 0)
		finish_round();
}

/* Starts member @i's request; returns 0, or -1 with it marked failed. */
static int fetch_start(size_t i)
{
	struct cluster_view_member *m = &cv.ms[i];
	struct config_addr a;
	if (m->client_url[0] == '\0') {
		cluster_view_fail(m, "no client URL known");
		return -1;
	}
	struct fetch *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		cluster_view_fail(m, "out of memory");
		return -1;
	}
	f->idx = i;
	/* Over HTTPS when the member's client URL is https://, with this
	 * member's client certificate (member_tls.c); an idle connection of
	 * an earlier round when there is one (the page asks every second).
	 * The members are asked at once, each on a connection of its own. */
	f->conn = member_pool_take(kvd_member_pool(cv.n), m->client_url, &a);
	if (f->conn == NULL) {
		free(f);
		cluster_view_fail(m, "client URL not understood or not "
				     "reachable over TLS from here");
		return -1;
	}
	struct evhttp_request *out = evhttp_request_new(fetch_done, f);
	f->out = out;
	if (out == NULL) {
		member_pool_drop(kvd_member_pool(cv.n), f->conn);
		free(f);
		cluster_view_fail(m, "out of memory");
		return -1;
	}
	struct evhttp_connection *evcon = member_conn_evcon(f->conn);
	const struct timeval tv = {0, HTTP_CLUSTER_FETCH_TIMEOUT_MS * 1000};
	evhttp_connection_set_timeout_tv(evcon, &tv);
	evhttp_connection_set_retries(evcon, 0);
	evhttp_connection_set_max_body_size(evcon,
					    CLUSTER_VIEW_STATUS_MAX_BYTES);
	evhttp_request_set_error_cb(out, fetch_error_cb);
	struct evkeyvalq *h = evhttp_request_get_output_headers(out);
	evhttp_add_header(h, "Host", a.host);
	evhttp_add_header(h, "Accept", "application/json");
	if (cv.auth[0] != '\0' &&
	    evhttp_add_header(h, "Authorization", cv.auth) != 0) {
		/* evhttp refuses a value it could not send as one header. */
		evhttp_request_free(out);
		member_pool_drop(kvd_member_pool(cv.n), f->conn);
		free(f);
		cluster_view_fail(m, "authorization not sendable");
		return -1;
	}
	if (kvdraft_node_watch(cv.n, fetch_wait_done, f, &f->w) != KVDRAFT_OK) {
		evhttp_request_free(out);
		member_pool_drop(kvd_member_pool(cv.n), f->conn);
		free(f);
		cluster_view_fail(m, "this member is stopping");
		return -1;
	}
	if (evhttp_make_request(evcon, out, EVHTTP_REQ_GET, "/v1/status") !=
	    0) {
		/* evhttp freed @out. */
		kvdraft_node_unwatch(cv.n, f->w);
		member_pool_drop(kvd_member_pool(cv.n), f->conn);
		free(f);
		cluster_view_fail(m, "connection failed");
		return -1;
	}
	return 0;
}

/* This member's own status, as GET /v1/status answers it. */
static void self_status(struct cluster_view_member *m)
{
	struct raft_status st;
	kvdraft_node_status(cv.n, &st);
	snprintf(m->state, sizeof(m->state), "%s",
		 kvdraft_node_state_name(cv.n));
	m->term = st.term;
	m->leader = st.leader;
	m->commit_index = st.commit;
	m->applied_index = kv_applied_index(kv_app_store(cv.n));
	m->last_index = st.last_index;
	m->reachable = true;
}

/* Keeps @req's Authorization header for the round's requests; one longer
 * than HTTP_CLUSTER_AUTH_MAX is not sent on (the members then answer 401,
 * shown as such). */
static void keep_auth(struct evhttp_request *req)
{
	const char *a = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	size_t len = a != NULL ? strlen(a) : 0;
	if (len > HTTP_CLUSTER_AUTH_MAX)
		len = 0;
	memcpy(cv.auth, a != NULL ? a : "", len);
	cv.auth[len] = '\0';
}

static void start_round(void)
{
	struct kvdraft_member ms[RAFT_MAX_MEMBERS];
	size_t cnt = kvdraft_node_members(cv.n, ms, RAFT_MAX_MEMBERS);
	if (cnt > RAFT_MAX_MEMBERS)
		cnt = RAFT_MAX_MEMBERS;
	raft_id self = kvd_config(cv.n)->id;
	cv.in_flight = true;
	cv.count = cnt;
	for (size_t i = 0; i < cnt; i++) {
		struct cluster_view_member *m = &cv.ms[i];
		memset(m, 0, sizeof(*m));
		m->id = ms[i].id;
		m->voter = ms[i].voter;
		m->self = ms[i].id == self;
		if (strlen(ms[i].app_url) < sizeof(m->client_url))
			memcpy(m->client_url, ms[i].app_url,
			       strlen(ms[i].app_url) + 1);
	}
	/* One hold on the round while requests start, so that an answer
	 * delivered early cannot finish it before every request is out. */
	cv.pending = 1;
	for (size_t i = 0; i < cnt; i++) {
		if (cv.ms[i].self) {
			self_status(&cv.ms[i]);
			continue;
		}
		cv.pending++;
		if (fetch_start(i) != 0)
			cv.pending--;
	}
	if (--cv.pending == 0)
		finish_round();
}

void http_cluster_get(struct kvdraft_node *n, struct evhttp_request *req,
		      double t0)
{
	cv.n = n;
	if (cv.cached != NULL && !cv.in_flight &&
	    (clock_now_seconds() - cv.cached_at) * 1000 <
		HTTP_CLUSTER_CACHE_MS) {
		send_text(req, t0, 200, cv.cached);
		return;
	}
	if (cv.n_waiters == HTTP_CLUSTER_WAITERS_MAX) {
		http_send_error(req, 503, "unavailable",
				"too many requests wait for the cluster view",
				NULL);
		metrics_http(kvd_metrics(n), ROUTE_CLUSTER, 503,
			     clock_now_seconds() - t0);
		return;
	}
	cv.waiters[cv.n_waiters].req = req;
	cv.waiters[cv.n_waiters].t0 = t0;
	cv.n_waiters++;
	if (!cv.in_flight) {
		keep_auth(req);
		start_round();
	}
}
