/* snapshot.h - snapshot files in DATA_DIR/snap/: creation, metadata,
 * verification, listing and pruning (docs/FORMAT.md, "Snapshots").
 *
 * A snapshot is two files named after its index:
 *   snap-<016x index>.snap  the state as snapshot_write() wrote it (kvd:
 *                           a compacted LMDB copy);
 *   snap-<016x index>.meta  JSON: index, term, size, CRC-32C of the .snap,
 *                           and the membership (members.json) it goes with.
 * Each is written as a temporary file, fsynced, renamed and the directory
 * fsynced; the .meta is written last, so a snapshot exists exactly when
 * its .meta does. Leftover temporary files are removed by snapshot_prune().
 *
 * These functions do blocking file IO and touch no event loop, so they run
 * on any thread; snapshot_create() runs the application's snapshot_write(),
 * beside the loop's applies when it allows (KVDRAFT_APP_SNAPSHOT_CONCURRENT).
 *
 * Errors: -1 with one line in @err.
 */
#ifndef RAFT_NODE_SNAPSHOT_FILES_H_
#define RAFT_NODE_SNAPSHOT_FILES_H_

#include <stddef.h>
#include <stdint.h>

#include "kvdraft_node.h"
#include "snapshot_info.h"

#define SNAPSHOT_DIR	      "snap"
#define SNAPSHOT_META_VERSION 1
/* Path buffers: the data dir (at most 4000 bytes) plus a file name. */
#define SNAPSHOT_PATH_MAX 4200
/* The most snapshots listed; older ones are pruned long before. */
#define SNAPSHOT_LIST_MAX 16

/* The data file's suffix; and the one data files had before the node was a
 * library (kvd's were LMDB files), renamed by snapshot_migrate(). */
#define SNAPSHOT_DATA_SUFFIX   ".snap"
#define SNAPSHOT_LEGACY_SUFFIX ".mdb"

/* @dir/snap/snap-<index>.snap (or .meta) into @out (SNAPSHOT_PATH_MAX). */
void snapshot_data_path(const char *dir, raft_index index, char *out);
void snapshot_meta_path(const char *dir, raft_index index, char *out);

/* Creates @dir/snap if needed. Returns 0 or -1. */
int snapshot_make_dir(const char *dir, char *err, size_t errlen);

/* Takes a snapshot of @app's state into @dir/snap: snapshot_write() into
 * a temporary file, which says the index and term the copy holds (the
 * state may move on during the copy), fsynced, its size and CRC computed,
 * renamed, then the .meta written with @members_json (the text of
 * members.json, may be NULL) embedded. Fills *@out. */
int snapshot_create(const struct kvdraft_app *app, const char *dir,
		    const char *members_json, struct snapshot_info *out,
		    char *err, size_t errlen);

/* Reads the .meta of the snapshot at @index. */
int snapshot_read_meta(const char *dir, raft_index index,
		       struct snapshot_info *out, char *err, size_t errlen);

/* Writes the .meta for @info (temp, fsync, rename, dir fsync). */
int snapshot_write_meta(const char *dir, const struct snapshot_info *info,
			const char *members_json, char *err, size_t errlen);

/* Recomputes the .snap's size and CRC and compares them with @info.
 * Returns 0 when they match, -1 (with the reason) otherwise. */
int snapshot_verify(const char *dir, const struct snapshot_info *info,
		    char *err, size_t errlen);

/* Lists the snapshots with a readable .meta, newest first, into @out (up to
 * @cap). Returns how many, or -1. A .meta that does not parse is skipped
 * and named in @warn (may be NULL). */
int snapshot_list(const char *dir, struct snapshot_info *out, size_t cap,
		  char *warn, size_t warnlen, char *err, size_t errlen);

/* Deletes every snapshot but the newest @keep, and leftover temporary
 * files. Returns the number of snapshots deleted, or -1. */
int snapshot_prune(const char *dir, size_t keep, char *err, size_t errlen);

/* Renames data files of the older name (snap-<index>.mdb) to the current
 * one and syncs the directory: a data dir written before keeps its
 * snapshots. Returns how many were renamed, or -1. */
int snapshot_migrate(const char *dir, char *err, size_t errlen);

#endif /* RAFT_NODE_SNAPSHOT_FILES_H_ */
