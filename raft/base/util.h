/* util.h - small helpers shared by the server's modules. */
#ifndef SERVER_UTIL_H_
#define SERVER_UTIL_H_

#include <stddef.h>

/* Formats one error line into @err (@errlen bytes; nothing when @err is
 * NULL or @errlen is 0) and returns -1, so that a failing path reads
 * "return util_fail(err, errlen, ...)". */
int util_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes @len bytes of @data to @path durably and atomically: a new file
 * "@path.tmp" (mode 0600, made by durable_create_file()), fsync, rename
 * over @path, fsync of the directory. Afterwards @path holds either the
 * old contents or all of the new, across a crash at any point. Returns 0,
 * or -1 with one line in @err (the temporary file removed when it was
 * made). @path must be shorter than PATH_MAX - 4. */
int util_write_file(const char *path, const void *data, size_t len, char *err,
		    size_t errlen);

#endif /* SERVER_UTIL_H_ */
