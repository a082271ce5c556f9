/* teleport_print.c - a rowset as a readable table or as JSON, for people
 * and scripts (dx call ... db.get [--json]); see dx/teleport.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <dx/teleport.h>

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at s (s[0] >= 0x80),
 * with its code point in *cp, or 0 if there is none: overlong forms,
 * surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2, c = s[0] & 0x1F, min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3, c = s[0] & 0x0F, min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/* --- Table -------------------------------------------------------------- */

/* Writes s[0, n) to f for a table cell (f NULL: only measures) and returns
 * its width in columns: control bytes and invalid UTF-8 become \n, \r, \t
 * or \xHH so a row stays on one line; a UTF-8 character counts as one. */
static size_t cell(FILE *f, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t w = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = s[i] >= 0x80 ? utf8_seq(s + i, n - i, &cp) : 0;
		if (k) {
			if (f)
				fwrite(s + i, 1, k, f);
			i += k, w++;
			continue;
		}
		uint8_t b = s[i++];
		const char *esc = b == '\n' ? "\\n" :
				  b == '\r' ? "\\r" :
				  b == '\t' ? "\\t" :
					      NULL;
		if (esc) {
			if (f)
				fputs(esc, f);
			w += 2;
		} else if (b < 0x20 || b >= 0x7F) {
			if (f)
				fprintf(f, "\\x%02X", b);
			w += 4;
		} else {
			if (f)
				fputc(b, f);
			w++;
		}
	}
	return w;
}

static void pad(FILE *f, int c, size_t n)
{
	while (n--)
		fputc(c, f);
}

/* One line of the table: names when row is UINT32_MAX + 1, else values. */
static void table_line(const dx_rowset *rs, FILE *f, const size_t *width,
		       uint64_t row)
{
	uint32_t nc = dx_rowset_ncols(rs);
	for (uint32_t c = 0; c < nc; c++) {
		size_t n;
		const char *s =
			row > UINT32_MAX ?
				dx_rowset_colname(rs, c, &n) :
				dx_rowset_value(rs, (uint32_t)row, c, &n, NULL);
		fputs(c ? " | " : " ", f);
		size_t w = cell(f, s ? s : "", n);
		if (c + 1 < nc)
			pad(f, ' ', width[c] - w);
	}
	if (nc)
		fputc('\n', f);
}

int dx_rowset_print_table(const dx_rowset *rs, FILE *f)
{
	if (!rs || !f)
		return -EINVAL;
	uint32_t nc = dx_rowset_ncols(rs), nr = dx_rowset_nrows(rs);
	size_t *width = calloc(nc ? nc : 1, sizeof *width);
	if (!width)
		return -ENOMEM;
	for (uint32_t c = 0; c < nc; c++) {
		size_t n;
		const char *s = dx_rowset_colname(rs, c, &n);
		width[c] = cell(NULL, s ? s : "", n);
		for (uint32_t r = 0; r < nr; r++) {
			s = dx_rowset_value(rs, r, c, &n, NULL);
			size_t w = cell(NULL, s ? s : "", n);
			if (w > width[c])
				width[c] = w;
		}
	}
	table_line(rs, f, width, (uint64_t)UINT32_MAX + 1);
	for (uint32_t c = 0; c < nc; c++) {
		if (c)
			fputc('+', f);
		pad(f, '-', width[c] + 2);
	}
	if (nc)
		fputc('\n', f);
	for (uint32_t r = 0; r < nr; r++)
		table_line(rs, f, width, r);
	fprintf(f, "(%" PRIu32 " row%s)\n", nr, nr == 1 ? "" : "s");
	free(width);
	return ferror(f) ? -EIO : 0;
}

/* --- JSON --------------------------------------------------------------- */

/* s[0, n) as a JSON string of ASCII characters. */
static void json_string(FILE *f, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		uint8_t b = s[i];
		if (b >= 0x80) {
			uint32_t cp;
			size_t k = utf8_seq(s + i, n - i, &cp);
			if (!k) {
				fputs("\\ufffd", f);
				i++;
			} else if (cp < 0x10000) {
				fprintf(f, "\\u%04" PRIx32, cp);
				i += k;
			} else {
				cp -= 0x10000;
				fprintf(f, "\\u%04" PRIx32 "\\u%04" PRIx32,
					0xD800 + (cp >> 10),
					0xDC00 + (cp & 0x3FF));
				i += k;
			}
			continue;
		}
		i++;
		switch (b) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (b < 0x20 || b == 0x7F)
				fprintf(f, "\\u%04x", b);
			else
				fputc(b, f);
		}
	}
	fputc('"', f);
}

int dx_rowset_print_json(const dx_rowset *rs, FILE *f)
{
	if (!rs || !f)
		return -EINVAL;
	uint32_t nc = dx_rowset_ncols(rs), nr = dx_rowset_nrows(rs);
	fputs("{\n  \"columns\": [", f);
	for (uint32_t c = 0; c < nc; c++) {
		size_t n;
		const char *s = dx_rowset_colname(rs, c, &n);
		fputs(c ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_string(f, s ? s : "", n);
		fprintf(f, ", \"type\": %" PRIu32 "}",
			dx_rowset_coltype(rs, c));
	}
	fputs(nc ? "\n  ],\n  \"rows\": [" : "],\n  \"rows\": [", f);
	for (uint32_t r = 0; r < nr; r++) {
		fputs(r ? ",\n    [" : "\n    [", f);
		for (uint32_t c = 0; c < nc; c++) {
			size_t n;
			int isnull;
			const char *s = dx_rowset_value(rs, r, c, &n, &isnull);
			if (c)
				fputs(", ", f);
			if (isnull || !s)
				fputs("null", f);
			else
				json_string(f, s, n);
		}
		fputc(']', f);
	}
	fputs(nr ? "\n  ]\n}\n" : "]\n}\n", f);
	return ferror(f) ? -EIO : 0;
}
