/* members_file.h - the member list as this member knows it, and its
 * durable record, the file members.json in the data directory.
 *
 * members.json is written on first boot from --initial-cluster, then again
 * for each configuration applied here (member_config.h), so a restart knows
 * its peers without the flag. Client URLs are not stored:
 * peers announce them (X-Kvd-Client-URL) and they are learned at run time.
 */
#ifndef RAFT_NODE_MEMBERS_FILE_H_
#define RAFT_NODE_MEMBERS_FILE_H_

#include <stddef.h>
#include <stdint.h>

#include "node_config.h"

#define MEMBERS_FILE "members.json"

struct member {
	uint64_t id;
	char peer_url[NODE_URL_MAX];
	char client_url[NODE_URL_MAX]; /* "" until learned */
	int voter;
};

struct members {
	struct member m[NODE_MEMBERS_MAX];
	size_t n;
};

/* Reads @dir/members.json into @out. Returns 1 when loaded, 0 when the file
 * does not exist, -1 on any other error (one line in @err). */
int members_load(const char *dir, struct members *out, char *err,
		 size_t errlen);

/* Writes @ms to @dir/members.json atomically and durably: a temporary
 * file, fsync, rename, fsync of the directory. Returns 0 or -1 (@err). */
int members_store(const char *dir, const struct members *ms, char *err,
		  size_t errlen);

/* The member with @id, or NULL. */
struct member *members_find(struct members *ms, uint64_t id);

#endif /* RAFT_NODE_MEMBERS_FILE_H_ */
