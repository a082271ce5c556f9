/* diag.c - a growable list of error lines. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

static char dx_diag_oom[] = "out of memory while reporting an error";

void dx_diag_add(dx_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);

	char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (msg) {
		va_start(ap, fmt);
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		char **m = realloc(d->msgs, cap * sizeof *m);
		if (!m) {
			free(msg);
			return;
		}
		d->msgs = m;
		d->cap = cap;
	}
	d->msgs[d->count++] = msg ? msg : dx_diag_oom;
}

void dx_diag_at_file(const dx_diag *d, size_t i, const char *file, char *out,
		     size_t cap)
{
	const char *msg = d->msgs[i];
	bool at_line = msg[0] >= '0' && msg[0] <= '9';
	snprintf(out, cap, "%s:%s%s", file, at_line ? "" : " ", msg);
}

void dx_diag_print(const dx_diag *d, FILE *out, const char *prefix)
{
	for (size_t i = 0; i < d->count; i++) {
		if (prefix && *prefix)
			fprintf(out, "%s: %s\n", prefix, d->msgs[i]);
		else
			fprintf(out, "%s\n", d->msgs[i]);
	}
}

const char *dx_diag_last(const dx_diag *d)
{
	return d->count ? d->msgs[d->count - 1] : "";
}

void dx_diag_clear(dx_diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->msgs[i] != dx_diag_oom)
			free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->count = d->cap = 0;
}

void dx_diag_prefix(dx_diag *d, size_t start, const char *prefix)
{
	for (size_t i = start; i < d->count; i++) {
		char *p = NULL;
		if (d->msgs[i] == dx_diag_oom ||
		    asprintf(&p, "%s: %s", prefix, d->msgs[i]) < 0)
			continue; /* keep the message unprefixed */
		free(d->msgs[i]);
		d->msgs[i] = p;
	}
}
