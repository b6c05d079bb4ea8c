/* durable.h - making names on disk survive a crash, and creating files
 * that no one else can read or redirect. */
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

#endif /* RAFT_BASE_DURABLE_H_ */
