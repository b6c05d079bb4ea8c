/* kvc_txn_body.c - libkvc's transactions without the network: the
 * builder of kvc.h (kvc_txn_new, kvc_txn_cmp_*, kvc_txn_put/del/...), its
 * request JSON (DESIGN.md §1.7) and the parsing of the answer. */
#include "kvc_txn_body.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The limits of §1.7 (kv.h's KV_TXN_MAX_COMPARES, KV_TXN_MAX_OPS,
 * KV_TXN_LIST_MAX, KV_KEY_MAX; libkvc does not include kv.h). */
#define TXN_MAX_COMPARES 128
#define TXN_MAX_OPS	 128
#define TXN_LIST_MAX	 10000
#define TXN_KEY_MAX	 511

enum { TARGET_MOD = 1, TARGET_VALUE, TARGET_EXISTS };

struct txn_cmp {
	int target;
	enum kvc_cmp_op op;
	char *key;
	void *value; /* TARGET_VALUE */
	size_t len;
	uint64_t number; /* TARGET_MOD: an index; TARGET_EXISTS: 0 or 1 */
};

struct txn_op {
	enum kvc_txn_op_type type;
	char *key; /* the prefix for DEL_PREFIX and LIST */
	void *value;
	size_t len;
	uint64_t lease;
	unsigned limit;
};

/* The builder: about 19 KiB, one allocation. */
struct kvc_txn {
	struct txn_cmp cmps[TXN_MAX_COMPARES];
	size_t n_cmps;
	struct txn_op ops[2][TXN_MAX_OPS];
	size_t n_ops[2];
	int error; /* the first failure of a builder call; 0: none */
};

int kvc_txn_new(struct kvc_txn **out)
{
	if (!out)
		return KVC_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KVC_ENOMEM;
}

void kvc_txn_free(struct kvc_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_cmps; i++) {
		free(t->cmps[i].key);
		free(t->cmps[i].value);
	}
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < t->n_ops[b]; i++) {
			free(t->ops[b][i].key);
			free(t->ops[b][i].value);
		}
	free(t);
}

/* Records the first error of a builder call: kvc_txn_commit() returns
 * it, so that a chain of calls may be checked once. */
static int fail(struct kvc_txn *t, int rc)
{
	if (t && !t->error)
		t->error = rc;
	return rc;
}

/* A key (@prefix: a prefix, which may be empty) the builder takes. */
static bool key_ok(const char *key, bool prefix)
{
	if (!key)
		return false;
	size_t n = strlen(key);
	return (prefix || n > 0) && n <= TXN_KEY_MAX;
}

/* Copies @len bytes of @p (NULL when @len is 0) into *@out. */
static int dup_bytes(const void *p, size_t len, void **out)
{
	*out = NULL;
	if (len == 0)
		return 0;
	*out = malloc(len);
	if (!*out)
		return KVC_ENOMEM;
	memcpy(*out, p, len);
	return 0;
}

static int add_cmp(struct kvc_txn *t, int target, const char *key,
		   enum kvc_cmp_op op, const void *value, size_t len,
		   uint64_t number)
{
	if (!t)
		return KVC_EINVAL;
	if (!key_ok(key, false) || op < KVC_CMP_EQ || op > KVC_CMP_GT ||
	    (len && !value))
		return fail(t, KVC_EINVAL);
	if (t->n_cmps == TXN_MAX_COMPARES)
		return fail(t, KVC_ETOO_LARGE);
	struct txn_cmp *c = &t->cmps[t->n_cmps];
	memset(c, 0, sizeof(*c));
	c->key = strdup(key);
	if (!c->key || dup_bytes(value, len, &c->value) < 0) {
		free(c->key);
		return fail(t, KVC_ENOMEM);
	}
	c->target = target;
	c->op = op;
	c->len = len;
	c->number = number;
	t->n_cmps++;
	return 0;
}

int kvc_txn_cmp_mod(struct kvc_txn *t, const char *key, enum kvc_cmp_op op,
		    uint64_t index)
{
	return add_cmp(t, TARGET_MOD, key, op, NULL, 0, index);
}

int kvc_txn_cmp_value(struct kvc_txn *t, const char *key, enum kvc_cmp_op op,
		      const void *value, size_t len)
{
	return add_cmp(t, TARGET_VALUE, key, op, value, len, 0);
}

int kvc_txn_cmp_exists(struct kvc_txn *t, const char *key, bool exists)
{
	return add_cmp(t, TARGET_EXISTS, key, KVC_CMP_EQ, NULL, 0,
		       exists ? 1 : 0);
}

static int add_op(struct kvc_txn *t, int branch, enum kvc_txn_op_type type,
		  const char *key, const void *value, size_t len,
		  uint64_t lease, unsigned limit)
{
	if (!t)
		return KVC_EINVAL;
	bool prefix = type == KVC_TXN_OP_DEL_PREFIX || type == KVC_TXN_OP_LIST;
	if ((branch != KVC_TXN_SUCCESS && branch != KVC_TXN_FAILURE) ||
	    !key_ok(key, prefix) || (len && !value) ||
	    (type == KVC_TXN_OP_LIST && (limit < 1 || limit > TXN_LIST_MAX)))
		return fail(t, KVC_EINVAL);
	if (t->n_ops[branch] == TXN_MAX_OPS)
		return fail(t, KVC_ETOO_LARGE);
	struct txn_op *o = &t->ops[branch][t->n_ops[branch]];
	memset(o, 0, sizeof(*o));
	o->key = strdup(key);
	if (!o->key || dup_bytes(value, len, &o->value) < 0) {
		free(o->key);
		return fail(t, KVC_ENOMEM);
	}
	o->type = type;
	o->len = len;
	o->lease = lease;
	o->limit = limit;
	t->n_ops[branch]++;
	return 0;
}

int kvc_txn_put(struct kvc_txn *t, int branch, const char *key,
		const void *value, size_t len, uint64_t lease)
{
	return add_op(t, branch, KVC_TXN_OP_PUT, key, value, len, lease, 0);
}

int kvc_txn_del(struct kvc_txn *t, int branch, const char *key)
{
	return add_op(t, branch, KVC_TXN_OP_DEL, key, NULL, 0, 0, 0);
}

int kvc_txn_del_prefix(struct kvc_txn *t, int branch, const char *prefix)
{
	return add_op(t, branch, KVC_TXN_OP_DEL_PREFIX, prefix, NULL, 0, 0, 0);
}

int kvc_txn_get(struct kvc_txn *t, int branch, const char *key)
{
	return add_op(t, branch, KVC_TXN_OP_GET, key, NULL, 0, 0, 0);
}

int kvc_txn_list(struct kvc_txn *t, int branch, const char *prefix,
		 unsigned limit)
{
	return add_op(t, branch, KVC_TXN_OP_LIST, prefix, NULL, 0, 0, limit);
}

char *kvc_txn_body_b64(const void *p, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	const unsigned char *s = p;
	char *out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* Sets @name of @obj to the base64 of @len bytes of @p. 0 or -1. */
static int set_b64(json_t *obj, const char *name, const void *p, size_t len)
{
	char *b = kvc_txn_body_b64(p, len);
	if (!b)
		return -1;
	int rc = json_object_set_new(obj, name, json_string(b));
	free(b);
	return rc;
}

static json_t *cmp_json(const struct txn_cmp *c)
{
	static const char *const ops[] = {"", "==", "!=", "<", ">"};
	static const char *const targets[] = {"", "mod_index", "value",
					      "exists"};
	json_t *o = json_pack("{s:s,s:s,s:s}", "key", c->key, "target",
			      targets[c->target], "op", ops[c->op]);
	if (!o)
		return NULL;
	int rc;
	if (c->target == TARGET_VALUE)
		rc = set_b64(o, "value", c->value, c->len);
	else if (c->target == TARGET_EXISTS)
		rc = json_object_set_new(o, "value",
					 json_boolean(c->number != 0));
	else
		rc = json_object_set_new(o, "value",
					 json_integer((json_int_t)c->number));
	if (rc < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *op_json(const struct txn_op *op)
{
	json_t *in = NULL;
	const char *name = "";
	switch (op->type) {
	case KVC_TXN_OP_PUT:
		name = "put";
		in = json_pack("{s:s}", "key", op->key);
		if (in && set_b64(in, "value", op->value, op->len) < 0) {
			json_decref(in);
			return NULL;
		}
		if (in && op->lease &&
		    json_object_set_new(
			in, "lease", json_integer((json_int_t)op->lease)) < 0) {
			json_decref(in);
			return NULL;
		}
		break;
	case KVC_TXN_OP_DEL:
		name = "delete";
		in = json_pack("{s:s}", "key", op->key);
		break;
	case KVC_TXN_OP_DEL_PREFIX:
		name = "delete_prefix";
		in = json_pack("{s:s}", "prefix", op->key);
		break;
	case KVC_TXN_OP_GET:
		name = "get";
		in = json_pack("{s:s}", "key", op->key);
		break;
	case KVC_TXN_OP_LIST:
		name = "list";
		in = json_pack("{s:s,s:I}", "prefix", op->key, "limit",
			       (json_int_t)op->limit);
		break;
	}
	return in ? json_pack("{s:o}", name, in) : NULL;
}

json_t *kvc_txn_body_request(const struct kvc_txn *t)
{
	json_t *cmps = json_array();
	json_t *br[2] = {json_array(), json_array()};
	json_t *body = NULL;
	if (!cmps || !br[0] || !br[1])
		goto fail;
	for (size_t i = 0; i < t->n_cmps; i++)
		if (json_array_append_new(cmps, cmp_json(&t->cmps[i])) < 0)
			goto fail;
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < t->n_ops[b]; i++)
			if (json_array_append_new(br[b],
						  op_json(&t->ops[b][i])) < 0)
				goto fail;
	body = json_pack("{s:o,s:o,s:o}", "compare", cmps, "success", br[0],
			 "failure", br[1]);
	return body; /* json_pack's "o" took the arrays, also on failure */
fail:
	json_decref(cmps);
	json_decref(br[0]);
	json_decref(br[1]);
	return NULL;
}

void kvc_txn_result_free(struct kvc_txn_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n_results; i++) {
		struct kvc_txn_op_result *r = &res->results[i];
		free(r->key);
		free(r->value);
		kvc_kvs_free(r->kvs, r->n_kvs);
	}
	free(res->results);
	free(res);
}

static int get_u64(json_t *obj, const char *name, uint64_t *out)
{
	return kvc_http_get_u64(obj, name, out);
}

/* A base64 string member @name of @o into *@out (plus a NUL). */
static int get_b64(json_t *o, const char *name, void **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, name));
	if (!s)
		return KVC_EPROTO;
	return kvc_http_b64_decode(s, out, len);
}

/* The list result @o into @r: {"kvs": [{"key","value","index"}], "more"}. */
static int parse_list(json_t *o, struct kvc_txn_op_result *r)
{
	json_t *arr = json_object_get(o, "kvs");
	json_t *more = json_object_get(o, "more");
	if (!json_is_array(arr) || !json_is_boolean(more))
		return KVC_EPROTO;
	r->more = json_is_true(more);
	size_t n = json_array_size(arr);
	r->kvs = calloc(n ? n : 1, sizeof(*r->kvs));
	if (!r->kvs)
		return KVC_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		struct kvc_kv *kv = &r->kvs[i];
		const char *k = json_string_value(json_object_get(e, "key"));
		if (!k || get_u64(e, "index", &kv->index) < 0)
			return KVC_EPROTO;
		r->n_kvs = i + 1; /* the frees see what was filled */
		kv->key = strdup(k);
		if (!kv->key)
			return KVC_ENOMEM;
		int rc = get_b64(e, "value", &kv->value, &kv->value_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One result @o of op @op into @r. */
static int parse_one(json_t *o, const struct txn_op *op,
		     struct kvc_txn_op_result *r)
{
	if (!json_is_object(o))
		return KVC_EPROTO;
	r->type = op->type;
	json_t *v;
	switch (op->type) {
	case KVC_TXN_OP_PUT:
		return get_u64(o, "index", &r->index);
	case KVC_TXN_OP_DEL:
		v = json_object_get(o, "deleted");
		if (!json_is_boolean(v))
			return KVC_EPROTO;
		r->deleted = json_is_true(v);
		return 0;
	case KVC_TXN_OP_DEL_PREFIX:
		return get_u64(o, "deleted", &r->count);
	case KVC_TXN_OP_GET:
		if (get_u64(o, "index", &r->index) < 0)
			return KVC_EPROTO;
		r->key = strdup(op->key);
		if (!r->key)
			return KVC_ENOMEM;
		v = json_object_get(o, "value");
		if (json_is_null(v) || !v) {
			r->found = false;
			return 0;
		}
		r->found = true;
		return get_b64(o, "value", &r->value, &r->value_len);
	case KVC_TXN_OP_LIST:
		return parse_list(o, r);
	}
	return KVC_EPROTO;
}

int kvc_txn_body_result(json_t *j, const struct kvc_txn *t,
			struct kvc_txn_result **res, char *why, size_t whylen)
{
	*res = NULL;
	json_t *s = json_object_get(j, "succeeded");
	json_t *arr = json_object_get(j, "results");
	uint64_t index;
	if (!json_is_boolean(s) || !json_is_array(arr) ||
	    get_u64(j, "index", &index) < 0) {
		snprintf(why, whylen,
			 "transaction answer without "
			 "\"succeeded\", \"index\" or "
			 "\"results\"");
		return KVC_EPROTO;
	}
	int branch = json_is_true(s) ? KVC_TXN_SUCCESS : KVC_TXN_FAILURE;
	size_t n = t->n_ops[branch];
	if (json_array_size(arr) != n) {
		snprintf(why, whylen,
			 "transaction answer with %zu results for %zu ops",
			 json_array_size(arr), n);
		return KVC_EPROTO;
	}
	struct kvc_txn_result *r = calloc(1, sizeof(*r));
	if (!r || !(r->results = calloc(n ? n : 1, sizeof(*r->results)))) {
		free(r);
		return KVC_ENOMEM;
	}
	r->succeeded = branch == KVC_TXN_SUCCESS;
	r->index = index;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		r->n_results = i + 1;
		rc = parse_one(json_array_get(arr, i), &t->ops[branch][i],
			       &r->results[i]);
		if (rc == KVC_EPROTO)
			snprintf(why, whylen,
				 "transaction answer: result %zu is malformed",
				 i);
	}
	if (rc < 0) {
		kvc_txn_result_free(r);
		return rc;
	}
	*res = r;
	return 0;
}

int kvc_txn_body_error(const struct kvc_txn *t)
{
	return t->error;
}
