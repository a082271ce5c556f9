/* tm_pkg.c - read a package version: package.json and the files it lists.
 *
 * Every problem is reported (a package with three bad paths says three
 * lines) and any one refuses the whole package, before anything is
 * written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tm_int.h"

/* cJSON turns "\u0000" into a NUL that silently ends the string, so
 * "evil\u0000/../../x" would read as "evil". Find it in the raw text. */
static bool tm_json_has_nul(const char *text, size_t len)
{
	if (memchr(text, '\0', len))
		return true;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = text[i] == '"';
			continue;
		}
		if (text[i] == '"') {
			in_str = false;
		} else if (text[i] == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len &&
			    strncmp(text + i + 2, "0000", 4) == 0)
				return true;
			i++; /* skip the escaped character */
		}
	}
	return false;
}

static const char *tm_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "from" must stay inside the version directory, symlinks included. */
static int tm_read_from(const char *vdir_real, const char *vdir,
			const char *from, tm_buf *out, dx_diag *d)
{
	char *full = tm_join(vdir, from);
	char *real = realpath(full, NULL);
	int rc = 0;
	size_t n = strlen(vdir_real);
	if (!real) {
		rc = -errno;
		dx_diag_add(d, "files: \"%s\": %s: %s", from, full,
			    strerror(errno));
	} else if (strncmp(real, vdir_real, n) != 0 || real[n] != '/') {
		rc = -EINVAL;
		dx_diag_add(d, "files: \"%s\" resolves to %s, outside %s", from,
			    real, vdir_real);
	} else if ((rc = tm_read(real, out)) < 0) {
		dx_diag_add(d, "files: \"%s\": %s: %s", from, full,
			    strerror(-rc));
	}
	free(real);
	free(full);
	return rc;
}

/* One files[] entry: check it and load its content into f. */
static int tm_pkg_file(const cJSON *e, size_t i, const char *vdir,
		       const char *vdir_real, tm_pfile *f, dx_diag *d)
{
	const char *from = tm_str(e, "from"), *to = tm_str(e, "to");
	if (!from || !to) {
		dx_diag_add(d, "files[%zu]: needs string \"from\" and \"to\"",
			    i);
		return -EINVAL;
	}
	const char *why_from = dx_fx_path_why(from, TM_PATH_REL);
	const char *why_to = dx_fx_path_why(to, TM_PATH_TO);
	if (why_from)
		dx_diag_add(d, "files[%zu].from \"%s\" %s", i, from, why_from);
	if (why_to)
		dx_diag_add(d, "files[%zu].to \"%s\" %s", i, to, why_to);
	if (why_from || why_to)
		return -EINVAL;
	f->from = strdup(from);
	f->to = strdup(to);
	if (!f->from || !f->to)
		return -ENOMEM;
	return tm_read_from(vdir_real, vdir, from, &f->content, d);
}

static int tm_pkg_files(const cJSON *files, const char *vdir, tm_pkg *p,
			dx_diag *d)
{
	char *vdir_real = realpath(vdir, NULL);
	if (!vdir_real) {
		dx_diag_add(d, "%s: %s", vdir, strerror(errno));
		return -errno;
	}
	size_t n = (size_t)cJSON_GetArraySize(files);
	p->files = calloc(n ? n : 1, sizeof *p->files);
	if (!p->files) {
		free(vdir_real);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int r = tm_pkg_file(cJSON_GetArrayItem(files, (int)i), i, vdir,
				    vdir_real, &p->files[i], d);
		p->count = i + 1;
		if (r < 0 && !rc)
			rc = r;
		for (size_t j = 0; !r && j < i; j++)
			if (p->files[j].to &&
			    strcmp(p->files[j].to, p->files[i].to) == 0) {
				dx_diag_add(d,
					    "files[%zu].to \"%s\" is also "
					    "files[%zu].to",
					    i, p->files[i].to, j);
				rc = -EINVAL;
			}
	}
	free(vdir_real);
	return rc;
}

static int tm_pkg_parse(const tm_buf *text, const char *vdir, const char *name,
			const char *version, tm_pkg *p, dx_diag *d)
{
	if (tm_json_has_nul(text->data, text->len)) {
		dx_diag_add(d, "a string contains NUL (\\u0000): no path may");
		return -EINVAL;
	}
	cJSON *j = cJSON_ParseWithLength(text->data, text->len);
	if (!j) {
		dx_diag_add(d, "not valid JSON");
		return -EINVAL;
	}
	int rc = 0;
	const char *jn = tm_str(j, "name"), *jv = tm_str(j, "version");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
	if (!jn || strcmp(jn, name) != 0 || !jv || strcmp(jv, version) != 0) {
		dx_diag_add(d,
			    "\"name\" and \"version\" must be \"%s\" and "
			    "\"%s\" (the directory's)",
			    name, version);
		rc = -EINVAL;
	} else if (!cJSON_IsArray(files)) {
		dx_diag_add(d, "\"files\" must be an array of {from, to}");
		rc = -EINVAL;
	} else {
		rc = tm_pkg_files(files, vdir, p, d);
	}
	cJSON_Delete(j);
	return rc;
}

int tm_pkg_load(const char *registry, const char *name, const char *version,
		tm_pkg *p, dx_diag *d)
{
	memset(p, 0, sizeof *p);
	char *vdir = tm_printf("%s/%s/%s", registry, name, version);
	char *json = tm_join(vdir, "package.json");
	size_t start = d->count;
	tm_buf text;
	int rc = tm_read(json, &text);
	if (rc == -ENOENT)
		dx_diag_add(d, "no %s@%s in the registry %s", name, version,
			    registry);
	else if (rc < 0)
		dx_diag_add(d, "%s", strerror(-rc));
	else
		rc = tm_pkg_parse(&text, vdir, name, version, p, d);
	tm_buf_free(&text);
	if (rc == 0) {
		p->name = strdup(name);
		p->version = strdup(version);
		if (!p->name || !p->version)
			rc = -ENOMEM;
	}
	dx_diag_prefix(d, start, json);
	if (rc < 0) {
		dx_diag_add(d, "%s@%s refused: nothing was written", name,
			    version);
		tm_pkg_free(p);
	}
	free(json);
	free(vdir);
	return rc;
}

void tm_pkg_free(tm_pkg *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->files[i].from);
		free(p->files[i].to);
		tm_buf_free(&p->files[i].content);
	}
	free(p->files);
	free(p->name);
	free(p->version);
	memset(p, 0, sizeof *p);
}
