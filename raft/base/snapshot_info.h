/* snapshot_info.h - what identifies a snapshot file: the last entry it
 * covers and the bytes it holds. Shared by the snapshot files
 * (raft/node/snapshot.c) and their transfer (raft/peer/snapshot_transfer.c). */
#ifndef RAFT_BASE_SNAPSHOT_INFO_H_
#define RAFT_BASE_SNAPSHOT_INFO_H_

#include <stdint.h>

#include "entry.h"

struct snapshot_info {
	raft_index index; /* last entry the snapshot includes */
	raft_term term;	  /* its term */
	uint64_t size;	  /* bytes of the data file */
	uint32_t crc;	  /* CRC-32C of the whole data file */
};

#endif /* RAFT_BASE_SNAPSHOT_INFO_H_ */
