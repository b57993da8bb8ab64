/* The timer starter's tests: one Check suite, cases in test_timer_*.c. */
#include <check.h>
#include <stdlib.h>

#include "timer_tests.h"

int main(void)
{
    Suite *s = suite_create("starter_timer");
    timer_cron_tests(s);
    timer_config_tests(s);
    timer_run_tests(s);
    timer_durable_tests(s);
    timer_module_tests(s);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
