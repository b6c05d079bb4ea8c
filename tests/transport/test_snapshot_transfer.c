/* test_snapshot_transfer.c - InstallSnapshot's transfer on its own, over
 * real loopback HTTP: a file in several chunks with its configuration, the
 * receiver's verify and take callbacks, the refusals (token, leader,
 * a file that is not a snapshot, a bad URL), and chunks in flight (order,
 * their bound, a failure with several in flight resumed from the
 * receiver's offset). */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "crc32c.h"
#include "snapshot_transfer.h"
#include "raft.h"

/* Generous: the machine may be loaded; the tests end as soon as the
 * outcome is in. */
#define WAIT_MS 60000

static struct event_base *base;
static char root[64];
/* What the next start() gives a side (0: the defaults). */
static size_t opt_chunk, opt_inflight;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- one side: a snap_xfer and what its callbacks saw ---- */

struct side {
	struct snap_xfer *x;
	struct evhttp *http; /* the receiver's listener; NULL for a sender */
	int port;
	char dir[256];
	/* receiver */
	int verify_rc;	/* what verify() answers */
	int take_rc;	/* what on_received() answers */
	raft_id leader; /* what leader() answers */
	int received;
	struct snap_xfer_received last;
	char last_path[SNAP_XFER_PATH_MAX];
	uint8_t last_config[64];
	/* sender */
	int sent;
	bool sent_ok;
};

static int cb_verify(void *ctx, const char *path, raft_index *index,
		     raft_term *term, char *err, size_t errlen)
{
	struct side *sd = ctx;

	(void)path;
	if (sd->verify_rc != 0) {
		snprintf(err, errlen, "not a store");
		return -1;
	}
	*index = 42;
	*term = 7;
	return 0;
}

static int cb_received(void *ctx, const struct snap_xfer_received *r)
{
	struct side *sd = ctx;

	sd->received++;
	sd->last = *r;
	snprintf(sd->last_path, sizeof(sd->last_path), "%s", r->path);
	sd->last.path = sd->last_path;
	ck_assert_uint_le(r->config_len, sizeof(sd->last_config));
	if (r->config != NULL)
		memcpy(sd->last_config, r->config, r->config_len);
	sd->last.config = r->config != NULL ? sd->last_config : NULL;
	return sd->take_rc;
}

static raft_id cb_leader(void *ctx)
{
	return ((struct side *)ctx)->leader;
}

static void cb_sent(void *ctx, raft_id peer, bool ok)
{
	struct side *sd = ctx;

	ck_assert_uint_eq(peer, 2);
	sd->sent++;
	sd->sent_ok = ok;
}

/* @sd's listener on @port (0: any), serving its snap_xfer. */
/* A new evhttp listening on 127.0.0.1:@port (0: one the kernel picks);
 * the port in @bound. */
static struct evhttp *http_listen(int port, int *bound)
{
	struct evhttp *http = evhttp_new(base);
	ck_assert_ptr_nonnull(http);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(
	    http, "127.0.0.1", (ev_uint16_t)port);
	ck_assert_ptr_nonnull(s);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(s),
				     (struct sockaddr *)&sa, &sl),
			 0);
	*bound = ntohs(sa.sin_port);
	return http;
}

static void listen_on(struct side *sd, int port)
{
	sd->http = http_listen(port, &sd->port);
	ck_assert_int_eq(snap_xfer_attach(sd->x, sd->http), 0);
}

static void start(struct side *sd, raft_id self, const char *token, bool listen)
{
	struct snap_xfer_options o = {0};

	memset(sd, 0, sizeof(*sd));
	sd->leader = 1;
	/* The dir does not exist yet: the receiver makes it. */
	snprintf(sd->dir, sizeof(sd->dir), "%s/m%" PRIu64 "/snap", root, self);
	o.self = self;
	o.dir = sd->dir;
	o.source_host = "127.0.0.1";
	o.token = token;
	o.verify = cb_verify;
	o.on_received = cb_received;
	o.leader = cb_leader;
	o.on_sent = cb_sent;
	o.chunk_bytes = opt_chunk;
	o.max_inflight = opt_inflight;
	o.ctx = sd;
	ck_assert_int_eq(snap_xfer_new(base, &o, &sd->x), 0);
	if (!listen)
		return;
	char parent[300];
	snprintf(parent, sizeof(parent), "%s/m%" PRIu64, root, self);
	ck_assert_int_eq(mkdir(parent, 0700), 0);
	listen_on(sd, 0);
}

static void stop(struct side *sd)
{
	snap_xfer_free(sd->x);
	if (sd->http != NULL)
		evhttp_free(sd->http);
}

/* Runs the loop until @sd's send is over or WAIT_MS pass, then lets the
 * deferred end of the send run. */
static void wait_sent(struct side *sd)
{
	uint64_t deadline = now_ms() + WAIT_MS;

	while (sd->sent == 0 && now_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(sd->sent, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* A snapshot file of @len pseudo-random bytes; its info into *@info. */
static void make_file(const char *path, size_t len, struct snapshot_info *info)
{
	uint8_t *buf = malloc(len);
	uint64_t x = 12345;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(x >> 56);
	}
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
	*info = (struct snapshot_info){
	    .index = 42, .term = 7, .size = len, .crc = crc32c(0, buf, len)};
	free(buf);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/test_snap_xfer_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	char cmd[128];

	opt_chunk = 0;
	opt_inflight = 0;
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* Sends @info from @path to @rx as member 1 (token @token). */
static void send_to(struct side *tx, struct side *rx, const char *path,
		    const struct snapshot_info *info, const uint8_t *cfg,
		    size_t cfg_len)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", rx->port);
	ck_assert_int_eq(
	    snap_xfer_send(tx->x, 2, url, path, info, 9, 40, cfg, cfg_len, 30),
	    0);
	ck_assert(snap_xfer_sending(tx->x, 2));
}

/* Three chunks (the last one short), the configuration with them: the
 * receiver holds the same bytes, private, under the name the driver
 * expects, and both sides count it. */
START_TEST(whole_file_in_chunks)
{
	struct side tx, rx;
	struct snapshot_info info, got;
	struct snap_xfer_stats st;
	const uint8_t cfg[] = {0x01, 0x00, 0xfe, 0x7f};
	char path[300], want[SNAP_XFER_PATH_MAX], err[256];

	start(&rx, 2, "secret", true);
	start(&tx, 1, "secret", false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 2 * SNAP_XFER_CHUNK_BYTES + 12345, &info);
	send_to(&tx, &rx, path, &info, cfg, sizeof(cfg));
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert(!snap_xfer_sending(tx.x, 2));
	ck_assert_int_eq(rx.received, 1);
	ck_assert_uint_eq(rx.last.from, 1);
	ck_assert_uint_eq(rx.last.msg_term, 9);
	ck_assert_uint_eq(rx.last.commit, 40);
	ck_assert_uint_eq(rx.last.info.index, 42);
	ck_assert_uint_eq(rx.last.info.term, 7);
	ck_assert_uint_eq(rx.last.config_len, sizeof(cfg));
	ck_assert_int_eq(memcmp(rx.last.config, cfg, sizeof(cfg)), 0);
	ck_assert_uint_eq(rx.last.config_index, 30);
	snap_xfer_received_path(rx.dir, 42, want);
	ck_assert_str_eq(rx.last_path, want);
	ck_assert_int_eq(
	    crc32c_file(want, &got.size, &got.crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(got.size, info.size);
	ck_assert_uint_eq(got.crc, info.crc);
	struct stat sb;
	ck_assert_int_eq(stat(want, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(rx.dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_eq(st.sends_started, 1);
	ck_assert_uint_eq(st.sends_ok, 1);
	ck_assert_uint_eq(st.bytes_sent, info.size);
	snap_xfer_stats(rx.x, &st);
	ck_assert_uint_eq(st.received, 1);
	ck_assert_uint_eq(st.bytes_received, info.size);
	ck_assert_uint_eq(st.bad_chunks, 0);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* The core has no use for it (on_received 1): deleted, the sender told it
 * arrived. */
START_TEST(not_needed_is_deleted)
{
	struct side tx, rx;
	struct snapshot_info info;
	char path[300], want[SNAP_XFER_PATH_MAX];

	start(&rx, 2, NULL, true);
	rx.take_rc = 1;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 1000, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert_int_eq(rx.received, 1);
	ck_assert_ptr_null(rx.last.config);
	snap_xfer_received_path(rx.dir, 42, want);
	ck_assert(!exists(want));
	stop(&tx);
	stop(&rx);
}
END_TEST

/* A whole file that verify() refuses is never handed over or kept; the
 * sender tries it again a bounded number of times, then fails. */
START_TEST(not_a_snapshot_is_refused)
{
	struct side tx, rx;
	struct snapshot_info info;
	struct snap_xfer_stats st;
	char path[300], p[SNAP_XFER_PATH_MAX];

	start(&rx, 2, NULL, true);
	rx.verify_rc = -1;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 5000, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(!tx.sent_ok);
	ck_assert_int_eq(rx.received, 0);
	snap_xfer_received_path(rx.dir, 42, p);
	ck_assert(!exists(p));
	snprintf(p, sizeof(p), "%s/recv.part", rx.dir);
	ck_assert(!exists(p));
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_eq(st.sends_failed, 1);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* A wrong token: 401, nothing written. */
START_TEST(wrong_token_is_refused)
{
	struct side tx, rx;
	struct snapshot_info info;
	struct snap_xfer_stats st;
	char path[300];

	start(&rx, 2, "secret", true);
	start(&tx, 1, "guess", false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 1000, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(!tx.sent_ok);
	ck_assert_int_eq(rx.received, 0);
	snap_xfer_stats(rx.x, &st);
	ck_assert_uint_eq(st.unauthorized, 1);
	ck_assert(!exists(rx.dir));
	stop(&tx);
	stop(&rx);
}
END_TEST

/* Chunks from a member that is not the leader here: 409. */
START_TEST(not_from_the_leader_is_refused)
{
	struct side tx, rx;
	struct snapshot_info info;
	struct snap_xfer_stats st;
	char path[300];

	start(&rx, 2, NULL, true);
	rx.leader = 3;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 1000, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(!tx.sent_ok);
	ck_assert_int_eq(rx.received, 0);
	snap_xfer_stats(rx.x, &st);
	ck_assert_uint_eq(st.bad_chunks, 1);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* What the options and a send are refused for, before any IO. */
START_TEST(bad_arguments_are_refused)
{
	struct side tx;
	struct snap_xfer *x = NULL;
	struct snap_xfer_options o = {.self = 1, .on_sent = cb_sent};
	struct snapshot_info info;
	char path[300], long_dir[SNAP_XFER_PATH_MAX];

	/* No dir, an empty or too long one; without verify() (size and CRC
	 * suffice) it starts. */
	o.verify = cb_verify;
	ck_assert_int_eq(snap_xfer_new(base, &o, &x), -1);
	o.dir = "";
	ck_assert_int_eq(snap_xfer_new(base, &o, &x), -1);
	memset(long_dir, 'a', sizeof(long_dir) - 1);
	long_dir[sizeof(long_dir) - 1] = '\0';
	o.dir = long_dir;
	ck_assert_int_eq(snap_xfer_new(base, &o, &x), -1);
	ck_assert_ptr_null(x);
	o.dir = root;
	o.verify = NULL;
	ck_assert_int_eq(snap_xfer_new(base, &o, &x), 0);
	ck_assert_ptr_nonnull(x);
	snap_xfer_free(x);
	x = NULL;

	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 100, &info);
	const char *bad[] = {"127.0.0.1:1",	     "ftp://127.0.0.1:1",
			     "http://127.0.0.1",     "http://127.0.0.1:1/x",
			     "http://u@127.0.0.1:1", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(snap_xfer_send(tx.x, 2, bad[i], path, &info, 9,
					     40, NULL, 0, 0) == -1,
			      "%s", bad[i]);
	/* A file that cannot be opened. */
	snprintf(path, sizeof(path), "%s/missing.mdb", root);
	ck_assert_int_eq(snap_xfer_send(tx.x, 2, "http://127.0.0.1:1", path,
					&info, 9, 40, NULL, 0, 0),
			 -1);
	ck_assert(!snap_xfer_sending(tx.x, 2));
	ck_assert_int_eq(tx.sent, 0);
	stop(&tx);
}
END_TEST

/* Numbers past the core's ranges (raft.h: a term above RAFT_TERM_MAX, an
 * index above RAFT_INDEX_MAX) in a chunk's query or headers: 400 before
 * any byte is written, nothing received. */
START_TEST(numbers_out_of_range_are_refused)
{
	const raft_term bad_term = (raft_term)RAFT_TERM_MAX + 1;
	const raft_index bad_index = RAFT_INDEX_MAX + 1;
	struct side tx, rx;
	struct snapshot_info info, sent;
	struct snap_xfer_stats st;
	char path[300], url[64];
	uint8_t cfg[4] = {1, 2, 3, 4};

	start(&rx, 2, NULL, true);
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 1000, &info);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", rx.port);
	for (int k = 0; k < 5; k++) {
		raft_term msg_term = 9;
		raft_index commit = 40, cfg_index = 30;
		uint64_t before;

		snap_xfer_stats(rx.x, &st);
		before = st.bad_chunks;
		sent = info;
		if (k == 0)
			sent.term = bad_term; /* the snapshot's term */
		else if (k == 1)
			sent.index = bad_index;
		else if (k == 2)
			msg_term = bad_term; /* the leader's term */
		else if (k == 3)
			commit = bad_index;
		else
			cfg_index = bad_index;
		tx.sent = 0;
		ck_assert_int_eq(snap_xfer_send(tx.x, 2, url, path, &sent,
						msg_term, commit, cfg,
						sizeof(cfg), cfg_index),
				 0);
		wait_sent(&tx);
		ck_assert_msg(!tx.sent_ok, "case %d", k);
		snap_xfer_stats(rx.x, &st);
		ck_assert_uint_gt(st.bad_chunks, before);
	}
	ck_assert_int_eq(rx.received, 0);
	snprintf(path, sizeof(path), "%s/recv.part", rx.dir);
	ck_assert(!exists(path));
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	/* Within the ranges, the same file goes through. */
	tx.sent = 0;
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert_int_eq(rx.received, 1);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* Many small chunks, several in flight on one connection: they arrive in
 * order (the receiver takes a chunk only at its offset, so one out of
 * order would be refused and the send would have to resume), the file is
 * whole, and no more than max_inflight chunks were ever in flight - but
 * more than one, or nothing was pipelined. */
START_TEST(chunks_in_flight_in_order)
{
	struct side tx, rx;
	struct snapshot_info info, got;
	struct snap_xfer_stats st;
	char path[300], want[SNAP_XFER_PATH_MAX], err[256];

	start(&rx, 2, "secret", true);
	opt_chunk = 64 * 1024;
	opt_inflight = 4;
	start(&tx, 1, "secret", false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 40 * opt_chunk + 777, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert_int_eq(rx.received, 1);
	snap_xfer_received_path(rx.dir, 42, want);
	ck_assert_int_eq(
	    crc32c_file(want, &got.size, &got.crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(got.size, info.size);
	ck_assert_uint_eq(got.crc, info.crc);
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_eq(st.resumes, 0);
	ck_assert_uint_eq(st.legacy_sends, 0);
	ck_assert_uint_gt(st.inflight_peak, 1);
	ck_assert_uint_le(st.inflight_peak, 4);
	ck_assert_uint_eq(st.bytes_sent, info.size);
	snap_xfer_stats(rx.x, &st);
	ck_assert_uint_eq(st.bad_chunks, 0);
	ck_assert_uint_eq(st.bytes_received, info.size);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* Chunks in flight are bounded by SNAP_XFER_MAX_INFLIGHT whatever the
 * option asks (memory: chunk bytes times chunks in flight per send). */
START_TEST(chunks_in_flight_bounded)
{
	struct side tx, rx;
	struct snapshot_info info;
	struct snap_xfer_stats st;
	char path[300];

	start(&rx, 2, NULL, true);
	opt_chunk = 16 * 1024;
	opt_inflight = 1000;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 200 * opt_chunk, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_gt(st.inflight_peak, 1);
	ck_assert_uint_le(st.inflight_peak, SNAP_XFER_MAX_INFLIGHT);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* The receiver's connections die with chunks in flight (its listener is
 * closed halfway): the send fails once. The next send continues from
 * the receiver's offset: the receiver writes every byte exactly once. */
START_TEST(failure_mid_pipeline_resumes)
{
	struct side tx, rx;
	struct snapshot_info info, got;
	struct snap_xfer_stats st;
	char path[300], want[SNAP_XFER_PATH_MAX], err[256];

	start(&rx, 2, NULL, true);
	opt_chunk = 64 * 1024;
	opt_inflight = 4;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 64 * opt_chunk, &info);
	send_to(&tx, &rx, path, &info, NULL, 0);
	uint64_t deadline = now_ms() + WAIT_MS;
	do {
		event_base_loop(base, EVLOOP_ONCE);
		snap_xfer_stats(rx.x, &st);
	} while (st.bytes_received < info.size / 2 && now_ms() < deadline);
	ck_assert_uint_ge(st.bytes_received, info.size / 2);
	ck_assert_uint_lt(st.bytes_received, info.size);
	uint64_t held = st.bytes_received;
	evhttp_free(rx.http);
	wait_sent(&tx);
	ck_assert(!tx.sent_ok);
	ck_assert(!snap_xfer_sending(tx.x, 2));

	listen_on(&rx, rx.port);
	tx.sent = 0;
	send_to(&tx, &rx, path, &info, NULL, 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert_int_eq(rx.received, 1);
	snap_xfer_received_path(rx.dir, 42, want);
	ck_assert_int_eq(
	    crc32c_file(want, &got.size, &got.crc, err, sizeof(err)), 0);
	ck_assert_uint_eq(got.crc, info.crc);
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_eq(st.sends_failed, 1);
	ck_assert_uint_eq(st.sends_ok, 1);
	ck_assert_uint_ge(st.resumes, 1);
	snap_xfer_stats(rx.x, &st);
	ck_assert_uint_ge(held, opt_chunk);
	ck_assert_uint_eq(st.bytes_received, info.size);
	ck_assert_uint_eq(st.bad_chunks, 0);
	stop(&tx);
	stop(&rx);
}
END_TEST

/* ---- a receiver of an older kvd: the offset in the header only ---- */

struct old_receiver {
	uint8_t *data;
	size_t cap, held;
	int chunks;
};

static void old_receiver_cb(struct evhttp_request *req, void *arg)
{
	struct old_receiver *o = arg;
	const char *q =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char *at = q != NULL ? strstr(q, "offset=") : NULL;
	unsigned long long off = at != NULL ? strtoull(at + 7, NULL, 10) : 0;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	char v[32];

	o->chunks++;
	if (off == o->held && o->held + len <= o->cap) {
		evbuffer_remove(body, o->data + o->held, len);
		o->held += len;
	}
	snprintf(v, sizeof(v), "%zu", o->held);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "X-Kvd-Snapshot-Offset", v);
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* A receiver that answers as kvd did before chunks were pipelined (its
 * offset in a header, an empty body): the sender sees it cannot read the
 * offset and goes on one chunk at a time, and the whole file arrives. */
START_TEST(older_receiver_one_chunk_at_a_time)
{
	struct side tx;
	struct snapshot_info info;
	struct snap_xfer_stats st;
	struct old_receiver o = {0};
	char path[300], url[64];

	opt_chunk = 64 * 1024;
	opt_inflight = 4;
	start(&tx, 1, NULL, false);
	snprintf(path, sizeof(path), "%s/snap.mdb", root);
	make_file(path, 20 * opt_chunk + 99, &info);
	o.cap = info.size;
	o.data = malloc(o.cap);
	ck_assert_ptr_nonnull(o.data);
	int port;
	struct evhttp *http = http_listen(0, &port);
	ck_assert_int_eq(
	    evhttp_set_cb(http, SNAP_XFER_PATH, old_receiver_cb, &o), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	ck_assert_int_eq(
	    snap_xfer_send(tx.x, 2, url, path, &info, 9, 40, NULL, 0, 0), 0);
	wait_sent(&tx);
	ck_assert(tx.sent_ok);
	ck_assert_uint_eq(o.held, info.size);
	ck_assert_uint_eq(crc32c(0, o.data, o.held), info.crc);
	snap_xfer_stats(tx.x, &st);
	ck_assert_uint_eq(st.legacy_sends, 1);
	ck_assert_uint_eq(st.bytes_sent, info.size);
	snap_xfer_free(tx.x);
	evhttp_free(http);
	free(o.data);
}
END_TEST

static Suite *snap_xfer_suite(void)
{
	Suite *s = suite_create("snapshot_transfer");
	TCase *tc = tcase_create("transfer");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, whole_file_in_chunks);
	tcase_add_test(tc, not_needed_is_deleted);
	tcase_add_test(tc, not_a_snapshot_is_refused);
	tcase_add_test(tc, wrong_token_is_refused);
	tcase_add_test(tc, not_from_the_leader_is_refused);
	tcase_add_test(tc, bad_arguments_are_refused);
	tcase_add_test(tc, numbers_out_of_range_are_refused);
	tcase_add_test(tc, chunks_in_flight_in_order);
	tcase_add_test(tc, chunks_in_flight_bounded);
	tcase_add_test(tc, failure_mid_pipeline_resumes);
	tcase_add_test(tc, older_receiver_one_chunk_at_a_time);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(snap_xfer_suite());
	int failed;

	/* As kvd: a write to a connection the peer closed fails, it does not
	 * kill the process (failure_mid_pipeline_resumes). */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
