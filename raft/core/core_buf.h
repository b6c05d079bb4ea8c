/* core_buf.h - reference-counted payload buffers shared by log and messages. */
#ifndef RAFT_CORE_BUF_H_
#define RAFT_CORE_BUF_H_

#include <stddef.h>
#include <stdint.h>

#include "entry.h"

/* An entry's payload lives in one buffer that the in-memory log and every
 * outgoing message carrying the entry share, so that replicating an entry
 * to N peers does not copy it N times. The core is single-threaded, so the
 * count is a plain integer. */

/* Copies @len bytes of @data into a new buffer with one reference and
 * stores its payload pointer in *@out (NULL when @len is 0). Returns 0, or
 * -1 when out of memory. */
int raft__buf_new(const void *data, size_t len, uint8_t **out);

/* Takes one more reference on the buffer holding @p (NULL allowed). */
void raft__buf_ref(uint8_t *p);

/* Drops one reference; the buffer is freed with the last one. */
void raft__buf_unref(uint8_t *p);

/* Fills *@dst with @src, sharing (and referencing) its payload. */
void raft__entry_share(struct raft_entry *dst, const struct raft_entry *src);

/* Fills *@dst with @src and a private copy of its payload. Returns 0 or -1
 * when out of memory. */
int raft__entry_copy(struct raft_entry *dst, const struct raft_entry *src);

#endif /* RAFT_CORE_BUF_H_ */
