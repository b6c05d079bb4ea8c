/* test_range.c - terms and indexes beyond the number space (raft.h) are
 * refused with RAFT_ERANGE, never adopted, wrapped or asserted on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "on_sim.h"
#include "suites.h"

static const struct raft_options plain = {.election_ticks = 10,
					  .heartbeat_ticks = 1};

static raft_term term_of(struct raft *r)
{
	struct raft_status st;

	raft_status(r, &st);
	return st.term;
}

/* Three voters on the simulated cluster, as plain members. */
static struct sim_cluster *three(void)
{
	struct sim_config cfg = {.n_nodes = 3,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};

	return os_new(&cfg);
}

/* Issue 13: one message with term 2^64 - 1 made every member adopt it,
 * and the next campaign wrapped the term to 0. */
START_TEST(test_huge_term_refused)
{
	struct sim_cluster *c = three();
	struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1};
	raft_term before;

	os_elect(c, 1);
	before = sim_term(c, 1);
	m.term = UINT64_MAX;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_ERANGE);
	m.term = RAFT_TERM_MAX + 1;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_ERANGE);
	ck_assert_uint_eq(sim_term(c, 1), before);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	/* The largest term itself is a term like any other. */
	m.type = RAFT_MSG_VOTE;
	m.term = RAFT_TERM_MAX;
	m.index = 0;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_OK);
	ck_assert_uint_eq(sim_term(c, 1), RAFT_TERM_MAX);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	os_free(c);
}
END_TEST

/* Every term and index field of a message, and of its entries. */
START_TEST(test_each_field_refused)
{
	struct sim_cluster *c = three();
	struct raft_entry e = {
	    .term = 1, .index = 2, .type = RAFT_ENTRY_NORMAL};
	struct raft_msg base = {.type = RAFT_MSG_APPEND,
				.from = 2,
				.to = 1,
				.term = 1,
				.index = 1,
				.log_term = 1};
	struct raft_msg m;
	raft_term before;

	os_elect(c, 2);
	before = sim_term(c, 1);
	base.term = before;

#define REFUSED(field, value)                                                  \
	do {                                                                   \
		m = base;                                                      \
		m.field = (value);                                             \
		ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_ERANGE);         \
	} while (0)
	REFUSED(term, RAFT_TERM_MAX + 1);
	REFUSED(log_term, RAFT_TERM_MAX + 1);
	REFUSED(hint_term, UINT64_MAX);
	REFUSED(index, UINT64_MAX);
	REFUSED(commit, UINT64_MAX);
	REFUSED(hint_index, UINT64_MAX);
#undef REFUSED
	/* An AppendEntries whose entries would pass the last index. */
	m = base;
	m.index = RAFT_INDEX_MAX;
	m.entries = &e;
	m.n_entries = 1;
	e.index = UINT64_MAX;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_ERANGE);
	/* An entry's own term. */
	m = base;
	m.entries = &e;
	m.n_entries = 1;
	e.index = 2;
	e.term = UINT64_MAX;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_ERANGE);
	ck_assert_uint_eq(sim_term(c, 1), before);
	ck_assert_uint_eq(sim_leader_of(c, 1), 2);
	os_free(c);
}
END_TEST

/* A member at the largest term never campaigns: term + 1 would wrap. */
START_TEST(test_no_campaign_at_term_max)
{
	raft_id voters[] = {1};
	struct raft_options o = plain;
	struct raft_restore rs = {.hs = {.term = RAFT_TERM_MAX}};
	struct raft_msg now = {.type = RAFT_MSG_TIMEOUT_NOW,
			       .from = 2,
			       .to = 1,
			       .term = RAFT_TERM_MAX};
	struct raft *r;

	o.id = 1;
	o.voters = voters;
	o.n_voters = 1;
	o.pre_vote = true;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	for (int i = 0; i < 100; i++)
		raft_tick(r);
	ck_assert_int_eq(raft_role(r), RAFT_FOLLOWER);
	ck_assert_uint_eq(term_of(r), RAFT_TERM_MAX);
	ck_assert_int_eq(raft_step(r, &now), RAFT_OK);
	ck_assert_int_eq(raft_role(r), RAFT_FOLLOWER);
	ck_assert_uint_eq(term_of(r), RAFT_TERM_MAX);
	raft_free(r);

	/* One below: it campaigns once, to the largest term. */
	o.pre_vote = false;
	rs.hs.term = RAFT_TERM_MAX - 1;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	for (int i = 0; i < 100 && raft_role(r) != RAFT_LEADER; i++)
		raft_tick(r);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	ck_assert_uint_eq(term_of(r), RAFT_TERM_MAX);
	raft_free(r);
}
END_TEST

/* A state stored before the range checks (a term adopted from such a
 * message) is refused at start, with its own code, instead of aborting
 * or wrapping later: a term can never be lowered safely. */
START_TEST(test_restore_out_of_range)
{
	raft_id voters[] = {1};
	struct raft_options o = plain;
	struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP};
	struct raft_restore rs;
	struct raft *r = NULL;

	o.id = 1;
	o.voters = voters;
	o.n_voters = 1;
	memset(&rs, 0, sizeof(rs));
	rs.hs.term = UINT64_MAX;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_ERANGE);
	ck_assert_ptr_null(r);
	ck_assert_str_ne(raft_strerror(RAFT_ERANGE), "unknown error");

	memset(&rs, 0, sizeof(rs));
	e.term = RAFT_TERM_MAX + 1;
	rs.entries = &e;
	rs.n_entries = 1;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_ERANGE);

	memset(&rs, 0, sizeof(rs));
	rs.snapshot_index = UINT64_MAX;
	rs.snapshot_term = 1;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_ERANGE);

	memset(&rs, 0, sizeof(rs));
	rs.hs.term = 1;
	rs.hs.commit = UINT64_MAX;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_ERANGE);
}
END_TEST

/* The log ends at RAFT_INDEX_MAX: a proposal past it is refused. */
START_TEST(test_propose_at_index_max)
{
	raft_id voters[] = {1};
	struct raft_options o = plain;
	struct raft_restore rs;
	struct raft *r;
	raft_index idx = 1;

	o.id = 1;
	o.voters = voters;
	o.n_voters = 1;
	memset(&rs, 0, sizeof(rs));
	rs.hs.term = 3;
	rs.snapshot_index = RAFT_INDEX_MAX - 1;
	rs.snapshot_term = 3;
	rs.applied = RAFT_INDEX_MAX - 1;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	for (int i = 0; i < 100 && raft_role(r) != RAFT_LEADER; i++)
		raft_tick(r);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	/* The NOOP took the last index. */
	ck_assert_int_eq(raft_propose(r, "x", 1, &idx), RAFT_ERANGE);
	ck_assert_uint_eq(idx, 0);
	raft_free(r);
}
END_TEST

Suite *range_suite(void)
{
	Suite *s = suite_create("range");
	TCase *tc = tcase_create("number_space");

	tcase_add_test(tc, test_huge_term_refused);
	tcase_add_test(tc, test_each_field_refused);
	tcase_add_test(tc, test_no_campaign_at_term_max);
	tcase_add_test(tc, test_restore_out_of_range);
	tcase_add_test(tc, test_propose_at_index_max);
	suite_add_tcase(s, tc);
	return s;
}
