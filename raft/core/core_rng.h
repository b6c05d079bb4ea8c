/* core_rng.h - the core's only source of randomness: a seeded xoshiro256**. */
#ifndef RAFT_CORE_RNG_H_
#define RAFT_CORE_RNG_H_

#include <stdint.h>

struct raft_rng {
	uint64_t s[4];
};

/* Seeds the generator; the same seed gives the same sequence. */
void raft__rng_seed(struct raft_rng *g, uint64_t seed);

uint64_t raft__rng_next(struct raft_rng *g);

/* A value in [0, @n), @n > 0. */
uint64_t raft__rng_below(struct raft_rng *g, uint64_t n);

#endif /* RAFT_CORE_RNG_H_ */
