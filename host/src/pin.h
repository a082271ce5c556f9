/* pin.h - pinning a thread to one CPU (the manifest's pin_cpus). One
 * implementation per build (meson picks):
 *   pin_affinity.c pthread_setaffinity_np: Linux (a cpu_set_t) and
 *                  FreeBSD (a cpuset_t).
 *   pin_win.c      SetThreadAffinityMask: Windows.
 *   pin_none.c     nothing: -ENOTSUP (macOS has no way to pin a thread;
 *                  OpenBSD and NetBSD none dx uses; Linux with
 *                  -Dportable_fallbacks). */
#ifndef DX_HOST_PIN_H
#define DX_HOST_PIN_H

#include <pthread.h>

/* Pin thread t to cpu. 0, -ENOTSUP where the system cannot, or another
 * negative errno. Any thread. */
int dx_pin_thread(pthread_t t, unsigned cpu);

#endif
