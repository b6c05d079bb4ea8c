/* cluster.c - the deterministic simulated cluster (its invariants:
 * invariants.c). */
#include "cluster.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "ready_plan.h"
#include "recovery_plan.h"

/* Limits: a run that exceeds them is a broken core (or a broken sim). */
#define SIM_MAX_PACKETS 20000
#define SIM_MAX_WRITES	65536
/* Events within one tick beyond this are a livelock (a message storm). */
#define SIM_MAX_EVENTS_PER_TICK 200000

/* Drops entries >= @from (never below the base). */
static void slog_truncate(struct slog *l, raft_index from)
{
	if (from <= l->base)
		from = l->base + 1;
	while (slog_last(l) >= from && l->n > 0) {
		free(l->e[l->n - 1].data);
		l->n--;
	}
}

static void entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len) {
		dst->data = xrealloc(NULL, src->len);
		memcpy(dst->data, src->data, src->len);
	}
}

static void slog_append(struct slog *l, const struct raft_entry *e)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	entry_copy(&l->e[l->n], e);
	l->e[l->n].index = slog_last(l) + 1;
	l->n++;
}

/* Compaction: entries up to @base go, the rest stay. */
static void slog_rebase(struct slog *l, raft_index base, raft_term term)
{
	size_t drop = base > l->base ? (size_t)(base - l->base) : 0;
	if (drop > l->n)
		drop = l->n;
	for (size_t i = 0; i < drop; i++)
		free(l->e[i].data);
	/* An empty log may have no array yet (memmove's pointers must not be
	 * NULL, even for 0 bytes). */
	if (drop > 0)
		memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
	l->n -= drop;
	if (base > l->base) {
		l->base = base;
		l->base_term = term;
	}
}

/* Everything goes: the log restarts after a snapshot at @base. */
static void slog_reset(struct slog *l, raft_index base, raft_term term)
{
	slog_truncate(l, l->base + 1);
	l->base = base;
	l->base_term = term;
}

/* Rule 7b of raft.h: a snapshot at (@index, @term) keeps the tail after
 * it only when the log holds that very entry. */
void slog_install(struct slog *l, raft_index index, raft_term term)
{
	if (index < l->base)
		return; /* compacted past it since: nothing left to drop */
	if (slog_term(l, index) == term)
		slog_rebase(l, index, term);
	else
		slog_reset(l, index, term);
}

/* Rule 7b on the simulated disk, as kvd's WAL writer does it: the stored
 * log stays whole when it holds the snapshot's last entry (by Log Matching
 * its tail follows the snapshot; recovery starts the core's log after its
 * first stored entry, recovery_plan.h), else it restarts after the
 * snapshot. */
void disk_install(struct slog *l, raft_index index, raft_term term)
{
	if (index < l->base)
		return; /* compacted past it since: nothing left to drop */
	if (slog_term(l, index) != term)
		slog_reset(l, index, term);
}

static void slog_free(struct slog *l)
{
	slog_truncate(l, l->base + 1);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* --- messages --- */

static void msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
	*dst = *src;
	dst->entries = NULL;
	if (src->n_entries) {
		dst->entries =
		    xcalloc(src->n_entries, sizeof(struct raft_entry));
		for (size_t i = 0; i < src->n_entries; i++)
			entry_copy(&dst->entries[i], &src->entries[i]);
	}
}

static void msg_free(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	m->entries = NULL;
	m->n_entries = 0;
}

struct packet {
	struct raft_msg m;
	/* A snapshot transfer (m.type RAFT_MSG_SNAPSHOT): the file, and
	 * whether the transfer failed on the way. */
	bool is_snap, lost;
	struct snap s;
	unsigned from_inc;
	uint64_t at;  /* deliverable from this tick */
	uint64_t seq; /* send order */
};

/* A ready's writes, waiting for the simulated disk. */
struct wop {
	bool hs_changed;
	struct raft_hard_state hs;
	struct raft_entry *ents;
	size_t n_ents;
	struct raft_msg *msgs; /* msgs_after_persist */
	size_t n_msgs;
	uint64_t at; /* may complete from this tick */
	/* Rule 7b, done on the stored log when the write completes. */
	bool has_snap;
	raft_index snap_index;
	raft_term snap_term;
};

static void wop_free(struct wop *w)
{
	for (size_t i = 0; i < w->n_ents; i++)
		free(w->ents[i].data);
	free(w->ents);
	for (size_t i = 0; i < w->n_msgs; i++)
		msg_free(&w->msgs[i]);
	free(w->msgs);
	memset(w, 0, sizeof(*w));
}

static void drain(struct sim_cluster *c, struct node *nd);
static uint64_t msg_delay(struct sim_cluster *c);
static void random_config_change(struct sim_cluster *c);

static uint64_t rng_next(struct sim_cluster *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct sim_cluster *c, uint64_t n)
{
	return n ? rng_next(c) % n : 0;
}

static bool chance(struct sim_cluster *c, unsigned pct)
{
	return rnd(c, 100) < pct;
}

static bool chance_pm(struct sim_cluster *c, unsigned permille)
{
	return rnd(c, 1000) < permille;
}

void trace(struct sim_cluster *c, const char *fmt, ...)
{
	if (!c->cfg.trace)
		return;
	va_list ap;
	fprintf(c->cfg.trace, "[t=%" PRIu64 " s=%" PRIu64 "] ", c->now,
		c->st.steps);
	va_start(ap, fmt);
	vfprintf(c->cfg.trace, fmt, ap);
	va_end(ap);
	fputc('\n', c->cfg.trace);
}

/* Records the first failure; later ones are dropped. A message
 * "Name: details" where Name is an invariant's (inv_lookup) counts as
 * inv_fail() of that invariant. */
static void fail(struct sim_cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct sim_cluster *c, const char *fmt, ...)
{
	if (c->failed)
		return;
	char msg[sizeof(c->failure)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A message that starts with an invariant's name ("Leader
	 * Append-Only: ...") is that invariant's: the table adds its
	 * section. */
	const char *colon = strstr(msg, ": ");
	enum sim_invariant inv;
	if (colon && inv_lookup(msg, (size_t)(colon - msg), &inv)) {
		inv_fail(c, inv, "%s", colon + 2);
		return;
	}
	c->failed = true;
	memcpy(c->failure, msg, sizeof(msg));
	trace(c, "FAILURE: %s", c->failure);
}

/* The fewest voters of each set of a configuration a ready of @nd
 * reported. */
void note_config(struct sim_cluster *c, struct node *nd,
		 const struct raft_membership *m)
{
	unsigned in = 0, out = 0;
	nd->config_reports++;
	for (size_t k = 0; k < m->n; k++) {
		in += (m->members[k].flags & RAFT_MEMBER_VOTER) != 0;
		out += (m->members[k].flags & RAFT_MEMBER_OUTGOING) != 0;
	}
	if (m->joint && out < in)
		in = out;
	if (in > 0 && (c->min_voters == 0 || in < c->min_voters))
		c->min_voters = in;
}

static struct node *node_of(struct sim_cluster *c, raft_id i)
{
	assert(i >= 1 && i <= c->n);
	return &c->nodes[i];
}

/* --- the state machine: a map of SIM_KEYS registers --- */

static void apply_entry(struct sim_cluster *c, struct node *nd,
			const struct raft_entry *e, bool replay)
{
	unsigned key;
	uint64_t id;
	nd->applied = e->index;
	if (!cmd_decode(e, &key, &id))
		return;
	nd->kv[key] = id;
	if (replay || id == 0 || id > c->n_wr)
		return;
	struct write_req *w = &c->wr[id - 1];
	if (!w->done && w->node == nd->id && w->inc == nd->inc) {
		/* The client of this write sees it complete now. */
		w->done = true;
		w->index = e->index;
		if (e->index > c->completed_max)
			c->completed_max = e->index;
	}
}

/* --- the network --- */

static struct packet *push_packet(struct sim_cluster *c,
				  const struct raft_msg *m, uint64_t at)
{
	if (c->n_pk >= SIM_MAX_PACKETS) {
		c->st.dropped++;
		return NULL;
	}
	if (c->n_pk == c->cap_pk) {
		c->cap_pk = c->cap_pk ? c->cap_pk * 2 : 256;
		c->pk = xrealloc(c->pk, c->cap_pk * sizeof(*c->pk));
	}
	struct packet *p = &c->pk[c->n_pk++];
	memset(p, 0, sizeof(*p));
	msg_copy(&p->m, m);
	p->at = at;
	p->seq = ++c->seq;
	return p;
}

/* The configuration in effect at @index (at or above the durable
 * snapshot's, at most the last stored index), encoded: the last stored
 * CONFIG entry up to @index above the snapshot, else the snapshot's own.
 * None (*@len 0) when neither has one. */
static void config_at(const struct node *nd, raft_index index,
		      const uint8_t **cfg, size_t *len)
{
	*cfg = NULL;
	*len = 0;
	for (raft_index i = index; i > nd->snap.index; i--) {
		const struct raft_entry *e = slog_get(&nd->disk, i);
		if (e == NULL)
			break;
		if (e->type == RAFT_ENTRY_CONFIG) {
			*cfg = e->data;
			*len = e->len;
			return;
		}
	}
	if (nd->snap.index && nd->snap.cfg_len) {
		*cfg = nd->snap.cfg;
		*len = nd->snap.cfg_len;
	}
}

/* A snapshot of the state machine at its applied index, taken when the
 * core asks for one newer than the newest: recovery starts the core's log
 * after the first stored entry, which may be past the newest snapshot, and
 * kvd's snapshotter then takes a fresh one of the store to send. */
static void fresh_snapshot(struct sim_cluster *c, struct node *nd)
{
	raft_index a = nd->applied;
	raft_term ta =
	    a == nd->snap.index ? nd->snap.term : slog_term(&nd->disk, a);
	const uint8_t *cfg;
	size_t cfg_len;
	config_at(nd, a, &cfg, &cfg_len);
	if (ta == 0 || cfg_len > sizeof(nd->snap.cfg)) {
		fail(c,
		     "Simulation: member %" PRIu64
		     " cannot take a snapshot at its applied index %" PRIu64,
		     nd->id, a);
		return;
	}
	if (cfg_len)
		memmove(nd->snap.cfg, cfg, cfg_len);
	nd->snap.cfg_len = cfg_len;
	nd->snap.index = a;
	nd->snap.term = ta;
	memcpy(nd->snap.kv, nd->kv, sizeof(nd->kv));
	trace(c, "member %" PRIu64 " takes a fresh snapshot at %" PRIu64,
	      nd->id, a);
}

/* The leader's driver streams its newest snapshot to m->to: one packet
 * that carries the file; its outcome is reported back when it lands. */
static void send_snapshot(struct sim_cluster *c, struct node *nd,
			  const struct raft_msg *m)
{
	if (nd->snap.index < m->index && nd->applied >= m->index)
		fresh_snapshot(c, nd);
	if (nd->snap.index == 0 || nd->snap.index < m->index) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " asks for a snapshot at %" PRIu64
		     " but its newest is at %" PRIu64,
		     nd->id, m->index, nd->snap.index);
		return;
	}
	/* A retried transfer may deliver the file twice. */
	unsigned copies = 1;
	if (!c->cfg.scripted && c->faults.dup_pct &&
	    chance(c, c->faults.dup_pct))
		copies = 2;
	for (unsigned k = 0; k < copies; k++) {
		bool lost = c->cut[m->from][m->to] ||
			    (!c->cfg.scripted &&
			     chance(c, c->link_drop[m->from][m->to]));
		struct packet *p = push_packet(
		    c, m, c->now + (c->cfg.scripted ? 0 : msg_delay(c)));
		if (!p)
			return;
		p->is_snap = true;
		p->lost = lost;
		p->s = nd->snap;
		p->from_inc = nd->inc;
		p->m.index = nd->snap.index;
		p->m.log_term = nd->snap.term;
	}
}

/* Tells the leader's core how the transfer went, if that incarnation of
 * the leader still runs. */
static void report_snapshot(struct sim_cluster *c, const struct packet *p,
			    bool ok)
{
	struct node *from = &c->nodes[p->m.from];
	if (!from->up || from->inc != p->from_inc)
		return;
	trace(c, "snapshot transfer %" PRIu64 "->%" PRIu64 " %s", p->m.from,
	      p->m.to, ok ? "done" : "failed");
	raft_report_snapshot(from->r, p->m.to, ok);
	drain(c, from);
}

static uint64_t msg_delay(struct sim_cluster *c)
{
	/* Now and then a message is held for a long time (a stuck
	 * connection that finally flushes): it arrives terms later. */
	if (c->faults.long_delay_permille &&
	    chance_pm(c, c->faults.long_delay_permille))
		return 1 + rnd(c, 10 * (uint64_t)c->cfg.election_ticks);
	if (c->faults.delay_pct && chance(c, c->faults.delay_pct))
		return 1 +
		       rnd(c, c->faults.delay_max ? c->faults.delay_max : 1);
	return 0;
}

void send_msg(struct sim_cluster *c, struct node *nd, const struct raft_msg *m)
{
	if (m->from != nd->id || m->to < 1 || m->to > c->n || m->to == nd->id) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " sends a message from %" PRIu64 " to %" PRIu64,
		     nd->id, m->from, m->to);
		return;
	}
	record_send_checks(c, nd, m);
	if (m->type == RAFT_MSG_APPEND)
		for (size_t k = 0; k < m->n_entries; k++)
			ident_check(c, nd->id, &m->entries[k],
				    k ? m->entries[k - 1].term : m->log_term,
				    true);
	if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE)
		nd->vote_requests++;
	if (m->type == RAFT_MSG_SNAPSHOT) {
		send_snapshot(c, nd, m);
		return;
	}
	if (c->cut[m->from][m->to]) {
		c->st.dropped++;
		return;
	}
	if (c->cfg.scripted) {
		push_packet(c, m, c->now);
		return;
	}
	if (chance(c, c->link_drop[m->from][m->to])) {
		c->st.dropped++;
		return;
	}
	push_packet(c, m, c->now + msg_delay(c));
	if (c->faults.dup_pct && chance(c, c->faults.dup_pct))
		push_packet(c, m, c->now + msg_delay(c));
}

static void deliver_at(struct sim_cluster *c, size_t k)
{
	struct packet p = c->pk[k];
	c->pk[k] = c->pk[--c->n_pk];
	struct node *to = &c->nodes[p.m.to];
	if (!to->up || c->cut[p.m.from][p.m.to] || p.lost) {
		c->st.dropped++;
		if (p.is_snap)
			report_snapshot(c, &p, false);
		msg_free(&p.m);
		return;
	}
	if (p.is_snap)
		to->recv = p.s; /* the whole file arrived and checks out */
	trace(c,
	      "deliver %" PRIu64 "->%" PRIu64 " %s term=%" PRIu64
	      " index=%" PRIu64 " log_term=%" PRIu64 " commit=%" PRIu64
	      " n=%zu reject=%d ctx=%" PRIu64,
	      p.m.from, p.m.to, raft_msg_type_name(p.m.type), p.m.term,
	      p.m.index, p.m.log_term, p.m.commit, p.m.n_entries,
	      (int)p.m.reject, p.m.context);
	c->st.delivered++;
	if (p.is_snap && p.s.cfg_len > 0) {
		/* The driver steps the snapshot with the configuration stored
		 * in it (raft.h, SNAPSHOT). */
		struct raft_entry ce = {.type = RAFT_ENTRY_CONFIG,
					.index = p.s.index,
					.len = (uint32_t)p.s.cfg_len,
					.data = p.s.cfg};
		struct raft_msg sm = p.m;
		sm.entries = &ce;
		sm.n_entries = 1;
		raft_step(to->r, &sm);
	} else {
		raft_step(to->r, &p.m);
	}
	msg_free(&p.m);
	drain(c, to);
	if (p.is_snap)
		report_snapshot(c, &p, true);
}

/* --- the disk --- */

/* Writes entries [from, to) of @w to @nd's disk (contract rule 1: a
 * conflicting stored suffix goes first), then checks that no committed
 * entry lost its last majority. */
static void disk_write_entries(struct sim_cluster *c, struct node *nd,
			       const struct wop *w, size_t from, size_t to)
{
	/* Entries a snapshot already covers are not stored again. */
	while (from < to && w->ents[from].index <= nd->disk.base)
		from++;
	if (from >= to)
		return;
	raft_index old_last = slog_last(&nd->disk);
	raft_index first = w->ents[from].index;
	if (first > old_last + 1) {
		fail(c,
		     "Core contract: member %" PRIu64 " stores index %" PRIu64
		     " after its last %" PRIu64,
		     nd->id, first, old_last);
		return;
	}
	slog_truncate(&nd->disk, first);
	for (size_t i = from; i < to; i++) {
		ident_check(c, nd->id, &w->ents[i],
			    slog_term(&nd->disk, w->ents[i].index - 1), true);
		slog_append(&nd->disk, &w->ents[i]);
	}
	if (first > old_last)
		return;
	for (raft_index i = first; i <= old_last && i < c->n_ch; i++) {
		if (!c->ch[i].present)
			continue;
		unsigned copies = durable_copies(c, i, c->ch[i].term);
		if (copies < majority(c))
			fail(c,
			     "Committed entries never lost: member %" PRIu64
			     " overwrote index %" PRIu64 " term %" PRIu64
			     "; now durable on only %u members",
			     nd->id, i, c->ch[i].term, copies);
	}
}

void complete_write(struct sim_cluster *c, struct node *nd)
{
	assert(nd->w_head < nd->w_n);
	struct wop *w = &nd->w[nd->w_head++];
	raft_index first = w->n_ents ? w->ents[0].index : 0;
	if (w->has_snap)
		disk_install(&nd->disk, w->snap_index, w->snap_term);
	disk_write_entries(c, nd, w, 0, w->n_ents);
	if (w->hs_changed)
		nd->dhs = w->hs;
	trace(c,
	      "persist on %" PRIu64 ": %zu entries from %" PRIu64
	      " (disk last %" PRIu64 ") hs=%d term=%" PRIu64 " vote=%" PRIu64,
	      nd->id, w->n_ents, first, slog_last(&nd->disk),
	      (int)w->hs_changed, nd->dhs.term, nd->dhs.vote);
	c->st.writes++;
	for (size_t i = 0; i < w->n_msgs; i++)
		send_msg(c, nd, &w->msgs[i]);
	if (w->n_ents) {
		const struct raft_entry *last = &w->ents[w->n_ents - 1];
		raft_persisted(nd->r, last->index, last->term);
	}
	wop_free(w);
	if (nd->w_head == nd->w_n)
		nd->w_head = nd->w_n = 0;
}

/* A crash in the middle of the write stream: the log file keeps a prefix
 * of the records written (a torn tail is cut at the first bad frame). In
 * one write the entries come before the hard state, as the server's WAL
 * writes them: a hard state stored ahead of its entries could carry a
 * commit index that covers stale entries still on disk. Nothing was
 * acknowledged for the lost records, so the core must simply accept what
 * is there. */
static void torn_writes(struct sim_cluster *c, struct node *nd, size_t keep)
{
	size_t total = 0;
	for (size_t k = nd->w_head; k < nd->w_n; k++)
		total += nd->w[k].n_ents + (nd->w[k].hs_changed ? 1 : 0);
	if (keep > total)
		keep = total;
	if (!keep)
		return;
	trace(c, "torn crash of %" PRIu64 ": %zu of %zu records survive",
	      nd->id, keep, total);
	for (size_t k = nd->w_head; k < nd->w_n && keep; k++) {
		const struct wop *w = &nd->w[k];
		if (w->has_snap)
			disk_install(&nd->disk, w->snap_index, w->snap_term);
		size_t n = keep < w->n_ents ? keep : w->n_ents;
		disk_write_entries(c, nd, w, 0, n);
		keep -= n;
		if (w->hs_changed && keep) {
			nd->dhs = w->hs;
			keep--;
		}
	}
}

/* The write of @rd's job as the plan @p made it (ready_plan.h). */
void enqueue_write(struct sim_cluster *c, struct node *nd,
		   const struct raft_ready *rd, const struct ready_plan *p)
{
	if (nd->w_n - nd->w_head >= SIM_MAX_WRITES) {
		fail(c,
		     "Simulation limit: member %" PRIu64
		     " has too many pending writes",
		     nd->id);
		return;
	}
	if (nd->w_n == nd->w_cap) {
		if (nd->w_head) {
			memmove(nd->w, nd->w + nd->w_head,
				(nd->w_n - nd->w_head) * sizeof(*nd->w));
			nd->w_n -= nd->w_head;
			nd->w_head = 0;
		}
		if (nd->w_n == nd->w_cap) {
			nd->w_cap = nd->w_cap ? nd->w_cap * 2 : 16;
			nd->w = xrealloc(nd->w, nd->w_cap * sizeof(*nd->w));
		}
	}
	struct wop *w = &nd->w[nd->w_n++];
	memset(w, 0, sizeof(*w));
	w->hs_changed = p->job_has_hs;
	w->hs = p->job_hs;
	w->has_snap = p->job_install;
	w->snap_index = rd->snapshot.index;
	w->snap_term = rd->snapshot.term;
	if (rd->n_entries) {
		w->ents = xcalloc(rd->n_entries, sizeof(*w->ents));
		for (size_t i = 0; i < rd->n_entries; i++)
			entry_copy(&w->ents[i], &rd->entries[i]);
		w->n_ents = rd->n_entries;
	}
	if (rd->n_msgs_after_persist && !p->send_after_persist_now) {
		w->msgs = xcalloc(rd->n_msgs_after_persist, sizeof(*w->msgs));
		for (size_t i = 0; i < rd->n_msgs_after_persist; i++)
			msg_copy(&w->msgs[i], &rd->msgs_after_persist[i]);
		w->n_msgs = rd->n_msgs_after_persist;
	}
	w->at = c->now;
	if (!c->cfg.scripted && c->faults.disk_slow_pct &&
	    chance(c, c->faults.disk_slow_pct))
		w->at +=
		    1 + rnd(c, c->faults.disk_max ? c->faults.disk_max : 1);
	/* FIFO: a write never completes before an earlier one. */
	if (nd->w_n - nd->w_head > 1 && w->at < nd->w[nd->w_n - 2].at)
		w->at = nd->w[nd->w_n - 2].at;
}

/* --- readies --- */

void take_entries(struct sim_cluster *c, struct node *nd,
		  const struct raft_ready *rd, const struct raft_status *st)
{
	raft_index first = rd->entries[0].index;
	if (first <= nd->mem.base || first > slog_last(&nd->mem) + 1) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " stores entries from index %" PRIu64
		     " but its log holds %" PRIu64 "..%" PRIu64,
		     nd->id, first, nd->mem.base + 1, slog_last(&nd->mem));
		return;
	}
	/* Figure 3, Leader Append-Only: "a leader never overwrites or
	 * deletes entries in its log; it only appends new entries." */
	if (st->role == RAFT_LEADER && first <= slog_last(&nd->mem))
		fail(c,
		     "Leader Append-Only: leader %" PRIu64 " of term %" PRIu64
		     " rewrites its log from index %" PRIu64 " (last %" PRIu64
		     ")",
		     nd->id, st->term, first, slog_last(&nd->mem));
	for (size_t k = 0; k < rd->n_entries; k++) {
		const struct raft_entry *e = &rd->entries[k];
		if (e->index != first + k) {
			fail(c,
			     "Core contract: member %" PRIu64
			     " stores non-consecutive entries",
			     nd->id);
			return;
		}
		raft_term prev = k ? rd->entries[k - 1].term
				   : slog_term(&nd->mem, first - 1);
		ident_check(c, nd->id, e, prev, false);
	}
	slog_truncate(&nd->mem, first);
	for (size_t k = 0; k < rd->n_entries; k++)
		slog_append(&nd->mem, &rd->entries[k]);
}

struct read_req *read_by_ctx(struct sim_cluster *c, struct node *nd,
			     uint64_t ctx)
{
	if (ctx == 0 || ctx > c->n_rd) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " answers unknown read %" PRIu64,
		     nd->id, ctx);
		return NULL;
	}
	struct read_req *r = &c->rd[ctx - 1];
	if (r->node != nd->id) {
		fail(c,
		     "Core contract: member %" PRIu64 " answers read %" PRIu64
		     " issued on %" PRIu64,
		     nd->id, ctx, r->node);
		return NULL;
	}
	if (r->inc != nd->inc)
		return NULL; /* issued before a crash: the core forgot it */
	return r;
}

void take_committed(struct sim_cluster *c, struct node *nd,
		    const struct raft_ready *rd, const struct raft_status *st)
{
	for (size_t k = 0; k < rd->n_committed; k++) {
		const struct raft_entry *e = &rd->committed[k];
		if (e->index != nd->applied + 1) {
			fail(c,
			     "Core contract: member %" PRIu64
			     " is given index %" PRIu64
			     " to apply after %" PRIu64,
			     nd->id, e->index, nd->applied);
			return;
		}
		/* Rule 5: only entries durable here are applied. */
		if (slog_term(&nd->disk, e->index) != e->term)
			fail(c,
			     "Ordering contract: member %" PRIu64
			     " applies index %" PRIu64 " term %" PRIu64
			     " which its disk does not hold",
			     nd->id, e->index, e->term);
		chosen_record(c, nd->id, e, st->term, true);
		apply_entry(c, nd, e, false);
	}
}

/* Contract rule 7: the snapshot received is installed and durable before
 * anything of this ready; the stored log follows when its write does. */
void install_snapshot(struct sim_cluster *c, struct node *nd,
		      const struct raft_ready *rd)
{
	raft_index si = rd->snapshot.index;
	raft_term stt = rd->snapshot.term;
	if (nd->recv.index != si || nd->recv.term != stt) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " installs a snapshot at %" PRIu64 " term %" PRIu64
		     " but received one at %" PRIu64 " term %" PRIu64,
		     nd->id, si, stt, nd->recv.index, nd->recv.term);
		return;
	}
	if (si <= nd->applied) {
		fail(c,
		     "Core contract: member %" PRIu64
		     " installs a snapshot at %" PRIu64 " but applied %" PRIu64,
		     nd->id, si, nd->applied);
		return;
	}
	/* The snapshot is the state at si of the one committed log. */
	if (si < c->n_ch && c->ch[si].present && c->ch[si].term != stt)
		fail(c,
		     "State Machine Safety: member %" PRIu64
		     " installs a snapshot at %" PRIu64 " term %" PRIu64
		     " where term %" PRIu64 " was committed",
		     nd->id, si, stt, c->ch[si].term);
	for (unsigned k = 0; k < SIM_KEYS; k++)
		if (nd->recv.kv[k] != value_at(c, k, si))
			fail(c,
			     "State Machine Safety: the snapshot at %" PRIu64
			     " installed on %" PRIu64 " does not match the log",
			     si, nd->id);
	trace(c,
	      "member %" PRIu64 " installs snapshot at %" PRIu64
	      " term %" PRIu64,
	      nd->id, si, stt);
	nd->snap = nd->recv;
	memcpy(nd->kv, nd->snap.kv, sizeof(nd->kv));
	nd->applied = si;
	slog_install(&nd->mem, si, stt);
	c->st.snapshots++;
}

/* The driver's plan for @rd on @nd (ready_plan.h), from @nd's write
 * pipeline: the writes pending are the jobs in flight. */
void plan_ready(struct sim_cluster *c, struct node *nd,
		const struct raft_ready *rd, struct ready_plan *p)
{
	struct ready_pipeline pl = {.jobs_in_flight = nd->w_n - nd->w_head,
				    .hs_last = nd->hs_last,
				    .hs_deferred = nd->hs_deferred};
	ready_plan(rd, &pl, raft_role(nd->r), p);
	if (c->cfg.sim_mutations & SIM_MUTATE_SEND_BEFORE_WRITE)
		p->send_after_persist_now = true;
}

/* Carries out one ready of @nd by the driver's own plan, as kvd's node
 * does. A job the plan writes inline is, to the simulated disk, a write
 * like any other: kvd's inline write holds its thread until done, one of
 * the interleavings the simulated disk chooses among. */
void carry_out_ready(struct sim_cluster *c, struct node *nd,
		     const struct raft_ready *rd)
{
	struct raft_status st;
	struct ready_plan p;
	raft_index applied0 = nd->applied;
	raft_status(nd->r, &st);
	plan_ready(c, nd, rd, &p);
	if (rd->config_changed)
		note_config(c, nd, rd->config);
	if (p.install_snapshot)
		install_snapshot(c, nd, rd);
	if (rd->n_entries)
		take_entries(c, nd, rd, &st);
	if (p.job)
		enqueue_write(c, nd, rd, &p);
	nd->hs_last = p.next.hs_last;
	nd->hs_deferred = p.next.hs_deferred;
	for (size_t k = 0; k < rd->n_msgs; k++)
		send_msg(c, nd, &rd->msgs[k]);
	if (p.send_after_persist_now)
		for (size_t k = 0; k < rd->n_msgs_after_persist; k++)
			send_msg(c, nd, &rd->msgs_after_persist[k]);
	take_committed(c, nd, rd, &st);
	for (size_t k = 0; k < rd->n_reads; k++) {
		struct read_req *r = read_by_ctx(c, nd, rd->reads[k].ctx);
		if (!r)
			continue;
		if (r->got_index || r->state != SIM_READ_PENDING) {
			if (r->state == SIM_READ_PENDING)
				fail(c,
				     "Core contract: read %" PRIu64
				     " answered twice",
				     rd->reads[k].ctx);
			continue;
		}
		r->got_index = true;
		r->index = rd->reads[k].index;
		trace(c, "read %" PRIu64 " on %" PRIu64 " gets index %" PRIu64,
		      rd->reads[k].ctx, nd->id, r->index);
	}
	for (size_t k = 0; k < rd->n_failed_reads; k++) {
		struct read_req *r =
		    read_by_ctx(c, nd, rd->failed_reads[k].ctx);
		if (r && r->state == SIM_READ_PENDING && !r->got_index) {
			r->state = SIM_READ_FAILED;
			c->st.reads_failed++;
		}
	}
	raft_advance(nd->r, rd);
	if (nd->applied != applied0)
		raft_applied(nd->r, nd->applied);
	if (c->cfg.scripted && !nd->hold)
		while (nd->w_head < nd->w_n)
			complete_write(c, nd);
}

static void drain(struct sim_cluster *c, struct node *nd)
{
	if (nd->manual)
		return; /* the test takes its readies (manual.c) */
	while (nd->up && raft_has_ready(nd->r)) {
		struct raft_ready rd;
		raft_ready(nd->r, &rd);
		carry_out_ready(c, nd, &rd);
	}
}

/* --- members --- */

static int node_start(struct sim_cluster *c, struct node *nd)
{
	raft_id voters[SIM_MAX_NODES];
	unsigned nv = c->cfg.n_voters;
	nd->clock_offset = 0;
	for (unsigned k = 0; k < nv; k++)
		voters[k] = k + 1;
	/* A member beyond the founding voters starts empty, as kvd does
	 * without --initial-cluster, and waits to be added. */
	if (nd->id > nv)
		nv = 0;
	struct raft_options o = {
	    .id = nd->id,
	    .voters = voters,
	    .n_voters = nv,
	    .election_ticks = c->cfg.election_ticks,
	    .heartbeat_ticks = c->cfg.heartbeat_ticks,
	    .seed = c->cfg.seed * 1000003ULL + nd->id * 7919ULL + nd->inc,
	    .pre_vote = c->cfg.pre_vote,
	    .check_quorum = c->cfg.check_quorum,
	    .max_append_entries = c->cfg.max_append_entries,
	    .max_inflight = c->cfg.max_inflight,
	    .max_pending_entries = c->cfg.max_pending_entries,
	    .max_pending_reads = c->cfg.max_pending_reads,
	    .max_read_rounds = c->cfg.max_read_rounds,
	    .lease_ticks = c->cfg.lease_ticks,
	    .max_entry_bytes = c->cfg.max_entry_bytes,
	    .mutations = c->cfg.raft_mutations,
	};
	/* The state machine first, as kvd finds LMDB: applied up to some
	 * index at or above the durable snapshot's. A stored log that does
	 * not continue the snapshot (a crash between rule 7a and 7b) has
	 * nothing to re-apply above it. */
	raft_index last = slog_last(&nd->disk);
	bool follows = slog_term(&nd->disk, nd->snap.index) == nd->snap.term;
	raft_index top = nd->dhs.commit < last ? nd->dhs.commit : last;
	if (!follows || top < nd->snap.index)
		top = nd->snap.index;
	raft_index applied;
	if (nd->inc > 0 && nd->applied <= last &&
	    nd->applied >= nd->snap.index &&
	    (c->cfg.scripted || chance(c, 50))) {
		/* A durable state machine (as LMDB in the server) kept what
		 * it applied, which may be past the stored commit index (the
		 * driver defers a commit index alone, ready_plan.h); always
		 * so in scripted runs, as after a process crash. */
		applied = nd->applied;
	} else {
		/* The state machine is rebuilt from the snapshot and by
		 * re-applying a random prefix of the committed log after it;
		 * the core hands over the rest in rd.committed. */
		raft_index from = nd->snap.index;
		applied = c->cfg.scripted ? top : from + rnd(c, top - from + 1);
		memcpy(nd->kv, nd->snap.kv, sizeof(nd->kv));
		nd->applied = from;
		for (raft_index i = from + 1; i <= applied; i++) {
			const struct raft_entry *e = slog_get(&nd->disk, i);
			chosen_record(c, nd->id, e, nd->dhs.term, true);
			apply_entry(c, nd, e, true);
		}
	}
	raft_term applied_term = applied == nd->snap.index
				     ? nd->snap.term
				     : slog_term(&nd->disk, applied);

	/* Then the driver's own recovery (recovery_plan.h) over the disk,
	 * seen as kvd sees its WAL: the entries after the compacted base,
	 * without the base's term. */
	struct recovery_state in = {
	    .first = nd->disk.base + 1,
	    .last = last,
	    .entries = nd->disk.n ? nd->disk.e : NULL,
	    .n_entries = nd->disk.n,
	    .hs = nd->dhs,
	    .applied = applied,
	    .applied_term = applied_term,
	};
	if (c->cfg.sim_mutations & SIM_MUTATE_FORGET_VOTE)
		in.hs.vote = 0;
	struct recovery_plan p;
	if (recovery_plan(&in, &p) != RECOVERY_OK) {
		fail(c,
		     "Recovery: member %" PRIu64 " applied %" PRIu64
		     " but its log starts at %" PRIu64,
		     nd->id, applied, in.first);
		return RAFT_EINVAL;
	}
	if (p.reset) {
		/* Rule 7b on recovery: the stored log restarts after the
		 * snapshot the state machine holds. */
		trace(c,
		      "member %" PRIu64 " drops its stored log %" PRIu64
		      "..%" PRIu64 ": it does not continue the snapshot at "
		      "%" PRIu64,
		      nd->id, in.first, in.last, p.reset_index);
		slog_reset(&nd->disk, p.reset_index, applied_term);
	}
	struct raft_restore rs;
	memset(&rs, 0, sizeof(rs));
	rs.hs = p.hs;
	rs.snapshot_index = p.snapshot_index;
	rs.snapshot_term = p.snapshot_term;
	rs.entries =
	    p.n_entries ? slog_get(&nd->disk, p.snapshot_index + 1) : NULL;
	rs.n_entries = p.n_entries;
	rs.applied = p.applied;
	/* The configuration at the applied index, as kvd keeps it in
	 * members.json: compaction may have dropped its entry. */
	const uint8_t *cfg = NULL;
	size_t cfg_len = 0;
	if (p.needs_config)
		config_at(nd, applied, &cfg, &cfg_len);
	rs.snapshot_config = cfg;
	rs.snapshot_config_len = cfg_len;
	slog_reset(&nd->mem, p.snapshot_index, p.snapshot_term);
	for (raft_index i = p.snapshot_index + 1; i <= p.last; i++)
		slog_append(&nd->mem, slog_get(&nd->disk, i));
	nd->hs_last = p.hs;
	nd->hs_deferred = false;
	int rc = raft_new(&o, &rs, &nd->r);
	if (rc != RAFT_OK)
		return rc;
	nd->up = true;
	nd->commit_seen = 0;
	nd->term_seen = nd->dhs.term;
	nd->role_seen = RAFT_FOLLOWER;
	drain(c, nd);
	return 0;
}

void sim_crash(struct sim_cluster *c, raft_id i)
{
	struct node *nd = node_of(c, i);
	if (!nd->up)
		return;
	trace(c, "crash %" PRIu64 " (%zu writes lost)", i,
	      nd->w_n - nd->w_head);
	raft_free(nd->r);
	nd->r = NULL;
	nd->up = false;
	nd->taken = false; /* a ready taken by hand dies with the core */
	if (c->torn_keep) {
		torn_writes(c, nd, c->torn_keep);
		c->torn_keep = 0;
	} else if (!c->cfg.scripted && chance(c, c->faults.torn_pct)) {
		size_t total = 0;
		for (size_t k = nd->w_head; k < nd->w_n; k++)
			total +=
			    nd->w[k].n_ents + (nd->w[k].hs_changed ? 1 : 0);
		size_t keep = rnd(c, total + 1);
		torn_writes(c, nd, keep);
	}
	for (size_t k = nd->w_head; k < nd->w_n; k++)
		wop_free(&nd->w[k]);
	nd->w_head = nd->w_n = 0;
	slog_truncate(&nd->mem, 1);
	for (size_t k = 0; k < c->n_active; k++) {
		struct read_req *r = &c->rd[c->active_reads[k] - 1];
		if (r->node == i && r->state == SIM_READ_PENDING) {
			r->state = SIM_READ_FAILED;
			c->st.reads_failed++;
		}
	}
	/* Messages still in the sender's buffers die with it. */
	if (!c->cfg.scripted)
		for (size_t k = 0; k < c->n_pk;) {
			if (c->pk[k].m.from == i && chance(c, 50)) {
				msg_free(&c->pk[k].m);
				c->pk[k] = c->pk[--c->n_pk];
				c->st.dropped++;
			} else {
				k++;
			}
		}
	memset(&nd->recv, 0, sizeof(nd->recv));
	nd->inc++;
	c->st.crashes++;
	sim_check(c);
}

int sim_compact(struct sim_cluster *c, raft_id i, raft_index margin)
{
	struct node *nd = node_of(c, i);
	if (!nd->up)
		return RAFT_EINVAL;
	raft_index a = nd->applied;
	raft_term ta = slog_term(&nd->disk, a);
	if (a <= nd->snap.index || ta == 0)
		return RAFT_OK; /* nothing new, or not stored (yet) */
	/* The driver takes a durable snapshot of its state machine at a,
	 * then lets the core drop entries up to a - margin (thesis §5.1). */
	nd->snap.index = a;
	nd->snap.term = ta;
	memcpy(nd->snap.kv, nd->kv, sizeof(nd->kv));
	struct raft_membership m;
	nd->snap.cfg_len = 0;
	/* A member that joined after the founding knows no configuration
	 * before the entry that added it (it started empty): its snapshot
	 * then stores none, and a restart falls back to its own empty
	 * founding one, as it was. */
	if (raft_membership_at(nd->r, a, &m) != RAFT_OK ||
	    (m.n > 0 &&
	     raft_membership_encode(&m, nd->snap.cfg, sizeof(nd->snap.cfg),
				    &nd->snap.cfg_len) != RAFT_OK))
		fail(c,
		     "Core contract: no configuration at the applied index "
		     "%" PRIu64 " of member %" PRIu64,
		     a, i);
	struct raft_status st;
	raft_status(nd->r, &st);
	raft_index idx = a > margin ? a - margin : 0;
	if (idx < st.snapshot_index)
		idx = st.snapshot_index;
	if (idx < nd->disk.base)
		idx = nd->disk.base;
	int rc = raft_compact(nd->r, idx);
	trace(c,
	      "compact %" PRIu64 ": snapshot at %" PRIu64 ", log up to %" PRIu64
	      " dropped: %s",
	      i, a, idx, raft_strerror(rc));
	if (rc != RAFT_OK) {
		fail(c,
		     "Core contract: raft_compact(%" PRIu64
		     ") on member %" PRIu64 " (applied %" PRIu64 ") failed: %s",
		     idx, i, a, raft_strerror(rc));
		return rc;
	}
	/* The disk keeps the entry at idx, as kvd's WAL does (wal_compact()
	 * keeps the segment holding it): recovery starts the core's log
	 * after the first stored entry, never past the snapshot. */
	raft_term ti = idx > 0 ? slog_term(&nd->disk, idx - 1) : 0;
	if (idx > nd->disk.base + 1 && ti)
		slog_rebase(&nd->disk, idx - 1, ti);
	if (idx > nd->mem.base && slog_term(&nd->mem, idx))
		slog_rebase(&nd->mem, idx, slog_term(&nd->mem, idx));
	c->st.compactions++;
	drain(c, nd);
	sim_check(c);
	return RAFT_OK;
}

raft_index sim_snapshot_index(const struct sim_cluster *c, raft_id i)
{
	return c->nodes[i].snap.index;
}

void sim_crash_torn(struct sim_cluster *c, raft_id i, size_t keep)
{
	c->torn_keep = keep;
	sim_crash(c, i);
	c->torn_keep = 0;
	c->nodes[i].hold = false;
}

void sim_hold_writes(struct sim_cluster *c, raft_id i, bool hold)
{
	node_of(c, i)->hold = hold;
	if (!hold)
		sim_persist_all(c, i);
}

void sim_restart(struct sim_cluster *c, raft_id i)
{
	struct node *nd = node_of(c, i);
	if (nd->up)
		return;
	trace(c,
	      "restart %" PRIu64 " (disk: term %" PRIu64 " vote %" PRIu64
	      " commit %" PRIu64 " last %" PRIu64 " snapshot %" PRIu64 ")",
	      i, nd->dhs.term, nd->dhs.vote, nd->dhs.commit,
	      slog_last(&nd->disk), nd->snap.index);
	int rc = node_start(c, nd);
	if (rc != 0)
		fail(c, "Restart: raft_new on member %" PRIu64 " failed: %s", i,
		     raft_strerror(rc));
	sim_check(c);
}

bool sim_is_up(const struct sim_cluster *c, raft_id i)
{
	return i >= 1 && i <= c->n && c->nodes[i].up;
}

/* --- configuration --- */

static void pick_faults(struct sim_cluster *c)
{
	struct sim_faults *f = &c->faults;
	unsigned e = c->cfg.election_ticks;
	f->drop_pct = (unsigned)rnd(c, 4) == 0 ? 0 : (unsigned)rnd(c, 15);
	f->dup_pct = (unsigned)rnd(c, 8);
	f->delay_pct = (unsigned)rnd(c, 30);
	f->delay_max = 1 + (unsigned)rnd(c, 2 * e);
	f->disk_slow_pct = (unsigned)rnd(c, 50);
	f->disk_max = 1 + (unsigned)rnd(c, e);
	f->crash_permille = (unsigned)rnd(c, 30);
	f->restart_permille = 20 + (unsigned)rnd(c, 200);
	f->partition_permille = (unsigned)rnd(c, 40);
	f->heal_permille = 10 + (unsigned)rnd(c, 60);
	f->propose_pct = 20 + (unsigned)rnd(c, 70);
	f->read_pct = 10 + (unsigned)rnd(c, 50);
	f->compact_permille = (unsigned)rnd(c, 3) ? (unsigned)rnd(c, 60) : 0;
	f->transfer_permille = (unsigned)rnd(c, 2) ? (unsigned)rnd(c, 40) : 0;
	f->torn_pct = (unsigned)rnd(c, 2) ? 50 : 0;
	f->long_delay_permille = (unsigned)rnd(c, 20);
	f->clock_skew_pct = (unsigned)rnd(c, 2) ? (unsigned)rnd(c, 30) : 0;
	f->hot_crash_pct = (unsigned)rnd(c, 3) == 0 ? 0 : (unsigned)rnd(c, 25);
	f->heal_every = 8 * e + (unsigned)rnd(c, 16 * e);
	f->liveness_ticks = 30 * e;
	f->config_permille =
	    c->n >= 3 && (unsigned)rnd(c, 2) ? 1 + (unsigned)rnd(c, 40) : 0;
	/* With fewer founding voters the others join only as learners. A
	 * lone voter wins at once, so what its first writes race with
	 * matters: its disk is slow more often and it crashes at hot
	 * instants more often (raft.h rule 3). */
	if (c->cfg.n_voters < c->n) {
		f->config_permille = 10 + (unsigned)rnd(c, 40);
		f->disk_slow_pct = 30 + (unsigned)rnd(c, 50);
		f->disk_max = e / 2 + (unsigned)rnd(c, e);
		f->hot_crash_pct = 10 + (unsigned)rnd(c, 30);
	}
}

static void pick_links(struct sim_cluster *c)
{
	for (unsigned a = 1; a <= c->n; a++)
		for (unsigned b = 1; b <= c->n; b++)
			c->link_drop[a][b] =
			    c->faults.drop_pct
				? (unsigned)rnd(c, c->faults.drop_pct + 1)
				: 0;
}

int sim_cluster_new(const struct sim_config *cfg, struct sim_cluster **out)
{
	if (cfg->n_nodes < 1 || cfg->n_nodes > SIM_MAX_NODES)
		return RAFT_EINVAL;
	struct sim_cluster *c = xcalloc(1, sizeof(*c));
	c->cfg = *cfg;
	if (!c->cfg.election_ticks)
		c->cfg.election_ticks = 10;
	if (!c->cfg.heartbeat_ticks)
		c->cfg.heartbeat_ticks = 1;
	c->n = cfg->n_nodes;
	if (c->cfg.n_voters == 0 || c->cfg.n_voters > c->n)
		c->cfg.n_voters = c->n;
	c->rng = cfg->seed ^ 0x5eed5eed5eed5eedULL;
	if (!cfg->scripted) {
		pick_faults(c);
		pick_links(c);
	}
	c->next_heal = c->faults.heal_every;
	for (unsigned k = 1; k <= c->n; k++) {
		c->nodes[k].id = k;
		int rc = node_start(c, &c->nodes[k]);
		if (rc != 0) {
			sim_cluster_free(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void sim_cluster_free(struct sim_cluster *c)
{
	if (!c)
		return;
	for (unsigned k = 1; k <= c->n; k++) {
		struct node *nd = &c->nodes[k];
		if (nd->r)
			raft_free(nd->r);
		for (size_t j = nd->w_head; j < nd->w_n; j++)
			wop_free(&nd->w[j]);
		free(nd->w);
		slog_free(&nd->disk);
		slog_free(&nd->mem);
		free(nd->votes);
	}
	for (size_t k = 0; k < c->n_pk; k++)
		msg_free(&c->pk[k].m);
	free(c->pk);
	free(c->term_leader);
	free(c->ch);
	free(c->idt);
	free(c->wr);
	free(c->rd);
	free(c->active_reads);
	free(c);
}

void sim_get_faults(const struct sim_cluster *c, struct sim_faults *f)
{
	*f = c->faults;
}

void sim_set_faults(struct sim_cluster *c, const struct sim_faults *f)
{
	c->faults = *f;
	pick_links(c);
	c->next_heal = c->now + f->heal_every;
}

const char *sim_failure(const struct sim_cluster *c)
{
	return c->failed ? c->failure : NULL;
}

void sim_stats(const struct sim_cluster *c, struct sim_stats *out)
{
	*out = c->st;
}

/* --- client operations --- */

int sim_propose(struct sim_cluster *c, raft_id i, unsigned key,
		raft_index *index)
{
	struct node *nd = node_of(c, i);
	if (index)
		*index = 0;
	if (!nd->up)
		return RAFT_ENOLEADER;
	c->wr = xrealloc(c->wr, (c->n_wr + 1) * sizeof(*c->wr));
	uint64_t id = ++c->n_wr;
	c->wr[id - 1] = (struct write_req){
	    .node = i, .inc = nd->inc, .key = key % SIM_KEYS};
	uint8_t buf[SIM_CMD_BYTES];
	uint64_t k64 = key % SIM_KEYS;
	memcpy(buf, &k64, 8);
	memcpy(buf + 8, &id, 8);
	raft_index idx = 0;
	int rc = raft_propose(nd->r, buf, sizeof(buf), &idx);
	trace(c,
	      "propose on %" PRIu64 " key %u value %" PRIu64
	      ": %s index %" PRIu64,
	      i, key % SIM_KEYS, id, raft_strerror(rc), idx);
	if (rc == RAFT_OK)
		c->st.proposals++;
	if (idx)
		maybe_hot_crash(c, i);
	if (index)
		*index = idx;
	drain(c, nd);
	sim_check(c);
	return rc;
}

int sim_read(struct sim_cluster *c, raft_id i, unsigned key, uint64_t *read_id)
{
	struct node *nd = node_of(c, i);
	*read_id = 0;
	if (!nd->up)
		return RAFT_ENOLEADER;
	c->rd = xrealloc(c->rd, (c->n_rd + 1) * sizeof(*c->rd));
	uint64_t id = ++c->n_rd;
	c->rd[id - 1] = (struct read_req){.node = i,
					  .inc = nd->inc,
					  .key = key % SIM_KEYS,
					  .min_index = c->completed_max,
					  .state = SIM_READ_PENDING,
					  .issued = c->now};
	int rc = raft_read_index(nd->r, id);
	trace(c,
	      "read %" PRIu64 " on %" PRIu64 " key %u (needs >= %" PRIu64
	      "): %s",
	      id, i, key % SIM_KEYS, c->completed_max, raft_strerror(rc));
	if (rc != RAFT_OK) {
		c->rd[id - 1].state = SIM_READ_FAILED;
		c->st.reads_failed++;
	} else {
		c->active_reads = xrealloc(
		    c->active_reads, (c->n_active + 1) * sizeof(uint64_t));
		c->active_reads[c->n_active++] = id;
		*read_id = id;
	}
	drain(c, nd);
	sim_check(c);
	return rc;
}

enum sim_read_state sim_read_state(const struct sim_cluster *c,
				   uint64_t read_id)
{
	if (read_id == 0 || read_id > c->n_rd)
		return SIM_READ_FAILED;
	return c->rd[read_id - 1].state;
}

uint64_t sim_read_count(const struct sim_cluster *c)
{
	return c->n_rd;
}

bool sim_read_result(const struct sim_cluster *c, uint64_t read_id,
		     uint64_t *value, raft_index *applied)
{
	if (sim_read_state(c, read_id) != SIM_READ_SERVED)
		return false;
	*value = c->rd[read_id - 1].value;
	*applied = c->rd[read_id - 1].served_at;
	return true;
}

int sim_transfer(struct sim_cluster *c, raft_id i, raft_id to)
{
	struct node *nd = node_of(c, i);
	if (!nd->up)
		return RAFT_ENOLEADER;
	int rc = raft_transfer_leadership(nd->r, to);
	trace(c, "transfer leadership %" PRIu64 " -> %" PRIu64 ": %s", i, to,
	      raft_strerror(rc));
	drain(c, nd);
	sim_check(c);
	return rc;
}

raft_index sim_read_index(const struct sim_cluster *c, uint64_t read_id)
{
	if (read_id == 0 || read_id > c->n_rd || !c->rd[read_id - 1].got_index)
		return 0;
	return c->rd[read_id - 1].index;
}

/* --- scripted driving --- */

void sim_tick_node(struct sim_cluster *c, raft_id i)
{
	struct node *nd = node_of(c, i);
	if (!nd->up)
		return;
	raft_tick(nd->r);
	drain(c, nd);
	sim_check(c);
}

void sim_tick_all(struct sim_cluster *c)
{
	c->now++;
	c->st.ticks++;
	for (unsigned k = 1; k <= c->n; k++) {
		struct node *nd = &c->nodes[k];
		if (!nd->up)
			continue;
		raft_tick(nd->r);
		drain(c, nd);
	}
	sim_check(c);
}

static bool pk_match(const struct packet *p, raft_id from, raft_id to, int type)
{
	return (!from || p->m.from == from) && (!to || p->m.to == to) &&
	       (!type || p->m.type == type);
}

size_t sim_in_flight(const struct sim_cluster *c, raft_id from, raft_id to,
		     int type)
{
	size_t n = 0;
	for (size_t k = 0; k < c->n_pk; k++)
		if (pk_match(&c->pk[k], from, to, type))
			n++;
	return n;
}

const struct raft_msg *sim_find(const struct sim_cluster *c, raft_id from,
				raft_id to, int type)
{
	size_t best = SIZE_MAX;
	for (size_t k = 0; k < c->n_pk; k++)
		if (pk_match(&c->pk[k], from, to, type) &&
		    (best == SIZE_MAX || c->pk[k].seq < c->pk[best].seq))
			best = k;
	return best == SIZE_MAX ? NULL : &c->pk[best].m;
}

bool sim_deliver_types(struct sim_cluster *c, raft_id from, raft_id to,
		       unsigned types, struct raft_msg *out, bool *lost)
{
	size_t best = SIZE_MAX;
	for (size_t k = 0; k < c->n_pk; k++)
		if (pk_match(&c->pk[k], from, to, 0) &&
		    (!types || (types & (1u << c->pk[k].m.type))) &&
		    (best == SIZE_MAX || c->pk[k].seq < c->pk[best].seq))
			best = k;
	if (best == SIZE_MAX)
		return false;
	if (out) {
		const struct packet *p = &c->pk[best];
		*out = p->m;
		out->entries = NULL;
		if (lost)
			*lost = !c->nodes[p->m.to].up ||
				c->cut[p->m.from][p->m.to] || p->lost;
	}
	deliver_at(c, best);
	sim_check(c);
	return true;
}

bool sim_deliver(struct sim_cluster *c, raft_id from, raft_id to, int type)
{
	return sim_deliver_types(c, from, to, type ? 1u << type : 0, NULL,
				 NULL);
}

size_t sim_drop(struct sim_cluster *c, raft_id from, raft_id to, int type)
{
	size_t n = 0;
	for (size_t k = 0; k < c->n_pk;) {
		if (pk_match(&c->pk[k], from, to, type)) {
			msg_free(&c->pk[k].m);
			c->pk[k] = c->pk[--c->n_pk];
			n++;
		} else {
			k++;
		}
	}
	return n;
}

size_t sim_deliver_all(struct sim_cluster *c, size_t max)
{
	size_t n = 0;
	while (n < max && !c->failed && sim_deliver(c, 0, 0, 0))
		n++;
	return n;
}

static bool is_vote_type(int t)
{
	return t == RAFT_MSG_VOTE || t == RAFT_MSG_VOTE_RESP ||
	       t == RAFT_MSG_PREVOTE || t == RAFT_MSG_PREVOTE_RESP;
}

void sim_deliver_votes(struct sim_cluster *c)
{
	bool more = true;
	/* Round by round, one message of each type in the order of the
	 * types' numbers: the scenarios' expected traces follow it. */
	while (more) {
		more = false;
		for (int t = RAFT_MSG_VOTE; t <= RAFT_MSG_PREVOTE_RESP; t++)
			if (is_vote_type(t) && sim_deliver(c, 0, 0, t))
				more = true;
	}
}

void sim_cut(struct sim_cluster *c, raft_id from, raft_id to, bool cut)
{
	c->cut[from][to] = cut;
	trace(c, "link %" PRIu64 "->%" PRIu64 " %s", from, to,
	      cut ? "cut" : "restored");
}

void sim_isolate(struct sim_cluster *c, raft_id i)
{
	for (unsigned k = 1; k <= c->n; k++) {
		if (k == i)
			continue;
		c->cut[i][k] = true;
		c->cut[k][i] = true;
	}
	trace(c, "isolate %" PRIu64, i);
}

void sim_heal(struct sim_cluster *c)
{
	memset(c->cut, 0, sizeof(c->cut));
	trace(c, "heal network");
}

void sim_persist_all(struct sim_cluster *c, raft_id i)
{
	struct node *nd = node_of(c, i);
	while (nd->up && nd->w_head < nd->w_n) {
		complete_write(c, nd);
		drain(c, nd);
	}
	sim_check(c);
}

size_t sim_pending_writes(const struct sim_cluster *c, raft_id i)
{
	const struct node *nd = &c->nodes[i];
	return nd->w_n - nd->w_head;
}

/* --- views --- */

static bool status_of(const struct sim_cluster *c, raft_id i,
		      struct raft_status *st)
{
	memset(st, 0, sizeof(*st));
	if (i < 1 || i > c->n || !c->nodes[i].up)
		return false;
	raft_status(c->nodes[i].r, st);
	return true;
}

enum raft_role sim_role(const struct sim_cluster *c, raft_id i)
{
	struct raft_status st;
	return status_of(c, i, &st) ? st.role : RAFT_FOLLOWER;
}

raft_term sim_term(const struct sim_cluster *c, raft_id i)
{
	struct raft_status st;
	status_of(c, i, &st);
	return st.term;
}

raft_id sim_leader_of(const struct sim_cluster *c, raft_id i)
{
	struct raft_status st;
	status_of(c, i, &st);
	return st.leader;
}

raft_index sim_commit(const struct sim_cluster *c, raft_id i)
{
	struct raft_status st;
	status_of(c, i, &st);
	return st.commit;
}

raft_index sim_applied(const struct sim_cluster *c, raft_id i)
{
	return c->nodes[i].applied;
}

raft_index sim_last_index(const struct sim_cluster *c, raft_id i)
{
	return slog_last(&c->nodes[i].mem);
}

raft_term sim_log_term(const struct sim_cluster *c, raft_id i, raft_index index)
{
	return slog_term(&c->nodes[i].mem, index);
}

uint64_t sim_value(const struct sim_cluster *c, raft_id i, unsigned key)
{
	return c->nodes[i].up ? c->nodes[i].kv[key % SIM_KEYS] : 0;
}

raft_id sim_vote(const struct sim_cluster *c, raft_id i)
{
	return c->nodes[i].dhs.vote;
}

uint64_t sim_vote_requests(const struct sim_cluster *c, raft_id i)
{
	return c->nodes[i].vote_requests;
}

uint64_t sim_config_reports(const struct sim_cluster *c, raft_id i)
{
	return c->nodes[i].config_reports;
}

const struct raft *sim_core(const struct sim_cluster *c, raft_id i)
{
	if (i < 1 || i > c->n || !c->nodes[i].up)
		return NULL;
	return c->nodes[i].r;
}

int sim_change(struct sim_cluster *c, raft_id i,
	       const struct raft_config_change *ch, raft_index *index)
{
	struct node *nd = node_of(c, i);
	raft_index idx = 0;
	if (index)
		*index = 0;
	if (!nd->up)
		return RAFT_ENOLEADER;
	int rc = raft_propose_config(nd->r, ch, &idx);
	trace(c,
	      "config change on %" PRIu64 ": type %u id %" PRIu64 " at %" PRIu64
	      ": %s",
	      i, (unsigned)ch->type, ch->id, idx, raft_strerror(rc));
	if (rc == RAFT_OK)
		c->st.config_changes++;
	if (index)
		*index = idx;
	drain(c, nd);
	sim_check(c);
	return rc;
}

int sim_step_msg(struct sim_cluster *c, raft_id i, const struct raft_msg *m)
{
	struct node *nd = node_of(c, i);
	if (!nd->up)
		return RAFT_EINVAL;
	int rc = raft_step(nd->r, m);
	trace(c,
	      "step on %" PRIu64 ": %s from %" PRIu64 " term=%" PRIu64
	      " index=%" PRIu64 ": %s",
	      i, raft_msg_type_name(m->type), m->from, m->term, m->index,
	      raft_strerror(rc));
	drain(c, nd);
	sim_check(c);
	return rc;
}

/* Whether @k is in the configuration of member @l (0: no leader). Members
 * removed by a membership change need not keep up. */
static bool in_config(const struct sim_cluster *c, raft_id l, raft_id k)
{
	if (l == 0 || !c->nodes[l].up)
		return true;
	const struct raft_membership *m = raft_membership(c->nodes[l].r);
	for (size_t x = 0; x < m->n; x++)
		if (m->members[x].id == k)
			return true;
	return false;
}

raft_id sim_find_leader(const struct sim_cluster *c)
{
	raft_id best = 0;
	raft_term best_term = 0;
	for (unsigned k = 1; k <= c->n; k++) {
		struct raft_status st;
		if (!status_of(c, k, &st))
			continue;
		if (st.role == RAFT_LEADER && st.term >= best_term) {
			best = k;
			best_term = st.term;
		}
	}
	/* Only a leader no live member of its configuration has overtaken
	 * (a member removed without learning it may campaign on its own,
	 * unheard, in ever higher terms). */
	for (unsigned k = 1; k <= c->n && best; k++)
		if (sim_term(c, k) > best_term && in_config(c, best, k))
			return 0;
	return best;
}

uint64_t sim_now(const struct sim_cluster *c)
{
	return c->now;
}

/* --- random driving --- */

static raft_id random_up(struct sim_cluster *c)
{
	raft_id ups[SIM_MAX_NODES];
	unsigned n = 0;
	for (unsigned k = 1; k <= c->n; k++)
		if (c->nodes[k].up)
			ups[n++] = k;
	return n ? ups[rnd(c, n)] : 0;
}

static raft_id random_leader(struct sim_cluster *c)
{
	raft_id ls[SIM_MAX_NODES];
	unsigned n = 0;
	for (unsigned k = 1; k <= c->n; k++)
		if (c->nodes[k].up && sim_role(c, k) == RAFT_LEADER)
			ls[n++] = k;
	return n ? ls[rnd(c, n)] : 0;
}

static void random_partition(struct sim_cluster *c)
{
	unsigned shape = (unsigned)rnd(c, 5);
	raft_id x;
	switch (shape) {
	case 0: /* one member alone */
		sim_isolate(c, 1 + rnd(c, c->n));
		break;
	case 1: /* the leader alone: it may go on serving stale reads */
		x = random_leader(c);
		sim_isolate(c, x ? x : 1 + rnd(c, c->n));
		break;
	case 2: { /* two groups */
		unsigned side[SIM_MAX_NODES + 1];
		for (unsigned k = 1; k <= c->n; k++)
			side[k] = (unsigned)rnd(c, 2);
		for (unsigned a = 1; a <= c->n; a++)
			for (unsigned b = 1; b <= c->n; b++)
				if (side[a] != side[b])
					c->cut[a][b] = true;
		trace(c, "partition in two groups");
		break;
	}
	case 3: { /* one-way cuts */
		unsigned m = 1 + (unsigned)rnd(c, 3);
		for (unsigned j = 0; j < m; j++) {
			raft_id a = 1 + rnd(c, c->n), b = 1 + rnd(c, c->n);
			if (a != b)
				sim_cut(c, a, b, true);
		}
		break;
	}
	default: /* any directed link, independently */
		for (unsigned a = 1; a <= c->n; a++)
			for (unsigned b = 1; b <= c->n; b++)
				if (a != b && chance(c, 30))
					c->cut[a][b] = true;
		trace(c, "random directed cuts");
		break;
	}
}

static void random_faults(struct sim_cluster *c)
{
	const struct sim_faults *f = &c->faults;
	if (chance_pm(c, f->crash_permille)) {
		raft_id x = 0;
		unsigned how = (unsigned)rnd(c, 10);
		if (how < 3) {
			x = random_leader(c);
		} else if (how < 6) {
			/* The member that last granted a vote: its vote must
			 * survive the crash. */
			uint64_t best = 0;
			for (unsigned k = 1; k <= c->n; k++)
				if (c->nodes[k].up &&
				    c->nodes[k].last_vote_tick + 3 >= c->now &&
				    c->nodes[k].last_vote_tick >= best) {
					best = c->nodes[k].last_vote_tick;
					x = k;
				}
		}
		if (!x)
			x = random_up(c);
		if (x)
			sim_crash(c, x);
	}
	for (unsigned k = 1; k <= c->n; k++)
		if (!c->nodes[k].up && chance_pm(c, f->restart_permille))
			sim_restart(c, k);
	if (chance_pm(c, f->partition_permille))
		random_partition(c);
	if (chance_pm(c, f->compact_permille)) {
		raft_id x = random_up(c);
		if (x)
			sim_compact(c, x, rnd(c, 4) ? rnd(c, 5) : 0);
	}
	if (chance_pm(c, f->transfer_permille)) {
		/* Thesis §3.10: the leader hands over to another member. */
		raft_id l = random_leader(c);
		raft_id to = 1 + rnd(c, c->n);
		if (l && to != l) {
			int rc = raft_transfer_leadership(c->nodes[l].r, to);
			trace(c,
			      "transfer leadership %" PRIu64 " -> %" PRIu64
			      ": %s",
			      l, to, raft_strerror(rc));
			drain(c, &c->nodes[l]);
			sim_check(c);
		}
	}
	if (chance_pm(c, f->config_permille))
		random_config_change(c);
	if (chance_pm(c, f->heal_permille))
		sim_heal(c);
}

static void random_client(struct sim_cluster *c)
{
	const struct sim_faults *f = &c->faults;
	while (chance(c, f->propose_pct) && !c->failed) {
		raft_id x = chance(c, 50) ? random_leader(c) : 0;
		if (!x)
			x = random_up(c);
		if (!x)
			break;
		sim_propose(c, x, (unsigned)rnd(c, SIM_KEYS), NULL);
		if (!chance(c, 30))
			break;
	}
	if (chance(c, f->read_pct) && !c->failed) {
		/* Half the reads go to a member that believes it leads,
		 * which may be a deposed leader cut off from the rest. */
		raft_id x = chance(c, 50) ? random_leader(c) : 0;
		if (!x)
			x = random_up(c);
		uint64_t id;
		if (x)
			sim_read(c, x, (unsigned)rnd(c, SIM_KEYS), &id);
	}
}

/* Periodically all faults heal and crashed members restart; then a leader
 * must be elected and a proposal on it must commit everywhere within
 * liveness_ticks. */
/* Thesis §4.3: the leader changes the configuration, one member at a
 * time through C_old,new: a member outside it joins as a learner, a
 * learner is promoted, or a voter (the leader too) leaves while enough
 * remain. */
static void random_config_change(struct sim_cluster *c)
{
	raft_id l = random_leader(c);
	if (!l)
		return;
	const struct raft_membership *m = raft_membership(c->nodes[l].r);
	raft_id out[SIM_MAX_NODES], learners[SIM_MAX_NODES],
	    voters[SIM_MAX_NODES];
	unsigned n_out = 0, n_l = 0, n_v = 0;
	for (unsigned k = 1; k <= c->n; k++) {
		uint8_t f = 0;
		bool found = false;
		for (size_t x = 0; x < m->n; x++)
			if (m->members[x].id == k) {
				f = m->members[x].flags;
				found = true;
			}
		if (!found)
			out[n_out++] = k;
		else if (f == RAFT_MEMBER_LEARNER)
			learners[n_l++] = k;
		else if (f & RAFT_MEMBER_VOTER)
			voters[n_v++] = k;
	}
	/* Voters kept: 3 of 5 or more members, 2 of 3; with fewer founding
	 * voters, all of them (learners come and go). Two voters never go
	 * down to one: when the leader crashes right after sending C_new
	 * but before storing it, the removed voter holds the longer log and
	 * takes no part any more, and the joint configuration the leader
	 * restarts with needs that voter's vote: no leader ever again. */
	unsigned max_v = c->cfg.n_voters;
	unsigned keep = max_v < c->n ? max_v : c->n >= 5 ? 3 : 2;
	struct raft_config_change ch = {.addr = "sim"};
	unsigned what = (unsigned)rnd(c, 3);
	if (what == 0 && n_out) {
		ch.type = RAFT_CHANGE_ADD_LEARNER;
		ch.id = out[rnd(c, n_out)];
	} else if (what == 1 && n_l && n_v < max_v) {
		ch.type = RAFT_CHANGE_PROMOTE;
		ch.id = learners[rnd(c, n_l)];
	} else if (what == 2 && (n_v > keep || n_l)) {
		ch.type = RAFT_CHANGE_REMOVE;
		ch.id =
		    n_v > keep ? voters[rnd(c, n_v)] : learners[rnd(c, n_l)];
	} else {
		return;
	}
	raft_index idx = 0;
	int rc = raft_propose_config(c->nodes[l].r, &ch, &idx);
	trace(c,
	      "config change on %" PRIu64 ": %s %" PRIu64 " at %" PRIu64 ": %s",
	      l,
	      ch.type == RAFT_CHANGE_ADD_LEARNER ? "add learner"
	      : ch.type == RAFT_CHANGE_PROMOTE	 ? "promote"
						 : "remove",
	      ch.id, idx, raft_strerror(rc));
	if (rc == RAFT_OK)
		c->st.config_changes++;
	drain(c, &c->nodes[l]);
	sim_check(c);
}

static void liveness(struct sim_cluster *c)
{
	if (c->phase == PHASE_NORMAL) {
		if (c->now < c->next_heal)
			return;
		trace(c, "liveness check: heal everything");
		c->saved_faults = c->faults;
		c->faults.drop_pct = c->faults.dup_pct = 0;
		c->faults.delay_pct = 0;
		c->faults.long_delay_permille = 0;
		c->faults.clock_skew_pct = 0;
		c->faults.disk_slow_pct = 0;
		c->faults.crash_permille = c->faults.partition_permille = 0;
		sim_heal(c);
		for (unsigned k = 1; k <= c->n; k++)
			sim_restart(c, k);
		for (unsigned a = 1; a <= c->n; a++)
			for (unsigned b = 1; b <= c->n; b++)
				c->link_drop[a][b] = 0;
		c->phase = PHASE_HEALING;
		c->heal_start = c->now;
		c->probe_index = 0;
		return;
	}
	raft_id l = sim_find_leader(c);
	if (c->probe_index &&
	    (l != c->probe_leader || sim_term(c, l) != c->probe_term))
		c->probe_index = 0; /* leadership moved: propose again */
	if (!c->probe_index && l) {
		raft_index idx = 0;
		uint64_t id = c->n_wr + 1;
		if (sim_propose(c, l, 0, &idx) == RAFT_OK && idx) {
			c->probe_index = idx;
			c->probe_leader = l;
			c->probe_term = sim_term(c, l);
			c->probe_id = id;
		}
	}
	if (c->probe_index) {
		bool all = true;
		for (unsigned k = 1; k <= c->n; k++)
			if (c->nodes[k].applied < c->probe_index &&
			    in_config(c, l, k))
				all = false;
		if (all) {
			const struct chosen *x = &c->ch[c->probe_index];
			if (!x->present || !x->normal ||
			    x->val != c->probe_id) {
				inv_fail(
				    c, INV_LIVENESS,
				    "leader %" PRIu64
				    " accepted a proposal at index %" PRIu64
				    " in term %" PRIu64
				    " but another entry was committed there",
				    c->probe_leader, c->probe_index,
				    c->probe_term);
				return;
			}
			trace(c,
			      "liveness check passed after %" PRIu64 " ticks",
			      c->now - c->heal_start);
			c->st.liveness_checks++;
			if (c->now - c->heal_start > c->st.liveness_max_ticks)
				c->st.liveness_max_ticks =
				    c->now - c->heal_start;
			c->phase = PHASE_NORMAL;
			c->faults = c->saved_faults;
			pick_links(c);
			c->next_heal = c->now + c->faults.heal_every;
			return;
		}
	}
	if (c->now - c->heal_start > c->faults.liveness_ticks) {
		if (!l)
			inv_fail(c, INV_LIVENESS,
				 "no leader elected within %u ticks "
				 "after all faults healed",
				 c->faults.liveness_ticks);
		else
			inv_fail(
			    c, INV_LIVENESS,
			    "proposal at index %" PRIu64 " on leader %" PRIu64
			    " not applied everywhere within %u ticks after "
			    "all faults healed",
			    c->probe_index, l, c->faults.liveness_ticks);
	}
}

void maybe_hot_crash(struct sim_cluster *c, raft_id i)
{
	if (!c->cfg.scripted && c->phase == PHASE_NORMAL && !c->hot_crash &&
	    c->faults.hot_crash_pct && chance(c, c->faults.hot_crash_pct))
		c->hot_crash = i;
}

/* Hot faults hit a member at an interesting instant: it crashes, or it is
 * cut off from everyone (its disk still completes its writes, so what it
 * just wrote survives on it alone: the stuff of Figure 8). */
static void do_hot_crash(struct sim_cluster *c)
{
	raft_id i = c->hot_crash;
	c->hot_crash = 0;
	if (!i || c->failed || c->phase != PHASE_NORMAL)
		return;
	if (chance(c, 50)) {
		trace(c, "hot crash of %" PRIu64, i);
		sim_crash(c, i);
	} else {
		trace(c, "hot isolation of %" PRIu64, i);
		sim_isolate(c, i);
	}
}

static void random_tick(struct sim_cluster *c)
{
	c->tick_events = 0;
	c->now++;
	c->st.ticks++;
	for (unsigned k = 1; k <= c->n && !c->failed; k++) {
		struct node *nd = &c->nodes[k];
		if (!nd->up)
			continue;
		/* Clocks drift: safety must not depend on timing, except
		 * that leases assume the drift bounded. */
		unsigned ticks = 1;
		if (c->faults.clock_skew_pct &&
		    chance(c, c->faults.clock_skew_pct))
			ticks = (unsigned)rnd(c, 2) * 2; /* 0 or 2 */
		if (c->cfg.lease_ticks > 0 &&
		    (nd->clock_offset + (int)ticks - 1 > 1 ||
		     nd->clock_offset + (int)ticks - 1 < -1))
			ticks = 1;
		nd->clock_offset += (int)ticks - 1;
		for (unsigned t = 0; t < ticks && nd->up; t++) {
			raft_tick(nd->r);
			drain(c, nd);
		}
	}
	sim_check(c);
	if (c->failed)
		return;
	if (c->phase == PHASE_NORMAL)
		random_faults(c);
	random_client(c);
	liveness(c);
	do_hot_crash(c);
}

bool sim_step(struct sim_cluster *c)
{
	if (c->failed)
		return false;
	c->st.steps++;
	/* Events due now: packets and each member's oldest write. */
	size_t due_pk = 0, due_w = 0;
	for (size_t k = 0; k < c->n_pk; k++)
		if (c->pk[k].at <= c->now)
			due_pk++;
	for (unsigned k = 1; k <= c->n; k++) {
		struct node *nd = &c->nodes[k];
		if (nd->up && nd->w_head < nd->w_n &&
		    nd->w[nd->w_head].at <= c->now)
			due_w++;
	}
	if (due_pk + due_w == 0) {
		random_tick(c);
		do_hot_crash(c);
		return !c->failed;
	}
	if (++c->tick_events > c->st.max_tick_events)
		c->st.max_tick_events = c->tick_events;
	if (c->tick_events > SIM_MAX_EVENTS_PER_TICK) {
		inv_fail(c, INV_LIVENESS,
			 "message storm: %d events without the clock "
			 "advancing (%zu messages in flight)",
			 SIM_MAX_EVENTS_PER_TICK, c->n_pk);
		return false;
	}
	size_t pick = rnd(c, due_pk + due_w);
	if (pick < due_pk) {
		for (size_t k = 0; k < c->n_pk; k++) {
			if (c->pk[k].at > c->now)
				continue;
			if (pick-- == 0) {
				deliver_at(c, k);
				break;
			}
		}
	} else {
		pick -= due_pk;
		for (unsigned k = 1; k <= c->n; k++) {
			struct node *nd = &c->nodes[k];
			if (!(nd->up && nd->w_head < nd->w_n &&
			      nd->w[nd->w_head].at <= c->now))
				continue;
			if (pick-- == 0) {
				complete_write(c, nd);
				drain(c, nd);
				break;
			}
		}
	}
	sim_check(c);
	do_hot_crash(c);
	return !c->failed;
}
