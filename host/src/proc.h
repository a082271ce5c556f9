/* proc.h - what dx-host's main does differently per system: the set up
 * before any thread starts, and the lines of --help on how the host is
 * stopped and reloaded. One file per system (meson picks): proc_posix.c
 * (signals, systemd), proc_win.c (console control events). Main thread. */
#ifndef DX_HOST_PROC_H
#define DX_HOST_PROC_H

/* --help's paragraph on stopping and reloading, lines ending in '\n'. */
extern const char dx_proc_help[];

/* First thing in main, before any thread starts. */
void dx_proc_init(void);

#endif
