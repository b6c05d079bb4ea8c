/* util.c - small helpers shared by the server's modules. */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"

int util_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int util_write_file(const char *path, const void *data, size_t len, char *err,
		    size_t errlen)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return util_fail(err, errlen, "%s: name too long", path);
	int fd = durable_create_file(tmp);
	if (fd < 0)
		return util_fail(err, errlen, "cannot create %s: %s", tmp,
				 strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			util_fail(err, errlen, "cannot write %s: %s", tmp,
				  strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		util_fail(err, errlen, "cannot sync %s: %s", tmp,
			  strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		util_fail(err, errlen, "cannot rename %s: %s", tmp,
			  strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename is durable only once the directory is synced. */
	if (durable_sync_parent(path) != 0)
		return util_fail(err, errlen,
				 "cannot sync the directory of %s: %s", path,
				 strerror(errno));
	return 0;
}
