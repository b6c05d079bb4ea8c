/* wal.c - the segmented write-ahead log: open, append, group commit, reads,
 * compaction (recovery of what is on disk: wal_recover.c). */
#include "wal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "frame.h"
#include "wal_internal.h"

int wal__fmt_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void wal__log(const struct wal *w, const char *fmt, ...)
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
int wal__sys_err(const struct wal *w, char *err, size_t errlen, int e,
		 const char *what, const char *name)
{
	/* EFBIG (a file size limit) is out of space as far as the log goes. */
	int code =
	    (e == ENOSPC || e == EDQUOT || e == EFBIG) ? WAL_ENOSPC : WAL_EIO;

	return wal__fmt_err(err, errlen, code, "wal: %s %s/%s: %s", what,
			    w->dir, name, strerror(e));
}

void wal__seg_name(char out[SEG_NAME_MAX], uint64_t seq)
{
	snprintf(out, SEG_NAME_MAX, "wal-%016" PRIx64 ".log", seq);
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
int wal__write_all(int fd, const void *buf, size_t len, uint64_t off)
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

int wal__seg_reserve(struct wal_seg *s, uint64_t more)
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

int wal__push_seg(struct wal *w, const struct wal_seg *s)
{
	if (reserve_seg(w) < 0)
		return -1;
	w->segs[w->nsegs++] = *s;
	return 0;
}

/* Drops the entries after @index from the in-memory index (the records stay
 * in the files; a truncation record says they are gone). */
void wal__mem_truncate(struct wal *w, raft_index index)
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
	/* The term of entry @index is not kept in memory. */
	w->last_term = 0;
	if (w->first > index + 1)
		w->first = index + 1;
}

void wal__assert_index(const struct wal *w)
{
	raft_index next = w->first;

	assert(w->nsegs > 0);
	assert(w->first >= 1 && w->first <= w->last + 1);
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct wal_seg *s = &w->segs[i];

		assert(i == 0 || s->seq > w->segs[i - 1].seq);
		assert(s->n <= s->cap);
		if (s->n == 0)
			continue;
		assert(s->lo == next);
		assert(s->offs[s->n - 1] < s->end);
		next = s->lo + s->n;
	}
	assert(next == w->last + 1);
	(void)next; /* unused when assertions are off */
}

static void rbuf_invalidate(struct wal *w)
{
	w->rbuf_len = 0;
}

int wal__fsync_dir(struct wal *w, char *err, size_t errlen)
{
	if (fsync(w->dirfd) < 0)
		return wal__fmt_err(err, errlen, WAL_EIO,
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
int wal__seg_create(struct wal *w, uint64_t seq, uint32_t kind, raft_index next,
		    int *fd_out, struct wal_seg *s, char *err, size_t errlen)
{
	char name[SEG_NAME_MAX], tmp[SEG_NAME_MAX + 4];
	uint8_t rec[CTL_SIZE + HS_SIZE];
	size_t len;
	int fd, e, rc;

	wal__seg_name(name, seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return wal__sys_err(w, err, errlen, errno, "create", tmp);
	e = posix_fallocate(fd, 0, (off_t)prealloc_step(w));
	if (e != 0) {
		rc = wal__sys_err(w, err, errlen, e, "preallocate", tmp);
		goto fail;
	}
	len = enc_ctl(rec, kind, next, seq);
	len += enc_hs(rec + len, &w->hs);
	e = wal__write_all(fd, rec, len, 0);
	if (e != 0) {
		rc =
		    wal__sys_err(w, err, errlen, e < 0 ? EIO : e, "write", tmp);
		goto fail;
	}
	if (fdatasync(fd) < 0) {
		rc = wal__sys_err(w, err, errlen, errno, "fdatasync", tmp);
		goto fail;
	}
	if (renameat(w->dirfd, tmp, w->dirfd, name) < 0) {
		rc = wal__sys_err(w, err, errlen, errno, "rename", tmp);
		goto fail;
	}
	rc = wal__fsync_dir(w, err, errlen);
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
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: segment sequence exhausted");
	if (fdatasync(w->fd) < 0) {
		wal__seg_name(name, cur->seq);
		w->failed = 1;
		return wal__sys_err(w, err, errlen, errno, "fdatasync", name);
	}
	w->dirty = 0;
	if (reserve_seg(w) < 0)
		return wal__fmt_err(err, errlen, WAL_ENOMEM,
				    "wal: out of memory");
	cur = NULL; /* reserve_seg may have moved the array */
	rc = wal__seg_create(w, last_seg(w)->seq + 1, CTL_START, w->last + 1,
			     &fd, &s, err, errlen);
	if (rc != 0)
		return rc;
	wal__push_seg(w, &s); /* cannot fail: reserved */
	close(w->fd);
	w->fd = fd;
	rbuf_invalidate(w);
	return 0;
}

static int check_usable(const struct wal *w, char *err, size_t errlen)
{
	if (w->failed)
		return wal__fmt_err(
		    err, errlen, WAL_EIO,
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
		wal__seg_name(name, s->seq);
		return wal__sys_err(w, err, errlen, e, "preallocate", name);
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
		return wal__fmt_err(err, errlen, WAL_EINVAL,
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
	e = wal__write_all(w->fd, buf, len, s->end);
	if (e != 0) {
		wal__seg_name(name, s->seq);
		if (e < 0) {
			w->failed = 1;
			e = EIO;
		}
		return wal__sys_err(w, err, errlen, e, "write", name);
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
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: bad batch of %zu entries", n);
	if (w->last > WAL_MAX_INDEX - n) /* n >= 1 here */
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: index space exhausted");
	total = w->hs_pending ? HS_SIZE : 0;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		if (e->index != w->last + 1 + i)
			return wal__fmt_err(err, errlen, WAL_EINVAL,
					    "wal: append of index %" PRIu64
					    ", expected %" PRIu64,
					    e->index, w->last + 1 + i);
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
			return wal__fmt_err(err, errlen, WAL_EINVAL,
					    "wal: entry %" PRIu64
					    " has type %u",
					    e->index, (unsigned)e->type);
		if (e->len > w->opts.max_entry_bytes)
			return wal__fmt_err(
			    err, errlen, WAL_EINVAL,
			    "wal: entry %" PRIu64 " of %" PRIu32
			    " bytes exceeds the limit of %" PRIu32,
			    e->index, e->len, w->opts.max_entry_bytes);
		if (e->len > 0 && e->data == NULL)
			return wal__fmt_err(
			    err, errlen, WAL_EINVAL,
			    "wal: entry %" PRIu64 " has no data", e->index);
		total += frame_size(e->len);
		if (total > MAX_BATCH_BYTES)
			return wal__fmt_err(
			    err, errlen, WAL_EINVAL,
			    "wal: batch exceeds %llu bytes",
			    (unsigned long long)MAX_BATCH_BYTES);
	}
	rc = ensure_room(w, total, err, errlen);
	if (rc != 0)
		return rc;
	s = last_seg(w);
	if (wal__seg_reserve(s, n) < 0 ||
	    grow_buf(&w->wbuf, &w->wbuf_cap, (size_t)total) < 0)
		return wal__fmt_err(err, errlen, WAL_ENOMEM,
				    "wal: out of memory");
	hs_len = w->hs_pending ? enc_hs(w->wbuf, &w->hs) : 0;
	pos = hs_len;
	for (size_t i = 0; i < n; i++) {
		const struct raft_entry *e = &entries[i];
		/* Paired with recovery's checks of the records it reads back
		 * (replay() in wal_recover.c): each index follows the one
		 * before it, and terms never go down (a leader appends
		 * entries of its own term after those it holds, Raft §5.3;
		 * a lower term comes only after a truncation). */
		assert(e->index == w->last + 1 + i);
		assert(e->term >=
		       (i == 0 ? w->last_term : entries[i - 1].term));
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
	w->last_term = entries[n - 1].term;
	w->hs_pending = 0;
	assert(s->lo + s->n - 1 == w->last);
	return 0;
}

int wal_set_hard_state(struct wal *w, const struct wal_hard_state *hs,
		       char *err, size_t errlen)
{
	int rc = check_usable(w, err, errlen);

	if (rc != 0)
		return rc;
	if (hs == NULL)
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: no hard state");
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
		return wal__fmt_err(err, errlen, WAL_EINVAL,
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
	wal__mem_truncate(w, index);
	wal__assert_index(w);
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
		wal__seg_name(name, last_seg(w)->seq);
		w->failed = 1;
		return wal__sys_err(w, err, errlen, errno, "fdatasync", name);
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
	wal__seg_name(name, s->seq);
	w->rfd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (w->rfd < 0)
		return wal__sys_err(w, err, errlen, errno, "open", name);
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
		return wal__fmt_err(err, errlen, WAL_ENOMEM,
				    "wal: out of memory");
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
			wal__seg_name(name, s->seq);
			return wal__sys_err(w, err, errlen, errno, "read",
					    name);
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
	wal__seg_name(name, s->seq);
	if (rc != FRAME_OK)
		return wal__fmt_err(err, errlen, WAL_ECORRUPT,
				    "wal: %s/%s offset %" PRIu64
				    ": entry %" PRIu64 " unreadable: %s",
				    w->dir, name, off, index,
				    frame_strerror(rc));
	if (f.index != index || f.type < RAFT_ENTRY_NORMAL ||
	    f.type > RAFT_ENTRY_CONFIG)
		return wal__fmt_err(
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
			return wal__fmt_err(err, errlen, WAL_ENOMEM,
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
		return wal__fmt_err(err, errlen, WAL_EINVAL, "wal: no output");
	*out = NULL;
	*n = 0;
	if (lo > hi || lo < w->first || hi > w->last)
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: read [%" PRIu64 ", %" PRIu64
				    "] outside the log [%" PRIu64 ", %" PRIu64
				    "]",
				    lo, hi, w->first, w->last);
	count = hi - lo + 1;
	if (count > SIZE_MAX / sizeof(*ents))
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: read too large");
	ents = calloc((size_t)count, sizeof(*ents));
	if (ents == NULL)
		return wal__fmt_err(err, errlen, WAL_ENOMEM,
				    "wal: out of memory");
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
			rc = wal__fmt_err(
			    err, errlen, WAL_ECORRUPT,
			    "wal: entry %" PRIu64 " missing in memory", i);
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
void wal__recompute_first(struct wal *w)
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
		wal__seg_name(name, s->seq);
		if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
			rc =
			    wal__sys_err(w, err, errlen, errno, "delete", name);
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
		wal__recompute_first(w);
		wal__assert_index(w);
		/* Even after a failed delete, make the ones done durable; the
		 * first error is the one reported. */
		drc = wal__fsync_dir(w, rc == 0 ? err : NULL, errlen);
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
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: bad reset index");
	if (last_seg(w)->seq == UINT64_MAX)
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: segment sequence exhausted");
	/* Once the RESET segment is durable, recovery ignores every older
	 * segment, so deleting them afterwards needs no care for order. */
	rc = wal__seg_create(w, last_seg(w)->seq + 1, CTL_RESET, index + 1, &fd,
			     &s, err, errlen);
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
		wal__seg_name(name, w->segs[i].seq);
		if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT)
			wal__log(w,
				 "wal: could not delete %s/%s: %s (removed "
				 "at the next open)",
				 w->dir, name, strerror(errno));
		seg_free(&w->segs[i]);
	}
	w->segs[0] = s;
	w->nsegs = 1;
	w->first = index + 1;
	w->last = index;
	w->last_term = 0;
	wal__assert_index(w);
	if (fsync(w->dirfd) < 0)
		wal__log(w, "wal: fsync directory %s: %s", w->dir,
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

int wal_open(const char *dir, const struct wal_options *opts, struct wal **out,
	     char *err, size_t errlen)
{
	struct wal *w;
	int rc;

	if (dir == NULL || out == NULL)
		return wal__fmt_err(err, errlen, WAL_EINVAL,
				    "wal: no directory");
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return wal__fmt_err(err, errlen, WAL_ENOMEM,
				    "wal: out of memory");
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
		rc = wal__fmt_err(
		    err, errlen, WAL_EINVAL,
		    "wal: segment_bytes must be in [%llu, %llu] and "
		    "max_entry_bytes at most %u",
		    (unsigned long long)MIN_SEGMENT_BYTES,
		    (unsigned long long)MAX_SEGMENT_BYTES, MAX_MAX_ENTRY);
		goto fail;
	}
	w->dir = strdup(dir);
	if (w->dir == NULL) {
		rc =
		    wal__fmt_err(err, errlen, WAL_ENOMEM, "wal: out of memory");
		goto fail;
	}
	if (mkdir(dir, 0700) == 0) {
		/* The new directory's name must be durable before anything
		 * in it is: the first segment's rename is synced only in it.
		 */
		if (durable_sync_parent(dir) != 0) {
			rc = wal__fmt_err(
			    err, errlen, errno == ENOMEM ? WAL_ENOMEM : WAL_EIO,
			    "wal: fsync the directory holding %s: %s", dir,
			    strerror(errno));
			goto fail;
		}
	} else if (errno != EEXIST) {
		rc = wal__fmt_err(err, errlen, WAL_EIO,
				  "wal: create directory %s: %s", dir,
				  strerror(errno));
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = wal__fmt_err(err, errlen, WAL_EIO,
				  "wal: open directory %s: %s", dir,
				  strerror(errno));
		goto fail;
	}
	/* Two processes appending to one log would corrupt it. */
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
		rc = wal__fmt_err(
		    err, errlen, WAL_EIO, "wal: lock directory %s: %s", dir,
		    errno == EWOULDBLOCK ? "in use by another process"
					 : strerror(errno));
		goto fail;
	}
	rc = wal__recover(w, err, errlen);
	if (rc != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	wal_close(w);
	return rc;
}
