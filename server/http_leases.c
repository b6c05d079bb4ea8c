/* http_leases.c - POST/GET /v1/leases, GET/DELETE /v1/leases/{id},
 * POST /v1/leases/{id}/keepalive and POST /v1/leases/keepalive (see
 * http_leases.h). */
#include "http_leases.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "http_auth.h"
#include "http_api.h"
#include "http_util.h"
#include "kv.h"
#include "kv_app.h"
#include "leader_proxy.h"
#include "lease_mgr.h"
#include "log.h"
#include "metrics.h"

/* Ids a batch keepalive takes, keys GET /v1/leases/{id} shows, leases a
 * page of GET /v1/leases shows (default, most). */
#define BATCH_MAX    10000
#define KEYS_MAX     10000
#define LIST_DEFAULT 1000
#define LIST_MAX     10000
#define ROUTE	     ROUTE_LEASES

/* A request waiting for the cluster. */
struct lcall {
	struct kvdraft_node *n;
	struct evhttp_request *req;
	double t0;
	enum { KA_ONE, KA_BATCH, GET_ONE, LIST, GRANT, REVOKE } what;
	raft_term term;	     /* keepalives: the term it arrived in */
	uint64_t arrival_ms; /* keepalives */
	uint64_t id;	     /* one lease */
	uint64_t after;	     /* LIST */
	size_t limit;	     /* LIST */
	uint64_t *ids;	     /* KA_BATCH */
	size_t n_ids;
};

static void lcall_free(struct lcall *c)
{
	free(c->ids);
	free(c);
}

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			double t0, int status, const char *code,
			const char *msg)
{
	http_send_error(req, status, code, msg, NULL);
	metrics_http(kvd_metrics(n), ROUTE, status, clock_now_seconds() - t0);
}

static void reply_json(struct kvdraft_node *n, struct evhttp_request *req,
		       double t0, json_t *body, const struct http_u64 *nums,
		       size_t nn)
{
	int status = 200;
	http_send_json_u64(req, status, body, nums, nn);
	metrics_http(kvd_metrics(n), ROUTE, status, clock_now_seconds() - t0);
}

/* The answer for a node error (as the key routes answer them). */
static void reply_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			     double t0, int err)
{
	http_api_node_error(n, req, ROUTE_LEASES, t0, err);
}

static const struct leader_proxy_replies proxy_replies = {
    .route = ROUTE,
    .error = reply_error,
    .node_error = reply_node_error,
};

/* The request's body, pulled up (NUL-free JSON is all we take); "" when
 * empty; NULL, after answering 500, when out of memory. */
static const char *body_of(struct kvdraft_node *n, struct evhttp_request *req,
			   double t0, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	*len = evbuffer_get_length(in);
	const char *body =
	    *len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (body == NULL)
		reply_error(n, req, t0, 500, "internal", "out of memory");
	return body;
}

/* Relays @req to the leader, which alone knows the deadlines. */
static void forward(struct kvdraft_node *n, struct evhttp_request *req,
		    double t0)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	char full[1024];
	if (snprintf(full, sizeof(full), "%s%s%s", path,
		     query != NULL ? "?" : "",
		     query != NULL ? query : "") >= (int)sizeof(full)) {
		reply_error(n, req, t0, 400, "bad_request", "path too long");
		return;
	}
	size_t len;
	const char *body = body_of(n, req, t0, &len);
	if (body == NULL)
		return;
	leader_proxy_forward(n, req, t0, &proxy_replies,
			     evhttp_request_get_command(req), full, body, len);
}

static struct lcall *lcall_new(struct kvdraft_node *n,
			       struct evhttp_request *req, double t0, int what)
{
	struct lcall *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return NULL;
	}
	c->n = n;
	c->req = req;
	c->t0 = t0;
	c->what = what;
	return c;
}

/* ---- answers after the read point ---- */

static void answer_keepalive(struct lcall *c)
{
	uint64_t ttl = 0;
	int rc = lease_mgr_keepalive(kvd_leases(c->n), c->id, c->term,
				     c->arrival_ms, &ttl);
	if (rc == LEASE_MGR_ENOTFOUND) {
		reply_error(c->n, c->req, c->t0, 404, "not_found",
			    "no such lease, or it expired");
	} else if (rc == LEASE_MGR_ENOTLEADER) {
		reply_error(c->n, c->req, c->t0, 503, "unavailable",
			    "leadership moved; retry");
	} else if (rc != 0) {
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    "the store could not be read");
	} else {
		const struct http_u64 nums[] = {{"id", c->id}, {"ttl", ttl}};
		reply_json(c->n, c->req, c->t0, json_object(), nums, 2);
	}
}

static void answer_batch(struct lcall *c)
{
	json_t *alive = json_array(), *gone = json_array();
	struct lease_mgr *lm = kvd_leases(c->n);
	int failed = 0;
	for (size_t i = 0; i < c->n_ids && !failed; i++) {
		uint64_t ttl = 0;
		int rc = lease_mgr_keepalive(lm, c->ids[i], c->term,
					     c->arrival_ms, &ttl);
		if (rc == 0)
			failed = json_array_append_new(
			    alive,
			    json_pack("{s:I, s:I}", "id", (json_int_t)c->ids[i],
				      "ttl", (json_int_t)ttl));
		else if (rc == LEASE_MGR_ENOTFOUND)
			failed = json_array_append_new(
			    gone, json_integer((json_int_t)c->ids[i]));
		else
			failed = rc;
	}
	if (failed == LEASE_MGR_ENOTLEADER)
		reply_error(c->n, c->req, c->t0, 503, "unavailable",
			    "leadership moved; retry");
	else if (failed != 0)
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    "out of memory, or the store could not be read");
	else {
		reply_json(
		    c->n, c->req, c->t0,
		    json_pack("{s:O, s:O}", "leases", alive, "not_found", gone),
		    NULL, 0);
	}
	json_decref(alive);
	json_decref(gone);
}

struct keys_state {
	json_t *arr;
	int failed;
};

static int keys_cb(void *arg, const uint8_t *key, size_t len)
{
	struct keys_state *ks = arg;
	if (json_array_append_new(ks->arr,
				  json_stringn((const char *)key, len)) != 0) {
		ks->failed = 1;
		return 1;
	}
	return 0;
}

static void answer_get(struct lcall *c)
{
	struct kv *kv = kv_app_store(c->n);
	struct kv_lease l;
	int rc = kv_lease_get(kv, c->id, &l);
	if (rc == KV_ENOTFOUND) {
		reply_error(c->n, c->req, c->t0, 404, "not_found",
			    "no such lease");
		return;
	}
	struct keys_state ks = {.arr = json_array()};
	int more = 0;
	int64_t got =
	    rc == 0 ? kv_lease_keys(kv, c->id, KEYS_MAX, keys_cb, &ks, &more)
		    : rc;
	if (got < 0 || ks.failed || ks.arr == NULL) {
		json_decref(ks.arr);
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    got < 0 ? kv_strerror((int)got) : "out of memory");
		return;
	}
	json_t *body = json_pack("{s:o}", "keys", ks.arr);
	if (more)
		json_object_set_new(body, "keys_more", json_true());
	const struct http_u64 nums[] = {
	    {"id", l.id},
	    {"ttl", l.ttl},
	    {"remaining_ms",
	     lease_mgr_remaining_ms(kvd_leases(c->n), l.id, l.ttl)}};
	reply_json(c->n, c->req, c->t0, body, nums, 3);
}

struct list_state {
	struct lease_mgr *lm;
	json_t *arr;
	int failed;
};

static int list_cb(void *arg, const struct kv_lease *l)
{
	struct list_state *ls = arg;
	json_t *o = json_pack(
	    "{s:I, s:I, s:I}", "id", (json_int_t)l->id, "ttl",
	    (json_int_t)l->ttl, "remaining_ms",
	    (json_int_t)lease_mgr_remaining_ms(ls->lm, l->id, l->ttl));
	if (json_array_append_new(ls->arr, o) != 0) {
		ls->failed = 1;
		return 1;
	}
	return 0;
}

static void answer_list(struct lcall *c)
{
	struct list_state ls = {.lm = kvd_leases(c->n), .arr = json_array()};
	int more = 0;
	int64_t rc = ls.arr == NULL
			 ? KV_ENOMEM
			 : kv_lease_list(kv_app_store(c->n), c->after, c->limit,
					 list_cb, &ls, &more);
	if (rc < 0 || ls.failed) {
		json_decref(ls.arr);
		reply_error(c->n, c->req, c->t0, 500, "internal",
			    rc < 0 ? kv_strerror((int)rc) : "out of memory");
		return;
	}
	reply_json(c->n, c->req, c->t0,
		   json_pack("{s:o, s:b}", "leases", ls.arr, "more", more),
		   NULL, 0);
}

static void read_done(void *arg, int err, const void *result)
{
	(void)result;
	struct lcall *c = arg;
	if (err != KVDRAFT_OK)
		reply_node_error(c->n, c->req, c->t0, err);
	else if (c->what == KA_ONE)
		answer_keepalive(c);
	else if (c->what == KA_BATCH)
		answer_batch(c);
	else if (c->what == GET_ONE)
		answer_get(c);
	else
		answer_list(c);
	lcall_free(c);
}

/* On the leader: a read point (ReadIndex: leadership confirmed by a
 * quorum after now, everything committed applied), then the answer; on
 * another member the request goes to the leader. Takes @c. */
static void start_leader_read(struct lcall *c)
{
	raft_term term;
	if (!lease_mgr_leading(kvd_leases(c->n), &term)) {
		forward(c->n, c->req, c->t0);
		lcall_free(c);
		return;
	}
	c->term = term;
	c->arrival_ms = clock_now_ms();
	int rc = kvdraft_node_read(c->n, read_done, c);
	if (rc != KVDRAFT_OK) {
		reply_node_error(c->n, c->req, c->t0, rc);
		lcall_free(c);
	}
}

/* ---- writes: grant and revoke ---- */

static void write_done(void *arg, int err, const void *result)
{
	struct lcall *c = arg;
	const struct kv_result *res = result;
	if (err == KVDRAFT_OK && res->status == KV_STALE_SEQ)
		err = KVD_ESTALE_SEQ;
	else if (err == KVDRAFT_OK && res->status != KV_APPLIED &&
		 res->status != KV_LEASE_NOT_FOUND)
		err = KVDRAFT_EINTERNAL;
	if (err != KVDRAFT_OK) {
		reply_node_error(c->n, c->req, c->t0, err);
	} else if (res->status == KV_LEASE_NOT_FOUND) {
		reply_error(c->n, c->req, c->t0, 404, "not_found",
			    "no such lease");
	} else if (c->what == GRANT) {
		const struct http_u64 nums[] = {{"id", res->lease_id},
						{"ttl", res->lease_ttl}};
		reply_json(c->n, c->req, c->t0, json_object(), nums, 2);
	} else {
		const struct http_u64 nums[] = {{"index", res->index},
						{"deleted", res->count}};
		reply_json(c->n, c->req, c->t0, json_object(), nums, 2);
	}
	lcall_free(c);
}

/* Proposes a lease op whose value is one little-endian u64. */
static void propose(struct lcall *c, uint8_t op, uint64_t arg)
{
	struct kv_cmd cmd = {.op = op};
	const char *msg = NULL;
	if (http_parse_identity(c->req, &cmd.client_id, &cmd.seq, &msg) != 0) {
		reply_error(c->n, c->req, c->t0, 400, "bad_request", msg);
		lcall_free(c);
		return;
	}
	uint8_t val[8];
	for (int b = 0; b < 8; b++)
		val[b] = (uint8_t)(arg >> (8 * b));
	cmd.value = val;
	cmd.value_len = sizeof(val);
	uint8_t *buf;
	size_t len;
	int rc = kv_cmd_encode_alloc(&cmd, &buf, &len);
	if (rc != 0) {
		log_error("cannot encode a lease command: %s", kv_strerror(rc));
		reply_node_error(c->n, c->req, c->t0, KVDRAFT_EINTERNAL);
		lcall_free(c);
		return;
	}
	rc = kvdraft_node_propose(c->n, buf, len, write_done, c);
	free(buf);
	if (rc != KVDRAFT_OK) {
		reply_node_error(c->n, c->req, c->t0, rc);
		lcall_free(c);
	}
}

/* POST /v1/leases {"ttl": S}. */
static void handle_grant(struct kvdraft_node *n, struct evhttp_request *req,
			 double t0)
{
	size_t len;
	const char *body = body_of(n, req, t0, &len);
	if (body == NULL)
		return;
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *ttl_j = json_is_object(j) ? json_object_get(j, "ttl") : NULL;
	json_int_t ttl = json_is_integer(ttl_j) ? json_integer_value(ttl_j) : 0;
	bool one = json_is_object(j) && json_object_size(j) == 1;
	json_decref(j);
	if (!one || ttl < 1 || ttl > (json_int_t)KV_LEASE_TTL_MAX) {
		reply_error(n, req, t0, 400, "bad_request",
			    "the body must be {\"ttl\": SECONDS}, 1..86400");
		return;
	}
	/* The limit against this member's applied store: grants in flight
	 * may pass it by a few. */
	int64_t have = kv_lease_count(kv_app_store(n));
	uint64_t max = kvd_config(n)->max_leases;
	if (have >= 0 && (uint64_t)have >= max) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "the store holds %" PRIu64 " leases (--max-leases): "
			 "revoke some, or raise the limit",
			 (uint64_t)have);
		reply_error(n, req, t0, 409, "conflict", msg);
		return;
	}
	struct lcall *c = lcall_new(n, req, t0, GRANT);
	if (c != NULL)
		propose(c, KV_OP_LEASE_GRANT, (uint64_t)ttl);
}

/* POST /v1/leases/keepalive {"ids": [...]}. */
static void handle_batch(struct kvdraft_node *n, struct evhttp_request *req,
			 double t0, const struct http_auth_caller *caller)
{
	size_t len;
	const char *body = body_of(n, req, t0, &len);
	if (body == NULL)
		return;
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *arr = json_is_object(j) ? json_object_get(j, "ids") : NULL;
	size_t cnt = json_is_array(arr) ? json_array_size(arr) : 0;
	struct lcall *c = NULL;
	const char *msg = NULL;
	if (cnt < 1 || cnt > BATCH_MAX || json_object_size(j) != 1)
		msg = "the body must be {\"ids\": [LEASE_ID, ...]}, 1..10000 "
		      "ids";
	else if ((c = lcall_new(n, req, t0, KA_BATCH)) == NULL)
		goto out;
	else if ((c->ids = malloc(cnt * sizeof(*c->ids))) == NULL) {
		reply_error(n, req, t0, 500, "internal", "out of memory");
		lcall_free(c);
		c = NULL;
		goto out;
	}
	for (size_t i = 0; c != NULL && i < cnt && msg == NULL; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			msg = "lease ids are positive integers";
		else
			c->ids[c->n_ids++] = (uint64_t)json_integer_value(v);
	}
	if (msg != NULL) {
		reply_error(n, req, t0, 400, "bad_request", msg);
		if (c != NULL)
			lcall_free(c);
		goto out;
	}
	for (size_t i = 0; i < c->n_ids; i++)
		if (!http_auth_lease(n, req, ROUTE, t0, caller, c->ids[i])) {
			lcall_free(c);
			goto out;
		}
	start_leader_read(c);
out:
	json_decref(j);
}

/* The id in "/v1/leases/ID..." up to @end: 0 when not a positive u64. */
static uint64_t parse_id(const char *s, size_t len)
{
	uint64_t id;
	return http_parse_u64(s, len, 1, UINT64_MAX, &id) == 0 ? id : 0;
}

static void method_not_allowed(struct kvdraft_node *n,
			       struct evhttp_request *req, double t0,
			       const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  allow);
	reply_error(n, req, t0, 405, "method_not_allowed",
		    "method not allowed on this path");
}

/* GET /v1/leases?after=ID&limit=N. */
static void handle_list(struct kvdraft_node *n, struct evhttp_request *req,
			const char *query, double t0)
{
	struct http_param params[] = {{.name = "after"}, {.name = "limit"}};
	uint64_t after = 0, limit = LIST_DEFAULT;
	const char *msg = NULL;
	if (http_parse_query(query, params, 2) != 0) {
		http_params_free(params, 2);
		reply_error(n, req, t0, 500, "internal", "out of memory");
		return;
	}
	if (params[0].value != NULL &&
	    http_parse_u64(params[0].value, params[0].len, 0, UINT64_MAX,
			   &after) != 0)
		msg = "after must be a lease id";
	else if (params[1].value != NULL &&
		 http_parse_u64(params[1].value, params[1].len, 1, LIST_MAX,
				&limit) != 0)
		msg = "limit must be an integer in [1, 10000]";
	http_params_free(params, 2);
	if (msg != NULL) {
		reply_error(n, req, t0, 400, "bad_request", msg);
		return;
	}
	struct lcall *c = lcall_new(n, req, t0, LIST);
	if (c == NULL)
		return;
	c->after = after;
	c->limit = (size_t)limit;
	start_leader_read(c);
}

void http_leases_handle(struct kvdraft_node *n, struct evhttp_request *req,
			const char *path, const char *query, double t0,
			const struct http_auth_caller *caller)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const size_t plen = strlen(HTTP_LEASES_PATH);
	if (path[plen] == '\0') {
		if (cmd == EVHTTP_REQ_POST)
			handle_grant(n, req, t0);
		else if (cmd == EVHTTP_REQ_GET)
			handle_list(n, req, query, t0);
		else
			method_not_allowed(n, req, t0, "GET, POST");
		return;
	}
	const char *rest = path + plen + 1; /* after "/v1/leases/" */
	if (path[plen] != '/') {
		reply_error(n, req, t0, 404, "not_found", "no such path");
		return;
	}
	if (strcmp(rest, "keepalive") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_batch(n, req, t0, caller);
		else
			method_not_allowed(n, req, t0, "POST");
		return;
	}
	const char *slash = strchr(rest, '/');
	size_t idlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	uint64_t id = parse_id(rest, idlen);
	if (slash != NULL && strcmp(slash, "/keepalive") != 0) {
		reply_error(n, req, t0, 404, "not_found", "no such path");
		return;
	}
	if (id == 0) {
		reply_error(n, req, t0, 400, "bad_request",
			    "a lease id is a positive integer");
		return;
	}
	struct lcall *c;
	if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_DELETE ||
	     cmd == EVHTTP_REQ_POST) &&
	    !http_auth_lease(n, req, ROUTE, t0, caller, id))
		return;
	if (slash != NULL) {
		if (cmd != EVHTTP_REQ_POST) {
			method_not_allowed(n, req, t0, "POST");
		} else if ((c = lcall_new(n, req, t0, KA_ONE)) != NULL) {
			c->id = id;
			start_leader_read(c);
		}
	} else if (cmd == EVHTTP_REQ_GET) {
		if ((c = lcall_new(n, req, t0, GET_ONE)) != NULL) {
			c->id = id;
			start_leader_read(c);
		}
	} else if (cmd == EVHTTP_REQ_DELETE) {
		if ((c = lcall_new(n, req, t0, REVOKE)) != NULL)
			propose(c, KV_OP_LEASE_REVOKE, id);
	} else {
		method_not_allowed(n, req, t0, "GET, DELETE");
	}
}
