/* secret.c - constant-time comparison of secrets. */
#include "secret.h"

#include <string.h>

bool secret_equal(const char *got, const char *want, size_t want_len)
{
	size_t got_len = strlen(got);
	unsigned char diff = got_len != want_len;

	for (size_t i = 0; i < want_len; i++) {
		/* Past the end of a short guess, compare a NUL: the loop
		 * still runs want_len times. */
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;

		diff |= g ^ (unsigned char)want[i];
	}
	return diff == 0;
}
