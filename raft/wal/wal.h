/* wal.h - the durable, segmented write-ahead log of entries and hard state.
 *
 * Files live in one directory. Entries are CRC frames (frame.h) appended to
 * segment files preallocated in steps ahead of the writes; hard state
 * (term, vote, commit) is a record in the same stream, so one fdatasync
 * makes a batch of entries and the hard state that goes with them durable
 * together (group commit).
 *
 * Not thread-safe: one thread at a time uses a struct wal (the server hands
 * it to its writer thread after recovery).
 *
 * Errors are negative WAL_E* codes; functions taking @err/@errlen write a
 * one-line human description there (file name and offset for corruption).
 */
#ifndef RAFT_WAL_H_
#define RAFT_WAL_H_

#include <stddef.h>
#include <stdint.h>

#include "entry.h"

enum wal_error {
	WAL_OK = 0,
	WAL_EIO = -1,	   /* a system call failed; errno is kept in the text */
	WAL_ECORRUPT = -2, /* checksum, gap or missing segment: refuse to run */
	WAL_ENOMEM = -3,
	WAL_EINVAL = -4, /* a precondition was violated by the caller */
	WAL_ENOSPC = -5	 /* the disk is full; nothing was made durable */
};

/* The largest entry index the WAL stores: the index after the last entry
 * must never wrap around. An append past it fails with WAL_EINVAL; a log
 * holding an entry past it is corrupt. */
#define WAL_MAX_INDEX (UINT64_MAX - 1)

struct wal_hard_state {
	raft_term term;
	raft_id vote; /* 0: no vote in this term */
	raft_index commit;
};

struct wal_options {
	/* Size at which a segment is closed and the next one started
	 * (default 4 MiB when 0). A segment grows to it in preallocation
	 * steps of a quarter of it (whole 4 KiB pages, at most 4 MiB). A
	 * batch larger than a segment still goes into one segment. */
	uint64_t segment_bytes;
	/* Largest payload accepted on recovery (default 64 MiB when 0). */
	uint32_t max_entry_bytes;
	/* Called for notable recovery events (a torn tail truncated, ...).
	 * May be NULL. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct wal;

/* Opens (creating when absent) the WAL in directory @dir and recovers it:
 * every frame is verified; a torn or partial last record in the last segment
 * is truncated away (and logged); any other damage is WAL_ECORRUPT with the
 * file and offset in @err. @opts may be NULL for defaults. */
int wal_open(const char *dir, const struct wal_options *opts, struct wal **out,
	     char *err, size_t errlen);

/* Closes the files and frees @w. Does not sync. */
void wal_close(struct wal *w);

/* Index of the first entry kept (1 when nothing was compacted; last+1 when
 * the log is empty) and of the last entry (0 when empty). */
raft_index wal_first_index(const struct wal *w);
raft_index wal_last_index(const struct wal *w);

/* The newest hard state recorded ({0,0,0} in a new WAL). */
void wal_hard_state(const struct wal *w, struct wal_hard_state *out);

/* Sets the index the log starts after when it is empty (after a snapshot
 * install): the next append must be at @index + 1. */
int wal_reset(struct wal *w, raft_index index, char *err, size_t errlen);

/* Appends @n entries (written with write(2), not yet durable). The first
 * entry's index must be wal_last_index() + 1 and the indexes consecutive.
 * Entry data is copied; the caller keeps ownership of @entries. */
int wal_append(struct wal *w, const struct raft_entry *entries, size_t n,
	       char *err, size_t errlen);

/* Records a new hard state (not yet durable). */
int wal_set_hard_state(struct wal *w, const struct wal_hard_state *hs,
		       char *err, size_t errlen);

/* Removes every entry with an index > @index (conflict resolution, Raft
 * §5.3). Durable after the next wal_sync. Precondition: @index >= the last
 * compacted index. */
int wal_truncate_after(struct wal *w, raft_index index, char *err,
		       size_t errlen);

/* Makes everything appended, truncated and recorded so far durable with one
 * fdatasync (plus a directory fsync when segments were created or removed). */
int wal_sync(struct wal *w, char *err, size_t errlen);

/* Reads entries [@lo, @hi] into a new array *@out of *@n entries. The array
 * and each entry's data are malloc'd and owned by the caller: free them with
 * wal_free_entries(). */
int wal_read(struct wal *w, raft_index lo, raft_index hi,
	     struct raft_entry **out, size_t *n, char *err, size_t errlen);
void wal_free_entries(struct raft_entry *entries, size_t n);

/* Deletes whole segments whose entries all have an index < @index (log
 * compaction after a snapshot); the segment holding @index stays. */
int wal_compact(struct wal *w, raft_index index, char *err, size_t errlen);

const char *wal_strerror(int err);

#endif /* RAFT_WAL_H_ */
