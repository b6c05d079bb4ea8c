/* test_recovery_plan.c - the driver's recovery plan: a table of stored logs,
 * hard states and state machines with the restore each must give, and
 * plans handed to a real core. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "recovery_plan.h"
#include "suites.h"

#define MAX_LOG 16

/* A stored log [first, last] with the terms listed (terms[0] at first). */
struct rec_case {
	const char *name;
	raft_index first, last;
	raft_term terms[MAX_LOG];
	struct raft_hard_state hs;
	raft_index applied;
	raft_term applied_term;
	/* The plan expected. */
	int rc;
	bool reset;
	raft_index plan_first, plan_last;
	raft_index snapshot_index;
	raft_term snapshot_term;
	size_t skip, n_entries;
	raft_index commit;
	bool needs_config;
};

static const struct rec_case cases[] = {
    {.name = "a new member: nothing stored",
     .first = 1,
     .last = 0,
     .plan_first = 1,
     .plan_last = 0},
    {.name = "a log never compacted is handed over whole",
     .first = 1,
     .last = 5,
     .terms = {1, 1, 2, 2, 3},
     .hs = {.term = 3, .vote = 2, .commit = 4},
     .applied = 3,
     .applied_term = 2,
     .plan_first = 1,
     .plan_last = 5,
     .n_entries = 5,
     .commit = 4},
    {.name = "what was applied was committed",
     .first = 1,
     .last = 5,
     .terms = {1, 1, 2, 2, 3},
     .hs = {.term = 3, .commit = 2},
     .applied = 4,
     .applied_term = 2,
     .plan_first = 1,
     .plan_last = 5,
     .n_entries = 5,
     .commit = 4},
    {.name = "a commit index beyond the stored log is clamped to it",
     .first = 1,
     .last = 5,
     .terms = {1, 1, 2, 2, 3},
     .hs = {.term = 3, .commit = 9},
     .applied = 3,
     .applied_term = 2,
     .plan_first = 1,
     .plan_last = 5,
     .n_entries = 5,
     .commit = 5},
    {.name = "compacted: the log starts after its first stored entry",
     .first = 4,
     .last = 8,
     .terms = {2, 2, 3, 3, 3},
     .hs = {.term = 3, .commit = 8},
     .applied = 6,
     .applied_term = 3,
     .plan_first = 4,
     .plan_last = 8,
     .snapshot_index = 4,
     .snapshot_term = 2,
     .skip = 1,
     .n_entries = 4,
     .commit = 8,
     .needs_config = true},
    {.name = "compacted up to the store: it is the snapshot",
     .first = 4,
     .last = 8,
     .terms = {2, 2, 3, 3, 3},
     .hs = {.term = 3, .commit = 5},
     .applied = 3,
     .applied_term = 2,
     .plan_first = 4,
     .plan_last = 8,
     .snapshot_index = 3,
     .snapshot_term = 2,
     .n_entries = 5,
     .commit = 5,
     .needs_config = true},
    {.name = "a store behind the compacted log cannot recover",
     .first = 5,
     .last = 8,
     .terms = {2, 3, 3, 3},
     .applied = 3,
     .applied_term = 2,
     .rc = RECOVERY_EBEHIND},
    {.name = "rule 7: a snapshot installed past the stored log",
     .first = 1,
     .last = 4,
     .terms = {1, 1, 2, 2},
     .hs = {.term = 4, .commit = 9},
     .applied = 7,
     .applied_term = 3,
     .reset = true,
     .plan_first = 8,
     .plan_last = 7,
     .snapshot_index = 7,
     .snapshot_term = 3,
     .commit = 7,
     .needs_config = true},
    {.name = "rule 7: a snapshot the stored log conflicts with",
     .first = 1,
     .last = 6,
     .terms = {1, 1, 2, 2, 2, 2},
     .hs = {.term = 4, .commit = 3},
     .applied = 4,
     .applied_term = 3,
     .reset = true,
     .plan_first = 5,
     .plan_last = 4,
     .snapshot_index = 4,
     .snapshot_term = 3,
     .commit = 4,
     .needs_config = true},
    {.name = "rule 7: a stored tail that follows the snapshot stays",
     .first = 1,
     .last = 6,
     .terms = {1, 1, 2, 2, 2, 2},
     .hs = {.term = 4, .commit = 6},
     .applied = 4,
     .applied_term = 2,
     .plan_first = 1,
     .plan_last = 6,
     .n_entries = 6,
     .commit = 6},
    {.name = "rule 7: a compacted tail that follows the snapshot stays",
     .first = 3,
     .last = 6,
     .terms = {2, 2, 2, 3},
     .hs = {.term = 4, .commit = 5},
     .applied = 5,
     .applied_term = 2,
     .plan_first = 3,
     .plan_last = 6,
     .snapshot_index = 3,
     .snapshot_term = 2,
     .skip = 1,
     .n_entries = 3,
     .commit = 5,
     .needs_config = true},
    {.name = "a log reset before, still empty",
     .first = 8,
     .last = 7,
     .hs = {.term = 4, .commit = 7},
     .applied = 7,
     .applied_term = 3,
     .plan_first = 8,
     .plan_last = 7,
     .snapshot_index = 7,
     .snapshot_term = 3,
     .commit = 7,
     .needs_config = true},
    {.name = "rule 7: an empty log behind a newer snapshot",
     .first = 8,
     .last = 7,
     .hs = {.term = 4, .commit = 7},
     .applied = 12,
     .applied_term = 4,
     .reset = true,
     .plan_first = 13,
     .plan_last = 12,
     .snapshot_index = 12,
     .snapshot_term = 4,
     .commit = 12,
     .needs_config = true},
};

/* The stored log of @k, entries [first, last]. */
static size_t make_log(const struct rec_case *k, struct raft_entry *e)
{
	size_t n = (size_t)(k->last + 1 - k->first);

	for (size_t i = 0; i < n; i++)
		e[i] = (struct raft_entry){.index = k->first + i,
					   .term = k->terms[i],
					   .type = RAFT_ENTRY_NOOP};
	return n;
}

START_TEST(test_recovery_plan_table)
{
	const struct rec_case *k = &cases[_i];
	struct raft_entry log[MAX_LOG];
	size_t n = make_log(k, log);
	struct recovery_state in = {.first = k->first,
				    .last = k->last,
				    .entries = n ? log : NULL,
				    .n_entries = n,
				    .hs = k->hs,
				    .applied = k->applied,
				    .applied_term = k->applied_term};
	struct recovery_plan p;

	int rc = recovery_plan(&in, &p);
	ck_assert_msg(rc == k->rc, "%s: rc %d", k->name, rc);
	if (rc != RECOVERY_OK)
		return;
	ck_assert_msg(p.reset == k->reset, "%s: reset", k->name);
	if (p.reset)
		ck_assert_msg(p.reset_index == k->applied, "%s: reset index",
			      k->name);
	ck_assert_msg(p.first == k->plan_first && p.last == k->plan_last,
		      "%s: log [%llu, %llu]", k->name,
		      (unsigned long long)p.first, (unsigned long long)p.last);
	ck_assert_msg(p.snapshot_index == k->snapshot_index &&
			  p.snapshot_term == k->snapshot_term,
		      "%s: snapshot %llu/%llu", k->name,
		      (unsigned long long)p.snapshot_index,
		      (unsigned long long)p.snapshot_term);
	ck_assert_msg(p.skip == k->skip && p.n_entries == k->n_entries,
		      "%s: entries %zu+%zu", k->name, p.skip, p.n_entries);
	ck_assert_msg(p.hs.commit == k->commit, "%s: commit %llu", k->name,
		      (unsigned long long)p.hs.commit);
	ck_assert_msg(p.hs.term == k->hs.term && p.hs.vote == k->hs.vote,
		      "%s: term and vote kept", k->name);
	ck_assert_msg(p.applied == k->applied, "%s: applied", k->name);
	ck_assert_msg(p.needs_config == k->needs_config, "%s: config", k->name);
	/* The entries handed over follow the snapshot, up to the end. */
	if (p.n_entries > 0) {
		ck_assert_uint_eq(log[p.skip].index, p.snapshot_index + 1);
		ck_assert_uint_eq(log[p.skip + p.n_entries - 1].index, p.last);
	}
}
END_TEST

static const raft_id three[] = {1, 2, 3};

/* Every plan of the table that the core can take (a log with its
 * configuration) starts a core that reports what the plan says. */
START_TEST(test_recovery_plan_starts_the_core)
{
	const struct rec_case *k = &cases[_i];
	struct raft_entry log[MAX_LOG];
	size_t n = make_log(k, log);
	struct recovery_state in = {.first = k->first,
				    .last = k->last,
				    .entries = n ? log : NULL,
				    .n_entries = n,
				    .hs = k->hs,
				    .applied = k->applied,
				    .applied_term = k->applied_term};
	struct recovery_plan p;
	struct raft_membership m = {.n = 3};
	uint8_t cfg[RAFT_MEMBERSHIP_MAX_BYTES];
	size_t cfg_len;

	if (recovery_plan(&in, &p) != RECOVERY_OK)
		return;
	for (size_t i = 0; i < 3; i++)
		m.members[i] = (struct raft_member){.id = three[i],
						    .flags = RAFT_MEMBER_VOTER};
	ck_assert_int_eq(raft_membership_encode(&m, cfg, sizeof(cfg), &cfg_len),
			 RAFT_OK);
	struct raft_restore rs = {.hs = p.hs,
				  .entries = n ? log + p.skip : NULL,
				  .n_entries = p.n_entries,
				  .snapshot_index = p.snapshot_index,
				  .snapshot_term = p.snapshot_term,
				  .applied = p.applied};
	if (p.needs_config) {
		rs.snapshot_config = cfg;
		rs.snapshot_config_len = cfg_len;
	}
	struct raft_options o = {.id = 1,
				 .voters = three,
				 .n_voters = 3,
				 .election_ticks = 10,
				 .heartbeat_ticks = 1,
				 .seed = 1};
	struct raft *r;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	struct raft_status st;
	raft_status(r, &st);
	ck_assert_uint_eq(st.snapshot_index, p.snapshot_index);
	ck_assert_uint_eq(st.last_index, p.last);
	ck_assert_uint_eq(st.applied, p.applied);
	ck_assert_uint_eq(st.term, p.hs.term);
	raft_free(r);
}
END_TEST

Suite *recovery_plan_suite(void)
{
	Suite *s = suite_create("recovery_plan");
	TCase *tc = tcase_create("plan");
	int n = (int)(sizeof(cases) / sizeof(cases[0]));

	tcase_add_loop_test(tc, test_recovery_plan_table, 0, n);
	tcase_add_loop_test(tc, test_recovery_plan_starts_the_core, 0, n);
	suite_add_tcase(s, tc);
	return s;
}
