/* test_rtt_window.c - the smallest recent round trip a peer lane decides
 * on pipelining by (raft/peer/rtt_window.h): nothing before the first
 * sample, the minimum of the current and the previous window, old samples
 * aging out, an idle gap forgetting what came before it. */
#include <check.h>
#include <stdlib.h>

#include "rtt_window.h"

START_TEST(test_empty_then_min)
{
	struct rtt_window w;

	rtt_window_init(&w, 5.0);
	ck_assert(rtt_window_min(&w) < 0);
	rtt_window_add(&w, 100.0, 0.020);
	ck_assert_double_eq(rtt_window_min(&w), 0.020);
	rtt_window_add(&w, 100.5, 0.030);
	rtt_window_add(&w, 101.0, 0.021);
	ck_assert_double_eq(rtt_window_min(&w), 0.020);
	rtt_window_add(&w, 101.5, 0.0002);
	ck_assert_double_eq(rtt_window_min(&w), 0.0002);
}
END_TEST

/* A fast sample counts for 5 to 10 s, then ages out: a near peer that was
 * busy for a while still shows its fast round trips, a peer that moved
 * far shows its new ones within 10 s. */
START_TEST(test_old_samples_age_out)
{
	struct rtt_window w;

	rtt_window_init(&w, 5.0);
	rtt_window_add(&w, 0.0, 0.0002);
	for (double t = 1.0; t < 5.0; t += 1.0)
		rtt_window_add(&w, t, 0.004);
	ck_assert_double_eq(rtt_window_min(&w), 0.0002);
	/* A new window: the last one's minimum still counts. */
	rtt_window_add(&w, 5.0, 0.004);
	ck_assert_double_eq(rtt_window_min(&w), 0.0002);
	for (double t = 6.0; t < 10.0; t += 1.0)
		rtt_window_add(&w, t, 0.004);
	ck_assert_double_eq(rtt_window_min(&w), 0.0002);
	/* And one more: the fast sample is gone. */
	rtt_window_add(&w, 10.0, 0.005);
	ck_assert_double_eq(rtt_window_min(&w), 0.004);
}
END_TEST

/* After an idle gap of two windows or more, nothing before the gap
 * counts. */
START_TEST(test_idle_gap_forgets)
{
	struct rtt_window w;

	rtt_window_init(&w, 5.0);
	rtt_window_add(&w, 0.0, 0.0002);
	rtt_window_add(&w, 10.0, 0.020);
	ck_assert_double_eq(rtt_window_min(&w), 0.020);
	/* A gap of one window and a bit: the window before still counts. */
	rtt_window_add(&w, 16.0, 0.030);
	ck_assert_double_eq(rtt_window_min(&w), 0.020);
}
END_TEST

static Suite *rtt_window_suite(void)
{
	Suite *s = suite_create("rtt_window");
	TCase *tc = tcase_create("window");

	tcase_add_test(tc, test_empty_then_min);
	tcase_add_test(tc, test_old_samples_age_out);
	tcase_add_test(tc, test_idle_gap_forgets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtt_window_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
