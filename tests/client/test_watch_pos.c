/* test_watch_pos.c - Check tests of libkvc's watch position
 * (kvc_watch_pos.c), no network: where a new stream resumes, the changes a
 * resumed stream sends again skipped, and the streams that break the
 * promise (a change out of order or twice, a resume that skips). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvc_watch_pos.h"

static char detail[128];
static const char *what;

static int change(struct kvc_watch_pos *p, uint64_t i)
{
	what = "";
	detail[0] = '\0';
	return kvc_watch_pos_change(p, i, &what, detail, sizeof(detail));
}

START_TEST(test_unknown_position_starts_from_now)
{
	struct kvc_watch_pos p = {0};
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 0);
}
END_TEST

START_TEST(test_key_watch_resumes_after_its_last_change)
{
	struct kvc_watch_pos p = {.known = true, .done = 40};
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 41);
	ck_assert_int_eq(change(&p, 45), 1);
	ck_assert_uint_eq(p.done, 45); /* a key changes once per index */
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 46);
	ck_assert_int_eq(change(&p, 45), -1);
	ck_assert_str_eq(what, "a change out of order or twice");
	ck_assert_str_eq(detail, "index 45 after 45");
}
END_TEST

START_TEST(test_progress_moves_the_position)
{
	struct kvc_watch_pos p = {.known = true, .done = 40};
	ck_assert_int_eq(kvc_watch_pos_progress(&p, 50, detail, 128), 0);
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 51);
	/* A lagging member's progress is no news. */
	ck_assert_int_eq(kvc_watch_pos_progress(&p, 30, detail, 128), 0);
	ck_assert_uint_eq(p.done, 50);
}
END_TEST

/* A prefix watch whose last index may hold more changes (a transaction)
 * resumes at that index and skips the ones it returned. */
START_TEST(test_prefix_watch_resumes_within_an_index)
{
	struct kvc_watch_pos p = {.prefix = true, .known = true, .done = 9};
	ck_assert_int_eq(change(&p, 12), 1);
	ck_assert_int_eq(change(&p, 12), 1);
	ck_assert_uint_eq(p.done, 11);
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 12);
	ck_assert_uint_eq(p.skip, 2);
	ck_assert_int_eq(change(&p, 12), 0); /* sent again: skipped */
	ck_assert_int_eq(change(&p, 12), 0);
	ck_assert_int_eq(change(&p, 12), 1); /* the third is new */
	ck_assert_uint_eq(p.n_last, 3);
	ck_assert_int_eq(change(&p, 13), 1);
	ck_assert_uint_eq(p.done, 12);
}
END_TEST

START_TEST(test_broken_resumes_are_caught)
{
	struct kvc_watch_pos p = {.prefix = true, .known = true, .done = 9};
	ck_assert_int_eq(change(&p, 12), 1);
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 12);
	/* A change past the index before the one to skip came again. */
	ck_assert_int_eq(change(&p, 13), -1);
	ck_assert_str_eq(what, "broken resume");
	ck_assert_str_eq(detail, "1 change(s) at 12 not sent again");
	/* A progress that passes it is a lie too. */
	ck_assert_uint_eq(kvc_watch_pos_next_from(&p), 12);
	ck_assert_int_eq(kvc_watch_pos_progress(&p, 12, detail, 128), -1);
	ck_assert_str_eq(
	    detail, "progress 12 before the changes at 12 were sent again");
	/* Below it, it is no news. */
	ck_assert_int_eq(kvc_watch_pos_progress(&p, 11, detail, 128), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watch-pos");
	TCase *tc = tcase_create("pos");
	tcase_add_test(tc, test_unknown_position_starts_from_now);
	tcase_add_test(tc, test_key_watch_resumes_after_its_last_change);
	tcase_add_test(tc, test_progress_moves_the_position);
	tcase_add_test(tc, test_prefix_watch_resumes_within_an_index);
	tcase_add_test(tc, test_broken_resumes_are_caught);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
