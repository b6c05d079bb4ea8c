/* test_lease.c - leader leases (thesis §6.4.1, raft.h lease_ticks): a
 * leader whose heartbeats a majority answered recently serves reads with
 * no round of their own; the lease ends before any member of that
 * majority would vote for another leader; a transfer gives it up; a
 * member that restarted keeps the promise it may have made. */
#include <string.h>

#include "on_sim.h"
#include "suites.h"

#define ELECTION 10
#define LEASE	 (ELECTION - 3)

/* Three voters with CheckQuorum and leases of @lease ticks (0: none);
 * every member ticks together until one leads, whose id goes to
 * *@leader. Messages move only when a test delivers them. */
static struct sim_cluster *lease_cluster(unsigned lease, raft_id *leader)
{
	struct sim_config cfg = {.n_nodes = 3,
				 .seed = 7,
				 .election_ticks = ELECTION,
				 .heartbeat_ticks = 1,
				 .check_quorum = true,
				 .lease_ticks = lease};
	struct sim_cluster *c = os_new(&cfg);

	for (int i = 0; i < 100 && sim_find_leader(c) == 0; i++)
		os_tick_all(c, 1);
	*leader = sim_find_leader(c);
	ck_assert_uint_ne(*leader, 0);
	/* Its first entry committed (thesis §6.4 step 1), every heartbeat
	 * of the last tick answered. */
	ck_assert_int_eq(sim_propose(c, *leader, 0, NULL), RAFT_OK);
	os_stabilize(c);
	os_tick_all(c, 1);
	return c;
}

/* A read on @id; whether it was served at once, before any delivery. */
static bool read_served_at_once(struct sim_cluster *c, raft_id id)
{
	uint64_t r;

	ck_assert_int_eq(sim_read(c, id, 0, &r), RAFT_OK);
	return sim_read_state(c, r) == SIM_READ_SERVED;
}

/* A VOTE from @cand to @to for the term after @to's, @cand's log as it
 * stands: a campaign @to would take but for its promise. */
static struct raft_msg vote_for(const struct sim_cluster *c, raft_id cand,
				raft_id to)
{
	raft_index last = sim_last_index(c, cand);

	return (struct raft_msg){.type = RAFT_MSG_VOTE,
				 .from = cand,
				 .to = to,
				 .term = sim_term(c, to) + 1,
				 .index = last,
				 .log_term = sim_log_term(c, cand, last)};
}

/* The leader's read counts (raft_read_counts()) since @rounds0 and
 * @lease0: how many rounds and lease reads were added. */
static void read_counts_added(const struct sim_cluster *c, raft_id l,
			      uint64_t rounds0, uint64_t lease0,
			      uint64_t rounds, uint64_t lease)
{
	uint64_t r, k;

	raft_read_counts(os_core(c, l), &r, &k);
	ck_assert_uint_eq(r - rounds0, rounds);
	ck_assert_uint_eq(k - lease0, lease);
}

START_TEST(test_lease_serves_reads_without_a_round)
{
	raft_id l;
	uint64_t r0, k0;
	struct sim_cluster *c = lease_cluster(LEASE, &l);

	raft_read_counts(os_core(c, l), &r0, &k0);
	ck_assert(read_served_at_once(c, l));
	ck_assert_uint_eq(sim_in_flight(c, l, 0, RAFT_MSG_HEARTBEAT), 0);
	read_counts_added(c, l, r0, k0, 0, 1);
	os_free(c);
	/* Without leases the same read waits for a heartbeat round. */
	c = lease_cluster(0, &l);
	raft_read_counts(os_core(c, l), &r0, &k0);
	ck_assert(!read_served_at_once(c, l));
	ck_assert_uint_eq(sim_in_flight(c, l, 0, RAFT_MSG_HEARTBEAT), 2);
	read_counts_added(c, l, r0, k0, 1, 0);
	os_free(c);
}
END_TEST

/* Cut off, the leader serves from its lease for lease_ticks from the
 * last heartbeat a majority answered, then needs rounds, which no longer
 * get answers; the others elect a leader only after that, in lockstep
 * time (every member ticks together). */
START_TEST(test_lease_ends_before_others_can_elect)
{
	raft_id l, other = 0;
	struct sim_cluster *c = lease_cluster(LEASE, &l);
	int lease_ended = -1, elected = -1;

	os_isolate(c, l, true);
	for (int t = 1; t <= 4 * ELECTION && elected < 0; t++) {
		os_tick_all(c, 1);
		for (raft_id k = 1; k <= 3; k++)
			if (k != l && sim_role(c, k) == RAFT_LEADER)
				other = k;
		if (other != 0)
			elected = t;
		else if (lease_ended < 0 && !read_served_at_once(c, l))
			lease_ended = t;
	}
	ck_assert_int_ge(lease_ended, 0);
	ck_assert_int_ge(elected, 0);
	ck_assert_int_lt(lease_ended, elected);
	/* The lease lasts about lease_ticks: not much shorter either. */
	ck_assert_int_ge(lease_ended, LEASE - 1);
	os_free(c);
}
END_TEST

/* The margins, in lockstep time: heartbeats every tick, the leader cut
 * off right after one its followers answered. Each tick a higher-term
 * VOTE is stepped into a follower (ignored while it keeps its promise);
 * the first tick it is taken is the earliest another leader could be
 * elected. In lockstep time no margin is used up, so the lease ends the
 * full three ticks of raft.h's margin before that (the leader's phase,
 * the follower's, a tick of drift): one tick fewer would mean the lease
 * is counted from later than the heartbeat left. */
START_TEST(test_lease_ends_three_ticks_before_any_vote)
{
	raft_id l;
	struct sim_cluster *c = lease_cluster(LEASE, &l);
	raft_id f = l == 1 ? 2 : 1, cand = 6 - l - f;
	int lease_ended = -1, vote_taken = -1;

	os_isolate(c, l, true);
	for (int t = 1; t <= 4 * ELECTION && vote_taken < 0; t++) {
		raft_term term = sim_term(c, f);
		struct raft_msg vote = vote_for(c, cand, f);

		sim_tick_node(c, l);
		sim_tick_node(c, f);
		if (lease_ended < 0 && !read_served_at_once(c, l))
			lease_ended = t;
		ck_assert_int_eq(sim_step_msg(c, f, &vote), RAFT_OK);
		if (sim_term(c, f) != term)
			vote_taken = t;
	}
	ck_assert_int_ge(lease_ended, 0);
	ck_assert_int_ge(vote_taken, 0);
	ck_assert_int_eq(vote_taken - lease_ended, ELECTION - LEASE);
	os_free(c);
}
END_TEST

START_TEST(test_transfer_gives_up_the_lease)
{
	raft_id l;
	struct sim_cluster *c = lease_cluster(LEASE, &l);
	raft_id to = l == 1 ? 2 : 1;

	ck_assert(read_served_at_once(c, l));
	/* The target's TIMEOUT_NOW is never delivered: the transfer gives
	 * up after an election timeout, and the lease stays given up for
	 * the rest of the term (a late TIMEOUT_NOW would still start a
	 * campaign the voters grant). */
	ck_assert_int_eq(sim_transfer(c, l, to), RAFT_OK);
	sim_drop(c, l, to, RAFT_MSG_TIMEOUT_NOW);
	ck_assert(!read_served_at_once(c, l));
	for (int t = 0; t < 2 * ELECTION; t++) {
		sim_tick_all(c);
		sim_drop(c, l, to, RAFT_MSG_TIMEOUT_NOW);
		os_stabilize(c);
	}
	ck_assert_int_eq(sim_role(c, l), RAFT_LEADER);
	ck_assert(!read_served_at_once(c, l));
	os_free(c);
}
END_TEST

/* A member that restarts forgets when it last heard from the leader:
 * with leases it refuses votes for an election timeout from its start,
 * as if it had heard from a leader then. */
START_TEST(test_restarted_voter_keeps_its_promise)
{
	raft_id l;
	struct sim_cluster *c = lease_cluster(LEASE, &l);
	raft_id v = l == 3 ? 2 : 3, cand = 6 - l - v;
	raft_term term = sim_term(c, v);
	struct raft_msg vote = vote_for(c, cand, v);

	sim_crash(c, v);
	sim_restart(c, v);
	os_isolate(c, v, true);
	ck_assert_int_eq(sim_step_msg(c, v, &vote), RAFT_OK);
	ck_assert_uint_eq(sim_term(c, v), term);
	ck_assert_uint_eq(sim_in_flight(c, v, 0, RAFT_MSG_VOTE_RESP), 0);
	/* An election timeout after its start the promise has ended. */
	for (int t = 0; t < ELECTION; t++)
		sim_tick_node(c, v);
	vote = vote_for(c, cand, v);
	os_isolate(c, v, false);
	ck_assert_int_eq(sim_step_msg(c, v, &vote), RAFT_OK);
	ck_assert_uint_eq(sim_term(c, v), vote.term);
	os_free(c);
}
END_TEST

START_TEST(test_lease_options_checked)
{
	raft_id voters[] = {1, 2, 3};
	struct raft_options o = {.id = 1,
				 .voters = voters,
				 .n_voters = 3,
				 .election_ticks = ELECTION,
				 .heartbeat_ticks = 1,
				 .check_quorum = true,
				 .lease_ticks = ELECTION - 3};
	struct raft *r;

	ck_assert_int_eq(raft_new(&o, NULL, &r), RAFT_OK);
	raft_free(r);
	/* Longer than the voters' refusal less the margins. */
	o.lease_ticks = ELECTION - 2;
	ck_assert_int_eq(raft_new(&o, NULL, &r), RAFT_EINVAL);
	/* Without CheckQuorum voters do not refuse votes at all. */
	o.lease_ticks = ELECTION - 3;
	o.check_quorum = false;
	ck_assert_int_eq(raft_new(&o, NULL, &r), RAFT_EINVAL);
}
END_TEST

Suite *lease_suite(void)
{
	Suite *s = suite_create("lease");
	TCase *tc = tcase_create("lease");

	tcase_add_test(tc, test_lease_serves_reads_without_a_round);
	tcase_add_test(tc, test_lease_ends_before_others_can_elect);
	tcase_add_test(tc, test_lease_ends_three_ticks_before_any_vote);
	tcase_add_test(tc, test_transfer_gives_up_the_lease);
	tcase_add_test(tc, test_restarted_voter_keeps_its_promise);
	tcase_add_test(tc, test_lease_options_checked);
	suite_add_tcase(s, tc);
	return s;
}
