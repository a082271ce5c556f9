/* test_io_uring.c - plugins/io_uring beyond the shared backend conformance
 * test: the probe's text, zero-copy sends and their NOTIF, submit's batch
 * count, -ENOBUFS and re-arming, completions beyond wait()'s max, detach,
 * and large sends completing only when every byte is out. Loads the
 * plugin through the real loader and registry ($DX_PLUGINS/io_uring). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include <dx/io.h>
#include <dx/plugin.h>

#include "check_main.h"
#include "registry.h"
#include "testutil.h"

static dx_registry *reg;
static const dx_io_vtable *vt;
static void *vself;
static dx_io *io;

static void open_backend(uint32_t buf_count, uint32_t buf_size, bool sqpoll)
{
	dx_registry_opts o = {.log_level = DX_LOG_WARN, .workers = 1};
	reg = dx_registry_new(&o);
	ck_assert_ptr_nonnull(reg);
	char *path = tu_plugin_path("DX_PLUGINS", "io_uring", "io_uring");
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true};
	dx_module m;
	ck_assert_msg(dx_module_open(path, &lo, &m, &d) == 0, "%s: %s", path,
		      tu_diag_all(&d));
	free(path);
	ck_assert_msg(dx_registry_add(reg, &m, NULL, NULL, &d) == 0, "%s",
		      tu_diag_all(&d));
	ck_assert_msg(dx_registry_init_all(reg, &d) == 0, "%s",
		      tu_diag_all(&d));
	dx_facet_ref ref;
	ck_assert_int_eq(dx_registry_lookup(reg, DX_FACET_IO, "io_uring", &ref),
			 0);
	vt = ref.vtable;
	vself = ref.self;
	ck_assert_uint_ge(vt->size, DX_IO_VTABLE_V1_0_SIZE);
	dx_io_params p = {.size = sizeof p,
			  .queue_depth = 64,
			  .buf_count = buf_count,
			  .buf_size = buf_size,
			  .sqpoll = sqpoll};
	ck_assert_int_eq(vt->create(vself, &p, &io), 0);
	/* Flush the wake read armed at create. */
	dx_io_cqe c;
	ck_assert_int_ge(vt->wait(io, &c, 1, 0), 0);
}

static void setup(void)
{
	open_backend(64, 4096, false);
}

static void teardown(void)
{
	if (io)
		vt->destroy(io);
	io = NULL;
	dx_registry_free(reg);
	reg = NULL;
}

/* A connected loopback pair: *srv accepted (blocking), *cli connected. */
static void tcp_pair(int *srv, int *cli, int *lfd_out)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
	if (srv) {
		*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(*srv, 0);
	}
	*cli = c;
	if (lfd_out)
		*lfd_out = l;
	else
		close(l);
}

/* Wait (up to 5 s) for the completion of op with udata matching flags
 * mask; completions seen before it are counted in *others if given. */
static dx_io_cqe want(uint8_t op, uint64_t udata, uint32_t fmask, uint32_t fval)
{
	for (int i = 0; i < 500; i++) {
		dx_io_cqe c[1];
		int n = vt->wait(io, c, 1, 10);
		ck_assert_int_ge(n, 0);
		if (n && c[0].op == op && c[0].udata == udata &&
		    (c[0].flags & fmask) == fval)
			return c[0];
		if (n && (c[0].flags & DX_IO_F_BUFFER))
			vt->buf_release(io, c[0].buf_id);
	}
	ck_abort_msg("no completion op %u udata %llu", op,
		     (unsigned long long)udata);
	return (dx_io_cqe){0};
}

START_TEST(test_probe_text)
{
	char why[256] = "";
	ck_assert_int_eq(vt->probe(vself, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "kernel ") &&
			      strstr(why, "io_uring_disabled"),
		      "%s", why);
	ck_assert_uint_eq(vt->caps & DX_IO_CAP_NATIVE, DX_IO_CAP_NATIVE);
}
END_TEST

START_TEST(test_accept_recv_send)
{
	int l, cli;
	tcp_pair(NULL, &cli, &l);
	ck_assert_int_eq(vt->accept(io, l, 7), 0);
	ck_assert_int_eq(vt->submit(io), 1);
	dx_io_cqe c = want(DX_IO_ACCEPT, 7, 0, 0);
	ck_assert_int_ge(c.result, 0);
	ck_assert_uint_eq(c.flags & DX_IO_F_MORE, DX_IO_F_MORE);
	int s = c.result;
	ck_assert_int_ne(fcntl(s, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_ne(fcntl(s, F_GETFL) & O_NONBLOCK, 0);

	ck_assert_int_eq(vt->recv(io, s, 8), 0);
	ck_assert_int_eq(write(cli, "hello", 5), 5);
	c = want(DX_IO_RECV, 8, 0, 0);
	ck_assert_int_eq(c.result, 5);
	ck_assert_uint_eq(c.flags, DX_IO_F_MORE | DX_IO_F_BUFFER);
	ck_assert_int_eq(memcmp(c.data, "hello", 5), 0);
	vt->buf_release(io, c.buf_id);

	ck_assert_int_eq(vt->send(io, s, "world", 5, 9, 0), 0);
	c = want(DX_IO_SEND, 9, 0, 0);
	ck_assert_int_eq(c.result, 5);
	ck_assert_uint_eq(c.flags, 0);
	char buf[8];
	ck_assert_int_eq(read(cli, buf, sizeof buf), 5);

	close(cli); /* EOF: a final recv completion, result 0, no buffer */
	c = want(DX_IO_RECV, 8, 0, 0);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.flags, 0);
	close(s);
	close(l);
}
END_TEST

struct reader {
	int fd;
	size_t want, got;
	unsigned delay_us;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	char buf[65536];
	while (r->got < r->want) {
		ssize_t n = read(r->fd, buf, sizeof buf);
		if (n <= 0)
			break;
		r->got += (size_t)n;
		if (r->delay_us)
			usleep(r->delay_us);
	}
	return NULL;
}

/* A large send with a slow reader and small socket buffers completes once,
 * with every byte, and a zc one then gets exactly one NOTIF. */
static void big_send(uint32_t flags)
{
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	/* Small socket buffers force many partial sends; not with zc, which
	 * crawls (about 150 KB/s here) on loopback with them. */
	int small = 16384;
	if (!(flags & DX_IO_SEND_ZC)) {
		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(cli, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	}
	size_t len = 4u << 20;
	uint8_t *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7);
	struct reader r = {.fd = cli, .want = len, .delay_us = 200};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, read_all, &r), 0);
	ck_assert_int_eq(vt->send(io, s, data, len, 42, flags), 0);
	ck_assert_int_eq(vt->submit(io), 1);
	int sends = 0, notifs = 0;
	for (int i = 0; i < 1000 && notifs == 0; i++) {
		dx_io_cqe c[4];
		int n = vt->wait(io, c, 4, 10);
		ck_assert_int_ge(n, 0);
		for (int k = 0; k < n; k++) {
			ck_assert_int_eq(c[k].op, DX_IO_SEND);
			ck_assert_uint_eq(c[k].udata, 42);
			if (c[k].flags & DX_IO_F_NOTIF) {
				ck_assert_int_eq(sends, 1);
				notifs++;
			} else {
				sends++;
				ck_assert_int_eq(c[k].result, (int32_t)len);
				ck_assert_uint_eq(c[k].flags,
						  (flags & DX_IO_SEND_ZC) ?
							  DX_IO_F_MORE :
							  0);
				if (!(flags & DX_IO_SEND_ZC))
					notifs = -1; /* none to wait for */
			}
		}
	}
	ck_assert_int_eq(sends, 1);
	ck_assert_int_eq(notifs, (flags & DX_IO_SEND_ZC) ? 1 : -1);
	pthread_join(t, NULL);
	ck_assert_uint_eq(r.got, len);
	dx_io_cqe c;
	ck_assert_int_eq(vt->wait(io, &c, 1, 50), 0); /* nothing more */
	free(data);
	close(s);
	close(cli);
}

START_TEST(test_big_send)
{
	big_send(0);
}
END_TEST

START_TEST(test_send_zc_notif)
{
	big_send(DX_IO_SEND_ZC);
}
END_TEST

START_TEST(test_small_zc_still_notifies)
{
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	ck_assert_int_eq(vt->send(io, s, "tiny", 4, 5, DX_IO_SEND_ZC), 0);
	dx_io_cqe c = want(DX_IO_SEND, 5, DX_IO_F_NOTIF, 0);
	ck_assert_int_eq(c.result, 4);
	ck_assert_uint_eq(c.flags, DX_IO_F_MORE);
	c = want(DX_IO_SEND, 5, DX_IO_F_NOTIF, DX_IO_F_NOTIF);
	ck_assert_int_eq(c.result, 0);
	close(s);
	close(cli);
}
END_TEST

START_TEST(test_batch_count)
{
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(
			vt->timeout(io, 1000000ull * (50 + i), (uint64_t)i), 0);
	ck_assert_int_eq(vt->submit(io), 20);
	ck_assert_int_eq(vt->submit(io), 0);
	/* More than the SQ holds (64): prep submits early; the next submit
	 * reports every one. */
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(vt->timeout(io, 5000000000ull,
					     (uint64_t)(1000 + i)),
				 0);
	ck_assert_int_eq(vt->submit(io), 100);
}
END_TEST

START_TEST(test_timeouts)
{
	ck_assert_int_eq(vt->timeout(io, 20000000, 1), 0);
	ck_assert_int_eq(vt->timeout(io, 5000000000ull, 2), 0);
	ck_assert_int_eq(vt->timeout_cancel(io, 3), -ENOENT);
	ck_assert_int_eq(vt->submit(io), 2);
	dx_io_cqe c = want(DX_IO_TIMEOUT, 1, 0, 0);
	ck_assert_int_eq(c.result, 0);
	ck_assert_int_eq(vt->timeout_cancel(io, 2), 0);
	ck_assert_int_eq(vt->timeout_cancel(io, 2), -ENOENT);
	c = want(DX_IO_TIMEOUT, 2, 0, 0);
	ck_assert_int_eq(c.result, -ECANCELED);
	ck_assert_int_eq(vt->timeout_cancel(io, 1), -ENOENT);
}
END_TEST

static void *waker(void *arg)
{
	usleep(20000);
	ck_assert_int_eq(vt->wake((dx_io *)arg), 0);
	return NULL;
}

START_TEST(test_wake)
{
	for (int round = 0; round < 3; round++) {
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, waker, io), 0);
		dx_io_cqe c;
		ck_assert_int_eq(vt->wait(io, &c, 1, 5000), 1);
		ck_assert_int_eq(c.op, DX_IO_WAKE);
		ck_assert_uint_eq(c.udata, 0);
		pthread_join(t, NULL);
	}
}
END_TEST

START_TEST(test_detach)
{
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	ck_assert_int_eq(vt->recv(io, s, 1), 0);
	ck_assert_int_eq(vt->poll(io, s, DX_IO_POLLIN, 2), 0);
	ck_assert_int_eq(vt->timeout(io, 5000000000ull, 3), 0);
	ck_assert_int_eq(vt->submit(io), 3);
	ck_assert_int_eq(vt->detach(io, s), 0);
	int seen = 0;
	for (int i = 0; i < 200 && seen != 3; i++) {
		dx_io_cqe c;
		if (vt->wait(io, &c, 1, 10) != 1)
			continue;
		ck_assert_int_eq(c.result, -ECANCELED);
		ck_assert_uint_eq(c.flags, 0);
		ck_assert(c.udata == 1 || c.udata == 2);
		seen |= 1 << (c.udata - 1);
	}
	ck_assert_int_eq(seen, 3);
	/* The fd is still open and usable; the timeout is untouched. */
	ck_assert_int_eq(write(cli, "x", 1), 1);
	char b;
	ck_assert_int_eq(read(s, &b, 1), 1);
	ck_assert_int_eq(vt->detach(io, s), 0); /* nothing left: no-op */
	ck_assert_int_eq(vt->timeout_cancel(io, 3), 0);
	dx_io_cqe c = want(DX_IO_TIMEOUT, 3, 0, 0);
	ck_assert_int_eq(c.result, -ECANCELED);
	close(s);
	close(cli);
}
END_TEST

/* detach with a send in the kernel (blocked: nobody reads) and two more
 * queued behind it on the same fd (sends are not on the fd's list of
 * records, so detach finds them through the fd's send state): the first
 * completes with the bytes that went out (or -ECANCELED), the queued two
 * -ECANCELED, in order, and nothing else comes. */
START_TEST(test_detach_queued_sends)
{
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	int small = 16384;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(cli, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	size_t len = 8u << 20;
	uint8_t *data = calloc(1, len);
	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(vt->send(io, s, data, len, 20, 0), 0);
	ck_assert_int_eq(vt->send(io, s, "ab", 2, 21, 0), 0);
	ck_assert_int_eq(vt->send(io, s, "cd", 2, 22, 0), 0);
	ck_assert_int_eq(vt->submit(io), 1); /* one send per fd in flight */
	dx_io_cqe c;
	ck_assert_int_eq(vt->wait(io, &c, 1, 50), 0); /* it is stuck */
	ck_assert_int_eq(vt->detach(io, s), 0);
	uint64_t next = 20;
	for (int i = 0; i < 500 && next <= 22; i++) {
		if (vt->wait(io, &c, 1, 10) != 1)
			continue;
		ck_assert_int_eq(c.op, DX_IO_SEND);
		ck_assert_uint_eq(c.udata, next);
		ck_assert_uint_eq(c.flags, 0);
		if (next == 20)
			ck_assert(c.result == -ECANCELED ||
				  (c.result > 0 && (size_t)c.result < len));
		else
			ck_assert_int_eq(c.result, -ECANCELED);
		next++;
	}
	ck_assert_uint_eq(next, 23);
	ck_assert_int_eq(vt->wait(io, &c, 1, 50), 0); /* nothing more */
	ck_assert_int_eq(vt->detach(io, s), 0);       /* nothing left */
	free(data);
	close(s);
	close(cli);
}
END_TEST

/* The host's pattern: an instance made on one thread, used only on
 * another (which a SINGLE_ISSUER ring is bound to when it enables it),
 * then destroyed on the first once the other has gone. */
struct echo_worker {
	dx_io *io;
	int srv;
	int ok;
};

static void *echo_worker_main(void *arg)
{
	struct echo_worker *e = arg;
	if (vt->recv(e->io, e->srv, 1) != 0 || vt->submit(e->io) < 0)
		return NULL;
	for (int i = 0; i < 500 && e->ok < 2; i++) {
		dx_io_cqe c[4];
		int n = vt->wait(e->io, c, 4, 10);
		if (n < 0)
			return NULL;
		for (int k = 0; k < n; k++) {
			if (c[k].op == DX_IO_RECV && c[k].result == 4 &&
			    (c[k].flags & DX_IO_F_BUFFER)) {
				int rc = vt->send(e->io, e->srv, "pong", 4,
						  2, 0);
				vt->buf_release(e->io, c[k].buf_id);
				if (rc != 0)
					return NULL;
				e->ok = 1;
			} else if (c[k].op == DX_IO_SEND &&
				   c[k].udata == 2 && c[k].result == 4) {
				e->ok = 2;
			}
		}
	}
	return NULL;
}

START_TEST(test_used_on_another_thread)
{
	dx_io_params p = {.size = sizeof p, .queue_depth = 64, .worker = 1};
	dx_io *io2;
	ck_assert_int_eq(vt->create(vself, &p, &io2), 0);
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	struct echo_worker e = {.io = io2, .srv = s};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, echo_worker_main, &e), 0);
	ck_assert_int_eq(write(cli, "ping", 4), 4);
	char buf[8];
	ck_assert_int_eq(read(cli, buf, sizeof buf), 4);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(e.ok, 2);
	vt->destroy(io2); /* the recv is still armed: must not hang */
	close(s);
	close(cli);
}
END_TEST

START_TEST(test_probe_says_defer_taskrun)
{
	char why[256] = "";
	ck_assert_int_eq(vt->probe(vself, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "DEFER_TASKRUN yes") ||
			      strstr(why, "DEFER_TASKRUN no"),
		      "%s", why);
}
END_TEST

/* Two buffers of 16 bytes: the multishot recv runs out, ends with -ENOBUFS
 * (no MORE), and works again once buffers are back and recv re-armed. */
START_TEST(test_enobufs)
{
	teardown();
	open_backend(2, 16, false);
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	ck_assert_int_eq(vt->recv(io, s, 1), 0);
	ck_assert_int_eq(vt->submit(io), 1);
	char msg[64];
	memset(msg, 'a', sizeof msg);
	ck_assert_int_eq(write(cli, msg, sizeof msg), (ssize_t)sizeof msg);
	uint16_t held[2];
	int nheld = 0, got = 0;
	bool ended = false;
	for (int i = 0; i < 200 && !ended; i++) {
		dx_io_cqe c;
		if (vt->wait(io, &c, 1, 10) != 1)
			continue;
		ck_assert_int_eq(c.op, DX_IO_RECV);
		if (c.result == -ENOBUFS) {
			ck_assert_uint_eq(c.flags, 0);
			ended = true;
		} else {
			ck_assert_int_gt(c.result, 0);
			ck_assert_uint_eq(c.flags,
					  DX_IO_F_MORE | DX_IO_F_BUFFER);
			ck_assert_int_lt(nheld, 2);
			held[nheld++] = c.buf_id;
			got += c.result;
		}
	}
	ck_assert(ended);
	ck_assert_int_eq(got, 32);
	for (int i = 0; i < nheld; i++)
		vt->buf_release(io, held[i]);
	ck_assert_int_eq(vt->recv(io, s, 1), 0);
	while (got < 64) {
		dx_io_cqe c = want(DX_IO_RECV, 1, 0, 0);
		if (c.result == -ENOBUFS) {
			ck_assert_int_eq(vt->recv(io, s, 1), 0);
			continue;
		}
		ck_assert_int_gt(c.result, 0);
		got += c.result;
		vt->buf_release(io, c.buf_id);
	}
	ck_assert_int_eq(got, 64);
	close(s);
	close(cli);
}
END_TEST

/* With SQPOLL (or without, if refused): a round trip, a timer, a wake. */
START_TEST(test_sqpoll)
{
	teardown();
	open_backend(64, 4096, true);
	int s, cli;
	tcp_pair(&s, &cli, NULL);
	ck_assert_int_eq(vt->recv(io, s, 1), 0);
	ck_assert_int_eq(vt->timeout(io, 1000000, 2), 0);
	ck_assert_int_ge(vt->submit(io), 0);
	ck_assert_int_eq(write(cli, "ping", 4), 4);
	dx_io_cqe c = want(DX_IO_RECV, 1, 0, 0);
	ck_assert_int_eq(c.result, 4);
	vt->buf_release(io, c.buf_id);
	ck_assert_int_eq(vt->send(io, s, "pong", 4, 3, 0), 0);
	c = want(DX_IO_SEND, 3, 0, 0);
	ck_assert_int_eq(c.result, 4);
	char b[4];
	ck_assert_int_eq(read(cli, b, 4), 4);
	ck_assert_int_eq(vt->wake(io), 0);
	want(DX_IO_WAKE, 0, 0, 0);
	close(s);
	close(cli);
}
END_TEST

/* 40 completions ready, reaped one at a time: none lost. */
START_TEST(test_one_at_a_time)
{
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(vt->timeout(io, 1000, (uint64_t)i), 0);
	ck_assert_int_eq(vt->submit(io), 40);
	usleep(20000);
	uint64_t seen = 0;
	for (int i = 0; i < 40; i++) {
		dx_io_cqe c;
		ck_assert_int_eq(vt->wait(io, &c, 1, 1000), 1);
		ck_assert_int_eq(c.op, DX_IO_TIMEOUT);
		ck_assert_int_eq(c.result, 0);
		seen |= 1ull << c.udata;
	}
	ck_assert_uint_eq(seen, (1ull << 40) - 1);
	dx_io_cqe c;
	ck_assert_int_eq(vt->wait(io, &c, 1, 0), 0);
}
END_TEST

/* 77 (meson's SKIP) when the plugin is not built or io_uring is unusable
 * here (seccomp, kernel.io_uring_disabled, an old kernel). */
static int skip_reason(void)
{
	const char *dir = getenv("DX_PLUGINS");
	char path[4096];
	snprintf(path, sizeof path, "%s/io_uring/io_uring.so", dir ? dir : ".");
	if (access(path, R_OK) != 0) {
		printf("SKIP: %s not built\n", path);
		return 77;
	}
	dx_registry_opts o = {.log_level = DX_LOG_WARN, .workers = 1};
	dx_registry *r = dx_registry_new(&o);
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true};
	dx_module m;
	int rc = 0;
	if (r && dx_module_open(path, &lo, &m, &d) == 0 &&
	    dx_registry_add(r, &m, NULL, NULL, &d) == 0 &&
	    dx_registry_init_all(r, &d) == 0) {
		dx_facet_ref ref;
		char why[256] = "";
		if (dx_registry_lookup(r, DX_FACET_IO, "io_uring", &ref) == 0 &&
		    ((const dx_io_vtable *)ref.vtable)
				    ->probe(ref.self, why, sizeof why) != 0) {
			printf("SKIP: %s\n", why);
			rc = 77;
		}
	}
	dx_diag_clear(&d);
	dx_registry_free(r);
	return rc;
}

int main(void)
{
	int skip = skip_reason();
	if (skip)
		return skip;
	Suite *s = suite_create("io_uring");
	TCase *tc = tcase_create("io_uring");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_probe_text);
	tcase_add_test(tc, test_accept_recv_send);
	tcase_add_test(tc, test_big_send);
	tcase_add_test(tc, test_send_zc_notif);
	tcase_add_test(tc, test_small_zc_still_notifies);
	tcase_add_test(tc, test_batch_count);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_wake);
	tcase_add_test(tc, test_detach);
	tcase_add_test(tc, test_enobufs);
	tcase_add_test(tc, test_one_at_a_time);
	tcase_add_test(tc, test_sqpoll);
	tcase_add_test(tc, test_detach_queued_sends);
	tcase_add_test(tc, test_used_on_another_thread);
	tcase_add_test(tc, test_probe_says_defer_taskrun);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
