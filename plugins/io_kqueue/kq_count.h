/* kq_count.h - the test build's count of io_kqueue's kevent() calls.
 *
 * Only the build over tests/kqueue_emu has it: kq_count.c defines the one
 * exported symbol dx_kq_test_counts, which a test finds with dlsym() on the
 * loaded plugin, to check that each submit() or wait() turn gives the
 * kernel its whole changelist in one kevent() call (docs/architecture.md,
 * section 8). The counters are the plugin's only global state, written by
 * every instance and by wake() from any thread: relaxed atomics. */
#ifndef KQ_COUNT_H
#define KQ_COUNT_H

#include <stdatomic.h>

struct dx_kq_test_counts {
	atomic_ulong calls;       /* kevent() calls */
	atomic_ulong changes;     /* changes given, summed */
	atomic_int last_nchanges; /* nchanges of the latest call */
};

#define DX_KQ_TEST_COUNTS_SYMBOL "dx_kq_test_counts"

#endif
