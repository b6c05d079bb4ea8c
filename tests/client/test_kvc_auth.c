/* test_kvc_auth.c - Check tests of libkvc's token and auth calls against
 * a running 3-member cluster whose auth test_kvctl_auth.py turned on:
 * kvc_token_create/list/revoke, KVC_EUNAUTHORIZED without a token,
 * KVC_EFORBIDDEN outside a token's role, and the token carried by every
 * kind of call (blocking, watch, async, async watch).
 *
 * Environment: KVC_ENDPOINTS, KVC_ROOT_TOKEN (an admin token). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "kvc.h"
#include "kvc_async.h"

#define DEADLINE_S 120.0 /* generous: a loaded machine */

static const char *endpoints, *root;

static struct kvc *open_with(const char *token)
{
	struct kvc_options o;
	struct kvc *h;
	kvc_options_init(&o);
	o.retry_deadline_ms = 30000;
	o.token = token;
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
	return h;
}

START_TEST(test_tokens_and_roles)
{
	struct kvc *adm = open_with(root);
	char *rw = NULL, *ro = NULL, *gone = NULL, *dup = NULL;
	ck_assert_int_eq(kvc_token_create(adm, "c-rw", "readwrite", "c/", &rw),
			 0);
	ck_assert_int_eq(kvc_token_create(adm, "c-ro", "readonly", "c/", &ro),
			 0);
	ck_assert_int_eq(kvc_token_create(adm, "c-gone", "admin", NULL, &gone),
			 0);
	ck_assert_int_eq(kvc_token_create(adm, "c-rw", "readwrite", "c/", &dup),
			 KVC_ECONFLICT);
	ck_assert_ptr_null(dup);
	ck_assert_int_eq(kvc_auth_enable(adm, &dup), KVC_ECONFLICT);
	ck_assert_ptr_null(dup);
	struct kvc_token *t;
	size_t n;
	ck_assert_int_eq(kvc_token_list(adm, &t, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, "c-ro") == 0) {
			ck_assert_str_eq(t[i].role, "readonly");
			ck_assert_str_eq(t[i].prefix, "c/");
			found = true;
		}
	ck_assert(found);
	kvc_tokens_free(t, n);
	/* A revoked token is refused by the member that applied the
	 * revocation: the leader, which a linearizable read goes to. */
	struct kvc *hgone = open_with(gone);
	ck_assert_int_eq(kvc_put(hgone, "c/g", "1", 1, NULL), 0);
	ck_assert_int_eq(kvc_token_revoke(adm, "c-gone"), 0);
	ck_assert_int_eq(kvc_token_revoke(adm, "c-gone"), KVC_ENOTFOUND);
	void *gv;
	size_t glen;
	ck_assert_int_eq(kvc_get(hgone, "c/g", 0, &gv, &glen, NULL),
			 KVC_EUNAUTHORIZED);
	kvc_close(hgone);
	free(gone);

	struct kvc *hrw = open_with(rw), *hro = open_with(ro);
	struct kvc *none = open_with(NULL);
	ck_assert_int_eq(kvc_put(hrw, "c/a", "1", 1, NULL), 0);
	ck_assert_int_eq(kvc_put(hrw, "d/a", "1", 1, NULL), KVC_EFORBIDDEN);
	ck_assert_int_eq(kvc_put(hro, "c/b", "1", 1, NULL), KVC_EFORBIDDEN);
	ck_assert_ptr_nonnull(strstr(kvc_errmsg(hro), "forbidden"));
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(hro, "c/a", 0, &v, &len, NULL), 0);
	free(v);
	ck_assert_int_eq(kvc_get(none, "c/a", 0, &v, &len, NULL),
			 KVC_EUNAUTHORIZED);
	ck_assert_str_eq(kvc_strerror(KVC_EUNAUTHORIZED), "unauthorized");
	ck_assert_str_eq(kvc_strerror(KVC_EFORBIDDEN), "forbidden");
	/* The token never shows in a message. */
	ck_assert_ptr_null(strstr(kvc_errmsg(hro), ro));

	/* A watch carries the token: from history, it sees a key under
	 * c/. */
	struct kvc_watch *w;
	ck_assert_int_eq(kvc_watch_open(hro, "c/", KVC_WATCH_PREFIX, 1, &w), 0);
	struct kvc_event ev;
	ck_assert_int_eq(kvc_watch_next(w, &ev, 60000), 0);
	ck_assert_int_eq(strncmp(ev.key, "c/", 2), 0);
	kvc_watch_close(w);
	ck_assert_int_eq(kvc_watch_open(none, "c/", KVC_WATCH_PREFIX, 1, &w),
			 KVC_EUNAUTHORIZED);
	ck_assert_int_eq(kvc_watch_open(hro, "d/", KVC_WATCH_PREFIX, 1, &w),
			 KVC_EFORBIDDEN);

	kvc_close(none);
	kvc_close(hro);
	kvc_close(hrw);
	free(rw);
	free(ro);
	kvc_close(adm);
}
END_TEST

/* ---- The async API carries the token too. ---- */

static struct event_base *base;
static int done, last_err, events;

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

static void run_until(const int *counter, int want)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 100000};
	event_add(t, &tv);
	double end = now_s() + DEADLINE_S;
	while (*counter < want && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	ck_assert_int_ge(*counter, want);
}

static void on_put(void *arg, int err, uint64_t index)
{
	(void)arg;
	(void)index;
	last_err = err;
	done++;
}

static void on_get(void *arg, int err, const void *value, size_t len,
		   uint64_t mod_index)
{
	(void)arg;
	(void)value;
	(void)len;
	(void)mod_index;
	last_err = err;
	done++;
}

static void on_event(void *arg, int err, const struct kvc_event *ev)
{
	(void)arg;
	(void)ev;
	last_err = err;
	events++;
}

START_TEST(test_async_token)
{
	struct kvc_options o;
	struct kvc_async *a, *anon;
	kvc_options_init(&o);
	o.retry_deadline_ms = 30000;
	base = event_base_new();
	ck_assert_int_eq(kvc_async_open(base, endpoints, &o, &anon), 0);
	o.token = root;
	ck_assert_int_eq(kvc_async_open(base, endpoints, &o, &a), 0);
	done = 0;
	ck_assert_int_eq(kvc_async_put(a, "c/async", "x", 1, on_put, NULL), 0);
	run_until(&done, 1);
	ck_assert_int_eq(last_err, 0);
	ck_assert_int_eq(kvc_async_get(anon, "c/async", 0, on_get, NULL), 0);
	run_until(&done, 2);
	ck_assert_int_eq(last_err, KVC_EUNAUTHORIZED);
	ck_assert_int_eq(kvc_async_get(a, "c/async", 0, on_get, NULL), 0);
	run_until(&done, 3);
	ck_assert_int_eq(last_err, 0);
	events = 0;
	ck_assert_int_eq(
	    kvc_async_watch(a, "c/async", 0, 1, on_event, NULL, NULL), 0);
	run_until(&events, 1);
	ck_assert_int_eq(last_err, 0);
	kvc_async_close(a);
	kvc_async_close(anon);
	event_base_free(base);
	base = NULL;
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_ENDPOINTS");
	root = getenv("KVC_ROOT_TOKEN");
	if (!endpoints || !root) {
		fprintf(stderr, "KVC_ENDPOINTS and KVC_ROOT_TOKEN are needed "
				"(test_kvctl_auth.py)\n");
		return 77;
	}
	Suite *s = suite_create("kvc_auth");
	TCase *tc = tcase_create("auth");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_tokens_and_roles);
	tcase_add_test(tc, test_async_token);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
