/* test_step.c - small exchanges between cores, driven message by message. */
#include <stdlib.h>
#include <string.h>

#include "on_sim.h"
#include "suites.h"

static const struct raft_options plain = {.election_ticks = 10,
					  .heartbeat_ticks = 1};

/* @n plain voters on the simulated cluster. */
static struct sim_cluster *plain_sim(unsigned n)
{
	struct sim_config cfg = {.n_nodes = n,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};

	return os_new(&cfg);
}

/* Asserts that @id applied the entry at @index and that its disk holds
 * it with the payload @want. */
static void assert_applied(const struct sim_cluster *c, raft_id id,
			   raft_index index, const char *want)
{
	const struct raft_entry *e = sim_disk_entry(c, id, index);

	ck_assert_uint_ge(sim_applied(c, id), index);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->type, RAFT_ENTRY_NORMAL);
	ck_assert_uint_eq(e->len, strlen(want));
	ck_assert_mem_eq(e->data, want, e->len);
}

/* The read answers of one member in manual mode, in order. */
struct answers {
	struct raft_read reads[8];
	size_t n_reads;
	size_t n_failed;
};

/* Carries out @id's readies, noting the reads they answer. */
static void take_answers(struct sim_cluster *c, raft_id id, struct answers *a)
{
	struct raft_ready rd;

	while (sim_ready(c, id, &rd)) {
		for (size_t i = 0; i < rd.n_reads; i++) {
			ck_assert_uint_lt(a->n_reads, 8);
			a->reads[a->n_reads++] = rd.reads[i];
		}
		a->n_failed += rd.n_failed_reads;
		sim_advance(c, id);
	}
}

/* Deliveries until no message is left, @id's readies (manual mode)
 * carried out after each, noting the reads they answer. */
static void stabilize_answers(struct sim_cluster *c, raft_id id,
			      struct answers *a)
{
	int i;

	take_answers(c, id, a);
	for (i = 0; i < 100000 && sim_deliver_types(c, 0, 0, 0, NULL, NULL);
	     i++)
		take_answers(c, id, a);
	ck_assert_int_lt(i, 100000);
	os_assert_safe(c);
}

START_TEST(test_elect_leader_by_hand)
{
	struct sim_cluster *c = plain_sim(3);
	struct raft_status st;

	/* Raft §5.2: after its election timeout a follower becomes
	 * candidate, votes for itself and asks the others. */
	for (int i = 0; i < 20 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_CANDIDATE);
	ck_assert_uint_eq(sim_disk_hs(c, 1).term, 1);
	ck_assert_uint_eq(sim_disk_hs(c, 1).vote, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, RAFT_MSG_VOTE), 2);
	/* One vote is a majority with its own. */
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_VOTE));
	ck_assert_uint_eq(sim_disk_hs(c, 2).vote, 1);
	ck_assert_uint_eq(sim_disk_hs(c, 2).term, 1);
	ck_assert_ptr_nonnull(sim_find(c, 2, 1, RAFT_MSG_VOTE_RESP));
	ck_assert(!sim_find(c, 2, 1, RAFT_MSG_VOTE_RESP)->reject);
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_VOTE_RESP));
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	/* The new leader's first entry is a NOOP of its term (§8). */
	raft_status(os_core(c, 1), &st);
	ck_assert_uint_eq(st.last_index, 1);
	os_stabilize(c);
	for (raft_id id = 1; id <= 3; id++) {
		raft_status(os_core(c, id), &st);
		ck_assert_uint_eq(st.term, 1);
		ck_assert_uint_eq(st.leader, 1);
		ck_assert_uint_eq(st.commit, 1);
		ck_assert_uint_eq(sim_applied(c, id), 1);
		ck_assert_ptr_nonnull(sim_disk_entry(c, id, 1));
		ck_assert_uint_eq(sim_disk_entry(c, id, 1)->type,
				  RAFT_ENTRY_NOOP);
	}
	os_free(c);
}
END_TEST

START_TEST(test_replicate_and_commit)
{
	struct sim_cluster *c = plain_sim(3);
	raft_index idx;
	struct raft_status st;

	os_elect(c, 1);
	/* Two proposals before one ready. */
	sim_manual(c, 1, true);
	ck_assert_int_eq(raft_propose(sim_raw_core(c, 1), "x=1", 3, &idx),
			 RAFT_OK);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(raft_propose(sim_raw_core(c, 1), "y=2", 3, &idx),
			 RAFT_OK);
	ck_assert_uint_eq(idx, 3);
	sim_drain(c, 1);
	/* Both proposals go out in one AppendEntries per follower. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, RAFT_MSG_APPEND), 2);
	ck_assert_uint_eq(sim_find(c, 1, 2, RAFT_MSG_APPEND)->n_entries, 2);
	/* Figure 2: commit needs a majority, not everyone: member 3 never
	 * hears of it. */
	sim_drop(c, 1, 3, 0);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_APPEND));
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_APPEND_RESP));
	raft_status(os_core(c, 1), &st);
	ck_assert_uint_eq(st.commit, 3);
	sim_drain(c, 1);
	assert_applied(c, 1, 2, "x=1");
	assert_applied(c, 1, 3, "y=2");
	/* The follower learns the commit from the leader's next message. */
	while (sim_deliver(c, 1, 2, 0))
		;
	ck_assert_uint_eq(sim_applied(c, 2), 3);
	/* Member 3 catches up once reachable: after an election timeout of
	 * answered heartbeats but unanswered appends, the leader takes the
	 * appends for lost and probes again. */
	sim_manual(c, 1, false);
	sim_drop(c, 0, 3, 0);
	for (int i = 0; i < 10; i++) {
		sim_tick_node(c, 1);
		os_stabilize(c);
	}
	ck_assert_uint_eq(sim_applied(c, 3), 3);
	assert_applied(c, 3, 3, "y=2");
	os_free(c);
}
END_TEST

/* A follower whose disk lost entries it had acknowledged (a torn tail
 * trimmed on restart) is brought up to date by the same leader: its
 * rejection of a probe sent after the acknowledgement lowers its match. */
START_TEST(test_follower_losing_acked_entries_catches_up)
{
	struct sim_cluster *c = plain_sim(3);
	raft_index idx;
	struct raft_status st;

	os_elect(c, 1);
	sim_manual(c, 1, true);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(
		    raft_propose(sim_raw_core(c, 1), "k=v", 3, &idx), RAFT_OK);
	sim_drain(c, 1);
	while (sim_deliver(c, 1, 0, RAFT_MSG_APPEND))
		;
	while (sim_deliver(c, 0, 1, RAFT_MSG_APPEND_RESP))
		;
	sim_drain(c, 1);
	sim_drop(c, 0, 0, 0);
	sim_manual(c, 1, false);
	ck_assert_uint_eq(sim_last_index(c, 3), 4);
	/* Member 3 loses its last two (acknowledged) entries. */
	sim_crash(c, 3);
	sim_disk_truncate(c, 3, 3);
	sim_restart(c, 3);
	ck_assert_uint_eq(sim_last_index(c, 3), 2);
	ck_assert_int_eq(raft_propose(sim_raw_core(c, 1), "z=9", 3, &idx),
			 RAFT_OK);
	sim_drain(c, 1);
	for (int i = 0; i < 30; i++) {
		sim_tick_node(c, 1);
		os_stabilize(c);
	}
	raft_status(os_core(c, 1), &st);
	ck_assert_int_eq(st.role, RAFT_LEADER);
	ck_assert_uint_eq(sim_last_index(c, 3), 5);
	ck_assert_ptr_nonnull(sim_disk_entry(c, 3, 5));
	ck_assert_uint_eq(sim_applied(c, 3), 5);
	os_free(c);
}
END_TEST

START_TEST(test_leader_counts_itself_only_when_durable)
{
	struct sim_cluster *c = plain_sim(3);

	os_elect(c, 1);
	sim_hold_writes(c, 1, true);
	ck_assert_int_eq(sim_propose(c, 1, 0, NULL), RAFT_OK);
	/* Rule 2: the append is sent before the leader's own write. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, RAFT_MSG_APPEND), 2);
	ck_assert_uint_eq(sim_pending_writes(c, 1), 1);
	sim_drop(c, 1, 3, 0);
	while (sim_deliver(c, 1, 2, RAFT_MSG_APPEND))
		;
	while (sim_deliver(c, 2, 1, RAFT_MSG_APPEND_RESP))
		;
	/* Follower 2 and a leader whose copy is not durable: no majority. */
	ck_assert_uint_eq(sim_commit(c, 1), 1);
	sim_hold_writes(c, 1, false);
	ck_assert_uint_eq(sim_commit(c, 1), 2);
	os_free(c);
}
END_TEST

START_TEST(test_follower_rejects_with_hint)
{
	struct raft *r;
	struct raft_entry ents[5];
	raft_id voters[3] = {1, 2, 3};
	struct raft_options o = plain;
	struct raft_restore rs = {.hs = {.term = 3}};
	struct raft_msg m = {
	    .type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 3};
	struct raft_ready rd;

	memset(ents, 0, sizeof(ents));
	for (int i = 0; i < 5; i++) {
		ents[i].index = i + 1;
		ents[i].term = i < 2 ? 1 : 2;
		ents[i].type = RAFT_ENTRY_NORMAL;
	}
	rs.entries = ents;
	rs.n_entries = 5;
	o.id = 2;
	o.voters = voters;
	o.n_voters = 3;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	/* Conflict at 5 (term 2 here, 3 at the leader): the hint is the
	 * first index of term 2, skipping the whole term (§5.3). */
	m.index = 5;
	m.log_term = 3;
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	/* Log too short: the hint is its end + 1. */
	m.index = 9;
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	ck_assert(raft_has_ready(r));
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 2);
	ck_assert(rd.msgs_after_persist[0].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 5);
	ck_assert_uint_eq(rd.msgs_after_persist[0].hint_index, 3);
	ck_assert_uint_eq(rd.msgs_after_persist[0].hint_term, 2);
	ck_assert(rd.msgs_after_persist[1].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[1].hint_index, 6);
	raft_advance(r, &rd);
	raft_free(r);
}
END_TEST

START_TEST(test_leader_backtracks_a_term_per_round_trip)
{
	struct sim_cluster *c = plain_sim(3);

	os_elect(c, 1);
	/* Member 3 misses a stretch of entries. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(sim_propose(c, 1, 0, NULL), RAFT_OK);
	sim_drop(c, 1, 3, 0);
	os_stabilize(c);
	ck_assert_uint_eq(sim_commit(c, 1), 21);
	ck_assert_uint_eq(sim_last_index(c, 3), 1);
	/* Next proposal: 3 rejects once with hint 2 (its end + 1), the
	 * leader resends from there, and 3 is whole again. */
	sim_propose(c, 1, 0, NULL);
	while (sim_deliver(c, 1, 3, RAFT_MSG_APPEND))
		;
	ck_assert(sim_find(c, 3, 1, RAFT_MSG_APPEND_RESP)->reject);
	ck_assert_uint_eq(sim_find(c, 3, 1, RAFT_MSG_APPEND_RESP)->hint_index,
			  2);
	while (sim_deliver(c, 3, 1, RAFT_MSG_APPEND_RESP))
		;
	ck_assert_uint_eq(sim_find(c, 1, 3, RAFT_MSG_APPEND)->index, 1);
	os_stabilize(c);
	ck_assert_uint_eq(sim_last_index(c, 3), 22);
	os_free(c);
}
END_TEST

START_TEST(test_no_second_vote_in_term_after_restore)
{
	struct raft *r;
	raft_id voters[3] = {1, 2, 3};
	struct raft_options o = plain;
	struct raft_restore rs = {.hs = {.term = 2, .vote = 3}};
	struct raft_msg m = {
	    .type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 2};
	struct raft_ready rd;

	o.id = 2;
	o.voters = voters;
	o.n_voters = 3;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	/* Figure 2: votedFor survives the restart; one vote per term. */
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	m.from = 3;
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(!rd.hs_changed);
	/* Vote answers wait for durability (rule 3). */
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 2);
	ck_assert_uint_eq(rd.msgs_after_persist[0].to, 1);
	ck_assert(rd.msgs_after_persist[0].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[1].to, 3);
	ck_assert(!rd.msgs_after_persist[1].reject);
	raft_advance(r, &rd);
	raft_free(r);
}
END_TEST

START_TEST(test_follower_forwards_proposals)
{
	struct sim_cluster *c = plain_sim(3);
	raft_index idx = 99;

	ck_assert_int_eq(raft_propose(sim_raw_core(c, 2), "a", 1, &idx),
			 RAFT_ENOLEADER);
	os_elect(c, 1);
	/* Two proposals before one ready. */
	sim_manual(c, 2, true);
	ck_assert_int_eq(raft_propose(sim_raw_core(c, 2), "a", 1, &idx),
			 RAFT_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(raft_propose(sim_raw_core(c, 2), "b", 1, NULL),
			 RAFT_OK);
	sim_manual(c, 2, false);
	/* Both go to the leader in one message. */
	ck_assert_uint_eq(sim_in_flight(c, 2, 1, RAFT_MSG_PROPOSE), 1);
	ck_assert_uint_eq(sim_find(c, 2, 1, RAFT_MSG_PROPOSE)->n_entries, 2);
	os_stabilize(c);
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_uint_eq(sim_applied(c, id), 3);
		assert_applied(c, id, 2, "a");
		assert_applied(c, id, 3, "b");
	}
	os_free(c);
}
END_TEST

/* Member 1 commits a write member 2 acknowledged; member 3 never hears
 * of it. Leaves the commit notice 1 sent 2 in flight. */
static void commit_through_2(struct sim_cluster *c, const char *cmd)
{
	raft_index idx;

	ck_assert_int_eq(
	    raft_propose(sim_raw_core(c, 1), cmd, strlen(cmd), &idx), RAFT_OK);
	sim_drain(c, 1);
	sim_drop(c, 1, 3, 0);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_APPEND));
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_APPEND_RESP));
	sim_drain(c, 1);
	ck_assert_uint_eq(sim_commit(c, 1), idx);
	ck_assert_uint_eq(sim_in_flight(c, 1, 2, RAFT_MSG_HEARTBEAT), 1);
}

START_TEST(test_commit_notice_answered_only_when_useful)
{
	struct sim_cluster *c = plain_sim(3);
	const struct raft_msg *hb;
	uint64_t r;

	os_elect(c, 1);
	sim_manual(c, 1, true);
	/* A commit notice to a replicating follower that confirmed every
	 * read round asks for no answer: the follower learns the commit
	 * and says nothing. */
	commit_through_2(c, "x=1");
	hb = sim_find(c, 1, 2, RAFT_MSG_HEARTBEAT);
	ck_assert(hb->reject);
	ck_assert_uint_eq(hb->commit, sim_commit(c, 1));
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(sim_commit(c, 2), sim_commit(c, 1));
	ck_assert_uint_eq(sim_in_flight(c, 2, 1, 0), 0);
	/* With a read round member 2 has not confirmed, the notice wants
	 * its answer: the answer confirms the round. */
	ck_assert_int_eq(sim_read(c, 1, 0, &r), RAFT_OK);
	sim_drain(c, 1);
	sim_drop(c, 1, 2, RAFT_MSG_HEARTBEAT);
	commit_through_2(c, "y=2");
	hb = sim_find(c, 1, 2, RAFT_MSG_HEARTBEAT);
	ck_assert(!hb->reject);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_HEARTBEAT_RESP));
	sim_drain(c, 1);
	ck_assert_int_eq(sim_read_state(c, r), SIM_READ_SERVED);
	/* The tick's heartbeats are always answered (liveness, probes). */
	sim_tick_node(c, 1);
	sim_drain(c, 1);
	hb = sim_find(c, 1, 2, RAFT_MSG_HEARTBEAT);
	ck_assert_ptr_nonnull(hb);
	ck_assert(!hb->reject);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	ck_assert_uint_eq(sim_in_flight(c, 2, 1, RAFT_MSG_HEARTBEAT_RESP), 1);
	os_free(c);
}
END_TEST

START_TEST(test_read_index_waits_for_heartbeat_majority)
{
	struct sim_cluster *c = plain_sim(3);
	struct answers a = {0};
	const struct raft_msg *hb;
	uint64_t r1, r2;

	os_elect(c, 1);
	/* Two reads before one ready. */
	sim_manual(c, 1, true);
	ck_assert_int_eq(sim_read(c, 1, 0, &r1), RAFT_OK);
	ck_assert_int_eq(sim_read(c, 1, 0, &r2), RAFT_OK);
	take_answers(c, 1, &a);
	/* Thesis §6.4: one heartbeat round for both reads; none served
	 * before a majority confirms the leadership. */
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, RAFT_MSG_HEARTBEAT), 2);
	hb = sim_find(c, 1, 2, RAFT_MSG_HEARTBEAT);
	ck_assert_uint_ne(hb->context, 0);
	ck_assert_uint_eq(a.n_reads, 0);
	sim_drop(c, 1, 3, 0);
	ck_assert(sim_deliver(c, 1, 2, RAFT_MSG_HEARTBEAT));
	take_answers(c, 1, &a);
	ck_assert_uint_eq(a.n_reads, 0);
	ck_assert(sim_deliver(c, 2, 1, RAFT_MSG_HEARTBEAT_RESP));
	take_answers(c, 1, &a);
	ck_assert_uint_eq(a.n_reads, 2);
	ck_assert_uint_eq(a.reads[0].ctx, r1);
	ck_assert_uint_eq(a.reads[0].index, 1);
	ck_assert_uint_eq(a.reads[1].ctx, r2);
	os_free(c);
}
END_TEST

START_TEST(test_follower_read_index)
{
	struct sim_cluster *c = plain_sim(3);
	struct answers a = {0};
	uint64_t r1, r2;

	ck_assert_int_eq(sim_read(c, 2, 0, &r1), RAFT_ENOLEADER);
	os_elect(c, 1);
	/* Two reads before one ready. */
	sim_manual(c, 2, true);
	ck_assert_int_eq(sim_read(c, 2, 0, &r1), RAFT_OK);
	ck_assert_int_eq(sim_read(c, 2, 0, &r2), RAFT_OK);
	take_answers(c, 2, &a);
	ck_assert_uint_eq(sim_in_flight(c, 2, 1, RAFT_MSG_READ_INDEX), 1);
	stabilize_answers(c, 2, &a);
	ck_assert_uint_eq(a.n_reads, 2);
	ck_assert_uint_eq(a.reads[0].ctx, r1);
	ck_assert_uint_eq(a.reads[0].index, 1);
	ck_assert_uint_eq(a.reads[1].ctx, r2);
	ck_assert_uint_eq(a.n_failed, 0);
	os_free(c);
}
END_TEST

START_TEST(test_single_voter)
{
	struct sim_cluster *c = plain_sim(1);
	raft_index idx;
	uint64_t read;

	os_elect(c, 1);
	ck_assert_uint_eq(sim_applied(c, 1), 1);
	ck_assert_int_eq(sim_propose(c, 1, 0, &idx), RAFT_OK);
	ck_assert_int_eq(sim_read(c, 1, 0, &read), RAFT_OK);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 1), 2);
	ck_assert_int_eq(sim_read_state(c, read), SIM_READ_SERVED);
	os_free(c);
}
END_TEST

/* The harness itself: a member in manual mode keeps its readies until the
 * test takes them; a crash inside a ready keeps what its steps stored. */
START_TEST(test_manual_readies)
{
	struct sim_cluster *c = plain_sim(3);
	struct raft_ready rd;

	sim_manual(c, 1, true);
	for (int i = 0; i < 20 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_CANDIDATE);
	/* The campaign's ready is left alone: nothing stored or sent, and
	 * the checks wait for it. */
	ck_assert_uint_eq(sim_disk_hs(c, 1).term, 0);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, 0), 0);
	ck_assert(sim_check(c));
	/* A crash after the hard state was stored: term and vote survive,
	 * no request left. */
	sim_crash_in_ready(c, 1, 4);
	ck_assert_uint_eq(sim_disk_hs(c, 1).term, 1);
	ck_assert_uint_eq(sim_disk_hs(c, 1).vote, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, 0), 0);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	/* A crash before anything was stored forgets the next campaign. */
	for (int i = 0; i < 40 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_CANDIDATE);
	sim_crash_in_ready(c, 1, 0);
	ck_assert_uint_eq(sim_disk_hs(c, 1).term, 1);
	ck_assert_uint_eq(sim_term(c, 1), 1);
	/* Taken and handed back: stored, then sent (rule 3). */
	for (int i = 0; i < 40 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert(rd.hs_changed);
	ck_assert_uint_eq(rd.hs.term, 2);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 2);
	sim_advance(c, 1);
	ck_assert_uint_eq(sim_disk_hs(c, 1).term, 2);
	ck_assert_uint_eq(sim_in_flight(c, 1, 0, RAFT_MSG_VOTE), 2);
	ck_assert(!sim_ready(c, 1, &rd));
	/* Back to the cluster's own driving. */
	sim_manual(c, 1, false);
	os_stabilize(c);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert_uint_eq(sim_applied(c, 2), 1);
	os_free(c);
}
END_TEST

Suite *step_suite(void)
{
	Suite *s = suite_create("step");
	TCase *tc = tcase_create("step");

	tcase_add_test(tc, test_elect_leader_by_hand);
	tcase_add_test(tc, test_replicate_and_commit);
	tcase_add_test(tc, test_leader_counts_itself_only_when_durable);
	tcase_add_test(tc, test_follower_rejects_with_hint);
	tcase_add_test(tc, test_leader_backtracks_a_term_per_round_trip);
	tcase_add_test(tc, test_no_second_vote_in_term_after_restore);
	tcase_add_test(tc, test_follower_forwards_proposals);
	tcase_add_test(tc, test_commit_notice_answered_only_when_useful);
	tcase_add_test(tc, test_read_index_waits_for_heartbeat_majority);
	tcase_add_test(tc, test_follower_read_index);
	tcase_add_test(tc, test_single_voter);
	tcase_add_test(tc, test_follower_losing_acked_entries_catches_up);
	tcase_add_test(tc, test_manual_readies);
	suite_add_tcase(s, tc);
	return s;
}
