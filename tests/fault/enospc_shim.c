/* enospc_shim.c - LD_PRELOAD library that makes writes fail with ENOSPC. */

/*
 * While the file named by $KVD_ENOSPC_FLAG exists, every write-like call
 * (write, pwrite, writev, pwritev, fallocate, posix_fallocate) on a file
 * whose path contains $KVD_ENOSPC_MATCH fails with ENOSPC, as on a full
 * disk; once the flag file is removed, they work again. Sockets and pipes
 * are never matched (their /proc/self/fd link is not a path), so the
 * process keeps talking to the network. Used by tests/fault/disk to fill
 * up only the WAL: on a real full disk LMDB and the WAL's next
 * preallocation step fail together, and this shows the WAL's own handling
 * alone.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether a write on fd must fail now; keeps errno unchanged. */
static int shim_full(int fd)
{
	const char *flag = getenv("KVD_ENOSPC_FLAG");
	const char *match = getenv("KVD_ENOSPC_MATCH");
	char link[64];
	char path[4096];
	ssize_t n;
	int saved = errno;
	int full = 0;

	if (flag == NULL || match == NULL || fd < 0)
		return 0;
	if (access(flag, F_OK) != 0)
		goto out;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		goto out;
	path[n] = '\0';
	full = path[0] == '/' && strstr(path, match) != NULL;
out:
	errno = saved;
	return full;
}

/* Looks up the next definition of a symbol (the C library's). */
static void *shim_next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		fprintf(stderr, "enospc_shim: no %s\n", name);
		abort();
	}
	return p;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static ssize_t (*next)(int, const void *, size_t);

	if (shim_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (next == NULL)
		next =
		    (ssize_t(*)(int, const void *, size_t))shim_next("write");
	return next(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	static ssize_t (*next)(int, const void *, size_t, off_t);

	if (shim_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (next == NULL)
		next = (ssize_t(*)(int, const void *, size_t, off_t))shim_next(
		    "pwrite");
	return next(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	return pwrite(fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	static ssize_t (*next)(int, const struct iovec *, int);

	if (shim_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (next == NULL)
		next = (ssize_t(*)(int, const struct iovec *, int))shim_next(
		    "writev");
	return next(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	static ssize_t (*next)(int, const struct iovec *, int, off_t);

	if (shim_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (next == NULL)
		next = (ssize_t(*)(int, const struct iovec *, int,
				   off_t))shim_next("pwritev");
	return next(fd, iov, cnt, off);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	static int (*next)(int, int, off_t, off_t);

	if (shim_full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (next == NULL)
		next = (int (*)(int, int, off_t, off_t))shim_next("fallocate");
	return next(fd, mode, off, len);
}

/* posix_fallocate returns the error number instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
	static int (*next)(int, off_t, off_t);

	if (shim_full(fd))
		return ENOSPC;
	if (next == NULL)
		next = (int (*)(int, off_t, off_t))shim_next("posix_fallocate");
	return next(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}
