/* diag.h - a list of user-facing error messages.
 *
 * Validation collects every problem it finds (a manifest with three mistakes
 * reports three lines), so the loader, the manifest and the registry append
 * here instead of printing. Each message is one line, without a newline. */
#ifndef DX_HOST_DIAG_H
#define DX_HOST_DIAG_H

#include <stdio.h>
#include <stddef.h>

#include <dx/plugin.h>

typedef struct dx_diag {
	char **msgs;
	size_t count;
	size_t cap;
} dx_diag;

#define DX_DIAG_INIT {NULL, 0, 0}

/* Append a message. On ENOMEM the message is dropped and a fixed one kept. */
void dx_diag_add(dx_diag *d, const char *fmt, ...) DX_PRINTF(2, 3);
/* Prefix messages from index start on with "prefix: ". */
void dx_diag_prefix(dx_diag *d, size_t start, const char *prefix);
/* Print each message as "prefix: message\n". */
void dx_diag_print(const dx_diag *d, FILE *out, const char *prefix);
/* Message i as said of file: "FILE: PATH: why", or "FILE:LINE:COL: why"
 * for a message that starts with a position (a JSON syntax error), the
 * form editors and terminals jump to; truncated to cap. */
void dx_diag_at_file(const dx_diag *d, size_t i, const char *file, char *out,
		     size_t cap);
/* The last message, or "" when there is none. */
const char *dx_diag_last(const dx_diag *d);
void dx_diag_clear(dx_diag *d);

#endif
