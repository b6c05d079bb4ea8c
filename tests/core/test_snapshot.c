/* test_snapshot.c - log compaction and InstallSnapshot (thesis §5): the
 * leader's snapshot state for a lagging peer, the follower's log reset,
 * driver reports and restarts from a snapshot. */
#include <stdio.h>
#include <string.h>

#include "on_sim.h"
#include "suites.h"

static const struct raft_options plain = {.election_ticks = 10,
					  .heartbeat_ticks = 1};

/* Three plain voters on the simulated cluster. */
static struct sim_cluster *plain3(void)
{
	struct sim_config cfg = {.n_nodes = 3,
				 .seed = 1,
				 .election_ticks = plain.election_ticks,
				 .heartbeat_ticks = plain.heartbeat_ticks};

	return os_new(&cfg);
}

static struct raft_status status_of(const struct sim_cluster *c, raft_id id)
{
	struct raft_status st;

	raft_status(os_core(c, id), &st);
	return st;
}

/* Snapshots installed, by every member. */
static uint64_t installs(const struct sim_cluster *c)
{
	struct sim_stats st;

	sim_stats(c, &st);
	return st.snapshots;
}

/* Deliveries until nothing moves, with every message to or from @cut
 * dropped. */
static void stabilize_without(struct sim_cluster *c, raft_id cut)
{
	sim_drop(c, cut, 0, 0);
	sim_drop(c, 0, cut, 0);
	os_isolate(c, cut, true);
	os_stabilize(c);
	os_isolate(c, cut, false);
}

/* @n writes on @id, a key each in turn. */
static void propose_n(struct sim_cluster *c, raft_id id, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(sim_propose(c, id, (unsigned)i, NULL),
				 RAFT_OK);
}

/* Delivers every message of @type from @from to @to in flight. */
static void deliver(struct sim_cluster *c, int type, raft_id from, raft_id to)
{
	while (sim_deliver(c, from, to, type))
		;
}

/* One heartbeat from the leader @id. */
static void heartbeat(struct sim_cluster *c, raft_id id)
{
	for (unsigned i = 0; i < plain.heartbeat_ticks; i++)
		sim_tick_node(c, id);
}

/* The driver's side of compaction on @id: its snapshot at the applied
 * index, the core's log dropped up to @index. */
static int compact_to(struct sim_cluster *c, raft_id id, raft_index index)
{
	raft_index applied = sim_applied(c, id);

	ck_assert_uint_ge(applied, index);
	return sim_compact(c, id, applied - index);
}

/* Asserts that @id's state machine is @kv (SIM_KEYS values). */
static void assert_state(const struct sim_cluster *c, raft_id id,
			 const uint64_t *kv)
{
	for (unsigned k = 0; k < SIM_KEYS; k++)
		ck_assert_uint_eq(sim_value(c, id, k), kv[k]);
}

/* @id's state machine, into @kv. */
static void state_of(const struct sim_cluster *c, raft_id id, uint64_t *kv)
{
	for (unsigned k = 0; k < SIM_KEYS; k++)
		kv[k] = sim_value(c, id, k);
}

/* Leader 1 elected by 1 and 2 while 3 hears nothing; @n entries committed
 * after the NOOP; the leader then compacts everything applied. Returns the
 * leader's snapshot index. */
static raft_index leader_compacted_with_3_behind(struct sim_cluster *c, int n)
{
	struct raft_status st;

	for (int i = 0; i < 20 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	stabilize_without(c, 3);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	propose_n(c, 1, n);
	stabilize_without(c, 3);
	st = status_of(c, 1);
	ck_assert_uint_eq(st.commit, (raft_index)n + 1);
	ck_assert_uint_eq(st.applied, (raft_index)n + 1);
	ck_assert_int_eq(compact_to(c, 1, st.applied), RAFT_OK);
	return st.applied;
}

START_TEST(test_compact_drops_applied_entries)
{
	struct sim_cluster *c = plain3();
	struct raft_status st;

	os_elect(c, 1);
	propose_n(c, 1, 5);
	os_stabilize(c);
	st = status_of(c, 1);
	ck_assert_uint_eq(st.applied, 6);
	/* Thesis §5.1: the log up to the snapshot's last included index
	 * is discarded; its index and term are remembered. */
	ck_assert_int_eq(compact_to(c, 1, 4), RAFT_OK);
	st = status_of(c, 1);
	ck_assert_uint_eq(st.snapshot_index, 4);
	ck_assert_uint_eq(st.snapshot_term, 1);
	ck_assert_uint_eq(st.first_index, 5);
	ck_assert_uint_eq(st.last_index, 6);
	ck_assert_uint_eq(st.commit, 6);
	/* Only applied entries may go; an older index changes nothing. */
	ck_assert_int_eq(raft_compact(sim_raw_core(c, 1), 7), RAFT_EINVAL);
	ck_assert_int_eq(raft_compact(sim_raw_core(c, 1), 3), RAFT_OK);
	ck_assert_uint_eq(status_of(c, 1).snapshot_index, 4);
	/* A follower compacts on its own too; replication goes on. */
	ck_assert_int_eq(compact_to(c, 2, 6), RAFT_OK);
	ck_assert_uint_eq(status_of(c, 2).first_index, 7);
	propose_n(c, 1, 2);
	os_stabilize(c);
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_uint_eq(status_of(c, id).commit, 8);
		ck_assert_uint_eq(sim_applied(c, id), 8);
	}
	/* No snapshot was sent (each would have been installed). */
	ck_assert_uint_eq(installs(c), 0);
	ck_assert_str_eq(raft_msg_type_name(RAFT_MSG_SNAPSHOT), "snapshot");
	os_free(c);
}
END_TEST

START_TEST(test_lagging_follower_gets_snapshot)
{
	struct sim_cluster *c = plain3();
	const struct raft_msg *m;
	raft_index snap = leader_compacted_with_3_behind(c, 5);
	uint64_t at_snap[SIM_KEYS], now[SIM_KEYS];

	state_of(c, 1, at_snap);
	/* 3 answers a heartbeat: its probe would need entries the leader
	 * discarded, so the leader sends its snapshot instead (thesis
	 * §5.2). */
	heartbeat(c, 1);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_APPEND), 0);
	m = sim_find(c, 1, 3, RAFT_MSG_SNAPSHOT);
	ck_assert_uint_eq(m->index, snap);
	ck_assert_uint_eq(m->log_term, 1);
	ck_assert_uint_eq(m->term, 1);
	ck_assert_uint_eq(m->commit, snap);
	ck_assert_uint_eq(m->n_entries, 0);
	sim_drop(c, 0, 0, RAFT_MSG_HEARTBEAT);
	sim_drop(c, 1, 2, RAFT_MSG_APPEND);

	/* While the snapshot is on its way no append goes to 3, though
	 * new entries and heartbeat answers come. */
	propose_n(c, 1, 2);
	for (int i = 0; i < 3; i++) {
		heartbeat(c, 1);
		deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
		deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	}
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_APPEND), 0);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 1);

	/* The follower installs it: its state machine becomes the
	 * leader's at the snapshot index, its log starts after it, and it
	 * acknowledges the snapshot index only once installed. */
	sim_manual(c, 3, true);
	ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_SNAPSHOT));
	ck_assert_uint_eq(status_of(c, 3).snapshot_index, snap);
	ck_assert_uint_eq(status_of(c, 3).first_index, snap + 1);
	ck_assert_uint_eq(status_of(c, 3).commit, snap);
	ck_assert_uint_eq(status_of(c, 3).applied, snap);
	ck_assert_uint_eq(sim_in_flight(c, 3, 1, RAFT_MSG_APPEND_RESP), 0);
	sim_manual(c, 3, false);
	ck_assert_uint_eq(installs(c), 1);
	ck_assert_uint_eq(sim_applied(c, 3), snap);
	ck_assert_uint_eq(sim_snapshot_index(c, 3), snap);
	assert_state(c, 3, at_snap);
	m = sim_find(c, 3, 1, RAFT_MSG_APPEND_RESP);
	ck_assert_ptr_nonnull(m);
	ck_assert(!m->reject);
	ck_assert_uint_eq(m->index, snap);

	/* The leader resumes appends from there; committed entries reach
	 * 3's state machine from snap + 1 on. */
	os_stabilize(c);
	state_of(c, 1, now);
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_uint_eq(status_of(c, id).commit, snap + 2);
		ck_assert_uint_eq(sim_applied(c, id), snap + 2);
		assert_state(c, id, now);
	}
	ck_assert_uint_eq(sim_last_index(c, 3), snap + 2);
	ck_assert_ptr_nonnull(sim_disk_entry(c, 3, snap + 2));
	ck_assert_uint_eq(installs(c), 1);
	os_free(c);
}
END_TEST

START_TEST(test_driver_sends_its_newer_snapshot)
{
	struct sim_cluster *c = plain3();
	const struct raft_msg *m;
	raft_index applied;
	uint64_t kv[SIM_KEYS];
	struct raft_ready rd;

	for (int i = 0; i < 20 && sim_role(c, 1) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, 1);
	stabilize_without(c, 3);
	propose_n(c, 1, 7);
	stabilize_without(c, 3);
	applied = status_of(c, 1).applied;
	ck_assert_uint_eq(applied, 8);
	/* The driver snapshots at 8 but keeps a margin of two entries in
	 * the core's log. */
	ck_assert_int_eq(compact_to(c, 1, applied - 2), RAFT_OK);
	ck_assert_uint_eq(status_of(c, 1).snapshot_index, 6);
	ck_assert_uint_eq(sim_snapshot_index(c, 1), 8);
	heartbeat(c, 1);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	/* The core asks for a snapshot covering 6 (its ready, taken by
	 * hand); the driver names its newest in the message it sends. */
	sim_manual(c, 1, true);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	ck_assert(sim_ready(c, 1, &rd));
	ck_assert_uint_eq(rd.n_msgs, 1);
	ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_SNAPSHOT);
	ck_assert_uint_eq(rd.msgs[0].to, 3);
	ck_assert_uint_eq(rd.msgs[0].index, 6);
	sim_advance(c, 1);
	sim_manual(c, 1, false);
	m = sim_find(c, 1, 3, RAFT_MSG_SNAPSHOT);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->index, 8);
	sim_drop(c, 0, 0, RAFT_MSG_HEARTBEAT);
	/* It sends its newest snapshot, at 8, and 3's driver steps the
	 * message naming that one: 3 installs 8, acknowledges 8, and the
	 * leader goes on from 9 (8 >= the 6 it asked for). */
	ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_SNAPSHOT));
	ck_assert_uint_eq(status_of(c, 3).snapshot_index, 8);
	ck_assert_uint_eq(sim_applied(c, 3), 8);
	ck_assert_uint_eq(sim_find(c, 3, 1, RAFT_MSG_APPEND_RESP)->index, 8);
	ck_assert(sim_deliver(c, 3, 1, RAFT_MSG_APPEND_RESP));
	propose_n(c, 1, 1);
	m = sim_find(c, 1, 3, RAFT_MSG_APPEND);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->index, 8);
	ck_assert_uint_eq(m->n_entries, 1);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 3), 9);
	state_of(c, 1, kv);
	assert_state(c, 3, kv);
	ck_assert_uint_eq(installs(c), 1);
	os_free(c);
}
END_TEST

/* The log of a follower that holds entries 1..5 of term 1, commit 2. */
static struct raft *follower_with_log(raft_index n, raft_index commit)
{
	static const raft_id ids[] = {1, 2, 3};
	struct raft_entry ents[16];
	struct raft_options o = plain;
	struct raft_restore rs = {.hs = {.term = 1, .commit = commit}};
	struct raft *r;

	memset(ents, 0, sizeof(ents));
	for (raft_index i = 0; i < n; i++) {
		ents[i].index = i + 1;
		ents[i].term = 1;
		ents[i].type = RAFT_ENTRY_NOOP;
	}
	rs.entries = ents;
	rs.n_entries = n;
	o.id = 3;
	o.voters = ids;
	o.n_voters = 3;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	return r;
}

static struct raft_msg snapshot_msg(raft_term term, raft_index index,
				    raft_term log_term)
{
	struct raft_msg m = {
	    .type = RAFT_MSG_SNAPSHOT,
	    .from = 1,
	    .to = 3,
	    .term = term,
	    .index = index,
	    .log_term = log_term,
	    .commit = index,
	};
	return m;
}

START_TEST(test_snapshot_retains_matching_tail)
{
	struct raft *r = follower_with_log(5, 2);
	struct raft_msg m = snapshot_msg(1, 3, 1);
	struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT,
			      .from = 1,
			      .to = 3,
			      .term = 1,
			      .commit = 5};
	struct raft_ready rd;
	struct raft_status st;

	/* Thesis §5: "If existing log entry has same index and term as
	 * snapshot's last included entry, retain log entries following
	 * it". */
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(rd.has_snapshot);
	ck_assert_uint_eq(rd.snapshot.index, 3);
	ck_assert_uint_eq(rd.snapshot.term, 1);
	ck_assert_uint_eq(rd.n_entries, 0); /* the tail is stored already */
	ck_assert(rd.hs_changed);
	ck_assert_uint_eq(rd.hs.commit, 3);
	ck_assert_uint_eq(rd.n_committed, 0);
	ck_assert_uint_eq(rd.n_msgs, 0);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert_uint_eq(rd.msgs_after_persist[0].type, RAFT_MSG_APPEND_RESP);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 3);
	raft_advance(r, &rd);
	raft_status(r, &st);
	ck_assert_uint_eq(st.snapshot_index, 3);
	ck_assert_uint_eq(st.first_index, 4);
	ck_assert_uint_eq(st.last_index, 5);
	ck_assert_uint_eq(st.applied, 3);
	ck_assert_uint_eq(st.persisted, 5);
	/* Only the snapshot index is known committed: the tail may still
	 * differ from the leader's. Once the leader says more is
	 * committed, entries are handed out from index 4 on. */
	ck_assert_int_eq(raft_step(r, &hb), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(!rd.has_snapshot);
	ck_assert_uint_eq(rd.n_committed, 2);
	ck_assert_uint_eq(rd.committed[0].index, 4);
	raft_advance(r, &rd);
	raft_free(r);
}
END_TEST

START_TEST(test_snapshot_discards_conflicting_log)
{
	struct raft *r = follower_with_log(5, 2);
	struct raft_msg m = snapshot_msg(2, 4, 2);
	struct raft_msg app = {.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .to = 3,
			       .term = 2,
			       .index = 4,
			       .log_term = 2,
			       .commit = 4};
	struct raft_entry e = {.term = 2, .index = 5, .type = RAFT_ENTRY_NOOP};
	struct raft_ready rd;
	struct raft_status st;

	/* Our entry 4 has term 1, the snapshot's term 2: "discard the
	 * entire log". The leader's higher term is adopted first. */
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(rd.has_snapshot);
	ck_assert_uint_eq(rd.snapshot.index, 4);
	ck_assert_uint_eq(rd.snapshot.term, 2);
	ck_assert_uint_eq(rd.hs.term, 2);
	ck_assert_uint_eq(rd.hs.commit, 4);
	ck_assert_uint_eq(rd.n_entries, 0);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 4);
	raft_advance(r, &rd);
	raft_status(r, &st);
	ck_assert_uint_eq(st.last_index, 4);
	ck_assert_uint_eq(st.first_index, 5);
	ck_assert_uint_eq(st.snapshot_term, 2);
	ck_assert_int_eq(st.leader, 1);
	/* The next append matches at the snapshot's (index, term). */
	app.entries = &e;
	app.n_entries = 1;
	ck_assert_int_eq(raft_step(r, &app), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_entries, 1);
	ck_assert_uint_eq(rd.entries[0].index, 5);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert(!rd.msgs_after_persist[0].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 5);
	raft_advance(r, &rd);
	raft_free(r);

	/* A log shorter than the snapshot is discarded as well. */
	r = follower_with_log(2, 1);
	m = snapshot_msg(1, 10, 1);
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_status(r, &st);
	ck_assert_uint_eq(st.last_index, 10);
	ck_assert_uint_eq(st.commit, 10);
	raft_ready(r, &rd);
	ck_assert(rd.has_snapshot);
	ck_assert_uint_eq(rd.n_entries, 0);
	raft_advance(r, &rd);
	raft_free(r);
}
END_TEST

START_TEST(test_old_snapshot_ignored)
{
	struct raft *r = follower_with_log(5, 4);
	struct raft_msg m = snapshot_msg(1, 3, 1);
	struct raft_ready rd;
	struct raft_status st;

	/* Not newer than our commit index: nothing to install; the answer
	 * tells the leader how far we are known to match. */
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(!rd.has_snapshot);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert_uint_eq(rd.msgs_after_persist[0].type, RAFT_MSG_APPEND_RESP);
	ck_assert(!rd.msgs_after_persist[0].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 4);
	raft_advance(r, &rd);
	raft_status(r, &st);
	ck_assert_uint_eq(st.snapshot_index, 0);
	ck_assert_uint_eq(st.last_index, 5);
	ck_assert_uint_eq(st.commit, 4);
	/* Equal to the commit index: the same. */
	m = snapshot_msg(1, 4, 1);
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(!rd.has_snapshot);
	raft_advance(r, &rd);
	/* Malformed ones are refused. */
	m = snapshot_msg(1, 0, 0);
	ck_assert_int_eq(raft_step(r, &m), RAFT_EINVAL);
	m = snapshot_msg(1, 9, 2);
	ck_assert_int_eq(raft_step(r, &m), RAFT_EINVAL);
	raft_free(r);
}
END_TEST

START_TEST(test_snapshot_from_stale_term_ignored)
{
	struct raft *r = follower_with_log(5, 2);
	struct raft_msg m = snapshot_msg(2, 3, 1);
	struct raft_ready rd;

	/* Term 2 is current after this append-less snapshot... */
	m.index = 2;
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	raft_advance(r, &rd);
	/* ...so a snapshot of term 1 is stale and changes nothing. */
	m = snapshot_msg(1, 5, 1);
	ck_assert_int_eq(raft_step(r, &m), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert(!rd.has_snapshot);
	raft_advance(r, &rd);
	ck_assert_uint_eq(raft_leader(r), 1);
	raft_free(r);
}
END_TEST

START_TEST(test_report_failure_retries_after_pause)
{
	struct sim_cluster *c = plain3();
	raft_index snap = leader_compacted_with_3_behind(c, 4);

	heartbeat(c, 1);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	ck_assert_uint_eq(sim_drop(c, 1, 3, RAFT_MSG_SNAPSHOT), 1);
	sim_drop(c, 0, 0, 0);

	/* The transfer failed: back to probing, but only after the peer
	 * answers a heartbeat, so a dead peer is not flooded. */
	raft_report_snapshot(sim_raw_core(c, 1), 3, false);
	sim_drain(c, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 0);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_APPEND), 0);
	heartbeat(c, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 0);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 1);
	ck_assert_uint_eq(sim_find(c, 1, 3, RAFT_MSG_SNAPSHOT)->index, snap);

	/* A report for a peer not waiting for a snapshot is ignored. */
	raft_report_snapshot(sim_raw_core(c, 1), 2, false);
	sim_drain(c, 1);
	raft_report_snapshot(sim_raw_core(c, 2), 3, true);
	sim_drain(c, 2);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 3), snap);
	ck_assert_uint_eq(installs(c), 1);
	os_free(c);
}
END_TEST

START_TEST(test_report_success_probes_after_snapshot)
{
	struct sim_cluster *c = plain3();
	raft_index snap = leader_compacted_with_3_behind(c, 4);
	const struct raft_msg *m;

	heartbeat(c, 1);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	/* The driver reports success once the transfer is done (the
	 * cluster's does it as it delivers the snapshot). */
	ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_SNAPSHOT));
	/* The acknowledgement is lost: the next heartbeat answer
	 * releases a probe right after the snapshot, which 3 accepts. */
	ck_assert_uint_eq(sim_drop(c, 3, 1, RAFT_MSG_APPEND_RESP), 1);
	propose_n(c, 1, 1);
	stabilize_without(c, 3);
	ck_assert_uint_eq(status_of(c, 1).commit, snap + 1);
	heartbeat(c, 1);
	deliver(c, RAFT_MSG_HEARTBEAT, 1, 3);
	deliver(c, RAFT_MSG_HEARTBEAT_RESP, 3, 1);
	m = sim_find(c, 1, 3, RAFT_MSG_APPEND);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->index, snap);
	ck_assert_uint_eq(m->log_term, 1);
	ck_assert_uint_eq(sim_in_flight(c, 1, 3, RAFT_MSG_SNAPSHOT), 0);
	os_stabilize(c);
	ck_assert_uint_eq(sim_applied(c, 3), snap + 1);
	ck_assert_uint_eq(installs(c), 1);
	os_free(c);
}
END_TEST

START_TEST(test_restore_from_snapshot)
{
	static const raft_id ids[] = {1, 2, 3};
	struct raft_entry ents[2] = {
	    {.term = 2, .index = 11, .type = RAFT_ENTRY_NOOP},
	    {.term = 3, .index = 12, .type = RAFT_ENTRY_NOOP},
	};
	struct raft_restore rs = {
	    .hs = {.term = 3, .commit = 11},
	    .entries = ents,
	    .n_entries = 2,
	    .snapshot_index = 10,
	    .snapshot_term = 2,
	    .applied = 10,
	};
	struct raft_options o = plain;
	struct raft_msg app = {.type = RAFT_MSG_APPEND,
			       .from = 1,
			       .to = 3,
			       .term = 3,
			       .index = 10,
			       .log_term = 2,
			       .commit = 12};
	struct raft_entry e[2] = {
	    {.term = 2, .index = 11, .type = RAFT_ENTRY_NOOP},
	    {.term = 3, .index = 12, .type = RAFT_ENTRY_NOOP},
	};
	struct raft_ready rd;
	struct raft_status st;
	struct raft *r;

	o.id = 3;
	o.voters = ids;
	o.n_voters = 3;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	raft_status(r, &st);
	ck_assert_uint_eq(st.snapshot_index, 10);
	ck_assert_uint_eq(st.snapshot_term, 2);
	ck_assert_uint_eq(st.first_index, 11);
	ck_assert_uint_eq(st.last_index, 12);
	ck_assert_uint_eq(st.commit, 11);
	ck_assert_uint_eq(st.applied, 10);
	/* Log Matching at the snapshot index uses the snapshot's term. */
	app.entries = e;
	app.n_entries = 2;
	ck_assert_int_eq(raft_step(r, &app), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_entries, 0);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert(!rd.msgs_after_persist[0].reject);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 12);
	/* Committed entries start after the snapshot. */
	ck_assert_uint_eq(rd.n_committed, 2);
	ck_assert_uint_eq(rd.committed[0].index, 11);
	raft_advance(r, &rd);
	/* A different term at the snapshot index does not match. */
	app.log_term = 1;
	app.n_entries = 0;
	app.entries = NULL;
	ck_assert_int_eq(raft_step(r, &app), RAFT_OK);
	raft_ready(r, &rd);
	ck_assert_uint_eq(rd.n_msgs_after_persist, 1);
	ck_assert_uint_eq(rd.msgs_after_persist[0].index, 12);
	raft_advance(r, &rd);
	raft_free(r);

	/* A snapshot installed before its ready's hard state reached the
	 * disk: the member restarts in the snapshot's term, no vote. */
	rs.hs.term = 1;
	rs.hs.vote = 2;
	rs.hs.commit = 0;
	rs.n_entries = 0;
	ck_assert_int_eq(raft_new(&o, &rs, &r), RAFT_OK);
	raft_status(r, &st);
	ck_assert_uint_eq(st.term, 2);
	ck_assert_uint_eq(st.commit, 10);
	ck_assert_uint_eq(st.last_index, 10);
	raft_free(r);
}
END_TEST

START_TEST(test_restart_from_snapshot_and_tail_rejoins)
{
	struct sim_cluster *c = plain3();
	struct raft_status st;
	uint64_t kv[SIM_KEYS];

	os_elect(c, 1);
	propose_n(c, 1, 6);
	os_stabilize(c);
	/* Every member compacts with a margin of two entries (its
	 * snapshot at 7, the core's log from 6), two more entries come,
	 * then each restarts from its snapshot and the stored tail: as
	 * kvd recovers (raft/node/recovery_plan.h), the core's log starts
	 * after the first stored entry, the compaction index 5, which the
	 * stored log keeps as the WAL does. */
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_int_eq(compact_to(c, id, 5), RAFT_OK);
		ck_assert_uint_eq(status_of(c, id).snapshot_index, 5);
		ck_assert_uint_eq(sim_snapshot_index(c, id), 7);
	}
	propose_n(c, 1, 2);
	os_stabilize(c);
	for (raft_id id = 1; id <= 3; id++) {
		sim_crash(c, id);
		sim_restart(c, id);
		st = status_of(c, id);
		ck_assert_uint_eq(st.snapshot_index, 5);
		ck_assert_uint_eq(st.first_index, 6);
		ck_assert_uint_eq(st.last_index, 9);
		ck_assert_uint_eq(st.applied, 9);
	}
	os_elect(c, 2);
	propose_n(c, 2, 2);
	os_stabilize(c);
	for (raft_id id = 1; id <= 3; id++) {
		ck_assert_uint_eq(status_of(c, id).commit, 12);
		ck_assert_uint_eq(sim_applied(c, id), 12);
	}
	/* 3 misses entries that the leader then compacts away; restarted,
	 * it catches up through a snapshot once the leader sees its
	 * appends were lost (an election timeout of heartbeat answers). */
	propose_n(c, 2, 3);
	stabilize_without(c, 3);
	ck_assert_int_eq(compact_to(c, 2, 15), RAFT_OK);
	sim_crash(c, 3);
	sim_restart(c, 3);
	for (unsigned i = 0; i < 2 * plain.election_ticks; i++) {
		heartbeat(c, 2);
		os_stabilize(c);
	}
	ck_assert_uint_eq(installs(c), 1);
	ck_assert_uint_eq(sim_applied(c, 3), 15);
	state_of(c, 2, kv);
	assert_state(c, 3, kv);
	st = status_of(c, 3);
	ck_assert_uint_eq(st.snapshot_index, 15);
	ck_assert_uint_eq(st.commit, 15);
	ck_assert_int_eq(sim_role(c, 2), RAFT_LEADER);
	os_free(c);
}
END_TEST

/* Heartbeats from leader @l (with every answer, append and heartbeat
 * delivered) until it sends @f a snapshot: a peer whose appends were lost
 * is probed again after an election timeout of unanswered appends. */
static void until_snapshot(struct sim_cluster *c, raft_id l, raft_id f)
{
	static const int types[] = {RAFT_MSG_APPEND, RAFT_MSG_APPEND_RESP,
				    RAFT_MSG_HEARTBEAT,
				    RAFT_MSG_HEARTBEAT_RESP};

	for (unsigned i = 0; i < 3 * plain.election_ticks; i++) {
		if (sim_in_flight(c, l, f, RAFT_MSG_SNAPSHOT) > 0)
			return;
		heartbeat(c, l);
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			deliver(c, types[k], 0, 0);
	}
	ck_abort_msg("no snapshot sent");
}

START_TEST(test_crash_at_every_step_of_install)
{
	/* Rule 7 in a crash: a follower dies (0) before carrying out the
	 * ready of an accepted snapshot, (1) after installing it, (2) after
	 * resetting its stored log, (3) after storing the entries, (4)
	 * after the hard state, before its answer left. It restarts from
	 * what its disk holds, and still converges. */
	for (int steps = 0; steps <= 4; steps++) {
		struct sim_cluster *c = plain3();
		struct raft_status st;
		raft_index snap;
		uint64_t kv[SIM_KEYS];

		os_elect(c, 1);
		propose_n(c, 1, 2);
		os_stabilize(c);
		propose_n(c, 1, 5);
		stabilize_without(c, 3);
		snap = status_of(c, 1).applied;
		ck_assert_uint_eq(snap, 8);
		ck_assert_int_eq(compact_to(c, 1, snap), RAFT_OK);
		ck_assert_uint_eq(sim_last_index(c, 3), 3);

		until_snapshot(c, 1, 3);
		sim_drop(c, 0, 0, RAFT_MSG_HEARTBEAT);
		sim_manual(c, 3, true);
		ck_assert(sim_deliver(c, 1, 3, RAFT_MSG_SNAPSHOT));
		sim_crash_in_ready(c, 3, steps);
		st = status_of(c, 3);
		ck_assert_uint_eq(st.snapshot_index, steps >= 1 ? snap : 0);
		ck_assert_uint_eq(st.applied, steps >= 1 ? snap : 3);
		ck_assert_uint_eq(st.last_index, steps >= 1 ? snap : 3);
		ck_assert_uint_eq(st.term, 1);
		sim_manual(c, 3, false);

		/* The sender's driver sees the transfer end without an
		 * answer and reports it failed; the leader retries. (The
		 * cluster's driver reported success as it delivered the
		 * file: this report comes after, and is ignored when the
		 * leader is already probing again.) */
		raft_report_snapshot(sim_raw_core(c, 1), 3, false);
		sim_drain(c, 1);
		propose_n(c, 1, 1);
		for (unsigned i = 0; i < 3 * plain.election_ticks &&
				     sim_applied(c, 3) < snap + 1;
		     i++) {
			heartbeat(c, 1);
			os_stabilize(c);
		}
		state_of(c, 1, kv);
		for (raft_id id = 1; id <= 3; id++) {
			ck_assert_uint_eq(sim_applied(c, id), snap + 1);
			assert_state(c, id, kv);
		}
		/* Installed once: after a crash past the install, the
		 * retried snapshot is not newer than the commit index. */
		ck_assert_uint_eq(installs(c), 1);
		os_free(c);
	}
}
END_TEST

START_TEST(test_leader_learns_higher_term_from_snapshot)
{
	struct sim_cluster *c = plain3();
	struct raft_msg m = {
	    .type = RAFT_MSG_SNAPSHOT,
	    .from = 2,
	    .to = 1,
	    .term = 5,
	    .index = 1,
	    .log_term = 1,
	    .commit = 1,
	};

	os_elect(c, 1);
	/* The same term's leader cannot be sending snapshots (Election
	 * Safety): ignored. */
	m.term = 1;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_OK);
	ck_assert_int_eq(sim_role(c, 1), RAFT_LEADER);
	m.term = 5;
	ck_assert_int_eq(sim_step_msg(c, 1, &m), RAFT_OK);
	ck_assert_int_eq(sim_role(c, 1), RAFT_FOLLOWER);
	ck_assert_uint_eq(sim_leader_of(c, 1), 2);
	ck_assert_uint_eq(status_of(c, 1).term, 5);
	os_free(c);
}
END_TEST

Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_add_test(tc, test_compact_drops_applied_entries);
	tcase_add_test(tc, test_lagging_follower_gets_snapshot);
	tcase_add_test(tc, test_driver_sends_its_newer_snapshot);
	tcase_add_test(tc, test_snapshot_retains_matching_tail);
	tcase_add_test(tc, test_snapshot_discards_conflicting_log);
	tcase_add_test(tc, test_old_snapshot_ignored);
	tcase_add_test(tc, test_snapshot_from_stale_term_ignored);
	tcase_add_test(tc, test_report_failure_retries_after_pause);
	tcase_add_test(tc, test_report_success_probes_after_snapshot);
	tcase_add_test(tc, test_restore_from_snapshot);
	tcase_add_test(tc, test_restart_from_snapshot_and_tail_rejoins);
	tcase_add_test(tc, test_crash_at_every_step_of_install);
	tcase_add_test(tc, test_leader_learns_higher_term_from_snapshot);
	suite_add_tcase(s, tc);
	return s;
}
