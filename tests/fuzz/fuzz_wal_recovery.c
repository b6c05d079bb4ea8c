/* fuzz_wal_recovery.c - libFuzzer target for WAL recovery (wal_open() on
 * arbitrary segment files, raft/wal/wal.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input layout: one mode byte, then the segment files' contents separated
 * by SEPARATOR (the seed generator writes the same layout).
 *   mode 0x01  rewrite frame checksums (fuzz_common.h)
 *   mode 0x06  first segment's sequence number - 1 (0..3)
 *   mode 0x08  the last piece is a leftover "<name>.log.tmp" file
 *   mode 0x10  an unrelated file sits in the directory too
 *   mode 0x20  one sequence number is skipped after the first segment */
#define SEPARATOR     "WSEG"
#define SEPARATOR_LEN 4
#define MAX_FILES     8

struct piece {
	char name[64];
	const uint8_t *p;
	size_t len;
	int is_segment;
	int deleted_ok; /* recovery may delete it */
};

static char dir[256];
static int log_lines;

static void remove_dir_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	FUZZ_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			FUZZ_CHECK(unlinkat(dirfd(d), de->d_name, 0) == 0);
	}
	closedir(d);
}

static void cleanup(void)
{
	if (dir[0]) {
		remove_dir_files();
		rmdir(dir);
	}
}

static void setup(void)
{
	/* KVD_FUZZ_TMPDIR: set by tests/fuzz/run to a directory it removes
	 * afterwards, crash or not. */
	const char *bases[] = {getenv("KVD_FUZZ_TMPDIR"), "/dev/shm",
			       getenv("TMPDIR"), "/tmp"};

	if (dir[0])
		return;
	for (size_t i = 0; i < 4 && !dir[0]; i++) {
		if (bases[i] == NULL)
			continue;
		snprintf(dir, sizeof(dir), "%s/kvd-fuzz-wal-XXXXXX", bases[i]);
		if (mkdtemp(dir) == NULL)
			dir[0] = 0;
	}
	FUZZ_CHECK(dir[0] != 0);
	atexit(cleanup);
}

static void count_log(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
	log_lines++;
}

static void write_file(const char *name, const uint8_t *p, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, p, len) == (ssize_t)len);
	close(fd);
}

/* 1: the file holds exactly @p; 0: it differs; -1: it is gone. */
static int file_equals(const char *name, const uint8_t *p, size_t len)
{
	char path[512];
	struct stat st;
	uint8_t *buf;
	int fd, same;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		FUZZ_CHECK(errno == ENOENT);
		return -1;
	}
	FUZZ_CHECK(fstat(fd, &st) == 0);
	if ((size_t)st.st_size != len) {
		close(fd);
		return 0;
	}
	buf = malloc(len + 1);
	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(read(fd, buf, len) == (ssize_t)len);
	same = memcmp(buf, p, len) == 0;
	free(buf);
	close(fd);
	return same;
}

static const struct wal_options opts = {
    .segment_bytes = 4096, /* the smallest: cheap segment creation */
    .max_entry_bytes = 1 << 16,
    .log = count_log,
};

/* Everything the log claims to hold can be read back, and nothing else. */
static void read_all(struct wal *w, raft_index first, raft_index last)
{
	struct raft_entry *es = NULL;
	size_t n = 0;
	char err[512];

	if (last >= first) {
		int rc = wal_read(w, first, last, &es, &n, err, sizeof(err));
		if (rc != 0)
			fprintf(stderr,
				"wal_read [%" PRIu64 ", %" PRIu64 "]: %s\n",
				first, last, err);
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(n == last - first + 1);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(es[i].index == first + i);
			FUZZ_CHECK(es[i].type >= 1 && es[i].type <= 3);
			FUZZ_CHECK(es[i].len <= opts.max_entry_bytes);
			FUZZ_CHECK(es[i].len == 0 || es[i].data != NULL);
		}
		wal_free_entries(es, n);
	}
	/* Outside the range: an error, never data. */
	es = NULL;
	n = 0;
	FUZZ_CHECK(wal_read(w, last + 1, last + 1, &es, &n, err, sizeof(err)) !=
		   0);
	if (first > 1)
		FUZZ_CHECK(wal_read(w, first - 1, first - 1, &es, &n, err,
				    sizeof(err)) != 0);
}

/* After a successful recovery the WAL works: one more entry is appended,
 * synced, and a second recovery finds the same log plus that entry and
 * has nothing left to repair. */
static void append_and_reopen(struct wal *w, const uint8_t *data, size_t size)
{
	struct wal_hard_state hs, hs2;
	raft_index first = wal_first_index(w), last = wal_last_index(w);
	uint8_t payload[8] = {0};
	struct raft_entry e = {
	    .type = RAFT_ENTRY_NORMAL, .len = sizeof(payload), .data = payload};
	struct raft_entry *back = NULL;
	size_t n = 0;
	char err[512];
	int rc;

	memcpy(payload, data, size < 8 ? size : 8);
	wal_hard_state(w, &hs);
	e.index = last + 1;
	e.term = hs.term + 1;
	/* Terms never go down in a log (the WAL asserts it on append and
	 * recovery refuses a log where they do): the new entry's term is at
	 * least the last one's, which a crafted log may set above the hard
	 * state's. */
	if (last >= first) {
		FUZZ_CHECK(
		    wal_read(w, last, last, &back, &n, err, sizeof(err)) == 0 &&
		    n == 1);
		if (back[0].term > e.term)
			e.term = back[0].term;
		wal_free_entries(back, n);
		back = NULL;
		n = 0;
	}
	if (last >= WAL_MAX_INDEX) {
		/* The index space is used up: refused, never wrapped. */
		FUZZ_CHECK(wal_append(w, &e, 1, err, sizeof(err)) ==
			   WAL_EINVAL);
		wal_close(w);
		return;
	}
	rc = wal_append(w, &e, 1, err, sizeof(err));
	if (rc == 0)
		rc = wal_sync(w, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "append after recovery: %s\n", err);
	FUZZ_CHECK(rc == 0);
	wal_close(w);

	log_lines = 0;
	w = NULL;
	rc = wal_open(dir, &opts, &w, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "second recovery: %s\n", err);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(log_lines == 0);
	FUZZ_CHECK(wal_first_index(w) == first);
	FUZZ_CHECK(wal_last_index(w) == last + 1);
	wal_hard_state(w, &hs2);
	FUZZ_CHECK(hs2.term == hs.term && hs2.vote == hs.vote &&
		   hs2.commit == hs.commit);
	FUZZ_CHECK(
	    wal_read(w, last + 1, last + 1, &back, &n, err, sizeof(err)) == 0);
	FUZZ_CHECK(n == 1 && back[0].term == e.term && back[0].len == e.len &&
		   memcmp(back[0].data, payload, e.len) == 0);
	wal_free_entries(back, n);
	read_all(w, first, last + 1);
	wal_close(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct piece pieces[MAX_FILES + 1];
	size_t np = 0, off = 1;
	char err[512] = "";
	struct wal *w = NULL;

	if (size == 0)
		return 0;
	setup();
	remove_dir_files();
	uint8_t mode = data[0];
	uint8_t *buf = fuzz_dup(data, size);

	/* Split into segment contents. */
	while (np < MAX_FILES) {
		uint8_t *sep =
		    memmem(buf + off, size - off, SEPARATOR, SEPARATOR_LEN);
		size_t end = sep ? (size_t)(sep - buf) : size;

		pieces[np].p = buf + off;
		pieces[np].len = end - off;
		np++;
		if (sep == NULL)
			break;
		off = end + SEPARATOR_LEN;
	}
	uint64_t seq = 1 + ((mode >> 1) & 3);
	for (size_t i = 0; i < np; i++) {
		struct piece *pc = &pieces[i];
		int tmp = (mode & 0x08) && i + 1 == np && np > 1;

		if (mode & FUZZ_FIX_CRC)
			fuzz_fix_frames((uint8_t *)pc->p, pc->len);
		snprintf(pc->name, sizeof(pc->name), "wal-%016" PRIx64 ".log%s",
			 seq, tmp ? ".tmp" : "");
		pc->is_segment = !tmp;
		pc->deleted_ok = tmp;
		write_file(pc->name, pc->p, pc->len);
		seq += (i == 0 && (mode & 0x20)) ? 2 : 1;
	}
	if (mode & 0x10) {
		struct piece *pc = &pieces[np++];
		snprintf(pc->name, sizeof(pc->name), "wal-1.log");
		pc->p = (const uint8_t *)"not a segment";
		pc->len = 13;
		pc->is_segment = 0;
		pc->deleted_ok = 0;
		write_file(pc->name, pc->p, pc->len);
	}

	log_lines = 0;
	int rc = wal_open(dir, &opts, &w, err, sizeof(err));
	if (rc != 0) {
		/* Refusing is fine; it must say why, and nothing the caller
		 * might want to inspect or repair was changed. */
		FUZZ_CHECK(w == NULL);
		FUZZ_CHECK(rc == WAL_ECORRUPT);
		FUZZ_CHECK(err[0] != 0);
		for (size_t i = 0; i < np; i++) {
			int eq = file_equals(pieces[i].name, pieces[i].p,
					     pieces[i].len);
			FUZZ_CHECK(eq == 1 ||
				   (eq == -1 && pieces[i].deleted_ok));
		}
		free(buf);
		return 0;
	}
	FUZZ_CHECK(w != NULL);
	raft_index first = wal_first_index(w), last = wal_last_index(w);
	FUZZ_CHECK(first >= 1 && first <= last + 1);
	/* Only the last segment may be repaired (a torn tail zeroed); leftover
	 * temporary files and segments older than a reset may be deleted. */
	size_t last_seg = 0;
	for (size_t i = 0; i < np; i++)
		if (pieces[i].is_segment)
			last_seg = i;
	for (size_t i = 0; i < np; i++) {
		int eq =
		    file_equals(pieces[i].name, pieces[i].p, pieces[i].len);
		if (!pieces[i].is_segment) {
			FUZZ_CHECK(eq == 1 ||
				   (eq == -1 && pieces[i].deleted_ok));
			continue;
		}
		if (eq == 1 || i == last_seg)
			continue;
		FUZZ_CHECK(eq == -1); /* deleted: older than a RESET */
	}
	read_all(w, first, last);
	append_and_reopen(w, data, size);
	free(buf);
	return 0;
}
