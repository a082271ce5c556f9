/* fuzz_pipeline - the host's request pipeline over a connection in memory:
 * dx_pipeline_input (host/src/pipeline.c) with the middleware chain
 * (mw_timing, which adds response metadata), the routes of routes_echo
 * (echo; delay, answered later by a worker timer) and the answer writer
 * (answer.c, async.c), all real, with a real generation built from a
 * parsed manifest. No socket: the connection's input buffer is filled the
 * way the worker's receive does, chunk by chunk, and its output buffer is
 * read back the way the send would take it.
 *
 * Input: one byte giving the chunk size (0: the whole input at once), then
 * the byte stream a client sends. After every chunk, and after the delayed
 * answers fired, the output must be whole frames, each an answer opcode
 * no longer than limits.max_frame (metadata included), the largest frame a
 * client is obliged to accept (issue 11 item 2), and whole answers (FINAL
 * on the last frame of a split one).
 *
 * DX_FUZZ_KNOWN_BUGS=1 skips that size check (only the size check), so a
 * long run can look for other bugs while item 2 is still open. CI never
 * sets it. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dx/buf.h>
#include <dx/hbtp.h>
#include <dx/timer_heap.h>

#include "conn.h"
#include "fuzz_check.h"
#include "fuzz_host.h"
#include "pipeline.h"
#include "timer.h"
#include "worker.h"

#define MAX_FRAME 256
#define MAX_MESSAGE 4096

static const char manifest[] =
	"{" FUZZ_ECHO_TIMING ", "
	"\"limits\": {\"max_frame\": 256, \"max_message\": 4096}}";

static dx_worker w;
static dx_server_view view;
static dx_conn *slots[1];
static int conn_fd = -1;
static int check_size = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dx_manifest *m;
	dx_registry *r;
	fuzz_boot(manifest, &m, &r);
	dx_diag d = DX_DIAG_INIT;
	dx_gen *g;
	if (dx_gen_build(m, r, 1, &g, &d) < 0) {
		dx_diag_print(&d, stderr, "fuzz: gen");
		exit(1);
	}
	view.m = m;
	view.reg = r;
	atomic_store(&view.gen, g);
	/* dx-host's worker set-up (no backend: nothing is sent). */
	if (dx_worker_setup(&w, &view, 0, NULL, 0) < 0)
		return -1;
	w.gen = g;
	w.conns = slots;
	w.conn_cap = 1;
	dx_worker_current = &w;
	/* A connection needs an fd for dx_conn_get to find it; it is never
	 * read or written. */
	conn_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	const char *known = getenv("DX_FUZZ_KNOWN_BUGS");
	check_size = !(known && *known == '1');
	if (!check_size)
		fprintf(stderr, "fuzz_pipeline: DX_FUZZ_KNOWN_BUGS=1: answer "
				"sizes are not checked\n");
	return w.scratch && conn_fd >= 0 && g->limits.max_frame == MAX_FRAME
		       ? 0
		       : -1;
}

/* What a send would take: whole frames, each an answer within max_frame.
 * An answer may be split into frames (FINAL on the last, which clients
 * reassemble): its frames come one after the other and end within the
 * output the pipeline left. */
static void check_output(dx_conn *c)
{
	size_t off = 0;
	bool split = false;
	dx_hbtp_header first = {0};
	while (off < c->out.len) {
		dx_hbtp_header h;
		const uint8_t *body;
		long n = dx_hbtp_frame_split(c->out.p + off, c->out.len - off,
					     UINT32_MAX, &h, &body);
		FUZZ_CHECK(n > 0, "a partial frame at %zu of %zu output bytes",
			   off, c->out.len);
		FUZZ_CHECK(h.opcode == DX_HBTP_PONG ||
				   h.opcode == DX_HBTP_RPC_RESPONSE ||
				   h.opcode == DX_HBTP_RPC_ERROR ||
				   h.opcode == DX_HBTP_CLOSE,
			   "answer of opcode 0x%02x", h.opcode);
		FUZZ_CHECK(!split || (h.opcode == first.opcode &&
				      h.seq == first.seq),
			   "frame of opcode 0x%02x seq %u inside a split answer "
			   "(opcode 0x%02x seq %u)",
			   h.opcode, h.seq, first.opcode, first.seq);
		FUZZ_CHECK((h.flags & DX_HBTP_FINAL) ||
				   h.opcode == DX_HBTP_RPC_RESPONSE ||
				   h.opcode == DX_HBTP_RPC_ERROR,
			   "a split answer of opcode 0x%02x", h.opcode);
		if (!split)
			first = h;
		split = !(h.flags & DX_HBTP_FINAL);
		FUZZ_CHECK(!check_size || h.length <= MAX_FRAME,
			   "answer frame (opcode 0x%02x, seq %u, flags 0x%02x) "
			   "of %u bytes exceeds max_frame %u",
			   h.opcode, h.seq, h.flags, h.length, MAX_FRAME);
		off += (size_t)n;
	}
	FUZZ_CHECK(!split, "split answer (seq %u) without its FINAL frame",
		   first.seq);
	c->out.len = 0; /* sent */
	w.flush_head = NULL;
	c->in_list = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = data[0] ? data[0] : size;
	data++;
	size--;
	dx_conn c = {.fd = conn_fd, .slot = 0, .gen = 1};
	snprintf(c.peer, sizeof c.peer, "fuzz");
	slots[0] = &c;
	for (size_t off = 0; off < size && !c.eof; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		FUZZ_CHECK(dx_buf_append(&c.in, data + off, n) == 0, "append");
		dx_pipeline_input(&w, &c);
		FUZZ_CHECK(c.in.len < DX_HBTP_HEADER_SIZE + MAX_FRAME ||
				   c.closing,
			   "%zu bytes held unframed", c.in.len);
		check_output(&c);
	}
	/* The delayed answers (routes_echo's delay route), as if their time
	 * had come. */
	dx_timers_run(&w, true);
	check_output(&c);
	FUZZ_CHECK(c.inflight == 0, "%u requests never answered", c.inflight);
	slots[0] = NULL;
	dx_buf_free(&c.in);
	dx_buf_free(&c.out);
	dx_buf_free(&c.sending);
	free(c.reasm_buf);
	return 0;
}
