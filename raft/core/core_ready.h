/* core_ready.h - building struct raft_ready and taking it back: the work
 * of raft_ready() and raft_advance() (raft.h), which raft.c wraps. */
#ifndef RAFT_CORE_READY_H_
#define RAFT_CORE_READY_H_

#include "core_state.h"

/* Flushes the deferred work (reads, appends, a TIMEOUT_NOW) and fills
 * @rd with everything the driver must do (raft.h, rules 1-7). */
void raft__ready(struct raft *r, struct raft_ready *rd);

/* The driver carried out @rd, the last ready: its outboxes are emptied
 * and what it handed out is counted as handed out. */
void raft__advance(struct raft *r, const struct raft_ready *rd);

#endif /* RAFT_CORE_READY_H_ */
