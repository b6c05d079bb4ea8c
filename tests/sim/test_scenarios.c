/* test_scenarios.c - scripted Raft scenarios on the simulated cluster, each
 * named after the rule of the Raft paper (or thesis) it checks. */
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

static bool is_vote_type(int t)
{
	return t == RAFT_MSG_VOTE || t == RAFT_MSG_VOTE_RESP ||
	       t == RAFT_MSG_PREVOTE || t == RAFT_MSG_PREVOTE_RESP;
}

/* Delivers election messages only, leaving appends in flight. */
static void deliver_votes(struct sim_cluster *c)
{
	bool more = true;
	while (more) {
		more = false;
		for (int t = RAFT_MSG_VOTE; t <= RAFT_MSG_PREVOTE_RESP; t++)
			if (is_vote_type(t) && sim_deliver(c, 0, 0, t))
				more = true;
	}
}

/* Makes @i leader: it campaigns until the members it reaches elect it. */
static void elect(struct sim_cluster *c, raft_id i)
{
	for (int round = 0; round < 10 && sim_role(c, i) != RAFT_LEADER;
	     round++) {
		campaign(c, i);
		deliver_votes(c);
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

/* §5.2: "Raft uses randomized election timeouts to ensure that split
 * votes are rare and that they are resolved quickly." */
START_TEST(test_split_vote_resolves)
{
	struct sim_cluster *c = make(4, false, false, 0, 0);
	/* Two pairs: 1 and 2 campaign at once, each votes for itself and
	 * gets one more vote; nobody reaches 3 of 4. */
	campaign(c, 1);
	campaign(c, 2);
	ck_assert_uint_eq(sim_term(c, 1), sim_term(c, 2));
	raft_term split_term = sim_term(c, 1);
	ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_VOTE));
	ck_assert(sim_deliver(c, 2, 4, RAFT_MSG_VOTE));
	deliver_votes(c);
	for (raft_id k = 1; k <= 4; k++)
		ck_assert_int_ne(sim_role(c, k), RAFT_LEADER);
	/* Randomized timeouts break the tie within a few timeouts. */
	raft_id leader = 0;
	for (int t = 0; t < 20 * ELECTION && !leader; t++) {
		sim_tick_all(c);
		sim_deliver_all(c, MAX_DELIVER);
		leader = sim_find_leader(c);
	}
	ck_assert_msg(leader != 0, "split vote not resolved in %d ticks",
		      20 * ELECTION);
	ck_assert_uint_gt(sim_term(c, leader), split_term);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* §5.4.1: "the voter denies its vote if its own log is more up-to-date
 * than that of the candidate." */
START_TEST(test_candidate_with_stale_log_loses)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	/* An entry reaches 2 but not 3, and commits (1 and 2 are a
	 * majority). */
	sim_cut(c, 1, 3, true);
	raft_index idx;
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx), RAFT_OK);
	ck_assert_uint_gt(idx, 0);
	settle(c, 1, 2);
	ck_assert_uint_ge(sim_commit(c, 1), idx);
	ck_assert_uint_lt(sim_last_index(c, 3), idx);
	sim_crash(c, 1);
	sim_heal(c);
	/* 3 campaigns with a stale log: 2 refuses. */
	campaign(c, 3);
	deliver_votes(c);
	ck_assert_int_ne(sim_role(c, 3), RAFT_LEADER);
	ck_assert_uint_ne(sim_vote(c, 2), 3);
	/* 2, whose log is complete, wins. */
	elect(c, 2);
	ck_assert_uint_ge(sim_last_index(c, 2), idx);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* §5.4, Leader Completeness: "if a log entry is committed in a given term,
 * then that entry will be present in the logs of the leaders for all
 * higher-numbered terms." */
START_TEST(test_committed_entry_survives_leader_change)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	raft_index idx;
	ck_assert_int_eq(sim_propose(c, 1, 1, &idx), RAFT_OK);
	settle(c, 1, 2);
	ck_assert_uint_ge(sim_commit(c, 1), idx);
	raft_term t = sim_log_term(c, 1, idx);
	sim_crash(c, 1);
	raft_id next = sim_last_index(c, 2) >= idx ? 2 : 3;
	elect(c, next);
	ck_assert_uint_eq(sim_log_term(c, next, idx), t);
	settle(c, next, 2);
	sim_restart(c, 1);
	settle(c, next, 3);
	for (raft_id k = 1; k <= 3; k++) {
		ck_assert_uint_eq(sim_log_term(c, k, idx), t);
		ck_assert_uint_ge(sim_applied(c, k), idx);
	}
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

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

/* Thesis §9.6, PreVote: a member rejoining after a partition does not
 * force the cluster into a new term: its pre-vote fails, so it never
 * increments its term. */
START_TEST(test_prevote_keeps_rejoining_member_from_bumping_terms)
{
	struct sim_cluster *c = make(3, true, true, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	raft_term term = sim_term(c, 1);
	sim_isolate(c, 3);
	for (int t = 0; t < 10 * ELECTION; t++) {
		sim_tick_all(c);
		sim_deliver_all(c, MAX_DELIVER);
		if (t % 5 == 0)
			sim_propose(c, 1, 2, NULL);
	}
	/* 3 campaigned (pre-vote) over and over without raising its term. */
	ck_assert_uint_eq(sim_term(c, 3), term);
	sim_heal(c);
	for (int t = 0; t < 5 * ELECTION; t++) {
		sim_tick_all(c);
		sim_deliver_all(c, MAX_DELIVER);
	}
	for (raft_id k = 1; k <= 3; k++) {
		ck_assert_uint_eq(sim_term(c, k), term);
		ck_assert_uint_eq(sim_leader_of(c, k), 1);
	}
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Thesis §6.2, CheckQuorum: "a leader steps down if an election timeout
 * elapses without a successful round of heartbeats to a majority of its
 * cluster." */
START_TEST(test_checkquorum_steps_down_isolated_leader)
{
	struct sim_cluster *c = make(3, true, true, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	sim_isolate(c, 1);
	int t;
	for (t = 0; t < 2 * ELECTION + 1 && sim_role(c, 1) == RAFT_LEADER; t++)
		sim_tick_node(c, 1);
	ck_assert_msg(sim_role(c, 1) != RAFT_LEADER,
		      "isolated leader still leads after %d ticks", t);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Thesis §6.4: ReadIndex: the leader "needs to make sure it hasn't been
 * superseded by a newer leader of which it is unaware" by a heartbeat
 * round before serving a read. A deposed leader cut off from the majority
 * never completes that round, so it serves nothing stale. */
START_TEST(test_deposed_leader_serves_no_readindex_read)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	raft_index idx;
	ck_assert_int_eq(sim_propose(c, 1, 3, &idx), RAFT_OK);
	settle(c, 1, 2);
	/* 1 is cut off; 2 is elected and a write completes on it. */
	sim_isolate(c, 1);
	elect(c, 2);
	settle(c, 2, 2);
	raft_index idx2;
	ck_assert_int_eq(sim_propose(c, 2, 3, &idx2), RAFT_OK);
	settle(c, 2, 2);
	ck_assert_uint_ge(sim_applied(c, 2), idx2);
	/* 1 still believes it leads (no CheckQuorum here). */
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	uint64_t rid;
	ck_assert_int_eq(sim_read(c, 1, 3, &rid), RAFT_OK);
	for (int t = 0; t < 3 * ELECTION; t++) {
		sim_tick_node(c, 1);
		sim_deliver_all(c, MAX_DELIVER);
		ck_assert_int_ne(sim_read_state(c, rid), SIM_READ_SERVED);
	}
	/* Healed: 1 learns of term 2's leader; the read fails or, if it is
	 * served at all, it is served fresh (the cluster checks it). */
	sim_heal(c);
	settle(c, 2, 3);
	sim_tick_node(c, 1);
	sim_deliver_all(c, MAX_DELIVER);
	ck_assert_int_ne(sim_role(c, 1), RAFT_LEADER);
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

/* Thesis §5 (log compaction), InstallSnapshot: a follower that needs
 * entries the leader has compacted away catches up from the leader's
 * snapshot, and restarts from it. */
START_TEST(test_lagging_follower_catches_up_from_snapshot)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	elect(c, 1);
	settle(c, 1, 2);
	sim_isolate(c, 3);
	raft_index idx = 0;
	for (unsigned k = 0; k < 6; k++)
		ck_assert_int_eq(sim_propose(c, 1, k, &idx), RAFT_OK);
	settle(c, 1, 2);
	ck_assert_uint_ge(sim_applied(c, 1), idx);
	ck_assert_int_eq(sim_compact(c, 1, 0), RAFT_OK);
	ck_assert_uint_ge(sim_snapshot_index(c, 1), idx);
	sim_heal(c);
	for (int k = 0; k < 3 * ELECTION && sim_applied(c, 3) < idx; k++)
		settle(c, 1, 1);
	ck_assert_uint_ge(sim_snapshot_index(c, 3), idx);
	ck_assert_uint_ge(sim_applied(c, 3), idx);
	/* New entries follow the snapshot on 3. */
	raft_index idx2;
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx2), RAFT_OK);
	settle(c, 1, 3);
	ck_assert_uint_ge(sim_applied(c, 3), idx2);
	sim_crash(c, 3);
	sim_restart(c, 3);
	ck_assert_uint_ge(sim_applied(c, 3), idx);
	settle(c, 1, 3);
	ck_assert_uint_ge(sim_applied(c, 3), idx2);
	assert_safe(c);
	sim_cluster_free(c);
}
END_TEST

/* Figure 2: votedFor is persistent state, "updated on stable storage
 * before responding to RPCs", so a member that restarts never grants a
 * second vote in the same term. Run with the planted "forget votedFor"
 * bug, the same script must be caught. */
static void vote_twice_script(struct sim_cluster *c)
{
	campaign(c, 1);
	raft_term t = sim_term(c, 1);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_VOTE));
	ck_assert_uint_eq(sim_vote(c, 2), 1);
	sim_drop(c, 0, 0, 0);
	sim_crash(c, 2);
	sim_restart(c, 2);
	/* 3 campaigns in the same term and asks 2. */
	campaign(c, 3);
	ck_assert_uint_eq(sim_term(c, 3), t);
	sim_deliver(c, 3, 2, RAFT_MSG_VOTE);
	sim_deliver(c, 2, 3, RAFT_MSG_VOTE_RESP);
}

START_TEST(test_vote_never_granted_twice_in_a_term_across_restart)
{
	struct sim_cluster *c = make(3, false, false, 0, 0);
	vote_twice_script(c);
	ck_assert_uint_eq(sim_vote(c, 2), 1);
	ck_assert_int_ne(sim_role(c, 3), RAFT_LEADER);
	assert_safe(c);
	sim_cluster_free(c);

	c = make(3, false, false, 0, SIM_MUTATE_FORGET_VOTE);
	vote_twice_script(c);
	const char *f = sim_failure(c);
	ck_assert_msg(f && strstr(f, "Election Safety") &&
			  strstr(f, "(Raft §5.2"),
		      "forgotten vote not caught (or not named with its "
		      "section): %s",
		      f ? f : "");
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

static Suite *scenarios_suite(void)
{
	Suite *s = suite_create("sim-scenarios");
	TCase *tc = tcase_create("paper");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_split_vote_resolves);
	tcase_add_test(tc, test_candidate_with_stale_log_loses);
	tcase_add_test(tc, test_committed_entry_survives_leader_change);
	tcase_add_test(tc,
		       test_old_term_entry_not_committed_by_counting_replicas);
	tcase_add_test(tc,
		       test_prevote_keeps_rejoining_member_from_bumping_terms);
	tcase_add_test(tc, test_checkquorum_steps_down_isolated_leader);
	tcase_add_test(tc, test_deposed_leader_serves_no_readindex_read);
	tcase_add_test(tc,
		       test_vote_never_granted_twice_in_a_term_across_restart);
	tcase_add_test(
	    tc, test_read_index_answer_from_before_a_restart_is_not_reused);
	tcase_add_test(tc, test_restart_after_torn_write_entries_first);
	tcase_add_test(tc, test_lagging_follower_catches_up_from_snapshot);
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
