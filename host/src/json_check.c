/* json_check.c - the generic checks of json_check.h: messages, paths,
 * keys, typed members. The manifest's schema is manifest*.c; the config
 * nodes plugins read are config.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/plugin.h>

#include "json_check.h"

#define SHOW_MAX 48 /* longest string value quoted in a message */

/* ---- small strings ---------------------------------------------------- */

void dx_jc_vadd(dx_jc_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || b->oom) {
		b->oom = true;
		return;
	}
	size_t need = b->len + (size_t)n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
}

void dx_jc_add(dx_jc_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dx_jc_vadd(b, fmt, ap);
	va_end(ap);
}

/* Control bytes become '?': a key or value from the file must never break
 * the one-line-per-error rule. */
void dx_jc_scrub(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- errors ------------------------------------------------------------ */

/* Report "path: message" (just the message at the root, whose path is ""). */
void dx_jc_err(dx_jcheck *c, const char *path, const char *fmt, ...)
{
	dx_jc_buf b = {0};
	va_list ap;
	if (path && *path)
		dx_jc_add(&b, "%s: ", path);
	va_start(ap, fmt);
	dx_jc_vadd(&b, fmt, ap);
	va_end(ap);
	c->errors++;
	if (b.oom)
		c->oom = true;
	else
		dx_jc_scrub(b.s); /* file names and values come from the user */
	dx_diag_add(c->d, "%s",
		    b.oom ? "out of memory while validating the manifest" :
			    b.s);
	free(b.s);
}

void dx_jc_nomem(dx_jcheck *c)
{
	if (!c->oom)
		dx_jc_err(c, "", "out of memory while reading the manifest");
	c->oom = true;
}

/* What a message says was found: scalars as written, containers by kind. */
const char *dx_jc_describe(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v)) {
		size_t len = strlen(v->valuestring);
		snprintf(buf, n, "\"%.*s%s\"", SHOW_MAX, v->valuestring,
			 len > SHOW_MAX ? "..." : "");
		dx_jc_scrub(buf);
	} else if (cJSON_IsNumber(v)) {
		/* Shortest text that reads back as the same double. */
		snprintf(buf, n, "%.15g", v->valuedouble);
		if (strtod(buf, NULL) != v->valuedouble)
			snprintf(buf, n, "%.17g", v->valuedouble);
	} else {
		snprintf(buf, n, "%s",
			 cJSON_IsTrue(v)  ? "true" :
			 cJSON_IsFalse(v) ? "false" :
			 cJSON_IsNull(v)  ? "null" :
			 cJSON_IsArray(v) ? "an array" :
					    "an object");
	}
	return buf;
}

const char *dx_jc_kind(const cJSON *v)
{
	return cJSON_IsString(v) ? "a string" :
	       cJSON_IsNumber(v) ? "a number" :
	       cJSON_IsBool(v)   ? "a boolean" :
	       cJSON_IsNull(v)   ? "null" :
	       cJSON_IsArray(v)  ? "an array" :
	       cJSON_IsObject(v) ? "an object" :
				   "an invalid value";
}

/* The common shape: "path: expected WHAT, got VALUE". */
void dx_jc_got(dx_jcheck *c, const char *path, const cJSON *v,
	       const char *expected)
{
	char got[DX_JC_GOT_MAX];
	dx_jc_err(c, path, "expected %s, got %s", expected,
		  dx_jc_describe(v, got, sizeof got));
}

char *dx_jc_strdup(dx_jcheck *c, const char *s)
{
	char *p = strdup(s);
	if (!p)
		dx_jc_nomem(c);
	return p;
}

char *dx_jc_fmt(dx_jcheck *c, const char *fmt, ...) DX_PRINTF(2, 3);
char *dx_jc_fmt(dx_jcheck *c, const char *fmt, ...)
{
	dx_jc_buf b = {0};
	va_list ap;
	va_start(ap, fmt);
	dx_jc_vadd(&b, fmt, ap);
	va_end(ap);
	if (b.oom) {
		free(b.s);
		dx_jc_nomem(c);
		return NULL;
	}
	return b.s;
}

/* ---- JSON paths ------------------------------------------------------- */

const char *dx_jc_key(char *out, const char *parent, const char *key)
{
	snprintf(out, DX_JC_PATH_MAX, "%s%s%s", parent, *parent ? "." : "",
		 key);
	dx_jc_scrub(out);
	return out;
}

const char *dx_jc_idx(char *out, const char *parent, size_t i)
{
	snprintf(out, DX_JC_PATH_MAX, "%s[%zu]", parent, i);
	return out;
}

/* ---- generic checks --------------------------------------------------- */

/* Keys are case-sensitive (cJSON_GetObjectItem is not). */
cJSON *dx_jc_get(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Whether an earlier member of obj has it->string too (cJSON keeps both). */
static bool seen_before(const cJSON *obj, const cJSON *it)
{
	for (const cJSON *p = obj->child; p != it; p = p->next)
		if (!strcmp(p->string, it->string))
			return true;
	return false;
}

/* Every object in the tree, plugin configs included: a repeated key is
 * always a mistake, and which copy wins would be cJSON's choice. */
void dx_jc_dups(dx_jcheck *c, const cJSON *v, const char *path)
{
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX];
		if (cJSON_IsObject(v)) {
			dx_jc_key(p, path, it->string);
			if (seen_before(v, it))
				dx_jc_err(c, p,
					  "duplicate key; each key may appear "
					  "once in an object");
		} else {
			dx_jc_idx(p, path, i);
		}
		dx_jc_dups(c, it, p);
	}
}

/* Levenshtein distance of short strings, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

char *dx_jc_unknown_key(const char *key, const char *const *keys, bool listed)
{
	dx_jc_buf b = {0}, msg = {0};
	const char *near = NULL;
	for (size_t i = 0; keys[i]; i++) {
		dx_jc_add(&b, "%s%s", i ? ", " : "", keys[i]);
		size_t dist = distance(key, keys[i]);
		if (!near && dist <= 2 && dist < strlen(keys[i]))
			near = keys[i];
	}
	const char *list = b.oom ? "?" : b.s ? b.s : "";
	if (listed) /* the plugin config style: no guess, "(none)" */
		dx_jc_add(&msg, "unknown key; expected one of: %s",
			  *list ? list : "(none)");
	else if (near)
		dx_jc_add(&msg,
			  "unknown key; expected one of %s (did you mean "
			  "\"%s\"?)",
			  list, near);
	else
		dx_jc_add(&msg, "unknown key; expected one of %s", list);
	free(b.s);
	if (msg.oom) {
		free(msg.s);
		return NULL;
	}
	return msg.s;
}

size_t dx_jc_keys(dx_jcheck *c, const cJSON *obj, const char *path,
		  const char *const *keys)
{
	size_t bad = 0;
	for (const cJSON *it = obj->child; it; it = it->next) {
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], it->string))
			i++;
		if (keys[i] || seen_before(obj, it))
			continue;
		char p[DX_JC_PATH_MAX],
			*msg = dx_jc_unknown_key(it->string, keys, false);
		dx_jc_err(c, dx_jc_key(p, path, it->string), "%s",
			  msg ? msg : "unknown key");
		free(msg);
		bad++;
	}
	return bad;
}

/* The object member key of parent with its keys checked, or NULL when it is
 * absent or not an object (reported). */
cJSON *dx_jc_object(dx_jcheck *c, const cJSON *parent, const char *ppath,
		    const char *key, const char *const *keys)
{
	char p[DX_JC_PATH_MAX];
	cJSON *v = dx_jc_get(parent, key);
	if (!v)
		return NULL;
	dx_jc_key(p, ppath, key);
	if (!cJSON_IsObject(v)) {
		dx_jc_got(c, p, v, "an object");
		return NULL;
	}
	dx_jc_keys(c, v, p, keys);
	return v;
}

bool dx_jc_is_int(const cJSON *v, long long lo, long long hi)
{
	/* Range first: converting an out-of-range double is undefined. */
	return cJSON_IsNumber(v) && v->valuedouble >= (double)lo &&
	       v->valuedouble <= (double)hi &&
	       v->valuedouble == (double)(long long)v->valuedouble;
}

/* The opt_* readers leave *out (the default) alone when the key is absent
 * and return false after reporting a bad value. */
bool dx_jc_opt_int(dx_jcheck *c, const cJSON *obj, const char *parent,
		   const char *key, long long lo, long long hi, long long *out)
{
	const cJSON *v = dx_jc_get(obj, key);
	if (!v)
		return true;
	if (dx_jc_is_int(v, lo, hi)) {
		*out = (long long)v->valuedouble;
		return true;
	}
	char p[DX_JC_PATH_MAX], want[80];
	snprintf(want, sizeof want, "an integer in %lld..%lld", lo, hi);
	dx_jc_got(c, dx_jc_key(p, parent, key), v, want);
	return false;
}

bool dx_jc_opt_bool(dx_jcheck *c, const cJSON *obj, const char *parent,
		    const char *key, bool *out)
{
	const cJSON *v = dx_jc_get(obj, key);
	char p[DX_JC_PATH_MAX];
	if (!v)
		return true;
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return true;
	}
	dx_jc_got(c, dx_jc_key(p, parent, key), v, "true or false");
	return false;
}

bool dx_jc_str(dx_jcheck *c, const cJSON *v, const char *path)
{
	if (cJSON_IsString(v) && v->valuestring[0])
		return true;
	dx_jc_got(c, path, v, "a non-empty string");
	return false;
}

/* One of the NULL-terminated allowed strings. */
const char *dx_jc_one_of(const char *const *allowed, char *buf, size_t n)
{
	size_t len = (size_t)snprintf(buf, n, "one of ");
	for (size_t i = 0; allowed[i] && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s\"%s\"",
					i ? ", " : "", allowed[i]);
	return buf;
}

bool dx_jc_opt_enum(dx_jcheck *c, const cJSON *obj, const char *parent,
		    const char *key, const char *const *allowed)
{
	const cJSON *v = dx_jc_get(obj, key);
	if (!v)
		return true;
	for (size_t i = 0; allowed[i]; i++)
		if (cJSON_IsString(v) && !strcmp(v->valuestring, allowed[i]))
			return true;
	char p[DX_JC_PATH_MAX], want[128];
	dx_jc_got(c, dx_jc_key(p, parent, key), v,
		  dx_jc_one_of(allowed, want, sizeof want));
	return false;
}

/* A plugin, tool or driver name: the SDK's one rule for names. */
bool dx_jc_name(dx_jcheck *c, const cJSON *v, const char *path,
		const char *what)
{
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsString(v)) {
		dx_jc_err(c, path, "expected a %s name (a string), got %s",
			  what, dx_jc_describe(v, got, sizeof got));
		return false;
	}
	if (!dx_name_valid(v->valuestring)) {
		dx_jc_err(c, path,
			  "invalid %s name %s: use [a-z][a-z0-9_]*, at most "
			  "%d bytes",
			  what, dx_jc_describe(v, got, sizeof got),
			  DX_NAME_MAX);
		return false;
	}
	return true;
}

/* An array of strings (absent is fine); nonempty demands one or more. */
void dx_jc_str_array(dx_jcheck *c, const cJSON *v, const char *path,
		     bool nonempty)
{
	if (!v)
		return;
	if (!cJSON_IsArray(v) || (nonempty && !v->child)) {
		dx_jc_got(c, path, v,
			  nonempty ? "a non-empty array of strings" :
				     "an array of strings");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX];
		if (!cJSON_IsString(it))
			dx_jc_got(c, dx_jc_idx(p, path, i), it, "a string");
	}
}
