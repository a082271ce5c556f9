/* test_check_shim.c - the Check shim (check.h) refuses a suite bigger
 * than it holds, loudly (abort), instead of leaving cases out unseen.
 * argv[1]: "cases" adds 65 cases to one tcase (it holds 64), "tcases"
 * adds 9 tcases to a suite (it holds 8). Run by meson with should_fail:
 * a run that finishes (exit 0, the extra case silently dropped) fails. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

START_TEST(test_one)
{
	ck_assert_int_eq(_i, 0); /* the shim runs each case with _i 0 */
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	Suite *s = suite_create("shim");
	if (!strcmp(argv[1], "cases")) {
		TCase *tc = tcase_create("many");
		for (int i = 0; i < 65; i++)
			tcase_add_test(tc, test_one);
		suite_add_tcase(s, tc);
	} else if (!strcmp(argv[1], "tcases")) {
		for (int i = 0; i < 9; i++) {
			TCase *tc = tcase_create("one");
			tcase_add_test(tc, test_one);
			suite_add_tcase(s, tc);
		}
	} else {
		return 2;
	}
	return dx_check_run(s);
}
