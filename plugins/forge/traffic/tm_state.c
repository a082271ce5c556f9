/* tm_state.c - .dx/forge/installed.json: what forge installed.
 *
 * The issue calls this "the lock file" in the package-manager sense
 * (package-lock.json): installed versions and file hashes. The mutex that
 * keeps two installs apart is .dx/forge/lock (tm_lock.c). The hash is the
 * git blob id (`git hash-object FILE` gives the same), of the pristine
 * base copy kept in .dx/forge/base/NAME/TO. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "tm_int.h"

void tm_blob_id(const tm_buf *b, char out[41])
{
	git_oid oid;
	if (git_odb_hash(&oid, b->data, b->len, GIT_OBJECT_BLOB) < 0)
		memset(&oid, 0, sizeof oid);
	git_oid_tostr(out, 41, &oid);
}

static cJSON *tm_state_empty(void)
{
	cJSON *s = cJSON_CreateObject();
	if (!s || !cJSON_AddNumberToObject(s, "format", 1) ||
	    !cJSON_AddObjectToObject(s, "packages")) {
		cJSON_Delete(s);
		return NULL;
	}
	return s;
}

int tm_state_load(const char *root, cJSON **out, dx_diag *d)
{
	char *path = tm_join(root, TM_STATE);
	tm_buf text;
	int rc = tm_read(path, &text);
	*out = NULL;
	if (rc == -ENOENT) {
		*out = tm_state_empty();
		rc = *out ? 0 : -ENOMEM;
	} else if (rc < 0) {
		dx_diag_add(d, "%s: %s", path, strerror(-rc));
	} else {
		*out = cJSON_ParseWithLength(text.data, text.len);
		if (!*out || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
				     *out, "packages"))) {
			dx_diag_add(d,
				    "%s: not forge state (a JSON object "
				    "with \"packages\"); move it away to "
				    "start over",
				    path);
			cJSON_Delete(*out);
			*out = NULL;
			rc = -EINVAL;
		}
	}
	tm_buf_free(&text);
	free(path);
	return rc;
}

cJSON *tm_state_pkg(cJSON *state, const char *name)
{
	cJSON *pkgs = cJSON_GetObjectItemCaseSensitive(state, "packages");
	cJSON *p = cJSON_GetObjectItemCaseSensitive(pkgs, name);
	return cJSON_IsObject(p) ? p : NULL;
}

cJSON *tm_state_file(cJSON *pkg, const char *to)
{
	cJSON *files = cJSON_GetObjectItemCaseSensitive(pkg, "files");
	cJSON *f;
	cJSON_ArrayForEach(f, files)
	{
		cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "to");
		if (cJSON_IsString(t) && strcmp(t->valuestring, to) == 0)
			return f;
	}
	return NULL;
}

const char *tm_state_owner(cJSON *state, const char *to, const char *skip)
{
	cJSON *pkgs = cJSON_GetObjectItemCaseSensitive(state, "packages");
	cJSON *p;
	cJSON_ArrayForEach(p, pkgs)
	{
		if (strcmp(p->string, skip) != 0 && tm_state_file(p, to))
			return p->string;
	}
	return NULL;
}
