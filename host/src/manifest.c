/* manifest.c - read a dx manifest and validate all of it before anything is
 * loaded (see manifest.h).
 *
 * Validation never stops at the first problem: every check reports through
 * err() and moves on, so a manifest with five mistakes gets five lines. The
 * sections are read in dependency order: plugin_path before plugins (names
 * resolve along it), plugins before middleware (which names them).
 *
 * Ownership: every string in dx_manifest is malloc'd and freed by
 * dx_manifest_free; cJSON pointers (plugin configs, forge) point into root,
 * which the manifest owns. Nothing here is global; one call, one context. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <dx/error.h>
#include <dx/plugin.h>

#include "dl.h"
#include "manifest.h"

#ifndef DX_DEFAULT_PLUGIN_DIR
#error "DX_DEFAULT_PLUGIN_DIR must come from the build (host/meson.build)"
#endif

#define JP_MAX 256           /* longest JSON path in a message; cut beyond */
#define GOT_MAX 96           /* longest "got ..." text in a message */
#define SHOW_MAX 48          /* longest string value quoted in a message */
#define FILE_MAX (16u << 20) /* a manifest is configuration, not data */
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* One validation run: where messages go, what is being built. */
typedef struct mctx {
	dx_diag *d;
	dx_manifest *m;
	size_t errors; /* any error means the manifest is refused */
	bool oom;
} mctx;

/* ---- small strings ---------------------------------------------------- */

/* A growable string for messages assembled piece by piece. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
} sbuf;

static void sb_vadd(sbuf *b, const char *fmt, va_list ap)
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

static void sb_add(sbuf *b, const char *fmt, ...) DX_PRINTF(2, 3);
static void sb_add(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vadd(b, fmt, ap);
	va_end(ap);
}

/* Control bytes become '?': a key or value from the file must never break
 * the one-line-per-error rule. */
static void scrub(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- errors ------------------------------------------------------------ */

static void err(mctx *c, const char *path, const char *fmt, ...)
	DX_PRINTF(3, 4);
/* Report "path: message" (just the message at the root, whose path is ""). */
static void err(mctx *c, const char *path, const char *fmt, ...)
{
	sbuf b = {0};
	va_list ap;
	if (path && *path)
		sb_add(&b, "%s: ", path);
	va_start(ap, fmt);
	sb_vadd(&b, fmt, ap);
	va_end(ap);
	c->errors++;
	if (b.oom)
		c->oom = true;
	else
		scrub(b.s); /* file names and values come from the user */
	dx_diag_add(c->d, "%s",
		    b.oom ? "out of memory while validating the manifest" :
			    b.s);
	free(b.s);
}

static void nomem(mctx *c)
{
	if (!c->oom)
		err(c, "", "out of memory while reading the manifest");
	c->oom = true;
}

/* What a message says was found: scalars as written, containers by kind. */
static const char *describe(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v)) {
		size_t len = strlen(v->valuestring);
		snprintf(buf, n, "\"%.*s%s\"", SHOW_MAX, v->valuestring,
			 len > SHOW_MAX ? "..." : "");
		scrub(buf);
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

/* The common shape: "path: expected WHAT, got VALUE". */
static void err_got(mctx *c, const char *path, const cJSON *v,
		    const char *expected)
{
	char got[GOT_MAX];
	err(c, path, "expected %s, got %s", expected,
	    describe(v, got, sizeof got));
}

/* ---- allocation and paths ----------------------------------------------- */

static char *xstrdup(mctx *c, const char *s)
{
	char *p = strdup(s);
	if (!p)
		nomem(c);
	return p;
}

static char *xfmt(mctx *c, const char *fmt, ...) DX_PRINTF(2, 3);
static char *xfmt(mctx *c, const char *fmt, ...)
{
	sbuf b = {0};
	va_list ap;
	va_start(ap, fmt);
	sb_vadd(&b, fmt, ap);
	va_end(ap);
	if (b.oom) {
		free(b.s);
		nomem(c);
		return NULL;
	}
	return b.s;
}

/* Append s to the array *v of *n strings, taking ownership of s. */
static bool push_str(mctx *c, char ***v, size_t *n, char *s)
{
	char **nv = s ? realloc(*v, (*n + 1) * sizeof *nv) : NULL;
	if (!nv) {
		free(s);
		nomem(c);
		return false;
	}
	nv[(*n)++] = s;
	*v = nv;
	return true;
}

static char *join(mctx *c, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	bool slash = n && dir[n - 1] == '/';
	return xfmt(c, "%s%s%s", dir, slash ? "" : "/", name);
}

/* Relative paths in a manifest mean "from the manifest's directory", never
 * from wherever the host happened to be started. */
static char *resolve(mctx *c, const char *p)
{
	return p[0] == '/' ? xstrdup(c, p) : join(c, c->m->dir, p);
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The canonical form of an existing path, falling back to p itself. */
static char *canonical(mctx *c, char *p)
{
	char *r = p ? realpath(p, NULL) : NULL;
	if (!r)
		return p;
	free(p);
	return r;
}

/* ---- JSON paths ------------------------------------------------------- */

static const char *jp_key(char *out, const char *parent, const char *key)
{
	snprintf(out, JP_MAX, "%s%s%s", parent, *parent ? "." : "", key);
	scrub(out);
	return out;
}

static const char *jp_idx(char *out, const char *parent, size_t i)
{
	snprintf(out, JP_MAX, "%s[%zu]", parent, i);
	return out;
}

/* ---- generic checks --------------------------------------------------- */

/* Keys are case-sensitive (cJSON_GetObjectItem is not). */
static cJSON *get(const cJSON *obj, const char *key)
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
static void check_dups(mctx *c, const cJSON *v, const char *path)
{
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX];
		if (cJSON_IsObject(v)) {
			jp_key(p, path, it->string);
			if (seen_before(v, it))
				err(c, p,
				    "duplicate key; each key may appear "
				    "once in an object");
		} else {
			jp_idx(p, path, i);
		}
		check_dups(c, it, p);
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

static void unknown_key(mctx *c, const char *path, const char *key,
			const char *const *keys)
{
	sbuf b = {0};
	const char *near = NULL;
	for (size_t i = 0; keys[i]; i++) {
		sb_add(&b, "%s%s", i ? ", " : "", keys[i]);
		size_t dist = distance(key, keys[i]);
		if (!near && dist <= 2 && dist < strlen(keys[i]))
			near = keys[i];
	}
	char p[JP_MAX];
	jp_key(p, path, key);
	if (near)
		err(c, p,
		    "unknown key; expected one of %s (did you mean "
		    "\"%s\"?)",
		    b.oom ? "?" : b.s, near);
	else
		err(c, p, "unknown key; expected one of %s", b.oom ? "?" : b.s);
	free(b.s);
}

/* Report each member of obj whose key is not in keys (NULL-terminated). */
static void check_keys(mctx *c, const cJSON *obj, const char *path,
		       const char *const *keys)
{
	for (const cJSON *it = obj->child; it; it = it->next) {
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], it->string))
			i++;
		if (!keys[i] && !seen_before(obj, it))
			unknown_key(c, path, it->string, keys);
	}
}

/* The object member key of parent with its keys checked, or NULL when it is
 * absent or not an object (reported). */
static cJSON *section(mctx *c, const cJSON *parent, const char *ppath,
		      const char *key, const char *const *keys)
{
	char p[JP_MAX];
	cJSON *v = get(parent, key);
	if (!v)
		return NULL;
	jp_key(p, ppath, key);
	if (!cJSON_IsObject(v)) {
		err_got(c, p, v, "an object");
		return NULL;
	}
	check_keys(c, v, p, keys);
	return v;
}

static bool is_int_in(const cJSON *v, long long lo, long long hi)
{
	/* Range first: converting an out-of-range double is undefined. */
	return cJSON_IsNumber(v) && v->valuedouble >= (double)lo &&
	       v->valuedouble <= (double)hi &&
	       v->valuedouble == (double)(long long)v->valuedouble;
}

/* The opt_* readers leave *out (the default) alone when the key is absent
 * and return false after reporting a bad value. */
static bool opt_int(mctx *c, const cJSON *obj, const char *parent,
		    const char *key, long long lo, long long hi, long long *out)
{
	const cJSON *v = get(obj, key);
	if (!v)
		return true;
	if (is_int_in(v, lo, hi)) {
		*out = (long long)v->valuedouble;
		return true;
	}
	char p[JP_MAX], want[80];
	snprintf(want, sizeof want, "an integer in %lld..%lld", lo, hi);
	err_got(c, jp_key(p, parent, key), v, want);
	return false;
}

static bool opt_bool(mctx *c, const cJSON *obj, const char *parent,
		     const char *key, bool *out)
{
	const cJSON *v = get(obj, key);
	char p[JP_MAX];
	if (!v)
		return true;
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return true;
	}
	err_got(c, jp_key(p, parent, key), v, "true or false");
	return false;
}

static bool check_str(mctx *c, const cJSON *v, const char *path)
{
	if (cJSON_IsString(v) && v->valuestring[0])
		return true;
	err_got(c, path, v, "a non-empty string");
	return false;
}

/* One of the NULL-terminated allowed strings. */
static bool opt_enum(mctx *c, const cJSON *obj, const char *parent,
		     const char *key, const char *const *allowed)
{
	const cJSON *v = get(obj, key);
	if (!v)
		return true;
	sbuf b = {0};
	for (size_t i = 0; allowed[i]; i++) {
		if (cJSON_IsString(v) && !strcmp(v->valuestring, allowed[i])) {
			free(b.s);
			return true;
		}
		sb_add(&b, "%s\"%s\"", i ? ", " : "", allowed[i]);
	}
	char p[JP_MAX], want[128];
	snprintf(want, sizeof want, "one of %s", b.oom ? "?" : b.s);
	err_got(c, jp_key(p, parent, key), v, want);
	free(b.s);
	return false;
}

/* A plugin, tool or driver name: the SDK's one rule for names. */
static bool check_name(mctx *c, const cJSON *v, const char *path,
		       const char *what)
{
	char got[GOT_MAX];
	if (!cJSON_IsString(v)) {
		err(c, path, "expected a %s name (a string), got %s", what,
		    describe(v, got, sizeof got));
		return false;
	}
	if (!dx_name_valid(v->valuestring)) {
		err(c, path,
		    "invalid %s name %s: use [a-z][a-z0-9_]*, at most "
		    "%d bytes",
		    what, describe(v, got, sizeof got), DX_NAME_MAX);
		return false;
	}
	return true;
}

/* An array of strings (absent is fine); nonempty demands one or more. */
static void check_str_array(mctx *c, const cJSON *v, const char *path,
			    bool nonempty)
{
	if (!v)
		return;
	if (!cJSON_IsArray(v) || (nonempty && !v->child)) {
		err_got(c, path, v,
			nonempty ? "a non-empty array of strings" :
				   "an array of strings");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX];
		if (!cJSON_IsString(it))
			err_got(c, jp_idx(p, path, i), it, "a string");
	}
}

/* ---- JSON text -------------------------------------------------------- */

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t skip_ws(const char *t, size_t i, size_t len)
{
	while (i < len && is_ws(t[i]))
		i++;
	return i;
}

/* The last non-blank byte before i, or '\0'. */
static char prev_char(const char *t, size_t i)
{
	while (i > 0 && is_ws(t[i - 1]))
		i--;
	return i > 0 ? t[i - 1] : '\0';
}

/* cJSON's error offset, made to point at the offending byte: a key that is
 * not a string is reported one byte late (parse_string has already stepped
 * over its opening byte), and running off the end is reported at the last
 * byte. Returns len for "end of input". */
static size_t error_offset(const char *t, size_t off, size_t len)
{
	if (off >= len)
		return len;
	if (off > 0 && !is_ws(t[off - 1]) && t[off - 1] != '"' &&
	    !(t[off - 1] >= '0' && t[off - 1] <= '9') &&
	    (prev_char(t, off - 1) == '{' || prev_char(t, off - 1) == ','))
		return off - 1;
	if (off + 1 == len &&
	    (is_ws(t[off]) ||
	     (strchr("0123456789\"el]}", t[off]) && prev_char(t, off) != ',')))
		return len;
	return off;
}

/* A guess at why the parse failed at off, for the message. */
static const char *syntax_reason(const char *t, size_t off, size_t len)
{
	if (off >= len)
		return "unexpected end of input; is a closing } or ] missing?";
	if ((t[off] == '}' || t[off] == ']') && prev_char(t, off) == ',')
		return "trailing comma (JSON allows none)";
	if (t[off] == '\'')
		return "strings need double quotes";
	if (t[off] == '/' && off + 1 < len &&
	    (t[off + 1] == '/' || t[off + 1] == '*'))
		return "JSON has no comments";
	if (prev_char(t, off) == '{' || prev_char(t, off) == ',')
		return "expected a double-quoted key or a value";
	return "unexpected text";
}

/* "LINE:COL: JSON syntax error: REASON near 'TEXT'", both 1-based. */
static void syntax_error(mctx *c, const char *t, size_t off, size_t len,
			 const char *reason)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (t[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	char near[24];
	size_t n = 0;
	while (off + n < len && n < sizeof near - 1 && t[off + n] != '\n' &&
	       t[off + n] != '\r')
		n++;
	memcpy(near, t + off, n);
	near[n] = '\0';
	scrub(near);
	if (n)
		err(c, "", "%zu:%zu: JSON syntax error: %s near '%s'", line,
		    col, reason, near);
	else
		err(c, "", "%zu:%zu: JSON syntax error: %s", line, col, reason);
}

static bool parse_json(mctx *c, const char *t, size_t len)
{
	const char *end = NULL;
	if (skip_ws(t, 0, len) == len) {
		syntax_error(c, t, len, len,
			     "empty manifest; expected an "
			     "object such as {\"dx\": 1}");
		return false;
	}
	c->m->root = cJSON_ParseWithLengthOpts(t, len, &end, 0);
	if (!c->m->root) {
		size_t off = error_offset(t, end ? (size_t)(end - t) : 0, len);
		syntax_error(c, t, off, len, syntax_reason(t, off, len));
		return false;
	}
	/* Not null-terminated mode: cJSON stops after the value, so text
	 * after it is ours to refuse. */
	size_t rest = skip_ws(t, (size_t)(end - t), len);
	if (rest < len) {
		syntax_error(c, t, rest, len,
			     "text after the top-level object");
		return false;
	}
	return true;
}

/* ---- dx, plugin_path ---------------------------------------------------- */

/* False when the version is wrong: a different format's keys would only
 * produce noise, so nothing else is checked. */
static bool check_version(mctx *c, const cJSON *root)
{
	const cJSON *v = get(root, "dx");
	char got[GOT_MAX];
	if (!v) {
		err(c, "",
		    "missing required key \"dx\"; add \"dx\": 1 (the "
		    "manifest format version)");
		return true;
	}
	if (!cJSON_IsNumber(v)) {
		err_got(c, "dx", v,
			"the integer 1 (the manifest format version)");
		return true;
	}
	if (v->valuedouble != 1) {
		err(c, "dx",
		    "manifest version %s is not supported; this host "
		    "reads manifest version 1",
		    describe(v, got, sizeof got));
		return false;
	}
	return true;
}

static void add_plugin_dir(mctx *c, const cJSON *v, const char *path)
{
	if (!check_str(c, v, path))
		return;
	char *abs = resolve(c, v->valuestring);
	struct stat st;
	if (!abs)
		return;
	if (stat(abs, &st) != 0) {
		if (errno == ENOENT)
			err(c, path, "no such directory: %s", abs);
		else
			err(c, path, "cannot use directory %s: %s", abs,
			    strerror(errno));
		free(abs);
	} else if (!S_ISDIR(st.st_mode)) {
		err(c, path, "not a directory: %s", abs);
		free(abs);
	} else {
		push_str(c, &c->m->plugin_path, &c->m->plugin_path_count,
			 canonical(c, abs));
	}
}

static void parse_plugin_path(mctx *c, const cJSON *root)
{
	const cJSON *v = get(root, "plugin_path");
	if (!v) {
		/* The install location need not exist: a build run from its
		 * tree names its own plugin_path. */
		push_str(c, &c->m->plugin_path, &c->m->plugin_path_count,
			 xstrdup(c, DX_DEFAULT_PLUGIN_DIR));
		return;
	}
	if (cJSON_IsString(v)) {
		add_plugin_dir(c, v, "plugin_path");
		return;
	}
	if (!cJSON_IsArray(v)) {
		err_got(c, "plugin_path", v,
			"a directory (string) or an array of directories");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX];
		add_plugin_dir(c, it, jp_idx(p, "plugin_path", i));
	}
}

/* ---- listen, control.socket ---------------------------------------------- */

/* Resolve a Unix socket path. Its directory must exist now (bind creates
 * only the file), and the result must fit sockaddr_un.sun_path. Returns the
 * absolute path, or NULL after reporting. */
static char *socket_path(mctx *c, const char *path, const char *given)
{
	char *abs = resolve(c, given);
	if (!abs)
		return NULL;
	char *slash = strrchr(abs, '/'); /* abs is absolute: there is one */
	if (!slash[1]) {
		err(c, path,
		    "%s names a directory; expected a socket file path", abs);
		free(abs);
		return NULL;
	}
	*slash = '\0';
	char *dir = realpath(*abs ? abs : "/", NULL);
	char *full = NULL;
	if (!dir)
		err(c, path, "socket directory %s: %s", *abs ? abs : "/",
		    errno == ENOENT ? "does not exist" : strerror(errno));
	else if (!is_dir(dir))
		err(c, path, "socket directory %s is not a directory", dir);
	else
		full = join(c, dir, slash + 1);
	if (full && strlen(full) > SUN_PATH_MAX) {
		err(c, path,
		    "socket path %s is %zu bytes; a Unix socket path "
		    "must fit in %zu bytes, use a shorter one",
		    full, strlen(full), (size_t)SUN_PATH_MAX);
		free(full);
		full = NULL;
	}
	free(dir);
	free(abs);
	return full;
}

/* Split "HOST:PORT" or "[HOST]:PORT"; false when s has neither shape. */
static bool split_hostport(const char *s, char *host, size_t hostlen,
			   const char **port, bool *bracketed)
{
	const char *h = s, *colon;
	size_t hl;
	*bracketed = s[0] == '[';
	if (*bracketed) {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = colon + 1;
	return true;
}

static bool parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return false;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* Check the address part of a listen entry; the host is stored in the
 * canonical form inet_ntop gives, so equal addresses compare equal. */
static bool listen_addr(mctx *c, const char *path, const char *host, bool v6,
			dx_listen *l, const char *got)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *h = host;
	if (!v6 && !strcmp(host, "localhost"))
		h = "127.0.0.1";
	else if (!v6 && !strcmp(host, "*"))
		h = "0.0.0.0";
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, addr) != 1) {
		if (v6)
			err(c, path, "invalid IPv6 address in %s", got);
		else if (strchr(host, ':'))
			err(c, path,
			    "invalid IPv4 address in %s; write IPv6 "
			    "addresses in brackets, as in [::1]:7070",
			    got);
		else
			err(c, path,
			    "invalid IPv4 address in %s; expected a "
			    "dotted quad such as 127.0.0.1, localhost "
			    "or *",
			    got);
		return false;
	}
	char canon[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, addr, canon, sizeof canon);
	l->kind = v6 ? DX_LISTEN_TCP6 : DX_LISTEN_TCP4;
	l->host = xstrdup(c, canon);
	return l->host != NULL;
}

static bool listen_one(mctx *c, const cJSON *v, const char *path, dx_listen *l)
{
	static const char shapes[] = "HOST:PORT, [IPV6]:PORT or unix:PATH";
	char got[GOT_MAX], host[256];
	const char *port;
	bool v6;
	describe(v, got, sizeof got);
	if (!cJSON_IsString(v)) {
		err(c, path, "expected an address (%s), got %s", shapes, got);
		return false;
	}
	const char *s = v->valuestring;
	if (!(l->text = xstrdup(c, s)))
		return false;
	if (!strncmp(s, "unix:", 5)) {
		if (!s[5]) {
			err(c, path,
			    "expected a socket path after unix:, got %s", got);
			return false;
		}
		l->kind = DX_LISTEN_UNIX;
		l->path = socket_path(c, path, s + 5);
		return l->path != NULL;
	}
	if (!split_hostport(s, host, sizeof host, &port, &v6)) {
		err(c, path, "expected %s, got %s", shapes, got);
		return false;
	}
	bool port_ok = parse_port(port, &l->port);
	if (!port_ok)
		err(c, path,
		    "invalid port in %s; expected a decimal number in "
		    "0..65535 (0 lets the kernel choose)",
		    got);
	return listen_addr(c, path, host, v6, l, got) && port_ok;
}

static bool same_listen(const dx_listen *a, const dx_listen *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == DX_LISTEN_UNIX)
		return a->path && b->path && !strcmp(a->path, b->path);
	/* Port 0 asks the kernel for a fresh port each time: no clash. */
	return a->port && a->port == b->port && a->host && b->host &&
	       !strcmp(a->host, b->host);
}

/* Binding the same address twice would fail at start: say so now. */
static void listen_dup(mctx *c, const dx_listen *l, size_t i, const char *p)
{
	for (size_t j = 0; j < i; j++) {
		if (same_listen(&l[j], &l[i])) {
			err(c, p,
			    "\"%s\" is the same address as listen[%zu] "
			    "(\"%s\")",
			    l[i].text, j, l[j].text);
			return;
		}
	}
}

static void parse_listen(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = get(root, "listen");
	if (v && !cJSON_IsArray(v)) {
		err_got(c, "listen", v,
			"an array of addresses such as [\"127.0.0.1:7070\"]");
		return;
	}
	size_t n = v ? (size_t)cJSON_GetArraySize(v) : 1;
	if (!(m->listen = calloc(n ? n : 1, sizeof *m->listen))) {
		nomem(c);
		return;
	}
	m->listen_count = n;
	if (!v) {
		dx_listen *l = &m->listen[0];
		l->kind = DX_LISTEN_TCP4;
		l->text = xstrdup(c, "127.0.0.1:7070");
		l->host = xstrdup(c, "127.0.0.1");
		l->port = 7070;
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX];
		jp_idx(p, "listen", i);
		if (listen_one(c, it, p, &m->listen[i]))
			listen_dup(c, m->listen, i, p);
	}
}

static void parse_control(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"socket", NULL};
	const cJSON *ctl = section(c, root, "", "control", keys);
	const cJSON *v = ctl ? get(ctl, "socket") : NULL;
	if (v && check_str(c, v, "control.socket"))
		c->m->control_socket =
			socket_path(c, "control.socket", v->valuestring);
}

/* ---- workers, io, limits -------------------------------------------------- */

static void parse_workers(mctx *c, const cJSON *root)
{
	const cJSON *v = get(root, "workers");
	if (!v || (cJSON_IsString(v) && !strcmp(v->valuestring, "auto")))
		c->m->workers = 0; /* one per online CPU, decided at start */
	else if (is_int_in(v, 1, 1024))
		c->m->workers = (unsigned)v->valuedouble;
	else
		err_got(c, "workers", v, "\"auto\" or an integer in 1..1024");
}

static void parse_io(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"backend", "queue_depth", "sqpoll",
					   "zero_copy", NULL};
	dx_manifest *m = c->m;
	m->io.queue_depth = 256;
	if (!(m->io.backend = xstrdup(c, "auto")))
		return;
	const cJSON *io = section(c, root, "", "io", keys);
	if (!io)
		return;
	const cJSON *b = get(io, "backend");
	if (b && cJSON_IsString(b) &&
	    (!strcmp(b->valuestring, "auto") ||
	     dx_name_valid(b->valuestring))) {
		free(m->io.backend);
		m->io.backend = xstrdup(c, b->valuestring);
	} else if (b) {
		err_got(c, "io.backend", b,
			"\"auto\", an IO backend (io_uring, epoll) or "
			"the plugin that provides it (io_epoll)");
	}
	long long q = m->io.queue_depth;
	if (opt_int(c, io, "io", "queue_depth", 1, 32768, &q) && (q & (q - 1)))
		err(c, "io.queue_depth",
		    "expected a power of two in 1..32768, "
		    "got %lld",
		    q);
	m->io.queue_depth = (uint32_t)q;
	opt_bool(c, io, "io", "sqpoll", &m->io.sqpoll);
	const cJSON *z = get(io, "zero_copy");
	static const char *const zc[] = {"auto", "always", "never"};
	for (int i = 0; z && i < 3; i++)
		if (cJSON_IsString(z) && !strcmp(z->valuestring, zc[i])) {
			m->io.zero_copy = (dx_zero_copy)i;
			z = NULL;
		}
	if (z)
		err_got(c, "io.zero_copy", z,
			"\"auto\" (not to local peers), \"always\" or "
			"\"never\"");
}

/* "background": the host's background queue (host->enqueue). */
static void parse_background(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"threads", "queue", NULL};
	long long threads = 1, queue = 1024;
	const cJSON *b = section(c, root, "", "background", keys);
	if (b) {
		opt_int(c, b, "background", "threads", 1, 64, &threads);
		opt_int(c, b, "background", "queue", 1, 1048576, &queue);
	}
	c->m->background.threads = (unsigned)threads;
	c->m->background.queue = (unsigned)queue;
}

static void parse_limits(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"max_frame",
					   "max_message",
					   "max_connections",
					   "idle_timeout_ms",
					   "header_timeout_ms",
					   "grace_ms",
					   NULL};
	dx_manifest *m = c->m;
	const struct {
		long long lo, hi, def;
		uint64_t *dst;
	} f[] = {
		{64, 1073741824LL, 1048576, &m->limits.max_frame},
		{64, 4294967296LL, 16777216, &m->limits.max_message},
		{1, 1000000, 10000, &m->limits.max_connections},
		{0, 86400000, 60000, &m->limits.idle_timeout_ms},
		{1, 600000, 10000, &m->limits.header_timeout_ms},
		{0, 600000, 5000, &m->limits.grace_ms},
	};
	const cJSON *lim = section(c, root, "", "limits", keys);
	bool ok = true;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		long long v = f[i].def;
		if (lim &&
		    !opt_int(c, lim, "limits", keys[i], f[i].lo, f[i].hi, &v))
			ok = false;
		*f[i].dst = (uint64_t)v;
	}
	if (ok && m->limits.max_message < m->limits.max_frame)
		err(c, "limits.max_message",
		    "%llu%s is less than "
		    "limits.max_frame (%llu); a message must hold at least "
		    "one whole frame",
		    (unsigned long long)m->limits.max_message,
		    get(lim, "max_message") ? "" : " (the default)",
		    (unsigned long long)m->limits.max_frame);
}

/* ---- plugins, middleware ------------------------------------------------- */

/* "path" given: it must be an existing regular file. */
static void plugin_by_path(mctx *c, dx_manifest_plugin *pl, const cJSON *v,
			   const char *path)
{
	if (!check_str(c, v, path))
		return;
	char *abs = resolve(c, v->valuestring);
	struct stat st;
	if (!abs)
		return;
	if (stat(abs, &st) != 0) {
		err(c, path, "%s: %s",
		    errno == ENOENT ? "no such file" : strerror(errno), abs);
		free(abs);
	} else if (!S_ISREG(st.st_mode)) {
		err(c, path, "not a regular file: %s", abs);
		free(abs);
	} else {
		pl->path = canonical(c, abs);
	}
}

/* Only a name: DIR/NAME.so, then DIR/NAME/NAME.so (how the build lays out
 * plugins), in each plugin_path directory in order. */
static void plugin_by_name(mctx *c, dx_manifest_plugin *pl, const char *path)
{
	const dx_manifest *m = c->m;
	sbuf tried = {0};
	for (size_t i = 0; i < m->plugin_path_count && !pl->path; i++) {
		for (int nested = 0; nested < 2 && !pl->path; nested++) {
			char *f = xfmt(c, "%s/%s%s%s%s", m->plugin_path[i],
				       nested ? pl->name : "",
				       nested ? "/" : "", pl->name,
				       dx_dl_suffix);
			if (!f)
				break;
			sb_add(&tried, "%s%s", tried.len ? ", " : "", f);
			if (is_file(f))
				pl->path = canonical(c, f);
			else
				free(f);
		}
	}
	if (!pl->path && !c->oom)
		err(c, path, "plugin \"%s\" not found; looked in: %s", pl->name,
		    tried.oom ? "?" :
		    tried.s   ? tried.s :
				"nothing, plugin_path is empty");
	free(tried.s);
}

/* "routes": {"echo": 20}: serve a plugin's route under another id. Names
 * are checked against the plugin when it is loaded. */
static void parse_plugin_routes(mctx *c, const cJSON *v, const char *p,
				dx_manifest_plugin *pl)
{
	char q[JP_MAX], r[JP_MAX];
	const cJSON *routes = get(v, "routes");
	pl->routes_path = xfmt(c, "%s.routes", p);
	if (!routes)
		return;
	if (!cJSON_IsObject(routes)) {
		err_got(c, jp_key(q, p, "routes"), routes,
			"an object of route name to id, e.g. {\"echo\": 20}");
		return;
	}
	jp_key(q, p, "routes");
	for (const cJSON *it = routes->child; it; it = it->next) {
		if (!is_int_in(it, 1, 65535))
			err_got(c, jp_key(r, q, it->string), it,
				"a route id in 1..65535 (0 is discovery)");
		for (const cJSON *o = routes->child; o != it; o = o->next)
			if (is_int_in(o, 1, 65535) && is_int_in(it, 1, 65535) &&
			    o->valuedouble == it->valuedouble)
				err(c, jp_key(r, q, it->string),
				    "id %.0f is also given to \"%s\"",
				    it->valuedouble, o->string);
	}
	pl->routes = routes;
}

static void parse_plugin(mctx *c, const cJSON *v, const char *p,
			 dx_manifest_plugin *pl)
{
	static const char *const keys[] = {"name", "path", "config",
					   "allow_writable", "routes", NULL};
	char q[JP_MAX];
	pl->json_path = xstrdup(c, p);
	pl->config_path = xfmt(c, "%s.config", p);
	if (!cJSON_IsObject(v)) {
		err_got(c, p, v,
			"an object such as {\"name\": \"routes_hello\"}");
		return;
	}
	check_keys(c, v, p, keys);
	const cJSON *name = get(v, "name"), *path = get(v, "path");
	const cJSON *cfg = get(v, "config");
	if (!name && !path)
		err(c, p, "needs \"name\" or \"path\"");
	if (name && check_name(c, name, jp_key(q, p, "name"), "plugin"))
		pl->name = xstrdup(c, name->valuestring);
	if (cfg && !cJSON_IsObject(cfg))
		err_got(c, jp_key(q, p, "config"), cfg, "an object");
	else
		pl->config = cfg;
	opt_bool(c, v, p, "allow_writable", &pl->allow_writable);
	parse_plugin_routes(c, v, p, pl);
	if (path)
		plugin_by_path(c, pl, path, jp_key(q, p, "path"));
	else if (pl->name)
		plugin_by_name(c, pl, jp_key(q, p, "name"));
}

static void parse_plugins(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = get(root, "plugins");
	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		err_got(c, "plugins", v, "an array of plugin objects");
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	if (n && !(m->plugins = calloc(n, sizeof *m->plugins))) {
		nomem(c);
		return;
	}
	m->plugin_count = n; /* every slot, so free finds each one */
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX], q[JP_MAX];
		parse_plugin(c, it, jp_idx(p, "plugins", i), &m->plugins[i]);
		for (size_t j = 0; m->plugins[i].name && j < i; j++) {
			if (!m->plugins[j].name ||
			    strcmp(m->plugins[j].name, m->plugins[i].name))
				continue;
			err(c, jp_key(q, p, "name"),
			    "\"%s\" is also plugins[%zu]"
			    "; load each plugin once",
			    m->plugins[i].name, j);
			break;
		}
	}
}

static bool is_plugin_name(const dx_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->plugin_count; i++)
		if (m->plugins[i].name && !strcmp(m->plugins[i].name, name))
			return true;
	return false;
}

/* A list of middleware plugin names at path, into *out. */
static void parse_mw_list(mctx *c, const cJSON *v, const char *path,
			  char ***out, size_t *count)
{
	if (!cJSON_IsArray(v)) {
		err_got(c, path, v, "an array of plugin names");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[JP_MAX];
		const cJSON *dup = v->child;
		snprintf(p, sizeof p, "%s[%zu]", path, i);
		if (!check_name(c, it, p, "plugin"))
			continue;
		if (!is_plugin_name(c->m, it->valuestring)) {
			err(c, p,
			    "\"%s\" is not a plugin in this manifest; add "
			    "it to plugins",
			    it->valuestring);
			continue;
		}
		size_t j = 0;
		while (dup != it && (!cJSON_IsString(dup) ||
				     strcmp(dup->valuestring, it->valuestring)))
			dup = dup->next, j++;
		if (dup != it)
			err(c, p, "\"%s\" is also %s[%zu]", it->valuestring,
			    path, j);
		else
			push_str(c, out, count, xstrdup(c, it->valuestring));
	}
}

static void parse_middleware(mctx *c, const cJSON *root)
{
	dx_manifest *m = c->m;
	const cJSON *v = get(root, "middleware");
	if (v)
		parse_mw_list(c, v, "middleware", &m->middleware,
			      &m->middleware_count);
	const cJSON *r = get(root, "route_middleware");
	if (!r)
		return;
	if (!cJSON_IsObject(r)) {
		err_got(c, "route_middleware", r,
			"an object of route name to a list of middleware, e.g. "
			"{\"echo\": [\"mw_timing\"]}");
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(r), i = 0;
	m->route_middleware = calloc(n ? n : 1, sizeof *m->route_middleware);
	if (!m->route_middleware) {
		nomem(c);
		return;
	}
	for (const cJSON *it = r->child; it; it = it->next, i++) {
		dx_route_mw *rm = &m->route_middleware[m->route_middleware_count++];
		char p[JP_MAX];
		snprintf(p, sizeof p, "route_middleware.%s", it->string);
		rm->route = xstrdup(c, it->string);
		parse_mw_list(c, it, p, &rm->names, &rm->count);
	}
}

/* ---- forge ------------------------------------------------------------- */

/* The forge plugin reads the tools later, without the manifest's
 * directory, so a relative cwd is rewritten in place to its absolute form.
 * It need not exist yet: an earlier tool may create it. */
static void check_cwd(mctx *c, cJSON *v, const char *path)
{
	if (!v || !check_str(c, v, path) || v->valuestring[0] == '/')
		return;
	char *abs = resolve(c, v->valuestring);
	if (abs && !cJSON_SetValuestring(v, abs))
		nomem(c);
	free(abs);
}

static void check_env(mctx *c, const cJSON *v, const char *path)
{
	if (!v)
		return;
	if (!cJSON_IsObject(v)) {
		err_got(c, path, v, "an object of NAME: \"value\" strings");
		return;
	}
	for (const cJSON *it = v->child; it; it = it->next) {
		char p[JP_MAX];
		jp_key(p, path, it->string);
		if (!it->string[0] || strchr(it->string, '='))
			err(c, p,
			    "invalid environment variable name; it must "
			    "be non-empty and have no '='");
		if (!cJSON_IsString(it))
			err_got(c, p, it, "a string");
	}
}

static void check_depends(mctx *c, const cJSON *v, const char *path)
{
	static const char *const keys[] = {"tool", "condition", NULL};
	static const char *const conds[] = {"started", "healthy", "completed",
					    NULL};
	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		err_got(c, path, v, "an array of {\"tool\": NAME} objects");
		return;
	}
	size_t i = 0;
	for (const cJSON *d = v->child; d; d = d->next, i++) {
		char p[JP_MAX], q[JP_MAX];
		jp_idx(p, path, i);
		if (!cJSON_IsObject(d)) {
			err_got(c, p, d,
				"an object such as {\"tool\": \"db\"}");
			continue;
		}
		check_keys(c, d, p, keys);
		const cJSON *tool = get(d, "tool");
		if (!tool)
			err(c, p, "missing required key \"tool\"");
		else if (!cJSON_IsString(tool))
			err_got(c, jp_key(q, p, "tool"), tool,
				"a tool name (a string)");
		opt_enum(c, d, p, "condition", conds);
	}
}

/* Exactly one probe: tcp "HOST:PORT", cmd [argv...] or alive true. */
static void check_health(mctx *c, const cJSON *v, const char *path)
{
	static const char *const keys[] = {"tcp", "cmd", "alive", NULL};
	if (!v)
		return;
	if (!cJSON_IsObject(v)) {
		err_got(c, path, v, "an object with one of tcp, cmd, alive");
		return;
	}
	check_keys(c, v, path, keys);
	const cJSON *tcp = get(v, "tcp"), *alive = get(v, "alive");
	char p[JP_MAX], host[256];
	const char *port;
	uint16_t pn;
	bool br;
	if (!!tcp + !!get(v, "cmd") + !!alive != 1)
		err(c, path, "expected exactly one of tcp, cmd, alive");
	if (tcp &&
	    (!cJSON_IsString(tcp) ||
	     !split_hostport(tcp->valuestring, host, sizeof host, &port, &br) ||
	     !parse_port(port, &pn) || pn == 0))
		err_got(c, jp_key(p, path, "tcp"), tcp,
			"\"HOST:PORT\" with a port in 1..65535");
	check_str_array(c, get(v, "cmd"), jp_key(p, path, "cmd"), true);
	if (alive && !cJSON_IsTrue(alive))
		err_got(c, jp_key(p, path, "alive"), alive, "true");
}

static const char *parse_tool(mctx *c, cJSON *t, const char *p)
{
	static const char *const keys[] = {
		"name",    "driver", "binary",        "args",
		"env",     "cwd",    "priority",      "depends_on",
		"restart", "health", "stop_grace_ms", NULL};
	static const char *const restarts[] = {"no", "on_failure", "always",
					       NULL};
	char q[JP_MAX];
	long long num = 0;
	if (!cJSON_IsObject(t)) {
		err_got(c, p, t,
			"a tool object such as {\"name\": \"db\", "
			"\"binary\": \"postgres\"}");
		return NULL;
	}
	check_keys(c, t, p, keys);
	const cJSON *name = get(t, "name"), *bin = get(t, "binary");
	bool named = name && check_name(c, name, jp_key(q, p, "name"), "tool");
	if (!name)
		err(c, p, "missing required key \"name\"");
	if (!bin)
		err(c, p,
		    "missing required key \"binary\" (the program to run)");
	else
		check_str(c, bin, jp_key(q, p, "binary"));
	if (get(t, "driver"))
		check_name(c, get(t, "driver"), jp_key(q, p, "driver"),
			   "forge driver");
	check_str_array(c, get(t, "args"), jp_key(q, p, "args"), false);
	check_env(c, get(t, "env"), jp_key(q, p, "env"));
	check_cwd(c, get(t, "cwd"), jp_key(q, p, "cwd"));
	opt_int(c, t, p, "priority", -1000, 1000, &num);
	opt_int(c, t, p, "stop_grace_ms", 0, 600000, &num);
	opt_enum(c, t, p, "restart", restarts);
	check_depends(c, get(t, "depends_on"), jp_key(q, p, "depends_on"));
	check_health(c, get(t, "health"), jp_key(q, p, "health"));
	return named ? name->valuestring : NULL;
}

/* The tools as a graph: node i is forge.tools[i], edges its depends_on. */
typedef struct fgraph {
	const cJSON **tool;
	const char **name; /* valid, unique names; NULL otherwise */
	size_t n;
	unsigned char *state; /* 0 unvisited, 1 on the DFS stack, 2 done */
	size_t *stack;
	size_t depth;
} fgraph;

/* The first depends_on entry of a tool, or NULL. */
static const cJSON *fg_deps(const cJSON *tool)
{
	const cJSON *deps = get(tool, "depends_on");
	return cJSON_IsArray(deps) ? deps->child : NULL;
}

static size_t fg_find(const fgraph *g, const cJSON *name)
{
	for (size_t i = 0; cJSON_IsString(name) && i < g->n; i++)
		if (g->name[i] && !strcmp(g->name[i], name->valuestring))
			return i;
	return g->n;
}

/* "a -> b -> c -> a": from k's place on the stack to the top, then k. */
static void fg_cycle(mctx *c, const fgraph *g, size_t k)
{
	sbuf b = {0};
	size_t at = g->depth;
	while (at > 0 && g->stack[at - 1] != k)
		at--;
	if (at == 0)
		return; /* k is always on the stack; stay safe if not */
	for (size_t j = at - 1; j < g->depth; j++)
		sb_add(&b, "%s -> ", g->name[g->stack[j]]);
	sb_add(&b, "%s", g->name[k]);
	err(c, "forge.tools",
	    "dependency cycle: %s; each tool waits for the "
	    "next, so none can start",
	    b.oom ? "?" : b.s);
	free(b.s);
}

static void fg_visit(mctx *c, fgraph *g, size_t i)
{
	g->state[i] = 1;
	g->stack[g->depth++] = i;
	for (const cJSON *d = fg_deps(g->tool[i]); d; d = d->next) {
		size_t k = fg_find(g, get(d, "tool"));
		if (k == g->n)
			continue;
		if (g->state[k] == 1)
			fg_cycle(c, g, k);
		else if (g->state[k] == 0)
			fg_visit(c, g, k);
	}
	g->depth--;
	g->state[i] = 2;
}

/* Unknown dependencies, then cycles (each back edge found reports one). */
static void fg_check(mctx *c, fgraph *g)
{
	for (size_t i = 0; i < g->n; i++) {
		size_t j = 0;
		for (const cJSON *d = fg_deps(g->tool[i]); d; d = d->next) {
			const cJSON *to = get(d, "tool");
			char p[JP_MAX], q[JP_MAX];
			snprintf(p, sizeof p,
				 "forge.tools[%zu].depends_on[%zu]"
				 ".tool",
				 i, j++);
			if (!cJSON_IsString(to) || fg_find(g, to) < g->n)
				continue;
			snprintf(q, sizeof q, "forge.tools[%zu]", i);
			err(c, p,
			    "tool \"%s\" depends on \"%s\", which is not "
			    "in forge.tools",
			    g->name[i] ? g->name[i] : q, to->valuestring);
		}
	}
	for (size_t i = 0; i < g->n; i++)
		if (g->state[i] == 0)
			fg_visit(c, g, i);
}

/* Check each tool and record it as a node; a repeated name is an error,
 * and edges to that name go to its first tool. */
static void fg_collect(mctx *c, fgraph *g, cJSON *tools)
{
	size_t i = 0;
	for (cJSON *t = tools->child; t; t = t->next, i++) {
		char p[JP_MAX], q[JP_MAX];
		g->tool[i] = t;
		g->name[i] = parse_tool(c, t, jp_idx(p, "forge.tools", i));
		size_t j = g->name[i] ? fg_find(g, get(t, "name")) : i;
		if (j < i) {
			err(c, jp_key(q, p, "name"),
			    "\"%s\" is also forge.tools[%zu]", g->name[i], j);
			g->name[i] = NULL;
		}
	}
}

/* Only the shape is checked here; m->forge keeps the JSON for the forge
 * plugin, which owns its meaning. */
static void parse_forge(mctx *c, cJSON *root)
{
	static const char *const keys[] = {"tools", NULL};
	cJSON *forge = section(c, root, "", "forge", keys);
	cJSON *tools = forge ? get(forge, "tools") : NULL;
	c->m->forge = forge;
	if (!tools)
		return;
	if (!cJSON_IsArray(tools)) {
		err_got(c, "forge.tools", tools, "an array of tool objects");
		return;
	}
	fgraph g = {0};
	g.n = (size_t)cJSON_GetArraySize(tools);
	g.tool = calloc(g.n + 1, sizeof *g.tool);
	g.name = calloc(g.n + 1, sizeof *g.name);
	g.state = calloc(g.n + 1, 1);
	g.stack = calloc(g.n + 1, sizeof *g.stack);
	if (g.tool && g.name && g.state && g.stack) {
		fg_collect(c, &g, tools);
		fg_check(c, &g);
	} else {
		nomem(c);
	}
	free(g.tool);
	free(g.name);
	free(g.state);
	free(g.stack);
}

/* ---- the whole manifest ------------------------------------------------- */

static void validate(mctx *c)
{
	static const char *const keys[] = {
		"dx",       "plugin_path", "listen", "workers",
		"pin_cpus", "io",          "limits", "control",
		"plugins",  "middleware",  "route_middleware", "forge",
		"background", NULL};
	cJSON *root = c->m->root;
	if (!cJSON_IsObject(root)) {
		err_got(c, "", root,
			"a JSON object at the top level, such as "
			"{\"dx\": 1}");
		return;
	}
	if (!check_version(c, root))
		return;
	check_dups(c, root, "");
	check_keys(c, root, "", keys);
	parse_plugin_path(c, root);
	parse_listen(c, root);
	parse_workers(c, root);
	opt_bool(c, root, "", "pin_cpus", &c->m->pin_cpus);
	parse_io(c, root);
	parse_limits(c, root);
	parse_background(c, root);
	parse_control(c, root);
	parse_plugins(c, root);
	parse_middleware(c, root);
	parse_forge(c, root);
}

/* Record the source's names; dir becomes absolute so that every resolved
 * path is, whatever the caller's working directory later becomes. */
static bool set_source(mctx *c, const char *file, const char *dir)
{
	c->m->file = xstrdup(c, file ? file : "");
	c->m->dir = realpath(dir && *dir ? dir : ".", NULL);
	if (!c->m->dir)
		err(c, "", "cannot use directory %s: %s",
		    dir && *dir ? dir : ".", strerror(errno));
	return c->m->file && c->m->dir;
}

static int parse_len(const char *text, size_t len, const char *file,
		     const char *dir, dx_manifest **out, dx_diag *d)
{
	mctx c = {.d = d};
	*out = NULL;
	if (!(c.m = calloc(1, sizeof *c.m))) {
		nomem(&c);
		return -ENOMEM;
	}
	if (set_source(&c, file, dir) && parse_json(&c, text, len))
		validate(&c);
	if (c.errors) {
		dx_manifest_free(c.m);
		return c.oom ? -ENOMEM : DX_ECONFIG;
	}
	*out = c.m;
	return 0;
}

int dx_manifest_parse(const char *text, const char *file, const char *dir,
		      dx_manifest **out, dx_diag *d)
{
	return parse_len(text, strlen(text), file, dir, out, d);
}

/* The whole file, NUL-terminated, in *text; 0 or an errno value. */
static int read_all(int fd, char **text, size_t *len)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return ENOMEM;
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : 0;
			if (e) {
				free(buf);
				return e;
			}
			break;
		}
		n += (size_t)r;
		if (n > FILE_MAX) {
			free(buf);
			return EFBIG;
		}
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

static int read_file(const char *file, char **text, size_t *len)
{
	struct stat st;
	int e = 0, fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0)
		e = errno;
	else if (S_ISDIR(st.st_mode))
		e = EISDIR;
	else
		e = read_all(fd, text, len);
	close(fd);
	return e;
}

/* The directory part of file ("." when it has none). */
static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	if (!slash)
		return strdup(".");
	if (slash == file)
		return strdup("/");
	return strndup(file, (size_t)(slash - file));
}

int dx_manifest_load(const char *file, dx_manifest **out, dx_diag *d)
{
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	*out = NULL;
	int e = read_file(file, &text, &len);
	if (e) {
		dx_diag_add(d, "cannot read %s: %s", file, strerror(e));
		return e == ENOMEM ? -ENOMEM : DX_ECONFIG;
	}
	if (!(dir = dir_of(file))) {
		free(text);
		dx_diag_add(d, "out of memory while reading %s", file);
		return -ENOMEM;
	}
	int rc = parse_len(text, len, file, dir, out, d);
	free(dir);
	free(text);
	return rc;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void dx_manifest_free(dx_manifest *m)
{
	if (!m)
		return;
	free(m->file);
	free(m->dir);
	cJSON_Delete(m->root);
	free_strv(m->plugin_path, m->plugin_path_count);
	for (size_t i = 0; i < m->listen_count; i++) {
		free(m->listen[i].text);
		free(m->listen[i].host);
		free(m->listen[i].path);
	}
	free(m->listen);
	free(m->io.backend);
	free(m->control_socket);
	for (size_t i = 0; i < m->plugin_count; i++) {
		dx_manifest_plugin *pl = &m->plugins[i];
		free(pl->name);
		free(pl->path);
		free(pl->config_path);
		free(pl->routes_path);
		free(pl->json_path);
	}
	free(m->plugins);
	free_strv(m->middleware, m->middleware_count);
	for (size_t i = 0; i < m->route_middleware_count; i++) {
		free(m->route_middleware[i].route);
		free_strv(m->route_middleware[i].names,
			  m->route_middleware[i].count);
	}
	free(m->route_middleware);
	free(m);
}
