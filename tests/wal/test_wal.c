/* test_wal.c - the write-ahead log: append/read, truncation, compaction,
 * reset, segment roll-over, hard state, crash recovery and corruption. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "wal.h"

#define SMALL_SEG 4096u

static char err[512];

/* ---- temporary directories ---------------------------------------------*/

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
	char *d = strdup("/tmp/wal-test-XXXXXX");
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static void free_tmpdir(char *d)
{
	rm_rf(d);
	free(d);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t r;
	int in = open(from, O_RDONLY), out;

	ck_assert_int_ge(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(out, 0);
	while ((r = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)r), r);
	ck_assert_int_eq(r, 0);
	close(in);
	close(out);
}

/* Replaces the contents of directory @to with copies of @from's files. */
static void copy_dir(const char *from, const char *to)
{
	char a[512], b[512];
	struct dirent *de;
	DIR *d;

	rm_rf(to);
	ck_assert_int_eq(mkdir(to, 0755), 0);
	d = opendir(from);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

/* Names of the segment files in @dir, sorted; returns how many. */
static int list_segs(const char *dir, char names[][64], int max)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "wal-", 4) || len < 5 ||
		    strcmp(de->d_name + len - 4, ".log"))
			continue;
		ck_assert_int_lt(n, max);
		ck_assert_uint_lt(len, 64);
		memcpy(names[n++], de->d_name, len + 1);
	}
	closedir(d);
	qsort(names, (size_t)n, 64,
	      (int (*)(const void *, const void *))strcmp);
	return n;
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void read_at(const char *path, uint64_t off, void *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void write_at(const char *path, uint64_t off, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	close(fd);
}

/* One record found by walking a segment file with the frame codec. */
struct rec {
	uint64_t off, size;
	uint8_t type;
	uint64_t index;
};

/* Lists the valid records of a segment file, up to the first bad one. */
static int walk_records(const char *path, struct rec *recs, int max)
{
	uint64_t size = file_size(path), off = 0;
	uint8_t *buf = malloc(size);
	struct frame f;
	size_t used;
	int n = 0;

	ck_assert_ptr_nonnull(buf);
	read_at(path, 0, buf, size);
	while (off < size && n < max &&
	       frame_decode(buf + off, size - off, UINT32_MAX, &f, &used) ==
		   FRAME_OK) {
		recs[n].off = off;
		recs[n].size = used;
		recs[n].type = f.type;
		recs[n].index = f.index;
		n++;
		off += used;
	}
	free(buf);
	return n;
}

/* ---- entries ------------------------------------------------------------*/

/* Entry contents are a function of (index, term), so reads can be checked
 * without keeping copies. */
static uint32_t payload_len(raft_index i)
{
	return (uint32_t)((i * 37) % 150);
}

static void fill_entry(struct raft_entry *e, raft_index i, raft_term t,
		       uint32_t len)
{
	e->index = i;
	e->term = t;
	e->type = (i % 10 == 0) ? RAFT_ENTRY_NOOP : RAFT_ENTRY_NORMAL;
	e->len = len;
	e->data = len ? malloc(len) : NULL;
	for (uint32_t k = 0; k < len; k++)
		e->data[k] = (uint8_t)(i * 31 + t * 7 + k);
}

static void append_sized(struct wal *w, raft_index lo, raft_index hi,
			 raft_term t, uint32_t len)
{
	size_t n = hi - lo + 1;
	struct raft_entry *es = calloc(n, sizeof(*es));

	ck_assert_ptr_nonnull(es);
	for (size_t k = 0; k < n; k++)
		fill_entry(&es[k], lo + k, t,
			   len == UINT32_MAX ? payload_len(lo + k) : len);
	ck_assert_msg(wal_append(w, es, n, err, sizeof(err)) == 0, "%s", err);
	wal_free_entries(es, n);
}

static void append_range(struct wal *w, raft_index lo, raft_index hi,
			 raft_term t)
{
	append_sized(w, lo, hi, t, UINT32_MAX);
}

static void sync_ok(struct wal *w)
{
	ck_assert_msg(wal_sync(w, err, sizeof(err)) == 0, "%s", err);
}

/* Checks entries [lo, hi] have term @t and the expected contents; @len as
 * in append_sized. */
static void check_sized(struct wal *w, raft_index lo, raft_index hi,
			raft_term t, uint32_t len)
{
	struct raft_entry *es = NULL;
	size_t n = 0;

	ck_assert_msg(wal_read(w, lo, hi, &es, &n, err, sizeof(err)) == 0,
		      "read [%" PRIu64 ", %" PRIu64 "]: %s", lo, hi, err);
	ck_assert_uint_eq(n, hi - lo + 1);
	for (size_t k = 0; k < n; k++) {
		struct raft_entry want;
		raft_index i = lo + k;
		fill_entry(&want, i, t,
			   len == UINT32_MAX ? payload_len(i) : len);
		ck_assert_uint_eq(es[k].index, i);
		ck_assert_msg(es[k].term == t,
			      "entry %" PRIu64 " term %" PRIu64
			      " want %" PRIu64,
			      i, es[k].term, t);
		ck_assert_uint_eq(es[k].type, want.type);
		ck_assert_uint_eq(es[k].len, want.len);
		if (want.len)
			ck_assert_mem_eq(es[k].data, want.data, want.len);
		free(want.data);
	}
	wal_free_entries(es, n);
}

static void check_range(struct wal *w, raft_index lo, raft_index hi,
			raft_term t)
{
	check_sized(w, lo, hi, t, UINT32_MAX);
}

static struct wal *open_ok(const char *dir, uint64_t seg_bytes)
{
	struct wal_options o = {.segment_bytes = seg_bytes};
	struct wal *w = NULL;

	ck_assert_msg(wal_open(dir, &o, &w, err, sizeof(err)) == 0, "open: %s",
		      err);
	return w;
}

/* Collects opts->log lines. */
static char logbuf[4096];

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static int open_logged(const char *dir, uint64_t seg_bytes, struct wal **w)
{
	struct wal_options o = {.segment_bytes = seg_bytes, .log = log_line};

	logbuf[0] = 0;
	err[0] = 0;
	return wal_open(dir, &o, w, err, sizeof(err));
}

/* ---- basic operations ---------------------------------------------------*/

START_TEST(test_append_read_reopen)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 0);
	struct raft_entry *es;
	size_t n;

	ck_assert_uint_eq(wal_first_index(w), 1);
	ck_assert_uint_eq(wal_last_index(w), 0);
	append_range(w, 1, 100, 1);
	append_range(w, 101, 101, 2);
	ck_assert_uint_eq(wal_last_index(w), 101);
	/* Readable before the sync. */
	check_range(w, 1, 100, 1);
	check_range(w, 101, 101, 2);
	check_range(w, 40, 60, 1);
	sync_ok(w);
	ck_assert_int_eq(wal_read(w, 0, 5, &es, &n, err, sizeof(err)),
			 WAL_EINVAL);
	ck_assert_int_eq(wal_read(w, 5, 102, &es, &n, err, sizeof(err)),
			 WAL_EINVAL);
	ck_assert_int_eq(wal_read(w, 6, 5, &es, &n, err, sizeof(err)),
			 WAL_EINVAL);
	wal_close(w);

	w = open_ok(dir, 0);
	ck_assert_uint_eq(wal_first_index(w), 1);
	ck_assert_uint_eq(wal_last_index(w), 101);
	check_range(w, 1, 100, 1);
	check_range(w, 101, 101, 2);
	append_range(w, 102, 110, 3);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, 0);
	check_range(w, 102, 110, 3);
	check_range(w, 1, 100, 1);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* wal_open creates a missing log directory (and syncs the directory that
 * holds it), whether named by an absolute path with a trailing slash or by
 * a bare relative name; a missing parent is an error, not a crash. */
START_TEST(test_open_creates_directory)
{
	char *dir = make_tmpdir();
	char sub[512], cwd[4096];
	struct wal *w;
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/log/", dir);
	w = open_ok(sub, 0);
	append_range(w, 1, 3, 1);
	sync_ok(w);
	wal_close(w);
	w = open_ok(sub, 0);
	check_range(w, 1, 3, 1);
	wal_close(w);

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(dir), 0);
	w = open_ok("rel", 0);
	append_range(w, 1, 2, 1);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(chdir(cwd), 0);
	snprintf(sub, sizeof(sub), "%s/rel", dir);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	w = open_ok(sub, 0);
	check_range(w, 1, 2, 1);
	wal_close(w);

	snprintf(sub, sizeof(sub), "%s/no/such/parent", dir);
	w = NULL;
	ck_assert_int_eq(wal_open(sub, NULL, &w, err, sizeof(err)), WAL_EIO);
	ck_assert_ptr_null(w);
	free_tmpdir(dir);
}
END_TEST

/* Under a umask of 0, wal_open makes its directory 0700 and every segment
 * (the first, a rolled-over one, the one a reset starts) 0600: the log is
 * the store's data. */
START_TEST(test_created_files_are_private)
{
	char *dir = make_tmpdir();
	char sub[512], names[64][64], path[600];
	struct stat st;
	mode_t old = umask(0);

	snprintf(sub, sizeof(sub), "%s/log", dir);
	struct wal *w = open_ok(sub, SMALL_SEG);
	for (raft_index i = 1; i <= 200; i += 5)
		append_range(w, i, i + 4, 1);
	sync_ok(w);
	wal_close(w);
	umask(old);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0700, "dir mode %04o",
		      (unsigned)(st.st_mode & 07777));
	int n = list_segs(sub, names, 64);
	ck_assert_int_gt(n, 1);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%.63s", sub, names[i]);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_msg((st.st_mode & 07777) == 0600, "%s mode %04o",
			      names[i], (unsigned)(st.st_mode & 07777));
	}
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_append_preconditions)
{
	char *dir = make_tmpdir();
	struct wal_options o = {.max_entry_bytes = 1000};
	struct wal *w = NULL, *w2 = NULL;
	struct raft_entry e;

	ck_assert_int_eq(wal_open(dir, &o, &w, err, sizeof(err)), 0);
	append_range(w, 1, 3, 1);
	/* Not the next index: a gap and an overlap. */
	fill_entry(&e, 5, 1, 10);
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), WAL_EINVAL);
	e.index = 3;
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), WAL_EINVAL);
	free(e.data);
	/* Over max_entry_bytes. */
	fill_entry(&e, 4, 1, 1001);
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), WAL_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1001"));
	free(e.data);
	fill_entry(&e, 4, 1, 1000);
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), 0);
	free(e.data);
	/* A type that is not an entry. */
	fill_entry(&e, 5, 1, 4);
	e.type = FRAME_HARD_STATE;
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), WAL_EINVAL);
	free(e.data);
	ck_assert_uint_eq(wal_last_index(w), 4);
	/* A second process (or handle) on the same directory is refused. */
	ck_assert_int_eq(wal_open(dir, NULL, &w2, err, sizeof(err)), WAL_EIO);
	ck_assert_ptr_null(w2);
	/* Bad options. */
	wal_close(w);
	o.segment_bytes = 100;
	ck_assert_int_eq(wal_open(dir, &o, &w, err, sizeof(err)), WAL_EINVAL);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_hard_state_survives_reopen)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 0);
	struct wal_hard_state hs = {5, 2, 0}, got;

	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 0);
	ck_assert_uint_eq(got.vote, 0);
	ck_assert_uint_eq(got.commit, 0);
	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, 0);
	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 5);
	ck_assert_uint_eq(got.vote, 2);
	ck_assert_uint_eq(got.commit, 0);
	/* The newest of several wins; together with entries. */
	append_range(w, 1, 10, 5);
	hs.commit = 7;
	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	hs.term = 6;
	hs.vote = 0;
	hs.commit = 9;
	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	append_range(w, 11, 12, 6);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, 0);
	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 6);
	ck_assert_uint_eq(got.vote, 0);
	ck_assert_uint_eq(got.commit, 9);
	check_range(w, 1, 10, 5);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_truncate_after_then_new_terms)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 0);

	append_range(w, 1, 50, 1);
	sync_ok(w);
	ck_assert_int_eq(wal_truncate_after(w, 30, err, sizeof(err)), 0);
	ck_assert_uint_eq(wal_last_index(w), 30);
	append_range(w, 31, 45, 2);
	sync_ok(w);
	check_range(w, 1, 30, 1);
	check_range(w, 31, 45, 2);
	wal_close(w);

	w = open_ok(dir, 0);
	ck_assert_uint_eq(wal_last_index(w), 45);
	check_range(w, 1, 30, 1);
	check_range(w, 31, 45, 2);
	/* Truncating to the end is a no-op; truncating everything works. */
	ck_assert_int_eq(wal_truncate_after(w, 45, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_truncate_after(w, 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(wal_last_index(w), 0);
	ck_assert_uint_eq(wal_first_index(w), 1);
	append_range(w, 1, 5, 3);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, 0);
	ck_assert_uint_eq(wal_first_index(w), 1);
	ck_assert_uint_eq(wal_last_index(w), 5);
	check_range(w, 1, 5, 3);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* Truncation that reaches back over several segments, then a reopen. */
START_TEST(test_truncate_across_segments)
{
	char *dir = make_tmpdir();
	char names[64][64];
	struct wal *w = open_ok(dir, SMALL_SEG);

	for (raft_index i = 1; i <= 300; i += 10)
		append_range(w, i, i + 9, 1);
	sync_ok(w);
	ck_assert_int_ge(list_segs(dir, names, 64), 4);
	ck_assert_int_eq(wal_truncate_after(w, 20, err, sizeof(err)), 0);
	append_range(w, 21, 60, 2);
	sync_ok(w);
	check_range(w, 1, 20, 1);
	check_range(w, 21, 60, 2);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_last_index(w), 60);
	check_range(w, 1, 20, 1);
	check_range(w, 21, 60, 2);
	/* Compaction past the truncation point drops the dead segments too
	 * and the log still reopens. */
	ck_assert_int_eq(wal_compact(w, 40, err, sizeof(err)), 0);
	ck_assert_uint_le(wal_first_index(w), 40);
	check_range(w, 40, 60, 2);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_le(wal_first_index(w), 40);
	ck_assert_uint_eq(wal_last_index(w), 60);
	check_range(w, wal_first_index(w) < 21 ? 21 : wal_first_index(w), 60,
		    2);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* Compaction deletes oldest first; a crash part way can leave segments
 * whose entries were all truncated at the front. The log must reopen as it
 * was. */
START_TEST(test_compaction_interrupted_after_truncation)
{
	char *dir = make_tmpdir();
	char names[64][64], path[8192];
	struct rec recs[256];
	struct wal *w = open_ok(dir, SMALL_SEG);
	int nseg, holder = -1;

	for (raft_index i = 1; i <= 300; i += 10)
		append_range(w, i, i + 9, 1);
	ck_assert_int_eq(wal_truncate_after(w, 20, err, sizeof(err)), 0);
	append_range(w, 21, 60, 2);
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 64);
	/* Delete the segments up to the one holding entry 20 (as
	 * wal_compact(30) would first), keeping the dead ones after it. */
	for (int k = 0; k < nseg && holder < 0; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		int nrec = walk_records(path, recs, 256);
		for (int r = 0; r < nrec; r++)
			if (recs[r].type == FRAME_ENTRY_NORMAL &&
			    recs[r].index == 19)
				holder = k;
	}
	ck_assert_int_ge(holder, 0);
	ck_assert_int_lt(holder + 2, nseg); /* dead segments follow it */
	for (int k = 0; k <= holder; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		ck_assert_int_eq(unlink(path), 0);
	}
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), 21);
	ck_assert_uint_eq(wal_last_index(w), 60);
	check_range(w, 21, 60, 2);
	/* Below the first index there is nothing to truncate to. */
	ck_assert_int_eq(wal_truncate_after(w, 5, err, sizeof(err)),
			 WAL_EINVAL);
	ck_assert_int_eq(wal_compact(w, 30, err, sizeof(err)), 0);
	ck_assert_int_eq(list_segs(dir, names, 64), 1);
	append_range(w, 61, 70, 2);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), 21);
	check_range(w, 21, 70, 2);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_segments_roll_over)
{
	char *dir = make_tmpdir();
	char names[256][64];
	struct wal *w = open_ok(dir, SMALL_SEG);
	struct wal_hard_state hs = {3, 1, 2}, got;
	int nseg;

	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	for (raft_index i = 1; i <= 1000; i += 5) {
		append_range(w, i, i + 4, 3);
		if (i % 50 == 1)
			sync_ok(w);
	}
	sync_ok(w);
	nseg = list_segs(dir, names, 256);
	ck_assert_int_ge(nseg, 10);
	/* A batch bigger than a segment still goes in (into a fresh one). */
	append_sized(w, 1001, 1003, 3, 3000);
	sync_ok(w);
	check_range(w, 1, 1000, 3);
	wal_close(w);

	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), 1);
	ck_assert_uint_eq(wal_last_index(w), 1003);
	check_range(w, 1, 1000, 3);
	check_sized(w, 1001, 1003, 3, 3000);
	/* Random-ish access across segments. */
	check_range(w, 377, 377, 3);
	check_range(w, 10, 900, 3);
	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 3);
	ck_assert_uint_eq(got.commit, 2);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* Reads of more than the read buffer holds, starting at many different
 * offsets, so records straddle the buffer's end at every kind of position
 * (inside the header as well as inside the payload). */
START_TEST(test_large_reads)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 4u << 20);

	for (raft_index i = 1; i <= 6000; i += 100)
		append_range(w, i, i + 99, 1);
	append_sized(w, 6001, 6001, 1, 300000); /* bigger than the buffer */
	append_range(w, 6002, 6100, 1);
	sync_ok(w);
	for (raft_index lo = 1; lo <= 60; lo++)
		check_range(w, lo, 6000, 1);
	check_sized(w, 6001, 6001, 1, 300000);
	check_range(w, 5990, 6000, 1);
	check_range(w, 6002, 6100, 1);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* ---- preallocation ------------------------------------------------------*/

/* The segment size of the preallocation tests, and its preallocation step
 * (a quarter of a segment, wal.h). */
#define STEP_SEG (64u << 10)
#define STEP	 (STEP_SEG / 4)

/* End of the valid records of segment file @path. */
static uint64_t records_end(const char *path)
{
	static struct rec recs[4096];
	int n = walk_records(path, recs, 4096);

	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 4096);
	return recs[n - 1].off + recs[n - 1].size;
}

static uint64_t round_step(uint64_t n)
{
	return (n + STEP - 1) / STEP * STEP;
}

/* A segment starts with one step and grows a step at a time just before
 * the write that needs it: its size is always the whole steps covering its
 * records, never the whole segment ahead of time. */
START_TEST(test_segment_grows_in_steps)
{
	char *dir = make_tmpdir();
	char names[16][64], path[512], path2[512];
	struct wal *w = open_ok(dir, STEP_SEG);
	uint64_t size, prev;
	int grew = 0;
	raft_index i;

	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	ck_assert_uint_eq(file_size(path), STEP);
	prev = STEP;
	/* 450 entries of 100 bytes (132 with the header): 59,400 bytes, all
	 * in the first segment. */
	for (i = 1; i <= 450; i += 10) {
		append_sized(w, i, i + 9, 1, 100);
		sync_ok(w);
		size = file_size(path);
		ck_assert_uint_eq(size, round_step(records_end(path)));
		if (size != prev)
			grew++;
		prev = size;
	}
	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	ck_assert_int_eq(grew, 3);
	ck_assert_uint_eq(file_size(path), STEP_SEG);
	/* The next batch does not fit: a new segment, again one step. */
	append_sized(w, 451, 500, 1, 100);
	sync_ok(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 2);
	snprintf(path2, sizeof(path2), "%s/%s", dir, names[1]);
	ck_assert_uint_eq(file_size(path), STEP_SEG);
	ck_assert_uint_eq(file_size(path2), STEP);
	wal_close(w);
	w = open_ok(dir, STEP_SEG);
	check_sized(w, 1, 500, 1, 100);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* One batch crossing several steps: the segment is extended before the
 * write, the batch reads back byte for byte after a reopen, and a crash
 * in its last record (the file ending inside it, shorter than its
 * preallocation) is a torn tail like any other. */
START_TEST(test_batch_across_steps)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[16][64], path[512];
	struct rec recs[128];
	struct wal *w = open_ok(dir, STEP_SEG);
	uint64_t start, end;
	int nrec;

	append_sized(w, 1, 10, 1, 100);
	sync_ok(w);
	/* 40 records of 1032 bytes: from inside the first step to inside the
	 * third. */
	append_sized(w, 11, 50, 2, 1000);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	end = records_end(path);
	ck_assert_uint_gt(end, 2 * STEP);
	ck_assert_uint_eq(file_size(path), round_step(end));
	sync_ok(w);
	wal_close(w);

	w = open_ok(dir, STEP_SEG);
	ck_assert_uint_eq(wal_last_index(w), 50);
	check_sized(w, 1, 10, 1, 100);
	check_sized(w, 11, 50, 2, 1000);
	wal_close(w);

	nrec = walk_records(path, recs, 128);
	ck_assert_uint_eq(recs[nrec - 1].index, 50);
	start = recs[nrec - 1].off;
	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	for (uint64_t cut = start + 1; cut < end; cut += 97) {
		copy_dir(dir, work);
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
		ck_assert_msg(open_logged(work, STEP_SEG, &w) == 0, "%s", err);
		ck_assert_ptr_nonnull(strstr(logbuf, "torn"));
		ck_assert_uint_eq(wal_last_index(w), 49);
		check_sized(w, 11, 49, 2, 1000);
		/* Appends go on from the cut, growing the short file. */
		append_sized(w, 50, 60, 3, 1000);
		sync_ok(w);
		wal_close(w);
		w = open_ok(work, STEP_SEG);
		check_sized(w, 1, 10, 1, 100);
		check_sized(w, 11, 49, 2, 1000);
		check_sized(w, 50, 60, 3, 1000);
		wal_close(w);
	}
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

/* A preallocation step that cannot be had (here: a file size limit) fails
 * the append before anything is written; the log stays usable. */
START_TEST(test_failed_step_writes_nothing)
{
	char *dir = make_tmpdir();
	char names[16][64], path[512];
	struct wal *w = open_ok(dir, STEP_SEG);
	struct rlimit rl, saved;
	struct raft_entry es[20];
	uint64_t before;

	append_sized(w, 1, 10, 1, 100);
	sync_ok(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	before = records_end(path);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	saved = rl;
	rl.rlim_cur = STEP;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* 20 records of 1032 bytes: past the first step. */
	for (int k = 0; k < 20; k++)
		fill_entry(&es[k], 11 + (raft_index)k, 1, 1000);
	ck_assert_int_eq(wal_append(w, es, 20, err, sizeof(err)), WAL_ENOSPC);
	ck_assert_msg(strstr(err, "preallocate") != NULL, "%s", err);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_uint_eq(wal_last_index(w), 10);
	ck_assert_uint_eq(file_size(path), STEP);
	ck_assert_uint_eq(records_end(path), before);
	/* The same batch goes in once the space is there. */
	ck_assert_msg(wal_append(w, es, 20, err, sizeof(err)) == 0, "%s", err);
	for (int k = 0; k < 20; k++)
		free(es[k].data);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, STEP_SEG);
	ck_assert_uint_eq(wal_last_index(w), 30);
	check_sized(w, 1, 10, 1, 100);
	check_sized(w, 11, 30, 1, 1000);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* Segments that end early, at any position in the log: every file cut
 * right after its last record (no zeros after it, a size that is no
 * multiple of a step) is a clean end, not damage. So is a log written
 * with larger segments and reopened with smaller ones. */
START_TEST(test_short_segments_recover)
{
	char *dir = make_tmpdir();
	/* path: room for any name the compiler thinks names[k] may hold. */
	char names[64][64], path[4608];
	struct wal *w = open_ok(dir, 4 * STEP_SEG);
	int nseg;

	/* Whole segments of 256 KiB (the last one partly written). */
	for (raft_index i = 1; i <= 2500; i += 100)
		append_sized(w, i, i + 99, 1, 100);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(list_segs(dir, names, 64), 2);
	/* Smaller segments from now on: the last one is already longer than
	 * a segment, so the next append starts a new one. */
	w = open_ok(dir, STEP_SEG);
	for (raft_index i = 2501; i <= 4000; i += 100)
		append_sized(w, i, i + 99, 2, 100);
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 64);
	ck_assert_int_ge(nseg, 5);
	for (int k = 0; k < nseg; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		if (k >= 2)
			ck_assert_uint_le(file_size(path), STEP_SEG);
		ck_assert_int_eq(truncate(path, (off_t)records_end(path)), 0);
	}
	ck_assert_msg(open_logged(dir, STEP_SEG, &w) == 0, "%s", err);
	ck_assert_msg(strstr(logbuf, "torn") == NULL, "%s", logbuf);
	ck_assert_uint_eq(wal_first_index(w), 1);
	ck_assert_uint_eq(wal_last_index(w), 4000);
	check_sized(w, 1, 2500, 1, 100);
	check_sized(w, 2501, 4000, 2, 100);
	/* The cut last segment grows again from its odd size, to whole
	 * steps (or a new segment starts, one step long). */
	append_sized(w, 4001, 4100, 3, 100);
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 64);
	snprintf(path, sizeof(path), "%s/%s", dir, names[nseg - 1]);
	ck_assert_uint_eq(file_size(path), round_step(records_end(path)));
	w = open_ok(dir, STEP_SEG);
	check_sized(w, 1, 2500, 1, 100);
	check_sized(w, 2501, 4000, 2, 100);
	check_sized(w, 4001, 4100, 3, 100);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_compact)
{
	char *dir = make_tmpdir();
	char names[256][64];
	struct wal *w = open_ok(dir, SMALL_SEG);
	struct wal_hard_state hs = {4, 3, 250}, got;
	struct raft_entry *es;
	size_t n;
	int before, after;

	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	for (raft_index i = 1; i <= 500; i += 10)
		append_range(w, i, i + 9, 4);
	sync_ok(w);
	before = list_segs(dir, names, 256);
	ck_assert_int_eq(wal_compact(w, 250, err, sizeof(err)), 0);
	after = list_segs(dir, names, 256);
	ck_assert_int_lt(after, before);
	ck_assert_uint_gt(wal_first_index(w), 1);
	ck_assert_uint_le(wal_first_index(w), 250);
	ck_assert_int_eq(wal_read(w, 1, 250, &es, &n, err, sizeof(err)),
			 WAL_EINVAL);
	check_range(w, wal_first_index(w), 500, 4);
	/* Compacting everything keeps the segment being written. */
	ck_assert_int_eq(wal_compact(w, 10000, err, sizeof(err)), 0);
	ck_assert_int_eq(list_segs(dir, names, 256), 1);
	ck_assert_uint_eq(wal_last_index(w), 500);
	raft_index first = wal_first_index(w);
	ck_assert_uint_le(first, 500);
	wal_close(w);

	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), first);
	ck_assert_uint_eq(wal_last_index(w), 500);
	check_range(w, first, 500, 4);
	/* The hard state written before the compacted segments survives: it
	 * is rewritten at the start of every segment. */
	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 4);
	ck_assert_uint_eq(got.vote, 3);
	ck_assert_uint_eq(got.commit, 250);
	append_range(w, 501, 510, 5);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	check_range(w, 501, 510, 5);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* The index after the last entry never wraps: the log ends at
 * WAL_MAX_INDEX, an append past it is refused, and a reopen finds the log
 * as it was. */
START_TEST(test_index_space_end)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, SMALL_SEG);
	uint8_t payload[4] = {1, 2, 3, 4};
	struct raft_entry e = {.type = RAFT_ENTRY_NORMAL,
			       .term = 1,
			       .index = WAL_MAX_INDEX,
			       .len = sizeof(payload),
			       .data = payload};

	ck_assert_int_eq(wal_reset(w, WAL_MAX_INDEX - 1, err, sizeof(err)), 0);
	ck_assert_uint_eq(wal_first_index(w), WAL_MAX_INDEX);
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), 0);
	sync_ok(w);
	e.index = WAL_MAX_INDEX + 1; /* UINT64_MAX */
	ck_assert_int_eq(wal_append(w, &e, 1, err, sizeof(err)), WAL_EINVAL);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), WAL_MAX_INDEX);
	ck_assert_uint_eq(wal_last_index(w), WAL_MAX_INDEX);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_reset)
{
	char *dir = make_tmpdir(), *dir2 = make_tmpdir();
	char names[64][64], a[512], b[512];
	struct wal *w = open_ok(dir, SMALL_SEG);
	struct wal_hard_state hs = {7, 1, 500}, got;
	struct raft_entry *es;
	size_t n;
	int k;

	append_range(w, 1, 100, 1);
	sync_ok(w);
	copy_dir(dir, dir2); /* the state before the reset */
	ck_assert_int_eq(wal_set_hard_state(w, &hs, err, sizeof(err)), 0);
	ck_assert_int_eq(wal_reset(w, 500, err, sizeof(err)), 0);
	ck_assert_uint_eq(wal_first_index(w), 501);
	ck_assert_uint_eq(wal_last_index(w), 500);
	ck_assert_int_eq(wal_read(w, 100, 100, &es, &n, err, sizeof(err)),
			 WAL_EINVAL);
	ck_assert_int_eq(list_segs(dir, names, 64), 1);
	append_range(w, 501, 510, 7);
	sync_ok(w);
	wal_close(w);

	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_first_index(w), 501);
	ck_assert_uint_eq(wal_last_index(w), 510);
	check_range(w, 501, 510, 7);
	wal_hard_state(w, &got);
	ck_assert_uint_eq(got.term, 7);
	ck_assert_uint_eq(got.commit, 500);
	wal_close(w);

	/* A crash after the reset segment was made but before the old ones
	 * were deleted: the old ones are ignored and removed. */
	ck_assert_int_eq(list_segs(dir, names, 64), 1);
	snprintf(a, sizeof(a), "%s/%s", dir, names[0]);
	snprintf(b, sizeof(b), "%s/%s", dir2, names[0]);
	copy_file(a, b);
	k = list_segs(dir2, names, 64);
	ck_assert_int_ge(k, 2);
	ck_assert_int_eq(open_logged(dir2, SMALL_SEG, &w), 0);
	ck_assert_uint_eq(wal_first_index(w), 501);
	ck_assert_uint_eq(wal_last_index(w), 510);
	check_range(w, 501, 510, 7);
	ck_assert_int_eq(list_segs(dir2, names, 64), 1);
	ck_assert_ptr_nonnull(strstr(logbuf, "older than a reset"));
	wal_close(w);
	free_tmpdir(dir);
	free_tmpdir(dir2);
}
END_TEST

/* ---- model check ----------------------------------------------------------*/

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64: seeded, so a failure replays exactly */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

#define MODEL_MAX 20000

/* The expected log: terms[i] for first <= i <= last. */
struct model {
	raft_index first, last;
	raft_term terms[MODEL_MAX];
	struct wal_hard_state hs;
};

static void check_model(struct wal *w, const struct model *m, uint64_t seed)
{
	struct raft_entry *es = NULL;
	struct wal_hard_state hs;
	size_t n = 0;

	ck_assert_msg(
	    wal_first_index(w) == m->first && wal_last_index(w) == m->last,
	    "seed %" PRIu64 ": log [%" PRIu64 ", %" PRIu64 "], model [%" PRIu64
	    ", %" PRIu64 "]",
	    seed, wal_first_index(w), wal_last_index(w), m->first, m->last);
	wal_hard_state(w, &hs);
	ck_assert_msg(hs.term == m->hs.term && hs.vote == m->hs.vote &&
			  hs.commit == m->hs.commit,
		      "seed %" PRIu64 ": hard state", seed);
	if (m->last < m->first)
		return;
	ck_assert_msg(
	    wal_read(w, m->first, m->last, &es, &n, err, sizeof(err)) == 0,
	    "seed %" PRIu64 ": %s", seed, err);
	for (size_t k = 0; k < n; k++) {
		raft_index i = m->first + k;
		struct raft_entry want;
		fill_entry(&want, i, m->terms[i], payload_len(i));
		ck_assert_msg(
		    es[k].term == want.term && es[k].len == want.len &&
			es[k].type == want.type &&
			(want.len == 0 ||
			 !memcmp(es[k].data, want.data, want.len)),
		    "seed %" PRIu64 ": entry %" PRIu64 " differs", seed, i);
		free(want.data);
	}
	wal_free_entries(es, n);
}

/* Random appends, truncations, compactions, resets, hard states and
 * reopens against a model of the log. */
START_TEST(test_random_operations_match_model)
{
	static struct model m;
	uint64_t seed = 0x5eed0000u + (uint64_t)_i;
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, SMALL_SEG);
	raft_term term = 1;

	rng_state = seed;
	memset(&m, 0, sizeof(m));
	m.first = 1;
	for (int op = 0; op < 400; op++) {
		uint64_t r = rng_next() % 100;
		if (r < 50 && m.last + 40 < MODEL_MAX) {
			raft_index k = 1 + rng_next() % 30;
			append_range(w, m.last + 1, m.last + k, term);
			for (raft_index i = m.last + 1; i <= m.last + k; i++)
				m.terms[i] = term;
			m.last += k;
		} else if (r < 62) {
			raft_index to =
			    m.first - 1 + rng_next() % (m.last - m.first + 2);
			ck_assert_msg(
			    wal_truncate_after(w, to, err, sizeof(err)) == 0,
			    "seed %" PRIu64 ": %s", seed, err);
			if (to < m.last)
				m.last = to;
			term++;
		} else if (r < 70) {
			raft_index at =
			    m.first + rng_next() % (m.last - m.first + 2);
			ck_assert_msg(wal_compact(w, at, err, sizeof(err)) == 0,
				      "seed %" PRIu64 ": %s", seed, err);
			/* Whole segments go: the first index moves up to
			 * at most @at (and never past the end). */
			ck_assert_uint_ge(wal_first_index(w), m.first);
			ck_assert_uint_le(wal_first_index(w),
					  at < m.last + 1 ? at : m.last + 1);
			m.first = wal_first_index(w);
		} else if (r < 72 && m.last + 100 < MODEL_MAX) {
			raft_index at = m.last + rng_next() % 50;
			ck_assert_int_eq(wal_reset(w, at, err, sizeof(err)), 0);
			m.first = at + 1;
			m.last = at;
		} else if (r < 82) {
			m.hs.term = term;
			m.hs.vote = rng_next() % 4;
			m.hs.commit = m.last;
			ck_assert_int_eq(
			    wal_set_hard_state(w, &m.hs, err, sizeof(err)), 0);
		} else if (r < 95) {
			sync_ok(w);
		} else {
			/* Reopen, with or without a sync first: a clean
			 * process exit keeps the page cache. */
			wal_close(w);
			w = open_ok(dir, SMALL_SEG);
		}
		if (op % 50 == 0)
			check_model(w, &m, seed);
	}
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	check_model(w, &m, seed);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* ---- crash simulation ---------------------------------------------------*/

/* Shared by the tail tests: after damaging the tail of @dir, recovery must
 * keep entries 1..@keep (term 1), drop the rest, accept new appends and
 * keep them across another reopen. */
static void check_recovered(const char *dir, raft_index keep, const char *what,
			    uint64_t off)
{
	struct wal *w = NULL;
	int rc = open_logged(dir, SMALL_SEG * 4, &w);

	ck_assert_msg(rc == 0, "%s at %" PRIu64 ": %s", what, off, err);
	ck_assert_msg(wal_last_index(w) == keep,
		      "%s at %" PRIu64 ": last %" PRIu64 " want %" PRIu64, what,
		      off, wal_last_index(w), keep);
	check_range(w, 1, keep, 1);
	append_range(w, keep + 1, keep + 2, 2);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG * 4);
	ck_assert_uint_eq(wal_last_index(w), keep + 2);
	check_range(w, 1, keep, 1);
	check_range(w, keep + 1, keep + 2, 2);
	wal_close(w);
}

START_TEST(test_torn_tail_every_offset)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[16][64], path[512];
	struct rec recs[64];
	struct wal *w = open_ok(dir, SMALL_SEG * 4);
	uint8_t zeros[2048] = {0};
	uint64_t size, start, end;
	int nseg, nrec;

	append_range(w, 1, 20, 1);
	sync_ok(w);
	append_sized(w, 21, 21, 1, 700); /* the last record: 732 bytes */
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 16);
	ck_assert_int_eq(nseg, 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	nrec = walk_records(path, recs, 64);
	ck_assert_uint_eq(recs[nrec - 1].index, 21);
	start = recs[nrec - 1].off;
	end = start + recs[nrec - 1].size;
	size = file_size(path);

	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	for (uint64_t cut = start; cut < end; cut++) {
		/* The file ends inside the record. */
		copy_dir(dir, work);
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
		check_recovered(work, 20, "cut", cut);
		if (cut > start)
			ck_assert_ptr_nonnull(strstr(logbuf, "torn"));
		/* Preallocated space: the rest of the record reads zero. */
		copy_dir(dir, work);
		write_at(path, cut, zeros, end - cut);
		ck_assert_uint_eq(file_size(path), size);
		check_recovered(work, 20, "zeroed from", cut);
	}
	/* The last 512 bytes of the record zero, and the whole record. */
	copy_dir(dir, work);
	write_at(path, end - 512, zeros, 512);
	check_recovered(work, 20, "last 512 zero", end - 512);
	ck_assert_ptr_nonnull(strstr(logbuf, "torn"));
	copy_dir(dir, work);
	write_at(path, start, zeros, end - start);
	check_recovered(work, 20, "record zero", start);
	/* Garbage (not zeros) over the tail of the record. */
	copy_dir(dir, work);
	memset(zeros, 0xa5, sizeof(zeros));
	write_at(path, start + 100, zeros, end - start - 100);
	check_recovered(work, 20, "garbage", start + 100);
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

/* A torn truncation record leaves the old log; a whole one the new. */
START_TEST(test_truncation_is_atomic)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[16][64], path[512];
	struct rec recs[128];
	struct wal *w = open_ok(dir, SMALL_SEG * 4);
	uint64_t start, end;
	int nrec;

	append_range(w, 1, 20, 1);
	sync_ok(w);
	ck_assert_int_eq(wal_truncate_after(w, 12, err, sizeof(err)), 0);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	nrec = walk_records(path, recs, 128);
	ck_assert_uint_eq(recs[nrec - 1].type, FRAME_SEGMENT);
	start = recs[nrec - 1].off;
	end = start + recs[nrec - 1].size;
	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	for (uint64_t cut = start; cut <= end; cut++) {
		copy_dir(dir, work);
		ck_assert_int_eq(truncate(path, (off_t)cut), 0);
		check_recovered(work, cut == end ? 12 : 20, "truncation cut",
				cut);
	}
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

/* Writes that fail half-way (here: a file size limit) leave no partial
 * record, and the log goes on working. */
START_TEST(test_failed_write_leaves_no_partial_record)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, SMALL_SEG);
	struct rlimit rl, saved;
	struct raft_entry es[5];

	append_range(w, 1, 10, 1);
	sync_ok(w);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	saved = rl;
	rl.rlim_cur = SMALL_SEG + 1000;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* A batch bigger than the rest of the segment and than the limit:
	 * it goes into a fresh segment, past segment_bytes, and is cut
	 * short after its first few (whole, valid-looking) records. */
	for (int k = 0; k < 5; k++)
		fill_entry(&es[k], 11 + (raft_index)k, 1, 1500);
	ck_assert_int_eq(wal_append(w, es, 5, err, sizeof(err)), WAL_ENOSPC);
	for (int k = 0; k < 5; k++)
		free(es[k].data);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_uint_eq(wal_last_index(w), 10);
	/* Fewer bytes than were partly written: nothing of the failed batch
	 * may show through after them. */
	append_range(w, 11, 12, 2);
	sync_ok(w);
	wal_close(w);
	ck_assert_msg(open_logged(dir, SMALL_SEG, &w) == 0, "%s", err);
	ck_assert_msg(strstr(logbuf, "torn") == NULL, "%s", logbuf);
	ck_assert_uint_eq(wal_last_index(w), 12);
	check_range(w, 1, 10, 1);
	check_range(w, 11, 12, 2);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* ---- corruption ---------------------------------------------------------*/

START_TEST(test_flipped_byte_in_middle_record)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[64][64], path[512], want[600];
	struct rec recs[512];
	struct wal *w = open_ok(dir, SMALL_SEG);
	struct wal *w2 = NULL;
	uint8_t b;
	int nseg, nrec;

	for (raft_index i = 1; i <= 200; i += 10)
		append_range(w, i, i + 9, 1);
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 64);
	ck_assert_int_ge(nseg, 3);

	/* In the last segment, a record followed by valid ones. */
	for (int which = 0; which < 2; which++) {
		const char *seg = which == 0 ? names[nseg - 1] : names[1];
		copy_dir(dir, work);
		snprintf(path, sizeof(path), "%s/%s", work, seg);
		nrec = walk_records(path, recs, 512);
		ck_assert_int_ge(nrec, 5);
		struct rec *r = &recs[nrec / 2];
		for (int field = 0; field < 2; field++) {
			/* A payload byte, then a header byte. */
			uint64_t at = r->off + (field == 0 ? r->size - 1 : 20);
			copy_dir(dir, work);
			read_at(path, at, &b, 1);
			b ^= 0x40;
			write_at(path, at, &b, 1);
			ck_assert_int_eq(open_logged(work, SMALL_SEG, &w2),
					 WAL_ECORRUPT);
			ck_assert_ptr_null(w2);
			snprintf(want, sizeof(want), "%s offset %" PRIu64, seg,
				 r->off);
			ck_assert_msg(strstr(err, want) != NULL,
				      "error '%s' lacks '%s'", err, want);
		}
	}
	/* The last record of a closed (earlier) segment is not a torn tail:
	 * segments are synced before the next one is started. */
	copy_dir(dir, work);
	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	nrec = walk_records(path, recs, 512);
	read_at(path, recs[nrec - 1].off + recs[nrec - 1].size - 1, &b, 1);
	b ^= 1;
	write_at(path, recs[nrec - 1].off + recs[nrec - 1].size - 1, &b, 1);
	ck_assert_int_eq(open_logged(work, SMALL_SEG, &w2), WAL_ECORRUPT);
	snprintf(want, sizeof(want), "%s offset %" PRIu64, names[0],
		 recs[nrec - 1].off);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

START_TEST(test_zeroed_middle_record_is_corruption)
{
	char *dir = make_tmpdir();
	char names[16][64], path[512], want[600];
	struct rec recs[128];
	struct wal *w = open_ok(dir, SMALL_SEG * 4);
	uint8_t zeros[FRAME_HEADER_SIZE] = {0};
	int nrec;

	append_range(w, 1, 30, 1);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	nrec = walk_records(path, recs, 128);
	/* A zeroed header followed by valid records: not the end. */
	write_at(path, recs[nrec - 5].off, zeros, sizeof(zeros));
	ck_assert_int_eq(open_logged(dir, SMALL_SEG * 4, &w), WAL_ECORRUPT);
	snprintf(want, sizeof(want), "%s offset %" PRIu64, names[0],
		 recs[nrec - 5].off);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
	free_tmpdir(dir);
}
END_TEST

START_TEST(test_missing_segment)
{
	char *dir = make_tmpdir();
	char names[64][64], path[512];
	struct wal *w = open_ok(dir, SMALL_SEG);
	int nseg;

	for (raft_index i = 1; i <= 200; i += 10)
		append_range(w, i, i + 9, 1);
	sync_ok(w);
	wal_close(w);
	nseg = list_segs(dir, names, 64);
	ck_assert_int_ge(nseg, 3);
	snprintf(path, sizeof(path), "%s/%s", dir, names[nseg / 2]);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(open_logged(dir, SMALL_SEG, &w), WAL_ECORRUPT);
	ck_assert_msg(strstr(err, names[nseg / 2]) != NULL &&
			  strstr(err, "missing") != NULL,
		      "%s", err);
	free_tmpdir(dir);
}
END_TEST

/* Writes one entry (term @term, index @index, payload "x") right after the
 * last record of the segment at @path; returns the offset it starts at. */
static uint64_t write_after_last(const char *path, raft_term term,
				 raft_index index)
{
	struct rec recs[128];
	uint8_t buf[64];
	int nrec = walk_records(path, recs, 128);
	uint64_t end = recs[nrec - 1].off + recs[nrec - 1].size;
	size_t len = frame_encode(buf, FRAME_ENTRY_NORMAL, term, index, "x", 1);

	write_at(path, end, buf, len);
	return end;
}

/* A valid record with the wrong index (a gap) and a segment of an unknown
 * format version are refused. */
START_TEST(test_gap_and_version)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[16][64], path[512], want[600];
	struct rec recs[128];
	struct wal *w = open_ok(dir, SMALL_SEG * 4);
	uint8_t buf[64], pl[16];
	size_t len;

	append_range(w, 1, 10, 1);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);

	copy_dir(dir, work);
	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	walk_records(path, recs, 128);
	uint64_t end = write_after_last(path, 1, 12);
	ck_assert_int_eq(open_logged(work, SMALL_SEG * 4, &w), WAL_ECORRUPT);
	snprintf(want, sizeof(want), "%s offset %" PRIu64, names[0], end);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);

	copy_dir(dir, work);
	read_at(path, FRAME_HEADER_SIZE, pl, sizeof(pl));
	le_put_u32(pl, 2); /* the WAL format version */
	len =
	    frame_encode(buf, FRAME_SEGMENT, 0, recs[0].index, pl, sizeof(pl));
	write_at(path, 0, buf, len);
	ck_assert_int_eq(open_logged(work, SMALL_SEG * 4, &w), WAL_ECORRUPT);
	ck_assert_msg(strstr(err, "version") && strstr(err, names[0]), "%s",
		      err);
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

/* Terms never go down in a log (Raft §5.3), checked on both sides: a
 * record read back with a term below the entry before it is corruption
 * (recovery refuses it), while a truncation forgets the term, so the
 * lower-term entries that replace a conflicting suffix are taken. */
START_TEST(test_falling_term_is_corruption)
{
	char *dir = make_tmpdir(), *work = make_tmpdir();
	char names[16][64], path[512], want[600];
	struct wal *w = open_ok(dir, SMALL_SEG * 4);
	uint8_t buf[64];
	size_t len;

	append_range(w, 1, 10, 2);
	sync_ok(w);
	wal_close(w);
	ck_assert_int_eq(list_segs(dir, names, 16), 1);

	copy_dir(dir, work);
	snprintf(path, sizeof(path), "%s/%s", work, names[0]);
	/* Entry 11 continues the indexes but falls back to term 1. */
	uint64_t end = write_after_last(path, 1, 11);
	ck_assert_int_eq(open_logged(work, SMALL_SEG * 4, &w), WAL_ECORRUPT);
	snprintf(want, sizeof(want), "%s offset %" PRIu64, names[0], end);
	ck_assert_msg(strstr(err, want) != NULL && strstr(err, "term") != NULL,
		      "'%s' lacks '%s' or the term", err, want);

	/* The same term, or a higher one, is a valid continuation. */
	copy_dir(dir, work);
	len = frame_encode(buf, FRAME_ENTRY_NORMAL, 2, 11, "x", 1);
	write_at(path, end, buf, len);
	len = frame_encode(buf, FRAME_ENTRY_NORMAL, 3, 12, "y", 1);
	write_at(path, end + frame_size(1), buf, len);
	w = open_ok(work, SMALL_SEG * 4);
	ck_assert_uint_eq(wal_last_index(w), 12);
	wal_close(w);
	free_tmpdir(dir);
	free_tmpdir(work);
}
END_TEST

START_TEST(test_truncation_forgets_the_term)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, SMALL_SEG);

	/* A follower holds 4..9 of term 3 that the leader of term 4 never
	 * had: they are replaced by the leader's 4..6 of term 2. */
	append_range(w, 1, 3, 1);
	append_range(w, 4, 9, 3);
	ck_assert_int_eq(wal_truncate_after(w, 3, err, sizeof(err)), 0);
	append_range(w, 4, 6, 2);
	append_range(w, 7, 8, 4);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	ck_assert_uint_eq(wal_last_index(w), 8);
	check_range(w, 1, 3, 1);
	check_range(w, 4, 6, 2);
	check_range(w, 7, 8, 4);
	/* After a reset the log starts without a term too. */
	ck_assert_int_eq(wal_reset(w, 20, err, sizeof(err)), 0);
	append_range(w, 21, 22, 1);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, SMALL_SEG);
	check_range(w, 21, 22, 1);
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

#ifndef NDEBUG
/* The write side's assertions (active in debug and sanitizer builds): an
 * append whose term falls below the last one appended is a bug of the
 * caller, caught before anything is written. */
START_TEST(test_append_falling_term_asserts)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 0);

	append_range(w, 1, 3, 2);
	append_range(w, 4, 4, 1); /* aborts */
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST

/* Recovery hands the term it read last to the write side, so a log that
 * appends accept is one the next recovery accepts. */
START_TEST(test_append_after_recovery_falling_term_asserts)
{
	char *dir = make_tmpdir();
	struct wal *w = open_ok(dir, 0);

	append_range(w, 1, 3, 5);
	sync_ok(w);
	wal_close(w);
	w = open_ok(dir, 0);
	append_range(w, 4, 4, 5); /* the same term: fine */
	append_range(w, 5, 5, 4); /* aborts */
	wal_close(w);
	free_tmpdir(dir);
}
END_TEST
#endif

static Suite *wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("wal");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_append_read_reopen);
	tcase_add_test(tc, test_append_preconditions);
	tcase_add_test(tc, test_index_space_end);
	tcase_add_test(tc, test_hard_state_survives_reopen);
	tcase_add_test(tc, test_truncate_after_then_new_terms);
	tcase_add_test(tc, test_truncate_across_segments);
	tcase_add_test(tc, test_open_creates_directory);
	tcase_add_test(tc, test_created_files_are_private);
	tcase_add_test(tc, test_compaction_interrupted_after_truncation);
	tcase_add_test(tc, test_segments_roll_over);
	tcase_add_test(tc, test_large_reads);
	tcase_add_test(tc, test_segment_grows_in_steps);
	tcase_add_test(tc, test_batch_across_steps);
	tcase_add_test(tc, test_short_segments_recover);
	tcase_add_test(tc, test_failed_step_writes_nothing);
	tcase_add_test(tc, test_compact);
	tcase_add_test(tc, test_reset);
	tcase_add_loop_test(tc, test_random_operations_match_model, 0, 8);
	tcase_add_test(tc, test_torn_tail_every_offset);
	tcase_add_test(tc, test_truncation_is_atomic);
	tcase_add_test(tc, test_failed_write_leaves_no_partial_record);
	tcase_add_test(tc, test_flipped_byte_in_middle_record);
	tcase_add_test(tc, test_zeroed_middle_record_is_corruption);
	tcase_add_test(tc, test_missing_segment);
	tcase_add_test(tc, test_gap_and_version);
	tcase_add_test(tc, test_falling_term_is_corruption);
	tcase_add_test(tc, test_truncation_forgets_the_term);
#ifndef NDEBUG
	/* Only in a child process: the test ends in abort(). */
	if (getenv("CK_FORK") == NULL || strcmp(getenv("CK_FORK"), "no") != 0) {
		tcase_add_test_raise_signal(
		    tc, test_append_falling_term_asserts, SIGABRT);
		tcase_add_test_raise_signal(
		    tc, test_append_after_recovery_falling_term_asserts,
		    SIGABRT);
	}
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
