/* test_transport_tls.c - the peer transport over TLS on loopback, with
 * certificates this test makes with the openssl CLI: delivery both ways
 * under a token (on streams, and as POSTs), a connection made anew (a new TLS
 * session) after the peer came back, a certificate of another CA refused in
 * both directions, and peer URLs whose scheme does not match refused. */
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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "loop_wait.h"
#include "tls.h"
#include "transport.h"

static struct event_base *base;
static char dir[] = "/tmp/kvd-test-transport-tls-XXXXXX";

static void sh(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd %s && %s >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0) { /* also outside a test: no ck_assert */
		fprintf(stderr, "failed: %s\n", full);
		exit(EXIT_FAILURE);
	}
}

/* A CA NAME, and a member certificate NAME.pem/NAME.key it signed for
 * 127.0.0.1 with both usages (a member serves and connects). */
static void make_certs(const char *ca, const char *name)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key "
		 "-out %s.pem -subj /CN=%s -days 2",
		 ca, ca, ca);
	sh(cmd);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -newkey rsa:2048 -nodes -keyout %s.key -out "
		 "%s.csr -subj /CN=%s && chmod 600 %s.key && printf "
		 "'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,"
		 "clientAuth\\n' > %s.ext && openssl x509 -req -in %s.csr -CA "
		 "%s.pem -CAkey %s.key -days 2 -out %s.pem -extfile %s.ext",
		 name, name, name, name, name, name, ca, ca, name, name);
	sh(cmd);
}

static const char *p(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", dir, name);
	return buf;
}

/* ---- a member: evhttp listener + TLS transport + what it received ---- */

struct node {
	raft_id id;
	struct evhttp *http;
	int port;
	struct tls_server *srv;
	struct tls_client *cli;
	struct transport *t;
	size_t n;	   /* messages delivered */
	uint64_t last_ctx; /* context of the last one */
	uint64_t disorder; /* messages whose context was not above the last */
	/* Appends: the index of the last entry, and entries whose index or
	 * bytes were not what append_entry() makes next. */
	uint64_t last_index;
	uint64_t bad_entries;
};

enum { ENTRY_BYTES = 6000 };

/* The bytes of the entry at @index (an append test's pattern). */
static uint8_t entry_byte(uint64_t index, size_t i)
{
	return (uint8_t)(index * 31 + i * 7 + (i >> 8));
}

static void on_messages(void *ctx, const struct raft_msg *msgs, size_t n,
			raft_id from, const char *client_url,
			const char *from_addr, const char *from_peer_url)
{
	struct node *nd = ctx;

	(void)from, (void)client_url, (void)from_addr, (void)from_peer_url;
	nd->n += n;
	for (size_t i = 0; i < n; i++) {
		const struct raft_msg *m = &msgs[i];

		if (m->type == RAFT_MSG_APPEND) {
			for (size_t k = 0; k < m->n_entries; k++) {
				const struct raft_entry *e = &m->entries[k];
				bool ok = e->index == nd->last_index + 1 &&
					  e->len == ENTRY_BYTES;

				for (size_t j = 0; ok && j < e->len; j++)
					ok = e->data[j] ==
					     entry_byte(e->index, j);
				nd->bad_entries += !ok;
				nd->last_index = e->index;
			}
			continue;
		}
		if (m->context <= nd->last_ctx)
			nd->disorder++;
		nd->last_ctx = m->context;
	}
}

static int bound_port(struct evhttp_bound_socket *s)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(s);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

/* Starts a listener on 127.0.0.1:@port (0: any) and a transport with
 * certificate @cert (NAME.pem/NAME.key) trusting CA @ca. */
static bool force_posts;   /* node_start()'s transport_limits.force_posts */
static size_t batch_bytes; /* its transport_limits.batch_bytes (0: default) */

static void node_start(struct node *nd, raft_id id, const char *cert,
		       const char *ca, int port)
{
	struct transport_options o;
	struct evhttp_bound_socket *s;
	char b1[512], b2[512], b3[512], name[64], err[512];

	memset(nd, 0, sizeof(*nd));
	nd->id = id;
	snprintf(name, sizeof(name), "%s.key", cert);
	struct tls_files f = {
	    .name = "peer", .key = p(b2, name), .ca = p(b3, ca)};
	snprintf(name, sizeof(name), "%s.pem", cert);
	f.cert = p(b1, name);
	nd->srv = tls_server_new(&f, err, sizeof(err));
	ck_assert_msg(nd->srv != NULL, "%s", err);
	nd->cli = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(nd->cli != NULL, "%s", err);
	nd->http = evhttp_new(base);
	ck_assert_ptr_nonnull(nd->http);
	s = evhttp_bind_socket_with_handle(nd->http, "127.0.0.1",
					   (ev_uint16_t)port);
	ck_assert_ptr_nonnull(s);
	nd->port = bound_port(s);
	memset(&o, 0, sizeof(o));
	o.self = id;
	o.source_host = "127.0.0.1";
	o.token = "secret";
	o.limits.backoff_min_ms = 20;
	o.limits.backoff_max_ms = 200;
	o.limits.force_posts = force_posts;
	o.limits.batch_bytes = batch_bytes;
	o.seed = id;
	o.on_messages = on_messages;
	o.tls_server = nd->srv;
	o.tls_client = nd->cli;
	o.ctx = nd;
	ck_assert_int_eq(transport_new(base, &o, &nd->t), TRANSPORT_OK);
	ck_assert_int_eq(transport_attach(nd->t, nd->http), TRANSPORT_OK);
}

static void node_stop(struct node *nd)
{
	transport_free(nd->t);
	evhttp_free(nd->http);
	tls_server_free(nd->srv);
	tls_client_free(nd->cli);
	memset(nd, 0, sizeof(*nd));
}

static void add_peer(struct node *from, const struct node *to)
{
	char url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", to->port);
	ck_assert_int_eq(transport_add_peer(from->t, to->id, url),
			 TRANSPORT_OK);
}

static void send_heartbeat(struct node *from, raft_id to, uint64_t ctx)
{
	struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT,
			     .from = from->id,
			     .to = to,
			     .term = 3,
			     .context = ctx};

	ck_assert_int_eq(transport_send(from->t, &m), TRANSPORT_OK);
}

struct goal {
	const struct node *nd;
	size_t n;
};

static bool received(void *arg)
{
	const struct goal *g = arg;

	return g->nd->n >= g->n;
}

struct err_goal {
	const struct node *nd;
	raft_id peer;
	uint64_t errors;
};

static bool failed(void *arg)
{
	const struct err_goal *g = arg;
	struct transport_peer_stats ps;

	ck_assert_int_eq(transport_peer_stats(g->nd->t, g->peer, &ps),
			 TRANSPORT_OK);
	return ps.errors >= g->errors;
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

START_TEST(test_delivery_and_reconnect)
{
	struct transport_peer_stats ps;
	struct node a, b;
	struct goal g;
	int port;

	node_start(&a, 1, "a", "ca.pem", 0);
	node_start(&b, 2, "b", "ca.pem", 0);
	add_peer(&a, &b);
	add_peer(&b, &a);
	for (uint64_t i = 1; i <= 20; i++)
		send_heartbeat(&a, 2, i);
	send_heartbeat(&b, 1, 7);
	g = (struct goal){&b, 20};
	ck_assert(loop_run_until(base, received, &g, 10000));
	ck_assert_uint_eq(b.last_ctx, 20);
	g = (struct goal){&a, 1};
	ck_assert(loop_run_until(base, received, &g, 10000));
	ck_assert_int_eq(transport_peer_stats(a.t, 2, &ps), TRANSPORT_OK);
	ck_assert_uint_eq(ps.streams_opened, 1);
	ck_assert_uint_eq(ps.posts_sent, 0);

	/* The peer goes away and comes back on the same port: the lane
	 * fails, then connects anew with a new TLS session. */
	port = b.port;
	node_stop(&b);
	send_heartbeat(&a, 2, 100);
	struct err_goal eg = {&a, 2, 1};
	ck_assert(loop_run_until(base, failed, &eg, 10000));
	node_start(&b, 2, "b", "ca.pem", port);
	g = (struct goal){&b, 1};
	for (uint64_t i = 0; i < 200 && !received(&g); i++) {
		/* Messages sent while the lane backs off are dropped: send
		 * until one arrives. */
		send_heartbeat(&a, 2, 200 + i);
		loop_run_until(base, received, &g, 50);
	}
	ck_assert_uint_ge(b.n, 1);
	ck_assert_uint_ge(b.last_ctx, 200);
	ck_assert_int_eq(transport_peer_stats(a.t, 2, &ps), TRANSPORT_OK);
	ck_assert_uint_eq(ps.streams_opened, 2);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

/* Thousands of messages in order on a TLS stream, then as TLS POSTs. */
START_TEST(test_many_in_order_stream_and_posts)
{
	struct transport_peer_stats ps;
	struct transport_stats st;
	struct node a, b;
	struct goal g;

	for (int posts = 0; posts < 2; posts++) {
		force_posts = posts;
		node_start(&a, 1, "a", "ca.pem", 0);
		node_start(&b, 2, "b", "ca.pem", 0);
		add_peer(&a, &b);
		for (uint64_t i = 1; i <= 3000; i++) {
			send_heartbeat(&a, 2, i);
			if (i % 300 == 0) {
				g = (struct goal){&b, i - 300};
				loop_run_until(base, received, &g, 5000);
			}
		}
		g = (struct goal){&b, 3000};
		ck_assert(loop_run_until(base, received, &g, 20000));
		/* In order: the last delivered is the last sent, and none
		 * was lost or repeated. */
		ck_assert_uint_eq(b.n, 3000);
		ck_assert_uint_eq(b.last_ctx, 3000);
		ck_assert_uint_eq(b.disorder, 0);
		ck_assert_int_eq(transport_peer_stats(a.t, 2, &ps),
				 TRANSPORT_OK);
		transport_stats(b.t, &st);
		if (posts) {
			ck_assert_uint_eq(ps.streams_opened, 0);
			ck_assert_uint_gt(st.posts_received, 0);
		} else {
			ck_assert_uint_eq(ps.streams_opened, 1);
			ck_assert_uint_eq(ps.posts_sent, 0);
			ck_assert_uint_gt(st.frames_received, 1);
			ck_assert_uint_eq(st.streams_open, 1);
		}
		node_stop(&a);
		node_stop(&b);
	}
	force_posts = false;
}
END_TEST

/* Frames of one record each, far more than the socket holds, sent in one
 * turn: the first go to OpenSSL from the caller's turn, until the socket
 * is full and OpenSSL has begun a record it cannot finish; that frame and
 * those after it go to the bufferevent, whose retry hands OpenSSL the same
 * bytes. Every entry arrives once, in order, intact. */
START_TEST(test_stream_frames_past_a_full_socket)
{
	enum { N = 3000 };
	static uint8_t data[ENTRY_BYTES];
	struct transport_peer_stats ps;
	struct node a, b;
	struct goal g;

	batch_bytes = 8192; /* a frame per entry, within one record */
	node_start(&a, 1, "a", "ca.pem", 0);
	node_start(&b, 2, "b", "ca.pem", 0);
	batch_bytes = 0;
	add_peer(&a, &b);
	send_heartbeat(&a, 2, 1);
	g = (struct goal){&b, 1};
	ck_assert(loop_run_until(base, received, &g, 10000));
	for (uint64_t i = 1; i <= N; i++) {
		struct raft_entry e = {.term = 3,
				       .index = i,
				       .type = 1,
				       .len = ENTRY_BYTES,
				       .data = data};
		struct raft_msg m = {.type = RAFT_MSG_APPEND,
				     .from = 1,
				     .to = 2,
				     .term = 3,
				     .index = i - 1,
				     .log_term = 3,
				     .entries = &e,
				     .n_entries = 1};

		for (size_t j = 0; j < ENTRY_BYTES; j++)
			data[j] = entry_byte(i, j);
		ck_assert_int_eq(transport_send(a.t, &m), TRANSPORT_OK);
	}
	g = (struct goal){&b, 1 + N};
	ck_assert(loop_run_until(base, received, &g, 30000));
	ck_assert_uint_eq(b.n, 1 + N);
	ck_assert_uint_eq(b.last_index, N);
	ck_assert_uint_eq(b.bad_entries, 0);
	/* One stream per lane (heartbeats have their own), none opened
	 * again: the stream carrying the appends never failed. */
	ck_assert_int_eq(transport_peer_stats(a.t, 2, &ps), TRANSPORT_OK);
	ck_assert_uint_eq(ps.streams_opened, 2);
	ck_assert_uint_eq(ps.posts_sent, 0);
	ck_assert_uint_eq(ps.errors, 0);
	node_stop(&a);
	node_stop(&b);
}
END_TEST

START_TEST(test_other_ca_refused_both_ways)
{
	struct node a, r;
	struct goal g;

	node_start(&a, 1, "a", "ca.pem", 0);
	/* Its certificate another CA signed; it trusts the right CA. */
	node_start(&r, 3, "r", "ca.pem", 0);
	add_peer(&r, &a);
	add_peer(&a, &r);
	send_heartbeat(&r, 1, 1);
	send_heartbeat(&a, 3, 1);
	struct err_goal eg = {&r, 1, 1};
	ck_assert(loop_run_until(base, failed, &eg, 10000));
	eg = (struct err_goal){&a, 3, 1};
	ck_assert(loop_run_until(base, failed, &eg, 10000));
	g = (struct goal){&a, 1};
	ck_assert(!loop_run_until(base, received, &g, 300));
	ck_assert_uint_eq(r.n, 0);
	node_stop(&a);
	node_stop(&r);
}
END_TEST

START_TEST(test_url_schemes)
{
	struct node a;
	struct transport_options o;
	struct transport *t;

	node_start(&a, 1, "a", "ca.pem", 0);
	ck_assert_int_eq(transport_add_peer(a.t, 2, "http://127.0.0.1:1"),
			 TRANSPORT_EURL);
	ck_assert_int_eq(transport_add_peer(a.t, 2, "https://127.0.0.1:1/"),
			 TRANSPORT_OK);
	ck_assert(transport_url_https("HTTPS://h:1"));
	ck_assert(!transport_url_https("http://h:1"));

	/* Without TLS, https:// is refused; one context alone is an
	 * error. */
	memset(&o, 0, sizeof(o));
	o.self = 5;
	o.on_messages = on_messages;
	o.ctx = &a;
	ck_assert_int_eq(transport_new(base, &o, &t), TRANSPORT_OK);
	ck_assert_int_eq(transport_add_peer(t, 2, "https://127.0.0.1:1"),
			 TRANSPORT_EURL);
	ck_assert_int_eq(transport_add_peer(t, 2, "http://127.0.0.1:1"),
			 TRANSPORT_OK);
	transport_free(t);
	o.tls_client = a.cli;
	ck_assert_int_eq(transport_new(base, &o, &t), TRANSPORT_EINVAL);
	/* The listener's bufferevents: TLS ones with TLS. */
	struct bufferevent *bev = transport_new_peer_conn(a.t, base);
	ck_assert_ptr_nonnull(bev);
	bufferevent_free(bev);
	node_stop(&a);
}
END_TEST

/* ---- reading ahead (tls.h) on a TLS socket pair ---- */

#define BURST_RECORDS 8	  /* at most what one libevent write event makes */
#define BURST_BYTES   100 /* per record */

struct burst {
	size_t got;    /* bytes the reading end received */
	int connected; /* ends whose handshake completed */
	bool error;
};

/* Takes all the input, as a reader that parses until it runs out does:
 * what arrives while it takes is taken too. */
static void burst_read_cb(struct bufferevent *bev, void *arg)
{
	struct burst *b = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;

	while ((n = evbuffer_get_length(in)) > 0) {
		b->got += n;
		evbuffer_drain(in, n);
	}
}

static void burst_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct burst *b = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		b->connected++;
	else
		b->error = true;
}

static bool burst_connected(void *arg)
{
	const struct burst *b = arg;

	return b->connected == 2 || b->error;
}

static size_t burst_goal;

static bool burst_read(void *arg)
{
	const struct burst *b = arg;

	return b->got >= burst_goal || b->error;
}

/* Each chunk of the writer's output becomes a record of its own. */
static void burst_write(struct bufferevent *wr, int records)
{
	static const char data[BURST_RECORDS][BURST_BYTES];

	for (int i = 0; i < records; i++)
		ck_assert_int_eq(
		    evbuffer_add_reference(bufferevent_get_output(wr), data[i],
					   BURST_BYTES, NULL, NULL),
		    0);
}

/* A record, then BURST_RECORDS small records sent in one go (one write
 * event) and nothing more, to the reading end of a TLS socket pair:
 * tls_server_bev()'s when @ours, else a bare bufferevent_openssl that
 * reads ahead; a read high watermark of @high bytes unless 0. Returns the
 * bytes the reader got within the deadline. */
static size_t burst_run(bool ours, size_t high)
{
	struct tls_server *srv;
	struct tls_client *cli;
	struct burst b = {0};
	char b1[512], b2[512], b3[512], err[512];
	struct tls_files f = {.name = "peer",
			      .cert = p(b1, "a.pem"),
			      .key = p(b2, "a.key"),
			      .ca = p(b3, "ca.pem")};
	struct bufferevent *rd, *wr;
	int sv[2];

	srv = tls_server_new(&f, err, sizeof(err));
	ck_assert_msg(srv != NULL, "%s", err);
	cli = tls_client_new(&f, err, sizeof(err));
	ck_assert_msg(cli != NULL, "%s", err);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[1]), 0);
	if (ours) {
		rd = tls_server_bev(srv, base);
		ck_assert_ptr_nonnull(rd);
		ck_assert_int_eq(bufferevent_setfd(rd, sv[0]), 0);
	} else {
		rd = bufferevent_openssl_socket_new(
		    base, sv[0], SSL_new(tls_server_ctx(srv)),
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		ck_assert_ptr_nonnull(rd);
	}
	/* Not tls_client_bev(): its output is joined into one record. */
	wr = bufferevent_openssl_socket_new(
	    base, sv[1], tls_client_ssl(cli, "127.0.0.1"),
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(wr);
	bufferevent_setcb(rd, burst_read_cb, NULL, burst_event_cb, &b);
	if (high > 0)
		bufferevent_setwatermark(rd, EV_READ, 0, high);
	bufferevent_setcb(wr, NULL, NULL, burst_event_cb, &b);
	ck_assert_int_eq(bufferevent_enable(rd, EV_READ | EV_WRITE), 0);
	ck_assert_int_eq(bufferevent_enable(wr, EV_READ | EV_WRITE), 0);
	ck_assert(loop_run_until(base, burst_connected, &b, 10000));
	ck_assert(!b.error);
	if (!ours)
		SSL_set_read_ahead(bufferevent_openssl_get_ssl(rd), 1);
	burst_write(wr, 1);
	burst_goal = BURST_BYTES;
	ck_assert(loop_run_until(base, burst_read, &b, 10000));
	burst_write(wr, BURST_RECORDS);
	burst_goal = (1 + BURST_RECORDS) * BURST_BYTES;
	(void)loop_run_until(base, burst_read, &b, ours ? 10000 : 1000);
	ck_assert(!b.error);
	bufferevent_free(wr);
	bufferevent_free(rd);
	tls_client_free(cli);
	tls_server_free(srv);
	return b.got;
}

/* Reading ahead, the records past the two libevent takes follow them into
 * the input at once; a bare bufferevent_openssl leaves them in OpenSSL's
 * buffer, waiting for bytes on the socket that never come. */
START_TEST(test_read_ahead_takes_every_record)
{
	const size_t all = (1 + BURST_RECORDS) * BURST_BYTES;

	ck_assert_uint_eq(burst_run(true, 0), all);
	ck_assert_uint_lt(burst_run(false, 0), all);
}
END_TEST

/* Under a read high watermark of two records, the records held back in
 * OpenSSL's buffer follow as the reader takes the input out. */
START_TEST(test_read_ahead_under_a_watermark)
{
	ck_assert_uint_eq(burst_run(true, 2 * BURST_BYTES),
			  (1 + BURST_RECORDS) * BURST_BYTES);
}
END_TEST

int main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	make_certs("ca", "a");
	sh("openssl req -newkey rsa:2048 -nodes -keyout b.key -out b.csr "
	   "-subj /CN=b && chmod 600 b.key && openssl x509 -req -in b.csr "
	   "-CA ca.pem -CAkey ca.key -days 2 -out b.pem -extfile a.ext");
	make_certs("rogue", "r");
	Suite *s = suite_create("transport_tls");
	TCase *tc = tcase_create("tls");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_delivery_and_reconnect);
	tcase_add_test(tc, test_many_in_order_stream_and_posts);
	tcase_add_test(tc, test_stream_frames_past_a_full_socket);
	tcase_add_test(tc, test_other_ca_refused_both_ways);
	tcase_add_test(tc, test_url_schemes);
	tcase_add_test(tc, test_read_ahead_takes_every_record);
	tcase_add_test(tc, test_read_ahead_under_a_watermark);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
