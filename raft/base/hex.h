/* hex.h - bytes as lower-case hex text and back, for binary values carried
 * in HTTP headers. */
#ifndef RAFT_BASE_HEX_H_
#define RAFT_BASE_HEX_H_

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of @len bytes at @p into a new string (malloc'd; NULL:
 * out of memory). */
char *hex_encode(const uint8_t *p, size_t len);

/* Decodes the hex text @s (either case) into a new buffer *@out of *@len
 * bytes (malloc'd). Returns 0, or -1 for an odd length, a non-hex digit,
 * more than @max bytes, or no memory (*@out untouched). */
int hex_decode(const char *s, size_t max, uint8_t **out, size_t *len);

#endif /* RAFT_BASE_HEX_H_ */
