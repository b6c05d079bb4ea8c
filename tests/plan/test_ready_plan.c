/* test_ready_plan.c - the driver's plan for one ready: a table of readies
 * and pipelines with the plan each must give, and a lone voter's first
 * readies taken from a real core (issue 13, raft.h rule 3). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ready_plan.h"
#include "suites.h"

/* Placeholders the table's readies point at (the plan reads counts and
 * flags only). */
static struct raft_entry ents[2] = {{.index = 5, .term = 2},
				    {.index = 6, .term = 2}};
static struct raft_msg msgs[2];

/* A ready described by what the plan looks at. */
struct rd_desc {
	size_t n_entries, n_msgs, n_after;
	bool hs_changed;
	struct raft_hard_state hs;
	bool has_snapshot;
	size_t n_committed;
};

struct plan_case {
	const char *name;
	struct rd_desc rd;
	struct ready_pipeline pl;
	enum raft_role role;
	/* The plan expected. */
	bool job, job_has_hs, job_install, install, after_now, inline_write;
	raft_term job_hs_term;
	raft_index job_hs_commit;
	bool next_deferred;
	raft_index next_commit; /* next.hs_last.commit */
	size_t next_in_flight;
};

#define HS(t, v, c)                                                            \
	{                                                                      \
		.term = (t), .vote = (v), .commit = (c)                        \
	}

static const struct plan_case cases[] = {
    {.name = "nothing to do",
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .after_now = true,
     .next_commit = 4},
    {.name = "rule 2: messages alone need no write",
     .rd = {.n_msgs = 2},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_LEADER,
     .after_now = true,
     .next_commit = 4},
    {.name = "a follower's entries, nothing in flight: written inline",
     .rd = {.n_entries = 2, .n_after = 1},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .inline_write = true,
     .next_commit = 4,
     .next_in_flight = 1},
    {.name = "a leader's entries go to the writer thread",
     .rd = {.n_entries = 2, .n_msgs = 2},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_LEADER,
     .job = true,
     .next_commit = 4,
     .next_in_flight = 1},
    {.name = "a follower's entries behind a job in flight",
     .rd = {.n_entries = 1, .n_after = 1},
     .pl = {.jobs_in_flight = 1, .hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .next_commit = 4,
     .next_in_flight = 2},
    {.name = "a halted writer: the job waits behind the failed ones",
     .rd = {.n_entries = 1},
     .pl = {.jobs_in_flight = 1, .halted = true, .hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .next_commit = 4,
     .next_in_flight = 2},
    {.name = "a new commit index alone is deferred",
     .rd = {.hs_changed = true, .hs = HS(2, 1, 5), .n_committed = 1},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_LEADER,
     .after_now = true,
     .next_deferred = true,
     .next_commit = 5},
    {.name = "a deferred commit index lets waiting messages go",
     .rd = {.hs_changed = true, .hs = HS(2, 1, 5), .n_after = 1},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .after_now = true,
     .next_deferred = true,
     .next_commit = 5},
    {.name = "a new commit index behind a job in flight is written",
     .rd = {.hs_changed = true, .hs = HS(2, 1, 5)},
     .pl = {.jobs_in_flight = 1, .hs_last = HS(2, 1, 4)},
     .role = RAFT_LEADER,
     .job = true,
     .job_has_hs = true,
     .job_hs_term = 2,
     .job_hs_commit = 5,
     .next_commit = 5,
     .next_in_flight = 2},
    {.name = "a deferred hard state rides with the next entries",
     .rd = {.n_entries = 1},
     .pl = {.hs_last = HS(2, 1, 5), .hs_deferred = true},
     .role = RAFT_LEADER,
     .job = true,
     .job_has_hs = true,
     .job_hs_term = 2,
     .job_hs_commit = 5,
     .next_commit = 5,
     .next_in_flight = 1},
    {.name = "a deferred hard state stays deferred without a job",
     .rd = {.n_msgs = 1},
     .pl = {.hs_last = HS(2, 1, 5), .hs_deferred = true},
     .role = RAFT_LEADER,
     .after_now = true,
     .next_deferred = true,
     .next_commit = 5},
    {.name = "rule 3: a new term is durable before the vote leaves",
     .rd = {.hs_changed = true, .hs = HS(3, 1, 4), .n_after = 2},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_CANDIDATE,
     .job = true,
     .job_has_hs = true,
     .job_hs_term = 3,
     .job_hs_commit = 4,
     .inline_write = true,
     .next_commit = 4,
     .next_in_flight = 1},
    {.name = "rule 3: a vote granted is durable before it is sent",
     .rd = {.hs_changed = true, .hs = HS(2, 3, 4), .n_after = 1},
     .pl = {.hs_last = HS(2, 0, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .job_has_hs = true,
     .job_hs_term = 2,
     .job_hs_commit = 4,
     .inline_write = true,
     .next_commit = 4,
     .next_in_flight = 1},
    {.name = "rule 3: answers wait behind a job in flight",
     .rd = {.n_after = 2},
     .pl = {.jobs_in_flight = 2, .hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .next_commit = 4,
     .next_in_flight = 3},
    {.name = "rule 3: a lone voter's first term waits for its write",
     .rd =
	 {.hs_changed = true, .hs = HS(3, 1, 4), .n_entries = 1, .n_after = 2},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_LEADER,
     .job = true,
     .job_has_hs = true,
     .job_hs_term = 3,
     .job_hs_commit = 4,
     .next_commit = 4,
     .next_in_flight = 1},
    {.name = "rule 7: a snapshot is installed, then the log restarts",
     .rd = {.has_snapshot = true,
	    .hs_changed = true,
	    .hs = HS(2, 1, 9),
	    .n_after = 1},
     .pl = {.hs_last = HS(2, 1, 4)},
     .role = RAFT_FOLLOWER,
     .job = true,
     .job_has_hs = true,
     .job_install = true,
     .install = true,
     .job_hs_term = 2,
     .job_hs_commit = 9,
     .inline_write = true,
     .next_commit = 9,
     .next_in_flight = 1},
    {.name = "rule 7: a snapshot's commit index is never deferred",
     .rd = {.has_snapshot = true},
     .pl = {.hs_last = HS(2, 1, 4), .hs_deferred = true},
     .role = RAFT_FOLLOWER,
     .job = true,
     .job_has_hs = true,
     .job_install = true,
     .install = true,
     .job_hs_term = 2,
     .job_hs_commit = 4,
     .inline_write = true,
     .next_commit = 4,
     .next_in_flight = 1},
};

static void make_ready(const struct rd_desc *d, struct raft_ready *rd)
{
	memset(rd, 0, sizeof(*rd));
	rd->entries = d->n_entries ? ents : NULL;
	rd->n_entries = d->n_entries;
	rd->msgs = d->n_msgs ? msgs : NULL;
	rd->n_msgs = d->n_msgs;
	rd->msgs_after_persist = d->n_after ? msgs : NULL;
	rd->n_msgs_after_persist = d->n_after;
	rd->hs_changed = d->hs_changed;
	rd->hs = d->hs;
	rd->has_snapshot = d->has_snapshot;
	if (d->has_snapshot)
		rd->snapshot =
		    (struct raft_snapshot_meta){.index = 9, .term = 2};
	rd->committed = d->n_committed ? ents : NULL;
	rd->n_committed = d->n_committed;
}

START_TEST(test_ready_plan_table)
{
	const struct plan_case *k = &cases[_i];
	struct raft_ready rd;
	struct ready_plan p;

	make_ready(&k->rd, &rd);
	ready_plan(&rd, &k->pl, k->role, &p);
	ck_assert_msg(p.job == k->job, "%s: job", k->name);
	ck_assert_msg(p.job_has_hs == k->job_has_hs, "%s: hs", k->name);
	if (k->job_has_hs) {
		ck_assert_msg(p.job_hs.term == k->job_hs_term, "%s: term",
			      k->name);
		ck_assert_msg(p.job_hs.commit == k->job_hs_commit, "%s: commit",
			      k->name);
	}
	ck_assert_msg(p.job_install == k->job_install, "%s: 7b", k->name);
	ck_assert_msg(p.install_snapshot == k->install, "%s: 7a", k->name);
	ck_assert_msg(p.send_after_persist_now == k->after_now,
		      "%s: after persist now", k->name);
	ck_assert_msg(p.write_inline == k->inline_write, "%s: inline", k->name);
	ck_assert_msg(p.next.hs_deferred == k->next_deferred, "%s: deferred",
		      k->name);
	ck_assert_msg(p.next.hs_last.commit == k->next_commit, "%s: hs_last",
		      k->name);
	ck_assert_msg(p.next.jobs_in_flight == k->next_in_flight,
		      "%s: in flight", k->name);
	ck_assert_msg(p.next.halted == k->pl.halted, "%s: halted", k->name);
	/* Rule 3 for every case: what waits for durability leaves now only
	 * when no job is made and none is in flight. */
	if (p.send_after_persist_now && rd.n_msgs_after_persist > 0)
		ck_assert_msg(!p.job && k->pl.jobs_in_flight == 0, "%s",
			      k->name);
	/* Rule 1: entries and a term or vote change are always written. */
	if (rd.n_entries > 0 ||
	    (rd.hs_changed && (rd.hs.term != k->pl.hs_last.term ||
			       rd.hs.vote != k->pl.hs_last.vote)))
		ck_assert_msg(p.job, "%s: rule 1", k->name);
}
END_TEST

/* --- a lone voter, from a real core --- */

static const raft_id lone[] = {1};

/* A core for member 1, the only voter, with member 2 a learner (the state
 * while a one-member cluster grows), restarted in term 1. */
static struct raft *lone_voter_core(void)
{
	struct raft_membership m = {.n = 2};
	uint8_t cfg[RAFT_MEMBERSHIP_MAX_BYTES];
	size_t len;

	m.members[0] =
	    (struct raft_member){.id = 1, .flags = RAFT_MEMBER_VOTER};
	m.members[1] =
	    (struct raft_member){.id = 2, .flags = RAFT_MEMBER_LEARNER};
	ck_assert_int_eq(raft_membership_encode(&m, cfg, sizeof(cfg), &len),
			 RAFT_OK);
	struct raft_entry e = {.index = 1,
			       .term = 1,
			       .type = RAFT_ENTRY_CONFIG,
			       .data = cfg,
			       .len = (uint32_t)len};
	struct raft_restore rs = {.hs = {.term = 1, .vote = 1, .commit = 1},
				  .entries = &e,
				  .n_entries = 1,
				  .applied = 1};
	struct raft_options o = {.id = 1,
				 .voters = lone,
				 .n_voters = 1,
				 .election_ticks = 10,
				 .heartbeat_ticks = 1,
				 .seed = 7,
				 .pre_vote = true};
	struct raft *r;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	return r;
}

/* Carries one ready out by the plan, with the driver's own bookkeeping:
 * messages that leave now are counted in *@sent, a job's are held until
 * the test completes it. Returns the plan. */
static struct ready_plan step(struct raft *r, struct ready_pipeline *pl,
			      size_t *sent, size_t *held, raft_index *job_last,
			      raft_term *job_term)
{
	struct raft_ready rd;
	struct ready_plan p;

	raft_ready(r, &rd);
	ready_plan(&rd, pl, raft_role(r), &p);
	*sent += rd.n_msgs;
	if (p.send_after_persist_now)
		*sent += rd.n_msgs_after_persist;
	else
		*held += rd.n_msgs_after_persist;
	if (p.job && rd.n_entries > 0) {
		*job_last = rd.entries[rd.n_entries - 1].index;
		*job_term = rd.entries[rd.n_entries - 1].term;
	}
	raft_advance(r, &rd);
	*pl = p.next;
	return p;
}

/* Issue 13: a lone voter wins its term without any remote vote. Until an
 * entry of that term is durable, nothing it sends may carry the term: a
 * crash before the write would bring it back in the previous term. Under
 * the plan, no message leaves before the job with the new term is done;
 * once it is, they flow at once again (rule 2). */
START_TEST(test_lone_voter_sends_nothing_before_its_term_is_durable)
{
	struct raft *r = lone_voter_core();
	struct ready_pipeline pl = {
	    .hs_last = {.term = 1, .vote = 1, .commit = 1}};
	size_t sent = 0, held = 0;
	raft_index last = 0;
	raft_term term = 0;

	for (unsigned i = 0; i < 40 && raft_role(r) != RAFT_LEADER; i++) {
		raft_tick(r);
		while (raft_has_ready(r))
			step(r, &pl, &sent, &held, &last, &term);
	}
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	while (raft_has_ready(r)) {
		struct ready_plan p = step(r, &pl, &sent, &held, &last, &term);
		(void)p;
	}
	/* The write of the new term is in flight: nothing left yet, the
	 * appends to the learner wait in the job. */
	ck_assert_uint_eq(pl.jobs_in_flight, 1);
	ck_assert_uint_eq(term, 2);
	ck_assert_uint_eq(sent, 0);
	ck_assert_uint_gt(held, 0);
	/* Heartbeats meanwhile wait too: behind the job in flight. */
	for (unsigned i = 0; i < 3; i++) {
		raft_tick(r);
		while (raft_has_ready(r)) {
			struct ready_plan p =
			    step(r, &pl, &sent, &held, &last, &term);
			ck_assert(!p.send_after_persist_now ||
				  pl.jobs_in_flight == 0);
		}
	}
	ck_assert_uint_eq(sent, 0);
	/* The jobs are written, in order: the entry of term 2 is durable. */
	pl.jobs_in_flight = 0;
	raft_persisted(r, last, term);
	held = 0;
	for (unsigned i = 0; i < 3; i++) {
		raft_tick(r);
		while (raft_has_ready(r))
			step(r, &pl, &sent, &held, &last, &term);
	}
	/* Rule 2 again: the leader sends at once. */
	ck_assert_uint_gt(sent, 0);
	raft_free(r);
}
END_TEST

Suite *ready_plan_suite(void)
{
	Suite *s = suite_create("ready_plan");
	TCase *tc = tcase_create("plan");

	tcase_add_loop_test(tc, test_ready_plan_table, 0,
			    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(
	    tc, test_lone_voter_sends_nothing_before_its_term_is_durable);
	suite_add_tcase(s, tc);
	return s;
}
