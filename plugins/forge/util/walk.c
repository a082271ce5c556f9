/* walk.c - a tree walked without following symlinks, sorted by path, and
 * the skip rule the forge tasks share (fx_util.h). */
#include "fx_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dx_fx_tree_add(dx_fx_tree *t, dx_fx_entry *en)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		dx_fx_entry *v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->count++] = *en;
	return 0;
}

typedef struct dx_fx_walker {
	const char *root;
	dx_fx_skip_fn skip;
	void *arg;
	dx_fx_tree *out;
	dx_fx_err *e;
} dx_fx_walker;

/* A symlink's target, malloc'd. */
static char *dx_fx_readlink(const char *path, size_t hint)
{
	size_t cap = hint + 2 > 64 ? hint + 2 : 64;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			return NULL;
		ssize_t n = readlink(path, buf, cap);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		cap *= 2;
	}
}

static int dx_fx_walk_dir(dx_fx_walker *w, const char *rel)
{
	char *abs = *rel ? dx_fx_join(w->root, rel) : strdup(w->root);
	if (!abs)
		return -ENOMEM;
	DIR *d = opendir(abs);
	if (!d) {
		int rc = -errno;
		dx_fx_fail(w->e, rc, "cannot read directory %s: %s", abs,
			   strerror(errno));
		free(abs);
		return rc;
	}
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		dx_fx_entry en = {0};
		en.path = dx_fx_join(rel, name);
		char *p = en.path ? dx_fx_join(abs, name) : NULL;
		if (!p) {
			free(en.path);
			rc = -ENOMEM;
			break;
		}
		struct stat st;
		if (w->skip && w->skip(w->arg, en.path, name, !*rel)) {
			free(en.path);
			free(p);
			continue;
		}
		if (lstat(p, &st) < 0) {
			rc = dx_fx_fail(w->e, -errno, "cannot stat %s: %s", p,
					strerror(errno));
			free(en.path);
			free(p);
			break;
		}
		en.mode = st.st_mode & 07777;
		en.size = (uint64_t)st.st_size;
		if (S_ISREG(st.st_mode)) {
			en.type = DX_FX_FILE;
		} else if (S_ISDIR(st.st_mode)) {
			en.type = DX_FX_DIR;
			en.size = 0;
		} else if (S_ISLNK(st.st_mode)) {
			en.type = DX_FX_LINK;
			en.target = dx_fx_readlink(p, (size_t)st.st_size);
			if (!en.target)
				rc = dx_fx_fail(w->e, -errno ? -errno : -ENOMEM,
						"cannot read link %s: %s", p,
						strerror(errno));
		} else {
			en.type = DX_FX_OTHER;
		}
		free(p);
		if (rc == 0)
			rc = dx_fx_tree_add(w->out, &en);
		if (rc < 0) {
			free(en.path);
			free(en.target);
			break;
		}
		if (en.type == DX_FX_DIR)
			rc = dx_fx_walk_dir(w, en.path);
	}
	closedir(d);
	free(abs);
	return rc;
}

static int dx_fx_cmp_entry(const void *a, const void *b)
{
	return strcmp(((const dx_fx_entry *)a)->path,
		      ((const dx_fx_entry *)b)->path);
}

int dx_fx_walk(const char *root, dx_fx_skip_fn skip, void *arg, dx_fx_tree *out,
	       dx_fx_err *e)
{
	memset(out, 0, sizeof *out);
	dx_fx_walker w = {root, skip, arg, out, e};
	int rc = dx_fx_walk_dir(&w, "");
	if (rc < 0) {
		dx_fx_tree_free(out);
		return rc;
	}
	dx_fx_tree_sort(out);
	return 0;
}

void dx_fx_tree_sort(dx_fx_tree *t)
{
	if (t->count)
		qsort(t->v, t->count, sizeof *t->v, dx_fx_cmp_entry);
}

const dx_fx_entry *dx_fx_tree_find(const dx_fx_tree *t, const char *path)
{
	if (!t->count)
		return NULL;
	dx_fx_entry key = {.path = (char *)path};
	return bsearch(&key, t->v, t->count, sizeof *t->v, dx_fx_cmp_entry);
}

void dx_fx_tree_free(dx_fx_tree *t)
{
	for (size_t i = 0; i < t->count; i++) {
		free(t->v[i].path);
		free(t->v[i].target);
		free(t->v[i].hash);
	}
	free(t->v);
	memset(t, 0, sizeof *t);
}

bool dx_fx_skip_dx(void *arg, const char *rel, const char *name, bool top)
{
	(void)arg;
	(void)rel;
	return strcmp(name, ".git") == 0 || (top && strcmp(name, ".dx") == 0);
}
