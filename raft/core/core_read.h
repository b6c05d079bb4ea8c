/* core_read.h - linearizable reads without log writes: ReadIndex (thesis
 * §6.4), batched into heartbeat rounds, and its follower variant. */
#ifndef RAFT_CORE_READ_H_
#define RAFT_CORE_READ_H_

#include <stdbool.h>
#include <stdint.h>

#include "core_state.h"

/* Asks for a read point for the caller's @ctx (leader or follower). */
int raft__read_index(struct raft *r, uint64_t ctx);

/* Leader: a follower asks for a read index. */
int raft__step_read_index(struct raft *r, const struct raft_msg *m);

/* Follower: the leader answers. */
int raft__step_read_index_resp(struct raft *r, const struct raft_msg *m);

/* Work deferred to the next ready: release the reads of every round a
 * quorum acknowledged, then give the reads waiting for a round their read
 * index and one new heartbeat round (while fewer than max_read_rounds are
 * out); a follower sends its waiting requests in one message. */
bool raft__read_wants_flush(const struct raft *r);
void raft__read_flush(struct raft *r);

/* Fails reads that waited longer than two election timeouts (their
 * messages may have been lost); a follower asks again after one. */
void raft__read_tick(struct raft *r);

#endif /* RAFT_CORE_READ_H_ */
