/* test_txn_json.c - unit tests of POST /v1/txn's body parser (txn_json.c):
 * every refusal, table-driven with the words of its message, what an
 * accepted body becomes, strict base64, and the limits. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "txn_json.h"

#define MAXV 1024 /* the put value limit the tests pass */

static struct kv_txn txn; /* 24 KiB: not on the stack */

static int parse(const char *body, char *why, size_t whylen,
		 struct txn_json *keep)
{
	return txn_json_parse(body, strlen(body), MAXV, &txn, keep, why,
			      whylen);
}

/* Each refused body and words its message must hold. */
static const struct {
	const char *body;
	const char *words;
} bad[] = {
    /* The body. */
    {"", "not valid JSON"},
    {"{", "not valid JSON"},
    {"[]", "the body: must be an object"},
    {"{} x", "not valid JSON"},
    {"{\"success\": [], \"success\": []}", "not valid JSON"},
    {"{\"compares\": []}", "unknown field \"compares\""},
    {"{\"compare\": {}}", "compare: must be an array"},
    {"{\"success\": null}", "success: must be an array"},
    {"{\"failure\": 1}", "failure: must be an array"},
    /* Compares. */
    {"{\"compare\": [1]}", "compare[0]: must be an object"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"exists\", \"op\": "
     "\"==\", \"value\": true, \"x\": 1}]}",
     "compare[0]: unknown field \"x\""},
    {"{\"compare\": [{\"target\": \"exists\", \"op\": \"==\", \"value\": "
     "true}]}",
     "compare[0]: \"key\" is required"},
    {"{\"compare\": [{\"key\": \"\", \"target\": \"exists\", \"op\": "
     "\"==\", \"value\": true}]}",
     "compare[0]: \"key\": keys are 1-511 bytes"},
    {"{\"compare\": [{\"key\": \"a\\u0001\", \"target\": \"exists\", "
     "\"op\": \"==\", \"value\": true}]}",
     "compare[0]: \"key\": keys are"},
    {"{\"compare\": [{\"key\": 5, \"target\": \"exists\", \"op\": "
     "\"==\", \"value\": true}]}",
     "compare[0]: \"key\" must be a string"},
    {"{\"compare\": [{\"key\": \"a\", \"op\": \"==\", \"value\": 1}]}",
     "compare[0]: \"target\" must be"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"version\", \"op\": "
     "\"==\", \"value\": 1}]}",
     "compare[0]: \"target\" must be"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", "
     "\"value\": 1}]}",
     "compare[0]: \"op\" must be"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", \"op\": "
     "\"<=\", \"value\": 1}]}",
     "compare[0]: \"op\" must be"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", \"op\": "
     "\"==\"}]}",
     "compare[0]: \"value\" is required"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", \"op\": "
     "\"==\", \"value\": -1}]}",
     "compare[0]: \"value\" must be an integer in [0, "},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", \"op\": "
     "\"==\", \"value\": 1.0}]}",
     "compare[0]: \"value\" must be an integer"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"mod_index\", \"op\": "
     "\"==\", \"value\": \"1\"}]}",
     "compare[0]: \"value\" must be an integer"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"value\", \"op\": "
     "\"==\", \"value\": 1}]}",
     "compare[0]: \"value\" must be a base64 string"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"value\", \"op\": "
     "\"==\", \"value\": \"YQ\"}]}",
     "compare[0]: \"value\" must be base64"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"exists\", \"op\": "
     "\"<\", \"value\": true}]}",
     "compare[0]: target \"exists\" takes \"==\" and \"!=\" only"},
    {"{\"compare\": [{\"key\": \"a\", \"target\": \"exists\", \"op\": "
     "\"==\", \"value\": 1}]}",
     "compare[0]: \"value\" of target \"exists\" must be true or false"},
    /* Ops. */
    {"{\"success\": [1]}", "success[0]: must be an object of one member"},
    {"{\"success\": [{}]}", "success[0]: must be an object of one member"},
    {"{\"success\": [{\"get\": {\"key\": \"a\"}, \"put\": {}}]}",
     "success[0]: must be an object of one member"},
    {"{\"failure\": [{\"range\": {}}]}", "failure[0]: unknown field \"range\""},
    {"{\"success\": [{\"get\": \"a\"}]}",
     "success[0].get: must be an object (get has key)"},
    {"{\"success\": [{\"get\": {\"key\": \"a\", \"limit\": 1}}]}",
     "success[0].get: unknown field \"limit\""},
    {"{\"success\": [{\"get\": {}}]}", "success[0].get: \"key\" is required"},
    {"{\"success\": [{\"delete\": {\"key\": \"\"}}]}",
     "success[0].delete: \"key\": keys are"},
    {"{\"success\": [{\"put\": {\"value\": \"\"}}]}",
     "success[0].put: \"key\" is required"},
    {"{\"success\": [{\"put\": {\"key\": \"a\"}}]}",
     "success[0].put: \"value\" is required"},
    {"{\"success\": [{\"put\": {\"key\": \"a\", \"value\": \"YQ==\\n\"}}]}",
     "success[0].put: \"value\" must be base64"},
    {"{\"success\": [{\"put\": {\"key\": \"a\", \"value\": \"\", \"lease\": "
     "0}}]}",
     "success[0].put: \"lease\" must be an integer in [1, "},
    {"{\"success\": [{\"put\": {\"key\": \"a\", \"value\": \"\", \"ttl\": "
     "5}}]}",
     "success[0].put: unknown field \"ttl\""},
    /* A C1 character (U+0085): readable and deletable, never written. */
    {"{\"success\": [{\"put\": {\"key\": \"a\\u0085\", \"value\": \"\"}}]}",
     "success[0].put: \"key\": keys are"},
    {"{\"success\": [{\"delete_prefix\": {}}]}",
     "success[0].delete_prefix: \"prefix\" is required"},
    {"{\"success\": [{\"delete_prefix\": {\"prefix\": \"\\u007f\"}}]}",
     "success[0].delete_prefix: \"prefix\": prefixes are"},
    {"{\"success\": [{\"list\": {\"limit\": 0}}]}",
     "success[0].list: \"limit\" must be an integer in [1, 10000]"},
    {"{\"success\": [{\"list\": {\"limit\": 10001}}]}",
     "success[0].list: \"limit\" must be an integer in [1, 10000]"},
    {"{\"success\": [{\"list\": {\"prefix\": 1}}]}",
     "success[0].list: \"prefix\" must be a string"},
    {"{\"failure\": [{\"get\": {\"key\": \"a\"}}, {\"list\": {\"after\": "
     "\"a\"}}]}",
     "failure[1].list: unknown field \"after\""},
};

START_TEST(every_refusal_names_its_rule)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char why[256];
		struct txn_json keep;
		int rc = parse(bad[i].body, why, sizeof(why), &keep);
		txn_json_free(&keep);
		ck_assert_msg(rc == TXN_JSON_BAD, "%s: rc %d", bad[i].body, rc);
		ck_assert_msg(strstr(why, bad[i].words) != NULL,
			      "%s: \"%s\" lacks \"%s\"", bad[i].body, why,
			      bad[i].words);
	}
}
END_TEST

/* A body of @n items of @item (a JSON value) in array @name. */
static char *repeat(const char *name, const char *item, size_t n)
{
	size_t cap = 64 + n * (strlen(item) + 64);
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	size_t w = (size_t)snprintf(s, cap, "{\"%s\": [", name);
	for (size_t i = 0; i < n; i++) {
		char one[256];
		snprintf(one, sizeof(one), item, i);
		w +=
		    (size_t)snprintf(s + w, cap - w, "%s%s", i ? "," : "", one);
	}
	snprintf(s + w, cap - w, "]}");
	return s;
}

START_TEST(limits_of_counts)
{
	const char *cmp = "{\"key\": \"k%zu\", \"target\": \"exists\", \"op\": "
			  "\"==\", \"value\": false}";
	const char *put = "{\"put\": {\"key\": \"k%zu\", \"value\": \"\"}}";
	char why[256];
	struct txn_json keep;
	char *s = repeat("compare", cmp, KV_TXN_MAX_COMPARES);
	ck_assert_int_eq(parse(s, why, sizeof(why), &keep), TXN_JSON_OK);
	ck_assert_uint_eq(txn.n_compares, KV_TXN_MAX_COMPARES);
	txn_json_free(&keep);
	free(s);
	s = repeat("compare", cmp, KV_TXN_MAX_COMPARES + 1);
	ck_assert_int_eq(parse(s, why, sizeof(why), &keep), TXN_JSON_BAD);
	ck_assert_str_eq(why, "compare: at most 128 compares");
	txn_json_free(&keep);
	free(s);
	s = repeat("failure", put, KV_TXN_MAX_OPS);
	ck_assert_int_eq(parse(s, why, sizeof(why), &keep), TXN_JSON_OK);
	ck_assert_uint_eq(txn.n_ops[1], KV_TXN_MAX_OPS);
	txn_json_free(&keep);
	free(s);
	s = repeat("success", put, KV_TXN_MAX_OPS + 1);
	ck_assert_int_eq(parse(s, why, sizeof(why), &keep), TXN_JSON_BAD);
	ck_assert_str_eq(why, "success: at most 128 ops in a branch");
	txn_json_free(&keep);
	free(s);
}
END_TEST

/* kv_txn_check()'s rules reach the answer as its own line. */
START_TEST(store_rules_refused)
{
	static const char *const twice[] = {
	    "{\"success\": [{\"put\": {\"key\": \"a\", \"value\": \"\"}}, "
	    "{\"delete\": {\"key\": \"a\"}}]}",
	    "{\"failure\": [{\"put\": {\"key\": \"a/b\", \"value\": \"\"}}, "
	    "{\"delete_prefix\": {\"prefix\": \"a/\"}}]}",
	    "{\"success\": [{\"delete_prefix\": {\"prefix\": \"a\"}}, "
	    "{\"delete_prefix\": {\"prefix\": \"ab\"}}]}",
	    "{\"success\": [{\"delete_prefix\": {\"prefix\": \"\"}}, "
	    "{\"delete\": {\"key\": \"z\"}}]}",
	};
	for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		char why[256];
		struct txn_json keep;
		ck_assert_int_eq(parse(twice[i], why, sizeof(why), &keep),
				 TXN_JSON_BAD);
		txn_json_free(&keep);
		ck_assert_msg(why[0] != '\0', "%s: no message", twice[i]);
	}
	/* The same key once per branch, and reads of a written key, pass. */
	char why[256];
	struct txn_json keep;
	ck_assert_int_eq(
	    parse("{\"success\": [{\"put\": {\"key\": \"a\", \"value\": "
		  "\"\"}}, {\"get\": {\"key\": \"a\"}}, {\"list\": {}}], "
		  "\"failure\": [{\"delete\": {\"key\": \"a\"}}]}",
		  why, sizeof(why), &keep),
	    TXN_JSON_OK);
	txn_json_free(&keep);
}
END_TEST

START_TEST(accepted_body_becomes_the_txn)
{
	const char *body =
	    "{\"compare\": ["
	    "{\"key\": \"a\", \"target\": \"mod_index\", \"op\": \"<\", "
	    "\"value\": 9223372036854775807},"
	    "{\"key\": \"b\", \"target\": \"value\", \"op\": \">\", "
	    "\"value\": \"AP8=\"},"
	    "{\"key\": \"c\\u00e9\", \"target\": \"exists\", \"op\": \"!=\", "
	    "\"value\": true}],"
	    " \"success\": ["
	    "{\"put\": {\"key\": \"p\", \"value\": \"aGVsbG8=\", \"lease\": "
	    "7}},"
	    "{\"delete\": {\"key\": \"d\"}},"
	    "{\"delete_prefix\": {\"prefix\": \"dp/\"}},"
	    "{\"get\": {\"key\": \"p\"}},"
	    "{\"list\": {\"prefix\": \"\"}}],"
	    " \"failure\": [{\"list\": {\"limit\": 3}}]}";
	char why[256];
	struct txn_json keep;
	ck_assert_int_eq(parse(body, why, sizeof(why), &keep), TXN_JSON_OK);
	ck_assert_uint_eq(txn.n_compares, 3);
	ck_assert_uint_eq(txn.compares[0].target, KV_CMP_MOD);
	ck_assert_uint_eq(txn.compares[0].op, KV_CMP_LT);
	ck_assert_uint_eq(txn.compares[0].number, INT64_MAX);
	ck_assert_uint_eq(txn.compares[1].target, KV_CMP_VALUE);
	ck_assert_uint_eq(txn.compares[1].op, KV_CMP_GT);
	ck_assert_uint_eq(txn.compares[1].value_len, 2);
	ck_assert_mem_eq(txn.compares[1].value, "\x00\xff", 2);
	ck_assert_uint_eq(txn.compares[2].target, KV_CMP_EXISTS);
	ck_assert_uint_eq(txn.compares[2].op, KV_CMP_NE);
	ck_assert_uint_eq(txn.compares[2].number, 1);
	ck_assert_uint_eq(txn.compares[2].key_len, 3);
	ck_assert_mem_eq(txn.compares[2].key, "c\xc3\xa9", 3);
	ck_assert_uint_eq(txn.n_ops[0], 5);
	const struct kv_txn_op *o = txn.ops[0];
	ck_assert_uint_eq(o[0].type, KV_TXN_PUT);
	ck_assert_uint_eq(o[0].value_len, 5);
	ck_assert_mem_eq(o[0].value, "hello", 5);
	ck_assert_uint_eq(o[0].lease, 7);
	ck_assert_uint_eq(o[1].type, KV_TXN_DELETE);
	ck_assert_uint_eq(o[2].type, KV_TXN_DELETE_PREFIX);
	ck_assert_uint_eq(o[2].key_len, 3);
	ck_assert_uint_eq(o[3].type, KV_TXN_GET);
	ck_assert_uint_eq(o[4].type, KV_TXN_LIST);
	ck_assert_uint_eq(o[4].key_len, 0);
	ck_assert_uint_eq(o[4].limit, TXN_JSON_LIST_LIMIT_DEFAULT);
	ck_assert_uint_eq(txn.n_ops[1], 1);
	ck_assert_uint_eq(txn.ops[1][0].limit, 3);
	/* It encodes, and decodes to the same transaction. */
	size_t size = kv_txn_size(&txn);
	uint8_t *buf = malloc(size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(kv_txn_encode(&txn, buf, size), (int64_t)size);
	static struct kv_txn back;
	ck_assert_int_eq(kv_txn_decode(buf, size, &back), 0);
	ck_assert_uint_eq(back.n_compares, 3);
	ck_assert_uint_eq(back.n_ops[0], 5);
	ck_assert_uint_eq(back.ops[0][0].lease, 7);
	ck_assert_mem_eq(back.ops[0][0].value, "hello", 5);
	free(buf);
	txn_json_free(&keep);
	txn_json_free(&keep); /* twice is safe */
	/* Empty: no compare (true), no op. */
	ck_assert_int_eq(parse("{}", why, sizeof(why), &keep), TXN_JSON_OK);
	ck_assert_uint_eq(txn.n_compares + txn.n_ops[0] + txn.n_ops[1], 0);
	txn_json_free(&keep);
}
END_TEST

START_TEST(put_value_over_the_limit_is_too_large)
{
	/* MAXV bytes pass, one more is 413; the compare's value is no
	 * stored value and takes more. */
	size_t n = MAXV + 1;
	char *b64 = malloc(4 * (n / 3 + 1) + 1);
	char *body = malloc(4 * n + 256);
	ck_assert_ptr_nonnull(b64);
	ck_assert_ptr_nonnull(body);
	for (int extra = 0; extra <= 1; extra++) {
		size_t len = MAXV + (size_t)extra;
		size_t w = 0;
		for (size_t i = 0; i < len; i += 3) {
			size_t k = len - i < 3 ? len - i : 3;
			memcpy(b64 + w,
			       k == 3	? "QUJD"
			       : k == 2 ? "QUI="
					: "QQ==",
			       4);
			w += 4;
		}
		b64[w] = '\0';
		sprintf(
		    body,
		    "{\"compare\": [{\"key\": \"a\", \"target\": \"value\", "
		    "\"op\": \"==\", \"value\": \"%s%s\"}], \"success\": "
		    "[{\"put\": {\"key\": \"a\", \"value\": \"%s\"}}]}",
		    "QUJD", b64, b64);
		char why[256];
		struct txn_json keep;
		int rc = parse(body, why, sizeof(why), &keep);
		txn_json_free(&keep);
		if (extra == 0) {
			ck_assert_int_eq(rc, TXN_JSON_OK);
		} else {
			ck_assert_int_eq(rc, TXN_JSON_TOO_LARGE);
			ck_assert_str_eq(why, "success[0].put: the value is "
					      "larger than 1024 bytes");
		}
	}
	free(b64);
	free(body);
}
END_TEST

START_TEST(base64_is_strict)
{
	uint8_t out[16];
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
		size_t len;
	} v[] = {
	    {"", "", 0},
	    {"Zg==", "f", 1},
	    {"Zm8=", "fo", 2},
	    {"Zm9v", "foo", 3},
	    {"Zm9vYg==", "foob", 4},
	    {"+/+/", "\xfb\xff\xbf", 3},
	    {"Zg", NULL, 0},	   /* unpadded */
	    {"Zg=", NULL, 0},	   /* short padding */
	    {"Zh==", NULL, 0},	   /* stray bits */
	    {"Zm9=", NULL, 0},	   /* stray bits */
	    {"Z===", NULL, 0},	   /* three = */
	    {"=Zg=", NULL, 0},	   /* = first */
	    {"Zg=a", NULL, 0},	   /* a digit after = */
	    {"Zg==Zg==", NULL, 0}, /* = inside */
	    {"Zm9v\n", NULL, 0},   /* whitespace */
	    {"Zm 9", NULL, 0},	   /* whitespace */
	    {"Zm-_", NULL, 0},	   /* the URL alphabet */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int64_t n =
		    txn_json_base64_decode(v[i].in, strlen(v[i].in), out);
		if (v[i].out == NULL) {
			ck_assert_msg(n == -1, "\"%s\" accepted", v[i].in);
		} else {
			ck_assert_msg(n == (int64_t)v[i].len, "\"%s\": %lld",
				      v[i].in, (long long)n);
			ck_assert_mem_eq(out, v[i].out, v[i].len);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("txn_json");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, every_refusal_names_its_rule);
	tcase_add_test(tc, limits_of_counts);
	tcase_add_test(tc, store_rules_refused);
	tcase_add_test(tc, accepted_body_becomes_the_txn);
	tcase_add_test(tc, put_value_over_the_limit_is_too_large);
	tcase_add_test(tc, base64_is_strict);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
