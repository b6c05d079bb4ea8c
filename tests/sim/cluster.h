/* cluster.h - a deterministic simulated Raft cluster that checks invariants.
 *
 * N pure cores (struct raft) share one simulated clock (ticks), an
 * in-memory network (per-link delay, drop, duplicate, reorder; partitions
 * of any shape, asymmetric ones too), one simulated disk per member (writes
 * stay pending until the simulation completes them; a crash loses what is
 * pending, or keeps a prefix of it) and one key/value state machine per
 * member, with durable snapshots for log compaction and InstallSnapshot.
 * Every choice comes from one seeded PRNG, so a seed replays exactly.
 *
 * After every step the cluster checks the Raft safety properties (Figure 3
 * of the paper) plus the contract of raft.h and read linearizability
 * (invariants.c lists each with its section); the first violation is
 * recorded and sim_failure() returns it.
 *
 * Two ways to drive it:
 *  - sim_step(): one random step (deliver a due message, complete a due
 *    disk write, or advance the clock with client load and faults).
 *  - scripted: sim_tick_node(), sim_deliver(), sim_crash(), sim_cut() ...
 *    for scenario tests that need exact message order.
 *
 * Memory: sim_cluster_new() returns a cluster owned by the caller, released
 * with sim_cluster_free(). Strings returned are owned by the cluster.
 */
#ifndef TESTS_SIM_CLUSTER_H_
#define TESTS_SIM_CLUSTER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "raft.h"

#define SIM_MAX_NODES 7
#define SIM_KEYS      4 /* the state machine is a map of SIM_KEYS registers */

/* Simulation-level mutations (bugs planted outside the core). */
enum sim_mutation {
	/* the disk drops votedFor on restore */
	SIM_MUTATE_FORGET_VOTE = 1 << 0,
	/* the driver sends what waits for its write at once (raft.h rule 3,
	 * against its own ready plan) */
	SIM_MUTATE_SEND_BEFORE_WRITE = 1 << 1
};

struct sim_config {
	unsigned n_nodes; /* 1..SIM_MAX_NODES; ids are 1..n */
	/* Founding voters 1..n_voters (0: all n_nodes). The others start
	 * empty, waiting to be added, and the leader adds them as learners;
	 * below n_nodes voters are also never promoted beyond n_voters, so
	 * the cluster stays at one or two voters with learners (the state
	 * of a one-member cluster that POST /v1/members grows). */
	unsigned n_voters;
	uint64_t seed;
	unsigned election_ticks;
	unsigned heartbeat_ticks;
	bool pre_vote;
	bool check_quorum;
	unsigned raft_mutations;    /* enum raft_mutation bits */
	unsigned sim_mutations;	    /* enum sim_mutation bits */
	size_t max_append_entries;  /* 0: core default */
	size_t max_inflight;	    /* 0: core default */
	size_t max_pending_entries; /* 0: core default */
	size_t max_pending_reads;   /* 0: core default */
	size_t max_read_rounds;	    /* 0: core default */
	/* Leader leases (raft.h); 0: off. With them no member's clock runs
	 * more than one tick ahead of or behind the cluster's (the bounded
	 * drift the leases assume), where clock_skew_pct is otherwise
	 * unbounded. */
	unsigned lease_ticks;
	uint32_t max_entry_bytes; /* 0: core default */
	/* Scripted mode: disk writes complete as soon as they are produced,
	 * and messages are only delivered through sim_deliver(). */
	bool scripted;
	FILE *trace; /* step trace (NULL: none) */
};

struct sim_cluster;

/* Creates a cluster of live members with empty disks. Returns 0, or a
 * negative RAFT_E* code when a core refuses the options. */
int sim_cluster_new(const struct sim_config *cfg, struct sim_cluster **out);
void sim_cluster_free(struct sim_cluster *c);

/* --- random driving (the sim program) --- */

/* Fault and workload intensity for sim_step(); sim_cluster_new() picks
 * them from the seed ("swarm testing": each seed its own mix). */
struct sim_faults {
	unsigned drop_pct;	/* per message */
	unsigned dup_pct;	/* per message */
	unsigned delay_pct;	/* message delayed by 1..delay_max ticks */
	unsigned delay_max;	/* ticks */
	unsigned disk_slow_pct; /* write delayed by 1..disk_max ticks */
	unsigned disk_max;
	unsigned crash_permille;     /* per tick */
	unsigned restart_permille;   /* per tick, per crashed member */
	unsigned partition_permille; /* per tick */
	unsigned heal_permille;	     /* per tick */
	unsigned propose_pct;	     /* per tick */
	unsigned read_pct;	     /* per tick */
	unsigned transfer_permille;  /* per tick: leadership transfer */
	unsigned compact_permille;   /* per tick: a member compacts its log */
	unsigned torn_pct; /* a crash keeps part of the pending writes */
	unsigned long_delay_permille; /* message held up to 10 timeouts */
	unsigned clock_skew_pct; /* a member's tick is skipped or doubled */
	/* Crash a member at an interesting instant: just elected leader,
	 * just accepted a proposal as leader, just advanced its commit. */
	unsigned hot_crash_pct;
	/* per tick: a membership change on the leader (thesis §4.3) */
	unsigned config_permille;
	unsigned heal_every;	 /* ticks between liveness checks */
	unsigned liveness_ticks; /* bound for a liveness check */
};
void sim_get_faults(const struct sim_cluster *c, struct sim_faults *f);
void sim_set_faults(struct sim_cluster *c, const struct sim_faults *f);

/* One random step. Returns false once an invariant failed. */
bool sim_step(struct sim_cluster *c);

/* The first invariant violation, named with its section ("Election
 * Safety (Raft §5.2, ...): members 1 and 2 ..."), or NULL. */
const char *sim_failure(const struct sim_cluster *c);

/* Counters for the report line. */
struct sim_stats {
	uint64_t steps, ticks, delivered, dropped, writes, crashes;
	uint64_t elections, proposals, committed, reads_ok, reads_failed;
	uint64_t compactions, snapshots; /* snapshots installed */
	uint64_t liveness_checks;
	uint64_t liveness_max_ticks; /* slowest recovery after a heal */
	uint64_t max_tick_events;    /* most events within one tick */
	uint64_t config_changes;     /* membership changes proposed */
	/* read rounds a leader started while an earlier one was still out
	 * (max_read_rounds above 1), and the most out at once */
	uint64_t read_rounds_overlapped, read_rounds_max_out;
};
void sim_stats(const struct sim_cluster *c, struct sim_stats *out);

/* --- scripted driving (scenario tests); @i is a member id 1..n --- */

void sim_tick_node(struct sim_cluster *c, raft_id i); /* one tick of i */
void sim_tick_all(struct sim_cluster *c); /* global clock + all members */

/* Messages in flight from @from to @to of @type (0 = any of each). */
size_t sim_in_flight(const struct sim_cluster *c, raft_id from, raft_id to,
		     int type);
/* The oldest matching message in flight, left there for a test to look
 * at (valid until messages next move); NULL when none. */
const struct raft_msg *sim_find(const struct sim_cluster *c, raft_id from,
				raft_id to, int type);
/* Delivers the oldest matching message in flight; false when none. */
bool sim_deliver(struct sim_cluster *c, raft_id from, raft_id to, int type);
/* Delivers the oldest message in flight from @from to @to (0: any of
 * each) whose type is in @types (bits 1 << type; 0: any type); *@out,
 * when not NULL, gets a copy of it without its entries (n_entries still
 * counts them) and *@lost whether it was lost instead (its receiver down
 * or the link cut). False when none matches. */
bool sim_deliver_types(struct sim_cluster *c, raft_id from, raft_id to,
		       unsigned types, struct raft_msg *out, bool *lost);
/* Drops every matching message in flight; returns how many. */
size_t sim_drop(struct sim_cluster *c, raft_id from, raft_id to, int type);
/* Delivers every message (and ones they cause) until none is left or
 * @max deliveries happened. Returns the number delivered. */
size_t sim_deliver_all(struct sim_cluster *c, size_t max);
/* Delivers election messages only (votes and pre-votes, requests and
 * answers), oldest first, until none is left; appends stay in flight. */
void sim_deliver_votes(struct sim_cluster *c);

/* Steps @m, made by the test and sent by no member (what a lying peer or
 * a corrupt network could deliver), into member @i. Returns raft_step's
 * answer. */
int sim_step_msg(struct sim_cluster *c, raft_id i, const struct raft_msg *m);

/* Network shape: cut or restore the link @from -> @to (one direction). */
void sim_cut(struct sim_cluster *c, raft_id from, raft_id to, bool cut);
void sim_isolate(struct sim_cluster *c, raft_id i); /* both directions */
void sim_heal(struct sim_cluster *c);		    /* every link works */

/* Crash loses pending writes, in-flight local state and the state
 * machine; restart recovers from the member's disk. */
void sim_crash(struct sim_cluster *c, raft_id i);
void sim_restart(struct sim_cluster *c, raft_id i);
bool sim_is_up(const struct sim_cluster *c, raft_id i);

/* Log compaction on @i: a snapshot of its state machine at its applied
 * index, then raft_compact() @margin entries below it. Returns the core's
 * answer. */
int sim_compact(struct sim_cluster *c, raft_id i, raft_index margin);
/* The index of @i's durable snapshot (0: none). */
raft_index sim_snapshot_index(const struct sim_cluster *c, raft_id i);

/* Scripted mode: while held, @i's writes stay pending (and the messages
 * that wait for them unsent); releasing completes them. */
void sim_hold_writes(struct sim_cluster *c, raft_id i, bool hold);
/* Crashes @i keeping the first @keep records of its pending writes (each
 * write: its entries, then its hard state). */
void sim_crash_torn(struct sim_cluster *c, raft_id i, size_t keep);

/* Completes @i's pending disk writes (scripted mode does it at once). */
void sim_persist_all(struct sim_cluster *c, raft_id i);
size_t sim_pending_writes(const struct sim_cluster *c, raft_id i);

/* Client operations on member @i. sim_propose() writes a unique value to
 * @key; *@index gets the core's answer (0 when forwarded). sim_read()
 * starts a linearizable read of @key; *@read_id names it. */
int sim_propose(struct sim_cluster *c, raft_id i, unsigned key,
		raft_index *index);
int sim_read(struct sim_cluster *c, raft_id i, unsigned key, uint64_t *read_id);
/* A membership change (raft_propose_config) on member @i; *@index (may be
 * NULL) gets the index of its entry. Returns the core's answer. */
int sim_change(struct sim_cluster *c, raft_id i,
	       const struct raft_config_change *ch, raft_index *index);
/* Leadership transfer from @i to @to (thesis §3.10). Returns the core's
 * answer. */
int sim_transfer(struct sim_cluster *c, raft_id i, raft_id to);
enum sim_read_state {
	SIM_READ_PENDING = 0,
	SIM_READ_SERVED = 1,
	SIM_READ_FAILED = 2
};
enum sim_read_state sim_read_state(const struct sim_cluster *c,
				   uint64_t read_id);
/* How many reads were started (read ids are 1..this). */
uint64_t sim_read_count(const struct sim_cluster *c);
/* A served read's value (the number of the write it saw, 0: none) and the
 * applied index it was served at; false when not served. */
bool sim_read_result(const struct sim_cluster *c, uint64_t read_id,
		     uint64_t *value, raft_index *applied);

/* The index the core gave read @read_id (0: none yet). */
raft_index sim_read_index(const struct sim_cluster *c, uint64_t read_id);

/* Views of one member (0 / follower when it is down). */
enum raft_role sim_role(const struct sim_cluster *c, raft_id i);
raft_term sim_term(const struct sim_cluster *c, raft_id i);
raft_id sim_leader_of(const struct sim_cluster *c, raft_id i);
raft_index sim_commit(const struct sim_cluster *c, raft_id i);
raft_index sim_applied(const struct sim_cluster *c, raft_id i);
raft_index sim_last_index(const struct sim_cluster *c, raft_id i);
raft_term sim_log_term(const struct sim_cluster *c, raft_id i,
		       raft_index index);		  /* 0 when absent */
raft_id sim_vote(const struct sim_cluster *c, raft_id i); /* durable */
/* @i's state machine: the number of the last write applied to @key. */
uint64_t sim_value(const struct sim_cluster *c, raft_id i, unsigned key);
/* How many VOTE and PREVOTE requests @i has sent (cut links included). */
uint64_t sim_vote_requests(const struct sim_cluster *c, raft_id i);
/* How many readies of @i reported a new configuration (rd.config_changed),
 * across restarts. */
uint64_t sim_config_reports(const struct sim_cluster *c, raft_id i);
/* @i's core, to look at with the read-only calls of raft.h (raft_status,
 * raft_membership, raft_membership_at), or NULL while @i is down. */
const struct raft *sim_core(const struct sim_cluster *c, raft_id i);
/* The unique leader among live members with the highest term, or 0. */
raft_id sim_find_leader(const struct sim_cluster *c);
uint64_t sim_now(const struct sim_cluster *c);

/* --- readies taken by hand (manual.c); @i is a member id 1..n --- */

/* Manual mode (@on) for @i: the cluster leaves its readies alone (its
 * core still steps messages delivered to it); the test takes each with
 * sim_ready() and hands it back with sim_advance(), which carries it out
 * as the cluster would and checks the invariants on it. While @i has a
 * ready not carried out, the per-step checks skip it. Turning it off
 * carries out what is left. */
void sim_manual(struct sim_cluster *c, raft_id i, bool on);
/* @i's core for calls the test makes itself (raft_tick, raft_propose,
 * raft_read_index ...); it must be up. The effects come out in its next
 * ready: sim_ready(), or sim_drain() outside manual mode. A read made
 * here is unknown to the cluster: use sim_read(). */
struct raft *sim_raw_core(struct sim_cluster *c, raft_id i);
/* Takes @i's next ready into *@rd (valid until sim_advance()); false when
 * it has none. One ready at a time. */
bool sim_ready(struct sim_cluster *c, raft_id i, struct raft_ready *rd);
/* Carries out the ready sim_ready() took, as the cluster would (in
 * scripted mode the writes complete at once unless held), then runs the
 * invariant checks. */
void sim_advance(struct sim_cluster *c, raft_id i);
/* Carries out every ready of @i (0: of every live member), in manual
 * mode or not. */
void sim_drain(struct sim_cluster *c, raft_id i);
/* Takes @i's next ready (it must have one) and crashes part way through
 * carrying it out: of (1) installing its snapshot, (2) resetting the
 * stored log after it, (3) storing its entries, (4) storing its hard
 * state, only the first @steps are done (those that apply); nothing is
 * sent or applied. Then @i restarts from its disk (in manual mode still). */
void sim_crash_in_ready(struct sim_cluster *c, raft_id i, int steps);

/* The entry at @index on @i's disk (payload bytes and type), or NULL when
 * the disk does not hold it (absent, or compacted into the snapshot). */
const struct raft_entry *sim_disk_entry(const struct sim_cluster *c, raft_id i,
					raft_index index);
/* The hard state on @i's disk. */
struct raft_hard_state sim_disk_hs(const struct sim_cluster *c, raft_id i);
/* Storage edited by hand: the disk of @i, which must be down, loses its
 * entries from @from on (as a torn tail trimmed on restart, but of
 * entries the member may have acknowledged). */
void sim_disk_truncate(struct sim_cluster *c, raft_id i, raft_index from);

/* Runs the invariant checks now (sim_step and every scripted call do it
 * themselves); returns false when one failed. */
bool sim_check(struct sim_cluster *c);

#endif /* TESTS_SIM_CLUSTER_H_ */
