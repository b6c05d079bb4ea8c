/* kvctl_snapshot.h - `kvctl snapshot save FILE`: download a consistent
 * snapshot of the store (GET /v1/snapshot) for backups. */
#ifndef CLIENT_KVCTL_SNAPSHOT_H_
#define CLIENT_KVCTL_SNAPSHOT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvctl_snapshot_result {
	uint64_t index; /* raft index the snapshot holds */
	uint64_t term;
	uint64_t bytes;
	char endpoint[300]; /* the member it came from */
};

/* Tries each URL of the comma-separated @endpoints in turn until one
 * answers GET /v1/snapshot with 200, and writes the body to @file, mode
 * 0600 (through a new FILE.tmp.XXXXXX from mkostemp, fsynced, renamed: a
 * planted FILE.tmp is never opened), checking its length and its CRC-32C
 * against the X-Kv-Snapshot-CRC32C header. @timeout_s bounds each connection's
 * silence. With @progress a progress bar is drawn on stderr. Returns 0,
 * or -1 with one line in @err (@unavailable set when no member answered,
 * as opposed to a local or integrity error). */
int kvctl_snapshot_save(const char *endpoints, double timeout_s, bool progress,
			const char *file, struct kvctl_snapshot_result *out,
			bool *unavailable, char *err, size_t errlen);

#endif /* CLIENT_KVCTL_SNAPSHOT_H_ */
