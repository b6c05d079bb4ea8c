/* core_transfer.h - leadership transfer (thesis §3.10). */
#ifndef RAFT_CORE_TRANSFER_H_
#define RAFT_CORE_TRANSFER_H_

#include <stdbool.h>

#include "core_state.h"

/* Starts a transfer to @to (see raft_transfer_leadership()). */
int raft__transfer(struct raft *r, raft_id to);

/* Deferred to the next ready: TIMEOUT_NOW once @to has every entry. */
bool raft__transfer_wants_flush(const struct raft *r);
void raft__transfer_flush(struct raft *r);

/* Leader tick: abandons a transfer older than an election timeout. */
void raft__transfer_tick(struct raft *r);

#endif /* RAFT_CORE_TRANSFER_H_ */
