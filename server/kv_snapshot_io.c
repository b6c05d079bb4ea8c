/* kv_snapshot_io.c - kvd's snapshots through a file descriptor: the
 * kvdraft_app callbacks that write and check them (see kv_snapshot_io.h).
 */
#include "kv_snapshot_io.h"

#include <stdio.h>

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
