/* test_txn_body.c - Check tests of libkvc's transaction builder and
 * answer parser (kvc_txn_body.c), no network: the request JSON of every
 * compare and op (DESIGN.md §1.7), the builder's limits, and answers of
 * both branches, well-formed and not. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kvc_txn_body.h"

/* The request of @t as sorted compact JSON (caller frees). */
static char *request_text(const struct kvc_txn *t)
{
	json_t *j = kvc_txn_body_request(t);
	ck_assert_ptr_nonnull(j);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(test_empty_request)
{
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	char *s = request_text(t);
	ck_assert_str_eq(s, "{\"compare\":[],\"failure\":[],\"success\":[]}");
	free(s);
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_every_compare_and_op)
{
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	ck_assert_int_eq(kvc_txn_cmp_mod(t, "a", KVC_CMP_EQ, 7), 0);
	ck_assert_int_eq(kvc_txn_cmp_value(t, "b", KVC_CMP_LT, "hi", 2), 0);
	ck_assert_int_eq(kvc_txn_cmp_value(t, "c", KVC_CMP_NE, NULL, 0), 0);
	ck_assert_int_eq(kvc_txn_cmp_exists(t, "d", false), 0);
	ck_assert_int_eq(kvc_txn_cmp_mod(t, "e", KVC_CMP_GT, 0), 0);
	ck_assert_int_eq(kvc_txn_put(t, KVC_TXN_SUCCESS, "a", "\x00\xff", 2, 0),
			 0);
	ck_assert_int_eq(kvc_txn_put(t, KVC_TXN_SUCCESS, "l", "v", 1, 42), 0);
	ck_assert_int_eq(kvc_txn_del(t, KVC_TXN_SUCCESS, "b"), 0);
	ck_assert_int_eq(kvc_txn_del_prefix(t, KVC_TXN_SUCCESS, "p/"), 0);
	ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_FAILURE, "a"), 0);
	ck_assert_int_eq(kvc_txn_list(t, KVC_TXN_FAILURE, "", 10), 0);
	char *s = request_text(t);
	ck_assert_str_eq(
	    s, "{\"compare\":["
	       "{\"key\":\"a\",\"op\":\"==\",\"target\":\"mod_index\","
	       "\"value\":7},"
	       "{\"key\":\"b\",\"op\":\"<\",\"target\":\"value\","
	       "\"value\":\"aGk=\"},"
	       "{\"key\":\"c\",\"op\":\"!=\",\"target\":\"value\","
	       "\"value\":\"\"},"
	       "{\"key\":\"d\",\"op\":\"==\",\"target\":\"exists\","
	       "\"value\":false},"
	       "{\"key\":\"e\",\"op\":\">\",\"target\":\"mod_index\","
	       "\"value\":0}],"
	       "\"failure\":[{\"get\":{\"key\":\"a\"}},"
	       "{\"list\":{\"limit\":10,\"prefix\":\"\"}}],"
	       "\"success\":[{\"put\":{\"key\":\"a\",\"value\":\"AP8=\"}},"
	       "{\"put\":{\"key\":\"l\",\"lease\":42,\"value\":\"dg==\"}},"
	       "{\"delete\":{\"key\":\"b\"}},"
	       "{\"delete_prefix\":{\"prefix\":\"p/\"}}]}");
	free(s);
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_builder_errors_stick)
{
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	ck_assert_int_eq(kvc_txn_body_error(t), 0);
	ck_assert_int_eq(kvc_txn_get(t, 2, "a"), KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_body_error(t), KVC_EINVAL);
	/* Later calls still work, but the first error stays. */
	ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_SUCCESS, "a"), 0);
	ck_assert_int_eq(kvc_txn_body_error(t), KVC_EINVAL);
	kvc_txn_free(t);

	ck_assert_int_eq(kvc_txn_new(&t), 0);
	ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_SUCCESS, ""), KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_SUCCESS, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_cmp_mod(t, "", KVC_CMP_EQ, 1), KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_cmp_mod(t, "a", (enum kvc_cmp_op)9, 1),
			 KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_list(t, KVC_TXN_SUCCESS, "p", 0), KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_list(t, KVC_TXN_SUCCESS, "p", 10001),
			 KVC_EINVAL);
	ck_assert_int_eq(kvc_txn_put(t, KVC_TXN_SUCCESS, "a", NULL, 3, 0),
			 KVC_EINVAL);
	char big[600];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(kvc_txn_del(t, KVC_TXN_SUCCESS, big), KVC_EINVAL);
	/* Empty prefixes are fine: every key. */
	ck_assert_int_eq(kvc_txn_del_prefix(t, KVC_TXN_FAILURE, ""), 0);
	ck_assert_int_eq(kvc_txn_list(t, KVC_TXN_FAILURE, "", 10000), 0);
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_limits)
{
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	char key[16];
	for (int i = 0; i < 128; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(kvc_txn_cmp_exists(t, key, true), 0);
		ck_assert_int_eq(
		    kvc_txn_put(t, KVC_TXN_SUCCESS, key, "x", 1, 0), 0);
		ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_FAILURE, key), 0);
	}
	ck_assert_int_eq(kvc_txn_body_error(t), 0);
	ck_assert_int_eq(kvc_txn_cmp_exists(t, "x", true), KVC_ETOO_LARGE);
	ck_assert_int_eq(kvc_txn_del(t, KVC_TXN_SUCCESS, "x"), KVC_ETOO_LARGE);
	ck_assert_int_eq(kvc_txn_get(t, KVC_TXN_FAILURE, "x"), KVC_ETOO_LARGE);
	ck_assert_int_eq(kvc_txn_body_error(t), KVC_ETOO_LARGE);
	json_t *j = kvc_txn_body_request(t);
	ck_assert_int_eq(json_array_size(json_object_get(j, "compare")), 128);
	ck_assert_int_eq(json_array_size(json_object_get(j, "success")), 128);
	json_decref(j);
	kvc_txn_free(t);
}
END_TEST

/* A transaction of every op in the success branch and a get in the
 * failure branch. */
static struct kvc_txn *every_op(void)
{
	struct kvc_txn *t;
	ck_assert_int_eq(kvc_txn_new(&t), 0);
	kvc_txn_put(t, KVC_TXN_SUCCESS, "a", "1", 1, 0);
	kvc_txn_del(t, KVC_TXN_SUCCESS, "b");
	kvc_txn_del_prefix(t, KVC_TXN_SUCCESS, "p/");
	kvc_txn_get(t, KVC_TXN_SUCCESS, "a");
	kvc_txn_get(t, KVC_TXN_SUCCESS, "zz");
	kvc_txn_list(t, KVC_TXN_SUCCESS, "", 2);
	kvc_txn_get(t, KVC_TXN_FAILURE, "a");
	ck_assert_int_eq(kvc_txn_body_error(t), 0);
	return t;
}

static int parse(const char *text, const struct kvc_txn *t,
		 struct kvc_txn_result **res)
{
	json_t *j = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(j);
	char why[256] = "";
	int rc = kvc_txn_body_result(j, t, res, why, sizeof(why));
	if (rc == KVC_EPROTO)
		ck_assert_int_gt(strlen(why), 0);
	json_decref(j);
	return rc;
}

START_TEST(test_result_success)
{
	struct kvc_txn *t = every_op();
	struct kvc_txn_result *r;
	ck_assert_int_eq(
	    parse(
		"{\"succeeded\":true,\"index\":12,\"results\":["
		"{\"index\":12},{\"deleted\":true},{\"deleted\":3},"
		"{\"key\":\"a\",\"value\":\"MQ==\",\"index\":12},"
		"{\"key\":\"zz\",\"value\":null,\"index\":0},"
		"{\"kvs\":[{\"key\":\"a\",\"value\":\"MQ==\",\"index\":12},"
		"{\"key\":\"c\",\"value\":\"\",\"index\":5}],\"more\":true}]}",
		t, &r),
	    0);
	ck_assert(r->succeeded);
	ck_assert_uint_eq(r->index, 12);
	ck_assert_uint_eq(r->n_results, 6);
	ck_assert_int_eq(r->results[0].type, KVC_TXN_OP_PUT);
	ck_assert_uint_eq(r->results[0].index, 12);
	ck_assert_int_eq(r->results[1].type, KVC_TXN_OP_DEL);
	ck_assert(r->results[1].deleted);
	ck_assert_int_eq(r->results[2].type, KVC_TXN_OP_DEL_PREFIX);
	ck_assert_uint_eq(r->results[2].count, 3);
	ck_assert_int_eq(r->results[3].type, KVC_TXN_OP_GET);
	ck_assert(r->results[3].found);
	ck_assert_str_eq(r->results[3].key, "a");
	ck_assert_uint_eq(r->results[3].value_len, 1);
	ck_assert_str_eq(r->results[3].value, "1");
	ck_assert_uint_eq(r->results[3].index, 12);
	ck_assert(!r->results[4].found);
	ck_assert_ptr_null(r->results[4].value);
	ck_assert_uint_eq(r->results[4].index, 0);
	ck_assert_int_eq(r->results[5].type, KVC_TXN_OP_LIST);
	ck_assert_uint_eq(r->results[5].n_kvs, 2);
	ck_assert(r->results[5].more);
	ck_assert_str_eq(r->results[5].kvs[1].key, "c");
	ck_assert_uint_eq(r->results[5].kvs[1].value_len, 0);
	ck_assert_uint_eq(r->results[5].kvs[1].index, 5);
	kvc_txn_result_free(r);
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_result_failure_branch)
{
	struct kvc_txn *t = every_op();
	struct kvc_txn_result *r;
	ck_assert_int_eq(parse("{\"succeeded\":false,\"index\":9,\"results\":"
			       "[{\"key\":\"a\",\"value\":\"MQ==\","
			       "\"index\":4}]}",
			       t, &r),
			 0);
	ck_assert(!r->succeeded);
	ck_assert_uint_eq(r->index, 9);
	ck_assert_uint_eq(r->n_results, 1);
	ck_assert(r->results[0].found);
	ck_assert_uint_eq(r->results[0].index, 4);
	kvc_txn_result_free(r);
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_result_malformed)
{
	struct kvc_txn *t = every_op();
	struct kvc_txn_result *r = (void *)1;
	static const char *const bad[] = {
	    "{}",
	    "{\"succeeded\":1,\"index\":1,\"results\":[]}",
	    "{\"succeeded\":false,\"index\":-1,\"results\":[{}]}",
	    /* one result too many, one too few */
	    "{\"succeeded\":false,\"index\":1,\"results\":[{\"key\":\"a\","
	    "\"value\":null,\"index\":0},{}]}",
	    "{\"succeeded\":false,\"index\":1,\"results\":[]}",
	    /* a get without an index, with bad base64 */
	    "{\"succeeded\":false,\"index\":1,\"results\":[{\"key\":\"a\","
	    "\"value\":null}]}",
	    "{\"succeeded\":false,\"index\":1,\"results\":[{\"key\":\"a\","
	    "\"value\":\"!!\",\"index\":2}]}",
	    /* a list entry without a value, after a good one */
	    "{\"succeeded\":true,\"index\":3,\"results\":[{\"index\":3},"
	    "{\"deleted\":false},{\"deleted\":0},{\"value\":null,"
	    "\"index\":0},{\"value\":null,\"index\":0},{\"kvs\":[{\"key\":"
	    "\"a\",\"value\":\"\",\"index\":1},{\"key\":\"b\",\"index\":1}],"
	    "\"more\":false}]}",
	    /* delete's deleted must be a boolean */
	    "{\"succeeded\":true,\"index\":3,\"results\":[{\"index\":3},"
	    "{\"deleted\":1},{\"deleted\":0},{\"value\":null,"
	    "\"index\":0},{\"value\":null,\"index\":0},{\"kvs\":[],"
	    "\"more\":false}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse(bad[i], t, &r) == KVC_EPROTO, "case %zu",
			      i);
		ck_assert_ptr_null(r);
	}
	kvc_txn_free(t);
}
END_TEST

START_TEST(test_b64)
{
	char *s = kvc_txn_body_b64("", 0);
	ck_assert_str_eq(s, "");
	free(s);
	s = kvc_txn_body_b64("f", 1);
	ck_assert_str_eq(s, "Zg==");
	free(s);
	s = kvc_txn_body_b64("fo", 2);
	ck_assert_str_eq(s, "Zm8=");
	free(s);
	s = kvc_txn_body_b64("foobar", 6);
	ck_assert_str_eq(s, "Zm9vYmFy");
	free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("txn-body");
	TCase *t = tcase_create("request");
	tcase_add_test(t, test_empty_request);
	tcase_add_test(t, test_every_compare_and_op);
	tcase_add_test(t, test_builder_errors_stick);
	tcase_add_test(t, test_limits);
	tcase_add_test(t, test_b64);
	suite_add_tcase(s, t);
	TCase *r = tcase_create("result");
	tcase_add_test(r, test_result_success);
	tcase_add_test(r, test_result_failure_branch);
	tcase_add_test(r, test_result_malformed);
	suite_add_tcase(s, r);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
