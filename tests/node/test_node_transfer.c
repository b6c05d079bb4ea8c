/* test_node_transfer.c - a leadership transfer whose completion stops the
 * node while other waits are pending (kvd hands leadership over, then
 * stops): two members on one loop over loopback HTTP.
 *
 * Stopping fails every other wait and frees it, from within the transfer's
 * completion. node_waits_finish_transfers() once kept a pointer to the
 * wait after the transfer across that completion and then read it, freed
 * (a use-after-free the sanitized build reports). Waits are linked at the
 * list's head, so the one after the transfer is the newest registered
 * before it: the test watches before the transfer starts (and after, for
 * good measure), and every watch must end once, with KVDRAFT_ESTOPPING. */
#include <check.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvdraft_node.h"
#include "node_test_util.h"

#define WAIT_SECONDS   30.0 /* generous: the machine may be loaded */
#define MEMBERS	       2
#define WATCHES_BEFORE 3 /* registered before the transfer */
#define WATCHES_AFTER  2 /* and after it */
#define WATCHES	       (WATCHES_BEFORE + WATCHES_AFTER)

struct member {
	raft_id id;
	struct evhttp *http;
	struct kvdraft_node *node;
	char dir[64];
	char url[64];
};

/* How often a completion came, and with what. */
struct outcome {
	unsigned calls;
	int err;
};

struct fixture {
	struct event_base *base;
	struct member m[MEMBERS];
	struct outcome watch[WATCHES];
	struct outcome transfer;
	/* Requests pending on the leader when its transfer completed, the
	 * transfer's own wait already gone. */
	uint64_t pending_at_transfer;
};

static struct fixture fx;

static void stats(const struct member *m, struct kvdraft_node_stats *st)
{
	node_test_stats(m->node, st);
}

/* Runs the loop until @cond holds; fails after WAIT_SECONDS. */
static void wait_for(int (*cond)(void), const char *what)
{
	node_test_wait(fx.base, cond, what, WAIT_SECONDS);
}

/* The member that leads with the other following it, both ready and the
 * follower's log as long as the leader's; NULL when there is none yet. */
static struct member *settled_leader(void)
{
	for (int i = 0; i < MEMBERS; i++) {
		struct member *l = &fx.m[i], *f = &fx.m[1 - i];
		struct kvdraft_node_stats ls, fs;
		stats(l, &ls);
		stats(f, &fs);
		raft_index match;
		if (!ls.is_leader || fs.leader != l->id ||
		    !kvdraft_node_ready(l->node) ||
		    !kvdraft_node_ready(f->node) ||
		    kvdraft_node_match_index(l->node, f->id, &match) !=
			KVDRAFT_OK ||
		    match < ls.last_index || fs.applied < ls.commit)
			continue;
		return l;
	}
	return NULL;
}

static int settled(void)
{
	return settled_leader() != NULL;
}

static void on_watch_done(void *arg, int err, const void *result)
{
	(void)result;
	struct outcome *o = arg;
	o->calls++;
	o->err = err;
}

/* What kvd does once leadership is handed over: it stops the node. */
static void on_transfer_done(void *arg, int err, const void *result)
{
	(void)result;
	struct member *m = arg;
	struct kvdraft_node_stats st;
	stats(m, &st);
	fx.pending_at_transfer = st.pending_requests;
	fx.transfer.calls++;
	fx.transfer.err = err;
	kvdraft_node_stop(m->node);
}

static int transfer_done(void)
{
	return fx.transfer.calls > 0;
}

/* The member the leadership went to leads in its own view too. */
static struct member *new_leader;
static int new_leader_leads(void)
{
	struct kvdraft_node_stats st;
	stats(new_leader, &st);
	return st.is_leader;
}

static void bind_member(struct member *m, raft_id id)
{
	m->id = id;
	node_test_mkdir(m->dir, sizeof(m->dir), "kvd-test-transfer");
	m->http = node_test_listen(fx.base, m->url, sizeof(m->url));
}

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	struct kvdraft_peer peers[MEMBERS];
	for (int i = 0; i < MEMBERS; i++) {
		bind_member(&fx.m[i], (raft_id)(i + 1));
		peers[i].id = fx.m[i].id;
		peers[i].peer_url = fx.m[i].url;
	}
	struct kvdraft_app app;
	node_test_empty_app(&app, NULL);
	for (int i = 0; i < MEMBERS; i++) {
		struct kvdraft_node_options o;
		kvdraft_node_options_init(&o);
		o.id = fx.m[i].id;
		o.data_dir = fx.m[i].dir;
		o.advertise_peer = fx.m[i].url;
		o.initial = peers;
		o.n_initial = MEMBERS;
		/* The watches must not time out before the transfer
		 * completes, however loaded the machine; nor the transfer
		 * (an election timeout and a heartbeat), which would end it
		 * from its timer instead of from the new leader's news. */
		o.request_timeout_ms = 600000;
		o.election_timeout_ms = 2000;
		char err[256] = "";
		ck_assert_msg(kvdraft_node_open(fx.base, fx.m[i].http, &o, &app,
						&fx.m[i].node, err,
						sizeof(err)) == KVDRAFT_OK,
			      "open member %d: %s", i + 1, err);
	}
}

static void teardown(void)
{
	for (int i = 0; i < MEMBERS; i++) {
		kvdraft_node_close(fx.m[i].node);
		evhttp_free(fx.m[i].http);
	}
	event_base_free(fx.base);
	for (int i = 0; i < MEMBERS; i++)
		node_test_rmdir(fx.m[i].dir);
}

static void watch(struct member *m, struct kvdraft_wait **h, int i)
{
	ck_assert_int_eq(
	    kvdraft_node_watch(m->node, on_watch_done, &fx.watch[i], h),
	    KVDRAFT_OK);
}

START_TEST(transfer_completion_stops_node_with_waits_pending)
{
	struct kvdraft_wait *h[WATCHES];
	wait_for(settled, "a leader with its follower caught up");
	/* Whichever member won; no loop turn passes from here to the
	 * transfer's start, so it still leads then. */
	struct member *from = settled_leader();
	struct member *to = &fx.m[from == &fx.m[0] ? 1 : 0];
	for (int i = 0; i < WATCHES_BEFORE; i++)
		watch(from, &h[i], i);
	int rc = kvdraft_node_transfer_leadership(from->node, to->id,
						  on_transfer_done, from);
	ck_assert_msg(rc == KVDRAFT_OK, "transfer: %s", kvdraft_strerror(rc));
	for (int i = WATCHES_BEFORE; i < WATCHES; i++)
		watch(from, &h[i], i);

	wait_for(transfer_done, "the transfer to complete");
	ck_assert_uint_eq(fx.transfer.calls, 1);
	ck_assert_msg(fx.transfer.err == KVDRAFT_OK, "transfer: %s",
		      kvdraft_strerror(fx.transfer.err));
	/* Every watch was still pending when the transfer completed, and
	 * the stop in its completion ended each once. */
	ck_assert_uint_eq(fx.pending_at_transfer, WATCHES);
	for (int i = 0; i < WATCHES; i++) {
		ck_assert_uint_eq(fx.watch[i].calls, 1);
		ck_assert_int_eq(fx.watch[i].err, KVDRAFT_ESTOPPING);
	}

	/* The loop goes on: nothing completes a second time. */
	new_leader = to;
	wait_for(new_leader_leads, "the member handed over to, to lead");
	ck_assert_uint_eq(fx.transfer.calls, 1);
	for (int i = 0; i < WATCHES; i++)
		ck_assert_uint_eq(fx.watch[i].calls, 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("node-transfer");
	TCase *tc = tcase_create("transfer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, transfer_completion_stops_node_with_waits_pending);
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
