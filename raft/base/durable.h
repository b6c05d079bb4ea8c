/* durable.h - making names on disk survive a crash, creating files
 * that no one else can read or redirect, and writing large files back at
 * the disk's pace. */
#ifndef RAFT_BASE_DURABLE_H_
#define RAFT_BASE_DURABLE_H_

/* fsyncs directory @dir, so that the names created, renamed or removed in
 * it are durable (a file's own fsync does not cover its name). Returns 0,
 * or -1 with errno set. */
int durable_sync_dir(const char *dir);

/* fsyncs the directory that holds @path (a file or a directory; trailing
 * slashes ignored; "." for a name without one). Returns 0, or -1 with
 * errno set. */
int durable_sync_parent(const char *path);

/* Creates @path for writing, mode 0600, as a new file: whatever already
 * has that name (a leftover of a crash, or a symlink planted there) is
 * removed first, and the file is then made with O_CREAT | O_EXCL |
 * O_NOFOLLOW, so a name that reappears in between makes the call fail
 * instead of being followed. For guessable temp names ("X.tmp").
 * Returns the descriptor (O_CLOEXEC), or -1 with errno set. */
int durable_create_file(const char *path);

/* mkdir -p @path, with mode 0700 for what it creates. Returns 0, or -1
 * with errno set (ENOTDIR when @path exists and is not a directory). */
int durable_make_dirs(const char *path);

#include <stdint.h>

/* For a large file written front to back beside latency-bound writers on
 * the same disk (the members' WAL fdatasyncs): starts the writeback of
 * [@off, @off + @len) of @fd now, instead of when the kernel's dirty
 * limits force gigabytes out at once, and waits for that of the range
 * DURABLE_WRITEBACK_LAG bytes earlier, so that the disk's queue holds at
 * most about that much of this file and the writer goes at the disk's
 * pace. No durability: the file still needs its fsync. Errors are
 * ignored (a file system without the call just writes back later). */
#define DURABLE_WRITEBACK_LAG ((uint64_t)8 << 20)
void durable_pace_writeback(int fd, uint64_t off, uint64_t len);

#endif /* RAFT_BASE_DURABLE_H_ */
