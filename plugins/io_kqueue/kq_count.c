/* kq_count.c - the test build's kevent() wrapper (kq_count.h): counts,
 * then calls the emulation's kevent. Built only with DX_KQUEUE_EMULATED;
 * elsewhere kq_kevent is kevent itself (kq_compat.h). */
#include "kq_compat.h"
#include "kq_count.h"

__attribute__((
	visibility("default"))) struct dx_kq_test_counts dx_kq_test_counts;

int kq_kevent(int kq, const struct kevent *chg, int nchg, struct kevent *evl,
	      int nevl, const struct timespec *ts)
{
	struct dx_kq_test_counts *c = &dx_kq_test_counts;
	atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->changes, (unsigned long)nchg,
				  memory_order_relaxed);
	atomic_store_explicit(&c->last_nchanges, nchg, memory_order_relaxed);
	return kevent(kq, chg, nchg, evl, nevl, ts);
}
