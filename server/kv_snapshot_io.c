/* kv_snapshot_io.c - kvd's snapshots through a file descriptor: the
 * kvdraft_app callbacks that write and check them (see kv_snapshot_io.h).
 */
#include "kv_snapshot_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "util.h"

#include "kv.h"
#include "kv_app.h"

/* The path through which LMDB opens a file the node handed over by
 * descriptor. */
static void fd_path(int fd, char *out, size_t cap)
{
	snprintf(out, cap, "/proc/self/fd/%d", fd);
}

/* Runs on the node's snapshot thread beside the loop's applies:
 * kv_snapshot_fd() reads the store through one LMDB read transaction
 * (MDB_NOTLS), and the index and term are read back from the copy itself,
 * never from the handle's counters, which move on meanwhile. */
int kv_snapshot_write_fd(void *ctx, int fd, raft_index *index, raft_term *term,
			 char *err, size_t errlen)
{
	struct kv_app *a = ctx;
	char p[64];
	if (kv_snapshot_fd(a->kv, fd, err, errlen) != 0)
		return -1;
	fd_path(fd, p, sizeof(p));
	return kv_snapshot_info(p, index, term, err, errlen) == 0 ? 0 : -1;
}

int kv_snapshot_check_fd(void *ctx, int fd, raft_index *index, raft_term *term,
			 char *err, size_t errlen)
{
	(void)ctx;
	char p[64];
	fd_path(fd, p, sizeof(p));
	return kv_snapshot_info(p, index, term, err, errlen) == 0 ? 0 : -1;
}

/* A copy's step: the writeback of each is started as it is written, and
 * that of the one DURABLE_WRITEBACK_LAG earlier waited for (the members'
 * WAL syncs share the disk with an install's copy of the whole store). */
#define COPY_STEP ((size_t)4 << 20)

/* Copies from @in at @at to @out in the kernel (copy_file_range: no
 * copy through this process, and on a file system that shares extents no
 * data copied at all). Returns 1 when done, 0 when the kernel or file
 * system cannot (the caller copies by hand from *@at), -1 on an error. */
static int copy_in_kernel(int in, int out, off_t *at)
{
	for (;;) {
		off_t from = *at;
		ssize_t n = copy_file_range(in, &from, out, NULL, COPY_STEP, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EXDEV || errno == ENOSYS ||
				       errno == EINVAL || errno == EOPNOTSUPP ||
				       errno == EBADF
				   ? 0
				   : -1;
		if (n == 0)
			return 1;
		durable_pace_writeback(out, (uint64_t)*at, (uint64_t)n);
		*at += n;
	}
}

int kv_copy_fd_to_file(int in, const char *dst, char *err, size_t errlen)
{
	unlink(dst);
	int out = durable_create_file(dst);
	off_t at = 0;
	int done = out < 0 ? -1 : copy_in_kernel(in, out, &at);
	char *buf = done == 0 ? malloc(COPY_STEP) : NULL;
	int rc = done < 0 || (done == 0 && buf == NULL) ? -1 : 0;
	while (rc == 0 && done == 0) {
		ssize_t got = pread(in, buf, COPY_STEP, at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -1 : 0;
			break;
		}
		at += got;
		for (ssize_t off = 0; off < got && rc == 0;) {
			ssize_t w = write(out, buf + off, (size_t)(got - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				rc = -1;
			else
				off += w;
		}
		if (rc == 0)
			durable_pace_writeback(out, (uint64_t)(at - got),
					       (uint64_t)got);
	}
	int e = errno;
	free(buf);
	if (out >= 0 && (fsync(out) != 0 || close(out) != 0) && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(dst);
		return util_fail(err, errlen, "copying to %s: %s", dst,
				 strerror(e));
	}
	return 0;
}
