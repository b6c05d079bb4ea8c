/* suites.h - the Check suites of the driver's plans (raft/node). */
#ifndef TESTS_PLAN_SUITES_H_
#define TESTS_PLAN_SUITES_H_

#include <check.h>

Suite *ready_plan_suite(void);
Suite *recovery_plan_suite(void);
Suite *snap_protect_suite(void);

#endif /* TESTS_PLAN_SUITES_H_ */
