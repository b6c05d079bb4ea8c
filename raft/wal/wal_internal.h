/* wal_internal.h - what the WAL's files share: the on-disk layout's
 * constants, the in-memory index of segments and the helpers both the
 * write path (wal.c) and recovery (wal_recover.c) use. Not a public
 * header: nothing outside raft/wal includes it. */
#ifndef RAFT_WAL_INTERNAL_H_
#define RAFT_WAL_INTERNAL_H_

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hexname.h"
#include "wal.h"

/*
 * On-disk layout (docs/FORMAT.md, section WAL, is the reference):
 *
 * The directory holds segment files named wal-<16 hex digits>.log, the
 * digits being a sequence number that grows by one per new segment. A
 * segment is created as wal-<seq>.log.tmp, given its first preallocation
 * step and its first two records, synced and only then renamed, so a
 * segment with its final name always starts with a valid header. It then
 * grows in preallocation steps ahead of the write position, up to
 * segment_bytes, so its size follows what it holds.
 *
 * Every segment starts with a control record (FRAME_SEGMENT, kind START or
 * RESET) followed by the current hard state. After that come entries,
 * hard-state records and truncation records (FRAME_SEGMENT, kind TRUNCATE)
 * in the order they were written. Zeros after the last record mark the end.
 */

#define WAL_FORMAT_VERSION 1

/* Kinds of control records (FRAME_SEGMENT); the frame's index field holds
 * the index of the next entry. */
enum {
	CTL_START = 1,	  /* a segment continuing the log */
	CTL_RESET = 2,	  /* a segment starting a new log (after a snapshot) */
	CTL_TRUNCATE = 3, /* entries >= index are removed */
};

#define CTL_PAYLOAD 16
#define CTL_SIZE    (FRAME_HEADER_SIZE + CTL_PAYLOAD)
#define HS_PAYLOAD  24
#define HS_SIZE	    (FRAME_HEADER_SIZE + HS_PAYLOAD)

#define DEFAULT_SEGMENT_BYTES (4ull << 20)
#define MIN_SEGMENT_BYTES     4096ull
#define MAX_SEGMENT_BYTES     (1ull << 30)
#define DEFAULT_MAX_ENTRY     (64u << 20)
#define MAX_MAX_ENTRY	      (256u << 20)
/* Largest write of one call; keeps every offset in a segment < 2^32, so the
 * in-memory index can store offsets in 4 bytes. */
#define MAX_BATCH_BYTES (1ull << 30)
#define READ_CHUNK	(256u << 10)
/* Largest preallocation step. A segment is extended by a step (a quarter
 * of segment_bytes, at most this) just before the write that needs it:
 * the fdatasync after that write also makes the new size durable, the
 * ones after it, until the next step, change no file size. */
#define PREALLOC_STEP_MAX (4ull << 20)
#define PREALLOC_ALIGN	  4096ull

/* The limits above, tied to the frame format (frame.h) and to each other:
 * a change to one that breaks another fails to build. */
_Static_assert(MAX_MAX_ENTRY <= UINT32_MAX - FRAME_HEADER_SIZE,
	       "a frame's length field (32 bits) holds the largest entry");
_Static_assert((uint64_t)MAX_MAX_ENTRY + FRAME_HEADER_SIZE <= MAX_BATCH_BYTES,
	       "the largest entry's frame fits in one batch");
_Static_assert(MAX_BATCH_BYTES <= UINT32_MAX,
	       "offsets in a segment are stored in 32 bits (struct wal_seg)");
_Static_assert(MAX_SEGMENT_BYTES <= UINT32_MAX,
	       "recovery refuses segment files of 4 GiB and more");
_Static_assert(DEFAULT_MAX_ENTRY <= MAX_MAX_ENTRY,
	       "the default entry limit is a valid one");
_Static_assert(DEFAULT_SEGMENT_BYTES >= MIN_SEGMENT_BYTES &&
		   DEFAULT_SEGMENT_BYTES <= MAX_SEGMENT_BYTES,
	       "the default segment size is a valid one");
_Static_assert(CTL_SIZE + HS_SIZE <= PREALLOC_ALIGN &&
		   PREALLOC_ALIGN <= MIN_SEGMENT_BYTES,
	       "a segment's first two records fit its first preallocation");
_Static_assert(READ_CHUNK >= FRAME_HEADER_SIZE,
	       "a read chunk holds at least a frame header");

#define SEG_NAME_MAX 32
_Static_assert(sizeof("wal-") - 1 + HEXNAME_DIGITS + sizeof(".log") <=
		   SEG_NAME_MAX,
	       "a segment's name, with its NUL, fits SEG_NAME_MAX");

/* One segment file. Its live entries are lo .. lo + n - 1 at offs[]; a
 * segment whose entries were all truncated away has n == 0. */
struct wal_seg {
	uint64_t seq;
	raft_index hdr_index; /* the index in its header record */
	raft_index lo;
	uint64_t n;
	uint32_t *offs;
	uint64_t cap;
	uint64_t end; /* end of the last valid record (the write offset) */
	/* Bytes preallocated, at most segment_bytes: the file's size, unless
	 * a batch larger than a segment made it longer. */
	uint64_t alloc;
};

struct wal {
	int dirfd;
	char *dir;
	struct wal_options opts;
	struct wal_seg *segs; /* in sequence order; the last one is written */
	size_t nsegs, segs_cap;
	int fd; /* the last segment, read-write */
	raft_index first, last;
	/* The term of entry @last, as appended or read back by recovery; 0
	 * when not known (an empty log, or after a truncation or a reset):
	 * the write side's assertion that terms never go down (wal_append)
	 * and recovery's check of the same (replay). */
	raft_term last_term;
	struct wal_hard_state hs;
	int hs_pending; /* hs not yet written to the file */
	int dirty;	/* written since the last fdatasync */
	/* After a failed fdatasync the kernel may have dropped dirty pages,
	 * so nothing written since the last good sync can be trusted: every
	 * later call fails (the process must restart and recover). */
	int failed;
	uint8_t *wbuf;
	size_t wbuf_cap;
	/* Read cache: one older segment's fd and one buffer of file bytes. */
	int rfd;
	uint64_t rfd_seq;
	uint8_t *rbuf;
	size_t rbuf_cap, rbuf_len;
	uint64_t rbuf_seq, rbuf_off;
};

/* Writes a one-line description into @err (when not NULL) and returns
 * @code. */
int wal__fmt_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Passes a line to the log callback of the options, if any. */
void wal__log(const struct wal *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Maps a failed system call's errno @e to a WAL error with a description. */
int wal__sys_err(const struct wal *w, char *err, size_t errlen, int e,
		 const char *what, const char *name);

/* The file name of segment @seq: "wal-<16 hex digits>.log". */
void wal__seg_name(char out[SEG_NAME_MAX], uint64_t seq);

/* Writes all of @buf at @off of @fd; on failure zeroes what was written.
 * Returns 0, the errno, or -1 when the file can no longer be trusted. */
int wal__write_all(int fd, const void *buf, size_t len, uint64_t off);

/* Makes room for @more offsets in segment @s. Returns 0 or -1. */
int wal__seg_reserve(struct wal_seg *s, uint64_t more);

/* Appends @s to the array of segments. Returns 0 or -1 (out of memory). */
int wal__push_seg(struct wal *w, const struct wal_seg *s);

/* Drops the entries after @index from the in-memory index. */
void wal__mem_truncate(struct wal *w, raft_index index);

/* Asserts what the in-memory index must satisfy: the live ranges of the
 * segments follow each other from first to last without a gap or an
 * overlap, in sequence order, each within its segment's records. Costs
 * one step per segment (after recovery, a compaction or a reset). */
void wal__assert_index(const struct wal *w);

/* Recomputes the first index from the segments' live ranges. */
void wal__recompute_first(struct wal *w);

/* fsyncs the WAL's directory. */
int wal__fsync_dir(struct wal *w, char *err, size_t errlen);

/* Creates segment @seq starting with a control record of @kind (the log
 * continuing at @next) and the current hard state, crash-safely. */
int wal__seg_create(struct wal *w, uint64_t seq, uint32_t kind, raft_index next,
		    int *fd_out, struct wal_seg *s, char *err, size_t errlen);

/* Recovers the log in the opened, locked directory of @w (wal_recover.c):
 * fills the segments, first, last and the hard state, truncates a torn
 * tail, and opens the last segment for writing (a new log gets its first
 * segment). */
int wal__recover(struct wal *w, char *err, size_t errlen);

#endif /* RAFT_WAL_INTERNAL_H_ */
