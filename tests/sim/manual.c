/* manual.c - members whose readies the test takes and hands back by hand. */
#include <assert.h>
#include <inttypes.h>

#include "cluster_internal.h"
#include "ready_plan.h"

static struct node *member(struct sim_cluster *c, raft_id i)
{
	assert(i >= 1 && i <= c->n);
	return &c->nodes[i];
}

/* One ready the test took, carried out as drain() does. */
static void carry_out(struct sim_cluster *c, struct node *nd,
		      const struct raft_ready *rd)
{
	carry_out_ready(c, nd, rd);
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
		disk_install(&nd->disk, rd.snapshot.index, rd.snapshot.term);
	/* The write's records, entries before the hard state, of which the
	 * crash keeps a prefix (sim_crash_torn); the write is the one the
	 * driver's plan makes (ready_plan.h). */
	struct ready_plan p;
	plan_ready(c, nd, &rd, &p);
	if (steps >= 3) {
		keep = rd.n_entries;
		if (p.job_has_hs && steps >= 4)
			keep++;
	}
	if (keep > 0)
		enqueue_write(c, nd, &rd, &p);
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
