/* test_lone_voter.c - a leader never sends anything of a term that a crash
 * could make it forget (raft.h rule 3), above all a lone voter's. */
#include <stdlib.h>
#include <string.h>

#include "on_sim.h"
#include "suites.h"

static const struct raft_options plain = {.election_ticks = 10,
					  .heartbeat_ticks = 1};

/* Ticks @id until it leaves the follower role (no ready taken: @id is in
 * manual mode). */
static void campaign(struct sim_cluster *c, raft_id id)
{
	for (unsigned i = 0; i < 4 * plain.election_ticks; i++) {
		sim_tick_node(c, id);
		if (sim_role(c, id) != RAFT_FOLLOWER)
			break;
	}
	ck_assert_int_ne(sim_role(c, id), RAFT_FOLLOWER);
}

/* A one-member cluster with member 2 added as a learner, every entry
 * applied everywhere, member 1 just restarted. */
static struct sim_cluster *one_voter_one_learner(void)
{
	struct sim_config cfg = {.n_nodes = 2,
				 .n_voters = 1,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};
	struct raft_config_change add = {
	    .type = RAFT_CHANGE_ADD_LEARNER, .id = 2, .addr = "learner"};
	struct sim_cluster *c = os_new(&cfg);

	os_elect(c, 1);
	ck_assert_int_eq(sim_change(c, 1, &add, NULL), RAFT_OK);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 2), sim_applied(c, 1));
	/* A clean restart: everything was durable; the next campaign
	 * starts a new term. */
	sim_crash(c, 1);
	sim_restart(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	return c;
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
	struct sim_cluster *c = one_voter_one_learner();
	raft_index ia = 0, ib = 0;
	raft_term t;

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
	struct sim_cluster *c = one_voter_one_learner();
	struct raft_ready rd;
	raft_index idx;

	/* Its readies are taken here, and its writes stay pending until
	 * released. */
	sim_manual(c, 1, true);
	sim_hold_writes(c, 1, true);
	campaign(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert(rd.hs_changed);
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert(has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			   RAFT_MSG_APPEND));
	ck_assert_uint_eq(rd.n_entries, 1);
	idx = rd.entries[0].index;
	sim_advance(c, 1);
	ck_assert_uint_ge(sim_pending_writes(c, 1), 1);
	/* Still not durable: a heartbeat waits as well. */
	for (unsigned i = 0; i < plain.heartbeat_ticks + 1; i++)
		sim_tick_node(c, 1);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert(has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			   RAFT_MSG_HEARTBEAT));
	sim_advance(c, 1);
	/* The NOOP of the term is durable: back to rule 2 (the learner,
	 * probing, gets no second append before it answers; a heartbeat
	 * shows the way messages go). */
	sim_hold_writes(c, 1, false);
	ck_assert_uint_eq(sim_pending_writes(c, 1), 0);
	ck_assert_uint_eq(sim_log_term(c, 1, idx), sim_term(c, 1));
	ck_assert_uint_eq(sim_disk_entry(c, 1, idx)->term, sim_term(c, 1));
	sim_drain(c, 1);
	for (unsigned i = 0; i < plain.heartbeat_ticks + 1; i++)
		sim_tick_node(c, 1);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert(has_type(rd.msgs, rd.n_msgs, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(rd.n_msgs_after_persist, 0);
	sim_advance(c, 1);
	os_free(c);
}
END_TEST

/* A term won with a remote vote was durable before the VOTE left (rule
 * 3), so the new leader's first appends go out at once. */
START_TEST(test_voted_leader_sends_at_once)
{
	struct sim_config cfg = {.n_nodes = 3,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};
	struct sim_cluster *c = os_new(&cfg);
	struct raft_ready rd;

	sim_manual(c, 1, true);
	campaign(c, 1);
	sim_drain(c, 1);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_VOTE));
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_VOTE_RESP));
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert(has_type(rd.msgs, rd.n_msgs, RAFT_MSG_APPEND));
	ck_assert(!has_type(rd.msgs_after_persist, rd.n_msgs_after_persist,
			    RAFT_MSG_APPEND));
	sim_advance(c, 1);
	os_free(c);
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
