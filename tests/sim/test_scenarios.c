/* test_scenarios.c - scripted Raft scenarios on the simulated cluster that
 * need C (loops on conditions, held or torn writes), each named after the
 * rule of the Raft paper (or thesis) it checks. Scenarios that read as a
 * list of commands are text files in testdata/ (sim-scripts). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"

#define ELECTION    10
#define MAX_DELIVER 100000

static struct sim_cluster *make(unsigned n, bool pre_vote, bool check_quorum,
				size_t max_append, unsigned sim_mutations)
{
	struct sim_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.n_nodes = n;
	cfg.seed = 42;
	cfg.election_ticks = ELECTION;
	cfg.heartbeat_ticks = 1;
	cfg.pre_vote = pre_vote;
	cfg.check_quorum = check_quorum;
	cfg.max_append_entries = max_append;
	cfg.sim_mutations = sim_mutations;
	cfg.scripted = true;
	cfg.trace = getenv("SIM_TRACE") ? stderr : NULL;
	struct sim_cluster *c = NULL;
	ck_assert_int_eq(sim_cluster_new(&cfg, &c), 0);
	return c;
}

static void assert_safe(const struct sim_cluster *c)
{
	const char *f = sim_failure(c);
	ck_assert_msg(f == NULL, "invariant broken: %s", f ? f : "");
}

static bool campaigning(const struct sim_cluster *c, raft_id i)
{
	enum raft_role r = sim_role(c, i);
	return r == RAFT_PRECANDIDATE || r == RAFT_CANDIDATE;
}

/* Ticks only @i until it starts a new election round (its randomized
 * timeout is below 2 * ELECTION ticks). */
static void campaign(struct sim_cluster *c, raft_id i)
{
	uint64_t sent = sim_vote_requests(c, i);
	for (int t = 0;
	     t < 2 * ELECTION + 1 && sim_vote_requests(c, i) == sent &&
	     sim_role(c, i) != RAFT_LEADER;
	     t++)
		sim_tick_node(c, i);
	ck_assert_msg(campaigning(c, i) || sim_role(c, i) == RAFT_LEADER,
		      "member %d did not campaign", (int)i);
}

/* Makes @i leader: it campaigns until the members it reaches elect it. */
static void elect(struct sim_cluster *c, raft_id i)
{
	for (int round = 0; round < 10 && sim_role(c, i) != RAFT_LEADER;
	     round++) {
		campaign(c, i);
		sim_deliver_votes(c);
	}
	ck_assert_msg(sim_role(c, i) == RAFT_LEADER, "member %d not elected",
		      (int)i);
	assert_safe(c);
}

/* Heartbeat rounds: tick the leader and deliver everything. */
static void settle(struct sim_cluster *c, raft_id leader, int rounds)
{
	for (int k = 0; k < rounds; k++) {
		sim_tick_node(c, leader);
		sim_deliver_all(c, MAX_DELIVER);
	}
	assert_safe(c);
}

/* Figure 8, §5.4.2: "Raft never commits log entries from previous terms by
 * counting replicas. Only log entries from the leader's current term are
 * committed by counting replicas." */
START_TEST(test_old_term_entry_not_committed_by_counting_replicas)
{
	/* One entry per AppendEntries, so replicas of the old entry can be
	 * counted before the new leader's own entry reaches anyone. */
	struct sim_cluster *c = make(5, false, false, 1, 0);
	elect(c, 1);
	settle(c, 1, 3);
	raft_index base = sim_commit(c, 1);
	/* (a) 1 replicates index base+1 to 2 only. */
	raft_index idx;
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx), RAFT_OK);
	ck_assert_uint_eq(idx, base + 1);
	raft_term old_term = sim_term(c, 1);
	while (sim_deliver(c, 1, 2, RAFT_MSG_APPEND))
		;
	sim_drop(c, 1, 0, 0);
	ck_assert_uint_eq(sim_log_term(c, 2, idx), old_term);
	/* (b) 1 crashes; 5 is elected by 3, 4 and 5 and writes its own entry
	 * at idx, which reaches nobody. */
	sim_crash(c, 1);
	sim_isolate(c, 2);
	elect(c, 5);
	ck_assert_uint_eq(sim_last_index(c, 5), idx);
	raft_term t5 = sim_log_term(c, 5, idx);
	ck_assert_uint_gt(t5, old_term);
	sim_drop(c, 5, 0, 0);
	/* (c) 5 crashes; 1 restarts, is elected and copies its old entry at
	 * idx to 3: now on 1, 2 and 3, a majority. */
	sim_crash(c, 5);
	sim_heal(c);
	sim_restart(c, 1);
	sim_isolate(c, 4);
	elect(c, 1);
	raft_term t1 = sim_term(c, 1);
	sim_drop(c, 1, 4, 0);
	/* 2 already holds idx: its answers are fine to deliver. */
	while (sim_deliver(c, 1, 2, 0) || sim_deliver(c, 2, 1, 0))
		;
	/* Deliver to 3 until it holds idx (and 1 has heard so), but never
	 * the new leader's own entry. */
	for (int k = 0; k < 100 && sim_log_term(c, 3, idx) != old_term; k++) {
		if (!sim_deliver(c, 1, 3, RAFT_MSG_APPEND))
			sim_tick_node(c, 1); /* probe again */
		while (sim_deliver(c, 3, 1, 0))
			;
	}
	ck_assert_uint_eq(sim_log_term(c, 3, idx), old_term);
	ck_assert_uint_eq(sim_last_index(c, 3), idx);
	while (sim_deliver(c, 3, 1, 0))
		;
	/* The old entry is on 3 of 5 members, but not committed. */
	ck_assert_msg(sim_commit(c, 1) < idx,
		      "leader of term %llu committed index %llu of term %llu "
		      "by counting replicas",
		      (unsigned long long)t1, (unsigned long long)idx,
		      (unsigned long long)old_term);
	/* (d) 1 crashes; 5 (last term t5 > old_term) is elected by 2, 3 and
	 * 4 and replaces the entry everywhere. That is safe only because it
	 * was never committed. */
	sim_crash(c, 1);
	sim_drop(c, 0, 0, 0);
	sim_heal(c);
	sim_restart(c, 5);
	elect(c, 5);
	settle(c, 5, 5);
	for (raft_id k = 2; k <= 5; k++)
		ck_assert_uint_eq(sim_log_term(c, k, idx), t5);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Thesis §6.4: a follower serves a read only with a read index the leader
 * confirmed for that read. An answer addressed to the member's previous
 * incarnation (delayed in the network across its restart) must not be
 * taken for the answer to a new read. */
START_TEST(test_read_index_answer_from_before_a_restart_is_not_reused)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	uint64_t r1, r2;
	ck_assert_int_eq(sim_read(c, 2, 0, &r1), RAFT_OK);
	if (!sim_in_flight(c, 2, 1, RAFT_MSG_READ_INDEX))
		sim_tick_node(c, 2);
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_READ_INDEX));
	/* 3 confirms the leader's round; the answer to 2 stays in flight. */
	for (int k = 0;
	     k < 10 && !sim_in_flight(c, 1, 2, RAFT_MSG_READ_INDEX_RESP); k++) {
		if (!sim_in_flight(c, 1, 3, 0))
			sim_tick_node(c, 1);
		while (sim_deliver(c, 1, 3, 0) || sim_deliver(c, 3, 1, 0))
			;
	}
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_READ_INDEX_RESP), 1);
	sim_crash(c, 2);
	sim_restart(c, 2);
	/* A write completes on 1 (with 3's help) that 2 has not seen. */
	raft_index idx;
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx), RAFT_OK);
	for (int k = 0; k < 10 && sim_applied(c, 1) < idx; k++) {
		sim_tick_node(c, 1);
		while (sim_deliver(c, 1, 3, 0) || sim_deliver(c, 3, 1, 0))
			;
	}
	ck_assert_uint_ge(sim_applied(c, 1), idx);
	/* 2 learns the leader and asks again with a new read. */
	sim_tick_node(c, 1);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert_int_eq(sim_read(c, 2, 0, &r2), RAFT_OK);
	if (!sim_in_flight(c, 2, 1, RAFT_MSG_READ_INDEX))
		sim_tick_node(c, 2);
	/* The stale answer arrives first: it must not serve r2. */
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_READ_INDEX_RESP));
	assert_safe(c);
	ck_assert_int_ne(sim_read_state(c, r2), SIM_READ_SERVED);
	settle(c, 1, 3);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Contract rule 1 and Figure 2 ("persistent state ... updated on stable
 * storage before responding to RPCs"): a crash may keep any prefix of the
 * records not yet acknowledged (entries, then the hard state of each
 * write, as the server's WAL orders them). The member must restart from
 * any of them: here entries of a new term survive without the hard state
 * that raised the term. */
START_TEST(test_restart_after_torn_write_entries_first)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	sim_hold_writes(c, 3, true);
	/* 2 is elected by 1 alone; 3 first hears of term 2 from the new
	 * leader's append, so one write raises its term and adds entries. */
	campaign(c, 2);
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_VOTE));
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_VOTE_RESP));
	ck_assert_int_eq(sim_role(c, 2), RAFT_LEADER);
	raft_term t2 = sim_term(c, 2);
	raft_index last = sim_last_index(c, 2);
	sim_drop(c, 2, 3, RAFT_MSG_VOTE);
	ck_assert(sim_deliver(c, 2, 3, RAFT_MSG_APPEND));
	ck_assert_uint_eq(sim_term(c, 3), t2);
	ck_assert_uint_eq(sim_log_term(c, 3, last), t2);
	ck_assert_uint_eq(sim_pending_writes(c, 3), 1);
	sim_crash_torn(c, 3, 1);
	sim_restart(c, 3);
	assert_safe(c);
	ck_assert(sim_is_up(c, 3));
	settle(c, 2, 3);
	ck_assert_uint_eq(sim_log_term(c, 3, last), t2);
	ck_assert_uint_ge(sim_commit(c, 3), last);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Every invariant has a name and a section, names are unique (the ready
 * handling's "Name: details" failures are looked up by name), and a
 * failure names both. */
START_TEST(test_invariant_table_names_each_failure)
{
	for (int i = 0; i < INV_COUNT; i++) {
		const char *n = inv_name((enum sim_invariant)i);
		ck_assert_msg(n[0] != '?' && inv_section(i)[0] != '?',
			      "invariant %d has no name or section", i);
		enum sim_invariant found;
		ck_assert(inv_lookup(n, strlen(n), &found));
		ck_assert_int_eq(found, i);
	}
	enum sim_invariant found;
	ck_assert(!inv_lookup("Simulation limit", 16, &found));

	struct sim_cluster *c = make(3, false, false, 0, 0);
	inv_fail(c, INV_LEADER_APPEND_ONLY, "leader %d rewrites its log", 1);
	ck_assert_str_eq(sim_failure(c),
			 "Leader Append-Only (Raft §5.3, "
			 "Figure 3): leader 1 rewrites its log");
	inv_fail(c, INV_LOG_MATCHING, "a later failure is dropped");
	ck_assert_str_eq(sim_failure(c),
			 "Leader Append-Only (Raft §5.3, "
			 "Figure 3): leader 1 rewrites its log");
	sim_cluster_free(c);
}
END_TEST

/* Thesis §5 (InstallSnapshot: "If existing log entry has same index and
 * term as snapshot's last included entry, retain log entries following it
 * ... Discard the entire log") and raft.h rule 7 on recovery: a member
 * that installed a snapshot (7a) and crashed before its stored log was
 * reset (7b) drops the stored log at restart, as kvd's recovery plan does,
 * and its log restarts after the snapshot. */
START_TEST(test_crash_between_snapshot_install_and_log_reset)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	sim_isolate(c, 3);
	raft_index idx = 0;
	for (unsigned k = 0; k < 6; k++)
		ck_assert_int_eq(sim_propose(c, 1, k, &idx), RAFT_OK);
	settle(c, 1, 2);
	ck_assert_int_eq(sim_compact(c, 1, 0), RAFT_OK);
	raft_index snap = sim_snapshot_index(c, 1);
	ck_assert_uint_ge(snap, idx);
	/* 3 gets the snapshot, but none of its writes reach the disk. */
	sim_hold_writes(c, 3, true);
	sim_heal(c);
	for (int k = 0; k < 3 * ELECTION && sim_applied(c, 3) < snap; k++)
		settle(c, 1, 1);
	ck_assert_uint_eq(sim_snapshot_index(c, 3), snap);
	ck_assert_uint_gt(sim_pending_writes(c, 3), 0);
	sim_crash(c, 3);
	sim_restart(c, 3);
	assert_safe(c);
	ck_assert(sim_is_up(c, 3));
	ck_assert_uint_eq(sim_applied(c, 3), snap);
	ck_assert_uint_eq(sim_last_index(c, 3), snap);
	sim_hold_writes(c, 3, false);
	raft_index idx2;
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx2), RAFT_OK);
	for (int k = 0; k < 3 * ELECTION && sim_applied(c, 3) < idx2; k++)
		settle(c, 1, 1);
	ck_assert_uint_ge(sim_applied(c, 3), idx2);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

static Suite *scenarios_suite(void)
{
	Suite *s = suite_create("sim-scenarios");
	TCase *tc = tcase_create("paper");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc,
		       test_old_term_entry_not_committed_by_counting_replicas);
	tcase_add_test(
	    tc, test_read_index_answer_from_before_a_restart_is_not_reused);
	tcase_add_test(tc, test_restart_after_torn_write_entries_first);
	tcase_add_test(tc, test_crash_between_snapshot_install_and_log_reset);
	suite_add_tcase(s, tc);
	TCase *ti = tcase_create("invariants");
	tcase_add_test(ti, test_invariant_table_names_each_failure);
	suite_add_tcase(s, ti);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scenarios_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
