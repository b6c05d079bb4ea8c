/* test_config.c - membership changes (thesis §4.3): the CONFIG entry codec,
 * joint majorities, learners catching up, C_new after C_old,new, removing
 * the leader and configurations undone by truncation. */
#include <stdlib.h>
#include <string.h>

#include "core_quorum.h"
#include "on_sim.h"
#include "raft.h"
#include "suites.h"

#define ELECTION 10

/* The options of member @id of a cluster founded by @n voters 1..n (0: it
 * starts empty), as the simulated cluster starts it. */
static struct raft_options member_opts(raft_id id, const raft_id *voters,
				       size_t n)
{
	struct raft_options o = {
	    .id = id,
	    .voters = voters,
	    .n_voters = n,
	    .election_ticks = ELECTION,
	    .heartbeat_ticks = 1,
	    .seed = 77 + id,
	    .pre_vote = true,
	    .check_quorum = true,
	};
	return o;
}

/* Members 1..@n_voters found the cluster; the others up to @n start
 * empty, waiting to be added. */
static struct sim_cluster *new_cluster(unsigned n, unsigned n_voters)
{
	struct sim_config cfg = {
	    .n_nodes = n,
	    .n_voters = n_voters,
	    .seed = 77,
	    .election_ticks = ELECTION,
	    .heartbeat_ticks = 1,
	    .pre_vote = true,
	    .check_quorum = true,
	};

	return os_new(&cfg);
}

static struct raft_status st(struct sim_cluster *c, raft_id id)
{
	struct raft_status s;

	raft_status(os_core(c, id), &s);
	return s;
}

static int change(struct sim_cluster *c, raft_id leader, int type, raft_id id)
{
	struct raft_config_change ch = {
	    .type = (uint8_t)type, .id = id, .addr = "http://127.0.0.1:1"};

	return sim_change(c, leader, &ch, NULL);
}

/* A write proposed on @leader. */
static void put(struct sim_cluster *c, raft_id leader)
{
	ck_assert_int_eq(sim_propose(c, leader, 0, NULL), RAFT_OK);
}

static uint8_t flags_of(struct sim_cluster *c, raft_id at, raft_id id)
{
	const struct raft_membership *m = raft_membership(os_core(c, at));

	for (size_t i = 0; i < m->n; i++)
		if (m->members[i].id == id)
			return m->members[i].flags;
	return 0;
}

static size_t count_voters(struct sim_cluster *c, raft_id at)
{
	const struct raft_membership *m = raft_membership(os_core(c, at));
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += (m->members[i].flags & RAFT_MEMBER_VOTER) != 0;
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
	struct raft_quorum c;
	raft_id nw[] = {1, 2, 3, 4, 5};

	ck_assert_int_eq(raft__quorum_init(&c, nw, 5), 0);
	c.outgoing.n = 3;
	c.outgoing.ids[0] = 1;
	c.outgoing.ids[1] = 2;
	c.outgoing.ids[2] = 3;
	/* 1, 4, 5 are a majority of C_new but not of C_old. */
	memset(idx_table, 0, sizeof(idx_table));
	idx_table[1] = idx_table[4] = idx_table[5] = 7;
	ck_assert_uint_eq(raft__quorum_quorum_index(&c, idx_of, NULL), 0);
	/* 1, 2 are a majority of C_old but not of C_new. */
	memset(idx_table, 0, sizeof(idx_table));
	idx_table[1] = idx_table[2] = 7;
	ck_assert_uint_eq(raft__quorum_quorum_index(&c, idx_of, NULL), 0);
	idx_table[4] = 7;
	ck_assert_uint_eq(raft__quorum_quorum_index(&c, idx_of, NULL), 7);
	/* Votes likewise. */
	memset(vote_table, 0, sizeof(vote_table));
	vote_table[1] = vote_table[4] = vote_table[5] = 1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_PENDING);
	vote_table[2] = vote_table[3] = -1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_LOST);
	vote_table[2] = 1;
	ck_assert_int_eq(raft__quorum_vote_result(&c, vote_of, NULL),
			 RAFT_VOTE_WON);
}
END_TEST

/* Three founders, member 4 empty; 1 leads and adds 4 as a learner. */
static struct sim_cluster *with_learner(void)
{
	struct sim_cluster *c = new_cluster(4, 3);

	os_elect(c, 1);
	put(c, 1);
	put(c, 1);
	os_stabilize(c);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	os_stabilize(c);
	return c;
}

START_TEST(test_learner_catches_up_and_does_not_count)
{
	struct sim_cluster *c = with_learner();
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
	ck_assert_uint_gt(sim_config_reports(c, 4), 0);
	/* Its acknowledgement does not count: with 2 and 3 cut off,
	 * nothing commits although 4 has the entry. */
	os_isolate(c, 2, true);
	os_isolate(c, 3, true);
	commit = st(c, 1).commit;
	put(c, 1);
	os_stabilize(c);
	ck_assert_uint_eq(st(c, 4).last_index, st(c, 1).last_index);
	ck_assert_uint_eq(st(c, 1).commit, commit);
	/* Nor does it ever campaign, however long it hears nothing (its
	 * requests to cut links count too). */
	os_isolate(c, 1, true);
	for (int i = 0; i < 100; i++)
		sim_tick_node(c, 4);
	ck_assert_int_eq(sim_role(c, 4), RAFT_FOLLOWER);
	ck_assert_uint_eq(sim_vote_requests(c, 4), 0);
	os_free(c);
}
END_TEST

START_TEST(test_promote_joint_then_new)
{
	struct sim_cluster *c = with_learner();
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
	os_isolate(c, 3, true);
	os_isolate(c, 4, true);
	os_stabilize(c);
	ck_assert_uint_ge(st(c, 2).last_index, joint);
	ck_assert(st(c, 2).config_joint);
	ck_assert_uint_lt(st(c, 1).commit, joint);
	/* With 4 too it commits, and the leader appends C_new itself. */
	os_isolate(c, 4, false);
	/* The appends lost to 4 are sent again once found lost. */
	for (int i = 0; i < 30 && st(c, 1).commit < joint; i++)
		os_tick_all(c, 1);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	ck_assert_uint_ge(st(c, 1).commit, joint);
	ck_assert(!st(c, 1).config_joint);
	ck_assert_uint_gt(st(c, 1).config_index, joint);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 1, 2), RAFT_MEMBER_VOTER);
	/* C_new commits with 1, 2, 4 (3 of 4) and everyone gets it. */
	os_tick_all(c, 3);
	ck_assert_uint_ge(st(c, 1).commit, st(c, 1).config_index);
	os_isolate(c, 3, false);
	os_tick_all(c, 3);
	for (raft_id id = 1; id <= 4; id++) {
		ck_assert(!st(c, id).config_joint);
		ck_assert_uint_eq(count_voters(c, id), 4);
		ck_assert_uint_eq(st(c, id).member_flags, RAFT_MEMBER_VOTER);
	}
	/* The next change is allowed now. */
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 3), RAFT_OK);
	os_tick_all(c, 5);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert(st(c, 3).removed);
	os_free(c);
}
END_TEST

START_TEST(test_bad_changes_refused)
{
	struct sim_cluster *c = with_learner();

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
	os_stabilize(c);
	ck_assert(st(c, 4).removed);
	os_free(c);
}
END_TEST

START_TEST(test_removed_leader_steps_down)
{
	struct sim_cluster *c = new_cluster(3, 3);
	raft_term t;
	uint64_t requests;

	os_elect(c, 1);
	put(c, 1);
	os_stabilize(c);
	t = st(c, 1).term;
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 1), RAFT_OK);
	/* Thesis §4.2.2: the leader manages the cluster while joint even
	 * though it is not in C_new, and steps down once C_new commits;
	 * then the up-to-date member it tells campaigns at once. */
	os_tick_all(c, 5);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	ck_assert(st(c, 1).removed);
	ck_assert(sim_role(c, 2) == RAFT_LEADER ||
		  sim_role(c, 3) == RAFT_LEADER);
	ck_assert_uint_gt(st(c, 2).term, t);
	ck_assert_uint_eq(count_voters(c, 2), 2);
	/* The removed member never campaigns, and the others go on. */
	requests = sim_vote_requests(c, 1);
	for (int i = 0; i < 60; i++) {
		sim_tick_node(c, 1);
		ck_assert_uint_eq(sim_vote_requests(c, 1), requests);
		sim_drop(c, 0, 0, 0);
	}
	{
		raft_id l = sim_role(c, 2) == RAFT_LEADER ? 2 : 3;
		raft_index before = st(c, l).commit;

		put(c, l);
		os_tick_all(c, 3);
		ck_assert_uint_gt(st(c, l).commit, before);
		ck_assert_int_eq(sim_role(c, l), RAFT_LEADER);
	}
	os_free(c);
}
END_TEST

START_TEST(test_config_reverts_on_truncation)
{
	struct sim_cluster *c = new_cluster(4, 3);
	raft_index base;
	raft_id l = 0;
	uint64_t reports;

	os_elect(c, 1);
	put(c, 1);
	os_stabilize(c);
	base = st(c, 1).last_index;
	/* 1 appends a configuration that reaches nobody: it takes effect
	 * on 1 at once (thesis §4.1: "a server always uses the latest
	 * configuration in its log, regardless of whether the entry is
	 * committed"). */
	os_isolate(c, 1, true);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 1).config_index, base + 1);
	/* 2 and 3 elect a leader of a later term, whose log lacks it. */
	for (int i = 0; i < 200 && l == 0; i++) {
		os_tick_all(c, 1);
		if (sim_role(c, 2) == RAFT_LEADER)
			l = 2;
		if (sim_role(c, 3) == RAFT_LEADER)
			l = 3;
	}
	ck_assert_uint_ne(l, 0);
	put(c, l);
	os_tick_all(c, 2);
	/* Back in touch, 1 drops the conflicting suffix, and with it the
	 * configuration: it is undone. */
	reports = sim_config_reports(c, 1);
	os_isolate(c, 1, false);
	os_tick_all(c, 5);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	ck_assert_uint_eq(st(c, 1).last_index, st(c, l).last_index);
	ck_assert_uint_eq(flags_of(c, 1, 4), 0);
	ck_assert_uint_eq(st(c, 1).config_index, 0);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert_uint_gt(sim_config_reports(c, 1), reports);
	ck_assert_uint_eq(st(c, 4).last_index, 0);
	os_free(c);
}
END_TEST

START_TEST(test_stale_member_follows_unknown_leader)
{
	struct sim_cluster *c = new_cluster(4, 3);
	raft_index last;

	/* 3 misses the whole addition of 4, then 4 leads: thesis §4.1,
	 * servers "accept AppendEntries requests from a leader that is not
	 * part of [their] latest configuration". */
	os_elect(c, 1);
	os_isolate(c, 3, true);
	put(c, 1);
	os_tick_all(c, 3);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	os_tick_all(c, 5);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_PROMOTE, 4), RAFT_OK);
	os_tick_all(c, 15);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), 0);
	ck_assert_int_eq(sim_transfer(c, 1, 4), RAFT_OK);
	for (int i = 0; i < 30 && sim_role(c, 4) != RAFT_LEADER; i++)
		os_tick_all(c, 1);
	ck_assert_int_eq(sim_role(c, 4), RAFT_LEADER);
	put(c, 4);
	os_isolate(c, 3, false);
	os_tick_all(c, 30);
	last = st(c, 4).last_index;
	ck_assert_uint_eq(st(c, 3).last_index, last);
	ck_assert_uint_eq(st(c, 3).leader, 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), RAFT_MEMBER_VOTER);
	os_free(c);
}
END_TEST

START_TEST(test_compaction_keeps_config)
{
	struct sim_cluster *c = with_learner();
	raft_index applied = st(c, 1).applied;
	struct raft_membership m;

	/* The configuration entry is compacted away: the snapshot's
	 * configuration is still the one in effect. */
	ck_assert_int_eq(sim_compact(c, 1, 0), RAFT_OK);
	ck_assert_uint_eq(st(c, 1).snapshot_index, applied);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_int_eq(raft_membership_at(os_core(c, 1), applied, &m),
			 RAFT_OK);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_int_eq(raft_membership_at(os_core(c, 1), applied - 1, &m),
			 RAFT_EINVAL);
	os_free(c);
}
END_TEST

START_TEST(test_restart_restores_config)
{
	static const raft_id voters[] = {1, 2, 3};
	struct sim_cluster *c = with_learner();
	struct raft_options o = member_opts(2, voters, 3);
	struct raft_hard_state hs;
	raft_index last;

	/* Founding voters from the options, the learner from the log: a
	 * restart from the stored hard state and log. */
	sim_crash(c, 2);
	sim_restart(c, 2);
	os_assert_safe(c);
	hs.term = sim_term(c, 2);
	hs.vote = sim_vote(c, 2);
	hs.commit = st(c, 2).commit;
	last = sim_last_index(c, 2);
	ck_assert_uint_eq(flags_of(c, 2, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 2).config_index, st(c, 1).config_index);
	/* A snapshot's configuration counts when the log has none. */
	{
		struct raft_membership m;
		uint8_t buf[RAFT_MEMBERSHIP_MAX_BYTES];
		size_t len;
		struct raft_restore snap = {.hs = hs,
					    .snapshot_index = last,
					    .snapshot_term =
						sim_log_term(c, 2, last),
					    .applied = last};
		struct raft *r;

		ck_assert_int_eq(
		    raft_membership_at(os_core(c, 1), st(c, 1).last_index, &m),
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
	os_free(c);
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
