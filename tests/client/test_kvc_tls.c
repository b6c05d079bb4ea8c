/* test_kvc_tls.c - Check tests of libkvc over TLS against real kvd members
 * with an HTTPS client listener that asks for client certificates, started
 * by test_client_tls.py with certificates it made: put, get and watch, the
 * async API's put, get and watch, a wrong CA, a host name the certificate
 * does not name, no client certificate, files that do not load.
 *
 * Environment: KVC_TLS_ENDPOINTS (https:// URLs of the cluster),
 * KVC_TLS_MISMATCH (an https:// URL whose certificate names another host),
 * KVC_TLS_DIR (ca.pem, rogue.pem, client.pem, client.key, ...). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "kvc.h"
#include "kvc_async.h"

#define DEADLINE_S 120.0 /* generous: a loaded machine */

static const char *endpoints, *mismatch, *dir;
static char prefix[64]; /* per run, so reruns on one cluster don't clash */

static char *path(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static char *key(const char *name)
{
	static char buf[4][128];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof(buf[0]), "%s%s", prefix, name);
	return p;
}

/* Options with the test's CA and client certificate. */
static void opts(struct kvc_options *o)
{
	kvc_options_init(o);
	o->retry_deadline_ms = 30000;
	o->cacert = path("ca.pem");
	o->cert = path("client.pem");
	o->key = path("client.key");
}

START_TEST(test_put_get_watch)
{
	struct kvc_options o;
	struct kvc *h;
	opts(&o);
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
	uint64_t idx = 0;
	ck_assert_int_eq(kvc_put(h, key("a"), "v1", 2, &idx), 0);
	ck_assert_uint_gt(idx, 0);
	void *v;
	size_t len;
	ck_assert_int_eq(kvc_get(h, key("a"), 0, &v, &len, NULL), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(v, "v1", 2);
	free(v);
	/* A stale read from any member (a follower may not have applied
	 * the write yet: asked again until it has), then a watch that sees
	 * a write. */
	int rc;
	time_t give_up = time(NULL) + 60;
	while ((rc = kvc_get(h, key("a"), KVC_GET_STALE, &v, &len, NULL)) ==
		   KVC_ENOTFOUND &&
	       time(NULL) < give_up) {
		struct timespec poll = {0, 20 * 1000 * 1000};
		nanosleep(&poll, NULL);
	}
	ck_assert_int_eq(rc, 0);
	free(v);
	struct kvc_watch *w;
	ck_assert_int_eq(kvc_watch_open(h, key("w"), 0, 0, &w), 0);
	ck_assert_int_eq(kvc_put(h, key("w"), "x", 1, &idx), 0);
	struct kvc_event ev;
	ck_assert_int_eq(kvc_watch_next(w, &ev, 60000), 0);
	ck_assert_int_eq(ev.type, KVC_EVENT_PUT);
	ck_assert_str_eq(ev.key, key("w"));
	ck_assert_uint_eq(ev.index, idx);
	kvc_watch_close(w);
	kvc_close(h);
}
END_TEST

/* The caller's strings may go away after kvc_open(): they are copied. */
START_TEST(test_options_copied)
{
	char ca[512], cert[512], k[512];
	snprintf(ca, sizeof(ca), "%s", path("ca.pem"));
	snprintf(cert, sizeof(cert), "%s", path("client.pem"));
	snprintf(k, sizeof(k), "%s", path("client.key"));
	struct kvc_options o;
	kvc_options_init(&o);
	o.retry_deadline_ms = 30000;
	o.cacert = ca;
	o.cert = cert;
	o.key = k;
	struct kvc *h;
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
	memset(ca, 0, sizeof(ca));
	memset(cert, 0, sizeof(cert));
	memset(k, 0, sizeof(k));
	ck_assert_int_eq(kvc_put(h, key("copied"), "c", 1, NULL), 0);
	kvc_close(h);
}
END_TEST

/* Refusals fail fast (every member refused twice), with a reason. */
static void refused(struct kvc_options *o, const char *eps, const char *want)
{
	struct kvc *h;
	o->retry_deadline_ms = 60000;
	ck_assert_int_eq(kvc_open(eps, o, &h), 0);
	time_t t0 = time(NULL);
	int rc = kvc_put(h, key("refused"), "r", 1, NULL);
	char msg[600];
	snprintf(msg, sizeof(msg), "%s", kvc_errmsg(h));
	kvc_close(h);
	ck_assert_int_eq(rc, KVC_EUNAVAILABLE);
	ck_assert_msg(strstr(msg, want) != NULL, "errmsg \"%s\" lacks \"%s\"",
		      msg, want);
	/* Not the whole retry deadline: a member we cannot trust (or that
	 * refuses us) counts as one that refuses the connection. */
	ck_assert_int_lt(time(NULL) - t0, 50);
}

START_TEST(test_wrong_ca)
{
	struct kvc_options o;
	opts(&o);
	o.cacert = path("rogue.pem");
	refused(&o, endpoints, "certificate is refused");
}
END_TEST

START_TEST(test_host_mismatch)
{
	struct kvc_options o;
	opts(&o);
	refused(&o, mismatch, "mismatch");
}
END_TEST

START_TEST(test_no_client_cert)
{
	struct kvc_options o;
	opts(&o);
	o.cert = o.key = NULL;
	/* TLS 1.3 ends the handshake before the member judges the client:
	 * its alert comes with the answer, or is lost to a reset; either
	 * way the member asked for a certificate and got none. */
	struct kvc *h;
	o.retry_deadline_ms = 60000;
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
	int rc = kvc_put(h, key("nocert"), "r", 1, NULL);
	char msg[600];
	snprintf(msg, sizeof(msg), "%s", kvc_errmsg(h));
	kvc_close(h);
	ck_assert_int_eq(rc, KVC_EUNAVAILABLE);
	ck_assert_msg(strstr(msg, "client certificate") != NULL,
		      "errmsg \"%s\"", msg);
}
END_TEST

START_TEST(test_bad_files)
{
	struct kvc_options o;
	struct kvc *h = NULL;
	opts(&o);
	o.cacert = path("missing.pem");
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), KVC_EINVAL);
	ck_assert_ptr_null(h);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "missing.pem"));
	opts(&o);
	o.key = NULL;
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "go together"));
	opts(&o);
	o.key = path("rogue.key"); /* another certificate's key */
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "does not match"));
	opts(&o);
	o.cacert = path("client.key"); /* not a certificate */
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), KVC_EINVAL);
	ck_assert_ptr_nonnull(strstr(kvc_open_error(), "does not load"));
	/* A token that would end its header line. */
	opts(&o);
	o.token = "abc\r\nX-Evil: 1";
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), KVC_EINVAL);
	ck_assert_ptr_null(strstr(kvc_open_error(), "Evil"));
	/* https:// alone builds a context from the system's store. */
	kvc_options_init(&o);
	ck_assert_int_eq(kvc_open(endpoints, &o, &h), 0);
	kvc_close(h);
}
END_TEST

/* ---- The async API on the caller's loop. ---- */

static struct event_base *base;
static int done, last_err;
static uint64_t last_index;
static char got[16];

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

static void run_until(int want)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 100000};
	event_add(t, &tv);
	double end = now_s() + DEADLINE_S;
	while (done < want && now_s() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	ck_assert_int_ge(done, want);
}

static void on_put(void *arg, int err, uint64_t index)
{
	(void)arg;
	last_err = err;
	last_index = index;
	done++;
}

static void on_get(void *arg, int err, const void *value, size_t len,
		   uint64_t mod_index)
{
	(void)arg;
	(void)mod_index;
	last_err = err;
	snprintf(got, sizeof(got), "%.*s", (int)len, (const char *)value);
	done++;
}

static int events, event_err;

static void on_event(void *arg, int err, const struct kvc_event *ev)
{
	(void)arg;
	(void)ev;
	event_err = err;
	events++;
}

START_TEST(test_async)
{
	struct kvc_options o;
	struct kvc_async *a;
	opts(&o);
	base = event_base_new();
	ck_assert_int_eq(kvc_async_open(base, endpoints, &o, &a), 0);
	done = 0;
	ck_assert_int_eq(kvc_async_put(a, key("as"), "av", 2, on_put, NULL), 0);
	run_until(1);
	ck_assert_int_eq(last_err, 0);
	ck_assert_int_eq(kvc_async_get(a, key("as"), 0, on_get, NULL), 0);
	run_until(2);
	ck_assert_int_eq(last_err, 0);
	ck_assert_str_eq(got, "av");
	/* A watch from now, then writes until it has seen one: nothing
	 * says when its stream is up, so each write waits a little for its
	 * event before the next. */
	struct kvc_async_watch *w;
	events = 0;
	ck_assert_int_eq(
	    kvc_async_watch(a, key("aw"), 0, 0, on_event, NULL, &w), 0);
	double end = now_s() + DEADLINE_S;
	while (events == 0 && now_s() < end) {
		int want = done + 1;
		ck_assert_int_eq(
		    kvc_async_put(a, key("aw"), "x", 1, on_put, NULL), 0);
		run_until(want);
		ck_assert_int_eq(last_err, 0);
		double until = now_s() + 1.0;
		struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
		struct timeval tv = {0, 100000};
		event_add(t, &tv);
		while (events == 0 && now_s() < until)
			event_base_loop(base, EVLOOP_ONCE);
		event_free(t);
	}
	ck_assert_int_gt(events, 0);
	ck_assert_int_eq(event_err, 0);
	kvc_async_watch_cancel(w);
	kvc_async_close(a);
	event_base_free(base);
	base = NULL;
}
END_TEST

START_TEST(test_async_wrong_ca)
{
	struct kvc_options o;
	struct kvc_async *a;
	opts(&o);
	o.cacert = path("rogue.pem");
	o.retry_deadline_ms = 60000;
	base = event_base_new();
	ck_assert_int_eq(kvc_async_open(base, endpoints, &o, &a), 0);
	done = 0;
	ck_assert_int_eq(kvc_async_put(a, key("ar"), "r", 1, on_put, NULL), 0);
	run_until(1);
	ck_assert_int_eq(last_err, KVC_EUNAVAILABLE);
	ck_assert_ptr_nonnull(
	    strstr(kvc_async_errmsg(a), "certificate is refused"));
	kvc_async_close(a);
	event_base_free(base);
	base = NULL;
}
END_TEST

int main(void)
{
	endpoints = getenv("KVC_TLS_ENDPOINTS");
	mismatch = getenv("KVC_TLS_MISMATCH");
	dir = getenv("KVC_TLS_DIR");
	if (!endpoints || !mismatch || !dir) {
		fprintf(stderr,
			"KVC_TLS_ENDPOINTS, KVC_TLS_MISMATCH and "
			"KVC_TLS_DIR are needed (test_client_tls.py)\n");
		return 77;
	}
	snprintf(prefix, sizeof(prefix), "tls-%ld-", (long)time(NULL));
	Suite *s = suite_create("kvc_tls");
	TCase *tc = tcase_create("tls");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_put_get_watch);
	tcase_add_test(tc, test_options_copied);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_host_mismatch);
	tcase_add_test(tc, test_no_client_cert);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_async);
	tcase_add_test(tc, test_async_wrong_ca);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
