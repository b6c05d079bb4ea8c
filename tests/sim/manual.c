/* manual.c - members whose readies the test takes and hands back by hand. */
#include <assert.h>
#include <inttypes.h>

#include "cluster_internal.h"

static struct node *member(struct sim_cluster *c, raft_id i)
{
	assert(i >= 1 && i <= c->n);
	return &c->nodes[i];
}

/* The steps of drain() for one ready the test took, in the same order. */
static void carry_out(struct sim_cluster *c, struct node *nd,
		      const struct raft_ready *rd)
{
	struct raft_status st;
	raft_index applied0 = nd->applied;
	raft_status(nd->r, &st);
	if (rd->config_changed)
		note_config(c, nd, rd->config);
	if (rd->has_snapshot)
		install_snapshot(c, nd, rd);
	if (rd->n_entries)
		take_entries(c, nd, rd, &st);
	if (rd->hs_changed || rd->n_entries || rd->n_msgs_after_persist ||
	    rd->has_snapshot)
		enqueue_write(c, nd, rd);
	for (size_t k = 0; k < rd->n_msgs; k++)
		send_msg(c, nd, &rd->msgs[k]);
	take_committed(c, nd, rd, &st);
	for (size_t k = 0; k < rd->n_reads; k++) {
		struct read_req *r = read_by_ctx(c, nd, rd->reads[k].ctx);
		if (!r)
			continue;
		if (r->got_index || r->state != SIM_READ_PENDING) {
			if (r->state == SIM_READ_PENDING)
				inv_fail(c, INV_CORE_CONTRACT,
					 "read %" PRIu64 " answered twice",
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

void sim_manual(struct sim_cluster *c, raft_id i, bool on)
{
	struct node *nd = member(c, i);
	assert(!nd->taken);
	nd->manual = on;
	if (!on)
		sim_drain(c, i);
}

struct raft *sim_raw_core(struct sim_cluster *c, raft_id i)
{
	struct node *nd = member(c, i);
	assert(nd->up && !nd->taken);
	return nd->r;
}

bool sim_ready(struct sim_cluster *c, raft_id i, struct raft_ready *rd)
{
	struct node *nd = member(c, i);
	assert(!nd->taken);
	if (!nd->up || !raft_has_ready(nd->r))
		return false;
	raft_ready(nd->r, &nd->mrd);
	nd->taken = true;
	*rd = nd->mrd;
	return true;
}

void sim_advance(struct sim_cluster *c, raft_id i)
{
	struct node *nd = member(c, i);
	assert(nd->taken && nd->up);
	nd->taken = false;
	carry_out(c, nd, &nd->mrd);
	memset(&nd->mrd, 0, sizeof(nd->mrd));
	sim_check(c);
}

void sim_drain(struct sim_cluster *c, raft_id i)
{
	struct raft_ready rd;
	for (raft_id k = 1; k <= c->n; k++) {
		if (i != 0 && k != i)
			continue;
		while (sim_ready(c, k, &rd))
			sim_advance(c, k);
	}
}

void sim_crash_in_ready(struct sim_cluster *c, raft_id i, int steps)
{
	struct node *nd = member(c, i);
	struct raft_ready rd;
	size_t keep = 0;
	bool taken = sim_ready(c, i, &rd);
	assert(taken);
	(void)taken;
	trace(c, "crash of %" PRIu64 " after %d steps of its ready", i, steps);
	/* Rule 7a: the snapshot file is installed (and durable) first. */
	if (rd.has_snapshot && steps >= 1)
		install_snapshot(c, nd, &rd);
	/* Rule 7b on the stored log. */
	if (rd.has_snapshot && steps >= 2)
		slog_install(&nd->disk, rd.snapshot.index, rd.snapshot.term);
	/* The write's records, entries before the hard state, of which the
	 * crash keeps a prefix (sim_crash_torn). */
	if (steps >= 3) {
		keep = rd.n_entries;
		if (rd.hs_changed && steps >= 4)
			keep++;
	}
	if (keep > 0)
		enqueue_write(c, nd, &rd);
	/* Nothing was sent or applied; the core dies with its ready. */
	bool hold = nd->hold;
	sim_crash_torn(c, i, keep);
	nd->hold = hold;
	sim_restart(c, i);
}

const struct raft_entry *sim_disk_entry(const struct sim_cluster *c, raft_id i,
					raft_index index)
{
	assert(i >= 1 && i <= c->n);
	return slog_get(&c->nodes[i].disk, index);
}

struct raft_hard_state sim_disk_hs(const struct sim_cluster *c, raft_id i)
{
	assert(i >= 1 && i <= c->n);
	return c->nodes[i].dhs;
}

void sim_disk_truncate(struct sim_cluster *c, raft_id i, raft_index from)
{
	struct node *nd = member(c, i);
	struct slog *l = &nd->disk;
	assert(!nd->up && from > l->base);
	trace(c, "disk of %" PRIu64 " loses its entries from %" PRIu64, i,
	      from);
	while (slog_last(l) >= from) {
		free(l->e[l->n - 1].data);
		memset(&l->e[l->n - 1], 0, sizeof(l->e[0]));
		l->n--;
	}
}
