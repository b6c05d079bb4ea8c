/* kvctl_snapshot.h - `kvctl snapshot save FILE`: download a consistent
 * snapshot of the store (GET /v1/snapshot) for backups. */
#ifndef CLIENT_KVCTL_SNAPSHOT_H_
#define CLIENT_KVCTL_SNAPSHOT_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvc.h"

struct kvctl_snapshot_result {
	uint64_t index; /* raft index the snapshot holds */
	uint64_t term;
	uint64_t bytes;
	char endpoint[300]; /* the member it came from */
};

/* Checks, before a download, that @file can be created: its directory
 * exists and is writable, and @file does not exist (unless @force; even
 * then it must not be a directory). 0, or -1 with one line in @err. */
int kvctl_snapshot_check_target(const char *file, bool force, char *err,
				size_t errlen);

/* Tries each URL of the comma-separated @endpoints in turn until one
 * answers GET /v1/snapshot with 200, and writes the body to @file, mode
 * 0600 (through a new FILE.tmp.XXXXXX from mkostemp, fsynced, then put in
 * place: a planted FILE.tmp is never opened; without @force by link(2),
 * which never replaces a FILE that appeared meanwhile, with @force by
 * rename(2)), checking its length and its CRC-32C against the
 * X-Kv-Snapshot-CRC32C header. @file "-" is stdout: the bytes are written
 * there as they arrive, so a length or checksum failure is reported after
 * them. @timeout_s bounds each connection's silence. With @progress a
 * progress bar is drawn on stderr. @sec's token is sent as a bearer token
 * and its cacert, cert and key serve https:// members as libkvc's do (the
 * other fields are not read). Returns 0, or -1 with one line in @err
 * (@unavailable set when no member answered, as opposed to a local or
 * integrity error; a 401 or 403 says "unauthorized: " or "forbidden: "). */
int kvctl_snapshot_save(const char *endpoints, const struct kvc_options *sec,
			double timeout_s, bool progress, const char *file,
			bool force, struct kvctl_snapshot_result *out,
			bool *unavailable, char *err, size_t errlen);

#endif /* CLIENT_KVCTL_SNAPSHOT_H_ */
