/* test_pin - pinning a thread to a CPU (host/src/pin.h).
 *
 * Built once per implementation this system can build: test_pin_affinity
 * (pin_affinity.c, where pthread_setaffinity_np exists) and test_pin_none
 * (pin_none.c, macOS and the other BSDs). The first must really pin: the
 * thread's affinity, read back from the kernel, is the one CPU asked for. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "pin.h"

#ifdef DX_TEST_PIN_NONE
START_TEST(test_not_supported)
{
	ck_assert_int_eq(dx_pin_thread(pthread_self(), 0), -ENOTSUP);
}
END_TEST
#else
/* The CPUs this process may run on, the first of them in *first. */
static int allowed(unsigned *first)
{
	cpu_set_t set;
	ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
	for (unsigned i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			*first = i;
			return CPU_COUNT(&set);
		}
	return 0;
}

START_TEST(test_pins)
{
	unsigned cpu = 0;
	ck_assert_int_gt(allowed(&cpu), 0);
	ck_assert_int_eq(dx_pin_thread(pthread_self(), cpu), 0);
	cpu_set_t now;
	ck_assert_int_eq(
		pthread_getaffinity_np(pthread_self(), sizeof now, &now), 0);
	ck_assert_int_eq(CPU_COUNT(&now), 1);
	ck_assert(CPU_ISSET(cpu, &now));
}
END_TEST

START_TEST(test_refusals)
{
	/* Past the set's size, and a CPU the kernel does not have: negative
	 * errnos, never a silent success. */
	ck_assert_int_eq(dx_pin_thread(pthread_self(), CPU_SETSIZE), -EINVAL);
	ck_assert_int_eq(dx_pin_thread(pthread_self(), CPU_SETSIZE - 1),
			 -EINVAL);
}
END_TEST
#endif

int main(void)
{
	Suite *su = suite_create("pin");
	TCase *tc = tcase_create("pin");
#ifdef DX_TEST_PIN_NONE
	tcase_add_test(tc, test_not_supported);
#else
	tcase_add_test(tc, test_pins);
	tcase_add_test(tc, test_refusals);
#endif
	suite_add_tcase(su, tc);
	return dx_check_run(su);
}
