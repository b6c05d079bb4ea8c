/* test_check.c - the invariant check of struct raft (core_check.h) names
 * what a deliberately broken struct violates, and the public entry points
 * abort on it; raft_restore_commit(), the recovered commit index. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core_check.h"
#include "core_config.h"
#include "raft.h"

static const raft_id three[] = {1, 2, 3};

static void drain(struct raft *r)
{
	struct raft_ready rd;

	while (raft_has_ready(r)) {
		raft_ready(r, &rd);
		if (rd.n_entries > 0)
			raft_persisted(r, rd.entries[rd.n_entries - 1].index,
				       rd.entries[rd.n_entries - 1].term);
		raft_advance(r, &rd);
	}
}

/* Member 1 of {1, 2, 3}, elected with member 2's vote; a proposal and a
 * read are under way and its messages not yet taken. */
static struct raft *leader(void)
{
	struct raft_options o = {.id = 1,
				 .voters = three,
				 .n_voters = 3,
				 .election_ticks = 10,
				 .heartbeat_ticks = 2,
				 .seed = 7};
	struct raft *r;
	struct raft_msg vote = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1};

	ck_assert_int_eq(raft_new(&o, NULL, &r), RAFT_OK);
	while (raft_role(r) != RAFT_CANDIDATE)
		raft_tick(r);
	drain(r);
	vote.term = r->term;
	ck_assert_int_eq(raft_step(r, &vote), RAFT_OK);
	ck_assert_int_eq(raft_role(r), RAFT_LEADER);
	drain(r);
	ck_assert_int_eq(raft_propose(r, "x", 1, NULL), RAFT_OK);
	ck_assert_int_eq(raft_read_index(r, 42), RAFT_OK);
	raft_tick(r);
	raft_tick(r); /* a heartbeat round: messages in the outbox */
	return r;
}

/* Whether the first violation reported starts with @name. */
static bool names(const struct raft *r, const char *name)
{
	const char *v = raft__check_violation(r);

	return v != NULL && strncmp(v, name, strlen(name)) == 0;
}

START_TEST(test_sound_core_passes)
{
	struct raft *r = leader();

	ck_assert_ptr_null(raft__check_violation(r));
	drain(r);
	ck_assert_ptr_null(raft__check_violation(r));
	/* The tests link the core with every check on. */
	ck_assert(raft__check_full());
	raft_free(r);
}
END_TEST

/* Each row: break one field, expect its invariant named, restore. */
#define BREAK(field, value, name)                                              \
	do {                                                                   \
		__typeof__(field) saved_ = (field);                            \
		(field) = (value);                                             \
		ck_assert_msg(names(r, name), "%s: got %s", name,              \
			      raft__check_violation(r));                       \
		(field) = saved_;                                              \
		ck_assert_ptr_null(raft__check_violation(r));                  \
	} while (0)

START_TEST(test_terms_roles_named)
{
	struct raft *r = leader();

	BREAK(r->term, RAFT_TERM_MAX + 1, "term within the number space");
	BREAK(r->role, (enum raft_role)7, "role is a known role");
	BREAK(r->leader, 0, "leader is self exactly when leading");
	BREAK(r->vote, 2, "candidate voted for itself");
	BREAK(r->prev_hs.term, r->term + 1,
	      "term not below the handed-out hard state");
	BREAK(r->heartbeat_elapsed, r->opts.heartbeat_ticks,
	      "timers within their bounds");
	BREAK(r->randomized_timeout, 2 * r->opts.election_ticks,
	      "timers within their bounds");
	BREAK(r->transferee, r->id, "transfer only on a leader");
	raft_free(r);
}
END_TEST

START_TEST(test_log_named)
{
	struct raft *r = leader();
	raft_index last = raft__log_last_index(&r->log);

	BREAK(r->log.commit, last + 1, "commit <= last index");
	BREAK(r->applied, r->log.commit + 1, "applied <= commit");
	BREAK(r->log.persisted, r->log.stable_handed + 1,
	      "persisted <= handed to storage <= last index");
	BREAK(r->log.stable_handed, last + 1,
	      "persisted <= handed to storage <= last index");
	BREAK(r->log.applied_handed, r->log.commit + 1,
	      "applied handed out: committed and durable");
	BREAK(r->log.ents[0].index, 5, "log continues the snapshot");
	BREAK(r->log.snap_term, 1, "snapshot index and term together");
	BREAK(r->log.ents[r->log.n - 1].term, r->term + 1,
	      "log not of a later term");
	BREAK(r->snap_pending, true, "accepted snapshot in the log");
	raft_free(r);
}
END_TEST

START_TEST(test_progress_named)
{
	struct raft *r = leader();
	struct raft_progress *pr = &r->prs[1];

	BREAK(pr->match, pr->next, "match < next for each peer");
	BREAK(pr->infl.count, pr->infl.cap + 1,
	      "inflight windows within bounds");
	BREAK(pr->id, r->prs[0].id, "progress ids distinct");
	/* A leader's peer cannot have acknowledged past its log. */
	pr->next = raft__log_last_index(&r->log) + 5;
	BREAK(pr->match, raft__log_last_index(&r->log) + 1,
	      "leader: match <= last index");
	raft_free(r);
}
END_TEST

START_TEST(test_config_named)
{
	struct raft *r = leader();

	BREAK(r->configs->cur.n, RAFT_MAX_MEMBERS + 1,
	      "configuration within RAFT_MAX_MEMBERS");
	BREAK(r->quorum.voters.n, 2, "quorum view follows the configuration");
	BREAK(r->quorum.voters.ids[1], 9,
	      "quorum members flagged in the configuration");
	BREAK(r->configs->cur.index, raft__log_last_index(&r->log) + 1,
	      "configuration comes from the log");
	raft_free(r);
}
END_TEST

START_TEST(test_reads_and_outbox_named)
{
	struct raft *r = leader();
	struct raft_msgq *q = r->msgs.n > 0 ? &r->msgs : &r->msgs_after;

	ck_assert_uint_gt(r->reads.n, 0);
	ck_assert_uint_gt(q->n, 0);
	BREAK(r->reads_unrounded, r->reads_unrounded + 1,
	      "unrounded reads counted");
	BREAK(r->reads.v[0].tick, r->ticks + 1, "read queue in arrival order");
	BREAK(r->reads.v[0].round, r->read_seq - r->opts.max_read_rounds,
	      "read rounds within max_read_rounds");
	BREAK(r->prs[1].read_acked, r->read_seq + 1,
	      "read acks only of rounds started");
	BREAK(q->v[0].to, r->id, "outbox messages from this member");
	BREAK(q->v[0].from, 3, "outbox messages from this member");
	raft_free(r);
}
END_TEST

/* Every public entry point that changes the core runs the check. */
START_TEST(test_entry_point_aborts)
{
	struct raft *r = leader();

	r->log.commit = raft__log_last_index(&r->log) + 1;
	raft_tick(r); /* aborts */
}
END_TEST

/* raft_restore_commit(): clamped to the log, raised to what was applied
 * or is in the snapshot; raft_new() starts from exactly that. */
START_TEST(test_restore_commit)
{
	struct raft_entry ents[3];
	struct raft_restore rs = {.hs = {.term = 2, .commit = 9},
				  .entries = ents,
				  .n_entries = 3,
				  .snapshot_index = 4,
				  .snapshot_term = 1};
	struct raft_options o = {.id = 1,
				 .voters = three,
				 .n_voters = 3,
				 .election_ticks = 10,
				 .heartbeat_ticks = 2};
	struct raft_status st;
	struct raft *r;

	memset(ents, 0, sizeof(ents));
	for (size_t i = 0; i < 3; i++) {
		ents[i].index = 5 + i;
		ents[i].term = 2;
	}
	/* Past the log (last 7): the last index. */
	ck_assert_uint_eq(raft_restore_commit(&rs), 7);
	rs.hs.commit = 6;
	ck_assert_uint_eq(raft_restore_commit(&rs), 6);
	/* Below the applied index: the applied index. */
	rs.applied = 7;
	ck_assert_uint_eq(raft_restore_commit(&rs), 7);
	/* Below the snapshot: the snapshot index. */
	rs.applied = 0;
	rs.hs.commit = 2;
	ck_assert_uint_eq(raft_restore_commit(&rs), 4);
	/* No log at all. */
	ck_assert_uint_eq(
	    raft_restore_commit(&(struct raft_restore){.hs = {.commit = 3}}),
	    0);
	/* An entry count past the number space saturates. */
	rs.n_entries = SIZE_MAX;
	rs.hs.commit = RAFT_INDEX_MAX;
	ck_assert_uint_eq(raft_restore_commit(&rs), RAFT_INDEX_MAX);
	rs.n_entries = 3;

	rs.hs.commit = 9;
	rs.applied = 5;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	raft_status(r, &st);
	ck_assert_uint_eq(st.commit, raft_restore_commit(&rs));
	raft_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("check");
	TCase *tc = tcase_create("invariants");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_sound_core_passes);
	tcase_add_test(tc, test_terms_roles_named);
	tcase_add_test(tc, test_log_named);
	tcase_add_test(tc, test_progress_named);
	tcase_add_test(tc, test_config_named);
	tcase_add_test(tc, test_reads_and_outbox_named);
	tcase_add_test_raise_signal(tc, test_entry_point_aborts, SIGABRT);
	tcase_add_test(tc, test_restore_commit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
