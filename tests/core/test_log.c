/* test_log.c - the in-memory log: append, term_at, truncate, offset. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core_buf.h"
#include "core_log.h"
#include "suites.h"

static struct raft_entry ent(raft_index index, raft_term term)
{
	struct raft_entry e = {
	    .term = term, .index = index, .type = RAFT_ENTRY_NORMAL};
	return e;
}

static void append(struct raft_log *l, raft_index index, raft_term term,
		   const char *data)
{
	struct raft_entry e = ent(index, term);

	e.len = (uint32_t)strlen(data);
	ck_assert_int_eq(raft__buf_new(data, e.len, &e.data), 0);
	ck_assert_int_eq(raft__log_append(l, &e), 0);
}

START_TEST(test_empty_log)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	ck_assert_uint_eq(raft__log_first_index(&l), 1);
	ck_assert_uint_eq(raft__log_last_index(&l), 0);
	ck_assert_uint_eq(raft__log_last_term(&l), 0);
	ck_assert_uint_eq(raft__log_term_at(&l, 0), 0);
	ck_assert_uint_eq(raft__log_term_at(&l, 1), 0);
	ck_assert_ptr_null(raft__log_get(&l, 1));
	raft__log_close(&l);
}
END_TEST

START_TEST(test_append_and_term_at)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "a");
	append(&l, 2, 1, "bb");
	append(&l, 3, 2, "ccc");
	ck_assert_uint_eq(raft__log_last_index(&l), 3);
	ck_assert_uint_eq(raft__log_last_term(&l), 2);
	ck_assert_uint_eq(raft__log_term_at(&l, 2), 1);
	ck_assert_uint_eq(raft__log_term_at(&l, 4), 0);
	ck_assert_mem_eq(raft__log_get(&l, 3)->data, "ccc", 3);
	/* Appended entries are neither handed out nor durable yet. */
	ck_assert_uint_eq(l.stable_handed, 0);
	ck_assert_uint_eq(l.persisted, 0);
	raft__log_close(&l);
}
END_TEST

START_TEST(test_offset_by_snapshot)
{
	struct raft_log l;
	struct raft_entry restored[2] = {ent(11, 3), ent(12, 4)};

	ck_assert_int_eq(raft__log_init(&l, 10, 3, restored, 2), 0);
	ck_assert_uint_eq(raft__log_first_index(&l), 11);
	ck_assert_uint_eq(raft__log_last_index(&l), 12);
	ck_assert_uint_eq(raft__log_term_at(&l, 10), 3);
	ck_assert_uint_eq(raft__log_term_at(&l, 9), 0);
	ck_assert_uint_eq(raft__log_term_at(&l, 12), 4);
	ck_assert_ptr_null(raft__log_get(&l, 10));
	ck_assert_uint_eq(raft__log_get(&l, 11)->index, 11);
	/* Restored entries are durable; commit starts at the snapshot. */
	ck_assert_uint_eq(l.persisted, 12);
	ck_assert_uint_eq(l.stable_handed, 12);
	ck_assert_uint_eq(l.commit, 10);
	append(&l, 13, 4, "x");
	ck_assert_uint_eq(raft__log_last_index(&l), 13);
	raft__log_close(&l);
}
END_TEST

START_TEST(test_truncate_suffix)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	for (raft_index i = 1; i <= 5; i++)
		append(&l, i, i < 3 ? 1 : 2, "e");
	l.stable_handed = 5;
	l.persisted = 4;
	l.commit = 2;
	raft__log_truncate_from(&l, 3);
	ck_assert_uint_eq(raft__log_last_index(&l), 2);
	/* What was handed out or durable beyond the cut is forgotten. */
	ck_assert_uint_eq(l.stable_handed, 2);
	ck_assert_uint_eq(l.persisted, 2);
	append(&l, 3, 3, "new");
	ck_assert_uint_eq(raft__log_term_at(&l, 3), 3);
	raft__log_close(&l);
}
END_TEST

START_TEST(test_truncate_committed_asserts)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "a");
	append(&l, 2, 1, "b");
	l.commit = 2;
	/* The assertion message is expected: keep it out of the log. */
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	raft__log_truncate_from(&l, 2); /* aborts */
}
END_TEST

START_TEST(test_up_to_date)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "a");
	append(&l, 2, 2, "b");
	ck_assert(raft__log_is_up_to_date(&l, 2, 2));
	ck_assert(raft__log_is_up_to_date(&l, 3, 2));
	ck_assert(!raft__log_is_up_to_date(&l, 1, 2));
	ck_assert(raft__log_is_up_to_date(&l, 1, 3)); /* later term wins */
	ck_assert(!raft__log_is_up_to_date(&l, 9, 1));
	raft__log_close(&l);
}
END_TEST

START_TEST(test_term_start_and_batch)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "aaaa");
	append(&l, 2, 2, "bbbb");
	append(&l, 3, 2, "cccc");
	append(&l, 4, 2, "dddd");
	append(&l, 5, 3, "eeee");
	ck_assert_uint_eq(raft__log_term_start(&l, 4, 1), 2);
	ck_assert_uint_eq(raft__log_term_start(&l, 4, 3), 3); /* floor */
	ck_assert_uint_eq(raft__log_term_start(&l, 5, 1), 5);
	ck_assert_uint_eq(raft__log_batch(&l, 1, 100, 1 << 20), 5);
	ck_assert_uint_eq(raft__log_batch(&l, 2, 2, 1 << 20), 2);
	ck_assert_uint_eq(raft__log_batch(&l, 1, 100, 9), 2);
	/* One entry goes even when it alone is over the byte limit. */
	ck_assert_uint_eq(raft__log_batch(&l, 1, 100, 1), 1);
	ck_assert_uint_eq(raft__log_batch(&l, 6, 100, 100), 0);
	raft__log_close(&l);
}
END_TEST

START_TEST(test_persisted_bookkeeping)
{
	struct raft_log l;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "a");
	append(&l, 2, 1, "b");
	/* Not handed out for storage yet: a report cannot be true. */
	ck_assert(!raft__log_persisted(&l, 2, 1));
	l.stable_handed = 2;
	ck_assert(!raft__log_persisted(&l, 2, 7)); /* other term */
	ck_assert(raft__log_persisted(&l, 1, 1));
	ck_assert_uint_eq(l.persisted, 1);
	ck_assert(raft__log_persisted(&l, 2, 1));
	ck_assert(!raft__log_persisted(&l, 1, 1)); /* no going back */
	ck_assert_uint_eq(l.persisted, 2);
	raft__log_close(&l);
}
END_TEST

START_TEST(test_buffers_shared)
{
	struct raft_log l;
	struct raft_entry copy;

	ck_assert_int_eq(raft__log_init(&l, 0, 0, NULL, 0), 0);
	append(&l, 1, 1, "shared");
	raft__entry_share(&copy, raft__log_get(&l, 1));
	ck_assert_ptr_eq(copy.data, raft__log_get(&l, 1)->data);
	/* The copy outlives the log's own reference (ASan checks this). */
	raft__log_close(&l);
	ck_assert_mem_eq(copy.data, "shared", 6);
	raft__buf_unref(copy.data);
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_empty_log);
	tcase_add_test(tc, test_append_and_term_at);
	tcase_add_test(tc, test_offset_by_snapshot);
	tcase_add_test(tc, test_truncate_suffix);
	tcase_add_test_raise_signal(tc, test_truncate_committed_asserts,
				    SIGABRT);
	tcase_add_test(tc, test_up_to_date);
	tcase_add_test(tc, test_term_start_and_batch);
	tcase_add_test(tc, test_persisted_bookkeeping);
	tcase_add_test(tc, test_buffers_shared);
	suite_add_tcase(s, tc);
	return s;
}
