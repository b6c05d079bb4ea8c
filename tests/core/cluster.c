/* cluster.c - a few cores wired together by hand for step-by-step tests. */
#include "cluster.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void entry_deep_copy(struct raft_entry *dst, const struct raft_entry *e)
{
	*dst = *e;
	dst->data = NULL;
	if (e->len > 0) {
		dst->data = malloc(e->len);
		ck_assert_ptr_nonnull(dst->data);
		memcpy(dst->data, e->data, e->len);
	}
}

static void msg_free(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
}

void cl_init(struct cl *c, size_t n, const struct raft_options *base)
{
	cl_init_voters(c, n, n, base);
}

/* The options of member @id: founding voters, or none for a member that
 * starts empty. */
static struct raft_options opts_of(const struct cl *c, raft_id id)
{
	struct raft_options o = c->opts;

	o.id = id;
	if (id > c->n_voters)
		o.n_voters = 0;
	return o;
}

void cl_init_voters(struct cl *c, size_t n, size_t n_voters,
		    const struct raft_options *base)
{
	static raft_id ids[CL_MAX_NODES] = {1, 2, 3, 4, 5};

	memset(c, 0, sizeof(*c));
	c->n = n;
	c->n_voters = n_voters;
	c->opts = *base;
	c->opts.voters = ids;
	c->opts.n_voters = n_voters;
	if (c->opts.election_ticks == 0)
		c->opts.election_ticks = 10;
	if (c->opts.heartbeat_ticks == 0)
		c->opts.heartbeat_ticks = 1;
	for (size_t i = 0; i < n; i++) {
		struct raft_options o = opts_of(c, i + 1);

		o.seed = 1000 + i;
		ck_assert_int_eq(raft_new(&o, NULL, &c->nodes[i].r), RAFT_OK);
	}
}

void cl_free(struct cl *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cl_node *nd = &c->nodes[i];

		raft_free(nd->r);
		for (size_t j = 0; j < nd->n_log; j++)
			free(nd->log[j].data);
	}
	for (size_t i = 0; i < c->n_q; i++)
		msg_free(&c->q[i]);
}

struct cl_node *cl_node(struct cl *c, raft_id id)
{
	ck_assert(id >= 1 && id <= c->n);
	return &c->nodes[id - 1];
}

struct raft *cl_r(struct cl *c, raft_id id)
{
	return cl_node(c, id)->r;
}

static void enqueue(struct cl *c, const struct raft_msg *m)
{
	struct raft_msg *d;

	ck_assert_uint_lt(c->n_q, CL_MAX_MSGS);
	d = &c->q[c->n_q++];
	*d = *m;
	d->entries = NULL;
	if (m->n_entries > 0) {
		d->entries = calloc(m->n_entries, sizeof(*d->entries));
		ck_assert_ptr_nonnull(d->entries);
		for (size_t i = 0; i < m->n_entries; i++)
			entry_deep_copy(&d->entries[i], &m->entries[i]);
	}
}

/* raft.h rule 7b, also run on recovery: stored entries up to the snapshot
 * index are deleted (their slots stay, empty), and every stored entry after
 * it too unless the stored entry at the snapshot index has its term. */
static void log_cut(struct cl_node *nd)
{
	raft_index x = nd->snap_index;
	bool keep;

	if (x == 0)
		return;
	ck_assert_uint_le(x, CL_MAX_LOG);
	keep = nd->n_log >= x && nd->log[x - 1].term == nd->snap_term;
	if (!keep)
		while (nd->n_log > x)
			free(nd->log[--nd->n_log].data);
	while (nd->n_log < x)
		memset(&nd->log[nd->n_log++], 0, sizeof(nd->log[0]));
	for (raft_index i = 1; i <= x; i++) {
		free(nd->log[i - 1].data);
		nd->log[i - 1].data = NULL;
		nd->log[i - 1].len = 0;
	}
	nd->log[x - 1].term = nd->snap_term;
	nd->log[x - 1].index = x;
}

/* raft.h rule 7a: the received snapshot replaces the state machine. */
static void install_file(struct cl_node *nd, raft_index index, raft_term term)
{
	ck_assert_uint_eq(nd->snap_file_index, index);
	ck_assert_uint_le(index, CL_MAX_LOG);
	memcpy(nd->applied, nd->snap_file, sizeof(nd->applied));
	nd->applied_index = index;
	nd->snap_index = index;
	nd->snap_term = term;
	if (nd->drv_snap_index < index)
		nd->drv_snap_index = index;
	nd->n_installs++;
}

/* Rule 1: drop a replaced suffix, then store. */
static void store_entries(struct cl_node *nd, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];

		ck_assert_uint_le(e->index, CL_MAX_LOG);
		while (nd->n_log >= e->index)
			free(nd->log[--nd->n_log].data);
		ck_assert_uint_eq(nd->n_log + 1, e->index);
		entry_deep_copy(&nd->log[nd->n_log++], e);
	}
}

int cl_compact(struct cl *c, raft_id id, raft_index index)
{
	struct cl_node *nd = cl_node(c, id);
	struct raft_status st;
	int rc;

	/* The state machine here is durable as it goes: its snapshot is
	 * its applied prefix. */
	if (nd->applied_index > nd->drv_snap_index)
		nd->drv_snap_index = nd->applied_index;
	rc = raft_compact(nd->r, index);
	if (rc != RAFT_OK)
		return rc;
	raft_status(nd->r, &st);
	if (st.snapshot_index > nd->snap_index) {
		ck_assert_uint_eq(nd->log[st.snapshot_index - 1].term,
				  st.snapshot_term);
		nd->snap_index = st.snapshot_index;
		nd->snap_term = st.snapshot_term;
		log_cut(nd);
	}
	return rc;
}

void cl_restart(struct cl *c, raft_id id)
{
	struct cl_node *nd = cl_node(c, id);
	struct raft_options o = opts_of(c, id);
	struct raft_restore rs = {.hs = nd->hs, .applied = nd->applied_index};

	raft_free(nd->r);
	/* Recovery finishes a log reset that a crash interrupted. */
	log_cut(nd);
	rs.entries = &nd->log[nd->snap_index];
	rs.n_entries = nd->n_log - nd->snap_index;
	rs.snapshot_index = nd->snap_index;
	rs.snapshot_term = nd->snap_term;
	o.id = id;
	o.seed = 2000 + id;
	ck_assert_int_eq(raft_new(&o, &rs, &nd->r), RAFT_OK);
}

void cl_crash_in_ready(struct cl *c, raft_id id, int steps)
{
	struct cl_node *nd = cl_node(c, id);
	struct raft_ready rd;

	ck_assert(raft_has_ready(nd->r));
	raft_ready(nd->r, &rd);
	if (rd.has_snapshot && steps >= 1)
		install_file(nd, rd.snapshot.index, rd.snapshot.term);
	if (rd.has_snapshot && steps >= 2)
		log_cut(nd);
	if (steps >= 3)
		store_entries(nd, &rd);
	if (rd.hs_changed && steps >= 4)
		nd->hs = rd.hs;
	/* Nothing was sent or applied; the core dies with its ready. */
	cl_restart(c, id);
}

static void ready_one(struct cl *c, struct cl_node *nd)
{
	while (raft_has_ready(nd->r)) {
		struct raft_ready rd;

		raft_ready(nd->r, &rd);
		if (rd.has_snapshot) {
			install_file(nd, rd.snapshot.index, rd.snapshot.term);
			log_cut(nd);
		}
		store_entries(nd, &rd);
		if (rd.hs_changed)
			nd->hs = rd.hs;
		/* Rules 2 and 3: everything is durable at once here. */
		for (size_t i = 0; i < rd.n_msgs; i++)
			enqueue(c, &rd.msgs[i]);
		for (size_t i = 0; i < rd.n_msgs_after_persist; i++)
			enqueue(c, &rd.msgs_after_persist[i]);
		for (size_t i = 0; i < rd.n_committed; i++) {
			const struct raft_entry *e = &rd.committed[i];

			ck_assert_uint_eq(e->index, nd->applied_index + 1);
			memset(nd->applied[e->index - 1], 0, 32);
			/* Commands only: a configuration is not applied. */
			if (e->type != RAFT_ENTRY_CONFIG)
				ck_assert_uint_lt(e->len, 32);
			if (e->len > 0 && e->type != RAFT_ENTRY_CONFIG)
				memcpy(nd->applied[e->index - 1], e->data,
				       e->len);
			nd->applied_index = e->index;
		}
		for (size_t i = 0; i < rd.n_reads; i++) {
			ck_assert_uint_lt(nd->n_reads, CL_MAX_READS);
			nd->reads[nd->n_reads++] = rd.reads[i];
		}
		for (size_t i = 0; i < rd.n_failed_reads; i++) {
			ck_assert_uint_lt(nd->n_failed, CL_MAX_READS);
			nd->failed[nd->n_failed++] = rd.failed_reads[i];
		}
		raft_advance(nd->r, &rd);
		if (rd.n_entries > 0)
			raft_persisted(nd->r,
				       rd.entries[rd.n_entries - 1].index,
				       rd.entries[rd.n_entries - 1].term);
		if (rd.n_committed > 0)
			raft_applied(nd->r, nd->applied_index);
	}
}

void cl_ready(struct cl *c, raft_id id)
{
	for (size_t i = 0; i < c->n; i++)
		if (id == 0 || id == i + 1)
			ready_one(c, &c->nodes[i]);
}

static bool match(const struct raft_msg *m, int type, raft_id from, raft_id to)
{
	return (type == 0 || m->type == type) &&
	       (from == 0 || m->from == from) && (to == 0 || m->to == to);
}

static size_t take(struct cl *c, int type, raft_id from, raft_id to,
		   bool deliver)
{
	size_t n = 0;

	/* Messages are handled in queue order; one handled may queue new
	 * ones only through a ready, so the scan is stable. */
	for (size_t i = 0; i < c->n_q;) {
		struct raft_msg m = c->q[i];

		if (!match(&m, type, from, to)) {
			i++;
			continue;
		}
		memmove(&c->q[i], &c->q[i + 1],
			(c->n_q - i - 1) * sizeof(c->q[0]));
		c->n_q--;
		if (deliver && m.type == RAFT_MSG_SNAPSHOT) {
			struct cl_node *from = cl_node(c, m.from);
			struct cl_node *to = cl_node(c, m.to);

			/* The transfer of the sender's newest snapshot. */
			ck_assert_uint_ge(from->drv_snap_index, m.index);
			ck_assert_uint_ge(from->applied_index,
					  from->drv_snap_index);
			m.index = from->drv_snap_index;
			m.log_term = from->log[m.index - 1].term;
			memset(to->snap_file, 0, sizeof(to->snap_file));
			memcpy(to->snap_file, from->applied,
			       m.index * sizeof(from->applied[0]));
			to->snap_file_index = m.index;
		}
		if (deliver)
			ck_assert_int_eq(raft_step(cl_r(c, m.to), &m), RAFT_OK);
		msg_free(&m);
		n++;
	}
	return n;
}

size_t cl_deliver(struct cl *c, int type, raft_id from, raft_id to)
{
	return take(c, type, from, to, true);
}

size_t cl_drop(struct cl *c, int type, raft_id from, raft_id to)
{
	return take(c, type, from, to, false);
}

size_t cl_count(struct cl *c, int type, raft_id from, raft_id to)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_q; i++)
		if (match(&c->q[i], type, from, to))
			n++;
	return n;
}

const struct raft_msg *cl_find(struct cl *c, int type, raft_id from, raft_id to)
{
	for (size_t i = 0; i < c->n_q; i++) {
		const struct raft_msg *m = &c->q[i];

		if (m->type == type && m->from == from &&
		    (to == 0 || m->to == to))
			return m;
	}
	return NULL;
}

void cl_stabilize(struct cl *c)
{
	for (int round = 0; round < 1000; round++) {
		cl_ready(c, 0);
		if (c->n_q == 0)
			return;
		cl_deliver(c, 0, 0, 0);
	}
	ck_abort_msg("cluster does not settle");
}

enum raft_role cl_elect(struct cl *c, raft_id id)
{
	struct raft *r = cl_r(c, id);

	for (unsigned i = 0; i < 2 * c->opts.election_ticks; i++) {
		raft_tick(r);
		if (raft_role(r) != RAFT_FOLLOWER)
			break;
	}
	ck_assert_int_ne(raft_role(r), RAFT_FOLLOWER);
	cl_stabilize(c);
	return raft_role(r);
}
