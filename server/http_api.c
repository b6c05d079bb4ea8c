/* http_api.c - the public HTTP API (docs/API.md): routing, validation,
 * and the answers of writes and reads once the cluster decided them. */
#include "http_api.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_auth.h"
#include "http_snapshot.h"
#include "http_util.h"
#include "leader_proxy.h"
#include "kv.h"
#include "kv_app.h"
#include "log.h"
#include "metrics.h"
#include "kvdraft_node.h"
#include "config.h"
#include "http_members.h"
#include "http_leases.h"
#include "http_cluster.h"
#include "http_txn.h"
#include "http_ui.h"
#include "http_watch.h"
#include "kvd_metrics.h"
#include "clock.h"
#include "util.h"

#define KV_PREFIX	   "/v1/kv/"
#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX	   10000
/* Encoded bytes of one list page's entries, beyond which it ends early
 * with "more": true (always at least one key). A page is built on the
 * event loop, so its size bounds how long heartbeats and other requests
 * wait behind it: 1 MiB costs a few milliseconds, where 16 MiB of values
 * (22 MB of base64) took half a second. */
#define LIST_PAGE_BYTES (1024u * 1024)
/* JSON punctuation and the index of one entry, beyond its key and value:
 * {"key":,"value":"","index":18446744073709551615}, */
#define LIST_ENTRY_OVERHEAD 48
/* Room in a request body above --max-value-bytes, so a value just over the
 * limit still gets our JSON 413 rather than evhttp's bare one. */
#define BODY_SLACK_BYTES  (64 * 1024)
#define MAX_HEADERS_BYTES (64 * 1024)
#define IDLE_TIMEOUT_S	  120

/* A value the API accepts is one the command codec encodes and every
 * member decodes (kv.h). */
_Static_assert(CONFIG_MAX_VALUE_BYTES_LIMIT <= KV_VALUE_MAX,
	       "the largest --max-value-bytes is a value the codec takes");
_Static_assert(CONFIG_MAX_VALUE_BYTES_LIMIT + BODY_SLACK_BYTES <= INT32_MAX,
	       "the request body limit is an ev_ssize_t on every platform");
_Static_assert(CONFIG_MAX_TXN_BYTES_LIMIT + BODY_SLACK_BYTES <= INT32_MAX,
	       "the request body limit is an ev_ssize_t on every platform");

/* A request waiting for the cluster (a write, a linearizable read or a
 * leadership transfer): the argument of its completion callback. */
struct call {
	struct kvdraft_node *n;
	raft_id target; /* transfers: the member to lead */
	struct evhttp_request *req;
	enum metrics_route route;
	double t0;
	/* Reads: what to read once the read index is applied. */
	uint8_t *key;
	size_t key_len;
	uint8_t *prefix;
	size_t prefix_len;
	uint8_t *after;
	size_t after_len;
	size_t limit;
	int stale;
	/* Reads: the caller, checked again before answering when the auth
	 * state changed meanwhile (a blocking read waits up to 10 min). */
	struct http_auth_hold auth;
};

static void count(struct kvdraft_node *n, enum metrics_route route, int status,
		  double t0)
{
	metrics_http(kvd_metrics(n), route, status, clock_now_seconds() - t0);
}

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			enum metrics_route route, double t0, int status,
			const char *code, const char *msg, json_t *extra)
{
	http_send_error(req, status, code, msg, extra);
	count(n, route, status, t0);
}

static void reply_json(struct kvdraft_node *n, struct evhttp_request *req,
		       enum metrics_route route, double t0, int status,
		       json_t *body)
{
	http_send_json(req, status, body);
	count(n, route, status, t0);
}

static void reply_json_u64(struct kvdraft_node *n, struct evhttp_request *req,
			   enum metrics_route route, double t0, int status,
			   json_t *body, const struct http_u64 *nums,
			   size_t nnums)
{
	http_send_json_u64(req, status, body, nums, nnums);
	count(n, route, status, t0);
}

/* The answer for a node_* error code. */
static void reply_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			     enum metrics_route route, double t0, int err)
{
	switch (err) {
	case KVDRAFT_ETOO_LARGE:
		reply_error(n, req, route, t0, 413, "too_large",
			    kvd_strerror(err), NULL);
		break;
	case KVDRAFT_ETIMEOUT:
		reply_error(n, req, route, t0, 504, "timeout",
			    "no outcome within --request-timeout-ms; the "
			    "write may still be applied",
			    NULL);
		break;
	case KVD_ESTALE_SEQ:
		reply_error(n, req, route, t0, 409, "conflict",
			    kvd_strerror(err), NULL);
		break;
	case KVDRAFT_EINVAL:
		reply_error(n, req, route, t0, 400, "bad_request",
			    kvd_strerror(err), NULL);
		break;
	case KVDRAFT_EINTERNAL:
		reply_error(n, req, route, t0, 500, "internal",
			    kvd_strerror(err), NULL);
		break;
	default: /* no leader, busy, stopping, unavailable */
		reply_error(n, req, route, t0, 503, "unavailable",
			    kvd_strerror(err), NULL);
		break;
	}
}

void http_api_node_error(struct kvdraft_node *n, struct evhttp_request *req,
			 enum metrics_route route, double t0, int err)
{
	reply_node_error(n, req, route, t0, err);
}

static void call_free(struct call *c)
{
	free(c->key);
	free(c->prefix);
	free(c->after);
	free(c);
}

/* ---- members and status ---- */

static void handle_status(struct kvdraft_node *n, struct evhttp_request *req,
			  double t0)
{
	struct raft_status st;
	kvdraft_node_status(n, &st);
	raft_index applied = kv_applied_index(kv_app_store(n));
	/* Terms and indexes are unsigned 64-bit numbers: written by hand,
	 * as jansson would print those above INT64_MAX as negative. */
	const struct http_u64 nums[] = {
	    {"id", kvd_config(n)->id},
	    {"term", st.term},
	    {"leader", st.leader},
	    {"commit_index", st.commit},
	    {"applied_index", applied},
	    {"last_index", st.last_index},
	    {"snapshot_index", kvdraft_node_snapshot_index(n)},
	};
	json_t *body =
	    json_pack("{s:s, s:s, s:o}", "state", kvdraft_node_state_name(n),
		      "leader_client_url", kvd_leader_client_url(n), "members",
		      kvd_members_json(n));
	reply_json_u64(n, req, ROUTE_STATUS, t0, 200, body, nums,
		       sizeof(nums) / sizeof(nums[0]));
}

static void handle_metrics(struct kvdraft_node *n, struct evhttp_request *req,
			   double t0)
{
	struct evbuffer *out = evbuffer_new();
	if (out == NULL) {
		reply_error(n, req, ROUTE_METRICS, t0, 500, "internal",
			    "out of memory", NULL);
		return;
	}
	/* Count this request first so the page includes itself. */
	count(n, ROUTE_METRICS, 200, t0);
	struct kvdraft_node_stats st = {.size = sizeof(st)};
	kvdraft_node_stats(n, &st);
	metrics_render(kvd_metrics(n), &st, out);
	http_watch_metrics(n, out);
	kvd_metrics_render(n, out);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "text/plain; version=0.0.4");
	http_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* ---- reads ---- */

struct list_state {
	struct evbuffer *out; /* the entries of "kvs", comma-separated */
	size_t n;	      /* entries so far */
	int failed;
	int full; /* stopped at LIST_PAGE_BYTES: more keys match */
};

/* Appends one {"key", "value", "index"} entry of a list page, written by
 * hand into the answer: a JSON tree of a page would cost a copy of each
 * value and a second pass over it, on the loop. */
static int list_cb(void *arg, const uint8_t *key, size_t keylen,
		   const uint8_t *value, size_t len, uint64_t mod_index)
{
	struct list_state *ls = arg;
	/* The key through jansson: it escapes what JSON needs escaped. */
	json_t *kj = json_stringn((const char *)key, keylen);
	char *ktext = kj != NULL ? json_dumps(kj, JSON_ENCODE_ANY) : NULL;
	json_decref(kj);
	if (ktext == NULL) {
		ls->failed = 1;
		return 1;
	}
	size_t b64len = http_base64_len(len);
	size_t klen = strlen(ktext);
	size_t entry = klen + b64len + LIST_ENTRY_OVERHEAD;
	if (ls->n > 0 &&
	    evbuffer_get_length(ls->out) + entry > LIST_PAGE_BYTES) {
		free(ktext);
		ls->full = 1;
		return 1;
	}
	char idx[32];
	int idxlen = snprintf(idx, sizeof(idx), "%" PRIu64 "}", mod_index);
	struct evbuffer_iovec v;
	int ok = (ls->n == 0 || evbuffer_add(ls->out, ",", 1) == 0) &&
		 evbuffer_add(ls->out, "{\"key\":", 7) == 0 &&
		 evbuffer_add(ls->out, ktext, klen) == 0 &&
		 evbuffer_add(ls->out, ",\"value\":\"", 10) == 0;
	free(ktext);
	if (ok && b64len > 0) {
		ok = evbuffer_reserve_space(ls->out, (ev_ssize_t)b64len, &v,
					    1) == 1 &&
		     v.iov_len >= b64len;
		if (ok) {
			http_base64_to(v.iov_base, value, len);
			v.iov_len = b64len;
			ok = evbuffer_commit_space(ls->out, &v, 1) == 0;
		}
	}
	ok = ok && evbuffer_add(ls->out, "\",\"index\":", 10) == 0 &&
	     evbuffer_add(ls->out, idx, (size_t)idxlen) == 0;
	if (!ok) {
		ls->failed = 1;
		return 1;
	}
	ls->n++;
	return 0;
}

/* X-Kv-Index: the applied index the answer was read at (lists, absent
 * keys): every change up to it is in the answer, so it is the wait_index
 * of the next blocking read (a key's own answer gives its mod index). */
static void add_applied_index(struct kvdraft_node *n,
			      struct evhttp_request *req)
{
	char idx[32];
	snprintf(idx, sizeof(idx), "%" PRIu64,
		 kv_applied_index(kv_app_store(n)));
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Kv-Index",
			  idx);
}

/* Answers a list: {"kvs": [...], "more": B}. */
static void serve_list(struct kvdraft_node *n, struct evhttp_request *req,
		       enum metrics_route route, double t0, struct call *c)
{
	struct list_state ls = {.out = evbuffer_new()};
	struct evbuffer *page = evbuffer_new();
	int more = 0;
	int64_t rc = KV_ENOMEM;
	if (ls.out != NULL && page != NULL)
		rc =
		    kv_list(kv_app_store(n), c->prefix, c->prefix_len, c->after,
			    c->after_len, c->limit, list_cb, &ls, &more);
	if (rc == KV_ESTOPPED && ls.full) {
		rc = 0;
		more = 1;
	}
	const char *tail = more ? "],\"more\":true}\n" : "],\"more\":false}\n";
	if (rc >= 0 && !ls.failed &&
	    (evbuffer_add(page, "{\"kvs\":[", 8) != 0 ||
	     evbuffer_add_buffer(page, ls.out) != 0 ||
	     evbuffer_add(page, tail, strlen(tail)) != 0))
		ls.failed = 1;
	if (rc < 0 || ls.failed) {
		const char *why =
		    rc < 0 ? kv_strerror((int)rc) : "out of memory";
		log_error("kv_list: %s", why);
		reply_error(n, req, route, t0, 500, "internal", why, NULL);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Content-Type", "application/json");
		add_applied_index(n, req);
		http_send_reply(req, 200, "OK", page);
		count(n, route, 200, t0);
	}
	if (ls.out != NULL)
		evbuffer_free(ls.out);
	if (page != NULL)
		evbuffer_free(page);
}

/* Reads the local store and answers (stale reads, and linearizable reads
 * once their read index is applied). */
static void serve_read(struct kvdraft_node *n, struct evhttp_request *req,
		       enum metrics_route route, double t0, struct call *c)
{
	if (!http_auth_recheck(n, req, route, t0, &c->auth))
		return;
	if (route == ROUTE_KV_GET) {
		uint8_t *val = NULL;
		size_t len = 0;
		uint64_t mod = 0;
		int rc = kv_get(kv_app_store(n), c->key, c->key_len, &val, &len,
				&mod);
		if (rc == KV_ENOTFOUND) {
			/* The state read is the applied index's: the N of a
			 * blocking read that waits for the key to appear. */
			add_applied_index(n, req);
			reply_error(n, req, route, t0, 404, "not_found",
				    "no such key", NULL);
			return;
		}
		if (rc != 0) {
			log_error("kv_get: %s", kv_strerror(rc));
			reply_error(n, req, route, t0, 500, "internal",
				    kv_strerror(rc), NULL);
			return;
		}
		struct evbuffer *out = evbuffer_new();
		if (out == NULL ||
		    (len > 0 && evbuffer_add(out, val, len) != 0)) {
			free(val);
			if (out != NULL)
				evbuffer_free(out);
			reply_error(n, req, route, t0, 500, "internal",
				    "out of memory", NULL);
			return;
		}
		free(val);
		char idx[32];
		snprintf(idx, sizeof(idx), "%" PRIu64, mod);
		struct evkeyvalq *h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "Content-Type",
				  "application/octet-stream");
		evhttp_add_header(h, "X-Kv-Index", idx);
		http_send_reply(req, 200, "OK", out);
		evbuffer_free(out);
		count(n, route, 200, t0);
		return;
	}
	serve_list(n, req, route, t0, c);
}

static void read_done(void *arg, int err, const void *result)
{
	(void)result;
	struct call *c = arg;
	if (err == KVDRAFT_OK)
		serve_read(c->n, c->req, c->route, c->t0, c);
	else
		reply_node_error(c->n, c->req, c->route, c->t0, err);
	call_free(c);
}

/* Stale reads are served at once; others wait for a read index. Takes
 * ownership of @c. */
static void start_read(struct kvdraft_node *n, struct call *c, int stale);

/* A blocking read's wait is over: the read as usual. */
static void wait_ready(void *arg)
{
	struct call *c = arg;
	start_read(c->n, c, c->stale);
}

/* ?wait_index=N[&wait=D]: @c is read once the key (or a key under the
 * prefix) changed after N, or D passed (http_watch_wait()); without
 * wait_index at once. Takes ownership of @c. */
static void start_wait_or_read(struct kvdraft_node *n, struct call *c,
			       int stale, const struct http_param *wi,
			       const struct http_param *wt)
{
	uint64_t after = 0, wait_ms = HTTP_WAIT_DEFAULT_MS;
	const char *msg = NULL;
	if (wi->value == NULL && wt->value != NULL)
		msg = "wait needs wait_index";
	else if (wi->value != NULL &&
		 http_parse_u64(wi->value, wi->len, 0, INT64_MAX - 1, &after) !=
		     0)
		msg = "wait_index must be an index";
	else if (wt->value != NULL &&
		 http_parse_wait(wt->value, wt->len, &wait_ms) != 0)
		msg = "wait must be a duration of at most 600s: digits and "
		      "ms, s or m (30s, 500ms, 5m)";
	if (msg != NULL) {
		reply_error(n, c->req, c->route, c->t0, 400, "bad_request", msg,
			    NULL);
		call_free(c);
		return;
	}
	if (wi->value == NULL) {
		start_read(n, c, stale);
		return;
	}
	if (wait_ms > kvd_config(n)->max_wait_ms)
		wait_ms = kvd_config(n)->max_wait_ms;
	c->stale = stale;
	bool exact = c->route == ROUTE_KV_GET;
	if (http_watch_wait(n, exact ? c->key : c->prefix,
			    exact ? c->key_len : c->prefix_len, exact, after,
			    wait_ms, wait_ready, c) != 0) {
		reply_error(n, c->req, c->route, c->t0, 500, "internal",
			    "out of memory", NULL);
		call_free(c);
	}
}

static void start_read(struct kvdraft_node *n, struct call *c, int stale)
{
	if (stale) {
		serve_read(n, c->req, c->route, c->t0, c);
		call_free(c);
		return;
	}
	int rc = kvdraft_node_read(n, read_done, c);
	if (rc != KVDRAFT_OK) {
		reply_node_error(n, c->req, c->route, c->t0, rc);
		call_free(c);
	}
}

/* ---- writes ---- */

/* Encodes @cmd into a malloc'd buffer, its value from @value when not
 * NULL: one copy of the value, whatever the evbuffer's chunks (the node
 * writes the identity into the header, and the core copies it once). */
static int encode_command(const struct kv_cmd *cmd, struct evbuffer *value,
			  uint8_t **out, size_t *len)
{
	if (value == NULL)
		return kv_cmd_encode_alloc(cmd, out, len);
	if (evbuffer_get_length(value) != cmd->value_len)
		return KV_EINVAL;
	size_t size = kv_cmd_size(cmd);
	uint8_t *buf = malloc(size);
	if (buf == NULL)
		return KV_ENOMEM;
	int64_t w = kv_cmd_encode_head(cmd, buf, size);
	if (w < 0) {
		free(buf);
		return (int)w;
	}
	size_t at = KV_CMD_HEADER_SIZE + cmd->key_len;
	if (cmd->value_len != 0 &&
	    evbuffer_copyout(value, buf + at, cmd->value_len) !=
		(ev_ssize_t)cmd->value_len) {
		free(buf);
		return KV_ENOMEM;
	}
	*out = buf;
	*len = size;
	return 0;
}

static void write_done(void *arg, int err, const void *result)
{
	struct call *c = arg;
	struct kvdraft_node *n = c->n;
	const struct kv_result *res = result;
	/* A command applied: its outcome is the store's. */
	if (err == KVDRAFT_OK && res->status == KV_STALE_SEQ)
		err = KVD_ESTALE_SEQ;
	else if (err == KVDRAFT_OK && res->status != KV_APPLIED &&
		 res->status != KV_CAS_FAILED &&
		 res->status != KV_LEASE_NOT_FOUND)
		err = KVDRAFT_EINTERNAL;
	if (err != KVDRAFT_OK) {
		reply_node_error(n, c->req, c->route, c->t0, err);
	} else if (res->status == KV_LEASE_NOT_FOUND) {
		reply_error(n, c->req, c->route, c->t0, 404, "not_found",
			    "no such lease", NULL);
	} else if (res->status == KV_CAS_FAILED) {
		reply_error(
		    n, c->req, c->route, c->t0, 412, "cas_failed",
		    "the key's mod index is not the one given in cas",
		    json_pack("{s:I}", "index", (json_int_t)res->mod_index));
	} else {
		const struct http_u64 idx = {"index", res->index};
		json_t *body =
		    c->route == ROUTE_KV_DELETE
			? json_pack("{s:b}", "deleted", res->deleted != 0)
			: json_object();
		reply_json_u64(n, c->req, c->route, c->t0, 200, body, &idx, 1);
	}
	call_free(c);
}

static void start_write(struct kvdraft_node *n, struct evhttp_request *req,
			enum metrics_route route, double t0, const uint8_t *key,
			size_t key_len, const struct http_param *cas,
			const struct http_param *lease)
{
	struct kv_cmd cmd = {.op = route == ROUTE_KV_PUT ? KV_OP_PUT
							 : KV_OP_DELETE,
			     .key = key,
			     .key_len = key_len};
	const char *msg = NULL;
	if (cas->value != NULL) {
		if (http_parse_u64(cas->value, cas->len, 0, UINT64_MAX,
				   &cmd.cas) != 0) {
			reply_error(n, req, route, t0, 400, "bad_request",
				    "cas must be a non-negative integer", NULL);
			return;
		}
		cmd.has_cas = 1;
	}
	/* ?lease=L attaches the key to lease L; a PUT without it detaches
	 * the key (DESIGN.md §1.6). */
	if (lease->value != NULL &&
	    (route != ROUTE_KV_PUT ||
	     http_parse_u64(lease->value, lease->len, 1, UINT64_MAX,
			    &cmd.lease) != 0)) {
		reply_error(n, req, route, t0, 400, "bad_request",
			    "lease must be a lease id (a positive integer), "
			    "on a PUT",
			    NULL);
		return;
	}
	if (http_parse_identity(req, &cmd.client_id, &cmd.seq, &msg) != 0) {
		reply_error(n, req, route, t0, 400, "bad_request", msg, NULL);
		return;
	}
	/* A PUT's value stays in the request's buffer: encode_command()
	 * copies it once, straight into the command. */
	struct evbuffer *value = NULL;
	if (route == ROUTE_KV_PUT) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		if (len > kvd_config(n)->max_value_bytes) {
			char text[128];
			snprintf(text, sizeof(text),
				 "the value is larger than %" PRIu64 " bytes",
				 kvd_config(n)->max_value_bytes);
			reply_error(n, req, route, t0, 413, "too_large", text,
				    NULL);
			return;
		}
		value = in;
		cmd.value_len = len;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	c->n = n;
	c->req = req;
	c->route = route;
	c->t0 = t0;
	uint8_t *buf;
	size_t len;
	int rc = encode_command(&cmd, value, &buf, &len);
	if (rc != 0) {
		log_error("cannot encode a command: %s", kv_strerror(rc));
		reply_node_error(n, req, route, t0, KVDRAFT_EINTERNAL);
		call_free(c);
		return;
	}
	rc = kvdraft_node_propose(n, buf, len, write_done, c);
	free(buf);
	if (rc != KVDRAFT_OK) {
		reply_node_error(n, req, route, t0, rc);
		call_free(c);
	}
}

/* ---- leadership transfer ---- */

static void transfer_done(void *arg, int err, const void *result)
{
	(void)result;
	struct call *c = arg;
	if (err == KVDRAFT_OK) {
		reply_json(c->n, c->req, c->route, c->t0, 200,
			   json_pack("{s:I}", "leader", (json_int_t)c->target));
	} else if (err == KVDRAFT_ETIMEOUT) {
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "member %" PRIu64 " did not take over within the "
			 "election timeout; the old leader resumes",
			 (uint64_t)c->target);
		reply_error(c->n, c->req, c->route, c->t0, 504, "timeout", msg,
			    NULL);
	} else {
		reply_node_error(c->n, c->req, c->route, c->t0, err);
	}
	call_free(c);
}

/* Answers of a transfer request relayed to the leader. */
static void transfer_proxy_error(struct kvdraft_node *n,
				 struct evhttp_request *req, double t0,
				 int status, const char *code, const char *msg)
{
	reply_error(n, req, ROUTE_LEADER_TRANSFER, t0, status, code, msg, NULL);
}

static void transfer_proxy_node_error(struct kvdraft_node *n,
				      struct evhttp_request *req, double t0,
				      int err)
{
	reply_node_error(n, req, ROUTE_LEADER_TRANSFER, t0, err);
}

static const struct leader_proxy_replies transfer_proxy = {
    .route = ROUTE_LEADER_TRANSFER,
    .error = transfer_proxy_error,
    .node_error = transfer_proxy_node_error,
};

static void forward_transfer(struct kvdraft_node *n, struct evhttp_request *req,
			     double t0, const void *body, size_t len)
{
	leader_proxy_forward(n, req, t0, &transfer_proxy, EVHTTP_REQ_POST,
			     "/v1/leader/transfer", body, len);
}

/* POST /v1/leader/transfer {"to": N}: 200 {"leader": N} once N leads. */
static void handle_transfer(struct kvdraft_node *n, struct evhttp_request *req,
			    double t0)
{
	const enum metrics_route route = ROUTE_LEADER_TRANSFER;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	if (body == NULL) {
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *to_j = json_is_object(j) ? json_object_get(j, "to") : NULL;
	json_int_t to = json_is_integer(to_j) ? json_integer_value(to_j) : 0;
	json_decref(j);
	if (to <= 0) {
		reply_error(n, req, route, t0, 400, "bad_request",
			    "the body must be {\"to\": MEMBER_ID}", NULL);
		return;
	}
	if (!kvd_is_voter(n, (raft_id)to)) {
		reply_error(n, req, route, t0, 400, "bad_request",
			    "no voting member has that id", NULL);
		return;
	}
	struct raft_status st;
	kvdraft_node_status(n, &st);
	if (st.leader == (raft_id)to &&
	    (st.role == RAFT_LEADER || st.role == RAFT_FOLLOWER)) {
		reply_json(n, req, route, t0, 200,
			   json_pack("{s:I}", "leader", to));
		return;
	}
	if (st.role != RAFT_LEADER) {
		/* Answered 503 when relayed here already. */
		forward_transfer(n, req, t0, body, len);
		return;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	c->n = n;
	c->req = req;
	c->route = route;
	c->t0 = t0;
	c->target = (raft_id)to;
	int rc =
	    kvdraft_node_transfer_leadership(n, (raft_id)to, transfer_done, c);
	if (rc == KVDRAFT_ENOTLEADER) {
		call_free(c);
		forward_transfer(n, req, t0, body, len);
	} else if (rc != KVDRAFT_OK) {
		reply_node_error(n, req, route, t0, rc);
		call_free(c);
	}
}

/* ---- routing ---- */

static void method_not_allowed(struct kvdraft_node *n,
			       struct evhttp_request *req,
			       enum metrics_route route, double t0,
			       const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  allow);
	reply_error(n, req, route, t0, 405, "method_not_allowed",
		    "method not allowed on this path", NULL);
}

static const char *consistency_error(const struct http_param *p, int *stale)
{
	*stale = 0;
	if (p->value == NULL || strcmp(p->value, "linearizable") == 0)
		return NULL;
	if (strcmp(p->value, "stale") == 0) {
		*stale = 1;
		return NULL;
	}
	return "consistency must be stale or linearizable";
}

static void handle_key(struct kvdraft_node *n, struct evhttp_request *req,
		       enum evhttp_cmd_type cmd, const char *raw_key,
		       const char *query, double t0,
		       const struct http_auth_caller *caller)
{
	enum metrics_route route;
	switch (cmd) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		route = ROUTE_KV_GET;
		break;
	case EVHTTP_REQ_PUT:
		route = ROUTE_KV_PUT;
		break;
	case EVHTTP_REQ_DELETE:
		route = ROUTE_KV_DELETE;
		break;
	default:
		method_not_allowed(n, req, ROUTE_OTHER, t0, "GET, PUT, DELETE");
		return;
	}
	size_t key_len = 0;
	/* Percent-decoding of a path: "+" stays "+". */
	char *key = evhttp_uridecode(raw_key, 0, &key_len);
	struct http_param params[] = {{.name = "cas"},
				      {.name = "consistency"},
				      {.name = "wait_index"},
				      {.name = "wait"},
				      {.name = "lease"}};
	const size_t np = 5;
	if (key == NULL || http_parse_query(query, params, np) != 0) {
		free(key);
		http_params_free(params, np);
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	/* A new key holds no control character, C1 ones included; reads and
	 * deletes take any key the codec accepts, so keys stored before C1
	 * characters were refused stay reachable. */
	if (route == ROUTE_KV_PUT
		? !kv_key_allowed((const uint8_t *)key, key_len)
		: !kv_key_valid((const uint8_t *)key, key_len)) {
		reply_error(n, req, route, t0, 400, "bad_request",
			    "keys are 1-511 bytes of UTF-8 without control "
			    "characters",
			    NULL);
		goto out;
	}
	if (route == ROUTE_KV_GET) {
		int stale;
		const char *msg = consistency_error(&params[1], &stale);
		if (msg != NULL) {
			reply_error(n, req, route, t0, 400, "bad_request", msg,
				    NULL);
			goto out;
		}
		struct call *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			reply_error(n, req, route, t0, 500, "internal",
				    "out of memory", NULL);
			goto out;
		}
		c->n = n;
		c->req = req;
		c->route = route;
		c->t0 = t0;
		http_auth_hold(caller, &c->auth);
		c->key = (uint8_t *)key;
		c->key_len = key_len;
		key = NULL;
		start_wait_or_read(n, c, stale, &params[2], &params[3]);
		goto out;
	}
	start_write(n, req, route, t0, (const uint8_t *)key, key_len,
		    &params[0], &params[4]);
out:
	free(key);
	http_params_free(params, np);
}

static uint8_t *take_param(struct http_param *p, size_t *len)
{
	uint8_t *v = (uint8_t *)p->value;
	*len = v != NULL ? p->len : 0;
	p->value = NULL;
	return v;
}

static void handle_list(struct kvdraft_node *n, struct evhttp_request *req,
			const char *query, double t0,
			const struct http_auth_caller *caller)
{
	const enum metrics_route route = ROUTE_KV_LIST;
	struct http_param params[] = {
	    {.name = "prefix"},	     {.name = "after"},	     {.name = "limit"},
	    {.name = "consistency"}, {.name = "wait_index"}, {.name = "wait"}};
	const size_t np = 6;
	uint64_t limit = LIST_LIMIT_DEFAULT;
	int stale = 0;
	const char *msg = NULL;
	if (http_parse_query(query, params, np) != 0) {
		http_params_free(params, np);
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	if (params[2].value != NULL &&
	    http_parse_u64(params[2].value, params[2].len, 1, LIST_LIMIT_MAX,
			   &limit) != 0)
		msg = "limit must be an integer in [1, 10000]";
	else if ((params[0].value != NULL && params[0].len > KV_KEY_MAX) ||
		 (params[1].value != NULL && params[1].len > KV_KEY_MAX))
		msg = "prefix and after are at most 511 bytes";
	else
		msg = consistency_error(&params[3], &stale);
	if (msg != NULL) {
		http_params_free(params, np);
		reply_error(n, req, route, t0, 400, "bad_request", msg, NULL);
		return;
	}
	struct call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		http_params_free(params, np);
		reply_error(n, req, route, t0, 500, "internal", "out of memory",
			    NULL);
		return;
	}
	c->n = n;
	c->req = req;
	c->route = route;
	c->t0 = t0;
	http_auth_hold(caller, &c->auth);
	c->prefix = take_param(&params[0], &c->prefix_len);
	c->after = take_param(&params[1], &c->after_len);
	c->limit = (size_t)limit;
	start_wait_or_read(n, c, stale, &params[4], &params[5]);
	http_params_free(params, np);
}

/* Requests whose framing cannot be trusted, refused before routing with
 * 400 and a closed connection (the bytes after them are no request):
 * more than one Content-Length (evhttp reads the body by the first), and
 * an HTTP/1.0 PUT without one (its value would be taken as empty rather
 * than read to the end of the connection). Returns the message, or NULL
 * when the framing is sound. */
static const char *framing_error(struct evhttp_request *req,
				 enum evhttp_cmd_type cmd)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	int lengths = 0;
	for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
		if (evutil_ascii_strcasecmp(kv->key, "Content-Length") == 0)
			lengths++;
	if (lengths > 1)
		return "more than one Content-Length header";
	const char *te = evhttp_find_header(h, "Transfer-Encoding");
	if (cmd == EVHTTP_REQ_PUT && lengths == 0 && te == NULL &&
	    req->major == 1 && req->minor == 0)
		return "a PUT needs a Content-Length header";
	return NULL;
}

/* The route a request is counted under when auth refuses it before its
 * route runs. */
static enum metrics_route route_of(const char *path, enum evhttp_cmd_type cmd)
{
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	if (strncmp(path, KV_PREFIX, strlen(KV_PREFIX)) == 0)
		return get			  ? ROUTE_KV_GET
		       : cmd == EVHTTP_REQ_PUT	  ? ROUTE_KV_PUT
		       : cmd == EVHTTP_REQ_DELETE ? ROUTE_KV_DELETE
						  : ROUTE_OTHER;
	if (strcmp(path, "/v1/kv") == 0)
		return get			  ? ROUTE_KV_LIST
		       : cmd == EVHTTP_REQ_DELETE ? ROUTE_KV_DELETE_PREFIX
						  : ROUTE_OTHER;
	if (strcmp(path, "/v1/txn") == 0)
		return ROUTE_TXN;
	if (strcmp(path, "/v1/watch") == 0)
		return ROUTE_WATCH;
	if (strncmp(path, HTTP_LEASES_PATH, strlen(HTTP_LEASES_PATH)) == 0)
		return ROUTE_LEASES;
	if (strncmp(path, HTTP_AUTH_PATH, strlen(HTTP_AUTH_PATH)) == 0)
		return ROUTE_AUTH;
	if (strcmp(path, "/v1/status") == 0)
		return ROUTE_STATUS;
	if (strcmp(path, "/v1/members") == 0)
		return ROUTE_MEMBERS;
	if (strcmp(path, "/v1/leader/transfer") == 0)
		return ROUTE_LEADER_TRANSFER;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_METRICS;
	return ROUTE_OTHER;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct kvdraft_node *n = arg;
	double t0 = clock_now_seconds();
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	if (path == NULL)
		path = "";
	struct evkeyvalq *out_h = evhttp_request_get_output_headers(req);
	if (cmd == EVHTTP_REQ_CONNECT) {
		/* No route takes CONNECT. evhttp adds no Content-Length to an
		 * answer to it and never closes the connection after it
		 * (it might be a tunnel): http_send_json's own length is what
		 * tells the client where the answer ends. */
		method_not_allowed(n, req, ROUTE_OTHER, t0,
				   "GET, PUT, DELETE, POST, HEAD");
		return;
	}
	const char *framing = framing_error(req, cmd);
	if (framing != NULL) {
		evhttp_add_header(out_h, "Connection", "close");
		reply_error(n, req, ROUTE_OTHER, t0, 400, "bad_request",
			    framing, NULL);
		return;
	}
	/* Every route passes here: 401 without a valid token when auth is
	 * on, 403 when the token's role or prefix does not allow it. */
	struct http_auth_caller caller;
	if (!http_auth_check(n, req, cmd, path, query, route_of(path, cmd), t0,
			     &caller))
		return;

	if (strncmp(path, KV_PREFIX, strlen(KV_PREFIX)) == 0) {
		handle_key(n, req, cmd, path + strlen(KV_PREFIX), query, t0,
			   &caller);
	} else if (strcmp(path, "/v1/kv") == 0) {
		if (get)
			handle_list(n, req, query, t0, &caller);
		else if (cmd == EVHTTP_REQ_DELETE)
			http_delete_prefix(n, req, query, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0,
					   "GET, DELETE");
	} else if (strcmp(path, "/v1/txn") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			http_txn_post(n, req, t0, &caller);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "POST");
	} else if (strcmp(path, "/v1/watch") == 0) {
		if (cmd == EVHTTP_REQ_GET)
			http_watch_open(n, req, query, t0, &caller);
		else
			method_not_allowed(n, req, ROUTE_WATCH, t0, "GET");
	} else if (strncmp(path, HTTP_LEASES_PATH, strlen(HTTP_LEASES_PATH)) ==
		       0 &&
		   (path[strlen(HTTP_LEASES_PATH)] == '\0' ||
		    path[strlen(HTTP_LEASES_PATH)] == '/')) {
		http_leases_handle(n, req, path, query, t0, &caller);
	} else if (strncmp(path, HTTP_AUTH_PATH, strlen(HTTP_AUTH_PATH)) == 0 &&
		   (path[strlen(HTTP_AUTH_PATH)] == '\0' ||
		    path[strlen(HTTP_AUTH_PATH)] == '/')) {
		http_auth_handle(n, req, path, t0);
	} else if (strcmp(path, "/v1/status") == 0) {
		if (get)
			handle_status(n, req, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "GET");
	} else if (strcmp(path, "/v1/cluster") == 0) {
		if (get)
			http_cluster_get(n, req, t0);
		else
			method_not_allowed(n, req, ROUTE_CLUSTER, t0, "GET");
	} else if (strcmp(path, "/v1/members") == 0) {
		if (get)
			reply_json(
			    n, req, ROUTE_MEMBERS, t0, 200,
			    json_pack("{s:o}", "members", kvd_members_json(n)));
		else if (cmd == EVHTTP_REQ_POST)
			http_members_post(n, req, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0,
					   "GET, POST");
	} else if (strncmp(path, "/v1/members/", 12) == 0 && path[12] != 0 &&
		   strchr(path + 12, '/') == NULL) {
		if (cmd == EVHTTP_REQ_DELETE)
			http_members_delete(n, req, path + 12, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "DELETE");
	} else if (strcmp(path, "/v1/leader/transfer") == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_transfer(n, req, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "POST");
	} else if (strcmp(path, "/v1/snapshot") == 0) {
		if (get) {
			int st = http_snapshot_get(n, req, t0);
			if (st != 0)
				count(n, ROUTE_OTHER, st, t0);
		} else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "GET");
	} else if (strcmp(path, "/healthz") == 0) {
		if (get)
			reply_json(n, req, ROUTE_HEALTHZ, t0, 200,
				   json_pack("{s:s}", "status", "ok"));
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "GET");
	} else if (strcmp(path, "/readyz") == 0) {
		if (!get)
			method_not_allowed(n, req, ROUTE_OTHER, t0, "GET");
		else if (kvdraft_node_ready(n))
			reply_json(n, req, ROUTE_READYZ, t0, 200,
				   json_pack("{s:s}", "status", "ready"));
		else
			reply_error(n, req, ROUTE_READYZ, t0, 503,
				    "unavailable",
				    "no leader known, or not caught up with "
				    "the commit index",
				    NULL);
	} else if (strcmp(path, "/metrics") == 0) {
		if (get)
			handle_metrics(n, req, t0);
		else
			method_not_allowed(n, req, ROUTE_OTHER, t0, "GET");
	} else if (http_ui_path(path)) {
		count(n, ROUTE_UI, http_ui_serve(req, path), t0);
	} else {
		reply_error(n, req, ROUTE_OTHER, t0, 404, "not_found",
			    "no such path", NULL);
	}
}

void http_api_attach(struct evhttp *http, struct kvdraft_node *n)
{
	const struct config *cfg = kvd_config(n);
	/* The largest body a route takes: a PUT's value or a transaction;
	 * each route checks its own limit and answers a JSON 413. */
	uint64_t body_max = cfg->max_value_bytes > cfg->max_txn_bytes
				? cfg->max_value_bytes
				: cfg->max_txn_bytes;
	evhttp_set_max_body_size(http,
				 (ev_ssize_t)(body_max + BODY_SLACK_BYTES));
	evhttp_set_max_headers_size(http, MAX_HEADERS_BYTES);
	evhttp_set_timeout(http, IDLE_TIMEOUT_S);
	/* Every method evhttp knows reaches us, so that wrong ones get our
	 * JSON 405 rather than evhttp's bare 501. */
	evhttp_set_allowed_methods(
	    http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		      EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		      EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, handle, n);
}
