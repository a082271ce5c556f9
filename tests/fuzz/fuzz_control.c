/* fuzz_control - the control socket's JSON lines (host/src/control.c):
 * the real dx_control_open / dx_control_run loop on its own thread, with
 * a registry booted from a manifest (routes_echo, mw_timing) and no
 * server: a host without listeners, which is a real configuration (the
 * commands that need a running server - swap, reload, load, unload, apply -
 * then answer that they cannot, after parsing their arguments).
 *
 * Input: the bytes a control client writes before it closes. Checked:
 * every answer is one line holding a JSON object with a boolean "ok" (and
 * an "error" string when ok is false), there are no more answers than
 * request lines (plus one for "line too long"), and the host answers at
 * all (a lost answer or a dead control thread hangs the read: libFuzzer's
 * timeout). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "control.h"
#include "fuzz_check.h"
#include "fuzz_host.h"

static const char manifest[] =
	"{" FUZZ_ECHO_TIMING "}";

static dx_control *ctl;
static dx_manifest *ctl_manifest; /* the registry points into it */
static dx_control_ctx ctx;
static struct sockaddr_un addr = {.sun_family = AF_UNIX};
static char sock_dir[64];

static void *control_thread(void *arg)
{
	(void)arg;
	/* dx-host's main thread gets no signal but through its signalfd;
	 * libFuzzer's SIGALRM (its -timeout watchdog) must not interrupt this
	 * one's send and recv either: it goes to the fuzzing thread. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;)
		dx_control_run(ctl, &ctx); /* a drain command returns: go on */
	return NULL;
}

static void remove_socket(void)
{
	unlink(addr.sun_path);
	rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_boot(manifest, &ctl_manifest, &ctx.reg);
	ctx.started = time(NULL);
	snprintf(sock_dir, sizeof sock_dir, "/tmp/dx-fuzz-ctl-XXXXXX");
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/ctl", sock_dir);
	/* dx-host blocks these in every thread before it opens the control
	 * socket (their signalfd is the control loop's). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	dx_diag d = DX_DIAG_INIT;
	if (dx_control_open(addr.sun_path, &d, &ctl) < 0) {
		dx_diag_print(&d, stderr, "fuzz: control");
		return -1;
	}
	atexit(remove_socket);
	pthread_t t;
	return pthread_create(&t, NULL, control_thread, NULL) ? -1 : 0;
}

static void check_answer(const char *line)
{
	cJSON *o = cJSON_Parse(line);
	FUZZ_CHECK(cJSON_IsObject(o), "answer is not a JSON object: %s", line);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
	FUZZ_CHECK(cJSON_IsBool(ok), "answer without a boolean ok: %s", line);
	if (cJSON_IsFalse(ok))
		FUZZ_CHECK(cJSON_IsString(
				   cJSON_GetObjectItemCaseSensitive(o, "error")),
			   "refusal without an error: %s", line);
	cJSON_Delete(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0, "socket");
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0,
		   "connect: %s", strerror(errno));
	for (size_t off = 0; off < size;) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* the host hung up (line too long) */
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	FUZZ_CHECK(buf != NULL, "malloc");
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			FUZZ_CHECK(buf != NULL, "realloc");
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue; /* libFuzzer's SIGALRM */
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	size_t lines = 0, answers = 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	for (char *s = buf, *nl; (nl = strchr(s, '\n')); s = nl + 1) {
		*nl = '\0';
		check_answer(s);
		answers++;
	}
	FUZZ_CHECK(answers <= lines + 1, "%zu answers to %zu lines", answers,
		   lines);
	FUZZ_CHECK(len == 0 || buf[len - 1] == '\0',
		   "a partial answer line at the end: %.200s",
		   buf + (len > 200 ? len - 200 : 0));
	free(buf);
	return 0;
}
