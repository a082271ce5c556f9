/* prefetch.c - a package version from the registry into the local cache
 * (prefetch.h). */
#include "prefetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static bool dx_prefetch_part_ok(const char *s)
{
	return *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
	       !strpbrk(s, "/\\");
}

int dx_prefetch_parse_spec(const char *spec, char **name, char **version,
			   dx_fx_err *e)
{
	const char *at = strrchr(spec, '@');
	*name = *version = NULL;
	if (!at || at == spec)
		return dx_fx_fail(e, -EINVAL,
				  "\"%s\" is not NAME@VERSION (for example "
				  "ui@1.1.0)",
				  spec);
	*name = strndup(spec, (size_t)(at - spec));
	*version = strdup(at + 1);
	if (!*name || !*version || !dx_prefetch_part_ok(*name) ||
	    !dx_prefetch_part_ok(*version)) {
		free(*name);
		free(*version);
		*name = *version = NULL;
		return dx_fx_fail(e, -EINVAL,
				  "\"%s\" is not NAME@VERSION: the name and "
				  "the version must be non-empty, without "
				  "'/' or '\\', and not \".\" or \"..\"",
				  spec);
	}
	return 0;
}

/* package.json of dir must name name@version. */
static int dx_prefetch_check_pkg(const char *dir, const char *name,
				 const char *version, dx_fx_err *e)
{
	char *path = dx_fx_join(dir, "package.json");
	char *text = NULL;
	if (!path)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	int rc = dx_fx_read_file(path, &text, NULL);
	if (rc < 0) {
		dx_fx_fail(e, rc == -ENOENT ? -EINVAL : rc,
			   "%s@%s has no readable package.json: %s (%s); "
			   "the registry's version directories need one",
			   name, version, path, strerror(-rc));
		free(path);
		return rc == -ENOENT ? -EINVAL : rc;
	}
	cJSON *j = cJSON_Parse(text);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
	if (!cJSON_IsObject(j))
		rc = dx_fx_fail(e, -EINVAL, "%s is not a JSON object", path);
	else if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0)
		rc = dx_fx_fail(e, -EINVAL,
				"%s names the package \"%s\", not \"%s\"; "
				"fix the registry",
				path,
				cJSON_IsString(n) ? n->valuestring : "(none)",
				name);
	else if (cJSON_IsString(v) && strcmp(v->valuestring, version) != 0)
		rc = dx_fx_fail(e, -EINVAL,
				"%s says version \"%s\", not \"%s\"; fix the "
				"registry",
				path, v->valuestring, version);
	cJSON_Delete(j);
	free(text);
	free(path);
	return rc;
}

/* Copy the tree t of from into to (which exists). */
static int dx_prefetch_copy(const char *from, const char *to,
			    const dx_fx_tree *t, dx_prefetch_result *r,
			    dx_fx_err *e)
{
	for (size_t i = 0; i < t->count; i++) {
		const dx_fx_entry *en = &t->v[i];
		char *src = dx_fx_join(from, en->path);
		char *dst = dx_fx_join(to, en->path);
		int rc = src && dst ? 0 : -ENOMEM;
		if (rc < 0) {
			dx_fx_fail(e, rc, "out of memory");
		} else if (en->type == DX_FX_DIR) {
			if (mkdir(dst, en->mode | 0700) < 0)
				rc = dx_fx_fail(e, -errno,
						"cannot create %s: %s", dst,
						strerror(errno));
		} else if (en->type == DX_FX_LINK) {
			if (symlink(en->target, dst) < 0)
				rc = dx_fx_fail(e, -errno,
						"cannot create %s: %s", dst,
						strerror(errno));
		} else if (en->type == DX_FX_FILE) {
			rc = dx_fx_copy_atomic(src, dst, en->mode, NULL, true,
					       NULL, e);
			r->files++;
			r->bytes += en->size;
		} else {
			rc = dx_fx_fail(e, -EINVAL,
					"%s is not a file, directory or "
					"link; a package holds only those",
					src);
		}
		free(src);
		free(dst);
		if (rc < 0)
			return rc;
	}
	/* Directory modes last: a read-only one is closed when full. */
	for (size_t i = t->count; i-- > 0;) {
		if (t->v[i].type != DX_FX_DIR)
			continue;
		char *dst = dx_fx_join(to, t->v[i].path);
		if (dst)
			chmod(dst, t->v[i].mode);
		free(dst);
	}
	return 0;
}

static bool dx_prefetch_is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int dx_prefetch(const dx_prefetch_opts *o, const char *name,
		const char *version, dx_prefetch_result *r, dx_fx_err *e)
{
	const char *project = o->project ? o->project : ".";
	memset(r, 0, sizeof *r);
	if (!o->registry)
		return dx_fx_fail(e, -EINVAL, "no registry given");
	if (!dx_prefetch_part_ok(name) || !dx_prefetch_part_ok(version))
		return dx_fx_fail(e, -EINVAL, "bad package name \"%s@%s\"",
				  name, version);
	char *src = dx_fx_printf("%s/%s/%s", o->registry, name, version);
	char *pdir = dx_fx_printf("%s/.dx/forge/cache/%s", project, name);
	r->path = pdir ? dx_fx_join(pdir, version) : NULL;
	char *tmp = NULL;
	dx_fx_tree t = {0};
	int rc = src && r->path ? 0 : dx_fx_fail(e, -ENOMEM, "out of memory");
	if (rc == 0 && !dx_prefetch_is_dir(src)) {
		char *pkg = dx_fx_printf("%s/%s", o->registry, name);
		rc = dx_fx_fail(e, -ENOENT,
				dx_prefetch_is_dir(pkg ? pkg : "") ?
					"%s has no version %s: no directory "
					"%s" :
					"the registry has no package %s "
					"(version %s): no directory %s",
				name, version, src);
		free(pkg);
	}
	if (rc == 0)
		rc = dx_prefetch_check_pkg(src, name, version, e);
	if (rc == 0 && dx_prefetch_is_dir(r->path)) {
		rc = dx_prefetch_check_pkg(r->path, name, version, e);
		r->cached = rc == 0;
		if (rc < 0) /* a damaged cache entry is replaced */
			rc = dx_fx_remove_tree(r->path);
		if (rc < 0)
			dx_fx_fail(e, rc,
				   "cannot remove the damaged cache "
				   "entry %s: %s",
				   r->path, strerror(-rc));
	}
	if (rc == 0 && !r->cached) {
		rc = dx_fx_mkdirs(pdir, 0755);
		tmp = rc == 0 ?
			      dx_fx_printf("%s/.%s.tmp-XXXXXX", pdir, version) :
			      NULL;
		if (rc < 0 || !tmp || !mkdtemp(tmp))
			rc = dx_fx_fail(e, rc < 0 ? rc : -errno,
					"cannot create the cache directory "
					"%s: %s",
					pdir, strerror(rc < 0 ? -rc : errno));
		else
			rc = dx_fx_walk(src, NULL, NULL, &t, e);
		if (rc == 0)
			rc = dx_prefetch_copy(src, tmp, &t, r, e);
		if (rc == 0)
			chmod(tmp, 0755); /* mkdtemp made it 0700 */
		if (rc == 0 && rename(tmp, r->path) < 0) {
			if (errno == ENOTEMPTY || errno == EEXIST)
				r->cached = true; /* another won the race */
			else
				rc = dx_fx_fail(e, -errno,
						"cannot rename %s to %s: %s",
						tmp, r->path, strerror(errno));
		}
		if (tmp && (rc < 0 || r->cached))
			dx_fx_remove_tree(tmp);
	}
	dx_fx_tree_free(&t);
	free(tmp);
	free(src);
	free(pdir);
	if (rc < 0) {
		free(r->path);
		r->path = NULL;
	}
	return rc;
}
