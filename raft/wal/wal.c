/* wal.c - the segmented write-ahead log: append, group commit, recovery. */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "hexname.h"

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

#define SEG_NAME_MAX 32

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

static int fmt_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fmt_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void wal_log(const struct wal *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wal_log(const struct wal *w, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (w->opts.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	w->opts.log(w->opts.log_ctx, line);
}

/* Maps a failed system call's errno to a WAL error with a description. */
static int sys_err(const struct wal *w, char *err, size_t errlen, int e,
		   const char *what, const char *name)
{
	/* EFBIG (a file size limit) is out of space as far as the log goes. */
	int code =
	    (e == ENOSPC || e == EDQUOT || e == EFBIG) ? WAL_ENOSPC : WAL_EIO;

	return fmt_err(err, errlen, code, "wal: %s %s/%s: %s", what, w->dir,
		       name, strerror(e));
}

static void seg_name(char out[SEG_NAME_MAX], uint64_t seq)
{
	snprintf(out, SEG_NAME_MAX, "wal-%016" PRIx64 ".log", seq);
}

/* Parses "wal-<16 hex>.log" (and with @tmp, the ".log.tmp" variant). */
static int parse_name(const char *name, int tmp, uint64_t *seq)
{
	return hexname_parse(name, "wal-", tmp ? ".log.tmp" : ".log", seq);
}

static size_t enc_ctl(uint8_t *p, uint32_t kind, raft_index next, uint64_t seq)
{
	uint8_t *pl = p + FRAME_HEADER_SIZE;

	le_put_u32(pl, WAL_FORMAT_VERSION);
	le_put_u32(pl + 4, kind);
	le_put_u64(pl + 8, seq);
	frame_encode_header(p, FRAME_SEGMENT, 0, next, CTL_PAYLOAD);
	return CTL_SIZE;
}

static size_t enc_hs(uint8_t *p, const struct wal_hard_state *hs)
{
	uint8_t *pl = p + FRAME_HEADER_SIZE;

	le_put_u64(pl, hs->term);
	le_put_u64(pl + 8, hs->vote);
	le_put_u64(pl + 16, hs->commit);
	frame_encode_header(p, FRAME_HARD_STATE, hs->term, hs->commit,
			    HS_PAYLOAD);
	return HS_SIZE;
}

/* Writes all of @buf at @off. On failure, zeroes whatever part was written
 * so that no partial record remains, and returns the errno (or -1 when the
 * zeroing failed too and the file can no longer be trusted). */
static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	static const uint8_t zeros[4096];
	size_t done = 0;
	int e;

	while (done < len) {
		ssize_t r = pwrite(fd, (const uint8_t *)buf + done, len - done,
				   (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : ENOSPC;
			goto rewind;
		}
		done += (size_t)r;
	}
	return 0;
rewind:
	for (size_t z = 0; z < done;) {
		size_t k = done - z < sizeof(zeros) ? done - z : sizeof(zeros);
		ssize_t r = pwrite(fd, zeros, k, (off_t)(off + z));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		z += (size_t)r;
	}
	return e;
}

static int grow_buf(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;
	size_t c = *cap ? *cap : 4096;

	if (need <= *cap)
		return 0;
	while (c < need)
		c = c > SIZE_MAX / 2 ? need : c * 2;
	p = realloc(*buf, c);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

static int seg_reserve(struct wal_seg *s, uint64_t more)
{
	uint64_t need = s->n + more, c = s->cap ? s->cap : 64;
	uint32_t *p;

	if (need <= s->cap)
		return 0;
	while (c < need)
		c *= 2;
	if (c > SIZE_MAX / sizeof(uint32_t))
		return -1;
	p = realloc(s->offs, (size_t)c * sizeof(uint32_t));
	if (p == NULL)
		return -1;
	s->offs = p;
	s->cap = c;
	return 0;
}

static void seg_free(struct wal_seg *s)
{
	free(s->offs);
	s->offs = NULL;
	s->cap = s->n = 0;
}

static struct wal_seg *last_seg(struct wal *w)
{
	return &w->segs[w->nsegs - 1];
}

/* Makes room for one more segment in the array (before creating the file,
 * so that a new segment never exists on disk without an entry here). */
static int reserve_seg(struct wal *w)
{
	if (w->nsegs == w->segs_cap) {
		size_t c = w->segs_cap ? w->segs_cap * 2 : 8;
		struct wal_seg *p = realloc(w->segs, c * sizeof(*p));
		if (p == NULL)
			return -1;
		w->segs = p;
		w->segs_cap = c;
	}
	return 0;
}

static int push_seg(struct wal *w, const struct wal_seg *s)
{
	if (reserve_seg(w) < 0)
		return -1;
	w->segs[w->nsegs++] = *s;
	return 0;
}

/* Drops the entries after @index from the in-memory index (the records stay
 * in the files; a truncation record says they are gone). */
static void mem_truncate(struct wal *w, raft_index index)
{
	for (size_t i = w->nsegs; i-- > 0;) {
		struct wal_seg *s = &w->segs[i];
		if (s->n == 0)
			continue;
		if (s->lo > index) {
			s->n = 0;
			continue;
		}
		if (s->lo + s->n - 1 > index)
			s->n = index - s->lo + 1;
		break;
	}
	w->last = index;
	if (w->first > index + 1)
		w->first = index + 1;
}

static void rbuf_invalidate(struct wal *w)
{
	w->rbuf_len = 0;
}

static int fsync_dir(struct wal *w, char *err, size_t errlen)
{
	if (fsync(w->dirfd) < 0)
		return fmt_err(err, errlen, WAL_EIO,
			       "wal: fsync directory %s: %s", w->dir,
			       strerror(errno));
	return 0;
}

/* Bytes a segment grows by at a time: a quarter of a segment (whole pages),
 * at most PREALLOC_STEP_MAX; never more than a segment. */
static uint64_t prealloc_step(const struct wal *w)
{
	uint64_t step = w->opts.segment_bytes / 4;

	step = (step + PREALLOC_ALIGN - 1) / PREALLOC_ALIGN * PREALLOC_ALIGN;
	if (step > PREALLOC_STEP_MAX)
		step = PREALLOC_STEP_MAX;
	if (step > w->opts.segment_bytes)
		step = w->opts.segment_bytes;
	return step;
}

/* Creates segment @seq whose header is a control record of @kind with the
 * log continuing at @next, followed by the current hard state. Crash-safe:
 * the file gets its final name only once its first records are durable, and
 * the directory is synced after the rename. On success *@fd is the open
 * file and *@s describes it. */
static int seg_create(struct wal *w, uint64_t seq, uint32_t kind,
		      raft_index next, int *fd_out, struct wal_seg *s,
		      char *err, size_t errlen)
{
	char name[SEG_NAME_MAX], tmp[SEG_NAME_MAX + 4];
	uint8_t rec[CTL_SIZE + HS_SIZE];
	size_t len;
	int fd, e, rc;

	seg_name(name, seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_err(w, err, errlen, errno, "create", tmp);
	e = posix_fallocate(fd, 0, (off_t)prealloc_step(w));
	if (e != 0) {
		rc = sys_err(w, err, errlen, e, "preallocate", tmp);
		goto fail;
	}
	len = enc_ctl(rec, kind, next, seq);
	len += enc_hs(rec + len, &w->hs);
	e = write_all(fd, rec, len, 0);
	if (e != 0) {
		rc = sys_err(w, err, errlen, e < 0 ? EIO : e, "write", tmp);
		goto fail;
	}
	if (fdatasync(fd) < 0) {
		rc = sys_err(w, err, errlen, errno, "fdatasync", tmp);
		goto fail;
	}
	if (renameat(w->dirfd, tmp, w->dirfd, name) < 0) {
		rc = sys_err(w, err, errlen, errno, "rename", tmp);
		goto fail;
	}
	rc = fsync_dir(w, err, errlen);
	if (rc != 0) {
		/* The rename may or may not survive a crash; both leave a
		 * valid log, but this process can't know which. */
		w->failed = 1;
		close(fd);
		return rc;
	}
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->hdr_index = next;
	s->lo = next;
	s->end = len;
	s->alloc = prealloc_step(w);
	*fd_out = fd;
	w->hs_pending = 0;
	return 0;
fail:
	close(fd);
	unlinkat(w->dirfd, tmp, 0);
	return rc;
}

/* Ends the current segment (making it durable first, so only the last
 * segment can ever hold a torn record) and starts the next one. */
static int roll(struct wal *w, char *err, size_t errlen)
{
	struct wal_seg *cur = last_seg(w), s;
	char name[SEG_NAME_MAX];
	int fd, rc;

	if (cur->seq == UINT64_MAX)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: segment sequence exhausted");
	if (fdatasync(w->fd) < 0) {
		seg_name(name, cur->seq);
		w->failed = 1;
		return sys_err(w, err, errlen, errno, "fdatasync", name);
	}
	w->dirty = 0;
	if (reserve_seg(w) < 0)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	cur = NULL; /* reserve_seg may have moved the array */
	rc = seg_create(w, last_seg(w)->seq + 1, CTL_START, w->last + 1, &fd,
			&s, err, errlen);
	if (rc != 0)
		return rc;
	push_seg(w, &s); /* cannot fail: reserved */
	close(w->fd);
	w->fd = fd;
	rbuf_invalidate(w);
	return 0;
}

static int check_usable(const struct wal *w, char *err, size_t errlen)
{
	if (w->failed)
		return fmt_err(err, errlen, WAL_EIO,
			       "wal: an earlier write or sync failed; reopen "
			       "the log to recover");
	return 0;
}

/* Extends the last segment's allocation to cover [0, @need), in whole
 * steps and up to segment_bytes (a batch larger than a segment grows the
 * file by its write). Nothing is written on failure, so the caller's write
 * simply does not happen: ENOSPC is WAL_ENOSPC and the log stays usable. */
static int prealloc_to(struct wal *w, struct wal_seg *s, uint64_t need,
		       char *err, size_t errlen)
{
	uint64_t step = prealloc_step(w), to;
	char name[SEG_NAME_MAX];
	int e;

	if (need <= s->alloc || s->alloc >= w->opts.segment_bytes)
		return 0;
	to = (need + step - 1) / step * step;
	if (to > w->opts.segment_bytes)
		to = w->opts.segment_bytes;
	e = posix_fallocate(w->fd, (off_t)s->alloc, (off_t)(to - s->alloc));
	if (e != 0) {
		seg_name(name, s->seq);
		return sys_err(w, err, errlen, e, "preallocate", name);
	}
	s->alloc = to;
	return 0;
}

/* Makes room for @len more bytes in the last segment, rolling to a new one
 * when the segment would grow past segment_bytes (a fresh segment takes any
 * batch, growing past segment_bytes), and preallocating the space. */
static int ensure_room(struct wal *w, uint64_t len, char *err, size_t errlen)
{
	struct wal_seg *s = last_seg(w);
	int rc;

	if (s->end + len > w->opts.segment_bytes &&
	    s->end > CTL_SIZE + HS_SIZE) {
		rc = roll(w, err, errlen);
		if (rc != 0)
			return rc;
		s = last_seg(w);
	}
	if (s->end + len > UINT32_MAX)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: batch of %" PRIu64 " bytes too large",
			       len);
	return prealloc_to(w, s, s->end + len, err, errlen);
}

/* Appends @len bytes of whole records to the last segment. */
static int write_records(struct wal *w, const uint8_t *buf, size_t len,
			 char *err, size_t errlen)
{
	struct wal_seg *s = last_seg(w);
	char name[SEG_NAME_MAX];
	int e;

	rbuf_invalidate(w);
	e = write_all(w->fd, buf, len, s->end);
	if (e != 0) {
		seg_name(name, s->seq);
		if (e < 0) {
			w->failed = 1;
			e = EIO;
		}
		return sys_err(w, err, errlen, e, "write", name);
	}
	s->end += len;
	w->dirty = 1;
	return 0;
}

int wal_append(struct wal *w, const struct raft_entry *entries, size_t n,
	       char *err, size_t errlen)
{
	struct wal_seg *s;
	uint64_t total;
	size_t pos = 0, hs_len;
	int rc;

	rc = check_usable(w, err, errlen);
	if (rc != 0)
		return rc;
	if (n == 0)
		return 0;
	if (entries == NULL || n > MAX_BATCH_BYTES / FRAME_HEADER_SIZE)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: bad batch of %zu entries", n);
	if (w->last > WAL_MAX_INDEX - n) /* n >= 1 here */
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: index space exhausted");
	total = w->hs_pending ? HS_SIZE : 0;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		if (e->index != w->last + 1 + i)
			return fmt_err(err, errlen, WAL_EINVAL,
				       "wal: append of index %" PRIu64
				       ", expected %" PRIu64,
				       e->index, w->last + 1 + i);
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
			return fmt_err(err, errlen, WAL_EINVAL,
				       "wal: entry %" PRIu64 " has type %u",
				       e->index, (unsigned)e->type);
		if (e->len > w->opts.max_entry_bytes)
			return fmt_err(err, errlen, WAL_EINVAL,
				       "wal: entry %" PRIu64 " of %" PRIu32
				       " bytes exceeds the limit of %" PRIu32,
				       e->index, e->len,
				       w->opts.max_entry_bytes);
		if (e->len > 0 && e->data == NULL)
			return fmt_err(err, errlen, WAL_EINVAL,
				       "wal: entry %" PRIu64 " has no data",
				       e->index);
		total += frame_size(e->len);
		if (total > MAX_BATCH_BYTES)
			return fmt_err(err, errlen, WAL_EINVAL,
				       "wal: batch exceeds %llu bytes",
				       (unsigned long long)MAX_BATCH_BYTES);
	}
	rc = ensure_room(w, total, err, errlen);
	if (rc != 0)
		return rc;
	s = last_seg(w);
	if (seg_reserve(s, n) < 0 ||
	    grow_buf(&w->wbuf, &w->wbuf_cap, (size_t)total) < 0)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	hs_len = w->hs_pending ? enc_hs(w->wbuf, &w->hs) : 0;
	pos = hs_len;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		/* Offsets are < 2^32: ensure_room bounded end + total. */
		s->offs[s->n + i] = (uint32_t)(s->end + pos);
		pos += frame_encode(w->wbuf + pos, e->type, e->term, e->index,
				    e->data, e->len);
	}
	rc = write_records(w, w->wbuf, pos, err, errlen);
	if (rc != 0)
		return rc;
	if (s->n == 0)
		s->lo = w->last + 1;
	s->n += n;
	w->last += n;
	w->hs_pending = 0;
	return 0;
}

int wal_set_hard_state(struct wal *w, const struct wal_hard_state *hs,
		       char *err, size_t errlen)
{
	int rc = check_usable(w, err, errlen);

	if (rc != 0)
		return rc;
	if (hs == NULL)
		return fmt_err(err, errlen, WAL_EINVAL, "wal: no hard state");
	/* Written with the next append, truncation or sync: several updates
	 * in one loop turn cost one record. */
	w->hs = *hs;
	w->hs_pending = 1;
	return 0;
}

int wal_truncate_after(struct wal *w, raft_index index, char *err,
		       size_t errlen)
{
	uint8_t rec[HS_SIZE + CTL_SIZE];
	size_t len = 0;
	int rc;

	rc = check_usable(w, err, errlen);
	if (rc != 0)
		return rc;
	if (index >= w->last)
		return 0;
	if (index + 1 < w->first)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: truncate after %" PRIu64
			       ", below the first index %" PRIu64,
			       index, w->first);
	rc = ensure_room(w, sizeof(rec), err, errlen);
	if (rc != 0)
		return rc;
	if (w->hs_pending)
		len += enc_hs(rec, &w->hs);
	len += enc_ctl(rec + len, CTL_TRUNCATE, index + 1, last_seg(w)->seq);
	rc = write_records(w, rec, len, err, errlen);
	if (rc != 0)
		return rc;
	w->hs_pending = 0;
	mem_truncate(w, index);
	return 0;
}

int wal_sync(struct wal *w, char *err, size_t errlen)
{
	char name[SEG_NAME_MAX];
	uint8_t rec[HS_SIZE];
	int rc;

	rc = check_usable(w, err, errlen);
	if (rc != 0)
		return rc;
	if (w->hs_pending) {
		rc = ensure_room(w, HS_SIZE, err, errlen);
		if (rc != 0)
			return rc;
		/* roll() may have written it into the new segment. */
		if (w->hs_pending) {
			rc = write_records(w, rec, enc_hs(rec, &w->hs), err,
					   errlen);
			if (rc != 0)
				return rc;
			w->hs_pending = 0;
		}
	}
	if (!w->dirty)
		return 0;
	if (fdatasync(w->fd) < 0) {
		seg_name(name, last_seg(w)->seq);
		w->failed = 1;
		return sys_err(w, err, errlen, errno, "fdatasync", name);
	}
	w->dirty = 0;
	return 0;
}

/* Returns the fd to read segment @s from (the cached one for older ones). */
static int read_fd(struct wal *w, const struct wal_seg *s, char *err,
		   size_t errlen)
{
	char name[SEG_NAME_MAX];

	if (s == last_seg(w))
		return w->fd;
	if (w->rfd >= 0 && w->rfd_seq == s->seq)
		return w->rfd;
	if (w->rfd >= 0)
		close(w->rfd);
	seg_name(name, s->seq);
	w->rfd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (w->rfd < 0)
		return sys_err(w, err, errlen, errno, "open", name);
	w->rfd_seq = s->seq;
	return w->rfd;
}

/* Fills the read buffer with up to @want bytes of segment @s from @off. */
static int fill(struct wal *w, const struct wal_seg *s, uint64_t off,
		size_t want, char *err, size_t errlen)
{
	char name[SEG_NAME_MAX];
	size_t got = 0;
	int fd;

	if (grow_buf(&w->rbuf, &w->rbuf_cap, want) < 0)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	fd = read_fd(w, s, err, errlen);
	if (fd < 0)
		return fd;
	w->rbuf_len = 0;
	while (got < want) {
		ssize_t r =
		    pread(fd, w->rbuf + got, want - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			seg_name(name, s->seq);
			return sys_err(w, err, errlen, errno, "read", name);
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	w->rbuf_seq = s->seq;
	w->rbuf_off = off;
	w->rbuf_len = got;
	return 0;
}

/* Reads and verifies entry @index at @off in segment @s into @out. */
static int read_entry(struct wal *w, const struct wal_seg *s, raft_index index,
		      uint64_t off, struct raft_entry *out, char *err,
		      size_t errlen)
{
	char name[SEG_NAME_MAX];
	struct frame f;
	size_t used, avail, want = READ_CHUNK;
	const uint8_t *p;
	uint32_t flen;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (w->rbuf_len == 0 || w->rbuf_seq != s->seq ||
		    off < w->rbuf_off || off >= w->rbuf_off + w->rbuf_len ||
		    attempt > 0) {
			rc = fill(w, s, off, want, err, errlen);
			if (rc != 0)
				return rc;
		}
		p = w->rbuf + (off - w->rbuf_off);
		avail = w->rbuf_len - (size_t)(off - w->rbuf_off);
		rc = frame_decode(p, avail, w->opts.max_entry_bytes, &f, &used);
		if (rc != FRAME_ETRUNCATED)
			break;
		/* The frame goes past the buffer: read it whole from its
		 * start. A length is only trusted once its header checksum
		 * passed, which ETRUNCATED with a whole header implies. */
		want = READ_CHUNK;
		if (frame_header_intact(p, avail, &flen) &&
		    frame_size(flen) > want)
			want = frame_size(flen);
	}
	seg_name(name, s->seq);
	if (rc != FRAME_OK)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset %" PRIu64 ": entry %" PRIu64
			       " unreadable: %s",
			       w->dir, name, off, index, frame_strerror(rc));
	if (f.index != index || f.type < RAFT_ENTRY_NORMAL ||
	    f.type > RAFT_ENTRY_CONFIG)
		return fmt_err(
		    err, errlen, WAL_ECORRUPT,
		    "wal: %s/%s offset %" PRIu64 ": expected entry %" PRIu64
		    ", found type %u index %" PRIu64,
		    w->dir, name, off, index, (unsigned)f.type, f.index);
	out->term = f.term;
	out->index = f.index;
	out->type = f.type;
	out->len = f.len;
	out->data = NULL;
	if (f.len > 0) {
		out->data = malloc(f.len);
		if (out->data == NULL)
			return fmt_err(err, errlen, WAL_ENOMEM,
				       "wal: out of memory");
		memcpy(out->data, f.payload, f.len);
	}
	return 0;
}

int wal_read(struct wal *w, raft_index lo, raft_index hi,
	     struct raft_entry **out, size_t *n, char *err, size_t errlen)
{
	struct raft_entry *ents;
	uint64_t count;
	size_t si = 0, got = 0;
	int rc = 0;

	if (out == NULL || n == NULL)
		return fmt_err(err, errlen, WAL_EINVAL, "wal: no output");
	*out = NULL;
	*n = 0;
	if (lo > hi || lo < w->first || hi > w->last)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: read [%" PRIu64 ", %" PRIu64
			       "] outside the log [%" PRIu64 ", %" PRIu64 "]",
			       lo, hi, w->first, w->last);
	count = hi - lo + 1;
	if (count > SIZE_MAX / sizeof(*ents))
		return fmt_err(err, errlen, WAL_EINVAL, "wal: read too large");
	ents = calloc((size_t)count, sizeof(*ents));
	if (ents == NULL)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	/* Find the segment holding @lo; live ranges are ordered. */
	while (si < w->nsegs &&
	       (w->segs[si].n == 0 || w->segs[si].lo + w->segs[si].n - 1 < lo))
		si++;
	for (raft_index i = lo; got < count; i++) {
		const struct wal_seg *s;
		while (si < w->nsegs &&
		       (w->segs[si].n == 0 ||
			w->segs[si].lo + w->segs[si].n - 1 < i))
			si++;
		if (si == w->nsegs || w->segs[si].lo > i) {
			rc = fmt_err(err, errlen, WAL_ECORRUPT,
				     "wal: entry %" PRIu64 " missing in memory",
				     i);
			goto fail;
		}
		s = &w->segs[si];
		rc = read_entry(w, s, i, s->offs[i - s->lo], &ents[got], err,
				errlen);
		if (rc != 0)
			goto fail;
		got++;
	}
	if (w->rbuf_cap > 4 * READ_CHUNK) {
		free(w->rbuf);
		w->rbuf = NULL;
		w->rbuf_cap = w->rbuf_len = 0;
	}
	*out = ents;
	*n = got;
	return 0;
fail:
	wal_free_entries(ents, got);
	return rc;
}

void wal_free_entries(struct raft_entry *entries, size_t n)
{
	if (entries == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(entries[i].data);
	free(entries);
}

/* Recomputes the first index after segments were removed. */
static void recompute_first(struct wal *w)
{
	for (size_t i = 0; i < w->nsegs; i++) {
		if (w->segs[i].n > 0) {
			w->first = w->segs[i].lo;
			return;
		}
	}
	w->first = w->last + 1;
}

int wal_compact(struct wal *w, raft_index index, char *err, size_t errlen)
{
	char name[SEG_NAME_MAX];
	size_t k = 0;
	int rc, drc;

	rc = check_usable(w, err, errlen);
	if (rc != 0)
		return rc;
	/* Oldest first, so a crash leaves a suffix of the segments; never the
	 * last one, which is being written. */
	while (k + 1 < w->nsegs) {
		struct wal_seg *s = &w->segs[k];
		if (s->n > 0 && s->lo + s->n - 1 >= index)
			break;
		seg_name(name, s->seq);
		if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
			rc = sys_err(w, err, errlen, errno, "delete", name);
			break;
		}
		if (w->rfd >= 0 && w->rfd_seq == s->seq) {
			close(w->rfd);
			w->rfd = -1;
		}
		if (w->rbuf_seq == s->seq)
			rbuf_invalidate(w);
		seg_free(s);
		k++;
	}
	if (k > 0) {
		memmove(w->segs, w->segs + k,
			(w->nsegs - k) * sizeof(*w->segs));
		w->nsegs -= k;
		recompute_first(w);
		/* Even after a failed delete, make the ones done durable; the
		 * first error is the one reported. */
		drc = fsync_dir(w, rc == 0 ? err : NULL, errlen);
		if (rc == 0)
			rc = drc;
	}
	return rc;
}

int wal_reset(struct wal *w, raft_index index, char *err, size_t errlen)
{
	char name[SEG_NAME_MAX];
	struct wal_seg s;
	int fd, rc;

	rc = check_usable(w, err, errlen);
	if (rc != 0)
		return rc;
	if (index == UINT64_MAX)
		return fmt_err(err, errlen, WAL_EINVAL, "wal: bad reset index");
	if (last_seg(w)->seq == UINT64_MAX)
		return fmt_err(err, errlen, WAL_EINVAL,
			       "wal: segment sequence exhausted");
	/* Once the RESET segment is durable, recovery ignores every older
	 * segment, so deleting them afterwards needs no care for order. */
	rc = seg_create(w, last_seg(w)->seq + 1, CTL_RESET, index + 1, &fd, &s,
			err, errlen);
	if (rc != 0)
		return rc;
	if (w->rfd >= 0) {
		close(w->rfd);
		w->rfd = -1;
	}
	close(w->fd);
	w->fd = fd;
	w->dirty = 0;
	rbuf_invalidate(w);
	for (size_t i = 0; i < w->nsegs; i++) {
		seg_name(name, w->segs[i].seq);
		if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT)
			wal_log(w,
				"wal: could not delete %s/%s: %s (removed "
				"at the next open)",
				w->dir, name, strerror(errno));
		seg_free(&w->segs[i]);
	}
	w->segs[0] = s;
	w->nsegs = 1;
	w->first = index + 1;
	w->last = index;
	if (fsync(w->dirfd) < 0)
		wal_log(w, "wal: fsync directory %s: %s", w->dir,
			strerror(errno));
	return 0;
}

raft_index wal_first_index(const struct wal *w)
{
	return w->first;
}

raft_index wal_last_index(const struct wal *w)
{
	return w->last;
}

void wal_hard_state(const struct wal *w, struct wal_hard_state *out)
{
	*out = w->hs;
}

const char *wal_strerror(int err)
{
	switch (err) {
	case WAL_OK:
		return "ok";
	case WAL_EIO:
		return "I/O error";
	case WAL_ECORRUPT:
		return "write-ahead log corrupt";
	case WAL_ENOMEM:
		return "out of memory";
	case WAL_EINVAL:
		return "invalid argument";
	case WAL_ENOSPC:
		return "no space left on device";
	default:
		return "unknown wal error";
	}
}

void wal_close(struct wal *w)
{
	uint8_t rec[HS_SIZE];

	if (w == NULL)
		return;
	/* Like entries, a recorded hard state reaches the file (not the
	 * disk) before close; best effort, as close reports nothing. */
	if (w->hs_pending && !w->failed && w->nsegs > 0 &&
	    ensure_room(w, HS_SIZE, NULL, 0) == 0 && w->hs_pending)
		write_records(w, rec, enc_hs(rec, &w->hs), NULL, 0);
	for (size_t i = 0; i < w->nsegs; i++)
		seg_free(&w->segs[i]);
	free(w->segs);
	if (w->fd >= 0)
		close(w->fd);
	if (w->rfd >= 0)
		close(w->rfd);
	if (w->dirfd >= 0)
		close(w->dirfd); /* also releases the flock */
	free(w->wbuf);
	free(w->rbuf);
	free(w->dir);
	free(w);
}

/* ------------------------------------------------------------------------
 * Recovery
 */

/* A segment file being scanned. */
struct scan {
	char name[SEG_NAME_MAX];
	int fd;
	const uint8_t *p;
	uint64_t size;
};

static int scan_open(struct wal *w, uint64_t seq, int rw, struct scan *sc,
		     char *err, size_t errlen)
{
	struct stat st;
	void *m;

	seg_name(sc->name, seq);
	sc->p = NULL;
	sc->size = 0;
	sc->fd =
	    openat(w->dirfd, sc->name, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (sc->fd < 0)
		return sys_err(w, err, errlen, errno, "open", sc->name);
	if (fstat(sc->fd, &st) < 0)
		return sys_err(w, err, errlen, errno, "stat", sc->name);
	if (st.st_size < CTL_SIZE || (uint64_t)st.st_size > UINT32_MAX)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s: bad segment size %lld", w->dir,
			       sc->name, (long long)st.st_size);
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, sc->fd, 0);
	if (m == MAP_FAILED)
		return sys_err(w, err, errlen, errno, "map", sc->name);
	sc->p = m;
	sc->size = (uint64_t)st.st_size;
	return 0;
}

static void scan_close(struct scan *sc)
{
	if (sc->p != NULL)
		munmap((void *)sc->p, (size_t)sc->size);
	if (sc->fd >= 0)
		close(sc->fd);
	sc->p = NULL;
	sc->fd = -1;
}

/* Checks the control record at the start of a segment; on success sets
 * *@kind and *@next. */
static int check_header(struct wal *w, const struct scan *sc, uint64_t seq,
			uint32_t *kind, raft_index *next, char *err,
			size_t errlen)
{
	struct frame f;
	size_t used;
	int rc;

	rc = frame_decode(sc->p, (size_t)sc->size, w->opts.max_entry_bytes, &f,
			  &used);
	if (rc != FRAME_OK)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset 0: bad segment header: %s",
			       w->dir, sc->name, frame_strerror(rc));
	if (f.type != FRAME_SEGMENT || f.len != CTL_PAYLOAD)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset 0: not a segment header",
			       w->dir, sc->name);
	if (le_get_u32(f.payload) != WAL_FORMAT_VERSION)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset 0: unsupported wal version "
			       "%" PRIu32,
			       w->dir, sc->name, le_get_u32(f.payload));
	*kind = le_get_u32(f.payload + 4);
	*next = f.index;
	if ((*kind != CTL_START && *kind != CTL_RESET) ||
	    le_get_u64(f.payload + 8) != seq || f.index == 0)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset 0: segment header does not "
			       "match the file",
			       w->dir, sc->name);
	return 0;
}

/* Offset just past the last nonzero byte in [from, size). */
static uint64_t nonzero_end(const uint8_t *p, uint64_t from, uint64_t size)
{
	uint64_t e = size;

	while (e > from && (e & 7))
		if (p[--e] != 0)
			return e + 1;
	while (e >= from + 8) {
		uint64_t v;
		memcpy(&v, p + e - 8, 8);
		if (v != 0)
			break;
		e -= 8;
	}
	while (e > from && p[e - 1] == 0)
		e--;
	return e;
}

/* Whether any valid frame starts in [from, to). Used to tell a torn tail
 * (garbage only) from corruption followed by more data. */
static int valid_frame_in(const struct wal *w, const uint8_t *p, uint64_t from,
			  uint64_t to, uint64_t size, uint64_t *at)
{
	struct frame f;
	size_t used;

	for (uint64_t o = from; o < to; o++) {
		if (size - o < FRAME_HEADER_SIZE)
			break;
		/* Cheap filter before the CRCs: version 1, reserved 0. */
		if (p[o + 8] != FRAME_VERSION || p[o + 10] || p[o + 11])
			continue;
		if (frame_decode(p + o, (size_t)(size - o),
				 w->opts.max_entry_bytes, &f,
				 &used) == FRAME_OK) {
			*at = o;
			return 1;
		}
	}
	return 0;
}

/* Applies one valid record found at @off of segment @si during recovery. */
static int replay(struct wal *w, size_t si, const struct scan *sc, uint64_t off,
		  const struct frame *f, char *err, size_t errlen)
{
	struct wal_seg *s = &w->segs[si];
	raft_index x;

	switch (f->type) {
	case FRAME_ENTRY_NORMAL:
	case FRAME_ENTRY_NOOP:
	case FRAME_ENTRY_CONFIG:
		if (w->last >= WAL_MAX_INDEX || f->index != w->last + 1)
			return fmt_err(
			    err, errlen, WAL_ECORRUPT,
			    "wal: %s/%s offset %" PRIu64
			    ": entry index %" PRIu64 ", expected %" PRIu64,
			    w->dir, sc->name, off, f->index, w->last + 1);
		if (seg_reserve(s, 1) < 0)
			return fmt_err(err, errlen, WAL_ENOMEM,
				       "wal: out of memory");
		if (s->n == 0)
			s->lo = f->index;
		s->offs[s->n++] = (uint32_t)off;
		w->last = f->index;
		return 0;
	case FRAME_HARD_STATE:
		if (f->len != HS_PAYLOAD)
			break;
		w->hs.term = le_get_u64(f->payload);
		w->hs.vote = le_get_u64(f->payload + 8);
		w->hs.commit = le_get_u64(f->payload + 16);
		return 0;
	case FRAME_SEGMENT:
		if (f->len != CTL_PAYLOAD ||
		    le_get_u32(f->payload) != WAL_FORMAT_VERSION ||
		    le_get_u32(f->payload + 4) != CTL_TRUNCATE ||
		    le_get_u64(f->payload + 8) != s->seq || f->index == 0)
			break;
		x = f->index - 1;
		if (x > w->last)
			return fmt_err(err, errlen, WAL_ECORRUPT,
				       "wal: %s/%s offset %" PRIu64
				       ": truncation after %" PRIu64
				       " beyond the last entry %" PRIu64,
				       w->dir, sc->name, off, x, w->last);
		/* x < first - 1 happens when a crash interrupted compaction
		 * after deleting the segments that held entries <= x: the log
		 * then restarts after x (mem_truncate lowers first). */
		mem_truncate(w, x);
		return 0;
	default:
		break;
	}
	return fmt_err(err, errlen, WAL_ECORRUPT,
		       "wal: %s/%s offset %" PRIu64
		       ": unexpected record (type %u, %" PRIu32 " bytes)",
		       w->dir, sc->name, off, (unsigned)f->type, f->len);
}

/* Zeroes [from, to) of the last segment and syncs it. */
static int zero_tail(struct wal *w, const struct scan *sc, uint64_t from,
		     uint64_t to, char *err, size_t errlen)
{
	static const uint8_t zeros[4096];

	for (uint64_t o = from; o < to;) {
		size_t k =
		    to - o < sizeof(zeros) ? (size_t)(to - o) : sizeof(zeros);
		int e = write_all(sc->fd, zeros, k, o);
		if (e != 0)
			return sys_err(w, err, errlen, e < 0 ? EIO : e, "write",
				       sc->name);
		o += k;
	}
	if (fdatasync(sc->fd) < 0)
		return sys_err(w, err, errlen, errno, "fdatasync", sc->name);
	return 0;
}

/* Verifies segment @si record by record and replays it into memory. */
static int scan_segment(struct wal *w, size_t si, int is_last, struct scan *sc,
			char *err, size_t errlen)
{
	struct wal_seg *s = &w->segs[si];
	struct frame f;
	size_t used;
	uint64_t off = CTL_SIZE, skip, nz, at;
	uint32_t flen;
	int rc;

	while (off < sc->size) {
		rc = frame_decode(sc->p + off, (size_t)(sc->size - off),
				  w->opts.max_entry_bytes, &f, &used);
		if (rc != FRAME_OK)
			goto end;
		rc = replay(w, si, sc, off, &f, err, errlen);
		if (rc != 0)
			return rc;
		off += used;
	}
	s->end = off;
	return 0;
end:
	/* A record whose header checksum holds was written whole: a bad
	 * version, type or length in it is not a torn write. */
	if ((rc == FRAME_EVERSION || rc == FRAME_ETYPE ||
	     rc == FRAME_ETOO_LARGE) &&
	    frame_header_intact(sc->p + off, (size_t)(sc->size - off), NULL))
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset %" PRIu64 ": %s", w->dir,
			       sc->name, off, frame_strerror(rc));
	nz = nonzero_end(sc->p, off, sc->size);
	if (nz <= off) {
		s->end = off; /* zeros (or EOF) only: the clean end */
		return 0;
	}
	if (!is_last)
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset %" PRIu64
			       ": bad record in a closed segment: %s",
			       w->dir, sc->name, off, frame_strerror(rc));
	/* The payload of a record with a sound header is skipped: it may
	 * legitimately contain bytes that look like a frame. */
	skip = off + 1;
	if (frame_header_intact(sc->p + off, (size_t)(sc->size - off), &flen)) {
		uint64_t fs = frame_size(flen);
		skip = off + fs < sc->size ? off + fs : sc->size;
	}
	if (valid_frame_in(w, sc->p, skip, nz, sc->size, &at))
		return fmt_err(err, errlen, WAL_ECORRUPT,
			       "wal: %s/%s offset %" PRIu64
			       ": bad record (%s) followed by a valid one at "
			       "offset %" PRIu64,
			       w->dir, sc->name, off, frame_strerror(rc), at);
	rc = zero_tail(w, sc, off, nz, err, errlen);
	if (rc != 0)
		return rc;
	wal_log(w,
		"wal: %s/%s: truncated a torn record at offset %" PRIu64
		" (%" PRIu64 " bytes)",
		w->dir, sc->name, off, nz - off);
	s->end = off;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lists segment sequence numbers (sorted) and removes leftover .tmp files
 * of segments whose creation never completed. */
static int list_segments(struct wal *w, uint64_t **seqs, size_t *n,
			 int *removed, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	uint64_t *v = NULL, seq;
	size_t cnt = 0, cap = 0;
	int fd, rc = 0;

	fd = dup(w->dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return fmt_err(err, errlen, WAL_EIO, "wal: list %s: %s", w->dir,
			       strerror(errno));
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (parse_name(de->d_name, 1, &seq)) {
			if (unlinkat(w->dirfd, de->d_name, 0) == 0) {
				wal_log(w,
					"wal: removed unfinished segment "
					"%s/%s",
					w->dir, de->d_name);
				*removed = 1;
			}
			continue;
		}
		if (!parse_name(de->d_name, 0, &seq))
			continue;
		if (cnt == cap) {
			size_t c = cap ? cap * 2 : 16;
			uint64_t *p = realloc(v, c * sizeof(*v));
			if (p == NULL) {
				rc = fmt_err(err, errlen, WAL_ENOMEM,
					     "wal: out of memory");
				goto out;
			}
			v = p;
			cap = c;
		}
		v[cnt++] = seq;
	}
	if (errno != 0)
		rc = fmt_err(err, errlen, WAL_EIO, "wal: list %s: %s", w->dir,
			     strerror(errno));
out:
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*seqs = v;
	*n = cnt;
	return 0;
}

static int recover(struct wal *w, char *err, size_t errlen)
{
	uint64_t *seqs = NULL;
	size_t nseq = 0, start = 0;
	struct scan sc = {.fd = -1};
	struct wal_seg s;
	char name[SEG_NAME_MAX];
	int removed = 0, rc;

	rc = list_segments(w, &seqs, &nseq, &removed, err, errlen);
	if (rc != 0)
		return rc;
	if (nseq == 0) {
		rc = seg_create(w, 1, CTL_START, 1, &w->fd, &s, err, errlen);
		if (rc == 0 && push_seg(w, &s) < 0)
			rc = fmt_err(err, errlen, WAL_ENOMEM,
				     "wal: out of memory");
		w->first = 1;
		w->last = 0;
		goto out;
	}
	/* Pass 1: headers. A RESET segment makes every older one obsolete
	 * (a crash came before they were deleted); they are not read. */
	for (size_t i = 0; i < nseq; i++) {
		uint32_t kind;
		raft_index next;
		rc = scan_open(w, seqs[i], 0, &sc, err, errlen);
		if (rc == 0)
			rc = check_header(w, &sc, seqs[i], &kind, &next, err,
					  errlen);
		scan_close(&sc);
		if (rc != 0)
			goto out;
		if (kind == CTL_RESET)
			start = i;
	}
	for (size_t i = start + 1; i < nseq; i++) {
		if (seqs[i] != seqs[i - 1] + 1) {
			seg_name(name, seqs[i - 1] + 1);
			rc = fmt_err(err, errlen, WAL_ECORRUPT,
				     "wal: %s/%s missing (segments must be "
				     "consecutive)",
				     w->dir, name);
			goto out;
		}
	}
	/* Pass 2: every record of every live segment. */
	for (size_t i = start; i < nseq; i++) {
		int is_last = i + 1 == nseq;
		uint32_t kind;
		raft_index next;
		rc = scan_open(w, seqs[i], is_last, &sc, err, errlen);
		if (rc == 0)
			rc = check_header(w, &sc, seqs[i], &kind, &next, err,
					  errlen);
		if (rc != 0)
			goto out;
		if (i == start) {
			w->first = next;
			w->last = next - 1;
		} else if (kind != CTL_START || next != w->last + 1) {
			rc = fmt_err(err, errlen, WAL_ECORRUPT,
				     "wal: %s/%s offset 0: segment starts at "
				     "index %" PRIu64
				     " but the log before it ends at %" PRIu64,
				     w->dir, sc.name, next, w->last);
			goto out;
		}
		memset(&s, 0, sizeof(s));
		s.seq = seqs[i];
		s.hdr_index = next;
		s.lo = next;
		/* Any segment may end before segment_bytes (it grows in
		 * steps, and only the last one is still growing): its records
		 * end at the first zero header or at the end of the file. */
		s.alloc = sc.size;
		if (push_seg(w, &s) < 0) {
			rc = fmt_err(err, errlen, WAL_ENOMEM,
				     "wal: out of memory");
			goto out;
		}
		rc = scan_segment(w, w->nsegs - 1, is_last, &sc, err, errlen);
		if (rc != 0)
			goto out;
		if (is_last) {
			w->fd = sc.fd;
			sc.fd = -1;
		}
		scan_close(&sc);
	}
	recompute_first(w);
	if (w->first > w->last + 1)
		w->first = w->last + 1;
	/* Only now that the log is known good are the obsolete ones gone. */
	for (size_t i = 0; i < start; i++) {
		seg_name(name, seqs[i]);
		if (unlinkat(w->dirfd, name, 0) < 0)
			wal_log(w, "wal: could not delete %s/%s: %s", w->dir,
				name, strerror(errno));
		else
			wal_log(w, "wal: deleted %s/%s, older than a reset",
				w->dir, name);
		removed = 1;
	}
	if (removed)
		rc = fsync_dir(w, err, errlen);
out:
	scan_close(&sc);
	free(seqs);
	return rc;
}

/* fsyncs the directory that holds directory @dir. */
static int fsync_parent(const char *dir, char *err, size_t errlen)
{
	size_t n = strlen(dir);
	char *parent;
	int fd, rc = 0;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	while (n > 0 && dir[n - 1] != '/')
		n--;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	/* n == 0: a relative name without a slash, whose parent is ".". */
	parent = n == 0 ? strdup(".") : strndup(dir, n);
	if (parent == NULL)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc =
		    fmt_err(err, errlen, WAL_EIO, "wal: fsync directory %s: %s",
			    parent, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(parent);
	return rc;
}

int wal_open(const char *dir, const struct wal_options *opts, struct wal **out,
	     char *err, size_t errlen)
{
	struct wal *w;
	int rc;

	if (dir == NULL || out == NULL)
		return fmt_err(err, errlen, WAL_EINVAL, "wal: no directory");
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
	w->fd = w->rfd = w->dirfd = -1;
	if (opts != NULL)
		w->opts = *opts;
	if (w->opts.segment_bytes == 0)
		w->opts.segment_bytes = DEFAULT_SEGMENT_BYTES;
	if (w->opts.max_entry_bytes == 0)
		w->opts.max_entry_bytes = DEFAULT_MAX_ENTRY;
	if (w->opts.segment_bytes < MIN_SEGMENT_BYTES ||
	    w->opts.segment_bytes > MAX_SEGMENT_BYTES ||
	    w->opts.max_entry_bytes > MAX_MAX_ENTRY) {
		rc = fmt_err(err, errlen, WAL_EINVAL,
			     "wal: segment_bytes must be in [%llu, %llu] and "
			     "max_entry_bytes at most %u",
			     (unsigned long long)MIN_SEGMENT_BYTES,
			     (unsigned long long)MAX_SEGMENT_BYTES,
			     MAX_MAX_ENTRY);
		goto fail;
	}
	w->dir = strdup(dir);
	if (w->dir == NULL) {
		rc = fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
		goto fail;
	}
	if (mkdir(dir, 0700) == 0) {
		/* The new directory's name must be durable before anything
		 * in it is: the first segment's rename is synced only in it.
		 */
		rc = fsync_parent(dir, err, errlen);
		if (rc != 0)
			goto fail;
	} else if (errno != EEXIST) {
		rc = fmt_err(err, errlen, WAL_EIO,
			     "wal: create directory %s: %s", dir,
			     strerror(errno));
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = fmt_err(err, errlen, WAL_EIO, "wal: open directory %s: %s",
			     dir, strerror(errno));
		goto fail;
	}
	/* Two processes appending to one log would corrupt it. */
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
		rc = fmt_err(err, errlen, WAL_EIO, "wal: lock directory %s: %s",
			     dir,
			     errno == EWOULDBLOCK ? "in use by another process"
						  : strerror(errno));
		goto fail;
	}
	rc = recover(w, err, errlen);
	if (rc != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	wal_close(w);
	return rc;
}
