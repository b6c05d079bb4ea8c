/* test_main.c - runs the core's unit test suites. */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_add_suite(sr, progress_suite());
	srunner_add_suite(sr, step_suite());
	srunner_add_suite(sr, features_suite());
	srunner_add_suite(sr, snapshot_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, lone_voter_suite());
	srunner_add_suite(sr, range_suite());
	srunner_add_suite(sr, reads_suite());
	srunner_add_suite(sr, lease_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
