/* hexname.h - file names that carry a number as 16 hex digits
 * ("wal-<16 hex>.log", "snap-<16 hex>.snap"): the one parser of them. */
#ifndef RAFT_BASE_HEXNAME_H_
#define RAFT_BASE_HEXNAME_H_

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Digits in a name: a uint64_t written with "%016" PRIx64. */
#define HEXNAME_DIGITS 16

/* Whether @name is exactly @prefix, 16 lowercase hex digits, @suffix (as
 * printed with "%016" PRIx64, so that every number has one name and names
 * sort as their numbers do); if so *@out is the number. Anything else
 * (upper case, fewer or more digits, other text) is not such a name. */
static inline bool hexname_parse(const char *name, const char *prefix,
				 const char *suffix, uint64_t *out)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	uint64_t v = 0;

	if (strlen(name) != pl + HEXNAME_DIGITS + sl ||
	    strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + pl + HEXNAME_DIGITS, suffix) != 0)
		return false;
	for (size_t i = pl; i < pl + HEXNAME_DIGITS; i++) {
		char c = name[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

#endif /* RAFT_BASE_HEXNAME_H_ */
