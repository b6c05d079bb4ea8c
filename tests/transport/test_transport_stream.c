/* test_transport_stream.c - the peer transport's streams (POST
 * /raft/stream) over real loopback HTTP: delivery in order, plain and
 * with a token; a bad frame closing the stream; a receiver that restarts;
 * a receiver without the route (POSTs instead); transport_free() with
 * streams open; pings feeding the round trip; the caps on open streams;
 * the forced-POST setting. TLS: test_transport_tls.c. */
#include "transport_fixture.h"

#include <event2/bufferevent.h>

#include "stream_frame.h"

static struct transport_peer_stats peer_stats(const struct node *nd,
					      raft_id peer)
{
	struct transport_peer_stats ps;

	ck_assert_int_eq(transport_peer_stats(nd->t, peer, &ps), TRANSPORT_OK);
	return ps;
}

static struct transport_stats stats(const struct node *nd)
{
	struct transport_stats st;

	transport_stats(nd->t, &st);
	return st;
}

struct open_goal {
	const struct node *nd;
	size_t open;
};

static bool streams_open(void *arg)
{
	const struct open_goal *g = arg;

	return stats(g->nd).streams_open == g->open;
}

static void wait_streams_open(const struct node *nd, size_t n)
{
	struct open_goal g = {nd, n};

	ck_assert_msg(loop_run_until(base, streams_open, &g, 10000),
		      "node %" PRIu64 ": %zu streams open, not %zu", nd->id,
		      stats(nd).streams_open, n);
}

static void send_heartbeats(struct node *from, raft_id to, uint64_t first,
			    uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		struct raft_msg m = heartbeat(from->id, to, i);

		ck_assert_int_eq(transport_send(from->t, &m), TRANSPORT_OK);
	}
}

/* Thousands of messages on one stream, in order, none as a POST. */
static void delivery_case(const char *token)
{
	struct transport_limits lim = {.batch_bytes = 4096};
	struct transport_peer_stats ps;
	struct transport_stats st;
	struct node a, b;
	const uint64_t n = 5000;

	use_streams = true;
	node_start(&a, 1, token, &lim, 0, NULL);
	node_start(&b, 2, token, &lim, 0, NULL);
	add_peer(&a, &b);
	/* In several loop turns: several frames. */
	for (uint64_t i = 0; i < n; i += 500) {
		send_heartbeats(&a, 2, i + 1, 500);
		loop_run_until(base, has_n, &(struct count_goal){&b, i + 1},
			       5000);
	}
	wait_received(&b, n);
	for (uint64_t i = 0; i < n; i++) {
		ck_assert_uint_eq(b.msgs[i].context, i + 1);
		ck_assert_uint_eq(b.msgs[i].from, 1);
	}
	ck_assert_uint_eq(b.last_from, 1);
	ck_assert_str_eq(b.last_client_url, "http://127.0.0.1:9001");
	ck_assert_str_eq(b.last_addr, "127.0.0.1");
	ps = peer_stats(&a, 2);
	ck_assert_uint_eq(ps.posts_sent, 0);
	ck_assert_uint_eq(ps.streams_opened, 1);
	ck_assert_uint_eq(ps.msgs_sent, n);
	ck_assert_uint_gt(ps.frames_sent, 1);
	ck_assert_uint_eq(ps.lanes_streaming, 1);
	ck_assert(ps.up);
	st = stats(&b);
	ck_assert_uint_eq(st.posts_received, 0);
	ck_assert_uint_eq(st.streams_accepted, 1);
	ck_assert_uint_eq(st.streams_open, 1);
	ck_assert_uint_eq(st.frames_received, ps.frames_sent);
	ck_assert_uint_eq(st.msgs_received, n);
	ck_assert_uint_eq(st.bad_requests, 0);
	ck_assert_uint_eq(stats(&a).streams_opened, 1);
	node_stop(&a);
	wait_streams_open(&b, 0);
	node_stop(&b);
}

START_TEST(test_stream_delivers_in_order)
{
	delivery_case(NULL);
}
END_TEST

START_TEST(test_stream_delivers_in_order_with_token)
{
	delivery_case("s3cret");
}
END_TEST

/* Frames far larger than a loopback socket takes at once, between small
 * ones on the same lane (appends; heartbeats have a lane of their own):
 * the stream's writer hands the socket what it takes from the caller's
 * turn and leaves the rest to the bufferevent, which must keep every byte
 * in order behind it. Each large append arrives whole, each small one in
 * its place. */
START_TEST(test_stream_large_frames_whole_and_in_order)
{
	enum { BIG = 3 << 20, ROUNDS = 6 };
	struct transport_limits lim = {.batch_bytes = 64 << 10};
	uint8_t *big = malloc(BIG);
	struct node a, b;

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 13 + (i >> 11));
	use_streams = true;
	node_start(&a, 1, NULL, &lim, 0, NULL);
	node_start(&b, 2, NULL, &lim, 0, NULL);
	add_peer(&a, &b);
	for (int r = 0; r < 2 * ROUNDS; r++) {
		bool large = r % 2 == 0;
		struct raft_entry e = {.term = 2,
				       .index = (raft_index)r + 1,
				       .type = 1,
				       .len = large ? BIG : 5,
				       .data =
					   large ? big : (uint8_t *)"small"};
		struct raft_msg m = {.type = RAFT_MSG_APPEND,
				     .from = 1,
				     .to = 2,
				     .term = 2,
				     .index = (raft_index)r,
				     .log_term = 2,
				     .entries = &e,
				     .n_entries = 1};

		big[0] = (uint8_t)r;
		ck_assert_int_eq(transport_send(a.t, &m), TRANSPORT_OK);
	}
	wait_received(&b, 2 * ROUNDS);
	for (int r = 0; r < 2 * ROUNDS; r++) {
		const struct raft_msg *got = &b.msgs[r];

		ck_assert_int_eq(got->type, RAFT_MSG_APPEND);
		ck_assert_uint_eq(got->n_entries, 1);
		ck_assert_uint_eq(got->entries[0].index, (uint64_t)r + 1);
		if (r % 2 == 1) {
			ck_assert_uint_eq(got->entries[0].len, 5);
			ck_assert_mem_eq(got->entries[0].data, "small", 5);
			continue;
		}
		ck_assert_uint_eq(got->entries[0].len, BIG);
		ck_assert_uint_eq(got->entries[0].data[0], (uint8_t)r);
		ck_assert_mem_eq(got->entries[0].data + 1, big + 1, BIG - 1);
	}
	ck_assert_uint_eq(peer_stats(&a, 2).posts_sent, 0);
	ck_assert_uint_eq(stats(&b).bad_requests, 0);
	node_stop(&a);
	node_stop(&b);
	free(big);
}
END_TEST

/* Opens a stream from member @from on @port by hand; true if answered
 * 200 with the stream's content type. */
static bool raw_stream(struct raw_conn *rc, int port, const char *token,
		       raft_id from)
{
	char head[512];
	int n;

	raw_connect(rc, port);
	n = snprintf(head, sizeof(head),
		     "POST " STREAM_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "X-Kvd-From: %" PRIu64 "\r\n%s%s%s\r\n",
		     from, token ? "X-Kvd-Token: " : "", token ? token : "",
		     token ? "\r\n" : "");
	raw_send(rc, head, (size_t)n);
	ck_assert(loop_run_until(base, raw_answered, rc, 10000));
	return strncmp(rc->got, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
	       strstr(rc->got, "Content-Type: " STREAM_CONTENT_TYPE) != NULL &&
	       strstr(rc->got, "Content-Length") == NULL;
}

static void raw_frame(struct raw_conn *rc, uint8_t type, const void *p,
		      uint32_t len)
{
	uint8_t h[STREAM_FRAME_HEAD];

	stream_frame_head(h, type, len);
	raw_send(rc, h, sizeof(h));
	if (len)
		raw_send(rc, p, len);
}

/* A frame the reader refuses closes the stream and is counted; the good
 * frame before it was delivered; a ping before it was answered. */
static void bad_frame_case(const char *token, const uint8_t *bad, size_t len)
{
	struct raw_conn rc;
	struct raft_msg m = heartbeat(1, 2, 42);
	uint8_t ping[STREAM_PING_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t *body;
	size_t blen;
	struct node b;

	use_streams = true;
	node_start(&b, 2, token, NULL, 0, NULL);
	ck_assert(raw_stream(&rc, b.port, token, 1));
	body = encode(&m, 1, &blen);
	raw_frame(&rc, STREAM_FRAME_MESSAGES, body, (uint32_t)blen);
	free(body);
	raw_frame(&rc, STREAM_FRAME_PING, ping, sizeof(ping));
	wait_received(&b, 1);
	ck_assert_uint_eq(b.msgs[0].context, 42);
	rc.n = 0;
	raw_send(&rc, bad, len);
	ck_assert(loop_run_until(base, raw_closed, &rc, 10000));
	/* The pong came back before the close. */
	ck_assert_uint_ge(rc.n, STREAM_FRAME_HEAD + sizeof(ping));
	ck_assert_uint_eq((uint8_t)rc.got[0], STREAM_FRAME_PONG);
	ck_assert_mem_eq(rc.got + STREAM_FRAME_HEAD, ping, sizeof(ping));
	ck_assert_uint_eq(stats(&b).bad_requests, 1);
	ck_assert_uint_eq(stats(&b).frames_received, 1);
	wait_streams_open(&b, 0);
	close(rc.fd);
	node_stop(&b);
}

START_TEST(test_bad_frame_closes_the_stream)
{
	static const uint8_t type[] = {9, 0, 0, 0, 1, 0};
	static const uint8_t pong[] = {
	    STREAM_FRAME_PONG, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	/* Above the 64 MiB body limit: refused before any of it is
	 * buffered. */
	static const uint8_t huge[] = {STREAM_FRAME_MESSAGES, 0x04, 0, 0, 1};
	static const uint8_t garbage[] = {
	    STREAM_FRAME_MESSAGES, 0, 0, 0, 3, 0xff, 0xff, 0xff};

	bad_frame_case(NULL, type, sizeof(type));
	bad_frame_case("tok", pong, sizeof(pong));
	bad_frame_case(NULL, huge, sizeof(huge));
	bad_frame_case("tok", garbage, sizeof(garbage));
}
END_TEST

/* A message whose sender is not X-Kvd-From closes the stream, nothing of
 * its frame delivered: the checks of a POST's body. */
START_TEST(test_stream_frame_checked_like_a_post)
{
	struct raw_conn rc;
	struct raft_msg m[2] = {heartbeat(1, 2, 1), heartbeat(3, 2, 2)};
	uint8_t *body;
	size_t blen;
	struct node b;

	use_streams = true;
	node_start(&b, 2, NULL, NULL, 0, NULL);
	ck_assert(raw_stream(&rc, b.port, NULL, 1));
	body = encode(m, 2, &blen);
	raw_frame(&rc, STREAM_FRAME_MESSAGES, body, (uint32_t)blen);
	free(body);
	rc.n = 0;
	ck_assert(loop_run_until(base, raw_closed, &rc, 10000));
	ck_assert_uint_eq(b.n, 0);
	ck_assert_uint_eq(stats(&b).bad_requests, 1);
	close(rc.fd);
	node_stop(&b);
}
END_TEST

/* Refusals are ordinary answers: no token (401), no From (400), a body
 * announced (400), another method (405). */
START_TEST(test_stream_refusals)
{
	static const char *const reqs[][2] = {
	    {"POST " STREAM_PATH " HTTP/1.1\r\nHost: h\r\nX-Kvd-From: 1\r\n"
	     "\r\n",
	     "HTTP/1.1 401"},
	    {"POST " STREAM_PATH " HTTP/1.1\r\nHost: h\r\nX-Kvd-Token: t\r\n"
	     "\r\n",
	     "HTTP/1.1 400"},
	    {"POST " STREAM_PATH " HTTP/1.1\r\nHost: h\r\nX-Kvd-Token: t\r\n"
	     "X-Kvd-From: 1\r\nContent-Length: 2\r\n\r\nab",
	     "HTTP/1.1 400"},
	    {"GET " STREAM_PATH " HTTP/1.1\r\nHost: h\r\nX-Kvd-Token: t\r\n"
	     "X-Kvd-From: 1\r\n\r\n",
	     "HTTP/1.1 405"},
	};
	struct node b;

	use_streams = true;
	node_start(&b, 2, "t", NULL, 0, NULL);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct raw_conn rc;

		raw_connect(&rc, b.port);
		raw_send(&rc, reqs[i][0], strlen(reqs[i][0]));
		ck_assert(loop_run_until(base, raw_answered, &rc, 10000));
		ck_assert_msg(strncmp(rc.got, reqs[i][1], 12) == 0,
			      "request %zu answered %.40s", i, rc.got);
		close(rc.fd);
	}
	ck_assert_uint_eq(stats(&b).streams_accepted, 0);
	ck_assert_uint_eq(stats(&b).unauthorized, 1);
	node_stop(&b);
}
END_TEST

/* A member may hold STREAM_MAX_PER_MEMBER streams; the next is 503. */
START_TEST(test_streams_per_member_capped)
{
	struct raw_conn rc[5];
	struct node b;

	use_streams = true;
	node_start(&b, 2, NULL, NULL, 0, NULL);
	for (int i = 0; i < 4; i++)
		ck_assert(raw_stream(&rc[i], b.port, NULL, 7));
	ck_assert(!raw_stream(&rc[4], b.port, NULL, 7));
	ck_assert_msg(strncmp(rc[4].got, "HTTP/1.1 503", 12) == 0, "%.40s",
		      rc[4].got);
	close(rc[4].fd);
	ck_assert(raw_stream(&rc[4], b.port, NULL, 8)); /* another member */
	ck_assert_uint_eq(stats(&b).streams_open, 5);
	ck_assert_uint_eq(stats(&b).streams_refused, 1);
	close(rc[0].fd);
	wait_streams_open(&b, 4);
	/* transport_free() with streams open frees them. */
	node_stop(&b);
	for (int i = 1; i < 5; i++) {
		rc[i].n = 0;
		ck_assert(loop_run_until(base, raw_closed, &rc[i], 10000));
		close(rc[i].fd);
	}
}
END_TEST

struct resend {
	struct node *from, *to;
	uint64_t ctx;
};

/* Sends until one arrives: messages sent while the lane backs off are
 * dropped. */
static bool resend_until_received(void *arg)
{
	struct resend *r = arg;

	if (r->to->n > 0)
		return true;
	send_heartbeats(r->from, r->to->id, r->ctx++, 1);
	return false;
}

/* The receiver restarts: the stream fails, the lane backs off, connects
 * again and opens a new stream that delivers. */
START_TEST(test_receiver_restart_reconnects)
{
	struct transport_limits lim = {.backoff_min_ms = 20,
				       .backoff_max_ms = 200};
	struct node a, b;
	struct resend r;
	int port;

	use_streams = true;
	node_start(&a, 1, "tok", &lim, 0, NULL);
	node_start(&b, 2, "tok", &lim, 0, NULL);
	add_peer(&a, &b);
	send_heartbeats(&a, 2, 1, 10);
	wait_received(&b, 10);
	port = b.port;
	node_stop(&b);
	/* The stream's end fails the lane (no message needed). */
	wait_peer(&a, 2, 1, 0);
	ck_assert(!peer_stats(&a, 2).up);
	node_start(&b, 2, "tok", &lim, port, NULL);
	r = (struct resend){&a, &b, 100};
	ck_assert(loop_run_until(base, resend_until_received, &r, 10000));
	ck_assert_uint_ge(b.msgs[0].context, 100);
	ck_assert_uint_eq(peer_stats(&a, 2).streams_opened, 2);
	ck_assert_uint_eq(peer_stats(&a, 2).posts_sent, 0);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

/* A receiver without the route (an older member) answers 404: the
 * sender falls back to POSTs, which deliver. */
START_TEST(test_no_route_falls_back_to_posts)
{
	struct transport_peer_stats ps;
	struct node a, b;

	use_streams = true;
	node_start(&a, 1, "tok", NULL, 0, NULL);
	node_start(&b, 2, "tok", NULL, 0, NULL);
	ck_assert_int_eq(evhttp_del_cb(b.http, STREAM_PATH), 0);
	add_peer(&a, &b);
	send_heartbeats(&a, 2, 1, 3);
	/* The messages that waited for the stream's answer go as POSTs
	 * on a new connection. */
	wait_received(&b, 3);
	send_heartbeats(&a, 2, 4, 3);
	wait_received(&b, 6);
	for (uint64_t i = 0; i < 6; i++)
		ck_assert_uint_eq(b.msgs[i].context, i + 1);
	ps = peer_stats(&a, 2);
	ck_assert_uint_eq(ps.streams_opened, 0);
	ck_assert_uint_ge(ps.posts_sent, 2);
	ck_assert_uint_eq(ps.errors, 0);
	ck_assert(logged(&a, "has no " STREAM_PATH " (HTTP 404)"));
	ck_assert_uint_ge(stats(&b).posts_received, 2);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

/* transport_free() on both ends while their streams are open (sender
 * first, then receiver first): nothing left behind (ASan). */
START_TEST(test_free_with_streams_open)
{
	struct node a, b;

	use_streams = true;
	for (int order = 0; order < 2; order++) {
		node_start(&a, 1, NULL, NULL, 0, NULL);
		node_start(&b, 2, NULL, NULL, 0, NULL);
		add_peer(&a, &b);
		add_peer(&b, &a);
		send_heartbeats(&a, 2, 1, 5);
		send_heartbeats(&b, 1, 1, 5);
		wait_received(&b, 5);
		wait_received(&a, 5);
		wait_streams_open(&a, 1);
		wait_streams_open(&b, 1);
		/* More on the way while the ends go. */
		send_heartbeats(&a, 2, 6, 100);
		if (order == 0) {
			node_stop(&a);
			node_stop(&b);
		} else {
			node_stop(&b);
			node_stop(&a);
		}
	}
}
END_TEST

struct rtt_goal {
	const struct node *nd;
	uint64_t n;
};

static bool round_trips(void *arg)
{
	const struct rtt_goal *g = arg;

	return g->nd->round_trips >= g->n;
}

/* An idle stream pings: each pong is a round trip for on_round_trip(),
 * with no POST and no message sent after the first. */
START_TEST(test_pings_feed_the_round_trip)
{
	struct transport_limits lim = {.stream_ping_ms = 20};
	struct rtt_goal g;
	struct node a, b;

	use_streams = true;
	node_start(&a, 1, NULL, &lim, 0, NULL);
	node_start(&b, 2, NULL, &lim, 0, NULL);
	add_peer(&a, &b);
	send_heartbeats(&a, 2, 1, 1);
	wait_received(&b, 1);
	g = (struct rtt_goal){&a, 5};
	ck_assert(loop_run_until(base, round_trips, &g, 20000));
	ck_assert_uint_eq(peer_stats(&a, 2).posts_sent, 0);
	ck_assert_uint_eq(peer_stats(&a, 2).msgs_sent, 1);
	ck_assert_uint_eq(peer_stats(&a, 2).errors, 0);
	ck_assert_uint_eq(b.n, 1);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

/* ---- a receiver that opens the stream and never answers a ping ---- */

struct mute {
	struct evconnlistener *l;
	struct bufferevent *bev;
	int port;
};

static void mute_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct mute *m = arg;
	struct evbuffer_ptr e = evbuffer_search(in, "\r\n\r\n", 4, NULL);

	(void)m;
	if (e.pos < 0)
		return;
	/* The head answered, everything after it ignored. */
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(
	    bev,
	    "HTTP/1.1 200 OK\r\nContent-Type: " STREAM_CONTENT_TYPE "\r\n\r\n",
	    strlen("HTTP/1.1 200 OK\r\nContent-Type: " STREAM_CONTENT_TYPE
		   "\r\n\r\n"));
}

static void mute_accept(struct evconnlistener *l, evutil_socket_t fd,
			struct sockaddr *sa, int len, void *arg)
{
	struct mute *m = arg;

	(void)l, (void)sa, (void)len;
	if (m->bev != NULL) {
		close(fd);
		return;
	}
	m->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(m->bev, mute_read, NULL, NULL, m);
	bufferevent_enable(m->bev, EV_READ | EV_WRITE);
}

/* No pong within request_timeout_ms fails the lane like a failed POST. */
START_TEST(test_no_pong_fails_the_lane)
{
	struct transport_limits lim = {.stream_ping_ms = 20,
				       .request_timeout_ms = 300,
				       .backoff_min_ms = 10000,
				       .backoff_max_ms = 10000};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct mute m = {0};
	socklen_t sl = sizeof(sa);
	struct node a;
	char url[64];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m.l = evconnlistener_new_bind(base, mute_accept, &m,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
				      16, (struct sockaddr *)&sa, sizeof(sa));
	ck_assert_ptr_nonnull(m.l);
	ck_assert_int_eq(getsockname(evconnlistener_get_fd(m.l),
				     (struct sockaddr *)&sa, &sl),
			 0);
	use_streams = true;
	node_start(&a, 1, NULL, &lim, 0, NULL);
	url_of(url, sizeof(url), ntohs(sa.sin_port));
	ck_assert_int_eq(transport_add_peer(a.t, 9, url), TRANSPORT_OK);
	send_heartbeats(&a, 9, 1, 1);
	wait_peer(&a, 9, 1, 1);
	ck_assert_uint_eq(peer_stats(&a, 9).streams_opened, 1);
	ck_assert_str_eq(peer_stats(&a, 9).last_error,
			 "control lane: no pong: timeout");
	ck_assert_uint_eq(a.round_trips, 0);
	ck_assert(logged(&a, "stream failed on the control lane: no pong"));
	node_stop(&a);
	if (m.bev)
		bufferevent_free(m.bev);
	evconnlistener_free(m.l);
}
END_TEST

/* force_posts: every batch a POST, no stream asked for. */
START_TEST(test_forced_posts_use_posts)
{
	struct transport_limits lim = {.force_posts = true};
	struct node a, b;

	use_streams = true;
	node_start(&a, 1, NULL, &lim, 0, NULL);
	node_start(&b, 2, NULL, NULL, 0, NULL);
	add_peer(&a, &b);
	send_heartbeats(&a, 2, 1, 50);
	wait_received(&b, 50);
	wait_peer(&a, 2, 0, 50);
	ck_assert_uint_ge(peer_stats(&a, 2).posts_sent, 1);
	ck_assert_uint_eq(peer_stats(&a, 2).streams_opened, 0);
	ck_assert_uint_eq(stats(&b).streams_accepted, 0);
	ck_assert_uint_ge(stats(&b).posts_received, 1);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("transport_stream");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stream_delivers_in_order);
	tcase_add_test(tc, test_stream_delivers_in_order_with_token);
	tcase_add_test(tc, test_stream_large_frames_whole_and_in_order);
	tcase_add_test(tc, test_bad_frame_closes_the_stream);
	tcase_add_test(tc, test_stream_frame_checked_like_a_post);
	tcase_add_test(tc, test_stream_refusals);
	tcase_add_test(tc, test_streams_per_member_capped);
	tcase_add_test(tc, test_receiver_restart_reconnects);
	tcase_add_test(tc, test_no_route_falls_back_to_posts);
	tcase_add_test(tc, test_free_with_streams_open);
	tcase_add_test(tc, test_pings_feed_the_round_trip);
	tcase_add_test(tc, test_no_pong_fails_the_lane);
	tcase_add_test(tc, test_forced_posts_use_posts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stream_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
