/* control_int.h - the control channel's two halves: control.c, the same
 * on every system (the commands, their JSON answers, and the line
 * framing), and one transport per system (meson picks):
 *   control_posix.c  a Unix socket (mode 0600) and SIGTERM, SIGINT,
 *                    SIGHUP through sig.h, in one poll().
 *   control_win.c    a named pipe with an owner-only DACL, and the
 *                    console control events (control_pipe_win.h).
 * Main thread only, like every command (docs/abi.md: a plugin's control
 * callback runs there). */
#ifndef DX_HOST_CONTROL_INT_H
#define DX_HOST_CONTROL_INT_H

#include <stdbool.h>
#include <stddef.h>

/* control.h's; only the name here, so the pipe's test can include this
 * without the host's headers. */
typedef struct dx_control_ctx dx_control_ctx;

/* Clients served at once; one more is told "too many control clients". */
#define DX_CTL_CLIENTS 16
/* The longest request line, its newline included, plus one. */
#define DX_CTL_LINE 4096

/* Why a host refuses a control.socket another process serves, on every
 * system, after "control.socket PATH: ". */
#define DX_CTL_BUSY                                                            \
	"another process serves it (a dx-host with the same "                  \
	"control.socket?); stop that one, or name another control.socket"

/* The line a client is sent when DX_CTL_CLIENTS are connected. */
#define DX_CTL_FULL "{\"ok\":false,\"error\":\"too many control clients\"}"

/* A client's bytes not yet answered: at most one partial line. */
typedef struct dx_ctl_line {
	size_t len;
	char buf[DX_CTL_LINE];
} dx_ctl_line;

/* Send one answer line: text, then "\n". A client too slow to take it is
 * the transport's to drop (a bounded write). */
typedef void dx_ctl_send_fn(void *ud, const char *text);

/* The transport read n bytes into l->buf + l->len (it reads at most
 * DX_CTL_LINE - 1 - l->len): answer every complete line through send, in
 * order; *drain is set by a drain command. false when the client is to
 * be closed: its line outgrew DX_CTL_LINE, and it was told so. */
bool dx_ctl_take(dx_ctl_line *l, size_t n, const dx_control_ctx *x, bool *drain,
		 dx_ctl_send_fn *send, void *ud);

/* SIGHUP's work (POSIX only; Windows has `dx ctl apply`): apply the
 * host's manifest and log how it went. */
void dx_ctl_sighup(const dx_control_ctx *x);

#endif
