/* test_config.c - membership changes (thesis §4.3): the CONFIG entry codec,
 * joint majorities, learners catching up, C_new after C_old,new, removing
 * the leader and configurations undone by truncation. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "core_quorum.h"
#include "raft.h"
#include "suites.h"

/* Members 1..@n_voters found the cluster; the others up to @n start
 * empty, waiting to be added. */
static struct cl *new_cluster(size_t n, size_t n_voters)
{
	static const struct raft_options base = {
	    .election_ticks = 10,
	    .heartbeat_ticks = 1,
	    .seed = 77,
	    .pre_vote = true,
	    .check_quorum = true,
	};
	struct cl *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	cl_init_voters(c, n, n_voters, &base);
	return c;
}

static void free_cluster(struct cl *c)
{
	cl_free(c);
	free(c);
}

/* Ticks @id alone until it campaigns, then stabilizes: it leads. */
static void elect(struct cl *c, raft_id id)
{
	ck_assert_int_eq(cl_elect(c, id), RAFT_LEADER);
}

static struct raft_status st(struct cl *c, raft_id id)
{
	struct raft_status s;

	raft_status(cl_r(c, id), &s);
	return s;
}

static int change(struct cl *c, raft_id leader, int type, raft_id id)
{
	struct raft_config_change ch = {
	    .type = (uint8_t)type, .id = id, .addr = "http://127.0.0.1:1"};

	return raft_propose_config(cl_r(c, leader), &ch, NULL);
}

static void put(struct cl *c, raft_id leader, const char *v)
{
	ck_assert_int_eq(raft_propose(cl_r(c, leader), v, strlen(v), NULL),
			 RAFT_OK);
}

static uint8_t flags_of(struct cl *c, raft_id at, raft_id id)
{
	const struct raft_membership *m = raft_membership(cl_r(c, at));

	for (size_t i = 0; i < m->n; i++)
		if (m->members[i].id == id)
			return m->members[i].flags;
	return 0;
}

static size_t count_voters(struct cl *c, raft_id at)
{
	const struct raft_membership *m = raft_membership(cl_r(c, at));
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += (m->members[i].flags & RAFT_MEMBER_VOTER) != 0;
	return n;
}

/* Drops every queued message; returns how many of @type from @from. */
static size_t drop_all_counting(struct cl *c, int type, raft_id from)
{
	size_t n = cl_count(c, type, from, 0);

	cl_drop(c, 0, 0, 0);
	return n;
}

START_TEST(test_codec_roundtrip_and_rejects)
{
	struct raft_membership m, d;
	uint8_t buf[RAFT_MEMBERSHIP_MAX_BYTES];
	size_t len;

	memset(&m, 0, sizeof(m));
	m.joint = true;
	m.n = 3;
	m.members[0].id = 1;
	m.members[0].flags = RAFT_MEMBER_VOTER | RAFT_MEMBER_OUTGOING;
	strcpy(m.members[0].addr, "http://127.0.0.11:7001");
	m.members[1].id = 2;
	m.members[1].flags = RAFT_MEMBER_OUTGOING;
	m.members[2].id = 9;
	m.members[2].flags = RAFT_MEMBER_LEARNER;
	strcpy(m.members[2].addr, "x");
	ck_assert_int_eq(raft_membership_encode(&m, buf, sizeof(buf), &len),
			 RAFT_OK);
	ck_assert_uint_eq(len, 8 + 3 * 10 + 22 + 1);
	ck_assert_uint_eq(buf[0], 1); /* version */
	ck_assert_int_eq(raft_membership_decode(buf, len, &d), RAFT_OK);
	ck_assert_int_eq(memcmp(&m, &d, sizeof(m)), 0);
	/* Truncated, trailing bytes, another version, reserved bits. */
	ck_assert_int_eq(raft_membership_decode(buf, len - 1, &d), RAFT_EINVAL);
	ck_assert_int_eq(raft_membership_decode(buf, len + 1, &d), RAFT_EINVAL);
	buf[0] = 2;
	ck_assert_int_eq(raft_membership_decode(buf, len, &d), RAFT_EINVAL);
	buf[0] = 1;
	buf[1] |= 2;
	ck_assert_int_eq(raft_membership_decode(buf, len, &d), RAFT_EINVAL);
	buf[1] &= 1;
	/* OUTGOING outside a joint configuration. */
	buf[1] = 0;
	ck_assert_int_eq(raft_membership_decode(buf, len, &d), RAFT_EINVAL);
	/* Invalid configurations are not encoded: a learner that votes, a
	 * repeated id, no voter at all, a too small buffer. */
	m.members[2].flags = RAFT_MEMBER_LEARNER | RAFT_MEMBER_VOTER;
	ck_assert_int_eq(raft_membership_encode(&m, buf, sizeof(buf), &len),
			 RAFT_EINVAL);
	m.members[2].flags = RAFT_MEMBER_LEARNER;
	m.members[2].id = 1;
	ck_assert_int_eq(raft_membership_encode(&m, buf, sizeof(buf), &len),
			 RAFT_EINVAL);
	m.members[2].id = 9;
	m.joint = false;
	m.n = 1;
	m.members[0].flags = RAFT_MEMBER_LEARNER;
	ck_assert_int_eq(raft_membership_encode(&m, buf, sizeof(buf), &len),
			 RAFT_EINVAL);
	m.members[0].flags = RAFT_MEMBER_VOTER;
	ck_assert_int_eq(raft_membership_encode(&m, buf, 12, &len),
			 RAFT_EINVAL);
}
END_TEST

static raft_index idx_table[8];
static raft_index idx_of(void *arg, raft_id id)
{
	(void)arg;
	return idx_table[id];
}
static int vote_table[8];
static int vote_of(void *arg, raft_id id)
{
	(void)arg;
	return vote_table[id];
}

START_TEST(test_joint_needs_majority_of_old_and_new)
{
	/* Thesis §4.3: "Agreement (for elections and entry commitment)
	 * requires separate majorities from both the old and new
	 * configurations." C_old = {1,2,3}, C_new = {1,2,3,4,5}. */
	struct raft_config c;
	raft_id nw[] = {1, 2, 3, 4, 5};

	ck_assert_int_eq(raft_config_init(&c, nw, 5), 0);
	c.outgoing.n = 3;
	c.outgoing.ids[0] = 1;
	c.outgoing.ids[1] = 2;
	c.outgoing.ids[2] = 3;
	/* 1, 4, 5 are a majority of C_new but not of C_old. */
	memset(idx_table, 0, sizeof(idx_table));
	idx_table[1] = idx_table[4] = idx_table[5] = 7;
	ck_assert_uint_eq(raft_config_quorum_index(&c, idx_of, NULL), 0);
	/* 1, 2 are a majority of C_old but not of C_new. */
	memset(idx_table, 0, sizeof(idx_table));
	idx_table[1] = idx_table[2] = 7;
	ck_assert_uint_eq(raft_config_quorum_index(&c, idx_of, NULL), 0);
	idx_table[4] = 7;
	ck_assert_uint_eq(raft_config_quorum_index(&c, idx_of, NULL), 7);
	/* Votes likewise. */
	memset(vote_table, 0, sizeof(vote_table));
	vote_table[1] = vote_table[4] = vote_table[5] = 1;
	ck_assert_int_eq(raft_config_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_PENDING);
	vote_table[2] = vote_table[3] = -1;
	ck_assert_int_eq(raft_config_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_LOST);
	vote_table[2] = 1;
	ck_assert_int_eq(raft_config_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_WON);
}
END_TEST

/* Three founders, member 4 empty; 1 leads and adds 4 as a learner. */
static struct cl *with_learner(void)
{
	struct cl *c = new_cluster(4, 3);

	elect(c, 1);
	put(c, 1, "a");
	put(c, 1, "b");
	cl_stabilize(c);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	cl_stabilize(c);
	return c;
}

START_TEST(test_learner_catches_up_and_does_not_count)
{
	struct cl *c = with_learner();
	struct raft_status s1 = st(c, 1), s4 = st(c, 4);
	raft_index commit;

	/* The learner received the whole log, the configuration first
	 * of all, and knows it is a learner. */
	ck_assert_uint_eq(s4.last_index, s1.last_index);
	ck_assert_uint_eq(s4.commit, s1.commit);
	ck_assert_uint_eq(s4.member_flags, RAFT_MEMBER_LEARNER);
	ck_assert(!s4.removed);
	ck_assert_uint_eq(s1.config_index, s1.last_index);
	ck_assert_uint_eq(flags_of(c, 2, 4), RAFT_MEMBER_LEARNER);
	ck_assert(cl_node(c, 4)->cfg_seen);
	/* Its acknowledgement does not count: with 2 and 3 cut off,
	 * nothing commits although 4 has the entry. */
	cl_isolate(c, 2, true);
	cl_isolate(c, 3, true);
	commit = st(c, 1).commit;
	put(c, 1, "c");
	cl_stabilize(c);
	ck_assert_uint_eq(st(c, 4).last_index, st(c, 1).last_index);
	ck_assert_uint_eq(st(c, 1).commit, commit);
	/* Nor does it ever campaign, however long it hears nothing. */
	cl_isolate(c, 1, true);
	for (int i = 0; i < 100; i++) {
		raft_tick(cl_r(c, 4));
		cl_ready(c, 4);
	}
	ck_assert_int_eq(raft_role(cl_r(c, 4)), RAFT_FOLLOWER);
	ck_assert_uint_eq(drop_all_counting(c, RAFT_MSG_PREVOTE, 4), 0);
	free_cluster(c);
}
END_TEST

START_TEST(test_promote_joint_then_new)
{
	struct cl *c = with_learner();
	raft_index joint;

	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_PROMOTE, 4), RAFT_OK);
	joint = st(c, 1).last_index;
	/* Takes effect when appended, not when committed. */
	ck_assert(st(c, 1).config_joint);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_VOTER);
	ck_assert_uint_eq(flags_of(c, 1, 2),
			  RAFT_MEMBER_VOTER | RAFT_MEMBER_OUTGOING);
	/* One change at a time. */
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 3), RAFT_ECONFIG);
	/* 1 and 2 are a majority of C_old = {1,2,3} but not of
	 * C_new = {1,2,3,4}: the joint entry is not committed. */
	cl_isolate(c, 3, true);
	cl_isolate(c, 4, true);
	cl_ready(c, 1);
	cl_stabilize(c);
	ck_assert_uint_ge(st(c, 2).last_index, joint);
	ck_assert(st(c, 2).config_joint);
	ck_assert_uint_lt(st(c, 1).commit, joint);
	/* With 4 too it commits, and the leader appends C_new itself. */
	cl_isolate(c, 4, false);
	/* The appends lost to 4 are sent again once found lost. */
	for (int i = 0; i < 30 && st(c, 1).commit < joint; i++)
		cl_tick_all(c, 1);
	ck_assert_int_eq(raft_role(cl_r(c, 1)), RAFT_LEADER);
	ck_assert_uint_ge(st(c, 1).commit, joint);
	ck_assert(!st(c, 1).config_joint);
	ck_assert_uint_gt(st(c, 1).config_index, joint);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 1, 2), RAFT_MEMBER_VOTER);
	/* C_new commits with 1, 2, 4 (3 of 4) and everyone gets it. */
	cl_tick_all(c, 3);
	ck_assert_uint_ge(st(c, 1).commit, st(c, 1).config_index);
	cl_isolate(c, 3, false);
	cl_tick_all(c, 3);
	for (raft_id id = 1; id <= 4; id++) {
		ck_assert(!st(c, id).config_joint);
		ck_assert_uint_eq(count_voters(c, id), 4);
		ck_assert_uint_eq(st(c, id).member_flags, RAFT_MEMBER_VOTER);
	}
	/* The next change is allowed now. */
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 3), RAFT_OK);
	cl_tick_all(c, 5);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert(st(c, 3).removed);
	free_cluster(c);
}
END_TEST

START_TEST(test_bad_changes_refused)
{
	struct cl *c = with_learner();

	ck_assert_int_eq(change(c, 2, RAFT_CHANGE_PROMOTE, 4), RAFT_ENOTLEADER);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 2), RAFT_EINVAL);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_EINVAL);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_PROMOTE, 2), RAFT_EINVAL);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 5), RAFT_EINVAL);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 0), RAFT_EINVAL);
	ck_assert_int_eq(change(c, 1, 99, 5), RAFT_EINVAL);
	/* Removing a learner is a single step. */
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 4), RAFT_OK);
	ck_assert(!st(c, 1).config_joint);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 5),
			 RAFT_ECONFIG);
	cl_stabilize(c);
	ck_assert(st(c, 4).removed);
	free_cluster(c);
}
END_TEST

START_TEST(test_removed_leader_steps_down)
{
	struct cl *c = new_cluster(3, 3);
	raft_term t;

	elect(c, 1);
	put(c, 1, "a");
	cl_stabilize(c);
	t = st(c, 1).term;
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 1), RAFT_OK);
	/* Thesis §4.2.2: the leader manages the cluster while joint even
	 * though it is not in C_new, and steps down once C_new commits;
	 * then the up-to-date member it tells campaigns at once. */
	cl_tick_all(c, 5);
	ck_assert_int_eq(raft_role(cl_r(c, 1)), RAFT_FOLLOWER);
	ck_assert(st(c, 1).removed);
	ck_assert(raft_role(cl_r(c, 2)) == RAFT_LEADER ||
		  raft_role(cl_r(c, 3)) == RAFT_LEADER);
	ck_assert_uint_gt(st(c, 2).term, t);
	ck_assert_uint_eq(count_voters(c, 2), 2);
	/* The removed member never campaigns, and the others go on. */
	for (int i = 0; i < 60; i++) {
		raft_tick(cl_r(c, 1));
		cl_ready(c, 1);
		ck_assert_uint_eq(drop_all_counting(c, RAFT_MSG_PREVOTE, 1) +
				      drop_all_counting(c, RAFT_MSG_VOTE, 1),
				  0);
	}
	{
		raft_id l = raft_role(cl_r(c, 2)) == RAFT_LEADER ? 2 : 3;
		raft_index before = st(c, l).commit;

		put(c, l, "b");
		cl_tick_all(c, 3);
		ck_assert_uint_gt(st(c, l).commit, before);
		ck_assert_int_eq(raft_role(cl_r(c, l)), RAFT_LEADER);
	}
	free_cluster(c);
}
END_TEST

START_TEST(test_config_reverts_on_truncation)
{
	struct cl *c = new_cluster(4, 3);
	raft_index base;
	raft_id l = 0;

	elect(c, 1);
	put(c, 1, "a");
	cl_stabilize(c);
	base = st(c, 1).last_index;
	/* 1 appends a configuration that reaches nobody: it takes effect
	 * on 1 at once (thesis §4.1: "a server always uses the latest
	 * configuration in its log, regardless of whether the entry is
	 * committed"). */
	cl_isolate(c, 1, true);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	cl_ready(c, 1);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 1).config_index, base + 1);
	/* 2 and 3 elect a leader of a later term, whose log lacks it. */
	for (int i = 0; i < 200 && l == 0; i++) {
		cl_tick_all(c, 1);
		if (raft_role(cl_r(c, 2)) == RAFT_LEADER)
			l = 2;
		if (raft_role(cl_r(c, 3)) == RAFT_LEADER)
			l = 3;
	}
	ck_assert_uint_ne(l, 0);
	put(c, l, "b");
	cl_tick_all(c, 2);
	/* Back in touch, 1 drops the conflicting suffix, and with it the
	 * configuration: it is undone. */
	cl_node(c, 1)->cfg_seen = false;
	cl_isolate(c, 1, false);
	cl_tick_all(c, 5);
	ck_assert_int_eq(raft_role(cl_r(c, 1)), RAFT_FOLLOWER);
	ck_assert_uint_eq(st(c, 1).last_index, st(c, l).last_index);
	ck_assert_uint_eq(flags_of(c, 1, 4), 0);
	ck_assert_uint_eq(st(c, 1).config_index, 0);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert(cl_node(c, 1)->cfg_seen);
	ck_assert_uint_eq(st(c, 4).last_index, 0);
	free_cluster(c);
}
END_TEST

START_TEST(test_stale_member_follows_unknown_leader)
{
	struct cl *c = new_cluster(4, 3);
	raft_index last;

	/* 3 misses the whole addition of 4, then 4 leads: thesis §4.1,
	 * servers "accept AppendEntries requests from a leader that is not
	 * part of [their] latest configuration". */
	elect(c, 1);
	cl_isolate(c, 3, true);
	put(c, 1, "a");
	cl_tick_all(c, 3);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	cl_tick_all(c, 5);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_PROMOTE, 4), RAFT_OK);
	cl_tick_all(c, 15);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), 0);
	ck_assert_int_eq(raft_transfer_leadership(cl_r(c, 1), 4), RAFT_OK);
	for (int i = 0; i < 30 && raft_role(cl_r(c, 4)) != RAFT_LEADER; i++)
		cl_tick_all(c, 1);
	ck_assert_int_eq(raft_role(cl_r(c, 4)), RAFT_LEADER);
	put(c, 4, "x");
	cl_isolate(c, 3, false);
	cl_tick_all(c, 30);
	last = st(c, 4).last_index;
	ck_assert_uint_eq(st(c, 3).last_index, last);
	ck_assert_uint_eq(st(c, 3).leader, 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), RAFT_MEMBER_VOTER);
	free_cluster(c);
}
END_TEST

START_TEST(test_compaction_keeps_config)
{
	struct cl *c = with_learner();
	raft_index applied = st(c, 1).applied;
	struct raft_membership m;

	/* The configuration entry is compacted away: the snapshot's
	 * configuration is still the one in effect. */
	ck_assert_int_eq(raft_compact(cl_r(c, 1), applied), RAFT_OK);
	ck_assert_uint_eq(st(c, 1).snapshot_index, applied);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_int_eq(raft_membership_at(cl_r(c, 1), applied, &m), RAFT_OK);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_int_eq(raft_membership_at(cl_r(c, 1), applied - 1, &m),
			 RAFT_EINVAL);
	free_cluster(c);
}
END_TEST

START_TEST(test_restart_restores_config)
{
	struct cl *c = with_learner();
	struct raft_options o = cl_options(c, 2);
	struct raft_restore rs = {.hs = cl_node(c, 2)->hs};

	/* Founding voters from the options, the learner from the log. */
	rs.entries = cl_node(c, 2)->log;
	rs.n_entries = cl_node(c, 2)->n_log;
	raft_free(cl_r(c, 2));
	ck_assert_int_eq(raft_new(&o, &rs, &cl_node(c, 2)->r), RAFT_OK);
	ck_assert_uint_eq(flags_of(c, 2, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 2).config_index, st(c, 1).config_index);
	/* A snapshot's configuration counts when the log has none. */
	{
		struct raft_membership m;
		uint8_t buf[RAFT_MEMBERSHIP_MAX_BYTES];
		size_t len;
		struct raft_restore snap = {
		    .hs = cl_node(c, 2)->hs,
		    .snapshot_index = cl_node(c, 2)->n_log,
		    .snapshot_term =
			cl_node(c, 2)->log[cl_node(c, 2)->n_log - 1].term,
		    .applied = cl_node(c, 2)->n_log};
		struct raft *r;

		ck_assert_int_eq(
		    raft_membership_at(cl_r(c, 1), st(c, 1).last_index, &m),
		    RAFT_OK);
		ck_assert_int_eq(
		    raft_membership_encode(&m, buf, sizeof(buf), &len),
		    RAFT_OK);
		snap.snapshot_config = buf;
		snap.snapshot_config_len = len;
		ck_assert_int_eq(raft_new(&o, &snap, &r), RAFT_OK);
		ck_assert_uint_eq(raft_membership(r)->n, 4);
		raft_free(r);
		snap.snapshot_config_len = len - 1;
		ck_assert_int_eq(raft_new(&o, &snap, &r), RAFT_EINVAL);
	}
	free_cluster(c);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_codec_roundtrip_and_rejects);
	tcase_add_test(tc, test_joint_needs_majority_of_old_and_new);
	tcase_add_test(tc, test_learner_catches_up_and_does_not_count);
	tcase_add_test(tc, test_promote_joint_then_new);
	tcase_add_test(tc, test_bad_changes_refused);
	tcase_add_test(tc, test_removed_leader_steps_down);
	tcase_add_test(tc, test_config_reverts_on_truncation);
	tcase_add_test(tc, test_stale_member_follows_unknown_leader);
	tcase_add_test(tc, test_compaction_keeps_config);
	tcase_add_test(tc, test_restart_restores_config);
	suite_add_tcase(s, tc);
	return s;
}
