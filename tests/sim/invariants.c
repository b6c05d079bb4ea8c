/* invariants.c - every invariant the simulated cluster checks, in one
 * table {name, section of the Raft paper or thesis, check}. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "core_state.h"

/* A check run after every step, for each live member: @st is its core's
 * status now, nd->term_seen, role_seen and commit_seen what the previous
 * step saw. */
typedef void (*inv_check_fn)(struct sim_cluster *c, struct node *nd,
			     const struct raft_status *st);

/* --- checked at the event (called from cluster.c) --- */

static uint64_t entry_hash(const struct raft_entry *e)
{
	uint64_t h = 1469598103934665603ULL;
	h = (h ^ e->type) * 1099511628211ULL;
	for (uint32_t i = 0; i < e->len; i++)
		h = (h ^ e->data[i]) * 1099511628211ULL;
	return h;
}

unsigned majority(const struct sim_cluster *c)
{
	/* An entry committed under a configuration with v voters is on at
	 * least v/2+1 disks; every configuration had >= min_voters. */
	unsigned v =
	    c->min_voters && c->min_voters < c->n ? c->min_voters : c->n;
	return v / 2 + 1;
}

/* --- Log Matching: (index, term) names one entry and one predecessor --- */

static size_t ident_slot(const struct sim_cluster *c, raft_index i, raft_term t)
{
	uint64_t h = i * 0x9e3779b97f4a7c15ULL ^ t * 0xc2b2ae3d27d4eb4fULL;
	h ^= h >> 29;
	return (size_t)h & (c->cap_idt - 1);
}

static void ident_grow(struct sim_cluster *c)
{
	struct ident *old = c->idt;
	size_t old_cap = c->cap_idt;
	c->cap_idt = old_cap ? old_cap * 2 : 4096;
	c->idt = xcalloc(c->cap_idt, sizeof(*c->idt));
	for (size_t k = 0; k < old_cap; k++) {
		if (!old[k].index)
			continue;
		size_t s = ident_slot(c, old[k].index, old[k].term);
		while (c->idt[s].index)
			s = (s + 1) & (c->cap_idt - 1);
		c->idt[s] = old[k];
	}
	free(old);
}

/* Raft §5.3, Log Matching: "if two logs contain an entry with the same
 * index and term, then the logs are identical in all entries up through
 * the given index." By induction it suffices that each (index, term) has
 * one content and one predecessor term. Every entry a core hands out is
 * compared; an entry is recorded once it exists beyond one member's
 * memory: stored on a disk or sent in an AppendEntries (@record). An
 * entry that died with the memory of a crashed member was never part of
 * any log: a lone voter may win the same term again after such a crash
 * (its term was not durable) and append other entries in it, which is
 * safe as long as none of the first ones left the member (raft.h rule
 * 3). */
void ident_check(struct sim_cluster *c, raft_id who, const struct raft_entry *e,
		 raft_term prev_term, bool record)
{
	uint64_t h = entry_hash(e);
	if (e->term < prev_term)
		inv_fail(c, INV_LOG_MATCHING,
			 "member %" PRIu64 " has term %" PRIu64
			 " at index %" PRIu64 " after term %" PRIu64,
			 who, e->term, e->index, prev_term);
	if ((c->n_idt + 1) * 2 > c->cap_idt)
		ident_grow(c);
	size_t s = ident_slot(c, e->index, e->term);
	while (c->idt[s].index) {
		struct ident *x = &c->idt[s];
		if (x->index == e->index && x->term == e->term) {
			if (x->hash != h || x->prev_term != prev_term)
				inv_fail(
				    c, INV_LOG_MATCHING,
				    "member %" PRIu64
				    " has a different entry (or prefix) at "
				    "index %" PRIu64 " term %" PRIu64
				    " than another member",
				    who, e->index, e->term);
			return;
		}
		s = (s + 1) & (c->cap_idt - 1);
	}
	if (!record)
		return;
	c->idt[s] = (struct ident){e->index, e->term, prev_term, h};
	c->n_idt++;
}

unsigned durable_copies(struct sim_cluster *c, raft_index i, raft_term t)
{
	unsigned n = 0;
	for (unsigned k = 1; k <= c->n; k++)
		if (i <= c->nodes[k].snap.index ||
		    slog_term(&c->nodes[k].disk, i) == t)
			n++;
	return n;
}

/* Records that the entry @e at its index is committed, as observed by
 * member @who in term @cterm; @applied says whether it was applied. */
void chosen_record(struct sim_cluster *c, raft_id who,
		   const struct raft_entry *e, raft_term cterm, bool applied)
{
	raft_index i = e->index;
	uint64_t h = entry_hash(e);
	if (i >= c->n_ch) {
		size_t cap = c->n_ch ? c->n_ch : 1024;
		while (cap <= i)
			cap *= 2;
		c->ch = xrealloc(c->ch, cap * sizeof(*c->ch));
		memset(c->ch + c->n_ch, 0, (cap - c->n_ch) * sizeof(*c->ch));
		c->n_ch = cap;
	}
	struct chosen *x = &c->ch[i];
	if (x->present) {
		if (x->term != e->term || x->hash != h)
			inv_fail(c,
				 applied ? INV_STATE_MACHINE_SAFETY
					 : INV_LEADER_COMPLETENESS,
				 "member %" PRIu64 " %s term %" PRIu64
				 " at index %" PRIu64 " where term %" PRIu64
				 " was committed",
				 who, applied ? "applied" : "commits", e->term,
				 i, x->term);
		if (cterm < x->cterm)
			x->cterm = cterm;
		return;
	}
	x->present = true;
	x->term = e->term;
	x->hash = h;
	x->cterm = cterm;
	uint64_t id = 0;
	x->normal = cmd_decode(e, &x->key, &id);
	x->val = id;
	c->st.committed++;
	/* A committed entry is on a majority of disks (§5.4; the leader
	 * counts itself only through raft_persisted). */
	unsigned copies = durable_copies(c, i, e->term);
	if (copies < majority(c))
		inv_fail(c, INV_COMMITTED_DURABLE,
			 "index %" PRIu64 " term %" PRIu64
			 " is committed (seen by member %" PRIu64
			 ") but durable on only %u members",
			 i, e->term, who, copies);
	/* Leader Completeness (§5.4.3): every leader of a later term has
	 * it. */
	for (unsigned k = 1; k <= c->n; k++) {
		struct node *nd = &c->nodes[k];
		if (!nd->up || nd->role_seen != RAFT_LEADER ||
		    nd->term_seen <= cterm || i <= nd->mem.base)
			continue;
		if (slog_term(&nd->mem, i) != e->term)
			inv_fail(c, INV_LEADER_COMPLETENESS,
				 "leader %" PRIu64 " of term %" PRIu64
				 " lacks index %" PRIu64 " term %" PRIu64
				 " committed in term <= %" PRIu64,
				 nd->id, nd->term_seen, i, e->term, cterm);
	}
}

uint64_t value_at(const struct sim_cluster *c, unsigned key, raft_index a)
{
	for (raft_index i = a; i >= 1; i--)
		if (i < c->n_ch && c->ch[i].normal && c->ch[i].key == key)
			return c->ch[i].val;
	return 0;
}

void record_send_checks(struct sim_cluster *c, struct node *nd,
			const struct raft_msg *m)
{
	if (m->type == RAFT_MSG_VOTE_RESP && !m->reject) {
		/* Figure 2: votedFor is durable before the grant is sent, and a
		 * member votes for at most one candidate per term. */
		if (nd->dhs.term != m->term || nd->dhs.vote != m->to)
			inv_fail(
			    c, INV_VOTE_DURABLE,
			    "member %" PRIu64 " grants its vote to %" PRIu64
			    " in term %" PRIu64
			    " but its disk holds term %" PRIu64
			    " vote %" PRIu64,
			    nd->id, m->to, m->term, nd->dhs.term, nd->dhs.vote);
		if (m->term >= nd->n_votes) {
			size_t cap = nd->n_votes ? nd->n_votes : 64;
			while (cap <= m->term)
				cap *= 2;
			nd->votes = xrealloc(nd->votes, cap * sizeof(raft_id));
			memset(nd->votes + nd->n_votes, 0,
			       (cap - nd->n_votes) * sizeof(raft_id));
			nd->n_votes = cap;
		}
		raft_id prev = nd->votes[m->term];
		if (prev && prev != m->to)
			inv_fail(c, INV_ONE_VOTE_PER_TERM,
				 "member %" PRIu64
				 " granted its vote in term %" PRIu64
				 " to %" PRIu64 " and to %" PRIu64,
				 nd->id, m->term, prev, m->to);
		nd->votes[m->term] = m->to;
		nd->last_vote_tick = c->now;
	}
	if (m->type == RAFT_MSG_APPEND_RESP && !m->reject &&
	    slog_last(&nd->disk) < m->index && nd->snap.index < m->index)
		inv_fail(c, INV_ACK_DURABLE,
			 "member %" PRIu64 " acknowledges index %" PRIu64
			 " but only %" PRIu64 " entries are durable",
			 nd->id, m->index, slog_last(&nd->disk));
}

/* --- checked after every step --- */

static void check_reads(struct sim_cluster *c);

static void check_new_leader(struct sim_cluster *c, struct node *nd,
			     raft_term t)
{
	if (t >= c->n_term_leader) {
		size_t cap = c->n_term_leader ? c->n_term_leader : 64;
		while (cap <= t)
			cap *= 2;
		c->term_leader =
		    xrealloc(c->term_leader, cap * sizeof(raft_id));
		memset(c->term_leader + c->n_term_leader, 0,
		       (cap - c->n_term_leader) * sizeof(raft_id));
		c->n_term_leader = cap;
	}
	raft_id prev = c->term_leader[t];
	if (prev == nd->id)
		return;
	if (prev) {
		inv_fail(c, INV_ELECTION_SAFETY,
			 "members %" PRIu64 " and %" PRIu64
			 " are both leader of term %" PRIu64,
			 prev, nd->id, t);
		return;
	}
	c->term_leader[t] = nd->id;
	c->st.elections++;
	maybe_hot_crash(c, nd->id);
	trace(c, "member %" PRIu64 " becomes leader of term %" PRIu64, nd->id,
	      t);
	/* Leader Completeness (§5.4): "if a log entry is committed in a
	 * given term, then that entry will be present in the logs of the
	 * leaders for all higher-numbered terms." */
	for (raft_index i = 1; i < c->n_ch; i++) {
		const struct chosen *x = &c->ch[i];
		if (!x->present || x->cterm >= t || i <= nd->mem.base)
			continue;
		if (slog_term(&nd->mem, i) != x->term) {
			inv_fail(c, INV_LEADER_COMPLETENESS,
				 "new leader %" PRIu64 " of term %" PRIu64
				 " lacks index %" PRIu64 " term %" PRIu64
				 " committed in term <= %" PRIu64,
				 nd->id, t, i, x->term, x->cterm);
			return;
		}
	}
}

static void check_term_monotonic(struct sim_cluster *c, struct node *nd,
				 const struct raft_status *st)
{
	if (st->term < nd->term_seen)
		inv_fail(c, INV_TERM_MONOTONIC,
			 "member %" PRIu64 " went from term %" PRIu64
			 " back to %" PRIu64,
			 nd->id, nd->term_seen, st->term);
}

/* A member that became leader since the last step: no other member led
 * its term, and it holds every entry committed before (check_new_leader). */
static void check_election_safety(struct sim_cluster *c, struct node *nd,
				  const struct raft_status *st)
{
	if (st->role == RAFT_LEADER &&
	    (nd->role_seen != RAFT_LEADER || nd->term_seen != st->term))
		check_new_leader(c, nd, st->term);
}

static void check_commit_monotonic(struct sim_cluster *c, struct node *nd,
				   const struct raft_status *st)
{
	if (st->commit < nd->commit_seen)
		inv_fail(c, INV_COMMIT_MONOTONIC,
			 "member %" PRIu64 " commit went from %" PRIu64
			 " back to %" PRIu64,
			 nd->id, nd->commit_seen, st->commit);
}

static void check_applied_within_commit(struct sim_cluster *c, struct node *nd,
					const struct raft_status *st)
{
	if (nd->applied > st->commit)
		inv_fail(c, INV_APPLIED_WITHIN_COMMIT,
			 "member %" PRIu64 " applied %" PRIu64
			 " beyond its commit %" PRIu64,
			 nd->id, nd->applied, st->commit);
}

/* Every change to the core's log reached storage through a ready
 * (contract rule 1). */
static void check_log_through_readies(struct sim_cluster *c, struct node *nd,
				      const struct raft_status *st)
{
	if (st->last_index != slog_last(&nd->mem))
		inv_fail(c, INV_LOG_THROUGH_READIES,
			 "member %" PRIu64 " has a log ending at %" PRIu64
			 " but its readies stored up to %" PRIu64,
			 nd->id, st->last_index, slog_last(&nd->mem));
}

static void check_commit_within_log(struct sim_cluster *c, struct node *nd,
				    const struct raft_status *st)
{
	if (st->commit > slog_last(&nd->mem))
		inv_fail(c, INV_COMMIT_WITHIN_LOG,
			 "member %" PRIu64 " commits %" PRIu64
			 " beyond its log (%" PRIu64 ")",
			 nd->id, st->commit, slog_last(&nd->mem));
}

/* --- the table --- */

/* The checks run after every step: the table's first entries. */
#define INV_EACH_STEP (INV_COMMIT_WITHIN_LOG + 1)

struct invariant {
	const char *name;
	const char *section; /* of the Raft paper ("Raft") or the thesis */
	/* Run after every step for each live member, in table order; NULL:
	 * checked where @where says. */
	inv_check_fn check;
	const char *where;
};

static const struct invariant invariants[INV_COUNT] = {
    [INV_TERM_MONOTONIC] = {"Term monotonicity",
			    "Raft §5.1, Figure 2: currentTerm only grows",
			    check_term_monotonic, "after every step"},
    [INV_ELECTION_SAFETY] = {"Election Safety",
			     "Raft §5.2, Figure 3: one leader per term",
			     check_election_safety,
			     "after every step, on each new leader"},
    [INV_COMMIT_MONOTONIC] = {"Commit monotonicity",
			      "Raft Figure 2: commitIndex only grows",
			      check_commit_monotonic, "after every step"},
    [INV_APPLIED_WITHIN_COMMIT] = {"Core contract: applied within commit",
				   "Raft Figure 2: lastApplied follows "
				   "commitIndex",
				   check_applied_within_commit,
				   "after every step"},
    [INV_LOG_THROUGH_READIES] = {"Core contract: log through readies",
				 "raft.h rule 1; Raft Figure 2: persistent "
				 "state",
				 check_log_through_readies, "after every step"},
    [INV_COMMIT_WITHIN_LOG] = {"Core contract: commit within the log",
			       "Raft §5.3: commit only stored entries",
			       check_commit_within_log, "after every step"},
    [INV_ONE_VOTE_PER_TERM] = {"Election Safety: one vote per term",
			       "Raft §5.2, Figure 2: votedFor", NULL,
			       "when a member grants a vote"},
    [INV_LOG_MATCHING] = {"Log Matching", "Raft §5.3, Figure 3", NULL,
			  "each entry a core hands out, stores or sends"},
    [INV_LEADER_COMPLETENESS] = {"Leader Completeness", "Raft §5.4, Figure 3",
				 NULL, "on each new leader, and each commit"},
    [INV_STATE_MACHINE_SAFETY] = {"State Machine Safety",
				  "Raft §5.4.3, Figure 3", NULL,
				  "each entry or snapshot applied"},
    [INV_COMMITTED_DURABLE] = {"Committed entries never lost",
			       "Raft §5.3: committed once on a majority", NULL,
			       "each commit, and each disk overwrite"},
    [INV_VOTE_DURABLE] = {"Ordering contract: vote durable before grant",
			  "raft.h rule 3; Raft Figure 2: stable storage "
			  "before responding",
			  NULL, "when a member grants a vote"},
    [INV_ACK_DURABLE] = {"Ordering contract: entries durable before ack",
			 "raft.h rule 3; Raft Figure 2: stable storage "
			 "before responding",
			 NULL, "when a member acknowledges entries"},
    [INV_READ_LINEARIZABLE] = {"Read linearizability", "thesis §6.4: ReadIndex",
			       NULL, "each read served (checked every step)"},
    [INV_LEADER_APPEND_ONLY] = {"Leader Append-Only", "Raft §5.3, Figure 3",
				NULL, "each ready's entries (cluster.c)"},
    [INV_ORDERING_CONTRACT] = {"Ordering contract",
			       "raft.h rules 1-7; Raft Figure 2: stable "
			       "storage before responding",
			       NULL, "each ready (cluster.c)"},
    [INV_CORE_CONTRACT] = {"Core contract",
			   "raft.h: what the core hands out (consecutive "
			   "entries, known reads, snapshots it has)",
			   NULL, "each ready, compaction (cluster.c)"},
    [INV_LIVENESS] = {"Liveness",
		      "Raft §5.2, thesis §3.4: a leader is elected and "
		      "commits once faults heal",
		      NULL, "after each heal, and each tick's events"},
};

const char *inv_name(enum sim_invariant inv)
{
	return inv < INV_COUNT ? invariants[inv].name : "?";
}

const char *inv_section(enum sim_invariant inv)
{
	return inv < INV_COUNT ? invariants[inv].section : "?";
}

bool inv_lookup(const char *name, size_t len, enum sim_invariant *out)
{
	for (size_t i = 0; i < INV_COUNT; i++)
		if (strlen(invariants[i].name) == len &&
		    memcmp(invariants[i].name, name, len) == 0) {
			*out = (enum sim_invariant)i;
			return true;
		}
	return false;
}

void inv_fail(struct sim_cluster *c, enum sim_invariant inv, const char *fmt,
	      ...)
{
	if (c->failed)
		return;
	c->failed = true;
	int n = snprintf(c->failure, sizeof(c->failure),
			 "%s (%s): ", inv_name(inv), inv_section(inv));
	if (n >= 0 && (size_t)n < sizeof(c->failure)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->failure + n, sizeof(c->failure) - (size_t)n, fmt,
			  ap);
		va_end(ap);
	}
	trace(c, "FAILURE: %s", c->failure);
}

/* Entries a member newly commits: each is the entry committed at its
 * index by anyone (Leader Completeness, State Machine Safety), and on a
 * majority of disks (chosen_record). */
static void note_commits(struct sim_cluster *c, struct node *nd,
			 const struct raft_status *st)
{
	for (raft_index i = nd->commit_seen + 1; i <= st->commit; i++) {
		const struct raft_entry *e = slog_get(&nd->mem, i);
		if (e) /* else compacted: in a snapshot */
			chosen_record(c, nd->id, e, st->term, false);
	}
	if (st->commit > nd->commit_seen) {
		nd->commit_seen = st->commit;
		if (st->role == RAFT_LEADER &&
		    slog_term(&nd->mem, st->commit) != st->term)
			trace(c,
			      "leader %" PRIu64 " commits %" PRIu64
			      " of an older term",
			      nd->id, st->commit);
		if (st->role == RAFT_LEADER)
			maybe_hot_crash(c, nd->id);
	}
}

/* Coverage, not a check: how often a leader's ReadIndex rounds overlap
 * (core_read.c keeps the rounds from its first read's up to read_seq out;
 * the reads in them are what check_reads() then judges). */
static void note_read_rounds(struct sim_cluster *c, struct node *nd)
{
	const struct raft *r = nd->r;
	uint64_t out;

	if (r->role != RAFT_LEADER || r->reads.n == 0 ||
	    r->reads.v[0].round == 0)
		return;
	out = r->read_seq - r->reads.v[0].round + 1;
	if (out > c->st.read_rounds_max_out)
		c->st.read_rounds_max_out = out;
	if (out >= 2 && nd->overlap_seen != r->read_seq) {
		nd->overlap_seen = r->read_seq;
		c->st.read_rounds_overlapped++;
	}
}

bool sim_check(struct sim_cluster *c)
{
	for (unsigned k = 1; k <= c->n && !c->failed; k++) {
		struct node *nd = &c->nodes[k];
		if (!nd->up)
			continue;
		/* A member in manual mode is checked once the test carried
		 * out its ready (manual.c). */
		if (nd->manual && (nd->taken || raft_has_ready(nd->r)))
			continue;
		struct raft_status st;
		raft_status(nd->r, &st);
		/* The per-step checks lead the table (a NULL check here
		 * would crash every test at once). Unrolled, the calls
		 * through the constant table become direct calls. */
#pragma GCC unroll 8
		for (size_t i = 0; i < INV_EACH_STEP; i++)
			invariants[i].check(c, nd, &st);
		nd->term_seen = st.term;
		nd->role_seen = st.role;
		note_read_rounds(c, nd);
		if (st.commit <= slog_last(&nd->mem))
			note_commits(c, nd, &st);
	}
	if (!c->failed)
		check_reads(c);
	return !c->failed;
}

/* Thesis §6.4: a read reflects every write completed before it began. */
static void serve_read(struct sim_cluster *c, uint64_t id)
{
	struct read_req *r = &c->rd[id - 1];
	struct node *nd = &c->nodes[r->node];
	raft_index a = nd->applied;
	uint64_t got = nd->kv[r->key];
	r->state = SIM_READ_SERVED;
	r->value = got;
	r->served_at = a;
	c->st.reads_ok++;
	trace(c,
	      "read %" PRIu64 " on %" PRIu64 " served at applied %" PRIu64
	      " (read index %" PRIu64 ", needs >= %" PRIu64 ")",
	      id, r->node, a, r->index, r->min_index);
	if (a < r->min_index) {
		inv_fail(c, INV_READ_LINEARIZABLE,
			 "read %" PRIu64 " on member %" PRIu64
			 " served at applied index %" PRIu64
			 " (read index %" PRIu64
			 ") but a write completed at index %" PRIu64
			 " before the read was issued",
			 id, r->node, a, r->index, r->min_index);
		return;
	}
	uint64_t want = value_at(c, r->key, a);
	if (got != want)
		inv_fail(c, INV_READ_LINEARIZABLE,
			 "read %" PRIu64 " on member %" PRIu64
			 " returned value %" PRIu64
			 " but the state at index %" PRIu64 " holds %" PRIu64,
			 id, r->node, got, a, want);
}

static void check_reads(struct sim_cluster *c)
{
	size_t j = 0;
	for (size_t k = 0; k < c->n_active; k++) {
		uint64_t id = c->active_reads[k];
		struct read_req *r = &c->rd[id - 1];
		struct node *nd = &c->nodes[r->node];
		if (r->state == SIM_READ_PENDING && r->got_index && nd->up &&
		    nd->inc == r->inc && nd->applied >= r->index)
			serve_read(c, id);
		if (r->state == SIM_READ_PENDING && !c->cfg.scripted &&
		    c->now - r->issued > SIM_READ_TIMEOUT_TICKS) {
			r->state = SIM_READ_FAILED; /* the client gives up */
			c->st.reads_failed++;
		}
		if (r->state == SIM_READ_PENDING)
			c->active_reads[j++] = id;
	}
	c->n_active = j;
}