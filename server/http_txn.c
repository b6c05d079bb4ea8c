/* http_txn.c - POST /v1/txn and DELETE /v1/kv?prefix=P: the body read,
 * one entry proposed, the answer built from the store's result. */
#include "http_txn.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "http_api.h"
#include "http_auth.h"
#include "http_util.h"
#include "kv.h"
#include "kv_app.h"
#include "kvdraft_node.h"
#include "log.h"
#include "metrics.h"
#include "txn_json.h"

/* A transaction or prefix delete waiting for its entry to be applied. */
struct txn_call {
	struct kvdraft_node *n;
	struct evhttp_request *req;
	enum metrics_route route;
	double t0;
	/* The leases the puts name, for the message of a 404. */
	size_t n_leases;
	uint64_t leases[2 * KV_TXN_MAX_OPS];
};

static void count(struct kvdraft_node *n, enum metrics_route route, int status,
		  double t0)
{
	metrics_http(kvd_metrics(n), route, status, clock_now_seconds() - t0);
}

static void reply_error(struct kvdraft_node *n, struct evhttp_request *req,
			enum metrics_route route, double t0, int status,
			const char *code, const char *msg)
{
	http_send_error(req, status, code, msg, NULL);
	count(n, route, status, t0);
}

/* The answer of an applied entry whose status is not KV_APPLIED. */
static void reply_status(struct txn_call *c, const struct kv_result *res)
{
	char msg[128];
	switch (res->status) {
	case KV_STALE_SEQ:
		http_api_node_error(c->n, c->req, c->route, c->t0,
				    KVD_ESTALE_SEQ);
		return;
	case KV_TOO_LARGE:
		snprintf(msg, sizeof(msg),
			 "the results would take more than %u bytes",
			 KV_TXN_RESULT_MAX);
		reply_error(c->n, c->req, c->route, c->t0, 413, "too_large",
			    msg);
		return;
	case KV_LEASE_NOT_FOUND:
		/* The store says a lease was missing, not which: the one
		 * missing now, read right after the entry was applied. */
		snprintf(msg, sizeof(msg),
			 "a lease a put names does not exist");
		for (size_t i = 0; i < c->n_leases; i++) {
			struct kv_lease l;
			if (kv_lease_get(kv_app_store(c->n), c->leases[i],
					 &l) == KV_ENOTFOUND) {
				snprintf(msg, sizeof(msg),
					 "lease %" PRIu64 " not found",
					 c->leases[i]);
				break;
			}
		}
		reply_error(c->n, c->req, c->route, c->t0, 404, "not_found",
			    msg);
		return;
	default:
		log_error("entry %" PRIu64 ": unexpected status %u of a "
			  "transaction or prefix delete",
			  res->entry_index, (unsigned)res->status);
		http_api_node_error(c->n, c->req, c->route, c->t0,
				    KVDRAFT_EINTERNAL);
		return;
	}
}

/* Appends @len bytes of a key as a JSON string. Keys are valid UTF-8
 * (kv_key_valid()): only what JSON must escape is escaped. */
static int add_string(struct evbuffer *out, const uint8_t *s, size_t len)
{
	if (evbuffer_add(out, "\"", 1) != 0)
		return -1;
	size_t from = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
			continue;
		char esc[8];
		if (s[i] == '"' || s[i] == '\\')
			snprintf(esc, sizeof(esc), "\\%c", s[i]);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
		if (evbuffer_add(out, s + from, i - from) != 0 ||
		    evbuffer_add(out, esc, strlen(esc)) != 0)
			return -1;
		from = i + 1;
	}
	if (evbuffer_add(out, s + from, len - from) != 0 ||
	    evbuffer_add(out, "\"", 1) != 0)
		return -1;
	return 0;
}

/* Appends the base64 of @len bytes as a JSON string, written in place. */
static int add_base64(struct evbuffer *out, const uint8_t *p, size_t len)
{
	size_t b64 = http_base64_len(len);
	struct evbuffer_iovec v;
	if (evbuffer_add(out, "\"", 1) != 0)
		return -1;
	if (b64 > 0) {
		if (evbuffer_reserve_space(out, (ev_ssize_t)b64, &v, 1) != 1 ||
		    v.iov_len < b64)
			return -1;
		http_base64_to(v.iov_base, p, len);
		v.iov_len = b64;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return -1;
	}
	return evbuffer_add(out, "\"", 1);
}

/* {"key": K, "value": B64|null, "index": M}: a get's result (@found 0:
 * null) or an entry of a list. */
static int add_kv(struct evbuffer *out, const struct kv_txn_item *it, int found)
{
	if (evbuffer_add(out, "{\"key\":", 7) != 0 ||
	    add_string(out, it->key, it->key_len) != 0 ||
	    evbuffer_add(out, ",\"value\":", 9) != 0)
		return -1;
	if (found ? add_base64(out, it->value, it->value_len) != 0
		  : evbuffer_add(out, "null", 4) != 0)
		return -1;
	return evbuffer_add_printf(out, ",\"index\":%" PRIu64 "}", it->index) <
		       0
		   ? -1
		   : 0;
}

/* Appends {"succeeded", "index", "results": [...]} and a newline, read
 * from the results blob @blob: one pass, each value's base64 written once
 * into the answer's buffer (a result may hold 4 MiB). 0, or -1 when the
 * blob does not decode or memory runs out. */
static int results_json(struct evbuffer *out, int succeeded, uint64_t index,
			const uint8_t *blob, size_t len)
{
	struct kv_txn_reader rd;
	struct kv_txn_item it;
	assert(out != NULL && (blob != NULL || len == 0));
	kv_txn_result_begin(&rd, blob, len);
	if (evbuffer_add_printf(
		out, "{\"succeeded\":%s,\"index\":%" PRIu64 ",\"results\":[",
		succeeded ? "true" : "false", index) < 0)
		return -1;
	int rc;
	size_t n = 0;
	while ((rc = kv_txn_result_next(&rd, &it)) == 1) {
		int bad = n++ > 0 && evbuffer_add(out, ",", 1) != 0;
		switch (bad ? 0 : it.type) {
		case KV_TXN_PUT:
			bad = evbuffer_add_printf(
				  out, "{\"index\":%" PRIu64 "}", it.index) < 0;
			break;
		case KV_TXN_DELETE:
			bad =
			    evbuffer_add_printf(out, "{\"deleted\":%s}",
						it.flag ? "true" : "false") < 0;
			break;
		case KV_TXN_DELETE_PREFIX:
			bad = evbuffer_add_printf(out,
						  "{\"deleted\":%" PRIu64 "}",
						  it.count) < 0;
			break;
		case KV_TXN_GET:
			bad = add_kv(out, &it, it.flag);
			break;
		case KV_TXN_LIST: {
			uint64_t items = it.count;
			int more = it.flag;
			bad = evbuffer_add(out, "{\"kvs\":[", 8) != 0;
			for (uint64_t k = 0; k < items && !bad; k++) {
				bad =
				    kv_txn_result_next(&rd, &it) != 1 ||
				    it.type != KV_TXN_ITEM_KV ||
				    (k > 0 && evbuffer_add(out, ",", 1) != 0) ||
				    add_kv(out, &it, 1) != 0;
			}
			bad = bad ||
			      evbuffer_add_printf(out, "],\"more\":%s}",
						  more ? "true" : "false") < 0;
			break;
		}
		default: /* a KV item outside a list, an unknown type */
			bad = 1;
			break;
		}
		if (bad)
			return -1;
	}
	if (rc != 0)
		return -1;
	return evbuffer_add(out, "]}\n", 3);
}

/* A duplicate whose first application was another kind of write (the
 * client used one X-Kv-Seq twice): its result is not this request's. */
static int other_write(const struct txn_call *c, const struct kv_result *res)
{
	uint8_t want = c->route == ROUTE_TXN ? KV_OP_TXN : KV_OP_DELETE_PREFIX;
	if (res->op == 0 || res->op == want)
		return 0;
	reply_error(c->n, c->req, c->route, c->t0, 409, "conflict",
		    "this X-Kv-Client and X-Kv-Seq were used for another "
		    "kind of write");
	return 1;
}

/* True when @c's write was applied as this kind of write; otherwise it
 * has answered (the node's error, the store's refusal, another write's
 * result). */
static bool applied(struct txn_call *c, int err, const struct kv_result *res)
{
	if (err != KVDRAFT_OK) {
		http_api_node_error(c->n, c->req, c->route, c->t0, err);
		return false;
	}
	if (res->status != KV_APPLIED) {
		reply_status(c, res);
		return false;
	}
	return !other_write(c, res);
}

static void txn_done(void *arg, int err, const void *result)
{
	struct txn_call *c = arg;
	const struct kv_result *res = result;
	if (applied(c, err, res)) {
		struct evbuffer *out = evbuffer_new();
		if (out == NULL || results_json(out, res->succeeded, res->index,
						res->txn, res->txn_len) != 0) {
			log_error("entry %" PRIu64 ": the transaction's "
				  "results do not make an answer",
				  res->entry_index);
			http_api_node_error(c->n, c->req, c->route, c->t0,
					    KVDRAFT_EINTERNAL);
		} else {
			evhttp_add_header(
			    evhttp_request_get_output_headers(c->req),
			    "Content-Type", "application/json");
			http_send_reply(c->req, 200, "OK", out);
			count(c->n, c->route, 200, c->t0);
		}
		if (out != NULL)
			evbuffer_free(out);
	}
	free(c);
}

static void prefix_done(void *arg, int err, const void *result)
{
	struct txn_call *c = arg;
	const struct kv_result *res = result;
	if (applied(c, err, res)) {
		/* As a key's DELETE answers: {"deleted", "index"}. */
		const struct http_u64 nums[] = {{"deleted", res->count},
						{"index", res->index}};
		http_send_json_u64(c->req, 200, json_object(), nums, 2);
		count(c->n, c->route, 200, c->t0);
	}
	free(c);
}

/* Proposes the command @cmd for @c (taken), or answers. */
static void propose(struct txn_call *c, const struct kv_cmd *cmd,
		    kvdraft_done_fn done)
{
	uint8_t *buf;
	size_t len;
	int rc = kv_cmd_encode_alloc(cmd, &buf, &len);
	if (rc != 0) {
		log_error("cannot encode a command: %s", kv_strerror(rc));
		http_api_node_error(c->n, c->req, c->route, c->t0,
				    KVDRAFT_EINTERNAL);
		free(c);
		return;
	}
	rc = kvdraft_node_propose(c->n, buf, len, done, c);
	free(buf);
	if (rc != KVDRAFT_OK) {
		http_api_node_error(c->n, c->req, c->route, c->t0, rc);
		free(c);
	}
}

static struct txn_call *call_new(struct kvdraft_node *n,
				 struct evhttp_request *req,
				 enum metrics_route route, double t0)
{
	struct txn_call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		reply_error(n, req, route, t0, 500, "internal",
			    "out of memory");
		return NULL;
	}
	c->n = n;
	c->req = req;
	c->route = route;
	c->t0 = t0;
	return c;
}

/* The body's size, from Content-Length when given (so that a body too
 * large is refused on its header, whatever evhttp read of it) and from
 * what was read. */
static int body_too_large(struct evhttp_request *req, uint64_t max)
{
	const char *cl = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Length");
	uint64_t declared = 0;
	if (cl != NULL &&
	    http_parse_u64(cl, strlen(cl), 0, UINT64_MAX, &declared) == 0 &&
	    declared > max)
		return 1;
	return evbuffer_get_length(evhttp_request_get_input_buffer(req)) > max;
}

void http_txn_post(struct kvdraft_node *n, struct evhttp_request *req,
		   double t0, const struct http_auth_caller *caller)
{
	const enum metrics_route route = ROUTE_TXN;
	const struct config *cfg = kvd_config(n);
	char why[512];
	if (body_too_large(req, cfg->max_txn_bytes)) {
		snprintf(why, sizeof(why),
			 "the body is larger than %" PRIu64
			 " bytes (--max-txn-bytes)",
			 cfg->max_txn_bytes);
		reply_error(n, req, route, t0, 413, "too_large", why);
		return;
	}
	struct kv_cmd cmd = {.op = KV_OP_TXN};
	const char *msg = NULL;
	if (http_parse_identity(req, &cmd.client_id, &cmd.seq, &msg) != 0) {
		reply_error(n, req, route, t0, 400, "bad_request", msg);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
	struct kv_txn *t = malloc(sizeof(*t));
	struct txn_call *c = call_new(n, req, route, t0);
	if (body == NULL || t == NULL || c == NULL) {
		if (c != NULL)
			reply_error(n, req, route, t0, 500, "internal",
				    "out of memory");
		free(t);
		free(c);
		return;
	}
	struct txn_json keep;
	int rc = txn_json_parse(body, len, cfg->max_value_bytes, t, &keep, why,
				sizeof(why));
	/* Every key it names within the token's prefix, or 403: never
	 * silently narrowed (DESIGN.md §1.8). */
	if (rc == TXN_JSON_OK && !http_auth_txn(n, req, route, t0, caller, t)) {
		txn_json_free(&keep);
		free(t);
		free(c);
		return;
	}
	uint8_t *value = NULL;
	if (rc == TXN_JSON_OK) {
		cmd.value_len = kv_txn_size(t);
		value = malloc(cmd.value_len > 0 ? cmd.value_len : 1);
		int64_t w = value != NULL
				? kv_txn_encode(t, value, cmd.value_len)
				: KV_ENOMEM;
		if (w != (int64_t)cmd.value_len) {
			/* A body kv_txn_check() passed always encodes. */
			log_error("a transaction does not encode: %s",
				  kv_strerror((int)w));
			rc = TXN_JSON_NOMEM;
		}
		cmd.value = value;
	}
	for (int b = 0; b < 2 && rc == TXN_JSON_OK; b++)
		for (size_t i = 0; i < t->n_ops[b]; i++)
			if (t->ops[b][i].lease != 0) {
				assert(c->n_leases < 2 * KV_TXN_MAX_OPS);
				c->leases[c->n_leases++] = t->ops[b][i].lease;
			}
	txn_json_free(&keep);
	free(t);
	if (rc == TXN_JSON_BAD)
		reply_error(n, req, route, t0, 400, "bad_request", why);
	else if (rc == TXN_JSON_TOO_LARGE)
		reply_error(n, req, route, t0, 413, "too_large", why);
	else if (rc != TXN_JSON_OK)
		reply_error(n, req, route, t0, 500, "internal",
			    "out of memory, or the transaction does not "
			    "encode");
	if (rc != TXN_JSON_OK) {
		free(value);
		free(c);
		return;
	}
	propose(c, &cmd, txn_done);
	free(value);
}

void http_delete_prefix(struct kvdraft_node *n, struct evhttp_request *req,
			const char *query, double t0)
{
	const enum metrics_route route = ROUTE_KV_DELETE_PREFIX;
	struct http_param p[] = {{.name = "prefix"}, {.name = "cas"}};
	if (http_parse_query(query, p, 2) != 0) {
		http_params_free(p, 2);
		reply_error(n, req, route, t0, 500, "internal",
			    "out of memory");
		return;
	}
	struct kv_cmd cmd = {.op = KV_OP_DELETE_PREFIX,
			     .key = (const uint8_t *)p[0].value,
			     .key_len = p[0].len};
	const char *msg = NULL;
	/* Required: a DELETE of /v1/kv with no prefix is more likely a
	 * mistake than a wish to delete every key, which says prefix=. */
	if (p[0].value == NULL)
		msg = "DELETE /v1/kv takes prefix=P (an empty prefix= deletes "
		      "every key)";
	else if (p[1].value != NULL)
		/* Refused rather than ignored: a client that meant a
		 * condition would delete every key under P without one. */
		msg = "a prefix delete takes no cas (POST /v1/txn compares)";
	else if (p[0].len > 0 && !kv_key_valid(cmd.key, cmd.key_len))
		msg = "prefixes are at most 511 bytes of UTF-8 without control "
		      "characters";
	else
		http_parse_identity(req, &cmd.client_id, &cmd.seq, &msg);
	struct txn_call *c = msg == NULL ? call_new(n, req, route, t0) : NULL;
	if (msg != NULL)
		reply_error(n, req, route, t0, 400, "bad_request", msg);
	else if (c != NULL)
		propose(c, &cmd, prefix_done);
	http_params_free(p, 2);
}
