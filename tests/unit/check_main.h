/* check_main.h - the one main() every unit test shares: run a suite
 * quietly (CK_VERBOSITY=normal/verbose overrides) and print only what
 * failed. */
#ifndef DX_CHECK_MAIN_H
#define DX_CHECK_MAIN_H

#include <stdio.h>
#include <stdlib.h>

#include <check.h>

static int dx_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	const char *v = getenv("CK_VERBOSITY");
	srunner_run_all(sr, v && *v ? CK_ENV : CK_SILENT);
	int failed = srunner_ntests_failed(sr);
	if (failed && !(v && *v)) {
		TestResult **tr = srunner_failures(sr);
		for (int i = 0; i < failed; i++) {
			fprintf(stderr, "%s:%d: %s: %s\n", tr_lfile(tr[i]),
				tr_lno(tr[i]), tr_tcname(tr[i]), tr_msg(tr[i]));
		}
		free(tr);
		fprintf(stderr, "%d of %d checks failed\n", failed,
			srunner_ntests_run(sr));
	}
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
