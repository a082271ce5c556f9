/* json_check.h - the one JSON validation layer: JSON paths, value
 * descriptions, unknown keys with "did you mean", typed optional members,
 * enums, names, duplicate keys and syntax errors with LINE:COL.
 *
 * The manifest (manifest.c) checks its own keys with these, and the config
 * nodes handed to plugins (config.c) build their messages with them, so a
 * message has one wording wherever it comes from. Every check reports
 * through dx_jc_err and goes on: a validation run reports every problem,
 * not just the first. Each message is one line: control bytes from the
 * file become '?'.
 *
 * Not thread-safe per dx_jcheck (one validation run, one thread); nothing
 * global. The cJSON trees are borrowed. */
#ifndef DX_HOST_JSON_CHECK_H
#define DX_HOST_JSON_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "diag.h"

#define DX_JC_PATH_MAX 256 /* longest JSON path in a message; cut beyond */
#define DX_JC_GOT_MAX 96   /* longest "got ..." text in a message */

/* One validation run: where messages go, and whether any was an error. */
typedef struct dx_jcheck {
	dx_diag *d;
	size_t errors; /* any error means the input is refused */
	bool oom;
} dx_jcheck;

/* A growable string for messages assembled piece by piece. */
typedef struct dx_jc_buf {
	char *s;
	size_t len, cap;
	bool oom;
} dx_jc_buf;

void dx_jc_vadd(dx_jc_buf *b, const char *fmt, va_list ap);
void dx_jc_add(dx_jc_buf *b, const char *fmt, ...) DX_PRINTF(2, 3);
/* Control bytes become '?'. */
void dx_jc_scrub(char *s);

/* Report "path: message" (only the message when path is ""). */
void dx_jc_err(dx_jcheck *c, const char *path, const char *fmt, ...)
	DX_PRINTF(3, 4);
void dx_jc_nomem(dx_jcheck *c);
/* The common shape: "path: expected WHAT, got VALUE". */
void dx_jc_got(dx_jcheck *c, const char *path, const cJSON *v,
	       const char *expected);
/* What a message says was found: scalars as written ("\"x\"", 1.5,
 * true), containers by kind ("an array"). */
const char *dx_jc_describe(const cJSON *v, char *buf, size_t n);
/* Only the kind of a value: "a string", "a number", "null", ... */
const char *dx_jc_kind(const cJSON *v);

/* malloc'd copies; NULL after reporting ENOMEM. */
char *dx_jc_strdup(dx_jcheck *c, const char *s);
char *dx_jc_fmt(dx_jcheck *c, const char *fmt, ...) DX_PRINTF(2, 3);

/* "parent.key" and "parent[i]" into out (DX_JC_PATH_MAX bytes). */
const char *dx_jc_key(char *out, const char *parent, const char *key);
const char *dx_jc_idx(char *out, const char *parent, size_t i);

/* Member key of obj, case-sensitively ("Alg" is not "alg"). */
cJSON *dx_jc_get(const cJSON *obj, const char *key);
/* Every repeated key anywhere in v: "PATH: duplicate key; ...". */
void dx_jc_dups(dx_jcheck *c, const cJSON *v, const char *path);

/* The message for an unknown key of an object allowing keys (NULL-ended):
 * "unknown key; expected one of a, b (did you mean "a"?)", or with
 * listed (the plugin config style) "unknown key; expected one of: a, b".
 * NULL on ENOMEM; free it. */
char *dx_jc_unknown_key(const char *key, const char *const *keys, bool listed);
/* Report each member of obj whose key is not in keys; 0 or the number
 * reported. A repeated key is reported once. */
size_t dx_jc_keys(dx_jcheck *c, const cJSON *obj, const char *path,
		  const char *const *keys);
/* The object member key of parent with its keys checked, or NULL when it
 * is absent or not an object (reported). */
cJSON *dx_jc_object(dx_jcheck *c, const cJSON *parent, const char *ppath,
		    const char *key, const char *const *keys);

bool dx_jc_is_int(const cJSON *v, long long lo, long long hi);
/* The optional readers leave *out (the default) alone when the key is
 * absent and return false after reporting a bad value. */
bool dx_jc_opt_int(dx_jcheck *c, const cJSON *obj, const char *parent,
		   const char *key, long long lo, long long hi, long long *out);
bool dx_jc_opt_bool(dx_jcheck *c, const cJSON *obj, const char *parent,
		    const char *key, bool *out);
/* One of the NULL-terminated allowed strings. */
bool dx_jc_opt_enum(dx_jcheck *c, const cJSON *obj, const char *parent,
		    const char *key, const char *const *allowed);
/* "expected one of "a", "b"" for allowed, into buf. */
const char *dx_jc_one_of(const char *const *allowed, char *buf, size_t n);
bool dx_jc_str(dx_jcheck *c, const cJSON *v, const char *path);
/* A plugin, tool or driver name: the SDK's one rule for names. */
bool dx_jc_name(dx_jcheck *c, const cJSON *v, const char *path,
		const char *what);
/* An array of strings (absent is fine); nonempty demands one or more. */
void dx_jc_str_array(dx_jcheck *c, const cJSON *v, const char *path,
		     bool nonempty);

/* Parse JSON text: the root, or NULL after reporting
 * "LINE:COL: JSON syntax error: REASON near 'TEXT'". empty names what an
 * empty text should have been. */
cJSON *dx_jc_parse(dx_jcheck *c, const char *text, size_t len,
		   const char *empty);

#endif
