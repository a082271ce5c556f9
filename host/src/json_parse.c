/* json_parse.c - JSON text to a cJSON tree, or one message that says
 * where and why it is not JSON: "LINE:COL: JSON syntax error: REASON near
 * 'TEXT'", with a guess at the usual mistakes (trailing commas, single
 * quotes, comments). */
#include <string.h>

#include "json_check.h"

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
static void syntax_error(dx_jcheck *c, const char *t, size_t off, size_t len,
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
	dx_jc_scrub(near);
	if (n)
		dx_jc_err(c, "", "%zu:%zu: JSON syntax error: %s near '%s'",
			  line, col, reason, near);
	else
		dx_jc_err(c, "", "%zu:%zu: JSON syntax error: %s", line, col,
			  reason);
}

cJSON *dx_jc_parse(dx_jcheck *c, const char *t, size_t len, const char *empty)
{
	const char *end = NULL;
	if (skip_ws(t, 0, len) == len) {
		syntax_error(c, t, len, len, empty);
		return NULL;
	}
	cJSON *root = cJSON_ParseWithLengthOpts(t, len, &end, 0);
	if (!root) {
		size_t off = error_offset(t, end ? (size_t)(end - t) : 0, len);
		syntax_error(c, t, off, len, syntax_reason(t, off, len));
		return NULL;
	}
	/* Not null-terminated mode: cJSON stops after the value, so text
	 * after it is ours to refuse. */
	size_t rest = skip_ws(t, (size_t)(end - t), len);
	if (rest < len) {
		syntax_error(c, t, rest, len,
			     "text after the top-level object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
