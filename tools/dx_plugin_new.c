/* dx_plugin_new.c - `dx plugin new NAME --kind KIND [--dir DIR]`: a small
 * out-of-tree plugin project that builds against the installed SDK, tests
 * itself with the plugin test kit and serves (or, for a SERVICE, passes
 * dx-host --check) as written. The files come from tools/plugin_templates
 * (dx_plugin_tmpl.h). Nothing is overwritten: DIR must not exist, and
 * what was written is removed again when a write fails. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dx/plugin.h>

#include "dx_cmd.h"
#include "dx_plugin_tmpl.h"
#include "dx_route_ids.h"

static const char *const dx_kinds[] = {"routes", "middleware", "service", "io",
				       NULL};

static const char *dx_tmpl_text(const char *name)
{
	for (unsigned i = 0; i < dx_template_count; i++)
		if (strcmp(dx_templates[i].name, name) == 0)
			return dx_templates[i].text;
	return NULL;
}

/* text with @NAME@, @KIND@, @ID@ and @CHECK@ (a test's CHECK macro, the
 * same in every kind's test) filled in (malloc'd), or NULL. */
static char *dx_fill(const char *text, const char *name, const char *kind,
		     unsigned id)
{
	char ids[8];
	snprintf(ids, sizeof ids, "%u", id);
	const char *check = dx_tmpl_text("test_check.c");
	const char *keys[] = {"@NAME@", "@KIND@", "@ID@", "@CHECK@\n"};
	const char *vals[] = {name, kind, ids, check ? check : ""};
	size_t cap = strlen(text) * 2 + 256, len = 0;
	char *out = malloc(cap);
	for (const char *p = text; out && *p;) {
		const char *v = NULL;
		size_t klen = 1;
		for (int k = 0; k < 4 && !v; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0) {
				v = vals[k];
				klen = strlen(keys[k]);
			}
		size_t n = v ? strlen(v) : 1;
		if (len + n + 1 > cap) {
			char *t = realloc(out, cap *= 2);
			if (!t) {
				free(out);
				return NULL;
			}
			out = t;
		}
		memcpy(out + len, v ? v : p, n);
		len += n;
		p += klen;
	}
	if (out)
		out[len] = '\0';
	return out;
}

static int dx_write_new(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			int rc = -errno;
			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* The project's files: template, then the name it gets in DIR. */
static int dx_write_project(const char *dir, const char *name, const char *kind)
{
	char tmpl[4][64], file[4][PATH_MAX];
	snprintf(tmpl[0], sizeof tmpl[0], "meson.build.in");
	snprintf(tmpl[1], sizeof tmpl[1], "%s/plugin.c", kind);
	snprintf(tmpl[2], sizeof tmpl[2], "%s/test.c", kind);
	snprintf(tmpl[3], sizeof tmpl[3], "%s/manifest.json.in", kind);
	snprintf(file[0], sizeof file[0], "%s/meson.build", dir);
	snprintf(file[1], sizeof file[1], "%s/%s.c", dir, name);
	snprintf(file[2], sizeof file[2], "%s/test_%s.c", dir, name);
	snprintf(file[3], sizeof file[3], "%s/manifest.json.in", dir);
	unsigned id = dx_route_id_suggest(name);
	int rc = 0, done = 0;
	for (; rc == 0 && done < 4; done++) {
		const char *t = dx_tmpl_text(tmpl[done]);
		char *text = t ? dx_fill(t, name, kind, id) : NULL;
		rc = text ? dx_write_new(file[done], text) : -ENOMEM;
		free(text);
		if (rc < 0)
			fprintf(stderr, "dx plugin new: %s: %s\n", file[done],
				strerror(-rc));
	}
	if (rc < 0) {
		/* Leave nothing half written behind. */
		while (done-- > 0)
			unlink(file[done]);
		rmdir(dir);
		return rc;
	}
	printf("wrote %s/: meson.build, %s.c, test_%s.c, manifest.json.in\n",
	       dir, name, name);
	if (strcmp(kind, "routes") == 0)
		printf("route \"%s\" has id %u (third-party range %u..65535; "
		       "`dx plugin ids` lists dx's own)\n",
		       name, id, DX_ROUTE_ID_THIRD_PARTY_MIN);
	printf("next:\n"
	       "  cd %s && meson setup build && meson compile -C build && "
	       "meson test -C build\n"
	       "  dx-host -m build/manifest.json%s\n",
	       dir, strcmp(kind, "service") == 0 ? " --check" : "");
	if (strcmp(kind, "service") != 0)
		printf("  dx call unix:%s/build/%s.sock %s dx\n", dir, name,
		       strcmp(kind, "routes") == 0 ? name : "hello");
	return 0;
}

static int dx_new_usage(const char *why)
{
	fprintf(stderr,
		"dx plugin new: %s\n"
		"usage: dx plugin new NAME --kind "
		"routes|middleware|service|io [--dir DIR]\n",
		why);
	return 2;
}

int dx_plugin_new(int argc, char **argv)
{
	const char *name = NULL, *kind = NULL, *dir = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc)
			kind = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (argv[i][0] == '-')
			return dx_new_usage("unknown option or missing value");
		else if (name)
			return dx_new_usage("one NAME only");
		else
			name = argv[i];
	}
	if (!name)
		return dx_new_usage("NAME is missing");
	if (!dx_name_valid(name)) {
		fprintf(stderr,
			"dx plugin new: bad NAME \"%s\": a plugin name is a "
			"lowercase letter followed by lowercase letters (a-z), "
			"digits (0-9) and underscores (_), at most %d bytes, "
			"e.g. my_routes\n",
			name, DX_NAME_MAX);
		return 2;
	}
	size_t k = 0;
	while (kind && dx_kinds[k] && strcmp(dx_kinds[k], kind) != 0)
		k++;
	if (!kind || !dx_kinds[k])
		return dx_new_usage(kind ? "--kind must be routes, middleware, "
					   "service or io" :
					   "--kind is missing");
	if (!dir)
		dir = name;
	struct stat st;
	if (lstat(dir, &st) == 0) {
		fprintf(stderr,
			"dx plugin new: %s already exists; it writes a new "
			"directory only (pick another --dir, or remove it)\n",
			dir);
		return 1;
	}
	if (mkdir(dir, 0755) < 0) {
		fprintf(stderr, "dx plugin new: mkdir %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	return dx_write_project(dir, name, kind) < 0 ? 1 : 0;
}
