/* core_quorum.h - the voter configuration and majority arithmetic. */
#ifndef RAFT_CORE_QUORUM_H_
#define RAFT_CORE_QUORUM_H_

#include <stdbool.h>
#include <stddef.h>

#include "entry.h"

/* The most voters one configuration may hold. */
#define RAFT_MAX_VOTERS 64

struct raft_voter_set {
	raft_id ids[RAFT_MAX_VOTERS];
	size_t n;
};

/* Who votes. Every decision that needs "a majority" asks this struct, so
 * that a joint configuration (thesis §4.3: majorities of both the old and
 * the new set) only has to change the functions below: @outgoing is the
 * old set while joint, empty otherwise. */
struct raft_quorum {
	struct raft_voter_set voters;
	struct raft_voter_set outgoing;
};

/* Fills @c with the @n distinct, non-zero ids (copied). Returns 0, or -1
 * when @n is 0, above RAFT_MAX_VOTERS, or an id repeats or is 0. */
int raft__quorum_init(struct raft_quorum *c, const raft_id *ids, size_t n);

bool raft__quorum_is_voter(const struct raft_quorum *c, raft_id id);

/* Calls @fn for each distinct member of the configuration. */
void raft__quorum_each(const struct raft_quorum *c,
		       void (*fn)(void *arg, raft_id id), void *arg);

/* The largest N such that a majority (of each set) reports an index >= N
 * through @index_of. */
raft_index raft__quorum_quorum_index(const struct raft_quorum *c,
				     raft_index (*index_of)(void *arg,
							    raft_id id),
				     void *arg);

enum raft_vote_result {
	RAFT_VOTE_PENDING = 0,
	RAFT_VOTE_WON = 1,
	RAFT_VOTE_LOST = 2
};

/* @vote_of returns 1 (granted), -1 (refused) or 0 (no answer yet). */
enum raft_vote_result
raft__quorum_vote_result(const struct raft_quorum *c,
			 int (*vote_of)(void *arg, raft_id id), void *arg);

/* Whether a majority (of each set) satisfies @yes (CheckQuorum). */
bool raft__quorum_has_quorum(const struct raft_quorum *c,
			     bool (*yes)(void *arg, raft_id id), void *arg);

#endif /* RAFT_CORE_QUORUM_H_ */
