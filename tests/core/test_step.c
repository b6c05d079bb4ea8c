/* test_step.c - small exchanges between cores, driven message by message. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
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

START_TEST(test_elect_leader_by_hand)
{
	struct cl c;
	struct raft_status st;

	cl_init(&c, 3, &plain);
	/* Raft §5.2: after its election timeout a follower becomes
	 * candidate, votes for itself and asks the others. */
	for (int i = 0; i < 20 && raft_role(cl_r(&c, 1)) == RAFT_FOLLOWER; i++)
		raft_tick(cl_r(&c, 1));
	ck_assert_int_eq(raft_role(cl_r(&c, 1)), RAFT_CANDIDATE);
	cl_ready(&c, 1);
	ck_assert_uint_eq(cl_node(&c, 1)->hs.term, 1);
	ck_assert_uint_eq(cl_node(&c, 1)->hs.vote, 1);
	ck_assert_uint_eq(cl_count(&c, RAFT_MSG_VOTE, 1, 0), 2);
	/* One vote is a majority with its own. */
	cl_deliver(&c, RAFT_MSG_VOTE, 1, 2);
	cl_ready(&c, 2);
	ck_assert_uint_eq(cl_node(&c, 2)->hs.vote, 1);
	ck_assert_uint_eq(cl_node(&c, 2)->hs.term, 1);
	ck_assert_ptr_nonnull(cl_find(&c, RAFT_MSG_VOTE_RESP, 2, 1));
	ck_assert(!cl_find(&c, RAFT_MSG_VOTE_RESP, 2, 1)->reject);
	cl_deliver(&c, RAFT_MSG_VOTE_RESP, 2, 1);
	ck_assert_int_eq(raft_role(cl_r(&c, 1)), RAFT_LEADER);
	/* The new leader's first entry is a NOOP of its term (§8). */
	raft_status(cl_r(&c, 1), &st);
	ck_assert_uint_eq(st.last_index, 1);
	cl_stabilize(&c);
	for (raft_id id = 1; id <= 3; id++) {
		raft_status(cl_r(&c, id), &st);
		ck_assert_uint_eq(st.term, 1);
		ck_assert_uint_eq(st.leader, 1);
		ck_assert_uint_eq(st.commit, 1);
		ck_assert_uint_eq(cl_node(&c, id)->applied_index, 1);
		ck_assert_uint_eq(cl_node(&c, id)->log[0].type,
				  RAFT_ENTRY_NOOP);
	}
	cl_free(&c);
}
END_TEST

START_TEST(test_replicate_and_commit)
{
	struct cl c;
	raft_index idx;
	struct raft_status st;

	cl_init(&c, 3, &plain);
	ck_assert_int_eq(cl_elect(&c, 1), RAFT_LEADER);
	ck_assert_int_eq(raft_propose(cl_r(&c, 1), "x=1", 3, &idx), RAFT_OK);
	ck_assert_uint_eq(idx, 2);
	ck_assert_int_eq(raft_propose(cl_r(&c, 1), "y=2", 3, &idx), RAFT_OK);
	ck_assert_uint_eq(idx, 3);
	cl_ready(&c, 1);
	/* Both proposals go out in one AppendEntries per follower. */
	ck_assert_uint_eq(cl_count(&c, RAFT_MSG_APPEND, 1, 0), 2);
	ck_assert_uint_eq(cl_find(&c, RAFT_MSG_APPEND, 1, 2)->n_entries, 2);
	/* Figure 2: commit needs a majority, not everyone: member 3 never
	 * hears of it. */
	cl_drop(&c, 0, 1, 3);
	cl_deliver(&c, RAFT_MSG_APPEND, 1, 2);
	cl_ready(&c, 2);
	cl_deliver(&c, RAFT_MSG_APPEND_RESP, 2, 1);
	raft_status(cl_r(&c, 1), &st);
	ck_assert_uint_eq(st.commit, 3);
	cl_ready(&c, 1);
	ck_assert_str_eq(cl_node(&c, 1)->applied[1], "x=1");
	ck_assert_str_eq(cl_node(&c, 1)->applied[2], "y=2");
	/* The follower learns the commit from the leader's next message. */
	cl_deliver(&c, 0, 1, 2);
	cl_ready(&c, 2);
	ck_assert_uint_eq(cl_node(&c, 2)->applied_index, 3);
	/* Member 3 catches up once reachable: after an election timeout of
	 * answered heartbeats but unanswered appends, the leader takes the
	 * appends for lost and probes again. */
	cl_drop(&c, 0, 0, 3);
	for (int i = 0; i < 10; i++) {
		raft_tick(cl_r(&c, 1));
		cl_stabilize(&c);
	}
	ck_assert_uint_eq(cl_node(&c, 3)->applied_index, 3);
	ck_assert_str_eq(cl_node(&c, 3)->applied[2], "y=2");
	cl_free(&c);
}
END_TEST

/* A follower whose disk lost entries it had acknowledged (a torn tail
 * trimmed on restart) is brought up to date by the same leader: its
 * rejection of a probe sent after the acknowledgement lowers its match. */
START_TEST(test_follower_losing_acked_entries_catches_up)
{
	struct cl c;
	raft_index idx;
	struct raft_status st;
	struct cl_node *f;

	cl_init(&c, 3, &plain);
	ck_assert_int_eq(cl_elect(&c, 1), RAFT_LEADER);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(raft_propose(cl_r(&c, 1), "k=v", 3, &idx),
				 RAFT_OK);
	cl_ready(&c, 1);
	cl_deliver(&c, RAFT_MSG_APPEND, 1, 0);
	cl_ready(&c, 2);
	cl_ready(&c, 3);
	cl_deliver(&c, RAFT_MSG_APPEND_RESP, 0, 1);
	cl_drop(&c, 0, 0, 0);
	f = cl_node(&c, 3);
	ck_assert_uint_eq(f->n_log, 4);
	/* Member 3 loses its last two (acknowledged) entries. */
	free(f->log[--f->n_log].data);
	free(f->log[--f->n_log].data);
	cl_restart(&c, 3);
	ck_assert_int_eq(raft_propose(cl_r(&c, 1), "z=9", 3, &idx), RAFT_OK);
	for (int i = 0; i < 30; i++) {
		raft_tick(cl_r(&c, 1));
		cl_stabilize(&c);
	}
	raft_status(cl_r(&c, 1), &st);
	ck_assert_int_eq(st.role, RAFT_LEADER);
	ck_assert_uint_eq(f->n_log, 5);
	ck_assert_uint_eq(f->applied_index, 5);
	cl_free(&c);
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
	struct cl c;
	raft_index idx = 99;

	cl_init(&c, 3, &plain);
	ck_assert_int_eq(raft_propose(cl_r(&c, 2), "a", 1, &idx),
			 RAFT_ENOLEADER);
	ck_assert_int_eq(cl_elect(&c, 1), RAFT_LEADER);
	ck_assert_int_eq(raft_propose(cl_r(&c, 2), "a", 1, &idx), RAFT_OK);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(raft_propose(cl_r(&c, 2), "b", 1, NULL), RAFT_OK);
	cl_ready(&c, 2);
	/* Both go to the leader in one message. */
	ck_assert_uint_eq(cl_count(&c, RAFT_MSG_PROPOSE, 2, 1), 1);
	ck_assert_uint_eq(cl_find(&c, RAFT_MSG_PROPOSE, 2, 1)->n_entries, 2);
	cl_stabilize(&c);
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_uint_eq(cl_node(&c, id)->applied_index, 3);
		ck_assert_str_eq(cl_node(&c, id)->applied[1], "a");
		ck_assert_str_eq(cl_node(&c, id)->applied[2], "b");
	}
	cl_free(&c);
}
END_TEST

START_TEST(test_read_index_waits_for_heartbeat_majority)
{
	struct cl c;
	const struct raft_msg *hb;

	cl_init(&c, 3, &plain);
	ck_assert_int_eq(cl_elect(&c, 1), RAFT_LEADER);
	ck_assert_int_eq(raft_read_index(cl_r(&c, 1), 42), RAFT_OK);
	ck_assert_int_eq(raft_read_index(cl_r(&c, 1), 43), RAFT_OK);
	cl_ready(&c, 1);
	/* Thesis §6.4: one heartbeat round for both reads; none served
	 * before a majority confirms the leadership. */
	ck_assert_uint_eq(cl_count(&c, RAFT_MSG_HEARTBEAT, 1, 0), 2);
	hb = cl_find(&c, RAFT_MSG_HEARTBEAT, 1, 2);
	ck_assert_uint_ne(hb->context, 0);
	ck_assert_uint_eq(cl_node(&c, 1)->n_reads, 0);
	cl_drop(&c, 0, 1, 3);
	cl_deliver(&c, RAFT_MSG_HEARTBEAT, 1, 2);
	cl_ready(&c, 2);
	cl_ready(&c, 1);
	ck_assert_uint_eq(cl_node(&c, 1)->n_reads, 0);
	cl_deliver(&c, RAFT_MSG_HEARTBEAT_RESP, 2, 1);
	cl_ready(&c, 1);
	ck_assert_uint_eq(cl_node(&c, 1)->n_reads, 2);
	ck_assert_uint_eq(cl_node(&c, 1)->reads[0].ctx, 42);
	ck_assert_uint_eq(cl_node(&c, 1)->reads[0].index, 1);
	ck_assert_uint_eq(cl_node(&c, 1)->reads[1].ctx, 43);
	cl_free(&c);
}
END_TEST

START_TEST(test_follower_read_index)
{
	struct cl c;

	cl_init(&c, 3, &plain);
	ck_assert_int_eq(raft_read_index(cl_r(&c, 2), 7), RAFT_ENOLEADER);
	ck_assert_int_eq(cl_elect(&c, 1), RAFT_LEADER);
	ck_assert_int_eq(raft_read_index(cl_r(&c, 2), 7), RAFT_OK);
	ck_assert_int_eq(raft_read_index(cl_r(&c, 2), 8), RAFT_OK);
	cl_ready(&c, 2);
	ck_assert_uint_eq(cl_count(&c, RAFT_MSG_READ_INDEX, 2, 1), 1);
	cl_stabilize(&c);
	ck_assert_uint_eq(cl_node(&c, 2)->n_reads, 2);
	ck_assert_uint_eq(cl_node(&c, 2)->reads[0].ctx, 7);
	ck_assert_uint_eq(cl_node(&c, 2)->reads[0].index, 1);
	ck_assert_uint_eq(cl_node(&c, 2)->reads[1].ctx, 8);
	ck_assert_uint_eq(cl_node(&c, 2)->n_failed, 0);
	cl_free(&c);
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
	tcase_add_test(tc, test_read_index_waits_for_heartbeat_majority);
	tcase_add_test(tc, test_follower_read_index);
	tcase_add_test(tc, test_single_voter);
	tcase_add_test(tc, test_follower_losing_acked_entries_catches_up);
	suite_add_tcase(s, tc);
	return s;
}
