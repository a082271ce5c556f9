/* metrics_text.h - the Prometheus text exposition format, version 0.0.4.
 *
 * One growing buffer that the scrape writes families into: a family is a
 * "# HELP" line (help text escaped: backslash and newline), a "# TYPE"
 * line, then its samples. Label values are escaped (backslash, double
 * quote, newline). A histogram is written from per-bucket counts (not
 * cumulative; the writer accumulates) so its _bucket lines never go down
 * and its le="+Inf" bucket always equals _count.
 *
 * Not thread-safe: one writer per buffer. Out of memory makes the buffer
 * fail (dx_mtext_done returns NULL), never crash. */
#ifndef DX_HOST_METRICS_TEXT_H
#define DX_HOST_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/plugin.h> /* DX_PRINTF */

typedef struct dx_mtext {
	char *p;
	size_t len, cap;
	bool failed; /* an allocation failed: the text is lost */
} dx_mtext;

/* A label set: n pairs of names (valid Prometheus label names, given by
 * the host) and values (any UTF-8: escaped here). */
typedef struct dx_mlabels {
	const char *const *names;
	const char *const *values;
	size_t n;
} dx_mlabels;

void dx_mtext_init(dx_mtext *t);
/* printf into the buffer, unescaped. */
void dx_mtext_printf(dx_mtext *t, const char *fmt, ...)
	DX_PRINTF(2, 3);
/* The # HELP and # TYPE lines of family name ("counter", "gauge",
 * "histogram"). */
void dx_mtext_family(dx_mtext *t, const char *name, const char *type,
		     const char *help);
/* One sample: name{labels} value. */
void dx_mtext_sample(dx_mtext *t, const char *name, const dx_mlabels *l,
		     double value);
void dx_mtext_sample_u64(dx_mtext *t, const char *name, const dx_mlabels *l,
			 uint64_t value);
/* A histogram's samples: name_bucket{labels,le="b"} for each of the n
 * bounds (ascending) and le="+Inf", then name_sum and name_count.
 * counts has n + 1 entries: counts[i] observations in (bounds[i-1],
 * bounds[i]], counts[n] those above the last bound. */
void dx_mtext_histogram(dx_mtext *t, const char *name, const dx_mlabels *l,
			const double *bounds, size_t n, const uint64_t *counts,
			double sum);
/* The text (NUL-terminated, malloc'd, the caller frees) and its length,
 * or NULL when an allocation failed; the buffer is reset either way. */
char *dx_mtext_done(dx_mtext *t, size_t *len);

/* name with every byte a metric name may not hold ([a-zA-Z0-9_:]) made
 * '_', and a leading digit prefixed by '_'; written to out (size n). */
void dx_mtext_name(char *out, size_t n, const char *name);

#endif
