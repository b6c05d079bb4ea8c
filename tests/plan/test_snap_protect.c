/* test_snap_protect.c - compaction kept behind a snapshot being sent
 * (raft/node/snap_protect.h): a member in snapshot state keeps the log
 * from being compacted past its snapshot; catching up, time and the
 * entry bound release it. */
#include <check.h>

#include "snap_protect.h"
#include "suites.h"

static const struct snap_protect p5000 = {
    .peer = 4, .index = 5000, .since = 100.0};

/* Being sent (its match index below the snapshot): kept, and the
 * compaction index is lowered to the snapshot's index, never past it. */
START_TEST(being_sent_keeps_the_log)
{
	enum snap_protect_verdict v =
	    snap_protect_judge(&p5000, 0, 20000, 130.0, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_KEEP);
	ck_assert_uint_eq(snap_protect_clamp(19000, &p5000, &v, 1), 5000);
	/* A compaction already below it is left as it is. */
	ck_assert_uint_eq(snap_protect_clamp(4000, &p5000, &v, 1), 4000);
	v = snap_protect_judge(&p5000, 4999, 20000, 130.0, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_KEEP);
}
END_TEST

/* The member holds the snapshot (match at or past its index): released,
 * the compaction goes on. */
START_TEST(caught_up_releases)
{
	enum snap_protect_verdict v =
	    snap_protect_judge(&p5000, 5000, 20000, 130.0, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_CAUGHT_UP);
	ck_assert_uint_eq(snap_protect_clamp(19000, &p5000, &v, 1), 19000);
}
END_TEST

/* A member that never finishes: the time bound and the entry bound each
 * release it. */
START_TEST(bounds_release)
{
	struct snap_protect_limits lim = {.max_seconds = 60,
					  .max_entries = 10000};
	enum snap_protect_verdict v;

	v = snap_protect_judge(&p5000, 0, 15000, 160.0, &lim);
	ck_assert_int_eq(v, SNAP_PROTECT_KEEP);
	v = snap_protect_judge(&p5000, 0, 15000, 160.5, &lim);
	ck_assert_int_eq(v, SNAP_PROTECT_TOO_OLD);
	ck_assert_uint_eq(snap_protect_clamp(14000, &p5000, &v, 1), 14000);
	v = snap_protect_judge(&p5000, 0, 15001, 130.0, &lim);
	ck_assert_int_eq(v, SNAP_PROTECT_TOO_FAR);
	ck_assert_uint_eq(snap_protect_clamp(14000, &p5000, &v, 1), 14000);
	/* The defaults. */
	v = snap_protect_judge(&p5000, 0, 5000 + SNAP_PROTECT_MAX_ENTRIES,
			       100.0 + SNAP_PROTECT_MAX_SECONDS, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_KEEP);
	v = snap_protect_judge(&p5000, 0, 5001 + SNAP_PROTECT_MAX_ENTRIES,
			       100.0, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_TOO_FAR);
	v = snap_protect_judge(&p5000, 0, 6000,
			       100.5 + SNAP_PROTECT_MAX_SECONDS, NULL);
	ck_assert_int_eq(v, SNAP_PROTECT_TOO_OLD);
}
END_TEST

/* Several members: the lowest kept snapshot wins; released ones count
 * for nothing. */
START_TEST(lowest_kept_wins)
{
	struct snap_protect p[3] = {
	    {.peer = 4, .index = 5000, .since = 100},
	    {.peer = 5, .index = 3000, .since = 100},
	    {.peer = 6, .index = 8000, .since = 100},
	};
	enum snap_protect_verdict v[3] = {
	    SNAP_PROTECT_KEEP, SNAP_PROTECT_CAUGHT_UP, SNAP_PROTECT_KEEP};
	ck_assert_uint_eq(snap_protect_clamp(9000, p, v, 3), 5000);
	v[0] = SNAP_PROTECT_TOO_OLD;
	ck_assert_uint_eq(snap_protect_clamp(9000, p, v, 3), 8000);
	v[2] = SNAP_PROTECT_GONE;
	ck_assert_uint_eq(snap_protect_clamp(9000, p, v, 3), 9000);
	ck_assert_uint_eq(snap_protect_clamp(9000, p, v, 0), 9000);
}
END_TEST

Suite *snap_protect_suite(void)
{
	Suite *s = suite_create("snap_protect");
	TCase *tc = tcase_create("snap_protect");

	tcase_add_test(tc, being_sent_keeps_the_log);
	tcase_add_test(tc, caught_up_releases);
	tcase_add_test(tc, bounds_release);
	tcase_add_test(tc, lowest_kept_wins);
	suite_add_tcase(s, tc);
	return s;
}
