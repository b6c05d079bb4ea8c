/* members_file.h - the member list as this member knows it, and its
 * durable record, the file members.json in the data directory.
 *
 * members.json is written on first boot from --initial-cluster, then again
 * for each configuration applied here (member_config.h), so a restart knows
 * its peers without the flag. Client URLs are not stored:
 * peers announce them (X-Kvd-Client-URL) and they are learned at run time.
 */
#ifndef SERVER_MEMBERS_FILE_H_
#define SERVER_MEMBERS_FILE_H_

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define MEMBERS_FILE "members.json"

struct member {
	uint64_t id;
	char peer_url[CONFIG_URL_MAX];
	char client_url[CONFIG_URL_MAX]; /* "" until learned */
	int voter;
};

struct members {
	struct member m[CONFIG_MEMBERS_MAX];
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

/* @ms as the public API shows it (GET /v1/members, /v1/status): an array
 * of {"id", "peer_url", "client_url", "voter"}. A new reference, which the
 * caller owns (json_pack's "o" takes it over). */
json_t *members_json(const struct members *ms);

/* The member with @id, or NULL. */
struct member *members_find(struct members *ms, uint64_t id);

#endif /* SERVER_MEMBERS_FILE_H_ */
