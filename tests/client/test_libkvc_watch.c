/* test_libkvc_watch.c - Check tests of libkvc's watch API against a running
 * cluster (KVC_ENDPOINTS, started by test_watch.py with --watch-history 10
 * and --watch-progress-ms 200) and against a dead port. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvc.h"

static const char *endpoints;
static struct kvc *h;
static char prefix[64]; /* per run, so reruns on one cluster don't clash */

static void setup(void)
{
	struct kvc_options o = {.retry_deadline_ms = 20000};
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
}

static void teardown(void)
{
	kvc_close(h);
	h = NULL;
}

static void key(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", prefix, name);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The next change, waiting generously (a loaded machine). */
static void next_event(struct kvc_watch *w, struct kvc_event *ev)
{
	int rc = kvc_watch_next(w, ev, 30000);
	ck_assert_msg(rc == 0, "kvc_watch_next: %s: %s", kvc_strerror(rc),
		      kvc_errmsg(h));
}

START_TEST(test_bad_arguments)
{
	struct kvc_watch *w = (struct kvc_watch *)1;
	char longkey[600];
	memset(longkey, 'k', 512);
	longkey[512] = '\0';
	ck_assert_int_eq(kvc_watch_open(NULL, "k", 0, 0, &w), KVC_EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(kvc_watch_open(h, NULL, 0, 0, &w), KVC_EINVAL);
	ck_assert_int_eq(kvc_watch_open(h, "", 0, 0, &w), KVC_EINVAL);
	ck_assert_int_eq(kvc_watch_open(h, "k", 4u, 0, &w), KVC_EINVAL);
	ck_assert_int_eq(kvc_watch_open(h, longkey, 0, 0, &w), KVC_EINVAL);
	ck_assert_int_eq(kvc_watch_open(h, "k", 0, 0, NULL), KVC_EINVAL);
	struct kvc_event ev;
	ck_assert_int_eq(kvc_watch_next(NULL, &ev, 0), KVC_EINVAL);
	ck_assert_uint_eq(kvc_watch_index(NULL), 0);
	ck_assert_uint_eq(kvc_watch_oldest(NULL), 0);
	kvc_watch_close(NULL);
	ck_assert_str_eq(kvc_strerror(KVC_ECOMPACTED), "history compacted");
}
END_TEST

START_TEST(test_history_in_order)
{
	char a[128], b[128], other[160];
	key(a, sizeof(a), "hist/a");
	key(b, sizeof(b), "hist/b");
	snprintf(other, sizeof(other), "%s-other/x", prefix);
	uint64_t i1, i2, i3, ix;
	bool deleted;
	ck_assert_int_eq(kvc_put(h, a, "one\0two", 7, &i1), 0);
	ck_assert_int_eq(kvc_delete(h, a, &i2, &deleted), 0);
	ck_assert(deleted);
	ck_assert_int_eq(kvc_put(h, other, "x", 1, &ix), 0);
	ck_assert_int_eq(kvc_put(h, b, "b", 1, &i3), 0);
	char pfx[128];
	key(pfx, sizeof(pfx), "hist/");
	struct kvc_watch *w;
	ck_assert_int_eq(kvc_watch_open(h, pfx, KVC_WATCH_PREFIX, i1, &w), 0);
	ck_assert_uint_eq(kvc_watch_index(w), i1 - 1);
	struct kvc_event ev;
	next_event(w, &ev);
	ck_assert_int_eq(ev.type, KVC_EVENT_PUT);
	ck_assert_str_eq(ev.key, a);
	ck_assert_uint_eq(ev.value_len, 7);
	ck_assert_mem_eq(ev.value, "one\0two", 8); /* with its NUL */
	ck_assert_uint_eq(ev.index, i1);
	next_event(w, &ev);
	ck_assert_int_eq(ev.type, KVC_EVENT_DELETE);
	ck_assert_str_eq(ev.key, a);
	ck_assert_ptr_null(ev.value);
	ck_assert_uint_eq(ev.index, i2);
	next_event(w, &ev);
	ck_assert_int_eq(ev.type, KVC_EVENT_PUT);
	ck_assert_str_eq(ev.key, b);
	ck_assert_str_eq(ev.value, "b");
	ck_assert_uint_eq(ev.index, i3);
	/* A prefix watch cannot know yet that i3 has no more changes... */
	ck_assert_uint_ge(kvc_watch_index(w), i3 - 1);
	/* ...until a progress event says so; waiting returns KVC_ETIMEOUT
	 * meanwhile, and the stream goes on. */
	double deadline = now_s() + 60;
	while (kvc_watch_index(w) < i3 && now_s() < deadline)
		ck_assert_int_eq(kvc_watch_next(w, &ev, 300), KVC_ETIMEOUT);
	ck_assert_uint_ge(kvc_watch_index(w), i3);
	uint64_t i4;
	ck_assert_int_eq(kvc_put(h, b, "later", 5, &i4), 0);
	next_event(w, &ev);
	ck_assert_str_eq(ev.key, b);
	ck_assert_str_eq(ev.value, "later");
	ck_assert_uint_eq(ev.index, i4);
	kvc_watch_close(w);
}
END_TEST

START_TEST(test_key_from_now)
{
	char k[128], k2[128];
	key(k, sizeof(k), "now");
	key(k2, sizeof(k2), "now2");
	uint64_t old, i, i2;
	ck_assert_int_eq(kvc_put(h, k, "old", 3, &old), 0);
	struct kvc_watch *w;
	ck_assert_int_eq(kvc_watch_open(h, k, 0, 0, &w), 0);
	ck_assert_uint_gt(kvc_watch_index(w), 0);
	struct kvc_event ev;
	/* Nothing yet: a zero timeout only looks. ("Now" is the serving
	 * member's applied index: one that lagged behind the leader when the
	 * watch opened still sends the old put, here or below.) */
	double t0 = now_s();
	int rc = kvc_watch_next(w, &ev, 0);
	if (rc == 0) {
		ck_assert_uint_eq(ev.index, old);
		rc = kvc_watch_next(w, &ev, 0);
	}
	ck_assert_int_eq(rc, KVC_ETIMEOUT);
	ck_assert_double_lt(now_s() - t0, 5.0);
	/* Changes to another key (here a key it prefixes) are not seen. */
	ck_assert_int_eq(kvc_put(h, k2, "no", 2, &i2), 0);
	ck_assert_int_eq(kvc_put(h, k, "new", 3, &i), 0);
	next_event(w, &ev);
	if (ev.index == old)
		next_event(w, &ev);
	ck_assert_str_eq(ev.key, k);
	ck_assert_str_eq(ev.value, "new");
	ck_assert_uint_eq(ev.index, i);
	/* A key changes once per index: the index is complete at once. */
	ck_assert_uint_eq(kvc_watch_index(w), i);
	kvc_watch_close(w);
}
END_TEST

START_TEST(test_compacted_names_the_oldest)
{
	/* The cluster keeps 10 to 20 changes: 40 puts push index 1 out. */
	char k[128];
	key(k, sizeof(k), "cmp");
	uint64_t last = 0;
	for (int n = 0; n < 40; n++)
		ck_assert_int_eq(kvc_put(h, k, "x", 1, &last), 0);
	struct kvc_watch *w = (struct kvc_watch *)1;
	int rc = kvc_watch_open(h, k, 0, 1, &w);
	ck_assert_int_eq(rc, KVC_ECOMPACTED);
	ck_assert_ptr_null(w);
	uint64_t oldest = kvc_watch_oldest(h);
	ck_assert_uint_gt(oldest, 1);
	ck_assert_uint_le(oldest, last);
	ck_assert_ptr_nonnull(strstr(kvc_errmsg(h), "oldest index held"));
	/* From the oldest on, the history is whole (a member that applied
	 * more may have trimmed more: ask again with what it says). */
	for (int n = 0; n < 10 && rc == KVC_ECOMPACTED; n++) {
		rc = kvc_watch_open(h, k, 0, oldest, &w);
		if (rc == KVC_ECOMPACTED)
			oldest = kvc_watch_oldest(h);
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(kvc_watch_oldest(h), 0);
	struct kvc_event ev;
	next_event(w, &ev);
	ck_assert_uint_ge(ev.index, oldest);
	kvc_watch_close(w);
}
END_TEST

START_TEST(test_dead_cluster_gives_up_by_the_deadline)
{
	struct kvc_options o = {.connect_timeout_ms = 200,
				.request_timeout_ms = 500,
				.retry_deadline_ms = 1500};
	struct kvc *d;
	ck_assert_int_eq(kvc_open("127.0.0.1:1,127.0.0.1:2", &o, &d), 0);
	struct kvc_watch *w = (struct kvc_watch *)1;
	double t0 = now_s();
	ck_assert_int_eq(kvc_watch_open(d, "k", 0, 0, &w), KVC_EUNAVAILABLE);
	ck_assert_ptr_null(w);
	ck_assert_double_lt(now_s() - t0, 10.0);
	ck_assert_str_ne(kvc_errmsg(d), "");
	kvc_close(d);
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_ENDPOINTS");
	if (!endpoints) {
		fprintf(stderr, "test_libkvc_watch: set KVC_ENDPOINTS\n");
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "libkvc-watch-%ld", (long)time(NULL));
	Suite *s = suite_create("libkvc-watch");
	TCase *off = tcase_create("offline");
	tcase_add_test(off, test_dead_cluster_gives_up_by_the_deadline);
	tcase_set_timeout(off, 30);
	suite_add_tcase(s, off);
	TCase *on = tcase_create("cluster");
	tcase_add_checked_fixture(on, setup, teardown);
	tcase_add_test(on, test_bad_arguments);
	tcase_add_test(on, test_history_in_order);
	tcase_add_test(on, test_key_from_now);
	tcase_add_test(on, test_compacted_names_the_oldest);
	tcase_set_timeout(on, 180);
	suite_add_tcase(s, on);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
