/* analyse.h - count files and lines per language in a project and write a
 * JSON report (default PROJECT/.dx/forge/analysis.json):
 *   {"version": 1, "project": "...", "generated": "2024-01-01T00:00:00Z",
 *    "files": N, "lines": N, "bytes": N,
 *    "languages": [{"language": "C", "files": N, "lines": N, "bytes": N},
 *                  ...]}   (most lines first, then by name)
 * The language comes from the file name (extension, or names such as
 * meson.build and Makefile), else from a "#!" line; a file with a NUL in
 * its first 8 KiB is "Binary" (lines 0); anything else is "Other". Lines
 * are newline characters, plus one for a last line without one. Skips
 * ".git" at any depth and ".dx" at the top; symlinks are not followed nor
 * counted.
 *
 * Thread rules: reentrant. */
#ifndef DX_FORGE_ANALYSE_H
#define DX_FORGE_ANALYSE_H

#include <stddef.h>
#include <stdint.h>

#include "fx_util.h"

typedef struct dx_analyse_opts {
	const char *project; /* NULL: "." */
	const char *report;  /* NULL: PROJECT/.dx/forge/analysis.json;
			      * "": write none */
} dx_analyse_opts;

typedef struct dx_analyse_lang {
	const char *language; /* static */
	size_t files;
	uint64_t lines, bytes;
} dx_analyse_lang;

typedef struct dx_analysis {
	dx_analyse_lang *langs; /* sorted as in the report */
	size_t count;
	size_t files;
	uint64_t lines, bytes;
	char *report; /* the path written, malloc'd; NULL when none */
} dx_analysis;

/* The language of a file name (its last component), or NULL when the name
 * does not say. */
const char *dx_analyse_language(const char *name);

int dx_analyse(const dx_analyse_opts *o, dx_analysis *out, dx_fx_err *e);
void dx_analysis_free(dx_analysis *a);

#endif
