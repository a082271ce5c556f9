/* test_kq_batch.c - a property test of io_kqueue's batched submission: the
 * changes queued in a turn reach the kernel in ONE kevent() call, and
 * submit() returns how many there were.
 *
 * Random turns of operations on one instance (recv and poll on fresh
 * sockets and pipes, detach, sends that go out at once, timeouts and
 * cancels, re-arming after a detach; now and then a burst that registers
 * 160 sockets at once, more than the changelist starts with), each ended
 * by submit() or wait(0). A model predicts each turn's changes from the
 * rules io_kqueue.c states (two EV_ADDs for an fd not registered, two
 * EV_DELETEs for a detached fd that was, one EVFILT_TIMER change when the
 * earliest deadline moved). After each turn:
 *   - submit() returned the model's count, and made one kevent() call (none
 *     when the count is 0); wait(0) made exactly one;
 *   - that call gave the kernel exactly that many changes;
 *   - every operation's return code is the one dx/io.h promises.
 * At the end of each case the kernel must have taken the registrations: a
 * byte written to each socket with a recv armed comes back as a RECV
 * completion, and every cancelled operation completed with -ECANCELED.
 * A second case: a change the kernel refuses (EV_ERROR) ends the fd's
 * operations with its errno.
 *
 * The kernel here is tests/kqueue_emu; the calls are counted by the test
 * build of the plugin (kq_count.h: dx_kq_test_counts, read with dlsym),
 * which wraps kevent() and mocks nothing. Skips (77) when the plugin has no
 * count (a kernel kqueue build).
 *
 * The seed is printed first; DX_TEST_SEED=N replays a run.
 * usage: test_kq_batch [PLUGIN-FILE]  (default: DX_PLUGINS's io_kqueue) */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <check.h>

#include <dx/io.h>

#include "../../plugins/io_kqueue/kq_count.h"
#include "../unit/check_main.h"
#include "../unit/prop_rng.h"
#include "diag.h"
#include "loader.h"
#include "registry.h"

#define CASES 100
#define SOCKS 24  /* sockets per case (BURST in a burst case) */
#define BURST 160 /* 320 changes in one turn: past the first 256 */
#define PIPES 8
#define TIMERS 32
#define OPS_MAX 40
#define TAG_SEND (1ull << 40)
#define TAG_TIMER (1ull << 41)
#define SEC 1000000000ull

static const dx_io_vtable *vt;
static void *vself;
static struct dx_kq_test_counts *counts;

/* What the model knows of one fd (as io_kqueue.c's rules say). */
struct mfd {
	int fd, peer; /* peer: the socket's other end, or the pipe's */
	bool sock;
	bool reg;   /* registered: an arm queues nothing */
	bool kseen; /* a detach queues two deletes */
	bool recv_armed, poll_armed;
};

struct model {
	struct mfd f[BURST + PIPES];
	int nf;
	bool timer_live[TIMERS]; /* timer j: 3600 + 60 j seconds away */
	unsigned serial[TIMERS]; /* which timeout() made timer j */
	unsigned next_serial;
	unsigned armed;       /* the kernel timer's serial; 0: none */
	unsigned pending;     /* changes queued this turn */
	unsigned cancels_due; /* -ECANCELED completions to come */
	unsigned sends_due;   /* SEND completions to come */
};

/* Over the run. */
static unsigned long turns, changes_total;
static unsigned max_turn;

static dx_io *io_new(void)
{
	dx_io_params p = {.size = sizeof p,
			  .queue_depth = 256,
			  .buf_count = 512,
			  .buf_size = 4096}; /* > BURST */
	dx_io *io = NULL;
	int rc = vt->create(vself, &p, &io);
	ck_assert_msg(rc == 0 && io, "create: %s", strerror(-rc));
	return io;
}

static void model_open(struct model *m, int socks)
{
	memset(m, 0, sizeof *m);
	for (int i = 0; i < socks + PIPES; i++) {
		int sv[2];
		struct mfd *f = &m->f[m->nf++];
		f->sock = i < socks;
		int rc = f->sock ? socketpair(AF_UNIX,
					      SOCK_STREAM | SOCK_NONBLOCK |
						      SOCK_CLOEXEC,
					      0, sv) :
				   pipe2(sv, O_NONBLOCK | O_CLOEXEC);
		ck_assert_msg(rc == 0, "socketpair/pipe: %s", strerror(errno));
		f->fd = sv[0];
		f->peer = sv[1];
	}
}

static void model_close(struct model *m)
{
	for (int i = 0; i < m->nf; i++) {
		close(m->f[i].fd);
		close(m->f[i].peer);
	}
}

/* An fd operation that arms: two changes when the fd is not registered. */
static void model_arm(struct model *m, struct mfd *f)
{
	if (!f->reg) {
		m->pending += 2;
		f->reg = f->kseen = true;
	}
}

/* One random operation, its return code checked. */
static void op(rng *r, int k, dx_io *io, struct model *m)
{
	struct mfd *f = &m->f[rnd_below(r, (size_t)m->nf)];
	int j = (int)rnd_below(r, TIMERS), rc;
	switch (rnd_below(r, 6)) {
	case 0: /* recv on a socket */
		if (!f->sock)
			f = &m->f[rnd_below(r, (size_t)m->nf - PIPES)];
		rc = vt->recv(io, f->fd, (uint64_t)f->fd);
		FAILIF(rc != (f->recv_armed ? -EALREADY : 0), r, k,
		       "recv(%d): %d", f->fd, rc);
		if (!f->recv_armed) {
			model_arm(m, f);
			f->recv_armed = true;
		}
		break;
	case 1: /* poll for input: a socket or a pipe, nothing to read */
		rc = vt->poll(io, f->fd, DX_IO_POLLIN, (uint64_t)f->fd);
		FAILIF(rc != (f->poll_armed ? -EALREADY : 0), r, k,
		       "poll(%d): %d", f->fd, rc);
		if (!f->poll_armed) {
			model_arm(m, f);
			f->poll_armed = true;
		}
		break;
	case 2: /* detach: two deletes when it was registered */
		rc = vt->detach(io, f->fd);
		FAILIF(rc != 0, r, k, "detach(%d): %d", f->fd, rc);
		m->pending += f->kseen ? 2 : 0;
		m->cancels_due += (unsigned)f->recv_armed + f->poll_armed;
		f->reg = f->kseen = f->recv_armed = f->poll_armed = false;
		break;
	case 3: /* a send that goes out at once: no change */
		if (!f->sock)
			break;
		rc = vt->send(io, f->fd, "0123456789abcdef", 16, TAG_SEND, 0);
		FAILIF(rc != 0, r, k, "send(%d): %d", f->fd, rc);
		m->sends_due++;
		break;
	case 4: /* a timeout, far off; deadlines a minute apart, so that
		 * their order is j's whenever they were armed in a case */
		if (m->timer_live[j])
			break;
		rc = vt->timeout(io, (3600 + 60 * (uint64_t)j) * SEC,
				 TAG_TIMER | (uint64_t)j);
		FAILIF(rc != 0, r, k, "timeout: %d", rc);
		m->timer_live[j] = true;
		m->serial[j] = ++m->next_serial;
		break;
	default: /* cancel one */
		rc = vt->timeout_cancel(io, TAG_TIMER | (uint64_t)j);
		FAILIF(rc != (m->timer_live[j] ? 0 : -ENOENT), r, k,
		       "timeout_cancel(%d): %d", j, rc);
		m->cancels_due += m->timer_live[j];
		m->timer_live[j] = false;
		break;
	}
}

/* The change the flush adds for the timer: the earliest deadline is
 * another timeout's (a timer cancelled and armed again is another). */
static void model_timer(struct model *m)
{
	unsigned first = 0;
	for (int j = TIMERS - 1; j >= 0; j--)
		if (m->timer_live[j])
			first = m->serial[j];
	if (first != m->armed)
		m->pending++; /* EV_ADD at the new one, or EV_DELETE */
	m->armed = first;
}

/* Take the completions the turn produced; each one expected. */
static void reap(rng *r, int k, struct model *m, const dx_io_cqe *c, int n)
{
	for (int i = 0; i < n; i++) {
		if (c[i].op == DX_IO_SEND) {
			FAILIF(c[i].result != 16 || !m->sends_due, r, k,
			       "send completion %d", c[i].result);
			m->sends_due--;
			continue;
		}
		FAILIF(c[i].result != -ECANCELED || !m->cancels_due, r, k,
		       "op %d udata %llu result %d, no cancel due", c[i].op,
		       (unsigned long long)c[i].udata, c[i].result);
		m->cancels_due--;
	}
}

/* End a turn with submit() or wait(0) and check the one kevent call. */
static void end_turn(rng *r, int k, dx_io *io, struct model *m, bool wait)
{
	model_timer(m);
	unsigned long calls = atomic_load(&counts->calls);
	unsigned long given = atomic_load(&counts->changes);
	dx_io_cqe c[512];
	int n = 0;
	if (wait) {
		n = vt->wait(io, c, 512, 0);
		FAILIF(n < 0, r, k, "wait: %d", n);
	} else {
		int rc = vt->submit(io);
		FAILIF(rc != (int)m->pending, r, k,
		       "submit() said %d changes, the model %u", rc,
		       m->pending);
	}
	unsigned long dcalls = atomic_load(&counts->calls) - calls;
	unsigned long dgiven = atomic_load(&counts->changes) - given;
	unsigned want_calls = wait || m->pending ? 1 : 0;
	FAILIF(dcalls != want_calls, r, k,
	       "%s with %u changes made %lu kevent calls, not %u",
	       wait ? "wait(0)" : "submit()", m->pending, dcalls, want_calls);
	FAILIF(dgiven != m->pending, r, k,
	       "the kernel was given %lu changes, the model says %u", dgiven,
	       m->pending);
	if (want_calls)
		FAILIF(atomic_load(&counts->last_nchanges) != (int)m->pending,
		       r, k, "the call had %d changes, not %u",
		       atomic_load(&counts->last_nchanges), m->pending);
	reap(r, k, m, c, n);
	turns++;
	changes_total += m->pending;
	if (m->pending > max_turn)
		max_turn = m->pending;
	m->pending = 0;
}

/* The registrations reached the kernel: a byte on each socket with a
 * recv armed comes back; every cancel and send completes. */
static void settle(rng *r, int k, dx_io *io, struct model *m)
{
	unsigned want = 0, got = 0;
	for (int i = 0; i < m->nf; i++)
		if (m->f[i].recv_armed) {
			FAILIF(write(m->f[i].peer, "x", 1) != 1, r, k, "write");
			want++;
		}
	dx_io_cqe c[512];
	for (int tries = 0;
	     tries < 400 && (got < want || m->cancels_due || m->sends_due);
	     tries++) {
		ck_assert_int_ge(vt->submit(io), 0);
		int n = vt->wait(io, c, 512, 5);
		FAILIF(n < 0, r, k, "wait: %d", n);
		for (int i = 0; i < n; i++) {
			if (c[i].op == DX_IO_POLL && c[i].result > 0)
				continue; /* a poll armed beside the recv */
			if (c[i].op != DX_IO_RECV || c[i].result < 0) {
				reap(r, k, m, &c[i], 1);
				continue;
			}
			FAILIF(c[i].result != 1 || c[i].data[0] != 'x', r, k,
			       "recv on %llu: %d",
			       (unsigned long long)c[i].udata, c[i].result);
			vt->buf_release(io, c[i].buf_id);
			got++;
		}
	}
	FAILIF(got != want || m->cancels_due || m->sends_due, r, k,
	       "%u of %u armed recvs answered; %u cancels, %u sends not "
	       "completed",
	       got, want, m->cancels_due, m->sends_due);
}

START_TEST(test_batches)
{
	rng r = rng_seeded();
	printf("kq_batch: seed %llu, %d cases (DX_TEST_SEED=%llu replays "
	       "them)\n",
	       r.seed, CASES, r.seed);
	fflush(stdout);
	static struct model m;
	for (int k = 0; k < CASES; k++) {
		bool burst = k % 10 == 3;
		dx_io *io = io_new();
		model_open(&m, burst ? BURST : SOCKS);
		if (burst) { /* 2 x BURST registrations in one changelist */
			for (int i = 0; i < BURST; i++) {
				ck_assert_int_eq(vt->recv(io, m.f[i].fd,
							  (uint64_t)m.f[i].fd),
						 0);
				model_arm(&m, &m.f[i]);
				m.f[i].recv_armed = true;
			}
			end_turn(&r, k, io, &m, rnd_below(&r, 2));
		}
		int nturns = 2 + (int)rnd_below(&r, 3);
		for (int t = 0; t < nturns; t++) {
			int nops = 1 + (int)rnd_below(&r, OPS_MAX);
			for (int i = 0; i < nops; i++)
				op(&r, k, io, &m);
			end_turn(&r, k, io, &m, rnd_below(&r, 10) < 3);
		}
		settle(&r, k, io, &m);
		vt->destroy(io);
		model_close(&m);
	}
	printf("kq_batch: %lu turns, %lu changes, at most %u in one call\n",
	       turns, changes_total, max_turn);
	ck_assert_uint_ge(turns, 100);
	ck_assert_uint_gt(max_turn, 256); /* the changelist grew */
}
END_TEST

/* A change the kernel refuses comes back as EV_ERROR and ends the fd's
 * operations with its errno: arm on a socket, close it before submit
 * (what dx/io.h says not to do), and the EV_ADDs fail with EBADF. */
START_TEST(test_refused_change)
{
	dx_io *io = io_new();
	int sv[2];
	ck_assert_int_eq(
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(vt->recv(io, sv[0], 1), 0);
	ck_assert_int_eq(vt->poll(io, sv[0], DX_IO_POLLIN, 2), 0);
	close(sv[0]);
	ck_assert_int_eq(vt->submit(io), 2); /* READ and WRITE, both refused */
	bool recv_end = false, poll_end = false;
	dx_io_cqe c[8];
	for (int tries = 0; tries < 100 && !(recv_end && poll_end); tries++) {
		int n = vt->wait(io, c, 8, 10);
		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			ck_assert_msg(c[i].result == -EBADF &&
					      !(c[i].flags & DX_IO_F_MORE),
				      "op %d: %d", c[i].op, c[i].result);
			recv_end |= c[i].op == DX_IO_RECV;
			poll_end |= c[i].op == DX_IO_POLL;
		}
	}
	ck_assert(recv_end && poll_end);
	close(sv[1]);
	vt->destroy(io);
}
END_TEST

static void log_sink(void *ud, int level, const char *who, const char *msg)
{
	(void)ud;
	(void)level;
	fprintf(stderr, "[%s] %s\n", who, msg);
}

static char g_path[4096]; /* the plugin under test */

/* The test build refuses to serve unless its config says it is the
 * emulation: its probe says so, so that io.backend "auto" passes it by. */
START_TEST(test_probe_refuses_without_emulation)
{
	dx_registry_opts ro = {
		.log = log_sink, .log_level = DX_LOG_WARN, .workers = 1};
	dx_registry *reg = dx_registry_new(&ro);
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true};
	dx_module m;
	ck_assert_int_eq(dx_module_open(g_path, &lo, &m, &d), 0);
	dx_facet_ref ref;
	ck_assert_int_eq(dx_registry_add(reg, &m, NULL, "plugins[0].config",
					 &d),
			 0);
	ck_assert_int_eq(dx_registry_init_all(reg, &d), 0);
	ck_assert_int_eq(dx_registry_lookup(reg, DX_FACET_IO, "kqueue", &ref),
			 0);
	const dx_io_vtable *v = ref.vtable;
	char why[512] = "";
	ck_assert_int_eq(v->probe(ref.self, why, sizeof why), -ENOTSUP);
	ck_assert_msg(strstr(why, "emulation of kqueue on epoll") &&
			      strstr(why, "\"emulation\": true"),
		      "probe said: %s", why);
	dx_registry_free(reg);
	dx_diag_clear(&d);
}
END_TEST

int main(int argc, char **argv)
{
	const char *dir = getenv("DX_PLUGINS");
	if (argc < 2 && (!dir || !*dir)) {
		fprintf(stderr,
			"DX_PLUGINS is not set: run through meson test\n");
		return 2;
	}
	char path[4096];
	if (argc >= 2)
		snprintf(path, sizeof path, "%s", argv[1]);
	else
		snprintf(path, sizeof path, "%s/io_kqueue/io_kqueue.so", dir);
	snprintf(g_path, sizeof g_path, "%s", path);
	cJSON *config = cJSON_Parse("{\"emulation\": true}");
	dx_registry_opts ro = {
		.log = log_sink, .log_level = DX_LOG_WARN, .workers = 1};
	dx_registry *reg = dx_registry_new(&ro);
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true}; /* build dirs may be g+w */
	dx_module m;
	if (dx_module_open(path, &lo, &m, &d) < 0) {
		dx_diag_print(&d, stderr, "test_kq_batch");
		return 1;
	}
	counts = dlsym(m.handle, DX_KQ_TEST_COUNTS_SYMBOL);
	if (!counts) {
		fprintf(stderr, "SKIP: %s has no %s (a kernel kqueue build)\n",
			path, DX_KQ_TEST_COUNTS_SYMBOL);
		return 77;
	}
	dx_facet_ref ref;
	if (dx_registry_add(reg, &m, config, "plugins[0].config", &d) < 0 ||
	    dx_registry_init_all(reg, &d) < 0 ||
	    dx_registry_lookup(reg, DX_FACET_IO, "kqueue", &ref) < 0) {
		dx_diag_print(&d, stderr, "test_kq_batch");
		return 1;
	}
	vt = ref.vtable;
	vself = ref.self;
	struct rlimit rl; /* a burst case holds 2 x BURST + 2 x PIPES fds */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("kq_batch");
	TCase *tc = tcase_create("changelists");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_refused_change);
	tcase_add_test(tc, test_probe_refuses_without_emulation);
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	dx_diag_clear(&d);
	dx_registry_free(reg);
	cJSON_Delete(config);
	return rc;
}
