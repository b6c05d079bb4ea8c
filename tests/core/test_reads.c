/* test_reads.c - ReadIndex rounds on the leader (thesis §6.4, core_read.c):
 * several rounds in flight, and the release rule: a quorum's
 * acknowledgement of round k releases the reads of rounds <= k and no
 * others; a minority releases nothing; while joint, both majorities. */
#include <string.h>

#include "on_sim.h"
#include "suites.h"

/* @n founding voters, member 1 elected; the other members up to @nodes
 * start empty. Messages move only when a test delivers them. */
static struct sim_cluster *cluster(unsigned nodes, unsigned n,
				   size_t max_read_rounds, unsigned mutations)
{
	struct sim_config cfg = {.n_nodes = nodes,
				 .n_voters = n,
				 .seed = 5,
				 .election_ticks = 10,
				 .heartbeat_ticks = 1,
				 .max_read_rounds = max_read_rounds,
				 .raft_mutations = mutations};
	struct sim_cluster *c = os_new(&cfg);

	os_elect(c, 1);
	ck_assert_int_eq(sim_propose(c, 1, 0, NULL), RAFT_OK);
	os_stabilize(c);
	return c;
}

/* A read on member 1 that starts a round of its own. */
static uint64_t read_on_leader(struct sim_cluster *c)
{
	uint64_t id;

	ck_assert_int_eq(sim_read(c, 1, 0, &id), RAFT_OK);
	ck_assert_int_eq(sim_read_state(c, id), SIM_READ_PENDING);
	return id;
}

/* The context (round) of the oldest heartbeat in flight from 1 to @to. */
static uint64_t oldest_round_to(struct sim_cluster *c, raft_id to)
{
	const struct raft_msg *m = sim_find(c, 1, to, RAFT_MSG_HEARTBEAT);

	ck_assert_ptr_nonnull(m);
	return m->context;
}

/* Member @id answers the oldest heartbeat 1 sent it; the answer arrives. */
static void ack(struct sim_cluster *c, raft_id id)
{
	ck_assert(sim_deliver(c, 1, id, RAFT_MSG_HEARTBEAT));
	ck_assert(sim_deliver(c, id, 1, RAFT_MSG_HEARTBEAT_RESP));
	os_assert_safe(c);
}

START_TEST(test_rounds_overlap)
{
	struct sim_cluster *c = cluster(5, 5, 0, 0);
	uint64_t k;

	read_on_leader(c);
	k = oldest_round_to(c, 2);
	/* A read arriving while round k is out starts round k + 1 at once
	 * instead of waiting for k to end. */
	read_on_leader(c);
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 2);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(oldest_round_to(c, 2), k + 1);
	os_free(c);
}
END_TEST

START_TEST(test_quorum_ack_releases_rounds_up_to_it_only)
{
	struct sim_cluster *c = cluster(5, 5, 0, 0);
	uint64_t a = read_on_leader(c), b = read_on_leader(c);

	/* Members 2 and 3 (with 1, three of five) acknowledge round k:
	 * its read is confirmed, the read of round k + 1 is not. */
	ack(c, 2);
	ack(c, 3);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_SERVED);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_PENDING);
	/* Round k + 1 by 1 and 2 only: still a minority. */
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_PENDING);
	ack(c, 3);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

START_TEST(test_minority_ack_releases_nothing)
{
	struct sim_cluster *c = cluster(5, 5, 0, 0);
	uint64_t a = read_on_leader(c), b = read_on_leader(c);

	/* Member 2 acknowledges both rounds: with 1, two of five. */
	ack(c, 2);
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_PENDING);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_PENDING);
	/* Member 3's acknowledgement of the newer round confirms the older
	 * one too: that heartbeat left after both rounds started. */
	ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(sim_drop(c, 3, 1, RAFT_MSG_HEARTBEAT_RESP), 1);
	ack(c, 3);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_SERVED);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

START_TEST(test_joint_configuration_needs_both_majorities)
{
	/* C_old = {1,2,3}; 4 joins as a learner, then its promotion makes
	 * the configuration C_old,new with C_new = {1,2,3,4}. */
	struct sim_cluster *c = cluster(4, 3, 0, 0);
	struct raft_config_change ch = {.type = RAFT_CHANGE_ADD_LEARNER,
					.id = 4,
					.addr = "http://127.0.0.1:1"};
	struct raft_status st;
	uint64_t a;

	ck_assert_int_eq(sim_change(c, 1, &ch, NULL), RAFT_OK);
	os_stabilize(c);
	ch.type = RAFT_CHANGE_PROMOTE;
	ck_assert_int_eq(sim_change(c, 1, &ch, NULL), RAFT_OK);
	/* The joint entry's appends stay in flight: it stays joint. */
	raft_status(os_core(c, 1), &st);
	ck_assert(st.config_joint);
	a = read_on_leader(c);
	/* 1 and 2 are a majority of C_old, not of C_new. */
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_PENDING);
	ack(c, 4);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

START_TEST(test_one_round_keeps_reads_waiting)
{
	struct sim_cluster *c = cluster(3, 3, 1, 0);
	uint64_t a = read_on_leader(c), b = read_on_leader(c);

	/* max_read_rounds 1: the second read waits for the first round
	 * to end, then gets a round of its own. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 1);
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_SERVED);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_PENDING);
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 1);
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

START_TEST(test_rounds_bounded)
{
	struct sim_cluster *c = cluster(3, 3, 2, 0);
	uint64_t a = read_on_leader(c), b = read_on_leader(c);
	uint64_t d = read_on_leader(c);

	/* Two rounds out: the third read waits, without a heartbeat. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 2);
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_SERVED);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_PENDING);
	/* The first round's end lets the third read's round start. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 2);
	ack(c, 2);
	ack(c, 2);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_SERVED);
	ck_assert_int_eq(sim_read_state(c, d), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

START_TEST(test_deposed_leader_fails_every_round)
{
	struct sim_cluster *c = cluster(3, 3, 0, 0);
	uint64_t a = read_on_leader(c), b = read_on_leader(c);
	struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT,
			      .from = 2,
			      .to = 1,
			      .term = sim_term(c, 1) + 1};

	ck_assert_int_eq(sim_step_msg(c, 1, &hb), RAFT_OK);
	ck_assert_int_eq(sim_read_state(c, a), SIM_READ_FAILED);
	ck_assert_int_eq(sim_read_state(c, b), SIM_READ_FAILED);
	os_free(c);
}
END_TEST

/* Member 1 leads {1,2,3} and has round k out; 2's answer to it is late.
 * Meanwhile 2 wins the next term with 3 and completes a write; then a
 * read on 1, which still believes it leads, starts round k + 1, and 2's
 * late answer to round k arrives. Returns the read. */
static uint64_t late_ack_of_older_round(struct sim_cluster *c)
{
	uint64_t read;

	read_on_leader(c);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(sim_drop(c, 1, 3, 0), 1);
	/* 2 campaigns; only 3 hears it. */
	for (int i = 0; i < 100 && sim_role(c, 2) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 2);
	sim_drop(c, 2, 1, RAFT_MSG_PREVOTE);
	sim_drop(c, 2, 1, RAFT_MSG_VOTE);
	while (sim_deliver(c, 2, 3, 0) || sim_deliver(c, 3, 2, 0))
		;
	ck_assert_int_eq(sim_role(c, 2), RAFT_LEADER);
	ck_assert_int_eq(sim_propose(c, 2, 0, NULL), RAFT_OK);
	while (sim_deliver(c, 2, 3, 0) || sim_deliver(c, 3, 2, 0))
		;
	ck_assert_uint_eq(sim_commit(c, 2), sim_last_index(c, 2));
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	read = read_on_leader(c);
	sim_drop(c, 1, 0, RAFT_MSG_HEARTBEAT);
	/* 2's answer of the old term to round k. */
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_HEARTBEAT_RESP));
	return read;
}

START_TEST(test_late_ack_of_older_round_keeps_newer_waiting)
{
	struct sim_cluster *c = cluster(3, 3, 0, 0);
	uint64_t read = late_ack_of_older_round(c);

	/* Round k + 1 began after 2 answered: that answer says nothing
	 * about whether 1 still led when the read arrived. */
	ck_assert_int_eq(sim_read_state(c, read), SIM_READ_PENDING);
	os_free(c);
}
END_TEST

START_TEST(test_mutation_read_release_later)
{
	struct sim_cluster *c =
	    cluster(3, 3, 0, RAFT_MUTATE_READ_RELEASE_LATER);
	const char *f;

	/* Releasing round k + 1 with round k serves a read that misses the
	 * write the new leader completed before it: the simulated
	 * cluster's read check catches it. */
	late_ack_of_older_round(c);
	f = sim_failure(c);
	ck_assert_ptr_nonnull(f);
	ck_assert_msg(strstr(f, "Read linearizability") != NULL, "%s", f);
	sim_cluster_free(c);
}
END_TEST

Suite *reads_suite(void)
{
	Suite *s = suite_create("reads");
	TCase *tc = tcase_create("reads");

	tcase_add_test(tc, test_rounds_overlap);
	tcase_add_test(tc, test_quorum_ack_releases_rounds_up_to_it_only);
	tcase_add_test(tc, test_minority_ack_releases_nothing);
	tcase_add_test(tc, test_joint_configuration_needs_both_majorities);
	tcase_add_test(tc, test_one_round_keeps_reads_waiting);
	tcase_add_test(tc, test_rounds_bounded);
	tcase_add_test(tc, test_deposed_leader_fails_every_round);
	tcase_add_test(tc, test_late_ack_of_older_round_keeps_newer_waiting);
	tcase_add_test(tc, test_mutation_read_release_later);
	suite_add_tcase(s, tc);
	return s;
}
