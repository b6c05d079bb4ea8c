/* secret.h - comparing secrets (peer tokens) without leaking, through
 * the time a comparison takes, how much of a guess was right. */
#ifndef RAFT_BASE_SECRET_H_
#define RAFT_BASE_SECRET_H_

#include <stdbool.h>
#include <stddef.h>

/* Whether NUL-terminated @got equals @want (@want_len bytes). The time
 * depends on @want_len only: no early exit at the first wrong byte, and a
 * wrong length is found by the same loop. */
bool secret_equal(const char *got, const char *want, size_t want_len);

#endif /* RAFT_BASE_SECRET_H_ */
