/* test_main.c - runs the unit tests of the driver's plans (raft/node). */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(ready_plan_suite());
	int failed;

	srunner_add_suite(sr, recovery_plan_suite());
	srunner_add_suite(sr, snap_protect_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
