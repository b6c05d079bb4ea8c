/* core_check.h - the invariants of one struct raft, checked after every
 * public entry point of raft.c (STYLE.md 13: one invariant check per
 * central struct, after every step).
 *
 * The invariants are one table in core_check.c, each with the paper
 * section (or raft.h rule) it comes from. Those that cost O(1) or
 * O(members) run in every build without NDEBUG, kvd's included (meson's
 * default build keeps assertions); those that walk the read queue, the
 * outboxes or the in-flight windows run only where KVD_CORE_CHECK is
 * defined: the core the unit tests and the simulator link, and the
 * sanitizer build. */
#ifndef RAFT_CORE_CHECK_H_
#define RAFT_CORE_CHECK_H_

#include <stdbool.h>

#include "core_state.h"

/* Whether the walking checks are compiled in (KVD_CORE_CHECK). */
bool raft__check_full(void);

/* The name of the first invariant of @r that does not hold, or NULL when
 * all hold. For tests: a deliberately broken struct raft must be named
 * here. */
const char *raft__check_violation(const struct raft *r);

/* Aborts, naming the invariant, when one does not hold (a bug in the
 * core, or memory corrupted under it). */
void raft__check(const struct raft *r);

#endif /* RAFT_CORE_CHECK_H_ */
