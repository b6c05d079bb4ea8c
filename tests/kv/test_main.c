/* test_main.c - runs the kv suites (codec, key validation, LMDB store,
 * transactions and leases, the exactly-once byte cap, tokens). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_kv.h"

uint64_t test_seed(void)
{
	const char *s = getenv("KV_TEST_SEED");

	return s != NULL ? strtoull(s, NULL, 0) : 0x6b7673656564ull;
}

int main(void)
{
	SRunner *sr = srunner_create(kv_codec_suite());
	int failed;

	srunner_add_suite(sr, kv_store_suite());
	srunner_add_suite(sr, kv_txn_codec_suite());
	srunner_add_suite(sr, kv_apply_suite());
	srunner_add_suite(sr, kv_clients_suite());
	srunner_add_suite(sr, kv_auth_suite());
	printf("kv tests: seed %llu (set KV_TEST_SEED to replay)\n",
	       (unsigned long long)test_seed());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
