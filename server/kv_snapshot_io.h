/* kv_snapshot_io.h - kvd's snapshot callbacks (struct kvdraft_app): a
 * snapshot of the store written to, or checked from, a file descriptor.
 * They need no node, so the snapshot file tests use them directly; and the
 * copy of a snapshot file into the store's directory.
 */
#ifndef SERVER_KV_SNAPSHOT_IO_H_
#define SERVER_KV_SNAPSHOT_IO_H_

#include <stddef.h>

#include "raft.h"

/* snapshot_write: a compacted copy of the store of @ctx (a struct kv_app)
 * into @fd, and the index and term the copy holds. 0 or -1 with @err. */
int kv_snapshot_write_fd(void *ctx, int fd, raft_index *index, raft_term *term,
			 char *err, size_t errlen);

/* snapshot_check: whether @fd holds a store snapshot, and its index and
 * term. 0 or -1 with @err. */
int kv_snapshot_check_fd(void *ctx, int fd, raft_index *index, raft_term *term,
			 char *err, size_t errlen);

/* Copies the file open at @in (from its start; @in's offset is not used)
 * to the new file @dst (mode 0600, O_EXCL | O_NOFOLLOW: a leftover @dst,
 * or a link planted there, is removed first) and fsyncs it: a received
 * snapshot or a --restore file on its way into the store. 0, or -1 with
 * @err (nothing left behind). */
int kv_copy_fd_to_file(int in, const char *dst, char *err, size_t errlen);

#endif /* SERVER_KV_SNAPSHOT_IO_H_ */
