/* test_config.c - membership changes (thesis §4.3): the CONFIG entry codec,
 * joint majorities, learners catching up, C_new after C_old,new, removing
 * the leader and configurations undone by truncation. */
#include <stdlib.h>
#include <string.h>

#include "core_quorum.h"
#include "raft.h"
#include "suites.h"

/* A small hand-driven cluster of its own: configuration entries are larger
 * than cluster.h's state machine slots, and members here start with
 * different founding configurations (a new member has none). */
#define MC_MAX 5
#define MC_LOG 512
#define MC_Q   4096

struct mc {
	size_t n;
	struct raft *r[MC_MAX + 1];
	struct raft_entry log[MC_MAX + 1][MC_LOG]; /* log[id][i]: index i+1 */
	size_t n_log[MC_MAX + 1];
	struct raft_hard_state hs[MC_MAX + 1];
	bool cut[MC_MAX + 1][MC_MAX + 1]; /* messages from->to dropped */
	bool cfg_seen[MC_MAX + 1];	  /* a ready reported a config */
	struct raft_msg q[MC_Q];
	size_t n_q;
	raft_id voters[MC_MAX];
	size_t n_voters;
};

static struct raft_options mc_opts(raft_id id, const raft_id *voters, size_t n)
{
	struct raft_options o = {
	    .id = id,
	    .voters = voters,
	    .n_voters = n,
	    .election_ticks = 10,
	    .heartbeat_ticks = 1,
	    .seed = 77 + id,
	    .pre_vote = true,
	    .check_quorum = true,
	};
	return o;
}

/* Members 1..@n_voters found the cluster; the others up to @n start
 * empty, waiting to be added. */
static struct mc *mc_new(size_t n, size_t n_voters)
{
	struct mc *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	c->n = n;
	for (size_t i = 0; i < n_voters; i++)
		c->voters[i] = i + 1;
	c->n_voters = n_voters;
	for (raft_id id = 1; id <= n; id++) {
		struct raft_options o =
		    mc_opts(id, c->voters, id <= n_voters ? n_voters : 0);

		ck_assert_int_eq(raft_new(&o, NULL, &c->r[id]), RAFT_OK);
	}
	return c;
}

static void msg_free(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
}

static void mc_free(struct mc *c)
{
	for (raft_id id = 1; id <= c->n; id++) {
		raft_free(c->r[id]);
		for (size_t i = 0; i < c->n_log[id]; i++)
			free(c->log[id][i].data);
	}
	for (size_t i = 0; i < c->n_q; i++)
		msg_free(&c->q[i]);
	free(c);
}

static void copy_entry(struct raft_entry *d, const struct raft_entry *e)
{
	*d = *e;
	d->data = NULL;
	if (e->len > 0) {
		d->data = malloc(e->len);
		ck_assert_ptr_nonnull(d->data);
		memcpy(d->data, e->data, e->len);
	}
}

static void enqueue(struct mc *c, const struct raft_msg *m)
{
	struct raft_msg *d;

	ck_assert_uint_lt(c->n_q, MC_Q);
	d = &c->q[c->n_q++];
	*d = *m;
	d->entries = NULL;
	if (m->n_entries > 0) {
		d->entries = calloc(m->n_entries, sizeof(*d->entries));
		ck_assert_ptr_nonnull(d->entries);
		for (size_t i = 0; i < m->n_entries; i++)
			copy_entry(&d->entries[i], &m->entries[i]);
	}
}

/* Carries out every ready of @id: storage is durable at once. */
static void mc_ready(struct mc *c, raft_id id)
{
	struct raft *r = c->r[id];

	while (raft_has_ready(r)) {
		struct raft_ready rd;

		raft_ready(r, &rd);
		if (rd.n_entries > 0) {
			size_t at = rd.entries[0].index - 1;

			ck_assert_uint_le(at, c->n_log[id]);
			for (size_t i = at; i < c->n_log[id]; i++)
				free(c->log[id][i].data);
			c->n_log[id] = at;
			for (size_t i = 0; i < rd.n_entries; i++) {
				ck_assert_uint_lt(c->n_log[id], MC_LOG);
				copy_entry(&c->log[id][c->n_log[id]++],
					   &rd.entries[i]);
			}
		}
		if (rd.hs_changed)
			c->hs[id] = rd.hs;
		if (rd.config_changed) {
			ck_assert_ptr_nonnull(rd.config);
			c->cfg_seen[id] = true;
		}
		for (size_t i = 0; i < rd.n_msgs; i++)
			enqueue(c, &rd.msgs[i]);
		for (size_t i = 0; i < rd.n_msgs_after_persist; i++)
			enqueue(c, &rd.msgs_after_persist[i]);
		raft_advance(r, &rd);
		if (rd.n_entries > 0)
			raft_persisted(r, rd.entries[rd.n_entries - 1].index,
				       rd.entries[rd.n_entries - 1].term);
		if (rd.n_committed > 0)
			raft_applied(r, rd.committed[rd.n_committed - 1].index);
	}
}

static void mc_ready_all(struct mc *c)
{
	for (raft_id id = 1; id <= c->n; id++)
		mc_ready(c, id);
}

/* Delivers the queued messages matching @type (0: any) from @from and to
 * @to (0: any); those over a cut link are dropped. Returns how many were
 * handled. */
static size_t mc_deliver(struct mc *c, int type, raft_id from, raft_id to)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_q;) {
		struct raft_msg m = c->q[i];

		if ((type != 0 && m.type != type) ||
		    (from != 0 && m.from != from) || (to != 0 && m.to != to)) {
			i++;
			continue;
		}
		memmove(&c->q[i], &c->q[i + 1],
			(c->n_q - i - 1) * sizeof(c->q[0]));
		c->n_q--;
		if (m.to <= c->n && !c->cut[m.from][m.to])
			raft_step(c->r[m.to], &m);
		msg_free(&m);
		n++;
	}
	return n;
}

static void mc_stabilize(struct mc *c)
{
	for (int round = 0; round < 1000; round++) {
		mc_ready_all(c);
		if (c->n_q == 0)
			return;
		mc_deliver(c, 0, 0, 0);
	}
	ck_abort_msg("no quiescence");
}

/* Ticks every member once, then stabilizes. */
static void mc_tick_all(struct mc *c, int times)
{
	for (int i = 0; i < times; i++) {
		for (raft_id id = 1; id <= c->n; id++)
			raft_tick(c->r[id]);
		mc_stabilize(c);
	}
}

static void mc_isolate(struct mc *c, raft_id id, bool on)
{
	for (raft_id o = 1; o <= c->n; o++) {
		c->cut[id][o] = on;
		c->cut[o][id] = on;
	}
}

/* Ticks @id alone until it campaigns, then stabilizes. */
static void mc_elect(struct mc *c, raft_id id)
{
	for (int i = 0; i < 100 && raft_role(c->r[id]) == RAFT_FOLLOWER; i++) {
		raft_tick(c->r[id]);
		mc_ready(c, id);
	}
	mc_stabilize(c);
	ck_assert_int_eq(raft_role(c->r[id]), RAFT_LEADER);
}

static struct raft_status st(struct mc *c, raft_id id)
{
	struct raft_status s;

	raft_status(c->r[id], &s);
	return s;
}

static int change(struct mc *c, raft_id leader, int type, raft_id id)
{
	struct raft_config_change ch = {
	    .type = (uint8_t)type, .id = id, .addr = "http://127.0.0.1:1"};

	return raft_propose_config(c->r[leader], &ch, NULL);
}

static void put(struct mc *c, raft_id leader, const char *v)
{
	ck_assert_int_eq(raft_propose(c->r[leader], v, strlen(v), NULL),
			 RAFT_OK);
}

static uint8_t flags_of(struct mc *c, raft_id at, raft_id id)
{
	const struct raft_membership *m = raft_membership(c->r[at]);

	for (size_t i = 0; i < m->n; i++)
		if (m->members[i].id == id)
			return m->members[i].flags;
	return 0;
}

static size_t count_voters(struct mc *c, raft_id at)
{
	const struct raft_membership *m = raft_membership(c->r[at]);
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += (m->members[i].flags & RAFT_MEMBER_VOTER) != 0;
	return n;
}

/* Drops every queued message; returns how many of @type from @from. */
static size_t mc_drop_count(struct mc *c, int type, raft_id from)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_q; i++) {
		if (c->q[i].type == type && c->q[i].from == from)
			n++;
		msg_free(&c->q[i]);
	}
	c->n_q = 0;
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
static struct mc *with_learner(void)
{
	struct mc *c = mc_new(4, 3);

	mc_elect(c, 1);
	put(c, 1, "a");
	put(c, 1, "b");
	mc_stabilize(c);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	mc_stabilize(c);
	return c;
}

START_TEST(test_learner_catches_up_and_does_not_count)
{
	struct mc *c = with_learner();
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
	ck_assert(c->cfg_seen[4]);
	/* Its acknowledgement does not count: with 2 and 3 cut off,
	 * nothing commits although 4 has the entry. */
	mc_isolate(c, 2, true);
	mc_isolate(c, 3, true);
	commit = st(c, 1).commit;
	put(c, 1, "c");
	mc_stabilize(c);
	ck_assert_uint_eq(st(c, 4).last_index, st(c, 1).last_index);
	ck_assert_uint_eq(st(c, 1).commit, commit);
	/* Nor does it ever campaign, however long it hears nothing. */
	mc_isolate(c, 1, true);
	for (int i = 0; i < 100; i++) {
		raft_tick(c->r[4]);
		mc_ready(c, 4);
	}
	ck_assert_int_eq(raft_role(c->r[4]), RAFT_FOLLOWER);
	ck_assert_uint_eq(mc_drop_count(c, RAFT_MSG_PREVOTE, 4), 0);
	mc_free(c);
}
END_TEST

START_TEST(test_promote_joint_then_new)
{
	struct mc *c = with_learner();
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
	mc_isolate(c, 3, true);
	mc_isolate(c, 4, true);
	mc_ready(c, 1);
	mc_stabilize(c);
	ck_assert_uint_ge(st(c, 2).last_index, joint);
	ck_assert(st(c, 2).config_joint);
	ck_assert_uint_lt(st(c, 1).commit, joint);
	/* With 4 too it commits, and the leader appends C_new itself. */
	mc_isolate(c, 4, false);
	/* The appends lost to 4 are sent again once found lost. */
	for (int i = 0; i < 30 && st(c, 1).commit < joint; i++)
		mc_tick_all(c, 1);
	ck_assert_int_eq(raft_role(c->r[1]), RAFT_LEADER);
	ck_assert_uint_ge(st(c, 1).commit, joint);
	ck_assert(!st(c, 1).config_joint);
	ck_assert_uint_gt(st(c, 1).config_index, joint);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 1, 2), RAFT_MEMBER_VOTER);
	/* C_new commits with 1, 2, 4 (3 of 4) and everyone gets it. */
	mc_tick_all(c, 3);
	ck_assert_uint_ge(st(c, 1).commit, st(c, 1).config_index);
	mc_isolate(c, 3, false);
	mc_tick_all(c, 3);
	for (raft_id id = 1; id <= 4; id++) {
		ck_assert(!st(c, id).config_joint);
		ck_assert_uint_eq(count_voters(c, id), 4);
		ck_assert_uint_eq(st(c, id).member_flags, RAFT_MEMBER_VOTER);
	}
	/* The next change is allowed now. */
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 3), RAFT_OK);
	mc_tick_all(c, 5);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert(st(c, 3).removed);
	mc_free(c);
}
END_TEST

START_TEST(test_bad_changes_refused)
{
	struct mc *c = with_learner();

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
	mc_stabilize(c);
	ck_assert(st(c, 4).removed);
	mc_free(c);
}
END_TEST

START_TEST(test_removed_leader_steps_down)
{
	struct mc *c = mc_new(3, 3);
	raft_term t;

	mc_elect(c, 1);
	put(c, 1, "a");
	mc_stabilize(c);
	t = st(c, 1).term;
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_REMOVE, 1), RAFT_OK);
	/* Thesis §4.2.2: the leader manages the cluster while joint even
	 * though it is not in C_new, and steps down once C_new commits;
	 * then the up-to-date member it tells campaigns at once. */
	mc_tick_all(c, 5);
	ck_assert_int_eq(raft_role(c->r[1]), RAFT_FOLLOWER);
	ck_assert(st(c, 1).removed);
	ck_assert(raft_role(c->r[2]) == RAFT_LEADER ||
		  raft_role(c->r[3]) == RAFT_LEADER);
	ck_assert_uint_gt(st(c, 2).term, t);
	ck_assert_uint_eq(count_voters(c, 2), 2);
	/* The removed member never campaigns, and the others go on. */
	for (int i = 0; i < 60; i++) {
		raft_tick(c->r[1]);
		mc_ready(c, 1);
		ck_assert_uint_eq(mc_drop_count(c, RAFT_MSG_PREVOTE, 1) +
				      mc_drop_count(c, RAFT_MSG_VOTE, 1),
				  0);
	}
	{
		raft_id l = raft_role(c->r[2]) == RAFT_LEADER ? 2 : 3;
		raft_index before = st(c, l).commit;

		put(c, l, "b");
		mc_tick_all(c, 3);
		ck_assert_uint_gt(st(c, l).commit, before);
		ck_assert_int_eq(raft_role(c->r[l]), RAFT_LEADER);
	}
	mc_free(c);
}
END_TEST

START_TEST(test_config_reverts_on_truncation)
{
	struct mc *c = mc_new(4, 3);
	raft_index base;
	raft_id l = 0;

	mc_elect(c, 1);
	put(c, 1, "a");
	mc_stabilize(c);
	base = st(c, 1).last_index;
	/* 1 appends a configuration that reaches nobody: it takes effect
	 * on 1 at once (thesis §4.1: "a server always uses the latest
	 * configuration in its log, regardless of whether the entry is
	 * committed"). */
	mc_isolate(c, 1, true);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	mc_ready(c, 1);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 1).config_index, base + 1);
	/* 2 and 3 elect a leader of a later term, whose log lacks it. */
	for (int i = 0; i < 200 && l == 0; i++) {
		mc_tick_all(c, 1);
		if (raft_role(c->r[2]) == RAFT_LEADER)
			l = 2;
		if (raft_role(c->r[3]) == RAFT_LEADER)
			l = 3;
	}
	ck_assert_uint_ne(l, 0);
	put(c, l, "b");
	mc_tick_all(c, 2);
	/* Back in touch, 1 drops the conflicting suffix, and with it the
	 * configuration: it is undone. */
	c->cfg_seen[1] = false;
	mc_isolate(c, 1, false);
	mc_tick_all(c, 5);
	ck_assert_int_eq(raft_role(c->r[1]), RAFT_FOLLOWER);
	ck_assert_uint_eq(st(c, 1).last_index, st(c, l).last_index);
	ck_assert_uint_eq(flags_of(c, 1, 4), 0);
	ck_assert_uint_eq(st(c, 1).config_index, 0);
	ck_assert_uint_eq(count_voters(c, 1), 3);
	ck_assert(c->cfg_seen[1]);
	ck_assert_uint_eq(st(c, 4).last_index, 0);
	mc_free(c);
}
END_TEST

START_TEST(test_stale_member_follows_unknown_leader)
{
	struct mc *c = mc_new(4, 3);
	raft_index last;

	/* 3 misses the whole addition of 4, then 4 leads: thesis §4.1,
	 * servers "accept AppendEntries requests from a leader that is not
	 * part of [their] latest configuration". */
	mc_elect(c, 1);
	mc_isolate(c, 3, true);
	put(c, 1, "a");
	mc_tick_all(c, 3);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_ADD_LEARNER, 4), RAFT_OK);
	mc_tick_all(c, 5);
	ck_assert_int_eq(change(c, 1, RAFT_CHANGE_PROMOTE, 4), RAFT_OK);
	mc_tick_all(c, 15);
	ck_assert_uint_eq(count_voters(c, 1), 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), 0);
	ck_assert_int_eq(raft_transfer_leadership(c->r[1], 4), RAFT_OK);
	for (int i = 0; i < 30 && raft_role(c->r[4]) != RAFT_LEADER; i++)
		mc_tick_all(c, 1);
	ck_assert_int_eq(raft_role(c->r[4]), RAFT_LEADER);
	put(c, 4, "x");
	mc_isolate(c, 3, false);
	mc_tick_all(c, 30);
	last = st(c, 4).last_index;
	ck_assert_uint_eq(st(c, 3).last_index, last);
	ck_assert_uint_eq(st(c, 3).leader, 4);
	ck_assert_uint_eq(flags_of(c, 3, 4), RAFT_MEMBER_VOTER);
	mc_free(c);
}
END_TEST

START_TEST(test_compaction_keeps_config)
{
	struct mc *c = with_learner();
	raft_index applied = st(c, 1).applied;
	struct raft_membership m;

	/* The configuration entry is compacted away: the snapshot's
	 * configuration is still the one in effect. */
	ck_assert_int_eq(raft_compact(c->r[1], applied), RAFT_OK);
	ck_assert_uint_eq(st(c, 1).snapshot_index, applied);
	ck_assert_uint_eq(flags_of(c, 1, 4), RAFT_MEMBER_LEARNER);
	ck_assert_int_eq(raft_membership_at(c->r[1], applied, &m), RAFT_OK);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_int_eq(raft_membership_at(c->r[1], applied - 1, &m),
			 RAFT_EINVAL);
	mc_free(c);
}
END_TEST

START_TEST(test_restart_restores_config)
{
	struct mc *c = with_learner();
	struct raft_options o = mc_opts(2, c->voters, c->n_voters);
	struct raft_restore rs = {.hs = c->hs[2]};

	/* Founding voters from the options, the learner from the log. */
	rs.entries = c->log[2];
	rs.n_entries = c->n_log[2];
	raft_free(c->r[2]);
	ck_assert_int_eq(raft_new(&o, &rs, &c->r[2]), RAFT_OK);
	ck_assert_uint_eq(flags_of(c, 2, 4), RAFT_MEMBER_LEARNER);
	ck_assert_uint_eq(st(c, 2).config_index, st(c, 1).config_index);
	/* A snapshot's configuration counts when the log has none. */
	{
		struct raft_membership m;
		uint8_t buf[RAFT_MEMBERSHIP_MAX_BYTES];
		size_t len;
		struct raft_restore snap = {.hs = c->hs[2],
					    .snapshot_index = c->n_log[2],
					    .snapshot_term =
						c->log[2][c->n_log[2] - 1].term,
					    .applied = c->n_log[2]};
		struct raft *r;

		ck_assert_int_eq(
		    raft_membership_at(c->r[1], st(c, 1).last_index, &m),
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
	mc_free(c);
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
