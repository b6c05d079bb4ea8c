/* core_rng.c - seeded xoshiro256** with splitmix64 seeding. */
#include "core_rng.h"

#include <assert.h>

/* splitmix64 spreads one 64-bit seed over the 256-bit state, so that
 * nearby seeds (1, 2, 3 ...) still give unrelated sequences. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void raft__rng_seed(struct raft_rng *g, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

uint64_t raft__rng_next(struct raft_rng *g)
{
	uint64_t *s = g->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t raft__rng_below(struct raft_rng *g, uint64_t n)
{
	uint64_t limit, x;

	assert(n > 0);
	/* Rejection sampling keeps the result uniform. */
	limit = UINT64_MAX - UINT64_MAX % n;
	do {
		x = raft__rng_next(g);
	} while (x >= limit);
	return x % n;
}
