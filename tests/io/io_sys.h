/* io_sys.h - what the IO conformance test (test_io_backend.c) needs from
 * the system, one implementation per system (meson picks):
 *   io_sys_posix.c  sockets, pipes, signals and fd limits (Linux, BSDs)
 *   io_sys_win.c    Winsock: a pipe is a loopback TCP pair, there are no
 *                   signals, no fd limit to raise
 * Sockets are ints on both (a SOCKET cast to int on Windows). The helpers
 * that check what they do (listener, tcp_pair, make_pipe...) fail the
 * running test case through Check (or the Windows build's shim of it,
 * tests/io/win/check.h). Any thread, except where a comment says. */
#ifndef DX_TEST_IO_SYS_H
#define DX_TEST_IO_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/io.h>

/* A monotonic clock in microseconds. */
uint64_t now_us(void);
void sys_usleep(unsigned us);

void set_nb(int fd, bool on);
void set_bufs(int fd, int bytes);
/* A non-blocking listening socket on 127.0.0.1, ephemeral port. */
int listener(uint16_t *port);
/* A blocking socket connected to 127.0.0.1:port. */
int connect_to(uint16_t port);
/* Whether fd is still open. */
bool fd_open(int fd);
/* fd is a socket (fails the case otherwise). */
void assert_socket(int fd);
/* accept() on l as it is (blocking or not), the new socket
 * close-on-exec (not inheritable): the fd, or negative. */
int sys_accept(int l);
/* A non-blocking pipe: p[0] reads what p[1] writes. */
void make_pipe(int p[2]);

/* read(2) and write(2) on a socket or pipe: the bytes, or -1 and errno
 * (EAGAIN, EINTR, EPIPE...). */
long sys_write(int fd, const void *buf, size_t n);
long sys_read(int fd, void *buf, size_t n);
/* shutdown(fd, SHUT_WR) */
void sys_shut_wr(int fd);
void sys_close(int fd);

/* Raise a signal whose handler calls backend->wake(io): true, or false with
 * the reason printed where there are no such signals (Windows). */
bool wake_by_signal(const dx_io_vtable *backend, dx_io *io);

/* Once, before the cases: Winsock's start; more fds and SIGPIPE ignored
 * elsewhere. */
void sys_setup(void);
/* The plugin file's suffix: ".so", ".dll". */
extern const char sys_dl_suffix[];
bool sys_file_exists(const char *path);

#endif
