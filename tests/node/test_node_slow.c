/* test_node_slow.c - the node's slow-operation and heartbeat-failure
 * metrics: the line limiter of slow applies and fsyncs (slow_log.c) with a
 * given clock, and a one-member node on a real loop whose apply() sleeps,
 * and which leads a learner nothing answers for. */
#define _POSIX_C_SOURCE 200809L /* nanosleep() */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kvdraft_node.h"
#include "node_test_util.h"
#include "slow_log.h"

/* --- the limiter, on a clock of the test's own --- */

START_TEST(slow_log_first_line_at_once)
{
	struct slow_log s = {0};
	/* The first slow operation reports itself, even at time 0. */
	ck_assert_uint_eq(slow_log_note(&s, 0), 1);
	ck_assert_uint_eq(s.total, 1);
	ck_assert_uint_eq(s.lines, 1);
}
END_TEST

START_TEST(slow_log_one_line_per_interval_with_the_count)
{
	struct slow_log s = {0};
	uint64_t t = 5000;
	ck_assert_uint_eq(slow_log_note(&s, t), 1);
	/* Three more within the interval: counted, no line. */
	ck_assert_uint_eq(slow_log_note(&s, t + 1), 0);
	ck_assert_uint_eq(slow_log_note(&s, t + 4000), 0);
	ck_assert_uint_eq(slow_log_note(&s, t + SLOW_LOG_INTERVAL_MS - 1), 0);
	ck_assert_uint_eq(s.total, 4);
	/* The next one after the interval reports all four since. */
	t += SLOW_LOG_INTERVAL_MS;
	ck_assert_uint_eq(slow_log_note(&s, t), 4);
	ck_assert_uint_eq(s.total, 5);
	ck_assert_uint_eq(s.lines, 2);
	/* Long quiet: the next one is a line of its own. */
	ck_assert_uint_eq(slow_log_note(&s, t + 10 * SLOW_LOG_INTERVAL_MS), 1);
	ck_assert_uint_eq(s.total, 6);
}
END_TEST

START_TEST(slow_log_clock_going_back_does_not_silence)
{
	struct slow_log s = {0};
	ck_assert_uint_eq(slow_log_note(&s, 100000), 1);
	ck_assert_uint_eq(slow_log_note(&s, 100001), 0);
	ck_assert_uint_eq(slow_log_note(&s, 50), 2);
	ck_assert_uint_eq(slow_log_note(&s, 60), 0);
}
END_TEST

/* --- a one-member node --- */

#define WAIT_SECONDS 60.0 /* generous: the machine may be loaded */

struct fixture {
	struct event_base *base;
	struct evhttp *http;
	struct kvdraft_node *node;
	char dir[64];
	char url[64];
	int sleep_applies; /* apply() calls still to sleep in */
	unsigned slow_lines;
	char last_line[512];
};

static struct fixture fx;

/* The node's log sink: counts the slow-apply warnings. */
static void on_log(void *ctx, int level, const char *line)
{
	struct fixture *f = ctx;
	if (level == KVDRAFT_LOG_WARN && strstr(line, "applying ") != NULL &&
	    strstr(line, " took ") != NULL) {
		f->slow_lines++;
		snprintf(f->last_line, sizeof(f->last_line), "%s", line);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Applies nothing but the index; the first sleep_applies calls sleep
 * 150 ms, over the node's 100 ms threshold. */
static int app_apply(void *ctx, const struct raft_entry *ents, size_t n,
		     void *results, char *err, size_t errlen)
{
	struct fixture *f = ctx;
	(void)ents, (void)n, (void)results, (void)err, (void)errlen;
	if (f->sleep_applies > 0) {
		f->sleep_applies--;
		sleep_ms(150);
	}
	return 0;
}

static void stats(struct kvdraft_node_stats *st)
{
	node_test_stats(fx.node, st);
}

/* Runs the loop until @cond holds; fails after WAIT_SECONDS. */
static void wait_for(int (*cond)(void), const char *what)
{
	node_test_wait(fx.base, cond, what, WAIT_SECONDS);
}

static int is_leader(void)
{
	struct kvdraft_node_stats st;
	stats(&st);
	return st.is_leader && st.applied >= st.commit && st.commit > 0;
}

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	node_test_mkdir(fx.dir, sizeof(fx.dir), "kvd-test-slow");
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	fx.http = node_test_listen(fx.base, fx.url, sizeof(fx.url));

	struct kvdraft_peer self = {.id = 1, .peer_url = fx.url};
	struct kvdraft_node_options o;
	kvdraft_node_options_init(&o);
	o.id = 1;
	o.data_dir = fx.dir;
	o.advertise_peer = fx.url;
	o.initial = &self;
	o.n_initial = 1;
	o.heartbeat_ms = 20;
	o.election_timeout_ms = 200;
	o.log = on_log;
	o.log_ctx = &fx;
	struct kvdraft_app app;
	node_test_empty_app(&app, &fx);
	app.apply = app_apply;
	char err[256] = "";
	ck_assert_msg(kvdraft_node_open(fx.base, fx.http, &o, &app, &fx.node,
					err, sizeof(err)) == KVDRAFT_OK,
		      "open: %s", err);
	wait_for(is_leader, "the member to lead");
}

static void teardown(void)
{
	kvdraft_node_close(fx.node);
	evhttp_free(fx.http);
	event_base_free(fx.base);
	node_test_rmdir(fx.dir);
}

static unsigned done_calls;
static void on_done(void *arg, int err, const void *result)
{
	(void)arg, (void)result;
	ck_assert_int_eq(err, KVDRAFT_OK);
	done_calls++;
}

static unsigned want_done;
static int all_done(void)
{
	return done_calls >= want_done;
}

/* Proposes one command and runs the loop until it is applied. */
static void put_one(void)
{
	char cmd[] = "x";
	want_done = done_calls + 1;
	ck_assert_int_eq(
	    kvdraft_node_propose(fx.node, cmd, sizeof(cmd), on_done, NULL),
	    KVDRAFT_OK);
	wait_for(all_done, "the proposal to apply");
}

START_TEST(slow_apply_counted_and_logged)
{
	/* A fast apply can be slow too on a loaded machine (the loop was
	 * not scheduled): the test counts from where it starts and asks
	 * only what the sleeping apply() makes certain. */
	struct kvdraft_node_stats st;
	stats(&st);
	uint64_t before = st.slow_applies;

	fx.sleep_applies = 1;
	put_one();
	stats(&st);
	ck_assert_uint_ge(st.slow_applies, before + 1);
	ck_assert_uint_ge(fx.slow_lines, 1);
	ck_assert_uint_le(fx.slow_lines, st.slow_applies);
	ck_assert_msg(strstr(fx.last_line, " ms (slow applies since last "
					   "report: ") != NULL,
		      "line: %s", fx.last_line);

	/* Another slow one is counted; whether it has a line of its own
	 * depends on the time between (the limiter's test covers that). */
	uint64_t after = st.slow_applies;
	fx.sleep_applies = 1;
	put_one();
	stats(&st);
	ck_assert_uint_ge(st.slow_applies, after + 1);
	ck_assert_uint_le(fx.slow_lines, st.slow_applies);
}
END_TEST

/* A program built against the struct before the new fields keeps
 * working: the node copies no more than its @size. */
START_TEST(stats_older_size_left_alone)
{
	struct {
		struct kvdraft_node_stats st;
		unsigned char guard[64];
	} b;
	memset(&b, 0xAB, sizeof(b));
	size_t old = offsetof(struct kvdraft_node_stats, slow_applies);
	b.st.size = old;
	kvdraft_node_stats(fx.node, &b.st);
	ck_assert_uint_eq(b.st.size, old);
	const unsigned char *p = (const unsigned char *)&b.st;
	for (size_t i = old; i < sizeof(b); i++)
		ck_assert_uint_eq(p[i], 0xAB);
	ck_assert(b.st.is_leader);
}
END_TEST

static int heartbeats_failed(void)
{
	struct kvdraft_node_stats st;
	stats(&st);
	/* The member must still lead for its heartbeats to count. */
	ck_assert(st.is_leader);
	return st.heartbeat_send_failures >= 3;
}

/* The learner's address is a socket bound but not listening: every
 * connection to it is refused. */
START_TEST(heartbeat_failures_to_unreachable_learner)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 (unsigned)ntohs(sa.sin_port));

	struct kvdraft_node_stats st;
	stats(&st);
	ck_assert_uint_eq(st.heartbeat_send_failures, 0);
	/* A learner does not count towards the quorum: the change commits
	 * and the member goes on leading it. */
	struct raft_config_change ch = {
	    .type = RAFT_CHANGE_ADD_LEARNER, .id = 2, .addr = url};
	raft_index index;
	ck_assert_int_eq(kvdraft_node_change_membership(fx.node, &ch, &index),
			 0);
	wait_for(heartbeats_failed, "heartbeat send failures");
	stats(&st);
	ck_assert_uint_gt(st.peer_errors, 0);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("node-slow");
	TCase *tc = tcase_create("slow_log");
	tcase_add_test(tc, slow_log_first_line_at_once);
	tcase_add_test(tc, slow_log_one_line_per_interval_with_the_count);
	tcase_add_test(tc, slow_log_clock_going_back_does_not_silence);
	suite_add_tcase(s, tc);
	tc = tcase_create("node");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, slow_apply_counted_and_logged);
	tcase_add_test(tc, stats_older_size_left_alone);
	tcase_add_test(tc, heartbeat_failures_to_unreachable_learner);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
