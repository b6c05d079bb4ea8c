/* util.h - small helpers shared by the server's modules. */
#ifndef SERVER_UTIL_H_
#define SERVER_UTIL_H_

#include <stddef.h>

/* Formats one error line into @err (@errlen bytes; nothing when @err is
 * NULL or @errlen is 0) and returns -1, so that a failing path reads
 * "return util_fail(err, errlen, ...)". */
int util_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* SERVER_UTIL_H_ */
