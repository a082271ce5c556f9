/* fuzz_client - libdx's HBTP client reading what a hostile server sends
 * (client_recv.c: frames, reassembly, metadata, LZ4, the kept-message
 * queue, RpcError and Close status).
 *
 * A client connects to a Unix socket of this process; the input is what
 * the "server" end writes before it closes. Input: one byte of options
 * (limits; whether the client first calls and waits for that call's seq,
 * keeping the other messages, before it receives the rest), then the
 * stream. Checked: every message handed out is within max_message, its
 * metadata and payload lie in memory the client owns (ASan), RpcError and
 * Close carry their status, and the client ends with an error, never a
 * hang (the loop is bounded; a timeout would be libFuzzer's). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <dx/client.h>

#include "fuzz_check.h"

static int listen_fd = -1;
static char addr[128];
static char sock_dir[64];

static void remove_socket(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/s", sock_dir);
	unlink(p);
	rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char dir[] = "/tmp/dx-fuzz-client-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s/s", dir);
	snprintf(addr, sizeof addr, "unix:%s", a.sun_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(listen_fd, 4))
		return -1;
	snprintf(sock_dir, sizeof sock_dir, "%s", dir);
	atexit(remove_socket);
	return 0;
}

static void check_msg(const dx_client_msg *m, size_t max_message)
{
	FUZZ_CHECK(m->len <= max_message, "message of %zu bytes past %zu",
		   m->len, max_message);
	/* Ping, Pong and Close are never split: FINAL is ignored. */
	FUZZ_CHECK((m->flags & DX_HBTP_FINAL) || m->opcode <= DX_HBTP_CLOSE,
		   "no FINAL");
	FUZZ_CHECK(m->meta.count <= DX_HBTP_META_MAX, "meta count");
	/* Touch every byte handed out: ASan checks the client owns it. */
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < m->len; i++)
		sum ^= m->payload[i];
	for (unsigned i = 0; i < m->meta.count; i++) {
		for (size_t k = 0; k < m->meta.e[i].key_len; k++)
			sum ^= (uint8_t)m->meta.e[i].key[k];
		for (size_t k = 0; k < m->meta.e[i].value_len; k++)
			sum ^= m->meta.e[i].value[k];
	}
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 256 * 1024)
		return 0;
	uint8_t opt = data[0];
	data++;
	size--;
	dx_client *c = NULL;
	char err[256];
	int rc = dx_client_connect(addr, 1000, &c, err, sizeof err);
	FUZZ_CHECK(rc == 0, "connect: %s", err);
	int srv = accept(listen_fd, NULL, NULL);
	FUZZ_CHECK(srv >= 0, "accept: %s", strerror(errno));
	int big = 1 << 20;
	setsockopt(srv, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	for (size_t off = 0; off < size;) {
		ssize_t w = write(srv, data + off, size - off);
		if (w < 0 && errno == EINTR)
			continue; /* libFuzzer's SIGALRM */
		FUZZ_CHECK(w > 0, "write: %s", strerror(errno));
		off += (size_t)w;
	}
	close(srv); /* the server is done: EOF after the input */

	static const uint32_t frames[] = {0, 64, 1024, 65536};
	uint32_t max_frame = frames[opt & 3]; /* 0: the default, 1 MiB */
	size_t max_message = 0;               /* 0: the default, 16 MiB */
	if ((opt & 4) && max_frame && max_frame <= 4096)
		max_message = 4096;
	FUZZ_CHECK(dx_client_set_limits(c, max_frame, max_message,
					(opt & 8) ? 2 : 0) == 0,
		   "limits %u %zu", max_frame, max_message);
	if (!max_message)
		max_message = DX_CLIENT_MAX_MESSAGE;
	dx_client_msg m;
	if (opt & 16) {
		uint16_t seq;
		FUZZ_CHECK(dx_client_call(c, 2, "x", 1, 0, &seq) == 0, "call");
		rc = dx_client_wait(c, (uint16_t)((opt & 32) ? 0 : seq), &m,
				    1000);
		if (rc == 0)
			check_msg(&m, max_message);
	}
	for (int i = 0; i < 100000; i++) {
		rc = dx_client_recv(c, &m, 1000);
		if (rc == 0) {
			check_msg(&m, max_message);
			continue;
		}
		FUZZ_CHECK(rc != -ETIMEDOUT, "timed out on a closed stream");
		FUZZ_CHECK(*dx_client_error(c), "error %d without a message",
			   rc);
		if (rc != DX_EPROTO)
			break;
	}
	FUZZ_CHECK(rc < 0, "still receiving after 100000 messages");
	dx_client_close(c);
	return 0;
}
