/* analyse.c - files and lines per language (analyse.h). */
#include "analyse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static const struct {
	const char *suffix; /* ".c", or a whole name ("meson.build") */
	const char *language;
} dx_analyse_table[] = {
	{".c", "C"},
	{".h", "C header"},
	{".cc", "C++"},
	{".cpp", "C++"},
	{".cxx", "C++"},
	{".hh", "C++ header"},
	{".hpp", "C++ header"},
	{".sh", "Shell"},
	{".bash", "Shell"},
	{".py", "Python"},
	{".json", "JSON"},
	{".md", "Markdown"},
	{".markdown", "Markdown"},
	{"meson.build", "Meson"},
	{"meson_options.txt", "Meson"},
	{"meson.options", "Meson"},
	{".wrap", "Meson"},
	{"Makefile", "Make"},
	{"makefile", "Make"},
	{"GNUmakefile", "Make"},
	{".mk", "Make"},
	{"CMakeLists.txt", "CMake"},
	{".cmake", "CMake"},
	{".js", "JavaScript"},
	{".mjs", "JavaScript"},
	{".cjs", "JavaScript"},
	{".ts", "TypeScript"},
	{".go", "Go"},
	{".rs", "Rust"},
	{".java", "Java"},
	{".rb", "Ruby"},
	{".pl", "Perl"},
	{".lua", "Lua"},
	{".sql", "SQL"},
	{".html", "HTML"},
	{".css", "CSS"},
	{".xml", "XML"},
	{".yml", "YAML"},
	{".yaml", "YAML"},
	{".toml", "TOML"},
	{".ini", "INI"},
	{".txt", "Text"},
	{".rst", "reStructuredText"},
	{".in", "Template"},
	{"Dockerfile", "Dockerfile"},
};

const char *dx_analyse_language(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	/* Whole names first: "meson_options.txt" is Meson, not Text. */
	for (size_t i = 0;
	     i < sizeof dx_analyse_table / sizeof *dx_analyse_table; i++)
		if (dx_analyse_table[i].suffix[0] != '.' &&
		    strcmp(base, dx_analyse_table[i].suffix) == 0)
			return dx_analyse_table[i].language;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base)
		return NULL;
	for (size_t i = 0;
	     i < sizeof dx_analyse_table / sizeof *dx_analyse_table; i++)
		if (dx_analyse_table[i].suffix[0] == '.' &&
		    strcasecmp(dot, dx_analyse_table[i].suffix) == 0)
			return dx_analyse_table[i].language;
	return NULL;
}

/* The interpreter of a "#!" first line. */
static const char *dx_analyse_shebang(const char *buf, size_t n)
{
	if (n < 3 || buf[0] != '#' || buf[1] != '!')
		return NULL;
	const char *end = memchr(buf, '\n', n);
	size_t len = end ? (size_t)(end - buf) : n;
	char line[256];
	snprintf(line, sizeof line, "%.*s", (int)len, buf);
	if (strstr(line, "python"))
		return "Python";
	if (strstr(line, "bash") || strstr(line, "/sh") || strstr(line, " sh"))
		return "Shell";
	if (strstr(line, "node"))
		return "JavaScript";
	if (strstr(line, "perl"))
		return "Perl";
	return NULL;
}

/* Count lines of one file; language from the name or the content. */
static int dx_analyse_file(const char *path, const char *rel, const char **lang,
			   uint64_t *lines, uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	static const size_t bufsz = 1 << 16;
	char *buf = malloc(bufsz);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	const char *byname = dx_analyse_language(rel);
	bool first = true, binary = false;
	char last = '\n';
	uint64_t nl = 0, total = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = dx_fx_read_some(fd, buf, bufsz);
		if (n < 0)
			rc = (int)n;
		if (n <= 0)
			break;
		if (first) {
			size_t head = (size_t)n < 8192 ? (size_t)n : 8192;
			binary = memchr(buf, '\0', head) != NULL;
			if (!byname && !binary)
				byname = dx_analyse_shebang(buf, (size_t)n);
			first = false;
		}
		for (ssize_t i = 0; i < n; i++)
			nl += buf[i] == '\n';
		last = buf[n - 1];
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	if (rc < 0)
		return rc;
	*lang = binary ? "Binary" : byname ? byname : "Other";
	*lines = binary ? 0 : nl + (total && last != '\n');
	*bytes = total;
	return 0;
}

static int dx_analyse_add(dx_analysis *a, size_t *cap, const char *lang,
			  uint64_t lines, uint64_t bytes)
{
	dx_analyse_lang *l = NULL;
	for (size_t i = 0; i < a->count && !l; i++)
		if (strcmp(a->langs[i].language, lang) == 0)
			l = &a->langs[i];
	if (!l) {
		if (a->count == *cap) {
			size_t n = *cap ? 2 * *cap : 16;
			dx_analyse_lang *v = realloc(a->langs, n * sizeof *v);
			if (!v)
				return -ENOMEM;
			a->langs = v;
			*cap = n;
		}
		l = &a->langs[a->count++];
		*l = (dx_analyse_lang){lang, 0, 0, 0};
	}
	l->files++;
	l->lines += lines;
	l->bytes += bytes;
	a->files++;
	a->lines += lines;
	a->bytes += bytes;
	return 0;
}

static int dx_analyse_cmp(const void *pa, const void *pb)
{
	const dx_analyse_lang *a = pa, *b = pb;
	if (a->lines != b->lines)
		return a->lines > b->lines ? -1 : 1;
	return strcmp(a->language, b->language);
}

static int dx_analyse_write(const char *project, const dx_analysis *a,
			    const char *path, dx_fx_err *e)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *abs = realpath(project, NULL);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "version", 1);
	cJSON_AddStringToObject(j, "project", abs ? abs : project);
	cJSON_AddStringToObject(j, "generated", when);
	cJSON_AddNumberToObject(j, "files", (double)a->files);
	cJSON_AddNumberToObject(j, "lines", (double)a->lines);
	cJSON_AddNumberToObject(j, "bytes", (double)a->bytes);
	cJSON *arr = cJSON_AddArrayToObject(j, "languages");
	for (size_t i = 0; i < a->count; i++) {
		cJSON *l = cJSON_CreateObject();
		cJSON_AddStringToObject(l, "language", a->langs[i].language);
		cJSON_AddNumberToObject(l, "files", (double)a->langs[i].files);
		cJSON_AddNumberToObject(l, "lines", (double)a->langs[i].lines);
		cJSON_AddNumberToObject(l, "bytes", (double)a->langs[i].bytes);
		cJSON_AddItemToArray(arr, l);
	}
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	free(abs);
	if (!text)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		dx_fx_mkdirs(dir, 0755);
	}
	free(dir);
	size_t len = strlen(text);
	text[len] = '\n'; /* the NUL becomes the last newline */
	int rc = dx_fx_write_atomic(path, text, len + 1, 0644, e);
	free(text);
	return rc;
}

int dx_analyse(const dx_analyse_opts *o, dx_analysis *out, dx_fx_err *e)
{
	const char *project = o && o->project ? o->project : ".";
	memset(out, 0, sizeof *out);
	dx_fx_tree t;
	int rc = dx_fx_walk(project, dx_fx_skip_dx, NULL, &t, e);
	if (rc < 0)
		return rc;
	size_t cap = 0;
	for (size_t i = 0; rc == 0 && i < t.count; i++) {
		if (t.v[i].type != DX_FX_FILE)
			continue;
		char *p = dx_fx_join(project, t.v[i].path);
		const char *lang = NULL;
		uint64_t lines = 0, bytes = 0;
		rc = p ? dx_analyse_file(p, t.v[i].path, &lang, &lines,
					 &bytes) :
			 -ENOMEM;
		if (rc < 0)
			dx_fx_fail(e, rc, "cannot read %s: %s",
				   p ? p : t.v[i].path, strerror(-rc));
		else
			rc = dx_analyse_add(out, &cap, lang, lines, bytes);
		free(p);
	}
	dx_fx_tree_free(&t);
	if (rc == 0 && out->count)
		qsort(out->langs, out->count, sizeof *out->langs,
		      dx_analyse_cmp);
	const char *report = o ? o->report : NULL;
	if (rc == 0 && (!report || *report)) {
		out->report =
			report ? strdup(report) :
				 dx_fx_join(project, ".dx/forge/analysis.json");
		rc = out->report ?
			     dx_analyse_write(project, out, out->report, e) :
			     -ENOMEM;
	}
	if (rc < 0)
		dx_analysis_free(out);
	return rc;
}

void dx_analysis_free(dx_analysis *a)
{
	free(a->langs);
	free(a->report);
	memset(a, 0, sizeof *a);
}
