/* manifest.c - read a dx manifest and validate all of it before anything is
 * loaded (see manifest.h).
 *
 * Validation never stops at the first problem: every check reports through
 * dx_jc_err() (json_check.h) and moves on, so a manifest with five mistakes
 * gets five lines. The sections are read in dependency order: plugin_path
 * before plugins (names resolve along it), plugins before middleware (which
 * names them) and before the plugins' own sections (which they admit).
 * This file holds the top level, plugin_path, workers, io, limits and
 * background; manifest_listen.c and manifest_plugins.c the rest.
 *
 * Ownership: every string in dx_manifest is malloc'd and freed by
 * dx_manifest_free; cJSON pointers (plugin configs, sections) point into
 * root, which the manifest owns. Nothing here is global; one call, one
 * context. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dx/error.h>
#include <dx/plugin.h>

#include "dl.h"
#include "manifest_int.h"
#include "path.h"

#ifndef DX_DEFAULT_PLUGIN_DIR
#error "DX_DEFAULT_PLUGIN_DIR must come from the build (host/meson.build)"
#endif
#ifndef DX_DEFAULT_PLUGIN_DIR_REL
#error "DX_DEFAULT_PLUGIN_DIR_REL must come from the build (host/meson.build)"
#endif

#define FILE_MAX (16u << 20) /* a manifest is configuration, not data */

bool dx_manifest_push_str(mctx *c, char ***v, size_t *n, char *s)
{
	char **nv = s ? realloc(*v, (*n + 1) * sizeof *nv) : NULL;
	if (!nv) {
		free(s);
		dx_jc_nomem(&c->jc);
		return false;
	}
	nv[(*n)++] = s;
	*v = nv;
	return true;
}

/* "/" between dir and a name, unless dir ends in a separator. */
static const char *dx_path_sep(const char *dir)
{
	size_t n = strlen(dir);
	return n && dx_path_is_sep(dir[n - 1]) ? "" : "/";
}

char *dx_path_join(const char *dir, const char *name)
{
	char *p = NULL;
	return asprintf(&p, "%s%s%s", dir, dx_path_sep(dir), name) < 0 ? NULL
									: p;
}

char *dx_manifest_join(mctx *c, const char *dir, const char *name)
{
	return dx_jc_fmt(&c->jc, "%s%s%s", dir, dx_path_sep(dir), name);
}

char *dx_manifest_resolve(mctx *c, const char *p)
{
	return dx_path_root(p) ? dx_jc_strdup(&c->jc, p) :
			     dx_manifest_join(c, c->m->dir, p);
}

bool dx_manifest_is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool dx_manifest_is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

char *dx_manifest_canonical(mctx *c, char *p)
{
	char *r = p ? dx_path_real(p) : NULL;
	if (!r)
		return p;
	free(p);
	return r;
}

/* ---- dx, plugin_path ---------------------------------------------------- */

/* False when the version is wrong: a different format's keys would only
 * produce noise, so nothing else is checked. */
static bool check_version(mctx *c, const cJSON *root)
{
	const cJSON *v = dx_jc_get(root, "dx");
	char got[DX_JC_GOT_MAX];
	if (!v) {
		dx_jc_err(&c->jc, "",
			  "missing required key \"dx\"; add \"dx\": 1 (the "
			  "manifest format version)");
		return true;
	}
	if (!cJSON_IsNumber(v)) {
		dx_jc_got(&c->jc, "dx", v,
			  "the integer 1 (the manifest format version)");
		return true;
	}
	if (v->valuedouble != 1) {
		dx_jc_err(&c->jc, "dx",
			  "manifest version %s is not supported; this host "
			  "reads manifest version 1",
			  dx_jc_describe(v, got, sizeof got));
		return false;
	}
	return true;
}

char *dx_manifest_stat(mctx *c, const cJSON *v, const char *path,
		       struct stat *st, int *e)
{
	if (!dx_jc_str(&c->jc, v, path))
		return NULL;
	char *abs = dx_manifest_resolve(c, v->valuestring);
	*e = abs && stat(abs, st) != 0 ? errno : 0;
	return abs;
}

static void add_plugin_dir(mctx *c, const cJSON *v, const char *path)
{
	struct stat st;
	int e;
	char *abs = dx_manifest_stat(c, v, path, &st, &e);
	if (!abs)
		return;
	if (e == ENOENT)
		dx_jc_err(&c->jc, path, "no such directory: %s", abs);
	else if (e)
		dx_jc_err(&c->jc, path, "cannot use directory %s: %s", abs,
			  strerror(e));
	else if (!S_ISDIR(st.st_mode))
		dx_jc_err(&c->jc, path, "not a directory: %s", abs);
	if (e || !S_ISDIR(st.st_mode))
		free(abs);
	else
		dx_manifest_push_str(c, &c->m->plugin_path,
				     &c->m->plugin_path_count,
				     dx_manifest_canonical(c, abs));
}

/* No plugin_path: the installed plugin directory, one of two. The one
 * beside the executable (DX_DEFAULT_PLUGIN_DIR_REL from its directory, e.g.
 * bin/../lib/x86_64-linux-gnu/dx/plugins) when it exists, so a tree
 * installed with --destdir or moved elsewhere finds its own plugins; else
 * the configured prefix's, which need not exist (a build run from its tree
 * names its own plugin_path). */
static void default_plugin_path(mctx *c)
{
	char *exe = DX_DEFAULT_PLUGIN_DIR_REL[0] ? dx_dl_exe_dir() : NULL;
	char *dir = NULL;
	if (exe) {
		char *rel = dx_manifest_join(c, exe, DX_DEFAULT_PLUGIN_DIR_REL);
		dir = rel ? dx_path_real(rel) : NULL;
		free(rel);
		free(exe);
	}
	if (!dir)
		dir = dx_jc_strdup(&c->jc, DX_DEFAULT_PLUGIN_DIR);
	dx_manifest_push_str(c, &c->m->plugin_path, &c->m->plugin_path_count,
			     dir);
}

static void parse_plugin_path(mctx *c, const cJSON *root)
{
	const cJSON *v = dx_jc_get(root, "plugin_path");
	if (!v) {
		default_plugin_path(c);
		return;
	}
	if (cJSON_IsString(v)) {
		add_plugin_dir(c, v, "plugin_path");
		return;
	}
	if (!cJSON_IsArray(v)) {
		dx_jc_got(&c->jc, "plugin_path", v,
			  "a directory (string) or an array of directories");
		return;
	}
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		char p[DX_JC_PATH_MAX];
		add_plugin_dir(c, it, dx_jc_idx(p, "plugin_path", i));
	}
}

/* ---- workers, io, limits -------------------------------------------------- */

static void parse_workers(mctx *c, const cJSON *root)
{
	const cJSON *v = dx_jc_get(root, "workers");
	if (!v || (cJSON_IsString(v) && !strcmp(v->valuestring, "auto")))
		c->m->workers = 0; /* one per online CPU, decided at start */
	else if (dx_jc_is_int(v, 1, 1024))
		c->m->workers = (unsigned)v->valuedouble;
	else
		dx_jc_got(&c->jc, "workers", v,
			  "\"auto\" or an integer in 1..1024");
}

static void parse_io(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"backend", "queue_depth", "sqpoll",
					   "zero_copy", NULL};
	dx_manifest *m = c->m;
	m->io.queue_depth = 256;
	if (!(m->io.backend = dx_jc_strdup(&c->jc, "auto")))
		return;
	const cJSON *io = dx_jc_object(&c->jc, root, "", "io", keys);
	if (!io)
		return;
	const cJSON *b = dx_jc_get(io, "backend");
	if (b && cJSON_IsString(b) &&
	    (!strcmp(b->valuestring, "auto") ||
	     dx_name_valid(b->valuestring))) {
		free(m->io.backend);
		m->io.backend = dx_jc_strdup(&c->jc, b->valuestring);
	} else if (b) {
		dx_jc_got(&c->jc, "io.backend", b,
			  "\"auto\", an IO backend's name or the name "
			  "of the plugin that provides it");
	}
	long long q = m->io.queue_depth;
	if (dx_jc_opt_int(&c->jc, io, "io", "queue_depth", 1, 32768, &q) &&
	    (q & (q - 1)))
		dx_jc_err(&c->jc, "io.queue_depth",
			  "expected a power of two in 1..32768, "
			  "got %lld",
			  q);
	m->io.queue_depth = (uint32_t)q;
	dx_jc_opt_bool(&c->jc, io, "io", "sqpoll", &m->io.sqpoll);
	const cJSON *z = dx_jc_get(io, "zero_copy");
	static const char *const zc[] = {"auto", "always", "never"};
	for (int i = 0; z && i < 3; i++)
		if (cJSON_IsString(z) && !strcmp(z->valuestring, zc[i])) {
			m->io.zero_copy = (dx_zero_copy)i;
			z = NULL;
		}
	if (z)
		dx_jc_got(&c->jc, "io.zero_copy", z,
			  "\"auto\" (not to local peers), \"always\" or "
			  "\"never\"");
}

/* "background": the host's background queue (host->enqueue). */
static void parse_background(mctx *c, const cJSON *root)
{
	static const char *const keys[] = {"threads", "queue", NULL};
	long long threads = 1, queue = 1024;
	const cJSON *b = dx_jc_object(&c->jc, root, "", "background", keys);
	if (b) {
		dx_jc_opt_int(&c->jc, b, "background", "threads", 1, 64,
			      &threads);
		dx_jc_opt_int(&c->jc, b, "background", "queue", 1, 1048576,
			      &queue);
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
					   "max_output",
					   "write_timeout_ms",
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
		{4096, 1073741824LL, 4194304, &m->limits.max_output},
		{0, 86400000, 30000, &m->limits.write_timeout_ms},
	};
	const cJSON *lim = dx_jc_object(&c->jc, root, "", "limits", keys);
	bool ok = true;
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		long long v = f[i].def;
		if (lim && !dx_jc_opt_int(&c->jc, lim, "limits", keys[i],
					  f[i].lo, f[i].hi, &v))
			ok = false;
		*f[i].dst = (uint64_t)v;
	}
	if (ok && m->limits.max_message < m->limits.max_frame)
		dx_jc_err(
			&c->jc, "limits.max_message",
			"%llu%s is less than "
			"limits.max_frame (%llu); a message must hold at least "
			"one whole frame",
			(unsigned long long)m->limits.max_message,
			dx_jc_get(lim, "max_message") ? "" : " (the default)",
			(unsigned long long)m->limits.max_frame);
}

/* ---- the whole manifest ------------------------------------------------- */

/* The host's own top-level keys; any other must name a plugin. */
static const char *const host_keys[] = {
	"dx",       "plugin_path", "listen",           "workers",
	"pin_cpus", "io",          "limits",           "control",
	"plugins",  "middleware",  "route_middleware", "background",
	"metrics",  NULL};

bool dx_manifest_host_key(const char *key)
{
	for (size_t i = 0; host_keys[i]; i++)
		if (!strcmp(host_keys[i], key))
			return true;
	return false;
}

/* A top-level key that is not the host's is a plugin's section when a
 * plugin of that name is listed; otherwise it is an unknown key. */
static void check_sections(mctx *c, const cJSON *root)
{
	for (const cJSON *it = root->child; it; it = it->next) {
		const cJSON *first = dx_jc_get(root, it->string);
		if (first != it || dx_manifest_host_key(it->string) ||
		    dx_manifest_is_plugin(c->m, it->string))
			continue; /* a repeated key: reported as a duplicate */
		char p[DX_JC_PATH_MAX];
		char *msg = dx_jc_unknown_key(it->string, host_keys, false);
		dx_jc_err(&c->jc, dx_jc_key(p, "", it->string), "%s",
			  msg ? msg : "unknown key");
		free(msg);
	}
}

static void validate(mctx *c)
{
	cJSON *root = c->m->root;
	if (!cJSON_IsObject(root)) {
		dx_jc_got(&c->jc, "", root,
			  "a JSON object at the top level, such as "
			  "{\"dx\": 1}");
		return;
	}
	if (!check_version(c, root))
		return;
	dx_jc_dups(&c->jc, root, "");
	parse_plugin_path(c, root);
	dx_manifest_listen(c, root);
	parse_workers(c, root);
	dx_jc_opt_bool(&c->jc, root, "", "pin_cpus", &c->m->pin_cpus);
	parse_io(c, root);
	parse_limits(c, root);
	parse_background(c, root);
	dx_manifest_control(c, root);
	dx_manifest_metrics(c, root);
	dx_manifest_plugins(c, root);
	dx_manifest_middleware(c, root);
	check_sections(c, root);
}

const cJSON *dx_manifest_section(const dx_manifest *m, const char *key)
{
	if (!m || !key || dx_manifest_host_key(key))
		return NULL;
	return dx_jc_get(m->root, key);
}

/* Record the source's names; dir becomes absolute so that every resolved
 * path is, whatever the caller's working directory later becomes. */
static bool set_source(mctx *c, const char *file, const char *dir)
{
	c->m->file = dx_jc_strdup(&c->jc, file ? file : "");
	c->m->dir = dx_path_real(dir && *dir ? dir : ".");
	if (!c->m->dir)
		dx_jc_err(&c->jc, "", "cannot use directory %s: %s",
			  dir && *dir ? dir : ".", strerror(errno));
	return c->m->file && c->m->dir;
}

static int parse_len(const char *text, size_t len, const char *file,
		     const char *dir, dx_manifest **out, dx_diag *d)
{
	mctx c = {.jc = {.d = d}};
	*out = NULL;
	if (!(c.m = calloc(1, sizeof *c.m))) {
		dx_jc_nomem(&c.jc);
		return -ENOMEM;
	}
	if (set_source(&c, file, dir) &&
	    (c.m->root = dx_jc_parse(&c.jc, text, len,
				     "empty manifest; expected an "
				     "object such as {\"dx\": 1}")))
		validate(&c);
	if (c.jc.errors) {
		dx_manifest_free(c.m);
		return c.jc.oom ? -ENOMEM : DX_ECONFIG;
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
	int e = 0, fd = dx_path_open(file);
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

size_t dx_path_dir_len(const char *p)
{
	size_t root = dx_path_root(p), n = strlen(p);
	while (n > root && !dx_path_is_sep(p[n - 1]))
		n--;
	/* The separator before the last part goes, the root's stays. */
	return n > root ? n - 1 : root;
}

/* The directory part of file ("." when it has none). */
static char *dir_of(const char *file)
{
	size_t n = dx_path_dir_len(file);
	char *dir = malloc(n ? n + 1 : 2);
	if (dir) {
		memcpy(dir, n ? file : ".", n ? n : 1);
		dir[n ? n : 1] = '\0';
	}
	return dir;
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
	if (m->metrics_listen) {
		free(m->metrics_listen->text);
		free(m->metrics_listen->host);
		free(m->metrics_listen);
	}
	for (size_t i = 0; i < m->plugin_count; i++) {
		dx_manifest_plugin_free(&m->plugins[i]);
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
