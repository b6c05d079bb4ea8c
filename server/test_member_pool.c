/* test_member_pool.c - unit tests of the pool of connections to members'
 * client URLs against evhttp servers on loopback in the same loop: reuse,
 * "Connection: close", a close by the server while idle, the limits per
 * URL and in all, the idle timeout, a flush, failed requests. */
#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "member_pool.h"

/* A loop that has not reached its condition by then has failed. */
#define DEADLINE_S 20

/* One HTTP server on 127.0.0.1, an ephemeral port. */
struct server {
	struct evhttp *http;
	unsigned accepted; /* connections */
	char url[64];
	/* The connection of the last request served (to close it). */
	struct evhttp_connection *last;
};

static struct event_base *base;
static struct member_pool *pool;

static struct bufferevent *count_conn(struct event_base *b, void *arg)
{
	struct server *s = arg;
	s->accepted++;
	return bufferevent_socket_new(b, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* /ok: 200 "ok"; /close: 200 with "Connection: close". */
static void serve(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	s->last = evhttp_request_get_connection(req);
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, "ok", 2);
	if (strcmp(path, "/close") == 0)
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void server_start(struct server *s)
{
	memset(s, 0, sizeof(*s));
	s->http = evhttp_new(base);
	ck_assert_ptr_nonnull(s->http);
	evhttp_set_bevcb(s->http, count_conn, s);
	evhttp_set_gencb(s->http, serve, s);
	struct evhttp_bound_socket *bs =
	    evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bs);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sin, &len),
			 0);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u",
		 (unsigned)ntohs(sin.sin_port));
}

/* One request's outcome. */
struct call {
	struct member_conn *c;
	int code; /* -1 until the callback came */
};

static unsigned calls_pending;

static void call_done(struct evhttp_request *resp, void *arg)
{
	struct call *k = arg;
	k->code = resp != NULL ? evhttp_request_get_response_code(resp) : 0;
	/* As the users do: handed back inside the request's callback. */
	member_pool_give(pool, k->c, resp);
	if (--calls_pending == 0)
		event_base_loopbreak(base);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
	event_base_loopbreak(base);
}

/* Runs the loop until @done says so (checked after each break and every
 * 10 ms), failing after DEADLINE_S. */
static void run_until(int (*done)(void))
{
	int expired = 0;
	struct event *dl = evtimer_new(base, deadline_cb, &expired);
	struct timeval tv = {DEADLINE_S, 0}, tick = {0, 10000};
	evtimer_add(dl, &tv);
	while (!done() && !expired) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	event_free(dl);
	ck_assert_msg(!expired, "condition not met within %d s", DEADLINE_S);
}

static int no_calls_pending(void)
{
	return calls_pending == 0;
}

static void start_call(struct call *k, const char *url, const char *path)
{
	struct config_addr a;
	k->code = -1;
	k->c = member_pool_take(pool, url, &a);
	ck_assert_ptr_nonnull(k->c);
	struct evhttp_connection *evcon = member_conn_evcon(k->c);
	evhttp_connection_set_timeout(evcon, DEADLINE_S);
	struct evhttp_request *req = evhttp_request_new(call_done, k);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
			  a.host);
	calls_pending++;
	ck_assert_int_eq(evhttp_make_request(evcon, req, EVHTTP_REQ_GET, path),
			 0);
}

static int call(const char *url, const char *path)
{
	struct call k;
	start_call(&k, url, path);
	run_until(no_calls_pending);
	return k.code;
}

static struct member_pool_stats stats(void)
{
	struct member_pool_stats st;
	member_pool_stats(pool, &st);
	return st;
}

static int no_idle(void)
{
	return stats().idle == 0;
}

static void setup_with(const struct member_pool_limits *lim)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	pool = member_pool_new(base, NULL, lim);
	ck_assert_ptr_nonnull(pool);
	calls_pending = 0;
}

static void teardown(struct server *s, size_t n)
{
	member_pool_free(pool);
	for (size_t i = 0; i < n; i++)
		evhttp_free(s[i].http);
	event_base_free(base);
}

START_TEST(reuses_one_connection)
{
	struct server s;
	setup_with(NULL);
	server_start(&s);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(s.accepted, 1);
	struct member_pool_stats st = stats();
	ck_assert_uint_eq(st.opened, 1);
	ck_assert_uint_eq(st.reused, 19);
	ck_assert_uint_eq(st.idle, 1);
	ck_assert_uint_eq(st.busy, 0);
	/* Freed with an idle connection: nothing leaks (ASan). */
	teardown(&s, 1);
}
END_TEST

START_TEST(connection_close_is_not_reused)
{
	struct server s;
	setup_with(NULL);
	server_start(&s);
	ck_assert_int_eq(call(s.url, "/close"), 200);
	ck_assert_uint_eq(stats().idle, 0);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(s.accepted, 2);
	ck_assert_uint_eq(stats().reused, 0);
	teardown(&s, 1);
}
END_TEST

START_TEST(closed_while_idle_is_dropped)
{
	struct server s;
	setup_with(NULL);
	server_start(&s);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(stats().idle, 1);
	/* The other side closes the idle connection (a restart, its own
	 * idle timeout): the pool hears of it and lets it go. */
	ck_assert_ptr_nonnull(s.last);
	evhttp_connection_free(s.last);
	run_until(no_idle);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(s.accepted, 2);
	ck_assert_uint_eq(stats().reused, 0);
	teardown(&s, 1);
}
END_TEST

START_TEST(limits_per_url_and_in_all)
{
	struct server s[2];
	const struct member_pool_limits lim = {
	    .idle_per_url = 2, .idle_max = 3, .idle_timeout_ms = 60000};
	setup_with(&lim);
	server_start(&s[0]);
	server_start(&s[1]);
	/* Three at once to one URL: three connections, two kept. */
	struct call k[3];
	for (int i = 0; i < 3; i++)
		start_call(&k[i], s[0].url, "/ok");
	ck_assert_uint_eq(stats().busy, 3);
	run_until(no_calls_pending);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(k[i].code, 200);
	ck_assert_uint_eq(s[0].accepted, 3);
	ck_assert_uint_eq(stats().idle, 2);
	/* Two more to the other URL: the pool keeps three in all, the
	 * least recently used going first. */
	for (int i = 0; i < 2; i++)
		start_call(&k[i], s[1].url, "/ok");
	run_until(no_calls_pending);
	ck_assert_uint_eq(stats().idle, 3);
	/* The second URL's two are kept, so both are reused. */
	ck_assert_int_eq(call(s[1].url, "/ok"), 200);
	ck_assert_int_eq(call(s[1].url, "/ok"), 200);
	ck_assert_uint_eq(s[1].accepted, 2);
	ck_assert_uint_eq(stats().reused, 2);
	teardown(s, 2);
}
END_TEST

START_TEST(idle_timeout_closes)
{
	struct server s;
	const struct member_pool_limits lim = {
	    .idle_per_url = 8, .idle_max = 8, .idle_timeout_ms = 50};
	setup_with(&lim);
	server_start(&s);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	run_until(no_idle);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(s.accepted, 2);
	teardown(&s, 1);
}
END_TEST

START_TEST(flush_drops_idle_and_busy)
{
	struct server s;
	setup_with(NULL);
	server_start(&s);
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	/* One in use across the flush, one idle. */
	struct call k;
	start_call(&k, s.url, "/ok");
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	run_until(no_calls_pending);
	ck_assert_uint_eq(stats().idle, 2);
	start_call(&k, s.url, "/ok");
	member_pool_flush(pool);
	ck_assert_uint_eq(stats().idle, 0);
	run_until(no_calls_pending);
	ck_assert_int_eq(k.code, 200);
	/* Made before the flush: not kept. */
	ck_assert_uint_eq(stats().idle, 0);
	unsigned before = s.accepted;
	ck_assert_int_eq(call(s.url, "/ok"), 200);
	ck_assert_uint_eq(s.accepted, before + 1);
	teardown(&s, 1);
}
END_TEST

START_TEST(failures_are_not_kept)
{
	setup_with(NULL);
	/* A port nobody listens on: bound, then closed. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 (unsigned)ntohs(sin.sin_port));
	ck_assert_int_eq(call(url, "/ok"), 0);
	ck_assert_uint_eq(stats().idle, 0);
	ck_assert_uint_eq(stats().busy, 0);
	/* A dropped one, and one still taken when the pool is freed. */
	struct config_addr a;
	struct member_conn *c = member_pool_take(pool, url, &a);
	ck_assert_ptr_nonnull(c);
	member_pool_drop(pool, c);
	ck_assert_ptr_nonnull(member_pool_take(pool, url, &a));
	ck_assert_uint_eq(stats().busy, 1);
	/* Not a member client URL; https:// without a TLS context. */
	ck_assert_ptr_null(member_pool_take(pool, "ftp://127.0.0.1:1", &a));
	ck_assert_ptr_null(member_pool_take(pool, "127.0.0.1:80", &a));
	ck_assert_ptr_null(member_pool_take(pool, "https://127.0.0.1:1", &a));
	teardown(NULL, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("member_pool");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, reuses_one_connection);
	tcase_add_test(tc, connection_close_is_not_reused);
	tcase_add_test(tc, closed_while_idle_is_dropped);
	tcase_add_test(tc, limits_per_url_and_in_all);
	tcase_add_test(tc, idle_timeout_closes);
	tcase_add_test(tc, flush_drops_idle_and_busy);
	tcase_add_test(tc, failures_are_not_kept);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
