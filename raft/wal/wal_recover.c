/* wal_recover.c - the WAL's recovery: listing and verifying segments,
 * replaying their records into the in-memory index, telling a torn tail
 * (truncated away) from corruption (refused). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "hexname.h"
#include "wal.h"
#include "wal_internal.h"

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

	wal__seg_name(sc->name, seq);
	sc->p = NULL;
	sc->size = 0;
	sc->fd =
	    openat(w->dirfd, sc->name, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (sc->fd < 0)
		return wal__sys_err(w, err, errlen, errno, "open", sc->name);
	if (fstat(sc->fd, &st) < 0)
		return wal__sys_err(w, err, errlen, errno, "stat", sc->name);
	if (st.st_size < CTL_SIZE || (uint64_t)st.st_size > UINT32_MAX)
		return wal__fmt_err(err, errlen, WAL_ECORRUPT,
				    "wal: %s/%s: bad segment size %lld", w->dir,
				    sc->name, (long long)st.st_size);
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, sc->fd, 0);
	if (m == MAP_FAILED)
		return wal__sys_err(w, err, errlen, errno, "map", sc->name);
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
		return wal__fmt_err(
		    err, errlen, WAL_ECORRUPT,
		    "wal: %s/%s offset 0: bad segment header: %s", w->dir,
		    sc->name, frame_strerror(rc));
	if (f.type != FRAME_SEGMENT || f.len != CTL_PAYLOAD)
		return wal__fmt_err(err, errlen, WAL_ECORRUPT,
				    "wal: %s/%s offset 0: not a segment header",
				    w->dir, sc->name);
	if (le_get_u32(f.payload) != WAL_FORMAT_VERSION)
		return wal__fmt_err(
		    err, errlen, WAL_ECORRUPT,
		    "wal: %s/%s offset 0: unsupported wal version "
		    "%" PRIu32,
		    w->dir, sc->name, le_get_u32(f.payload));
	*kind = le_get_u32(f.payload + 4);
	*next = f.index;
	if ((*kind != CTL_START && *kind != CTL_RESET) ||
	    le_get_u64(f.payload + 8) != seq || f.index == 0)
		return wal__fmt_err(
		    err, errlen, WAL_ECORRUPT,
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
			return wal__fmt_err(
			    err, errlen, WAL_ECORRUPT,
			    "wal: %s/%s offset %" PRIu64
			    ": entry index %" PRIu64 ", expected %" PRIu64,
			    w->dir, sc->name, off, f->index, w->last + 1);
		/* The checks wal_append() asserts when it writes, made on
		 * what is read back: the index above, and terms that never
		 * go down (Raft §5.3) since the log started or was last
		 * truncated (a truncation forgets the term, as on the write
		 * side). A file that says otherwise was not written by a
		 * correct log: refused, never asserted, as it is input. */
		if (f->term < w->last_term)
			return wal__fmt_err(
			    err, errlen, WAL_ECORRUPT,
			    "wal: %s/%s offset %" PRIu64 ": entry %" PRIu64
			    " of term %" PRIu64
			    " follows an entry of term %" PRIu64,
			    w->dir, sc->name, off, f->index, f->term,
			    w->last_term);
		if (wal__seg_reserve(s, 1) < 0)
			return wal__fmt_err(err, errlen, WAL_ENOMEM,
					    "wal: out of memory");
		if (s->n == 0)
			s->lo = f->index;
		assert(s->n == 0 || off > s->offs[s->n - 1]);
		s->offs[s->n++] = (uint32_t)off;
		w->last = f->index;
		w->last_term = f->term;
		assert(s->lo + s->n - 1 == w->last);
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
			return wal__fmt_err(err, errlen, WAL_ECORRUPT,
					    "wal: %s/%s offset %" PRIu64
					    ": truncation after %" PRIu64
					    " beyond the last entry %" PRIu64,
					    w->dir, sc->name, off, x, w->last);
		/* x < first - 1 happens when a crash interrupted compaction
		 * after deleting the segments that held entries <= x: the log
		 * then restarts after x (wal__mem_truncate lowers first). */
		wal__mem_truncate(w, x);
		return 0;
	default:
		break;
	}
	return wal__fmt_err(err, errlen, WAL_ECORRUPT,
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
		int e = wal__write_all(sc->fd, zeros, k, o);
		if (e != 0)
			return wal__sys_err(w, err, errlen, e < 0 ? EIO : e,
					    "write", sc->name);
		o += k;
	}
	if (fdatasync(sc->fd) < 0)
		return wal__sys_err(w, err, errlen, errno, "fdatasync",
				    sc->name);
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
		return wal__fmt_err(err, errlen, WAL_ECORRUPT,
				    "wal: %s/%s offset %" PRIu64 ": %s", w->dir,
				    sc->name, off, frame_strerror(rc));
	nz = nonzero_end(sc->p, off, sc->size);
	if (nz <= off) {
		s->end = off; /* zeros (or EOF) only: the clean end */
		return 0;
	}
	if (!is_last)
		return wal__fmt_err(err, errlen, WAL_ECORRUPT,
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
		return wal__fmt_err(
		    err, errlen, WAL_ECORRUPT,
		    "wal: %s/%s offset %" PRIu64
		    ": bad record (%s) followed by a valid one at "
		    "offset %" PRIu64,
		    w->dir, sc->name, off, frame_strerror(rc), at);
	rc = zero_tail(w, sc, off, nz, err, errlen);
	if (rc != 0)
		return rc;
	wal__log(w,
		 "wal: %s/%s: truncated a torn record at offset %" PRIu64
		 " (%" PRIu64 " bytes)",
		 w->dir, sc->name, off, nz - off);
	s->end = off;
	return 0;
}

/* Parses "wal-<16 hex>.log" (and with @tmp, the ".log.tmp" variant). */
static int parse_name(const char *name, int tmp, uint64_t *seq)
{
	return hexname_parse(name, "wal-", tmp ? ".log.tmp" : ".log", seq);
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
		return wal__fmt_err(err, errlen, WAL_EIO, "wal: list %s: %s",
				    w->dir, strerror(errno));
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (parse_name(de->d_name, 1, &seq)) {
			if (unlinkat(w->dirfd, de->d_name, 0) == 0) {
				wal__log(w,
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
				rc = wal__fmt_err(err, errlen, WAL_ENOMEM,
						  "wal: out of memory");
				goto out;
			}
			v = p;
			cap = c;
		}
		v[cnt++] = seq;
	}
	if (errno != 0)
		rc = wal__fmt_err(err, errlen, WAL_EIO, "wal: list %s: %s",
				  w->dir, strerror(errno));
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

int wal__recover(struct wal *w, char *err, size_t errlen)
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
		rc = wal__seg_create(w, 1, CTL_START, 1, &w->fd, &s, err,
				     errlen);
		if (rc == 0 && wal__push_seg(w, &s) < 0)
			rc = wal__fmt_err(err, errlen, WAL_ENOMEM,
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
			wal__seg_name(name, seqs[i - 1] + 1);
			rc =
			    wal__fmt_err(err, errlen, WAL_ECORRUPT,
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
			rc = wal__fmt_err(
			    err, errlen, WAL_ECORRUPT,
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
		if (wal__push_seg(w, &s) < 0) {
			rc = wal__fmt_err(err, errlen, WAL_ENOMEM,
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
	wal__recompute_first(w);
	if (w->first > w->last + 1)
		w->first = w->last + 1;
	/* last_term stays what replay found, so the write side's assertion
	 * holds appends to the same rule the next recovery checks. */
	wal__assert_index(w);
	/* Only now that the log is known good are the obsolete ones gone. */
	for (size_t i = 0; i < start; i++) {
		wal__seg_name(name, seqs[i]);
		if (unlinkat(w->dirfd, name, 0) < 0)
			wal__log(w, "wal: could not delete %s/%s: %s", w->dir,
				 name, strerror(errno));
		else
			wal__log(w, "wal: deleted %s/%s, older than a reset",
				 w->dir, name);
		removed = 1;
	}
	if (removed)
		rc = wal__fsync_dir(w, err, errlen);
out:
	scan_close(&sc);
	free(seqs);
	return rc;
}
