/* test_lone_voter.c - a leader never sends anything of a term that a crash
 * could make it forget (raft.h rule 3), above all a lone voter's. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "on_sim.h"
#include "suites.h"

static const struct raft_options plain = {.election_ticks = 10,
					  .heartbeat_ticks = 1};

/* Ticks @id until it leaves the follower role (no ready taken). */
static void campaign(struct cl *c, raft_id id)
{
	struct raft *r = cl_r(c, id);

	for (unsigned i = 0; i < 4 * c->opts.election_ticks; i++) {
		raft_tick(r);
		if (raft_role(r) != RAFT_FOLLOWER)
			break;
	}
	ck_assert_int_ne(raft_role(r), RAFT_FOLLOWER);
}

static raft_term term_of(struct raft *r)
{
	struct raft_status st;

	raft_status(r, &st);
	return st.term;
}

/* A one-member cluster with member 2 added as a learner, every entry
 * applied everywhere, member 1 just restarted. */
static void one_voter_one_learner(struct cl *c)
{
	struct raft_config_change add = {
	    .type = RAFT_CHANGE_ADD_LEARNER, .id = 2, .addr = "learner"};

	cl_init_voters(c, 2, 1, &plain);
	ck_assert_int_eq(cl_elect(c, 1), RAFT_LEADER);
	ck_assert_int_eq(raft_propose_config(cl_r(c, 1), &add, NULL), RAFT_OK);
	cl_stabilize(c);
	ck_assert_uint_eq(cl_node(c, 2)->applied_index,
			  cl_node(c, 1)->applied_index);
	/* A clean restart: everything was durable; the next campaign
	 * starts a new term. */
	cl_restart(c, 1);
	ck_assert_int_eq(raft_role(cl_r(c, 1)), RAFT_FOLLOWER);
}

/* The audit's scenario (issue 13): a lone voter wins term T at once, its
 * appends leave while the hard state with T is not yet durable, it crashes
 * before the write, restarts in T-1, wins T again and proposes another
 * entry at the same (index, term). The learner must end up with the
 * leader's entries, not the first incarnation's: on the simulated
 * cluster, whose Log Matching and State Machine Safety checks compare
 * every entry each member holds and applies. */
START_TEST(test_lone_voter_crash_before_term_durable)
{
	struct sim_config cfg = {.n_nodes = 2,
				 .n_voters = 1,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};
	struct raft_config_change add = {
	    .type = RAFT_CHANGE_ADD_LEARNER, .id = 2, .addr = "learner"};
	struct sim_cluster *c = os_new(&cfg);
	raft_index ia = 0, ib = 0;
	raft_term t;

	/* A one-member cluster with member 2 added as a learner, every
	 * entry applied everywhere, member 1 just restarted. */
	os_elect(c, 1);
	ck_assert_int_eq(sim_change(c, 1, &add, NULL), RAFT_OK);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 2), sim_applied(c, 1));
	sim_crash(c, 1);
	sim_restart(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, 0), 0);
	t = sim_term(c, 1) + 1;
	/* Its writes stay pending: the driver sends rd.msgs before the
	 * write is durable (rule 2). */
	sim_hold_writes(c, 1, true);
	for (int i = 0; i < 100 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert_int_eq(sim_propose(c, 1, 0, &ia), RAFT_OK);
	/* Then the member crashes: nothing of term t may have left (all
	 * it sent since the restart is of term t). */
	ck_assert_uint_ge(sim_pending_writes(c, 1), 1);
	sim_crash(c, 1);
	sim_restart(c, 1);
	sim_hold_writes(c, 1, false);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, 0), 0);
	ck_assert_uint_eq(sim_term(c, 1), t - 1);
	/* Whatever left reaches the learner; its answers are lost (the
	 * leader's connections died with it). */
	while (sim_deliver(c, 1, 2, 0))
		;
	sim_drop(c, 2, 1, 0);

	/* Back in t - 1, it wins t again and proposes B where A was. */
	for (int i = 0; i < 100 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert_uint_eq(sim_term(c, 1), t);
	ck_assert_int_eq(sim_propose(c, 1, 1, &ib), RAFT_OK);
	ck_assert_uint_eq(ib, ia);
	os_stabilize(c);
	ck_assert_uint_ge(sim_applied(c, 1), ib);
	/* State Machine Safety (§5.4.3): the learner applied the same. */
	ck_assert_uint_ge(sim_applied(c, 2), ib);
	ck_assert_uint_eq(sim_log_term(c, 2, ib), t);
	os_free(c);
}
END_TEST

static bool has_type(const struct raft_msg *v, size_t n, int type)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].type == type)
			return true;
	return false;
}

/* Until an entry of its term is durable, a lone voter's appends wait for
 * the write (msgs_after_persist); from then on they leave at once again,
 * in parallel with its own writes (thesis §10.2.1). */
START_TEST(test_lone_voter_sends_after_term_durable)
{
	struct cl c;
	struct raft_ready rd;
	struct raft *r;
	raft_index idx;

	one_voter_one_learner(&c);
	r = cl_r(&c, 1);
	campaign(&c, 1);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	raft_ready(r, &rd);
	ck_assert(rd.hs_changed);
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert(has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			   RAFT_MSG_APPEND));
	ck_assert_uint_eq(rd.n_entries, 1);
	idx = rd.entries[0].index;
	raft_advance(r, &rd);
	/* Still not durable: a heartbeat waits as well. */
	for (unsigned i = 0; i < plain.heartbeat_ticks + 1; i++)
		raft_tick(r);
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert(has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			   RAFT_MSG_HEARTBEAT));
	raft_advance(r, &rd);
	/* The NOOP of the term is durable: back to rule 2 (the learner,
	 * probing, gets no second append before it answers; a heartbeat
	 * shows the way messages go). */
	raft_persisted(r, idx, term_of(r));
	for (unsigned i = 0; i < plain.heartbeat_ticks + 1; i++)
		raft_tick(r);
	raft_ready(r, &rd);
	ck_assert(has_type(rd.msgs, rd.n_msgs, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(rd.n_msgs_after_persist, 0);
	raft_advance(r, &rd);
	cl_free(&c);
}
END_TEST

/* A term won with a remote vote was durable before the VOTE left (rule
 * 3), so the new leader's first appends go out at once. */
START_TEST(test_voted_leader_sends_at_once)
{
	struct cl c;
	struct raft_ready rd;
	struct raft *r;

	cl_init(&c, 3, &plain);
	r = cl_r(&c, 1);
	campaign(&c, 1);
	cl_ready(&c, 1);
	cl_deliver(&c, RAFT_MSG_VOTE, 1, 2);
	cl_ready(&c, 2);
	cl_deliver(&c, RAFT_MSG_VOTE_RESP, 2, 1);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	raft_ready(r, &rd);
	ck_assert(has_type(rd.msgs, rd.n_msgs, RAFT_MSG_APPEND));
	ck_assert(!has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			    RAFT_MSG_APPEND));
	raft_advance(r, &rd);
	cl_free(&c);
}
END_TEST

Suite *lone_voter_suite(void)
{
	Suite *s = suite_create("lone_voter");
	TCase *tc = tcase_create("durable_term");

	tcase_add_test(tc, test_lone_voter_crash_before_term_durable);
	tcase_add_test(tc, test_lone_voter_sends_after_term_durable);
	tcase_add_test(tc, test_voted_leader_sends_at_once);
	suite_add_tcase(s, tc);
	return s;
}
