/* suites.h - the Check suites of the core's unit tests. */
#ifndef TESTS_CORE_SUITES_H_
#define TESTS_CORE_SUITES_H_

#include <check.h>

Suite *log_suite(void);
Suite *progress_suite(void);
Suite *step_suite(void);
Suite *features_suite(void);
Suite *snapshot_suite(void);
Suite *config_suite(void);
Suite *lone_voter_suite(void);
Suite *range_suite(void);
Suite *reads_suite(void);
Suite *lease_suite(void);

#endif /* TESTS_CORE_SUITES_H_ */
