/* io_sys_posix.c - io_sys.h on POSIX systems: sockets, pipe2, SIGUSR1,
 * RLIMIT_NOFILE. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "io_sys.h"

const char sys_dl_suffix[] = ".so";

uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void sys_usleep(unsigned us)
{
	usleep(us);
}

void set_nb(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	ck_assert_int_ge(fl, 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl), 0);
}

void set_bufs(int fd, int bytes)
{
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

int listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 1024), 0);
	socklen_t len = sizeof a;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

int connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
		      "connect: %s", strerror(errno));
	return fd;
}

bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

void assert_socket(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
}

int sys_accept(int l)
{
	return accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

void make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

long sys_write(int fd, const void *buf, size_t n)
{
	return (long)write(fd, buf, n);
}

long sys_read(int fd, void *buf, size_t n)
{
	return (long)read(fd, buf, n);
}

void sys_shut_wr(int fd)
{
	shutdown(fd, SHUT_WR);
}

void sys_close(int fd)
{
	close(fd);
}

static const dx_io_vtable *sig_vt;
static dx_io *sig_io;
static void on_usr1(int sig)
{
	(void)sig;
	sig_vt->wake(sig_io);
}

bool wake_by_signal(const dx_io_vtable *backend, dx_io *io)
{
	sig_vt = backend;
	sig_io = io;
	struct sigaction sa = {.sa_handler = on_usr1};
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	raise(SIGUSR1);
	return true;
}

void sys_setup(void)
{
	/* 1000 connections are 2000 fds and more. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

bool sys_file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}
