/* test_cluster_view.c - unit tests of the status page's cluster view: a
 * member's /v1/status answer checked, the leader chosen, lag computed,
 * GET /v1/cluster's JSON. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_view.h"

static struct cluster_view_member member(uint64_t id)
{
	struct cluster_view_member m;
	memset(&m, 0, sizeof(m));
	m.id = id;
	m.voter = true;
	snprintf(m.client_url, sizeof(m.client_url), "http://127.0.0.1:70%02u",
		 (unsigned)id);
	return m;
}

static int parse(struct cluster_view_member *m, const char *body)
{
	return cluster_view_parse_status(m, body, strlen(body));
}

#define STATUS(id, state, term, commit, applied)                               \
	"{\"state\":\"" state "\",\"leader_client_url\":\"\",\"members\":[],"  \
	"\"id\":" #id ",\"term\":" #term                                       \
	",\"leader\":1,\"commit_index\":" #commit                              \
	",\"applied_index\":" #applied ",\"last_index\":" #commit              \
	",\"snapshot_index\":0}"

START_TEST(status_answer_read)
{
	struct cluster_view_member m = member(2);
	ck_assert_int_eq(parse(&m, STATUS(2, "follower", 7, 40, 38)), 0);
	ck_assert(m.reachable);
	ck_assert_str_eq(m.state, "follower");
	ck_assert_uint_eq(m.term, 7);
	ck_assert_uint_eq(m.leader, 1);
	ck_assert_uint_eq(m.commit_index, 40);
	ck_assert_uint_eq(m.applied_index, 38);
	ck_assert_uint_eq(m.last_index, 40);
	ck_assert_str_eq(m.error, "");
	ck_assert_str_eq(m.client_url, "http://127.0.0.1:7002");
}
END_TEST

START_TEST(status_answer_refusals)
{
	static const struct {
		const char *body;
		const char *why;
	} bad[] = {
	    {"", "status answer not understood"},
	    {"[]", "status answer not understood"},
	    {"{\"state\":\"leader\"}", "status answer not understood"},
	    /* Another member at this URL (a restart on a reused port). */
	    {STATUS(3, "leader", 1, 1, 1), "answers as another member"},
	    {STATUS(2, "leader", -1, 1, 1), "status answer not understood"},
	    {STATUS(2, "leader", 1.5, 1, 1), "status answer not understood"},
	    {STATUS(2, "leader", "1", 1, 1), "status answer not understood"},
	    /* Beyond jansson's integers: unreadable, not wrapped. */
	    {STATUS(2, "leader", 18446744073709551615, 1, 1),
	     "status answer not understood"},
	    {STATUS(2, "", 1, 1, 1), "status answer not understood"},
	    {STATUS(2, "<b>x</b>", 1, 1, 1), "status answer not understood"},
	    {STATUS(2, "averyveryverylongstate", 1, 1, 1),
	     "status answer not understood"},
	    {"{\"id\":2,\"id\":2}", "status answer not understood"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cluster_view_member m = member(2);
		/* Reachable before: a failed parse must clear it. */
		ck_assert_int_eq(parse(&m, STATUS(2, "leader", 3, 9, 9)), 0);
		ck_assert_int_eq(parse(&m, bad[i].body), -1);
		ck_assert_msg(!m.reachable, "%zu", i);
		ck_assert_str_eq(m.error, bad[i].why);
		ck_assert_str_eq(m.state, "");
		ck_assert_uint_eq(m.term, 0);
		ck_assert_uint_eq(m.commit_index, 0);
	}
	struct cluster_view_member m = member(2);
	char big[CLUSTER_VIEW_STATUS_MAX_BYTES + 2];
	memset(big, ' ', sizeof(big));
	ck_assert_int_eq(cluster_view_parse_status(&m, big, sizeof(big)), -1);
	ck_assert_str_eq(m.error, "status answer too large");
}
END_TEST

START_TEST(fail_cuts_long_reasons)
{
	struct cluster_view_member m = member(1);
	char why[300];
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	cluster_view_fail(&m, why);
	ck_assert(!m.reachable);
	ck_assert_uint_eq(strlen(m.error), CLUSTER_VIEW_ERROR_MAX - 1);
}
END_TEST

/* Raft §5.1: a stale leader may still think it leads until it hears of
 * the newer term; the view shows the newer one. */
START_TEST(leader_of_highest_term)
{
	struct cluster_view_member ms[3] = {member(1), member(2), member(3)};
	ck_assert_int_eq(cluster_view_leader(ms, 3), -1);
	parse(&ms[0], STATUS(1, "leader", 4, 10, 10));
	parse(&ms[1], STATUS(2, "leader", 5, 12, 12));
	parse(&ms[2], STATUS(3, "follower", 5, 12, 11));
	ck_assert_int_eq(cluster_view_leader(ms, 3), 1);
	cluster_view_fail(&ms[1], "timed out");
	ck_assert_int_eq(cluster_view_leader(ms, 3), 0);
	cluster_view_fail(&ms[0], "timed out");
	ck_assert_int_eq(cluster_view_leader(ms, 3), -1);
}
END_TEST

START_TEST(json_lag_and_reachability)
{
	struct cluster_view_member ms[3] = {member(1), member(2), member(3)};
	ms[1].self = true;
	parse(&ms[0], STATUS(1, "leader", 5, 20, 20));
	parse(&ms[1], STATUS(2, "follower", 5, 18, 15));
	cluster_view_fail(&ms[2], "connection failed");
	json_t *v = cluster_view_json(ms, 3, 2);
	ck_assert_ptr_nonnull(v);
	char *text = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_str_eq(
	    text,
	    "{\"leader\":1,\"leader_commit_index\":20,\"member\":2,"
	    "\"members\":["
	    "{\"applied_index\":20,\"client_url\":\"http://127.0.0.1:7001\","
	    "\"commit_index\":20,\"error\":null,\"id\":1,\"is_leader\":true,"
	    "\"lag\":0,\"last_index\":20,\"leader\":1,\"reachable\":true,"
	    "\"self\":false,\"state\":\"leader\",\"term\":5,\"voter\":true},"
	    "{\"applied_index\":15,\"client_url\":\"http://127.0.0.1:7002\","
	    "\"commit_index\":18,\"error\":null,\"id\":2,\"is_leader\":false,"
	    "\"lag\":5,\"last_index\":18,\"leader\":1,\"reachable\":true,"
	    "\"self\":true,\"state\":\"follower\",\"term\":5,\"voter\":true},"
	    "{\"client_url\":\"http://127.0.0.1:7003\",\"error\":"
	    "\"connection failed\",\"id\":3,\"is_leader\":false,\"lag\":null,"
	    "\"reachable\":false,\"self\":false,\"voter\":true}]}");
	free(text);
	json_decref(v);
}
END_TEST

START_TEST(json_without_leader)
{
	struct cluster_view_member ms[2] = {member(1), member(2)};
	parse(&ms[0], STATUS(1, "candidate", 6, 20, 20));
	/* Applied beyond what the (absent) leader committed: no lag. */
	parse(&ms[1], STATUS(2, "follower", 5, 18, 15));
	json_t *v = cluster_view_json(ms, 2, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "leader")), 0);
	ck_assert(json_is_null(json_object_get(v, "leader_commit_index")));
	json_t *arr = json_object_get(v, "members");
	ck_assert_uint_eq(json_array_size(arr), 2);
	for (size_t i = 0; i < 2; i++)
		ck_assert(json_is_null(
		    json_object_get(json_array_get(arr, i), "lag")));
	json_decref(v);
	/* A follower ahead of what the leader says it committed (answers
	 * taken at different moments) shows lag 0, not a huge number. */
	struct cluster_view_member ws[2] = {member(1), member(2)};
	parse(&ws[0], STATUS(1, "leader", 6, 20, 20));
	parse(&ws[1], STATUS(2, "follower", 6, 22, 22));
	v = cluster_view_json(ws, 2, 1);
	arr = json_object_get(v, "members");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_array_get(arr, 1), "lag")),
	    0);
	json_decref(v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cluster_view");
	TCase *tc = tcase_create("view");
	tcase_add_test(tc, status_answer_read);
	tcase_add_test(tc, status_answer_refusals);
	tcase_add_test(tc, fail_cuts_long_reasons);
	tcase_add_test(tc, leader_of_highest_term);
	tcase_add_test(tc, json_lag_and_reachability);
	tcase_add_test(tc, json_without_leader);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
