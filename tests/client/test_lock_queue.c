/* test_lock_queue.c - Check tests of the order of a lock's waiters
 * (kvc_lock_predecessor(), kvc_lock.c): the lowest mod index holds the
 * lock, everyone else waits on the waiter just before it, no network. */
#include <check.h>
#include <stdlib.h>

#include "kvc_lock_queue.h"

#define W(k, i)                                                                \
	{                                                                      \
		.key = (char *)(k), .index = (i)                               \
	}

START_TEST(test_first_holds)
{
	struct kvc_lock_waiter w[] = {W("l/b", 7)};
	ck_assert_ptr_null(kvc_lock_predecessor(w, 1, &w[0]));
}
END_TEST

START_TEST(test_waits_on_the_one_just_before)
{
	/* Key order is not queue order: the index is. */
	struct kvc_lock_waiter w[] = {W("l/a", 30), W("l/b", 10), W("l/c", 20),
				      W("l/d", 40)};
	ck_assert_ptr_null(kvc_lock_predecessor(w, 4, &w[1]));
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[2]), &w[1]);
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[0]), &w[2]);
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[3]), &w[0]);
}
END_TEST

START_TEST(test_ties_by_key)
{
	/* Keys created by one transaction share an index: the key breaks
	 * the tie, the same way for every waiter. */
	struct kvc_lock_waiter w[] = {W("l/b", 5), W("l/a", 5), W("l/c", 5),
				      W("l/z", 4)};
	ck_assert_ptr_null(kvc_lock_predecessor(w, 4, &w[3]));
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[1]), &w[3]);
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[0]), &w[1]);
	ck_assert_ptr_eq(kvc_lock_predecessor(w, 4, &w[2]), &w[0]);
}
END_TEST

START_TEST(test_every_waiter_has_one_distinct_predecessor)
{
	/* A chain: exactly one holder, and no two waiters watch the same
	 * key (no thundering herd), for random queues. */
	srand(16);
	for (int round = 0; round < 200; round++) {
		enum { N = 12 };
		struct kvc_lock_waiter w[N];
		char keys[N][8];
		for (int i = 0; i < N; i++) {
			keys[i][0] = 'l';
			keys[i][1] = '/';
			keys[i][2] = (char)('a' + i);
			keys[i][3] = '\0';
			w[i].key = keys[i];
			w[i].index = (uint64_t)(rand() % 6);
		}
		int holders = 0;
		int watched[N] = {0};
		for (int i = 0; i < N; i++) {
			const struct kvc_lock_waiter *p =
			    kvc_lock_predecessor(w, N, &w[i]);
			if (!p) {
				holders++;
				continue;
			}
			ck_assert(p->index <= w[i].index);
			watched[p - w]++;
		}
		ck_assert_int_eq(holders, 1);
		for (int i = 0; i < N; i++)
			ck_assert_int_le(watched[i], 1);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lock-queue");
	TCase *t = tcase_create("order");
	tcase_add_test(t, test_first_holds);
	tcase_add_test(t, test_waits_on_the_one_just_before);
	tcase_add_test(t, test_ties_by_key);
	tcase_add_test(t, test_every_waiter_has_one_distinct_predecessor);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
