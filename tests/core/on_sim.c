/* on_sim.c - core tests on the simulated cluster: the common steps. */
#include "on_sim.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DELIVER 100000

struct sim_cluster *os_new(const struct sim_config *cfg)
{
	struct sim_config sc = *cfg;
	struct sim_cluster *c = NULL;

	sc.scripted = true;
	sc.trace = getenv("SIM_TRACE") ? stderr : NULL;
	ck_assert_int_eq(sim_cluster_new(&sc, &c), 0);
	return c;
}

void os_assert_safe(const struct sim_cluster *c)
{
	const char *f = sim_failure(c);

	ck_assert_msg(f == NULL, "invariant broken: %s", f ? f : "");
}

void os_free(struct sim_cluster *c)
{
	os_assert_safe(c);
	sim_cluster_free(c);
}

void os_stabilize(struct sim_cluster *c)
{
	ck_assert_uint_lt(sim_deliver_all(c, MAX_DELIVER), MAX_DELIVER);
	os_assert_safe(c);
}

void os_tick_all(struct sim_cluster *c, int times)
{
	for (int i = 0; i < times; i++) {
		sim_tick_all(c);
		os_stabilize(c);
	}
}

void os_isolate(struct sim_cluster *c, raft_id id, bool on)
{
	for (raft_id o = 1; o <= SIM_MAX_NODES; o++) {
		if (o == id)
			continue;
		sim_cut(c, id, o, on);
		sim_cut(c, o, id, on);
	}
}

void os_elect(struct sim_cluster *c, raft_id id)
{
	for (int i = 0; i < 100 && sim_role(c, id) == RAFT_FOLLOWER; i++)
		sim_tick_node(c, id);
	os_stabilize(c);
	ck_assert_int_eq(sim_role(c, id), RAFT_LEADER);
}

const struct raft *os_core(const struct sim_cluster *c, raft_id id)
{
	const struct raft *r = sim_core(c, id);

	ck_assert_ptr_nonnull(r);
	return r;
}
