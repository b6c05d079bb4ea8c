/* file_modes.c - startup checks of the data dir's and the token file's
 * modes (see file_modes.h). */
#include "file_modes.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Permission bits for anyone but the owner. */
#define NOT_OWNER (S_IRWXG | S_IRWXO)

static void check_data_dir(const char *dir)
{
	/* One descriptor for the look and the change: the mode checked is
	 * the mode of the directory changed, whatever renames happen. */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return; /* missing (created 0700 later) or unusable: node_open
			 * says why */
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & NOT_OWNER) != 0) {
		unsigned mode = (unsigned)(st.st_mode & 07777);
		if (fchmod(fd, 0700) == 0)
			log_warn("data dir %s had mode %04o (others than its "
				 "owner could reach it): changed to 0700",
				 dir, mode);
		else
			log_warn("data dir %s has mode %04o (others than its "
				 "owner can reach it) and cannot be changed "
				 "to 0700: %s",
				 dir, mode, strerror(errno));
	}
	close(fd);
}

static void check_token_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || (st.st_mode & NOT_OWNER) == 0)
		return;
	log_warn("--peer-token-file %s has mode %04o: others than its owner "
		 "can read or change the token; make it 0600",
		 path, (unsigned)(st.st_mode & 07777));
}

void file_modes_check(const char *data_dir, const char *token_file)
{
	if (data_dir != NULL)
		check_data_dir(data_dir);
	if (token_file != NULL)
		check_token_file(token_file);
}
