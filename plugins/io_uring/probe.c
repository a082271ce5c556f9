/* probe.c - whether io_uring works here, and why not: the kernel version,
 * kernel.io_uring_disabled, a real io_uring_queue_init (seccomp and
 * container runtimes refuse io_uring_setup with EPERM or ENOSYS), and the
 * opcodes this backend needs. Main thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "uring.h"

static void kernel_version(char *rel, size_t len, unsigned *major,
			   unsigned *minor)
{
	struct utsname un;
	*major = *minor = 0;
	if (uname(&un) < 0) {
		snprintf(rel, len, "unknown");
		return;
	}
	snprintf(rel, len, "%s", un.release);
	if (sscanf(un.release, "%u.%u", major, minor) != 2)
		*major = *minor = 0;
}

bool uring_kernel_at_least(unsigned major, unsigned minor)
{
	char rel[128];
	unsigned ma, mi;
	kernel_version(rel, sizeof rel, &ma, &mi);
	return ma > major || (ma == major && mi >= minor);
}

/* -1 when the sysctl does not exist (kernels before 6.6). */
static int io_uring_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	if (!f)
		return -1;
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static const char *disabled_text(int d)
{
	switch (d) {
	case -1: return "absent";
	case 0: return "0";
	case 1: return "1 (only the io_uring_group may use it)";
	case 2: return "2 (disabled for everyone)";
	default: return "?";
	}
}

static int say(char *why, size_t why_len, int rc, const char *fmt, ...)
	DX_PRINTF(4, 5);

static int say(char *why, size_t why_len, int rc, const char *fmt, ...)
{
	if (why && why_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const struct {
	int op;
	const char *name;
} required_ops[] = {
	{IORING_OP_ACCEPT, "ACCEPT"},
	{IORING_OP_RECV, "RECV"},
	{IORING_OP_SEND, "SEND"},
	{IORING_OP_POLL_ADD, "POLL_ADD"},
	{IORING_OP_TIMEOUT, "TIMEOUT"},
	{IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"},
	{IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
	{IORING_OP_READ, "READ"},
};

/* The ring's ASYNC_CANCEL takes IORING_ASYNC_CANCEL_FD (Linux 5.19):
 * cancelling by an fd nothing uses gives -ENOENT, an unknown flag
 * -EINVAL. */
bool uring_cancel_fd_works(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return false;
	io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, 1);
	if (io_uring_submit(ring) != 1)
		return false;
	struct io_uring_cqe *cqe;
	if (io_uring_wait_cqe(ring, &cqe) < 0)
		return false;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res != -EINVAL;
}

/* The same, on a ring of its own: for a caller whose ring cannot take
 * SQEs yet (created disabled). The answer is the kernel's, so it is asked
 * once per process, not once per worker's ring. */
bool uring_cancel_fd_supported(void)
{
	static _Atomic int known; /* 0: not asked; 1: no; 2: yes */
	int k = atomic_load(&known);
	if (k)
		return k == 2;
	struct io_uring ring;
	bool ok = io_uring_queue_init(2, &ring, 0) == 0;
	if (ok) {
		ok = uring_cancel_fd_works(&ring);
		io_uring_queue_exit(&ring);
		atomic_store(&known, ok ? 2 : 1);
	}
	return ok;
}

/* Whether the kernel takes SINGLE_ISSUER | DEFER_TASKRUN (6.1). */
static bool defer_taskrun_works(void)
{
	struct io_uring ring;
	struct io_uring_params ip;
	memset(&ip, 0, sizeof ip);
	ip.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(2, &ring, &ip) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

int uring_probe(char *why, size_t why_len, struct uring_features *f)
{
	char rel[128];
	unsigned ma, mi;
	kernel_version(rel, sizeof rel, &ma, &mi);
	if (f) {
		memset(f, 0, sizeof *f);
		f->kmajor = ma;
		f->kminor = mi;
	}
	int dis = io_uring_disabled();
	const char *dtext = disabled_text(dis);

	struct io_uring ring;
	int rc = io_uring_queue_init(8, &ring, 0);
	if (rc < 0) {
		const char *hint =
			rc == -EPERM ?
				" (seccomp or kernel.io_uring_disabled)" :
			rc == -ENOSYS ?
				" (kernel built without io_uring, or a seccomp filter)" :
				"";
		return say(why, why_len, rc,
			   "io_uring_setup: %s%s; kernel %s, "
			   "kernel.io_uring_disabled=%s",
			   strerror(-rc), hint, rel, dtext);
	}
	struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
	if (!p) {
		io_uring_queue_exit(&ring);
		return say(why, why_len, -ENOTSUP,
			   "io_uring_register(PROBE) failed: kernel %s is too "
			   "old (this backend needs Linux 6.0)",
			   rel);
	}
	for (size_t i = 0; i < sizeof required_ops / sizeof required_ops[0];
	     i++) {
		if (!io_uring_opcode_supported(p, required_ops[i].op)) {
			io_uring_free_probe(p);
			io_uring_queue_exit(&ring);
			return say(why, why_len, -ENOTSUP,
				   "io_uring lacks opcode %s on kernel %s",
				   required_ops[i].name, rel);
		}
	}
	bool zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
	io_uring_free_probe(p);
	bool cfd = uring_cancel_fd_works(&ring);
	io_uring_queue_exit(&ring);
	if (f) {
		f->send_zc = zc;
		f->cancel_fd = cfd;
	}
	/* Multishot accept came in 5.19, multishot recv and buffer rings in
	 * 6.0; neither shows in the opcode probe. */
	if (ma < 6)
		return say(why, why_len, -ENOTSUP,
			   "kernel %s is older than 6.0 (multishot recv and "
			   "provided buffer rings)",
			   rel);
	return say(why, why_len, 0,
		   "io_uring usable: kernel %s, kernel.io_uring_disabled=%s, "
		   "SEND_ZC %s, cancel by fd %s, DEFER_TASKRUN %s",
		   rel, dtext, zc ? "yes" : "no", cfd ? "yes" : "no",
		   defer_taskrun_works() ? "yes" : "no");
}
