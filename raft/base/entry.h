/* entry.h - the log entry, shared by the frame codec, the WAL and the core. */
#ifndef RAFT_ENTRY_H_
#define RAFT_ENTRY_H_

#include <stddef.h>
#include <stdint.h>

typedef uint64_t raft_term;
typedef uint64_t raft_index;
typedef uint64_t raft_id;

/* Entry types. Their numeric values are also the frame types on disk and on
 * the wire (docs/FORMAT.md), so they never change. */
enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1, /* an opaque command for the state machine */
	RAFT_ENTRY_NOOP = 2, /* appended by a new leader (Raft §5.4.2, §8) */
	/* a membership configuration, encoded by raft_membership_encode() */
	RAFT_ENTRY_CONFIG = 3
};

/* One log entry. Who owns @data is said by each call that passes one. */
struct raft_entry {
	raft_term term;
	raft_index index;
	uint8_t type;  /* enum raft_entry_type */
	uint32_t len;  /* bytes at data */
	uint8_t *data; /* may be NULL when len == 0 */
};

#endif /* RAFT_ENTRY_H_ */
