/* test_progress.c - per-peer progress: probe/replicate and the window. */
#include "core_progress.h"
#include "core_quorum.h"
#include "suites.h"

START_TEST(test_inflights_window)
{
	struct raft_progress pr;

	ck_assert_int_eq(raft__progress_init(&pr, 2, 3), 0);
	raft__progress_reset(&pr, 1);
	raft__progress_become_replicate(&pr);
	ck_assert(!raft__progress_is_paused(&pr));
	raft__progress_sent(&pr, 4, 4);
	raft__progress_sent(&pr, 8, 4);
	raft__progress_sent(&pr, 9, 1);
	/* Three appends out: the window of 3 is full. */
	ck_assert_uint_eq(pr.next, 10);
	ck_assert(raft__progress_is_paused(&pr));
	/* Acknowledging up to 8 frees the first two. */
	ck_assert(raft__progress_maybe_update(&pr, 8));
	ck_assert_uint_eq(pr.infl.count, 1);
	ck_assert(!raft__progress_is_paused(&pr));
	ck_assert_uint_eq(pr.match, 8);
	ck_assert_uint_eq(pr.next, 10);
	/* A stale ack changes nothing. */
	ck_assert(!raft__progress_maybe_update(&pr, 5));
	ck_assert_uint_eq(pr.match, 8);
	/* The ring wraps around. */
	raft__progress_sent(&pr, 12, 3);
	raft__progress_sent(&pr, 15, 3);
	ck_assert(raft__progress_is_paused(&pr));
	ck_assert(raft__progress_maybe_update(&pr, 15));
	ck_assert_uint_eq(pr.infl.count, 0);
	raft__progress_close(&pr);
}
END_TEST

START_TEST(test_probe_one_at_a_time)
{
	struct raft_progress pr;

	ck_assert_int_eq(raft__progress_init(&pr, 2, 8), 0);
	raft__progress_reset(&pr, 11);
	ck_assert_int_eq(pr.state, RAFT_PR_PROBE);
	ck_assert(!raft__progress_is_paused(&pr));
	raft__progress_sent(&pr, 12, 2);
	/* Probing does not advance next optimistically. */
	ck_assert_uint_eq(pr.next, 11);
	ck_assert(raft__progress_is_paused(&pr));
	/* The rejection of prev 10 with hint 4 jumps back to 4. */
	ck_assert(raft__progress_maybe_decr(&pr, 10, 4, 0));
	ck_assert_uint_eq(pr.next, 4);
	ck_assert(!raft__progress_is_paused(&pr));
	/* A stale rejection (of a probe not out now) is ignored. */
	ck_assert(!raft__progress_maybe_decr(&pr, 10, 2, 0));
	ck_assert_uint_eq(pr.next, 4);
	raft__progress_close(&pr);
}
END_TEST

START_TEST(test_replicate_reject_back_to_probe)
{
	struct raft_progress pr;

	ck_assert_int_eq(raft__progress_init(&pr, 2, 8), 0);
	raft__progress_reset(&pr, 1);
	raft__progress_maybe_update(&pr, 5);
	raft__progress_become_replicate(&pr);
	raft__progress_sent(&pr, 9, 4);
	/* A rejection at or below match is stale. */
	ck_assert(!raft__progress_maybe_decr(&pr, 5, 1, 0));
	ck_assert_int_eq(pr.state, RAFT_PR_REPLICATE);
	/* Past match: fall back to probe, never below match + 1. */
	ck_assert(raft__progress_maybe_decr(&pr, 9, 2, 0));
	ck_assert_int_eq(pr.state, RAFT_PR_PROBE);
	ck_assert_uint_eq(pr.next, 6);
	ck_assert_uint_eq(pr.infl.count, 0);
	raft__progress_close(&pr);
}
END_TEST

/* A follower whose disk lost entries it had acknowledged (match 10, its log
 * now ends at 6) rejects the probe sent after match was recorded: match
 * falls back to its real end so the lost entries are sent again. */
START_TEST(test_probe_reject_below_match_lost_entries)
{
	struct raft_progress pr;

	ck_assert_int_eq(raft__progress_init(&pr, 2, 8), 0);
	raft__progress_reset(&pr, 1);
	raft__progress_maybe_update(&pr, 10);
	raft__progress_become_probe(&pr);
	ck_assert_uint_eq(pr.next, 11);
	pr.append_seq = 7;
	pr.probe_seq = 7;
	raft__progress_sent(&pr, 10, 0);
	/* Answer to the probe out now: log ends at 6 (hint 7). */
	ck_assert(raft__progress_maybe_decr(&pr, 10, 7, 7));
	ck_assert_uint_eq(pr.match, 6);
	ck_assert_uint_eq(pr.next, 7);
	ck_assert(!raft__progress_is_paused(&pr));
	raft__progress_close(&pr);
}
END_TEST

/* The same rejection carried by an older append (a stamp other than the
 * probe out now, or none) may predate the acknowledgement: ignored. */
START_TEST(test_probe_stale_reject_keeps_match)
{
	struct raft_progress pr;

	ck_assert_int_eq(raft__progress_init(&pr, 2, 8), 0);
	raft__progress_reset(&pr, 1);
	raft__progress_maybe_update(&pr, 10);
	raft__progress_become_probe(&pr);
	pr.append_seq = 7;
	pr.probe_seq = 7;
	raft__progress_sent(&pr, 10, 0);
	ck_assert(!raft__progress_maybe_decr(&pr, 10, 7, 3) || pr.match == 10);
	ck_assert_uint_eq(pr.match, 10);
	ck_assert_uint_eq(pr.next, 11);
	ck_assert(!raft__progress_maybe_decr(&pr, 10, 7, 0) || pr.match == 10);
	ck_assert_uint_eq(pr.match, 10);
	ck_assert_uint_eq(pr.next, 11);
	/* In replicate state a rejection at or below match stays stale. */
	raft__progress_become_replicate(&pr);
	ck_assert(!raft__progress_maybe_decr(&pr, 10, 7, 7));
	ck_assert_uint_eq(pr.match, 10);
	raft__progress_close(&pr);
}
END_TEST

static raft_index idx_tab[8];
static raft_index idx_of(void *arg, raft_id id)
{
	(void)arg;
	return idx_tab[id];
}

static int vote_tab[8];
static int vote_of(void *arg, raft_id id)
{
	(void)arg;
	return vote_tab[id];
}

START_TEST(test_quorum_majority_not_all)
{
	struct raft_quorum c;
	raft_id ids[5] = {1, 2, 3, 4, 5};

	ck_assert_int_eq(raft__quorum_init(&c, ids, 5), 0);
	idx_tab[1] = 9;
	idx_tab[2] = 7;
	idx_tab[3] = 3;
	idx_tab[4] = 8;
	idx_tab[5] = 1;
	/* 3 of 5 hold >= 7. */
	ck_assert_uint_eq(raft__quorum_quorum_index(&c, idx_of, NULL), 7);
	vote_tab[1] = 1;
	vote_tab[2] = 1;
	vote_tab[3] = -1;
	vote_tab[4] = 0;
	vote_tab[5] = -1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_PENDING);
	vote_tab[4] = -1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_LOST);
	vote_tab[4] = 1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_WON);
	/* Duplicates, zero ids and empty sets are refused. */
	ids[1] = 1;
	ck_assert_int_ne(raft__quorum_init(&c, ids, 5), 0);
	ids[1] = 0;
	ck_assert_int_ne(raft__quorum_init(&c, ids, 5), 0);
	ck_assert_int_ne(raft__quorum_init(&c, ids, 0), 0);
}
END_TEST

Suite *progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");

	tcase_add_test(tc, test_inflights_window);
	tcase_add_test(tc, test_probe_one_at_a_time);
	tcase_add_test(tc, test_replicate_reject_back_to_probe);
	tcase_add_test(tc, test_probe_reject_below_match_lost_entries);
	tcase_add_test(tc, test_probe_stale_reject_keeps_match);
	tcase_add_test(tc, test_quorum_majority_not_all);
	suite_add_tcase(s, tc);
	return s;
}
