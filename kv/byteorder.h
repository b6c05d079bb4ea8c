/* byteorder.h - byte-order helpers internal to kv/. */
#ifndef KV_BYTEORDER_H_
#define KV_BYTEORDER_H_

#include <stdint.h>

/* Little-endian fields (command codec, LMDB values) use frame.h's helpers,
 * the one copy for every codec of the project. */
#include "frame.h"

/* Big-endian, for LMDB keys that must sort numerically. */
static inline void be_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t be_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif /* KV_BYTEORDER_H_ */
