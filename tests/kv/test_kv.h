/* test_kv.h - helpers shared by the kv test files. */
#ifndef TEST_KV_H_
#define TEST_KV_H_

#include <check.h>
#include <stdint.h>

Suite *kv_codec_suite(void);
Suite *kv_store_suite(void);
Suite *kv_txn_codec_suite(void);
Suite *kv_apply_suite(void);
Suite *kv_clients_suite(void);
Suite *kv_auth_suite(void);

/* The seed of the random cases: $KV_TEST_SEED or a fixed default; printed
 * by main() so a failure can be replayed. */
uint64_t test_seed(void);

/* splitmix64: deterministic for a given seed. */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

#endif /* TEST_KV_H_ */
