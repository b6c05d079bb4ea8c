/* txn_json.c - POST /v1/txn's JSON body read into a struct kv_txn. */
#include "txn_json.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the parse is and what it keeps; @why gets the one line. */
struct parse {
	struct txn_json *keep;
	size_t body_len; /* bounds every decoded value's total */
	uint64_t max_value;
	char *why;
	size_t whylen;
};

#define KEY_RULE "keys are 1-511 bytes of UTF-8 without control characters"
#define PREFIX_RULE                                                            \
	"prefixes are at most 511 bytes of UTF-8 without control characters"

static int fail(struct parse *p, int status, const char *where, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/* Writes "@where: <fmt>" (or just <fmt> when @where is NULL) to @p->why. */
static int fail(struct parse *p, int status, const char *where, const char *fmt,
		...)
{
	if (p->why == NULL || p->whylen == 0)
		return status;
	int at = 0;
	if (where != NULL) {
		at = snprintf(p->why, p->whylen, "%s: ", where);
		if (at < 0 || (size_t)at >= p->whylen)
			return status;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why + at, p->whylen - (size_t)at, fmt, ap);
	va_end(ap);
	return status;
}

static int b64_digit(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int64_t txn_json_base64_decode(const char *s, size_t len, uint8_t *out)
{
	if (len % 4 != 0)
		return -1;
	size_t w = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int d[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			d[k] = b64_digit(s[i + k]);
			if (d[k] >= 0) {
				if (pad > 0) /* a digit after "=" */
					return -1;
				continue;
			}
			/* "=" only in the last group, at its last two places.
			 */
			if (s[i + k] != '=' || !last || k < 2)
				return -1;
			d[k] = 0;
			pad++;
		}
		uint32_t v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
			     (uint32_t)d[2] << 6 | (uint32_t)d[3];
		/* The bits padding leaves unused are zero: one text per byte
		 * string, as the encoder writes it. */
		if ((pad == 2 && (v & 0xffff) != 0) ||
		    (pad == 1 && (v & 0xff) != 0))
			return -1;
		out[w++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[w++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[w++] = (uint8_t)v;
	}
	return (int64_t)w;
}

/* The member of @obj not in @names (NULL-terminated), or NULL. */
static const char *unknown_field(json_t *obj, const char *const *names)
{
	const char *name;
	json_t *v;
	json_object_foreach(obj, name, v)
	{
		(void)v;
		size_t i = 0;
		while (names[i] != NULL && strcmp(names[i], name) != 0)
			i++;
		if (names[i] == NULL)
			return name;
	}
	return NULL;
}

/* An object with no member outside @names. */
static int check_object(struct parse *p, json_t *obj, const char *where,
			const char *what, const char *const *names)
{
	if (!json_is_object(obj))
		return fail(p, TXN_JSON_BAD, where, "must be an object (%s)",
			    what);
	const char *bad = unknown_field(obj, names);
	if (bad != NULL)
		return fail(p, TXN_JSON_BAD, where,
			    "unknown field \"%.64s\" (%s)", bad, what);
	return 0;
}

/* The member @field of @obj, NULL when absent; *@rc says whether that is
 * a failure (@required). */
static json_t *member(struct parse *p, json_t *obj, const char *where,
		      const char *field, bool required, int *rc)
{
	json_t *v = json_object_get(obj, field);
	*rc = 0;
	if (v == NULL && required)
		*rc = fail(p, TXN_JSON_BAD, where, "\"%s\" is required", field);
	return v;
}

/* A string member @field of @obj: a key (kv_key_allowed() when @put,
 * else kv_key_valid()), or with @prefix a prefix (empty, or valid). */
static int get_key(struct parse *p, json_t *obj, const char *where,
		   const char *field, bool put, bool prefix, bool required,
		   const uint8_t **key, size_t *key_len)
{
	int rc;
	json_t *v = member(p, obj, where, field, required, &rc);
	*key = (const uint8_t *)"";
	*key_len = 0;
	if (v == NULL)
		return rc;
	if (!json_is_string(v))
		return fail(p, TXN_JSON_BAD, where, "\"%s\" must be a string",
			    field);
	const uint8_t *s = (const uint8_t *)json_string_value(v);
	size_t n = json_string_length(v);
	bool ok = prefix && n == 0 ? true
		  : put		   ? kv_key_allowed(s, n)
				   : kv_key_valid(s, n);
	if (!ok)
		return fail(p, TXN_JSON_BAD, where, "\"%s\": %s", field,
			    prefix ? PREFIX_RULE : KEY_RULE);
	*key = s;
	*key_len = n;
	return 0;
}

/* A base64 string member @field of @obj, decoded into the kept bytes. */
static int get_bytes(struct parse *p, json_t *obj, const char *where,
		     const char *field, const uint8_t **out, size_t *out_len)
{
	int rc;
	json_t *v = member(p, obj, where, field, true, &rc);
	if (v == NULL)
		return rc;
	if (!json_is_string(v))
		return fail(p, TXN_JSON_BAD, where,
			    "\"%s\" must be a base64 string", field);
	struct txn_json *k = p->keep;
	size_t n = json_string_length(v);
	if (k->bytes == NULL) {
		/* Every decoded value is shorter than its text in the body:
		 * one buffer of the body's size holds them all. */
		k->cap = p->body_len > 0 ? p->body_len : 1;
		k->bytes = malloc(k->cap);
		if (k->bytes == NULL)
			return fail(p, TXN_JSON_NOMEM, NULL, "out of memory");
	}
	/* A JSON string is no longer than its text, and the texts of the
	 * values are disjoint parts of the body. */
	assert(k->used <= k->cap && n / 4 * 3 <= k->cap - k->used);
	int64_t w =
	    txn_json_base64_decode(json_string_value(v), n, k->bytes + k->used);
	if (w < 0)
		return fail(p, TXN_JSON_BAD, where,
			    "\"%s\" must be base64 (RFC 4648, padded, no "
			    "whitespace)",
			    field);
	*out = k->bytes + k->used;
	*out_len = (size_t)w;
	k->used += (size_t)w;
	return 0;
}

/* An integer member @field of @obj in [@lo, @hi]; absent: @def unless
 * @required. */
static int get_uint(struct parse *p, json_t *obj, const char *where,
		    const char *field, uint64_t lo, uint64_t hi, bool required,
		    uint64_t def, uint64_t *out)
{
	int rc;
	json_t *v = member(p, obj, where, field, required, &rc);
	*out = def;
	if (v == NULL)
		return rc;
	json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
	if (!json_is_integer(v) || x < 0 || (uint64_t)x < lo ||
	    (uint64_t)x > hi)
		return fail(p, TXN_JSON_BAD, where,
			    "\"%s\" must be an integer in [%llu, %llu]", field,
			    (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)x;
	return 0;
}

static int parse_compare(struct parse *p, json_t *j, const char *where,
			 struct kv_compare *c)
{
	static const char *const fields[] = {"key", "target", "op", "value",
					     NULL};
	int rc = check_object(
	    p, j, where, "a compare has key, target, op and value", fields);
	if (rc == 0)
		rc = get_key(p, j, where, "key", false, false, true, &c->key,
			     &c->key_len);
	if (rc != 0)
		return rc;
	const char *target = json_string_value(json_object_get(j, "target"));
	const char *op = json_string_value(json_object_get(j, "op"));
	if (target == NULL)
		return fail(p, TXN_JSON_BAD, where,
			    "\"target\" must be \"mod_index\", \"value\" or "
			    "\"exists\"");
	if (strcmp(target, "mod_index") == 0)
		c->target = KV_CMP_MOD;
	else if (strcmp(target, "value") == 0)
		c->target = KV_CMP_VALUE;
	else if (strcmp(target, "exists") == 0)
		c->target = KV_CMP_EXISTS;
	else
		return fail(p, TXN_JSON_BAD, where,
			    "\"target\" must be \"mod_index\", \"value\" or "
			    "\"exists\"");
	if (op == NULL)
		c->op = 0;
	else if (strcmp(op, "==") == 0)
		c->op = KV_CMP_EQ;
	else if (strcmp(op, "!=") == 0)
		c->op = KV_CMP_NE;
	else if (strcmp(op, "<") == 0)
		c->op = KV_CMP_LT;
	else if (strcmp(op, ">") == 0)
		c->op = KV_CMP_GT;
	else
		c->op = 0;
	if (c->op == 0)
		return fail(p, TXN_JSON_BAD, where,
			    "\"op\" must be \"==\", \"!=\", \"<\" or \">\"");
	json_t *v = json_object_get(j, "value");
	switch (c->target) {
	case KV_CMP_MOD:
		return get_uint(p, j, where, "value", 0, INT64_MAX, true, 0,
				&c->number);
	case KV_CMP_VALUE:
		return get_bytes(p, j, where, "value", &c->value,
				 &c->value_len);
	default:
		if (c->op != KV_CMP_EQ && c->op != KV_CMP_NE)
			return fail(p, TXN_JSON_BAD, where,
				    "target \"exists\" takes \"==\" and "
				    "\"!=\" only");
		if (!json_is_boolean(v))
			return fail(p, TXN_JSON_BAD, where,
				    "\"value\" of target \"exists\" must be "
				    "true or false");
		c->number = json_is_true(v) ? 1 : 0;
		return 0;
	}
}

static int parse_op(struct parse *p, json_t *j, const char *where,
		    struct kv_txn_op *op)
{
	static const char *const names[] = {"put", "delete", "delete_prefix",
					    "get", "list",   NULL};
	static const char *const put_f[] = {"key", "value", "lease", NULL};
	static const char *const key_f[] = {"key", NULL};
	static const char *const prefix_f[] = {"prefix", NULL};
	static const char *const list_f[] = {"prefix", "limit", NULL};
	const char *what = "an op is one of put, delete, delete_prefix, get, "
			   "list";
	if (!json_is_object(j) || json_object_size(j) != 1)
		return fail(p, TXN_JSON_BAD, where,
			    "must be an object of one member (%s)", what);
	int rc = check_object(p, j, where, what, names);
	if (rc != 0)
		return rc;
	const char *name = json_object_iter_key(json_object_iter(j));
	json_t *body = json_object_iter_value(json_object_iter(j));
	char at[96];
	snprintf(at, sizeof(at), "%s.%s", where, name);
	uint64_t limit;
	if (strcmp(name, "put") == 0) {
		op->type = KV_TXN_PUT;
		rc = check_object(p, body, at, "put has key, value, lease",
				  put_f);
		if (rc == 0)
			rc = get_key(p, body, at, "key", true, false, true,
				     &op->key, &op->key_len);
		if (rc == 0)
			rc = get_bytes(p, body, at, "value", &op->value,
				       &op->value_len);
		if (rc == 0 && op->value_len > p->max_value)
			return fail(p, TXN_JSON_TOO_LARGE, at,
				    "the value is larger than %llu bytes",
				    (unsigned long long)p->max_value);
		if (rc == 0)
			rc = get_uint(p, body, at, "lease", 1, INT64_MAX, false,
				      0, &op->lease);
	} else if (strcmp(name, "delete") == 0 || strcmp(name, "get") == 0) {
		op->type = name[0] == 'd' ? KV_TXN_DELETE : KV_TXN_GET;
		rc = check_object(p, body, at,
				  op->type == KV_TXN_GET ? "get has key"
							 : "delete has key",
				  key_f);
		if (rc == 0)
			rc = get_key(p, body, at, "key", false, false, true,
				     &op->key, &op->key_len);
	} else if (strcmp(name, "delete_prefix") == 0) {
		/* Required, even when empty: "" deletes every key, which a
		 * body must say. */
		op->type = KV_TXN_DELETE_PREFIX;
		rc = check_object(p, body, at, "delete_prefix has prefix",
				  prefix_f);
		if (rc == 0)
			rc = get_key(p, body, at, "prefix", false, true, true,
				     &op->key, &op->key_len);
	} else {
		op->type = KV_TXN_LIST;
		rc =
		    check_object(p, body, at, "list has prefix, limit", list_f);
		if (rc == 0)
			rc = get_key(p, body, at, "prefix", false, true, false,
				     &op->key, &op->key_len);
		if (rc == 0)
			rc = get_uint(p, body, at, "limit", 1, KV_TXN_LIST_MAX,
				      false, TXN_JSON_LIST_LIMIT_DEFAULT,
				      &limit);
		if (rc == 0)
			op->limit = (uint32_t)limit;
	}
	return rc;
}

/* The array member @name of @root (absent: empty), at most @max items. */
static int get_array(struct parse *p, json_t *root, const char *name,
		     size_t max, const char *what, json_t **out)
{
	*out = json_object_get(root, name);
	if (*out == NULL)
		return 0;
	if (!json_is_array(*out))
		return fail(p, TXN_JSON_BAD, name, "must be an array");
	if (json_array_size(*out) > max)
		return fail(p, TXN_JSON_BAD, name, "at most %zu %s", max, what);
	return 0;
}

int txn_json_parse(const char *body, size_t len, uint64_t max_value,
		   struct kv_txn *t, struct txn_json *keep, char *why,
		   size_t whylen)
{
	static const char *const top[] = {"compare", "success", "failure",
					  NULL};
	struct parse p = {.keep = keep,
			  .body_len = len,
			  .max_value = max_value,
			  .why = why,
			  .whylen = whylen};
	memset(t, 0, sizeof(*t));
	memset(keep, 0, sizeof(*keep));
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(
		    &p, TXN_JSON_BAD, NULL,
		    "the body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	keep->root = root;
	int rc = check_object(&p, root, "the body",
			      "compare, success and failure", top);
	json_t *cmp = NULL, *br[2] = {NULL, NULL};
	if (rc == 0)
		rc = get_array(&p, root, "compare", KV_TXN_MAX_COMPARES,
			       "compares", &cmp);
	if (rc == 0)
		rc = get_array(&p, root, "success", KV_TXN_MAX_OPS,
			       "ops in a branch", &br[0]);
	if (rc == 0)
		rc = get_array(&p, root, "failure", KV_TXN_MAX_OPS,
			       "ops in a branch", &br[1]);
	char where[64];
	size_t i;
	json_t *item;
	if (cmp != NULL && rc == 0) {
		json_array_foreach(cmp, i, item)
		{
			snprintf(where, sizeof(where), "compare[%zu]", i);
			rc = parse_compare(&p, item, where, &t->compares[i]);
			if (rc != 0)
				return rc;
			t->n_compares = i + 1;
		}
	}
	for (int b = 0; b < 2 && rc == 0; b++) {
		if (br[b] == NULL)
			continue;
		json_array_foreach(br[b], i, item)
		{
			snprintf(where, sizeof(where), "%s[%zu]",
				 b == 0 ? "success" : "failure", i);
			rc = parse_op(&p, item, where, &t->ops[b][i]);
			if (rc != 0)
				return rc;
			t->n_ops[b] = i + 1;
		}
	}
	if (rc != 0)
		return rc;
	assert(t->n_compares <= KV_TXN_MAX_COMPARES &&
	       t->n_ops[0] <= KV_TXN_MAX_OPS && t->n_ops[1] <= KV_TXN_MAX_OPS);
	char rule[256] = "";
	if (kv_txn_check(t, rule, sizeof(rule)) != 0)
		return fail(&p, TXN_JSON_BAD, NULL, "%s",
			    rule[0] != '\0' ? rule
					    : "the transaction breaks a rule");
	return TXN_JSON_OK;
}

void txn_json_free(struct txn_json *keep)
{
	json_decref(keep->root);
	free(keep->bytes);
	memset(keep, 0, sizeof(*keep));
}
