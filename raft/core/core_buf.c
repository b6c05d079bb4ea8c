/* core_buf.c - reference-counted payload buffers shared by log and messages. */
#include "core_buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	size_t refs;
	_Alignas(max_align_t) uint8_t bytes[];
};

static struct buf *buf_of(uint8_t *p)
{
	return (struct buf *)(void *)(p - offsetof(struct buf, bytes));
}

int raft__buf_new(const void *data, size_t len, uint8_t **out)
{
	struct buf *b;

	*out = NULL;
	if (len == 0)
		return 0;
	if (len > SIZE_MAX - sizeof(*b))
		return -1;
	b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return -1;
	b->refs = 1;
	memcpy(b->bytes, data, len);
	*out = b->bytes;
	return 0;
}

void raft__buf_ref(uint8_t *p)
{
	if (p == NULL)
		return;
	buf_of(p)->refs++;
}

void raft__buf_unref(uint8_t *p)
{
	struct buf *b;

	if (p == NULL)
		return;
	b = buf_of(p);
	assert(b->refs > 0);
	if (--b->refs == 0)
		free(b);
}

void raft__entry_share(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	raft__buf_ref(dst->data);
}

int raft__entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	if (src->len > 0 && src->data == NULL)
		return -1;
	return raft__buf_new(src->data, src->len, &dst->data);
}
