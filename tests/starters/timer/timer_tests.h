/* timer_tests.h — the test cases of the timer starter, by file. */
#ifndef TIMER_TESTS_H
#define TIMER_TESTS_H

#include <check.h>

void timer_cron_tests(Suite *s);     /* test_timer_cron.c: parser, next times */
void timer_run_tests(Suite *s);      /* test_timer_run.c: ticks, pauses, overlaps, failures */
void timer_durable_tests(Suite *s);  /* test_timer_durable.c: upgrades, restarts */
void timer_module_tests(Suite *s);   /* test_timer_module.c: slots, bind/unbind, admin */
void timer_config_tests(Suite *s);   /* test_timer_config.c: malformed configurations */

#endif
