/* cpus.h - how many CPUs the host has: workers "auto" starts one per CPU,
 * and pin_cpus pins worker i to CPU i modulo that. One file per system
 * (meson picks): cpus_posix.c (sysconf), cpus_win.c
 * (GetActiveProcessorCount). Any thread. */
#ifndef DX_HOST_CPUS_H
#define DX_HOST_CPUS_H

/* The CPUs online now; 1 when the system cannot say. */
unsigned dx_cpus(void);

#endif
