/* rp_lines.h - the reload property test's unit of comparison: a list of
 * text lines, sorted, and the difference of two. Single-threaded. */
#ifndef DX_RP_LINES_H
#define DX_RP_LINES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_LINES 96
#define RP_LINE 160

struct rp_lines {
	int n;
	char l[RP_LINES][RP_LINE];
};

static void rp_add(struct rp_lines *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rp_add(struct rp_lines *v, const char *fmt, ...)
{
	if (v->n == RP_LINES)
		return; /* the compare then shows the last line missing */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->l[v->n++], RP_LINE, fmt, ap);
	va_end(ap);
}

static int rp_line_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void rp_sort(struct rp_lines *v)
{
	qsort(v->l, (size_t)v->n, RP_LINE, rp_line_cmp);
}

/* Lines of a (-) and of b (+) that the other lacks, into out; whether
 * there was any. Both sorted. */
static bool rp_diff(const struct rp_lines *a, const struct rp_lines *b,
		    char *out, size_t n)
{
	size_t len = 0;
	int i = 0, k = 0;
	out[0] = '\0';
	while (i < a->n || k < b->n) {
		int c = i == a->n ? 1 :
			k == b->n ? -1 :
				    strcmp(a->l[i], b->l[k]);
		if (c != 0 && len < n)
			len += (size_t)snprintf(out + len, n - len, "  %c %s\n",
						c < 0 ? '-' : '+',
						c < 0 ? a->l[i] : b->l[k]);
		i += c <= 0;
		k += c >= 0;
	}
	return len > 0;
}

#endif
