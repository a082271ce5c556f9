/* metrics_text.c - the Prometheus text format writer (metrics_text.h).
 *
 * Escaping follows the exposition format 0.0.4: in HELP text a backslash
 * becomes \\ and a newline \n; in a label value a double quote becomes
 * \" as well. Values are Go-style floats: integers print whole, +Inf,
 * -Inf and NaN by name. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_text.h"

void dx_mtext_init(dx_mtext *t)
{
	*t = (dx_mtext){0};
}

static bool dx_mtext_room(dx_mtext *t, size_t more)
{
	if (t->failed)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *p = realloc(t->p, cap);
	if (!p) {
		t->failed = true;
		return false;
	}
	t->p = p;
	t->cap = cap;
	return true;
}

static void dx_mtext_put(dx_mtext *t, const char *s, size_t n)
{
	if (!dx_mtext_room(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void dx_mtext_printf(dx_mtext *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !dx_mtext_room(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* s escaped: \\ and \n always, \" too in a label value. */
static void dx_mtext_escaped(dx_mtext *t, const char *s, bool quote)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			dx_mtext_put(t, "\\\\", 2);
		else if (*s == '\n')
			dx_mtext_put(t, "\\n", 2);
		else if (*s == '"' && quote)
			dx_mtext_put(t, "\\\"", 2);
		else
			dx_mtext_put(t, s, 1);
	}
}

void dx_mtext_family(dx_mtext *t, const char *name, const char *type,
		     const char *help)
{
	dx_mtext_printf(t, "# HELP %s ", name);
	dx_mtext_escaped(t, help && *help ? help : name, false);
	dx_mtext_printf(t, "\n# TYPE %s %s\n", name, type);
}

static void dx_mtext_labels(dx_mtext *t, const dx_mlabels *l, const char *le)
{
	size_t n = l ? l->n : 0;
	if (!n && !le)
		return;
	dx_mtext_put(t, "{", 1);
	for (size_t i = 0; i < n; i++) {
		dx_mtext_printf(t, "%s%s=\"", i ? "," : "", l->names[i]);
		dx_mtext_escaped(t, l->values[i], true);
		dx_mtext_put(t, "\"", 1);
	}
	if (le)
		dx_mtext_printf(t, "%sle=\"%s\"", n ? "," : "", le);
	dx_mtext_put(t, "}", 1);
}

/* A float as Prometheus reads it back: the shortest of %.15g, %.16g,
 * %.17g that gives the same double (0.00025, not 0.00025000000000000001;
 * %.17g always round-trips). */
static void dx_mtext_value(char *out, size_t n, double v)
{
	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

void dx_mtext_sample(dx_mtext *t, const char *name, const dx_mlabels *l,
		     double value)
{
	char v[64];
	dx_mtext_value(v, sizeof v, value);
	dx_mtext_put(t, name, strlen(name));
	dx_mtext_labels(t, l, NULL);
	dx_mtext_printf(t, " %s\n", v);
}

void dx_mtext_sample_u64(dx_mtext *t, const char *name, const dx_mlabels *l,
			 uint64_t value)
{
	dx_mtext_put(t, name, strlen(name));
	dx_mtext_labels(t, l, NULL);
	dx_mtext_printf(t, " %llu\n", (unsigned long long)value);
}

void dx_mtext_histogram(dx_mtext *t, const char *name, const dx_mlabels *l,
			const double *bounds, size_t n, const uint64_t *counts,
			double sum)
{
	uint64_t cum = 0;
	for (size_t i = 0; i <= n; i++) {
		char le[64];
		if (i < n)
			dx_mtext_value(le, sizeof le, bounds[i]);
		else
			snprintf(le, sizeof le, "+Inf");
		cum += counts[i];
		dx_mtext_printf(t, "%s_bucket", name);
		dx_mtext_labels(t, l, le);
		dx_mtext_printf(t, " %llu\n", (unsigned long long)cum);
	}
	char v[64];
	dx_mtext_value(v, sizeof v, sum);
	dx_mtext_printf(t, "%s_sum", name);
	dx_mtext_labels(t, l, NULL);
	dx_mtext_printf(t, " %s\n%s_count", v, name);
	dx_mtext_labels(t, l, NULL);
	dx_mtext_printf(t, " %llu\n", (unsigned long long)cum);
}

char *dx_mtext_done(dx_mtext *t, size_t *len)
{
	char *p = t->failed ? NULL : t->p;
	if (!p)
		free(t->p);
	if (p && !t->len)
		p[0] = '\0';
	if (len)
		*len = p ? t->len : 0;
	if (!p && !t->failed)
		p = calloc(1, 1); /* nothing written: an empty text */
	dx_mtext_init(t);
	return p;
}

void dx_mtext_name(char *out, size_t n, const char *name)
{
	size_t o = 0;
	if (!n)
		return;
	if (name[0] >= '0' && name[0] <= '9' && o + 1 < n)
		out[o++] = '_';
	for (const char *s = name; *s && o + 1 < n; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == ':';
		out[o++] = ok ? c : '_';
	}
	out[o] = '\0';
}
