/* test_lane_conn.c - the pipelining peer connection (raft/peer/lane_conn.c)
 * against loopback servers: evhttp's server, plain and over TLS, answering
 * several requests in flight in order; a raw server that answers nothing
 * before it holds three whole requests (so only a client that really
 * pipelines gets an answer); the end of the stream in the middle of a
 * pipeline; malformed answers; Connection: close; the oldest request's
 * timeout. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "loop_wait.h"
#include "lane_conn.h"
#include "tls.h"

static struct event_base *base;
static char dir[] = "/tmp/kvd-test-lane-conn-XXXXXX";

/* ---- the client's side: what each request got ---- */

#define MAX_REQS 16

struct result {
	int status; /* 0: failed */
	char body[64];
	char err[128];
	bool close;
};

struct client {
	struct lane_conn *c;
	struct result r[MAX_REQS];
	struct result *slot[MAX_REQS]; /* callback arg -> result */
	int order[MAX_REQS];	       /* request numbers, as they ended */
	size_t ended, sent;
	unsigned closes;
	char close_why[128];
	bool free_in_callback; /* the first callback frees the connection */
};

static struct client cl;

static void on_close(void *arg, const char *why)
{
	struct client *k = arg;

	k->closes++;
	snprintf(k->close_why, sizeof(k->close_why), "%s", why);
}

static void on_done(void *arg, const struct lane_answer *a, const char *err)
{
	struct result *r = arg;
	int i = (int)(r - cl.r);

	ck_assert_int_lt(cl.ended, MAX_REQS);
	cl.order[cl.ended++] = i;
	if (a != NULL) {
		size_t n = evbuffer_get_length(a->body);

		ck_assert_ptr_null(err);
		ck_assert_uint_lt(n, sizeof(r->body));
		r->status = a->status;
		evbuffer_remove(a->body, r->body, n);
		r->body[n] = '\0';
		r->close = a->close;
	} else {
		ck_assert_ptr_nonnull(err);
		snprintf(r->err, sizeof(r->err), "%s", err);
	}
	if (cl.free_in_callback) {
		lane_conn_free(cl.c);
		cl.c = NULL;
	}
}

static void client_open(int port, struct tls_client *tls, unsigned timeout_ms)
{
	struct lane_conn_options o = {.base = base,
				      .host = "127.0.0.1",
				      .port = port,
				      .source_host = "127.0.0.1",
				      .tls = tls,
				      .timeout_ms = timeout_ms,
				      .max_inflight = 8,
				      .max_answer_bytes = 1024,
				      .on_close = on_close,
				      .close_arg = &cl};
	char err[256];

	memset(&cl, 0, sizeof(cl));
	ck_assert_int_eq(lane_conn_new(&o, &cl.c, err, sizeof(err)),
			 LANE_CONN_OK);
}

/* Request number cl.sent: POST /x with X-Seq: N and a short body. */
static int client_send(void)
{
	char head[256], body[32];
	struct evbuffer *b = evbuffer_new();
	int n = (int)cl.sent, hl, rc;

	snprintf(body, sizeof(body), "body-%d", n);
	hl = snprintf(head, sizeof(head),
		      "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Seq: %d\r\n"
		      "Content-Length: %zu\r\n\r\n",
		      n, strlen(body));
	evbuffer_add(b, body, strlen(body));
	rc = lane_conn_request(cl.c, head, (size_t)hl, b, on_done, &cl.r[n]);
	if (rc == LANE_CONN_OK) {
		ck_assert_uint_eq(evbuffer_get_length(b), 0); /* moved */
		cl.sent++;
	} else {
		ck_assert_uint_eq(evbuffer_get_length(b), strlen(body));
	}
	evbuffer_free(b);
	return rc;
}

static bool all_ended(void *arg)
{
	(void)arg;
	return cl.ended == cl.sent;
}

static bool closed_once(void *arg)
{
	(void)arg;
	return cl.ended == cl.sent && cl.closes == 1;
}

static void assert_in_order(void)
{
	for (size_t i = 0; i < cl.ended; i++)
		ck_assert_int_eq(cl.order[i], (int)i);
}

/* ---- evhttp's server: answers 200 with the request's X-Seq ---- */

struct http_srv {
	struct evhttp *http;
	int port;
	struct tls_server *tls;
};

static void handle_x(struct evhttp_request *req, void *arg)
{
	const char *seq =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "X-Seq");

	(void)arg;
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s",
			    seq ? seq : "?");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static struct bufferevent *tls_bevcb(struct event_base *b, void *arg)
{
	return tls_server_bev(arg, b);
}

static void http_srv_start(struct http_srv *s, struct tls_server *tls)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->http = evhttp_new(base);
	ck_assert_ptr_nonnull(s->http);
	ck_assert_int_eq(evhttp_set_cb(s->http, "/x", handle_x, NULL), 0);
	if (tls != NULL)
		evhttp_set_bevcb(s->http, tls_bevcb, tls);
	h = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(h),
				     (struct sockaddr *)&sa, &sl),
			 0);
	s->port = ntohs(sa.sin_port);
}

/* ---- a raw server, scripted ---- */

enum raw_mode {
	RAW_AFTER_3,	 /* answers all three once it holds three requests */
	RAW_EOF_AFTER_1, /* holding three: answers the first, then closes */
	RAW_SCRIPT,	 /* holding one: writes raw.script, keeps quiet */
	RAW_SILENT	 /* reads, never answers */
};

struct raw_srv {
	struct evconnlistener *l;
	int port;
	enum raw_mode mode;
	const char *script;
	struct bufferevent *conn;
	size_t requests; /* whole requests received */
	bool done;
};

static struct raw_srv raw;

/* Counts whole requests in @in: heads, and bodies of Content-Length. */
static size_t count_requests(struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), n = 0, off = 0;
	const char *p = (const char *)evbuffer_pullup(in, -1);

	while (off < len) {
		const char *end = memmem(p + off, len - off, "\r\n\r\n", 4);
		const char *cl;
		size_t body = 0;

		if (end == NULL)
			break;
		cl = memmem(p + off, (size_t)(end - (p + off)),
			    "Content-Length: ", 16);
		if (cl != NULL)
			body = strtoul(cl + 16, NULL, 10);
		if ((size_t)(end + 4 - p) + body > len)
			break;
		off = (size_t)(end + 4 - p) + body;
		n++;
	}
	return n;
}

static void raw_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	(void)arg;
	raw.requests = count_requests(bufferevent_get_input(bev));
	if (raw.done)
		return;
	switch (raw.mode) {
	case RAW_AFTER_3:
		if (raw.requests < 3)
			return;
		for (int i = 0; i < 3; i++)
			evbuffer_add_printf(out,
					    "HTTP/1.1 200 OK\r\nContent-Length:"
					    " 1\r\n\r\n%d",
					    i);
		raw.done = true;
		break;
	case RAW_EOF_AFTER_1:
		if (raw.requests < 3)
			return;
		/* Written straight to the socket so that it precedes the
		 * close. */
		ck_assert_int_gt(write(bufferevent_getfd(bev),
				       "HTTP/1.1 204 No Content\r\n\r\n", 27),
				 0);
		bufferevent_free(bev);
		raw.conn = NULL;
		raw.done = true;
		break;
	case RAW_SCRIPT:
		if (raw.requests < 1)
			return;
		evbuffer_add(out, raw.script, strlen(raw.script));
		raw.done = true;
		break;
	case RAW_SILENT:
		break;
	}
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what, (void)arg;
	bufferevent_free(bev);
	raw.conn = NULL;
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd,
		       struct sockaddr *sa, int sl, void *arg)
{
	(void)l, (void)sa, (void)sl, (void)arg;
	ck_assert_ptr_null(raw.conn); /* one connection per test */
	raw.conn = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(raw.conn);
	bufferevent_setcb(raw.conn, raw_read, NULL, raw_event, NULL);
	bufferevent_enable(raw.conn, EV_READ | EV_WRITE);
}

static void raw_start(enum raw_mode mode, const char *script)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	memset(&raw, 0, sizeof(raw));
	raw.mode = mode;
	raw.script = script;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	raw.l = evconnlistener_new_bind(
	    base, raw_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
	    16, (struct sockaddr *)&sa, sizeof(sa));
	ck_assert_ptr_nonnull(raw.l);
	ck_assert_int_eq(getsockname(evconnlistener_get_fd(raw.l),
				     (struct sockaddr *)&sa, &sl),
			 0);
	raw.port = ntohs(sa.sin_port);
}

static void raw_stop(void)
{
	if (raw.conn != NULL)
		bufferevent_free(raw.conn);
	evconnlistener_free(raw.l);
	memset(&raw, 0, sizeof(raw));
}

static void setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	event_base_free(base);
	base = NULL;
}

/* ---- tests ---- */

/* Five requests written back to back on one connection to evhttp's
 * server: five answers, each to its own request, in order; the connection
 * stays open. */
static void several_in_order(struct tls_server *srv, struct tls_client *cli)
{
	struct http_srv s;

	http_srv_start(&s, srv);
	client_open(s.port, cli, 30000);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_uint_eq(lane_conn_inflight(cl.c), 5);
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	assert_in_order();
	for (int i = 0; i < 5; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%d", i);
		ck_assert_int_eq(cl.r[i].status, 200);
		ck_assert_str_eq(cl.r[i].body, want);
	}
	ck_assert(lane_conn_alive(cl.c));
	ck_assert_uint_eq(lane_conn_inflight(cl.c), 0);
	/* And more on the same connection afterwards. */
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	ck_assert_str_eq(cl.r[5].body, "5");
	ck_assert_uint_eq(cl.closes, 0);
	lane_conn_free(cl.c);
	evhttp_free(s.http);
}

START_TEST(test_evhttp_in_order)
{
	several_in_order(NULL, NULL);
}
END_TEST

START_TEST(test_evhttp_tls_in_order)
{
	char cert[512], key[512], ca[512], err[512];
	struct tls_files f = {.name = "peer"};
	struct tls_server *srv;
	struct tls_client *cli;

	snprintf(cert, sizeof(cert), "%s/a.pem", dir);
	snprintf(key, sizeof(key), "%s/a.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	f.cert = cert, f.key = key, f.ca = ca;
	srv = tls_server_new(&f, err, sizeof(err));
	ck_assert_msg(srv != NULL, "%s", err);
	cli = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(cli != NULL, "%s", err);
	several_in_order(srv, cli);
	tls_server_free(srv);
	tls_client_free(cli);
}
END_TEST

/* The server answers nothing before it holds three whole requests: a
 * client that waits for an answer before writing the next would wait
 * forever (and fail by its timeout). */
START_TEST(test_really_pipelines)
{
	raw_start(RAW_AFTER_3, NULL);
	client_open(raw.port, NULL, 30000);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	assert_in_order();
	for (int i = 0; i < 3; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%d", i);
		ck_assert_msg(cl.r[i].status == 200, "%d: %s", i, cl.r[i].err);
		ck_assert_str_eq(cl.r[i].body, want);
	}
	ck_assert_uint_eq(raw.requests, 3);
	ck_assert_uint_eq(cl.closes, 0);
	lane_conn_free(cl.c);
	raw_stop();
}
END_TEST

/* The stream ends after the first of three answers: the first is
 * delivered, the two others fail, in order, each once, then the close is
 * reported once; the dead connection takes no more requests. */
START_TEST(test_eof_mid_pipeline)
{
	raw_start(RAW_EOF_AFTER_1, NULL);
	client_open(raw.port, NULL, 30000);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, closed_once, NULL, 20000));
	assert_in_order();
	ck_assert_int_eq(cl.r[0].status, 204);
	for (int i = 1; i < 3; i++) {
		ck_assert_int_eq(cl.r[i].status, 0);
		ck_assert_str_eq(cl.r[i].err, "connection closed");
	}
	ck_assert_str_eq(cl.close_why, "connection closed");
	ck_assert(!lane_conn_alive(cl.c));
	ck_assert_int_eq(client_send(), LANE_CONN_EDEAD);
	/* Nothing more comes. */
	loop_run_until(base, closed_once, NULL, 50);
	ck_assert_uint_eq(cl.closes, 1);
	ck_assert_uint_eq(cl.ended, 3);
	lane_conn_free(cl.c);
	raw_stop();
}
END_TEST

/* Each malformed answer fails its request and the one behind it and
 * closes the connection. */
START_TEST(test_bad_answers)
{
	static const struct {
		const char *answer, *why;
	} cases[] = {
	    {"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
	     "bad status line"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx",
	     "Content-Length"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
	     "\r\nx",
	     "Content-Length"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n",
	     "Content-Length"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "1\r\nx\r\n0\r\n\r\n",
	     "Transfer-Encoding"},
	    {"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
	     "HTTP/1.1 204 No Content\r\n\r\n",
	     "an answer to no request"},
	    {NULL, "too long"},
	};
	char *longhead = malloc(LANE_CONN_MAX_HEAD_BYTES + 64);

	ck_assert_ptr_nonnull(longhead);
	memset(longhead, 'v', LANE_CONN_MAX_HEAD_BYTES + 63);
	memcpy(longhead, "HTTP/1.1 204 x\r\nX: ", 19);
	longhead[LANE_CONN_MAX_HEAD_BYTES + 63] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		raw_start(RAW_SCRIPT,
			  cases[i].answer ? cases[i].answer : longhead);
		client_open(raw.port, NULL, 30000);
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
		ck_assert_msg(loop_run_until(base, closed_once, NULL, 20000),
			      "case %zu", i);
		assert_in_order();
		if (i == 5) {
			/* The two answers asked for are taken; the third is
			 * an answer to nothing. */
			ck_assert_int_eq(cl.r[0].status, 204);
			ck_assert_int_eq(cl.r[1].status, 204);
		} else {
			ck_assert_int_eq(cl.r[0].status, 0);
			ck_assert_int_eq(cl.r[1].status, 0);
			ck_assert_msg(strstr(cl.r[0].err, cases[i].why),
				      "case %zu: %s", i, cl.r[0].err);
		}
		ck_assert_msg(strstr(cl.close_why, cases[i].why),
			      "case %zu: %s", i, cl.close_why);
		ck_assert(!lane_conn_alive(cl.c));
		lane_conn_free(cl.c);
		raw_stop();
	}
	free(longhead);
}
END_TEST

/* Connection: close on the first answer: it is delivered (with close
 * set), the request written behind it fails, the close is reported
 * once. */
START_TEST(test_connection_close)
{
	raw_start(RAW_SCRIPT, "HTTP/1.1 401 Unauthorized\r\nConnection: "
			      "close\r\nContent-Length: 3\r\n\r\nno\n");
	client_open(raw.port, NULL, 30000);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, closed_once, NULL, 20000));
	assert_in_order();
	ck_assert_int_eq(cl.r[0].status, 401);
	ck_assert(cl.r[0].close);
	ck_assert_str_eq(cl.r[0].body, "no\n");
	ck_assert_int_eq(cl.r[1].status, 0);
	ck_assert(strstr(cl.r[1].err, "Connection: close"));
	ck_assert_int_eq(client_send(), LANE_CONN_EDEAD);
	lane_conn_free(cl.c);
	raw_stop();
}
END_TEST

/* A server that never answers: the oldest request times out, which fails
 * both requests in flight and the connection. */
START_TEST(test_oldest_times_out)
{
	raw_start(RAW_SILENT, NULL);
	client_open(raw.port, NULL, 200);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, closed_once, NULL, 20000));
	assert_in_order();
	ck_assert_str_eq(cl.r[0].err, "timeout");
	ck_assert_str_eq(cl.r[1].err, "timeout");
	ck_assert_str_eq(cl.close_why, "timeout");
	lane_conn_free(cl.c);
	raw_stop();
}
END_TEST

/* Nobody listens: the requests fail from the loop (never from inside
 * lane_conn_request()), then the close. */
START_TEST(test_refused)
{
	int port;

	raw_start(RAW_SILENT, NULL);
	port = raw.port;
	raw_stop(); /* the port is free now */
	client_open(port, NULL, 30000);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_uint_eq(cl.ended, 0);
	ck_assert(loop_run_until(base, closed_once, NULL, 20000));
	assert_in_order();
	ck_assert_int_eq(cl.r[0].status, 0);
	ck_assert_str_ne(cl.r[0].err, "");
	lane_conn_free(cl.c);
}
END_TEST

/* A done callback frees the connection: the other requests' callbacks and
 * on_close are not called, and nothing freed is touched (ASan). */
START_TEST(test_free_in_callback)
{
	raw_start(RAW_EOF_AFTER_1, NULL);
	client_open(raw.port, NULL, 30000);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
	cl.free_in_callback = true;
	cl.sent = 1; /* only the first is to end */
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	ck_assert_ptr_null(cl.c);
	loop_run_until(base, closed_once, NULL, 50);
	ck_assert_uint_eq(cl.ended, 1);
	ck_assert_uint_eq(cl.closes, 0);
	raw_stop();
}
END_TEST

START_TEST(test_limits)
{
	struct lane_conn_options o = {.base = base,
				      .host = "127.0.0.1",
				      .port = 1,
				      .timeout_ms = 100,
				      .max_inflight = 2,
				      .max_answer_bytes = 10};
	struct lane_conn *c = NULL;
	char err[128];
	struct http_srv s;

	o.max_inflight = 0;
	ck_assert_int_eq(lane_conn_new(&o, &c, err, sizeof(err)),
			 LANE_CONN_EINVAL);
	o.max_inflight = LANE_CONN_MAX_INFLIGHT + 1;
	ck_assert_int_eq(lane_conn_new(&o, &c, err, sizeof(err)),
			 LANE_CONN_EINVAL);
	o.max_inflight = 2;
	o.timeout_ms = 0;
	ck_assert_int_eq(lane_conn_new(&o, &c, err, sizeof(err)),
			 LANE_CONN_EINVAL);
	o.timeout_ms = 100;
	o.port = 70000;
	ck_assert_int_eq(lane_conn_new(&o, &c, err, sizeof(err)),
			 LANE_CONN_EINVAL);
	o.port = 1;
	o.source_host = "not an address";
	ck_assert_int_eq(lane_conn_new(&o, &c, err, sizeof(err)),
			 LANE_CONN_ECONNECT);
	ck_assert_str_ne(err, "");

	/* max_inflight requests at most. */
	http_srv_start(&s, NULL);
	client_open(s.port, NULL, 30000);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert_int_eq(client_send(), LANE_CONN_EFULL);
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	ck_assert_int_eq(client_send(), LANE_CONN_OK);
	ck_assert(loop_run_until(base, all_ended, NULL, 20000));
	lane_conn_free(cl.c);
	evhttp_free(s.http);
}
END_TEST

static void sh(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd %s && %s >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0) {
		fprintf(stderr, "failed: %s\n", full);
		exit(EXIT_FAILURE);
	}
}

static Suite *lane_conn_suite(void)
{
	Suite *s = suite_create("lane_conn");
	TCase *tc = tcase_create("lane_conn");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_evhttp_in_order);
	tcase_add_test(tc, test_evhttp_tls_in_order);
	tcase_add_test(tc, test_really_pipelines);
	tcase_add_test(tc, test_eof_mid_pipeline);
	tcase_add_test(tc, test_bad_answers);
	tcase_add_test(tc, test_connection_close);
	tcase_add_test(tc, test_oldest_times_out);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_free_in_callback);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	/* A CA and a certificate it signed for 127.0.0.1, both usages. */
	sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out "
	   "ca.pem -subj /CN=ca -days 2");
	sh("openssl req -newkey rsa:2048 -nodes -keyout a.key -out a.csr "
	   "-subj /CN=a && chmod 600 a.key && printf "
	   "'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
	   "clientAuth\\n' > a.ext && openssl x509 -req -in a.csr -CA ca.pem "
	   "-CAkey ca.key -days 2 -out a.pem -extfile a.ext");
	sr = srunner_create(lane_conn_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
