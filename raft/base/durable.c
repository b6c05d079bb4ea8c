/* durable.c - directory fsyncs, exclusive file creation, paced writeback. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int durable_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, e;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int durable_sync_parent(const char *path)
{
	size_t n = strlen(path);
	char *parent;
	int rc, e;

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	/* n == 0: a relative name without a slash, whose parent is ".". */
	parent = n == 0 ? strdup(".") : strndup(path, n);
	if (parent == NULL)
		return -1;
	rc = durable_sync_dir(parent);
	e = errno;
	free(parent);
	errno = e;
	return rc;
}

int durable_create_file(const char *path)
{
	/* unlink() removes a symlink itself, never what it points to. */
	if (unlink(path) != 0 && errno != ENOENT)
		return -1;
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
}

int durable_make_dirs(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);
	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

void durable_pace_writeback(int fd, uint64_t off, uint64_t len)
{
	(void)sync_file_range(fd, (off64_t)off, (off64_t)len,
			      SYNC_FILE_RANGE_WRITE);
	if (off >= DURABLE_WRITEBACK_LAG)
		(void)sync_file_range(fd, (off64_t)(off - DURABLE_WRITEBACK_LAG),
				      (off64_t)len,
				      SYNC_FILE_RANGE_WAIT_BEFORE |
					  SYNC_FILE_RANGE_WRITE |
					  SYNC_FILE_RANGE_WAIT_AFTER);
}
