/* util.h - small helpers shared by the server's modules. */
#ifndef SERVER_UTIL_H_
#define SERVER_UTIL_H_

#include <stddef.h>

/* Formats one error line into @err (@errlen bytes; nothing when @err is
 * NULL or @errlen is 0) and returns -1, so that a failing path reads
 * "return util_fail(err, errlen, ...)". */
int util_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Seconds on the monotonic clock: for durations and deadlines. */
double util_now_seconds(void);

/* Creates @path for writing, mode 0600, as a new file: whatever already
 * has that name (a leftover of a crash, or a symlink planted there) is
 * removed first, and the file is then made with O_CREAT | O_EXCL |
 * O_NOFOLLOW, so a name that reappears in between makes the call fail
 * instead of being followed. For kvd's guessable temp names ("X.tmp").
 * Returns the descriptor (O_CLOEXEC), or -1 with errno set. */
int util_create_file(const char *path);

#endif /* SERVER_UTIL_H_ */
