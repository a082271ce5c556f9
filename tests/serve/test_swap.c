/* test_swap - move live connections between io_epoll and io_uring (or the
 * backends named after DX_HOST, in turn), back and forth, while requests
 * are in flight, and lose none.
 *
 * Starts the real dx-host (2 workers) and four client threads. Each keeps a
 * pipeline of calls going: echo with a payload that names it (some 200 KiB,
 * so sends are cut in the middle by a swap) and delay calls that are
 * pending in the host while it swaps. Meanwhile the main thread swaps the
 * backend 12 times through the control socket. Every call must be answered
 * exactly once, with its own bytes, on the connection it was sent on.
 * usage: test_swap DX_HOST [BACKEND...]  (default: io_uring epoll; the
 * host starts on the first, each swap goes to the next, round the list).
 * io_kqueue is loaded with {"emulation": true} when kqueue is named (its
 * Linux test build serves only with it), from the file DX_IO_KQUEUE names
 * when set (that build is not where plugin_path would find it). */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <dx/client.h>

#include "../unit/check_main.h"
#include "test_host.h"

#define CLIENTS 4
#define SWAPS 12
#define BIG (200 * 1024)
#define HUGE (900 * 1024) /* the slow client's answers: under max_frame */

static const char *dx_host;
static const char *const *backends; /* swapped through in turn */
static int nbackends;
static struct dx_test_host host;
static _Atomic bool stop;

struct client {
	pthread_t thread;
	int id;
	unsigned long sent, answered;
	char failure[256];
};

static int ctl(const char *request, char *answer, size_t n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", host.ctl);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -errno;
	}
	ssize_t w = write(fd, request, strlen(request));
	size_t got = 0;
	while (w > 0 && got < n - 1 && !memchr(answer, '\n', got)) {
		ssize_t r = read(fd, answer + got, n - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		answer[got] = '\0';
	}
	answer[got] = '\0';
	close(fd);
	return got ? 0 : -EIO;
}

static dx_client *connect_host(void)
{
	char err[256];
	dx_client *c = NULL;
	return dx_client_connect(host.addr, 5000, &c, err, sizeof err) == 0
		       ? c
		       : NULL;
}

/* The payload of call n of client id: its name, padded for big ones.
 * Client 0 is the slow reader: all its answers are HUGE, so the host's
 * sends to it are still in the backend when a swap comes. */
static size_t payload(int id, unsigned long n, char *buf)
{
	int len = snprintf(buf, 64, "c%d-n%lu-", id, n);
	size_t size = id == 0 ? HUGE : n % 16 == 5 ? BIG : (size_t)len;
	for (size_t i = (size_t)len; i < size; i++)
		buf[i] = (char)('a' + (n + i) % 26);
	return size;
}

/* Keep 16 calls in flight: each answer checked against what was sent. */
static void *client_main(void *arg)
{
	struct client *k = arg;
	dx_client *c = connect_host();
	char *want = malloc(HUGE), *args = malloc(HUGE + 16);
	if (!c || !want || !args) {
		snprintf(k->failure, sizeof k->failure, "client %d: no connection",
			 k->id);
		goto out;
	}
	unsigned long seq_of[65536];
	if (k->id == 0) {
		/* A small window: the host's sends back up behind it. */
		int small = 16384;
		setsockopt(dx_client_fd(c), SOL_SOCKET, SO_RCVBUF, &small,
			   sizeof small);
	}
	while (!atomic_load(&stop) || k->answered < k->sent) {
		while (!atomic_load(&stop) && k->sent - k->answered < 16) {
			unsigned long n = k->sent++;
			size_t len = payload(k->id, n, args + 8);
			uint16_t route = 2, seq;
			const char *p = args + 8;
			if (n % 16 == 9 && k->id) { /* pending across swaps */
				memcpy(args, "40 ", 3);
				memmove(args + 3, args + 8, len);
				p = args;
				len += 3;
				route = 3;
			}
			if (dx_client_call(c, route, p, len, 0, &seq) < 0) {
				snprintf(k->failure, sizeof k->failure,
					 "client %d: send: %s", k->id,
					 dx_client_error(c));
				goto out;
			}
			seq_of[seq] = n;
		}
		if (k->id == 0)
			usleep(3000);
		dx_client_msg m;
		int rc = dx_client_recv(c, &m, 5000);
		if (rc < 0 || m.opcode != DX_HBTP_RPC_RESPONSE) {
			snprintf(k->failure, sizeof k->failure,
				 "client %d: after %lu answers of %lu: %s "
				 "(opcode 0x%02x)",
				 k->id, k->answered, k->sent,
				 rc < 0 ? dx_client_error(c) : "not a response",
				 rc < 0 ? 0 : m.opcode);
			goto out;
		}
		size_t len = payload(k->id, seq_of[m.seq], want);
		if (m.len != len || memcmp(m.payload, want, len) != 0) {
			snprintf(k->failure, sizeof k->failure,
				 "client %d: answer to call %lu: %zu bytes, "
				 "wanted %zu",
				 k->id, seq_of[m.seq], m.len, len);
			goto out;
		}
		k->answered++;
	}
out:
	dx_client_close(c);
	free(want);
	free(args);
	return NULL;
}

START_TEST(test_swap_under_load)
{
	char answer[1024];
	struct client k[CLIENTS] = {0};
	for (int i = 0; i < CLIENTS; i++) {
		k[i].id = i;
		pthread_create(&k[i].thread, NULL, client_main, &k[i]);
	}
	for (int s = 0; s < SWAPS; s++) {
		usleep(60000);
		const char *to = backends[(s + 1) % nbackends];
		char req[128];
		snprintf(req, sizeof req,
			 "{\"cmd\":\"swap\",\"kind\":\"io\",\"name\":\"%s\"}\n",
			 to);
		ck_assert_int_eq(ctl(req, answer, sizeof answer), 0);
		ck_assert_msg(strstr(answer, "\"ok\":true"), "swap %d to %s: %s",
			      s, to, answer);
	}
	usleep(60000);
	atomic_store(&stop, true);
	unsigned long total = 0;
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(k[i].thread, NULL);
		ck_assert_msg(!k[i].failure[0], "%s", k[i].failure);
		ck_assert_uint_eq(k[i].answered, k[i].sent);
		ck_assert_uint_gt(k[i].sent, i == 0 ? 20 : 100);
		total += k[i].sent;
	}
	ck_assert_int_eq(ctl("{\"cmd\":\"stats\"}\n", answer, sizeof answer), 0);
	ck_assert_msg(strstr(answer, "\"closed_by_server\":0"),
		      "the host closed connections during swaps: %s", answer);
	ck_assert_uint_gt(total, 1000);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_swap DX_HOST [BACKEND...]\n");
		return 2;
	}
	dx_host = argv[1];
	static const char *const uring_epoll[] = {"io_uring", "epoll"};
	backends = argc > 2 ? (const char *const *)argv + 2 : uring_epoll;
	nbackends = argc > 2 ? argc - 2 : 2;
	bool kqueue = false, uring = false;
	for (int i = 0; i < nbackends; i++) {
		kqueue |= strcmp(backends[i], "kqueue") == 0;
		uring |= strcmp(backends[i], "io_uring") == 0;
	}
	/* Start the host here, not in the (forked) test, so a machine
	 * without io_uring is a skip (77), not a failure. The slow client
	 * writes 16 calls of HUGE bytes before it reads an answer: the
	 * host must hold their answers unread, more than the default
	 * limits.max_output lets it (it would stop reading, and both sides
	 * would wait on each other, as backpressure means to). */
	const char *kq_file = getenv("DX_IO_KQUEUE");
	char kq_entry[600] = "";
	if (kqueue)
		snprintf(kq_entry, sizeof kq_entry,
			 "{\"%s\":\"%s\",\"config\":{\"emulation\":true}},",
			 kq_file ? "path" : "name", kq_file ? kq_file : "io_kqueue");
	char extra[1400], answer[1024] = "", want[96];
	snprintf(extra, sizeof extra,
		 "\"plugin_path\":[\"%s\"],\"workers\":2,\"io\":"
		 "{\"backend\":\"%s\"},\"limits\":{\"max_output\":"
		 "67108864},\"plugins\":[{\"name\":"
		 "\"io_epoll\"},%s%s{\"name\":\"routes_echo\"}]",
		 getenv("DX_PLUGINS"), backends[0],
		 uring ? "{\"name\":\"io_uring\"}," : "", kq_entry);
	/* Only io_uring may be refused by a machine (the log says why):
	 * another first backend that does not come up is a failure. */
	int refused = strcmp(backends[0], "io_uring") ? 1 : 77;
	if (dx_test_host_start(&host, dx_host, extra, NULL) < 0)
		return refused;
	snprintf(want, sizeof want, "\"backend\":\"%s\"", backends[0]);
	if (ctl("{\"cmd\":\"status\"}\n", answer, sizeof answer) < 0 ||
	    !strstr(answer, want)) {
		fprintf(stderr, "skip: dx-host is not on %s (%s)\n",
			backends[0], answer);
		dx_test_host_stop(&host);
		return refused;
	}
	Suite *s = suite_create("swap");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_swap_under_load);
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	/* The host is this process's child (the test ran in a fork). */
	if (dx_test_host_stop(&host) < 0)
		rc = 1;
	return rc;
}
