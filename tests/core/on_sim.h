/* on_sim.h - core tests on the simulated cluster (tests/sim): a scripted
 * cluster whose invariants every test asserts, quiet networks, elections. */
#ifndef TESTS_CORE_ON_SIM_H_
#define TESTS_CORE_ON_SIM_H_

#include <stdbool.h>

#include "raft.h"
#include "sim/cluster.h"

/* A scripted cluster of @cfg (scripted set here: messages move only when
 * delivered, disk writes complete at once; SIM_TRACE=1 prints its steps). */
struct sim_cluster *os_new(const struct sim_config *cfg);

/* Fails the test when an invariant of the simulated cluster broke. */
void os_assert_safe(const struct sim_cluster *c);

/* Asserts the invariants held to the end, then frees @c. */
void os_free(struct sim_cluster *c);

/* Deliveries until no message is left. */
void os_stabilize(struct sim_cluster *c);

/* @times times: ticks every member once, then stabilizes. */
void os_tick_all(struct sim_cluster *c, int times);

/* Cuts (@on) or restores every link to and from @id. */
void os_isolate(struct sim_cluster *c, raft_id id, bool on);

/* Ticks @id alone until it campaigns, then stabilizes: it leads. */
void os_elect(struct sim_cluster *c, raft_id id);

/* @id's core, to look at (it must be up). */
const struct raft *os_core(const struct sim_cluster *c, raft_id id);

#endif /* TESTS_CORE_ON_SIM_H_ */
