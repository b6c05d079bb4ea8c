/* file_modes.h - startup checks of who may reach kvd's data dir and its
 * peer token file. */
#ifndef SERVER_FILE_MODES_H_
#define SERVER_FILE_MODES_H_

/* Run once at startup, after log_init() and before the data dir is used.
 *
 * An existing @data_dir that its group or others may read, write or enter
 * is logged (one warning naming it and its mode) and tightened to 0700:
 * everything kvd writes is 0600 under 0700 directories, and files written
 * by an older kvd (WAL segments were 0644) are private again once the dir
 * is. A dir kvd may not chmod (another owner) is only warned about. A
 * missing dir is left to node_open(), which creates it 0700.
 *
 * A @token_file (NULL: none) that its group or others may read or write is
 * a warning (name and mode, never the content); kvd does not change it. */
void file_modes_check(const char *data_dir, const char *token_file);

#endif /* SERVER_FILE_MODES_H_ */
