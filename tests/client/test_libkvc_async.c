/* test_libkvc_async.c - Check tests of libkvc's event-loop API (kvc_async.h)
 * against a running 3-member cluster (KVC_ENDPOINTS; KVC_KILL_PID: the pid
 * of the first endpoint's member, which the last test kills -9), started by
 * test_async.py. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>

#include "kvc.h"
#include "kvc_async.h"

#define N_PUTS	   1000
#define DEADLINE_S 120.0 /* generous: a loaded machine */

static const char *endpoints;
static char prefix[64]; /* per run, so reruns on one cluster don't clash */
static struct event_base *base;
static struct kvc_async *a;

static void setup(void)
{
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 30000;
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(kvc_async_open(base, endpoints, &o, &a), 0);
}

static void teardown(void)
{
	kvc_async_close(a);
	a = NULL;
	event_base_free(base);
	base = NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until *@done reaches @want or the deadline passes. */
static void run_until(const int *done, int want)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 100000};
	event_add(t, &tv);
	double end = now_s() + DEADLINE_S;
	while (*done < want && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	ck_assert_int_ge(*done, want);
}

struct put_res {
	int calls;
	int err;
	uint64_t index;
};
static struct put_res puts_[N_PUTS];
static int n_done;

static void on_put(void *arg, int err, uint64_t index)
{
	struct put_res *r = arg;
	r->calls++;
	r->err = err;
	r->index = index;
	n_done++;
}

struct get_res {
	int calls;
	int err;
	char value[32];
	uint64_t mod;
};
static struct get_res gets_[N_PUTS];

static void on_get(void *arg, int err, const void *value, size_t len,
		   uint64_t mod)
{
	struct get_res *r = arg;
	r->calls++;
	r->err = err;
	if (err == 0 && len < sizeof(r->value)) {
		memcpy(r->value, value, len);
		r->value[len] = '\0';
	}
	r->mod = mod;
	n_done++;
}

static void key(char *buf, size_t n, const char *what, int i)
{
	snprintf(buf, n, "%s/%s/%04d", prefix, what, i);
}

static void put_all(const char *what, int n)
{
	for (int i = 0; i < n; i++) {
		char k[128], v[32];
		key(k, sizeof(k), what, i);
		snprintf(v, sizeof(v), "v%d", i);
		ck_assert_int_eq(
		    kvc_async_put(a, k, v, strlen(v), on_put, &puts_[i]), 0);
	}
}

START_TEST(test_bad_arguments)
{
	struct kvc_async *x = NULL;
	ck_assert_int_eq(kvc_async_open(NULL, endpoints, NULL, &x), KVC_EINVAL);
	ck_assert_int_eq(kvc_async_open(base, "not a url:", NULL, &x),
			 KVC_EINVAL);
	ck_assert_ptr_null(x);
	ck_assert_int_eq(kvc_async_put(a, "", "v", 1, on_put, NULL),
			 KVC_EINVAL);
	ck_assert_int_eq(kvc_async_put(a, "k", "v", 1, NULL, NULL), KVC_EINVAL);
	ck_assert_int_eq(kvc_async_get(a, "k", 99, on_get, NULL), KVC_EINVAL);
	ck_assert_str_eq(kvc_strerror(KVC_ECANCELED), "cancelled");
}
END_TEST

/* 1000 puts in flight from one base, each acknowledged once and applied
 * once (its index its key's mod index), then read back. */
START_TEST(test_many_puts_then_gets)
{
	memset(puts_, 0, sizeof(puts_));
	memset(gets_, 0, sizeof(gets_));
	n_done = 0;
	put_all("many", N_PUTS);
	ck_assert_int_eq(n_done, 0); /* never called from inside the call */
	run_until(&n_done, N_PUTS);
	for (int i = 0; i < N_PUTS; i++) {
		ck_assert_int_eq(puts_[i].calls, 1);
		ck_assert_msg(puts_[i].err == 0, "put %d: %s", i,
			      kvc_strerror(puts_[i].err));
		ck_assert_uint_gt(puts_[i].index, 0);
	}
	n_done = 0;
	for (int i = 0; i < N_PUTS; i++) {
		char k[128];
		key(k, sizeof(k), "many", i);
		ck_assert_int_eq(kvc_async_get(a, k, 0, on_get, &gets_[i]), 0);
	}
	run_until(&n_done, N_PUTS);
	for (int i = 0; i < N_PUTS; i++) {
		char v[32];
		snprintf(v, sizeof(v), "v%d", i);
		ck_assert_int_eq(gets_[i].calls, 1);
		ck_assert_int_eq(gets_[i].err, 0);
		ck_assert_str_eq(gets_[i].value, v);
		/* Applied once: a second application would move the key's
		 * mod index past the acknowledged one. */
		ck_assert_uint_eq(gets_[i].mod, puts_[i].index);
	}
}
END_TEST

static void on_del(void *arg, int err, uint64_t index, bool deleted)
{
	int *r = arg;
	*r = err == 0 && index > 0 && deleted ? 1 : err;
	n_done++;
}

START_TEST(test_del_and_missing_get)
{
	char k[128];
	key(k, sizeof(k), "del", 0);
	n_done = 0;
	memset(puts_, 0, sizeof(puts_));
	ck_assert_int_eq(kvc_async_put(a, k, "x", 1, on_put, &puts_[0]), 0);
	run_until(&n_done, 1);
	int dr = 0;
	ck_assert_int_eq(kvc_async_del(a, k, on_del, &dr), 0);
	run_until(&n_done, 2);
	ck_assert_int_eq(dr, 1);
	struct get_res g = {0};
	ck_assert_int_eq(kvc_async_get(a, k, 0, on_get, &g), 0);
	run_until(&n_done, 3);
	ck_assert_int_eq(g.err, KVC_ENOTFOUND);
}
END_TEST

/* What a watch saw. */
struct seen {
	int n;
	uint64_t idx[4 * N_PUTS];
	int err;
	int ended;
};

static void on_event(void *arg, int err, const struct kvc_event *ev)
{
	struct seen *s = arg;
	if (err) {
		s->err = err;
		s->ended++;
		return;
	}
	ck_assert_int_lt(s->n, 4 * N_PUTS);
	if (s->n > 0)
		ck_assert_uint_gt(ev->index, s->idx[s->n - 1]);
	s->idx[s->n++] = ev->index;
}

/* The number of acknowledged puts the watch saw, each exactly once. */
static int count_seen(const struct seen *s, int n_puts)
{
	int found = 0;
	for (int i = 0; i < n_puts; i++) {
		if (puts_[i].err != 0)
			continue;
		int c = 0;
		for (int j = 0; j < s->n; j++)
			c += s->idx[j] == puts_[i].index;
		ck_assert_int_le(c, 1);
		found += c;
	}
	return found;
}

static uint64_t start_index(void)
{
	struct kvc *h;
	ck_assert_int_eq(kvc_open(endpoints, NULL, &h), 0);
	char k[128];
	key(k, sizeof(k), "marker", 0);
	uint64_t idx = 0;
	ck_assert_int_eq(kvc_put(h, k, "m", 1, &idx), 0);
	kvc_close(h);
	return idx;
}

static struct seen seen_;

static void watch_sees_puts(const char *what, int n, bool kill_first)
{
	memset(puts_, 0, sizeof(puts_));
	memset(&seen_, 0, sizeof(seen_));
	uint64_t from = start_index() + 1;
	char p[128];
	snprintf(p, sizeof(p), "%s/%s/", prefix, what);
	struct kvc_async_watch *w;
	ck_assert_int_eq(
	    kvc_async_watch(a, p, KVC_WATCH_PREFIX, from, on_event, &seen_, &w),
	    0);
	n_done = 0;
	put_all(what, n / 2);
	run_until(&n_done, n / 4);
	if (kill_first) {
		const char *pid = getenv("KVC_KILL_PID");
		ck_assert_ptr_nonnull(pid);
		/* The first endpoint serves the watch, and perhaps leads. */
		ck_assert_int_eq(kill((pid_t)atol(pid), SIGKILL), 0);
	}
	run_until(&n_done, n / 2);
	for (int i = n / 2; i < n; i++) {
		char k[128], v[32];
		key(k, sizeof(k), what, i);
		snprintf(v, sizeof(v), "v%d", i);
		ck_assert_int_eq(
		    kvc_async_put(a, k, v, strlen(v), on_put, &puts_[i]), 0);
	}
	run_until(&n_done, n);
	int acked = 0, first_err = 0;
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(puts_[i].calls, 1);
		if (puts_[i].err == 0)
			acked++;
		else if (!first_err)
			first_err = puts_[i].err;
	}
	/* Without a failure every put is acknowledged; with one, most. */
	ck_assert_int_ge(acked, kill_first ? n / 2 : n);
	double end = now_s() + DEADLINE_S;
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 100000};
	event_add(t, &tv);
	while (count_seen(&seen_, n) < acked && !seen_.ended && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	ck_assert_msg(!seen_.ended, "the watch ended: %s",
		      kvc_strerror(seen_.err));
	ck_assert_int_eq(count_seen(&seen_, n), acked);
	printf("%s: %d of %d puts acknowledged (first failure: %s), each seen "
	       "once in %d events\n",
	       what, acked, n, first_err ? kvc_strerror(first_err) : "none",
	       seen_.n);
	ck_assert_uint_ge(kvc_async_watch_index(w), from - 1);
	kvc_async_watch_cancel(w);
}

START_TEST(test_watch_sees_every_put_in_order)
{
	watch_sees_puts("watch", 200, false);
}
END_TEST

static int cancels;

static void on_put_cancel(void *arg, int err, uint64_t index)
{
	(void)index;
	ck_assert_int_eq(err, KVC_ECANCELED);
	cancels++;
	/* One callback starts another put while the handle closes: it is
	 * cancelled in turn. */
	if (arg)
		ck_assert_int_eq(
		    kvc_async_put(a, "again", "c", 1, on_put_cancel, NULL), 0);
}

static void on_event_cancel(void *arg, int err, const struct kvc_event *ev)
{
	(void)arg;
	ck_assert_int_eq(err, KVC_ECANCELED);
	ck_assert_ptr_null(ev);
	cancels++;
}

/* Close with requests pending: each callback once, with the cancel code. */
START_TEST(test_close_cancels_each_once)
{
	cancels = 0;
	for (int i = 0; i < 100; i++) {
		char k[128];
		key(k, sizeof(k), "cancel", i);
		ck_assert_int_eq(kvc_async_put(a, k, "c", 1, on_put_cancel,
					       i == 50 ? &cancels : NULL),
				 0);
	}
	ck_assert_int_eq(
	    kvc_async_watch(a, "c", 0, 0, on_event_cancel, NULL, NULL), 0);
	/* Some under way, some waiting for a connection. */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	kvc_async_close(a);
	a = NULL;
	ck_assert_int_eq(cancels, 102);
}
END_TEST

static int dead_err, dead_unknown, dead_watch_err, dead_calls;
static char dead_why[256];
static struct kvc_async *dead;

static void on_dead_put(void *arg, int err, uint64_t index)
{
	(void)arg;
	(void)index;
	dead_err = err;
	dead_unknown = kvc_async_outcome_unknown(dead);
	snprintf(dead_why, sizeof(dead_why), "%s", kvc_async_errmsg(dead));
	dead_calls++;
}

static void on_dead_event(void *arg, int err, const struct kvc_event *ev)
{
	(void)arg;
	ck_assert_ptr_null(ev);
	dead_watch_err = err;
	dead_calls++;
}

/* Nothing listens: a put gives up at once, certainly not applied; a watch
 * ends by the retry deadline. */
START_TEST(test_dead_cluster_gives_up)
{
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 3000;
	struct event_base *b = event_base_new();
	ck_assert_int_eq(kvc_async_open(b, "http://127.0.0.1:1", &o, &dead), 0);
	dead_calls = 0;
	ck_assert_int_eq(kvc_async_put(dead, "k", "v", 1, on_dead_put, NULL),
			 0);
	ck_assert_int_eq(
	    kvc_async_watch(dead, "k", 0, 0, on_dead_event, NULL, NULL), 0);
	struct event *t = event_new(b, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 100000};
	event_add(t, &tv);
	double end = now_s() + DEADLINE_S;
	while (dead_calls < 2 && now_s() < end)
		event_base_loop(b, EVLOOP_ONCE);
	event_free(t);
	ck_assert_int_eq(dead_calls, 2);
	ck_assert_int_eq(dead_err, KVC_EUNAVAILABLE);
	ck_assert_int_eq(dead_unknown, 0);
	ck_assert_str_eq(dead_why, "connection refused by every endpoint "
				   "(last 127.0.0.1:1)");
	ck_assert_int_eq(dead_watch_err, KVC_EUNAVAILABLE);
	kvc_async_close(dead);
	event_base_free(b);
}
END_TEST

/* The member the watch (and perhaps the writes) is on is killed -9
 * mid-run: every acknowledged put is seen exactly once. Last: it leaves
 * the cluster with two members. */
START_TEST(test_kill_mid_run)
{
	watch_sees_puts("kill", 400, true);
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_ENDPOINTS");
	if (!endpoints) {
		fprintf(stderr, "test_libkvc_async: set KVC_ENDPOINTS\n");
		return 1;
	}
	snprintf(prefix, sizeof(prefix), "libkvc-async-%ld", (long)time(NULL));
	Suite *s = suite_create("libkvc-async");
	TCase *tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_many_puts_then_gets);
	tcase_add_test(tc, test_del_and_missing_get);
	tcase_add_test(tc, test_watch_sees_every_put_in_order);
	tcase_add_test(tc, test_close_cancels_each_once);
	tcase_add_test(tc, test_dead_cluster_gives_up);
	tcase_add_test(tc, test_kill_mid_run);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
