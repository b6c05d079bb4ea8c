/* cluster_internal.h - the simulated cluster's state, shared by cluster.c
 * (the cluster: network, disks, readies, driving) and invariants.c (the
 * checks). Tests use cluster.h only. */
#ifndef TESTS_SIM_CLUSTER_INTERNAL_H_
#define TESTS_SIM_CLUSTER_INTERNAL_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "raft.h"

#define SIM_READ_TIMEOUT_TICKS 60
#define SIM_CMD_BYTES	       16

/* Memory for the simulation: running out ends it. */
static inline void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	return q;
}

static inline void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	return p;
}

/* --- a log: entries base+1 .. base+n at e[0..n-1]; data owned. Entries
 * up to base are compacted into a snapshot (base_term: the term at base).
 * --- */

struct slog {
	struct raft_entry *e;
	size_t n, cap;
	raft_index base;
	raft_term base_term;
};

static inline raft_index slog_last(const struct slog *l)
{
	return l->base + l->n;
}

static inline const struct raft_entry *slog_get(const struct slog *l,
						raft_index i)
{
	return (i > l->base && i <= l->base + l->n) ? &l->e[i - l->base - 1]
						    : NULL;
}

/* The term at @i: 0 when absent (compacted entries other than base are
 * absent too; callers ask about them separately). */
static inline raft_term slog_term(const struct slog *l, raft_index i)
{
	if (i == l->base)
		return l->base_term;
	const struct raft_entry *e = slog_get(l, i);
	return e ? e->term : 0;
}

/* --- the state machine: a map of SIM_KEYS registers; a write is
 * SIM_CMD_BYTES: the key, then the write's number --- */

static inline bool cmd_decode(const struct raft_entry *e, unsigned *key,
			      uint64_t *id)
{
	if (e->type != RAFT_ENTRY_NORMAL || e->len != SIM_CMD_BYTES)
		return false;
	uint64_t k;
	memcpy(&k, e->data, 8);
	memcpy(id, e->data + 8, 8);
	*key = (unsigned)(k % SIM_KEYS);
	return true;
}

/* A snapshot of a state machine at index (term: the entry's there). */
/* Room for an encoded configuration of SIM_MAX_NODES members. */
#define SIM_CFG_BYTES 160

struct snap {
	raft_index index; /* 0: none */
	raft_term term;
	uint64_t kv[SIM_KEYS];
	/* The configuration at index (raft_membership_at), encoded. */
	uint8_t cfg[SIM_CFG_BYTES];
	size_t cfg_len;
};

struct wop;

struct node {
	raft_id id;
	struct raft *r;
	bool up;
	unsigned inc; /* incarnation: bumped by each crash */
	/* Ticks this incarnation made minus the cluster's ticks since it
	 * started (clock skew; bounded to -1..1 with leases). */
	int clock_offset;
	/* The disk. */
	struct slog disk;
	struct raft_hard_state dhs;
	/* The core's log as its readies describe it. */
	struct slog mem;
	/* Pending writes, FIFO. */
	struct wop *w;
	size_t w_head, w_n, w_cap;
	/* The write pipeline's hard state between readies (ready_plan.h):
	 * the newest one in a write or deferred, and whether it is
	 * deferred (in no write yet). */
	struct raft_hard_state hs_last;
	bool hs_deferred;
	/* The state machine, its durable snapshot (taken here or installed
	 * from a leader) and the last snapshot file received. */
	raft_index applied;
	uint64_t kv[SIM_KEYS];
	struct snap snap;
	struct snap recv;
	/* What the checks last saw. */
	raft_index commit_seen;
	raft_term term_seen;
	enum raft_role role_seen;
	uint64_t overlap_seen; /* last read round seen overlapping another */
	/* Votes granted, by term (0: none), across every incarnation. */
	raft_id *votes;
	size_t n_votes;
	uint64_t vote_requests;
	uint64_t config_reports; /* readies that reported a configuration */
	bool hold; /* scripted: writes stay pending until released */
	/* Manual mode (manual.c): drain() leaves the readies to the test;
	 * taken: the ready in mrd was taken and not yet carried out. */
	bool manual, taken;
	struct raft_ready mrd;
	uint64_t last_vote_tick;
};

/* An entry known committed (or applied) at some index. */
struct chosen {
	bool present;
	bool normal;
	unsigned key;
	uint64_t val;
	raft_term term;
	raft_term cterm; /* >= the term in which it was committed */
	uint64_t hash;
};

struct write_req {
	raft_id node;
	unsigned inc;
	unsigned key;
	bool done;
	raft_index index;
};

struct read_req {
	raft_id node;
	unsigned inc;
	unsigned key;
	raft_index min_index; /* writes completed before it was issued */
	enum sim_read_state state;
	bool got_index;
	raft_index index;
	uint64_t issued;
	/* Once served: the value returned and the applied index it was
	 * served at. */
	uint64_t value;
	raft_index served_at;
};

struct ident {
	raft_index index; /* 0: empty slot */
	raft_term term;
	raft_term prev_term;
	uint64_t hash;
};

enum phase { PHASE_NORMAL, PHASE_HEALING };

struct packet;

struct sim_cluster {
	struct sim_config cfg;
	struct sim_faults faults, saved_faults;
	uint64_t rng;
	uint64_t now;
	unsigned n;
	struct node nodes[SIM_MAX_NODES + 1];
	bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	unsigned link_drop[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1];
	struct packet *pk;
	size_t n_pk, cap_pk;
	uint64_t seq;
	/* Invariant state. */
	raft_id *term_leader;
	size_t n_term_leader;
	struct chosen *ch;
	size_t n_ch;
	struct ident *idt;
	size_t n_idt, cap_idt;
	struct write_req *wr;
	size_t n_wr;
	raft_index completed_max; /* max index of completed writes */
	struct read_req *rd;
	size_t n_rd;
	uint64_t *active_reads; /* read ids still pending */
	size_t n_active;
	char failure[768];
	bool failed;
	/* Liveness. */
	enum phase phase;
	uint64_t next_heal, heal_start;
	raft_id probe_leader;
	raft_term probe_term;
	raft_index probe_index;
	uint64_t probe_id;
	uint64_t tick_events; /* events since the clock last moved */
	size_t torn_keep;     /* sim_crash_torn(): records the crash keeps */
	raft_id hot_crash;    /* crash this member at the end of the step */
	/* Membership changes: the fewest voters any configuration a core
	 * reported had (each set of a joint one), for the majority of the
	 * "committed entries never lost" check. */
	unsigned min_voters;
	struct sim_stats st;
};

/* --- cluster.c, for invariants.c --- */

void trace(struct sim_cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Random mode: marks @i to crash (or be cut off) at the end of the step. */
void maybe_hot_crash(struct sim_cluster *c, raft_id i);

/* The steps of a ready, for manual.c, which carries out the readies a test
 * takes as drain() does. */
void slog_install(struct slog *l, raft_index index, raft_term term);
void note_config(struct sim_cluster *c, struct node *nd,
		 const struct raft_membership *m);
void send_msg(struct sim_cluster *c, struct node *nd, const struct raft_msg *m);
void complete_write(struct sim_cluster *c, struct node *nd);
struct ready_plan;
void enqueue_write(struct sim_cluster *c, struct node *nd,
		   const struct raft_ready *rd, const struct ready_plan *p);
/* Rule 7b on a simulated disk, as kvd's WAL writer does it. */
void disk_install(struct slog *l, raft_index index, raft_term term);
/* The driver's plan for a ready (ready_plan.h), and the whole of a ready
 * carried out by it (what drain() does for each). */
void plan_ready(struct sim_cluster *c, struct node *nd,
		const struct raft_ready *rd, struct ready_plan *p);
void carry_out_ready(struct sim_cluster *c, struct node *nd,
		     const struct raft_ready *rd);
void take_entries(struct sim_cluster *c, struct node *nd,
		  const struct raft_ready *rd, const struct raft_status *st);
struct read_req *read_by_ctx(struct sim_cluster *c, struct node *nd,
			     uint64_t ctx);
void take_committed(struct sim_cluster *c, struct node *nd,
		    const struct raft_ready *rd, const struct raft_status *st);
void install_snapshot(struct sim_cluster *c, struct node *nd,
		      const struct raft_ready *rd);

/* --- invariants.c: each invariant once, with its section --- */

/* The table's order: the checks run after every step come first, in the
 * order they run. */
enum sim_invariant {
	INV_TERM_MONOTONIC,
	INV_ELECTION_SAFETY,
	INV_COMMIT_MONOTONIC,
	INV_APPLIED_WITHIN_COMMIT,
	INV_LOG_THROUGH_READIES,
	INV_COMMIT_WITHIN_LOG,
	INV_ONE_VOTE_PER_TERM,
	INV_LOG_MATCHING,
	INV_LEADER_COMPLETENESS,
	INV_STATE_MACHINE_SAFETY,
	INV_COMMITTED_DURABLE,
	INV_VOTE_DURABLE,
	INV_ACK_DURABLE,
	INV_READ_LINEARIZABLE,
	INV_LEADER_APPEND_ONLY,
	INV_ORDERING_CONTRACT,
	INV_CORE_CONTRACT,
	INV_LIVENESS,
	INV_COUNT
};

/* Records the first failure as "Name (section): details". */
void inv_fail(struct sim_cluster *c, enum sim_invariant inv, const char *fmt,
	      ...) __attribute__((format(printf, 3, 4)));
/* The name and section of @inv (for tests and reports). */
const char *inv_name(enum sim_invariant inv);
const char *inv_section(enum sim_invariant inv);
/* The invariant named by the @len bytes at @name; false when none is. */
bool inv_lookup(const char *name, size_t len, enum sim_invariant *out);

/* Event checks, called where the event happens in cluster.c. */
unsigned majority(const struct sim_cluster *c);
void ident_check(struct sim_cluster *c, raft_id who, const struct raft_entry *e,
		 raft_term prev_term, bool record);
unsigned durable_copies(struct sim_cluster *c, raft_index i, raft_term t);
void chosen_record(struct sim_cluster *c, raft_id who,
		   const struct raft_entry *e, raft_term cterm, bool applied);
uint64_t value_at(const struct sim_cluster *c, unsigned key, raft_index a);
void record_send_checks(struct sim_cluster *c, struct node *nd,
			const struct raft_msg *m);

#endif /* TESTS_SIM_CLUSTER_INTERNAL_H_ */
