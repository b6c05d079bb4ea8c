/* crc32c_file.c - the CRC-32C of a whole file, read in bounded chunks (see
 * crc32c.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"

/* Bytes read at a time when checksumming: bounded memory for any size. */
#define CRC_CHUNK (1u << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int crc32c_file(const char *path, uint64_t *size, uint32_t *crc, char *err,
		size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open %s: %s", path,
			    strerror(errno));
	uint8_t *buf = malloc(CRC_CHUNK);
	if (buf == NULL) {
		close(fd);
		return fail(err, errlen, "out of memory");
	}
	uint64_t total = 0;
	uint32_t c = 0;
	int rv = 0;
	for (;;) {
		ssize_t got = read(fd, buf, CRC_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rv = fail(err, errlen, "cannot read %s: %s", path,
				  strerror(errno));
			break;
		}
		if (got == 0)
			break;
		c = crc32c(c, buf, (size_t)got);
		total += (uint64_t)got;
	}
	free(buf);
	close(fd);
	if (rv == 0) {
		*size = total;
		*crc = c;
	}
	return rv;
}
