/* snapshot.c - content-addressed snapshots of a project tree and rollback
 * (snapshot.h). */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define DX_SNAP_STORE ".dx/forge/snapshots"

static const char *dx_snap_proj(const dx_snap_opts *o)
{
	return o && o->project ? o->project : ".";
}

char *dx_snap_store_dir(const char *project)
{
	return dx_fx_join(project, DX_SNAP_STORE);
}

char *dx_snap_object_path(const char *project, const char *hash)
{
	return dx_fx_printf("%s/" DX_SNAP_STORE "/objects/%.2s/%s", project,
			    hash, hash + 2);
}

char *dx_snap_manifest_path(const char *project, const char *id)
{
	return dx_fx_printf("%s/" DX_SNAP_STORE "/manifests/%s.json", project,
			    id);
}

/* The store's lock, held until close. -EBUSY when another holds it. */
static int dx_snap_lock(const char *project, dx_fx_err *e)
{
	char *dir = dx_snap_store_dir(project);
	char *path = dir ? dx_fx_join(dir, "lock") : NULL;
	int rc = path ? dx_fx_mkdirs(dir, 0755) : -ENOMEM;
	int fd = -1;
	if (rc == 0) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		rc = fd < 0 ? -errno : 0;
	}
	if (rc < 0)
		dx_fx_fail(e, rc, "cannot open the snapshot lock %s: %s",
			   path ? path : DX_SNAP_STORE "/lock", strerror(-rc));
	else if ((rc = dx_fx_flock(fd, NULL)) < 0) {
		dx_fx_fail(e, rc,
			   "another snapshot or rollback is running in %s "
			   "(it holds %s); wait for it and try again",
			   project, path);
		close(fd);
	}
	free(dir);
	free(path);
	return rc < 0 ? rc : fd;
}

static void dx_snap_progress(const dx_snap_opts *o, const char *what,
			     size_t done, size_t total)
{
	if (o && o->progress)
		o->progress(o->progress_arg, what, done, total);
}

/* ---- taking a snapshot ---- */

/* Store one file's content; fill en->hash. */
static int dx_snap_store_file(const char *project, const dx_fx_entry *en,
			      dx_fx_entry *out, bool *fresh, dx_fx_err *e)
{
	char *src = dx_fx_join(project, en->path);
	char hex[DX_FX_HEX_LEN + 1];
	uint64_t size = 0;
	if (!src)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	int rc = dx_fx_sha256_file(src, hex, &size);
	if (rc < 0) {
		dx_fx_fail(e, rc, "cannot read %s: %s", src, strerror(-rc));
		free(src);
		return rc;
	}
	char *obj = dx_snap_object_path(project, hex);
	struct stat st;
	*fresh = false;
	if (!obj) {
		rc = -ENOMEM;
	} else if (lstat(obj, &st) < 0) {
		char *slash = strrchr(obj, '/');
		*slash = '\0';
		rc = dx_fx_mkdirs(obj, 0755);
		*slash = '/';
		if (rc == 0)
			rc = dx_fx_copy_atomic(src, obj, 0444, hex, false, NULL,
					       e);
		if (rc == -EIO)
			dx_fx_fail(e, rc,
				   "%s changed while the snapshot was taken; "
				   "take it again",
				   src);
		else if (rc < 0)
			dx_fx_fail(e, rc, "cannot store %s as %s: %s", src, obj,
				   strerror(-rc));
		*fresh = rc == 0;
	}
	free(obj);
	free(src);
	if (rc == 0) {
		out->hash = strdup(hex);
		out->size = size;
		if (!out->hash)
			rc = -ENOMEM;
	}
	return rc;
}

static cJSON *dx_snap_entry_json(const dx_fx_entry *en)
{
	static const char *const types[] = {"file", "dir", "link"};
	char mode[8];
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "path", en->path);
	cJSON_AddStringToObject(j, "type", types[en->type]);
	if (en->type == DX_FX_LINK) {
		cJSON_AddStringToObject(j, "target", en->target);
		return j;
	}
	snprintf(mode, sizeof mode, "%04o", (unsigned)en->mode);
	cJSON_AddStringToObject(j, "mode", mode);
	if (en->type == DX_FX_FILE) {
		cJSON_AddStringToObject(j, "hash", en->hash);
		cJSON_AddNumberToObject(j, "size", (double)en->size);
	}
	return j;
}

/* Write the manifest of t (sorted, hashes filled); fill r->id. */
static int dx_snap_write_manifest(const char *project, const dx_fx_tree *t,
				  dx_snap_result *r, dx_fx_err *e)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "entries");
	cJSON_AddNumberToObject(root, "version", 1);
	for (size_t i = 0; i < t->count; i++)
		if (t->v[i].type != DX_FX_OTHER)
			cJSON_AddItemToArray(arr, dx_snap_entry_json(&t->v[i]));
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	size_t len = strlen(text);
	dx_fx_sha256_hex(text, len, r->id);
	char *path = dx_snap_manifest_path(project, r->id);
	char *dir = dx_fx_printf("%s/" DX_SNAP_STORE "/manifests", project);
	struct stat st;
	int rc = path && dir ? dx_fx_mkdirs(dir, 0755) : -ENOMEM;
	if (rc < 0)
		dx_fx_fail(e, rc, "cannot create %s: %s", dir ? dir : "",
			   strerror(-rc));
	else if (lstat(path, &st) == 0) {
		r->existed = true;
	} else {
		/* The objects first, durably: a manifest on disk promises
		 * that every object it names is there too. */
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		}
		rc = dx_fx_write_atomic(path, text, len, 0444, e);
	}
	free(dir);
	free(path);
	free(text);
	return rc;
}

int dx_snap_create(const dx_snap_opts *o, dx_snap_result *r, dx_fx_err *e)
{
	const char *project = dx_snap_proj(o);
	memset(r, 0, sizeof *r);
	struct stat st;
	if (stat(project, &st) < 0 || !S_ISDIR(st.st_mode))
		return dx_fx_fail(e, -ENOENT,
				  "no project directory %s: pass --project "
				  "DIR",
				  project);
	int lock = dx_snap_lock(project, e);
	if (lock < 0)
		return lock;
	dx_fx_tree t;
	int rc = dx_fx_walk(project, dx_fx_skip_dx, NULL, &t, e);
	if (rc < 0) {
		close(lock);
		return rc;
	}
	size_t nfiles = 0, done = 0;
	for (size_t i = 0; i < t.count; i++)
		nfiles += t.v[i].type == DX_FX_FILE;
	for (size_t i = 0; rc == 0 && i < t.count; i++) {
		dx_fx_entry *en = &t.v[i];
		bool fresh = false;
		switch (en->type) {
		case DX_FX_FILE:
			rc = dx_snap_store_file(project, en, en, &fresh, e);
			r->files++;
			r->bytes += en->size;
			r->new_objects += fresh;
			dx_snap_progress(o, "snapshot", ++done, nfiles);
			break;
		case DX_FX_DIR: r->dirs++; break;
		case DX_FX_LINK: r->links++; break;
		case DX_FX_OTHER: r->skipped++; break;
		}
	}
	if (rc == 0)
		rc = dx_snap_write_manifest(project, &t, r, e);
	dx_fx_tree_free(&t);
	close(lock);
	return rc;
}

/* ---- reading a manifest ---- */

static bool dx_snap_path_ok(const char *p)
{
	if (dx_fx_path_why(p, DX_FX_PATH_NOT_DX))
		return false;
	for (const char *s = p; (s = strstr(s, ".git"));) {
		bool start = s == p || s[-1] == '/';
		bool end = s[4] == '\0' || s[4] == '/';
		if (start && end)
			return false;
		s += 4;
	}
	return true;
}

static int dx_snap_parse_entry(const cJSON *j, dx_fx_entry *en)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (!cJSON_IsString(path) || !cJSON_IsString(type) ||
	    !dx_snap_path_ok(path->valuestring))
		return -EINVAL;
	memset(en, 0, sizeof *en);
	if (strcmp(type->valuestring, "link") == 0) {
		const cJSON *tg = cJSON_GetObjectItemCaseSensitive(j, "target");
		if (!cJSON_IsString(tg) || !*tg->valuestring)
			return -EINVAL;
		en->type = DX_FX_LINK;
		en->target = strdup(tg->valuestring);
	} else {
		bool file = strcmp(type->valuestring, "file") == 0;
		if (!file && strcmp(type->valuestring, "dir") != 0)
			return -EINVAL;
		const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
		char *end = NULL;
		if (!cJSON_IsString(mode))
			return -EINVAL;
		unsigned long m = strtoul(mode->valuestring, &end, 8);
		if (*end || m > 07777)
			return -EINVAL;
		en->type = file ? DX_FX_FILE : DX_FX_DIR;
		en->mode = (mode_t)m;
		if (file) {
			const cJSON *h =
				cJSON_GetObjectItemCaseSensitive(j, "hash");
			const cJSON *sz =
				cJSON_GetObjectItemCaseSensitive(j, "size");
			if (!cJSON_IsString(h) ||
			    !dx_fx_is_hex64(h->valuestring))
				return -EINVAL;
			en->hash = strdup(h->valuestring);
			en->size = cJSON_IsNumber(sz) ?
					   (uint64_t)sz->valuedouble :
					   0;
		}
	}
	en->path = strdup(path->valuestring);
	return 0;
}

/* Every entry's parent is a directory of the manifest; no duplicates. */
static bool dx_snap_tree_consistent(const dx_fx_tree *t)
{
	for (size_t i = 0; i < t->count; i++) {
		if (i && strcmp(t->v[i - 1].path, t->v[i].path) == 0)
			return false;
		const char *slash = strrchr(t->v[i].path, '/');
		if (!slash)
			continue;
		char *parent =
			strndup(t->v[i].path, (size_t)(slash - t->v[i].path));
		const dx_fx_entry *p = parent ? dx_fx_tree_find(t, parent) :
						NULL;
		free(parent);
		if (!p || p->type != DX_FX_DIR)
			return false;
	}
	return true;
}

static int dx_snap_load(const char *project, const char *id, dx_fx_tree *t,
			dx_fx_err *e)
{
	char *path = dx_snap_manifest_path(project, id);
	char *text = NULL;
	memset(t, 0, sizeof *t);
	if (!path)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	int rc = dx_fx_read_file(path, &text, NULL);
	if (rc < 0) {
		dx_fx_fail(e, rc, "cannot read snapshot %s: %s", path,
			   strerror(-rc));
		free(path);
		return rc;
	}
	char hex[DX_FX_HEX_LEN + 1];
	dx_fx_sha256_hex(text, strlen(text), hex);
	cJSON *root = cJSON_Parse(text);
	free(text);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "entries");
	rc = strcmp(hex, id) == 0 && cJSON_IsNumber(v) && v->valueint == 1 &&
			     cJSON_IsArray(arr) ?
		     0 :
		     -EINVAL;
	const cJSON *j;
	cJSON_ArrayForEach(j, arr)
	{
		dx_fx_entry en = {0};
		if (rc < 0)
			break;
		rc = dx_snap_parse_entry(j, &en);
		if (rc == 0 &&
		    (!en.path || (en.type == DX_FX_LINK ?
					  !en.target :
					  en.type == DX_FX_FILE && !en.hash)))
			rc = -ENOMEM;
		if (rc == 0)
			rc = dx_fx_tree_add(t, &en);
		if (rc < 0) {
			free(en.path);
			free(en.target);
			free(en.hash);
			break;
		}
	}
	cJSON_Delete(root);
	dx_fx_tree_sort(t);
	if (rc == 0 && !dx_snap_tree_consistent(t))
		rc = -EINVAL;
	if (rc < 0) {
		dx_fx_fail(e, rc,
			   "snapshot %s is damaged (%s does not hash to its "
			   "name or is not a valid manifest); take a new one",
			   id, path);
		dx_fx_tree_free(t);
	}
	free(path);
	return rc;
}

/* ---- finding snapshots ---- */

int dx_snap_list(const char *project, dx_snap_info **out, size_t *count,
		 dx_fx_err *e)
{
	*out = NULL;
	*count = 0;
	char *dir = dx_fx_printf("%s/" DX_SNAP_STORE "/manifests", project);
	if (!dir)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	DIR *d = opendir(dir);
	if (!d) {
		int rc = errno == ENOENT ? 0 : -errno;
		if (rc)
			dx_fx_fail(e, rc, "cannot read %s: %s", dir,
				   strerror(-rc));
		free(dir);
		return rc;
	}
	size_t cap = 0;
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		size_t n = strlen(de->d_name);
		if (n != DX_SNAP_ID_LEN + 5 ||
		    strcmp(de->d_name + DX_SNAP_ID_LEN, ".json") != 0)
			continue;
		if (*count == cap) {
			cap = cap ? 2 * cap : 16;
			dx_snap_info *v = realloc(*out, cap * sizeof *v);
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			*out = v;
		}
		dx_snap_info *s = &(*out)[*count];
		memcpy(s->id, de->d_name, DX_SNAP_ID_LEN);
		s->id[DX_SNAP_ID_LEN] = '\0';
		if (!dx_fx_is_hex64(s->id))
			continue;
		char *p = dx_fx_join(dir, de->d_name);
		struct stat st;
		s->taken = p && stat(p, &st) == 0 ? (int64_t)st.st_mtime : 0;
		s->entries = 0;
		char *text = NULL;
		if (p && dx_fx_read_file(p, &text, NULL) == 0) {
			cJSON *root = cJSON_Parse(text);
			s->entries = (size_t)cJSON_GetArraySize(
				cJSON_GetObjectItemCaseSensitive(root,
								 "entries"));
			cJSON_Delete(root);
		}
		free(text);
		free(p);
		(*count)++;
	}
	closedir(d);
	free(dir);
	/* Oldest first; equal times by ID so the order is stable. */
	for (size_t i = 1; i < *count; i++)
		for (size_t k = i; k > 0; k--) {
			dx_snap_info *a = &(*out)[k - 1], *b = &(*out)[k];
			if (a->taken < b->taken ||
			    (a->taken == b->taken && strcmp(a->id, b->id) <= 0))
				break;
			dx_snap_info tmp = *a;
			*a = *b;
			*b = tmp;
		}
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*count = 0;
		dx_fx_fail(e, rc, "out of memory");
	}
	return rc;
}

int dx_snap_resolve(const char *project, const char *prefix,
		    char id[DX_SNAP_ID_LEN + 1], dx_fx_err *e)
{
	size_t n = strlen(prefix);
	bool hex = n >= DX_SNAP_ID_MIN && n <= DX_SNAP_ID_LEN;
	for (size_t i = 0; hex && i < n; i++)
		hex = (prefix[i] >= '0' && prefix[i] <= '9') ||
		      (prefix[i] >= 'a' && prefix[i] <= 'f');
	if (!hex)
		return dx_fx_fail(e, -EINVAL,
				  "\"%s\" is not a snapshot ID: expected %d "
				  "to %d lowercase hex digits (`dx forge "
				  "snapshot --list` shows the IDs)",
				  prefix, DX_SNAP_ID_MIN, DX_SNAP_ID_LEN);
	dx_snap_info *v;
	size_t count, found = 0;
	int rc = dx_snap_list(project, &v, &count, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count; i++)
		if (strncmp(v[i].id, prefix, n) == 0 && found++ == 0)
			memcpy(id, v[i].id, DX_SNAP_ID_LEN + 1);
	free(v);
	if (found == 0)
		return dx_fx_fail(e, -ENOENT,
				  "no snapshot %s in %s/" DX_SNAP_STORE
				  " (%zu snapshot%s there); `dx forge snapshot "
				  "--list` shows them",
				  prefix, project, count,
				  count == 1 ? " is" : "s are");
	if (found > 1)
		return dx_fx_fail(e, -EINVAL,
				  "snapshot ID %s is ambiguous: %zu snapshots "
				  "start with it; give more digits",
				  prefix, found);
	return 0;
}

/* ---- rollback ---- */

typedef struct dx_rb {
	const char *project;
	const dx_snap_opts *o;
	dx_fx_tree want, have;
	bool *gone;     /* per have entry: removed */
	mode_t *before; /* per want entry: its mode before, or (mode_t)-1 */
	dx_rollback_result *r;
	dx_fx_err *e;
} dx_rb;

static int dx_rb_check_objects(dx_rb *rb)
{
	for (size_t i = 0; i < rb->want.count; i++) {
		const dx_fx_entry *w = &rb->want.v[i];
		if (w->type != DX_FX_FILE)
			continue;
		char *obj = dx_snap_object_path(rb->project, w->hash);
		struct stat st;
		int rc = !obj ? -ENOMEM : lstat(obj, &st) < 0 ? -errno : 0;
		if (rc < 0)
			dx_fx_fail(
				rb->e, rc,
				"snapshot %s is incomplete: the object for "
				"%s (%s) is missing: %s; nothing was changed",
				rb->r->id, w->path, obj ? obj : "",
				strerror(-rc));
		free(obj);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* chmod the project's rel; the message names the file. */
static int dx_rb_chmod(dx_rb *rb, const char *rel, mode_t mode)
{
	char *p = dx_fx_join(rb->project, rel);
	int rc = !p ? -ENOMEM : chmod(p, mode) < 0 ? -errno : 0;
	if (rc < 0)
		dx_fx_fail(rb->e, rc, "cannot change the mode of %s: %s",
			   p ? p : rel, strerror(-rc));
	free(p);
	return rc;
}

/* Directories we must write into get u+rwx until the end. */
static int dx_rb_open_dirs(dx_rb *rb)
{
	for (size_t i = 0; i < rb->have.count; i++) {
		dx_fx_entry *h = &rb->have.v[i];
		if (h->type != DX_FX_DIR || (h->mode & 0700) == 0700)
			continue;
		int rc = dx_rb_chmod(rb, h->path, h->mode | 0700);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Remove what the snapshot does not have (or has as another type),
 * deepest first: in reverse path order, what a directory holds comes
 * before it. */
static int dx_rb_remove(dx_rb *rb)
{
	for (size_t i = rb->have.count; i-- > 0;) {
		dx_fx_entry *h = &rb->have.v[i];
		const dx_fx_entry *w = dx_fx_tree_find(&rb->want, h->path);
		if (w && w->type == h->type)
			continue;
		char *p = dx_fx_join(rb->project, h->path);
		if (!p)
			return dx_fx_fail(rb->e, -ENOMEM, "out of memory");
		int rc = h->type == DX_FX_DIR ? rmdir(p) : unlink(p);
		if (rc < 0 && errno == ENOTEMPTY)
			rc = dx_fx_fail(rb->e, -ENOTEMPTY,
					"cannot remove the directory %s: it "
					"holds a .git, which rollback never "
					"touches; move it away and roll back "
					"again",
					p);
		else if (rc < 0)
			rc = dx_fx_fail(rb->e, -errno, "cannot remove %s: %s",
					p, strerror(errno));
		free(p);
		if (rc < 0)
			return rc;
		rb->gone[i] = true;
		rb->r->removed++;
	}
	return 0;
}

static const dx_fx_entry *dx_rb_have(const dx_rb *rb, const char *path)
{
	const dx_fx_entry *h = dx_fx_tree_find(&rb->have, path);
	return h && !rb->gone[h - rb->have.v] ? h : NULL;
}

static int dx_rb_link(dx_rb *rb, const dx_fx_entry *w, const char *p)
{
	char *tmp = dx_fx_printf("%s.dx-rb-%ld", p, (long)getpid());
	if (!tmp)
		return dx_fx_fail(rb->e, -ENOMEM, "out of memory");
	unlink(tmp);
	int rc = symlink(w->target, tmp) < 0 || rename(tmp, p) < 0 ? -errno : 0;
	if (rc < 0) {
		dx_fx_fail(rb->e, rc, "cannot restore the link %s: %s", p,
			   strerror(-rc));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

/* Make one entry of the snapshot so. */
static int dx_rb_restore_one(dx_rb *rb, size_t i)
{
	const dx_fx_entry *w = &rb->want.v[i];
	const dx_fx_entry *h = dx_rb_have(rb, w->path);
	char *p = dx_fx_join(rb->project, w->path);
	int rc = 0;
	if (!p)
		return dx_fx_fail(rb->e, -ENOMEM, "out of memory");
	rb->before[i] = h ? h->mode : (mode_t)-1;
	if (w->type == DX_FX_DIR) {
		if (!h && mkdir(p, 0700) < 0)
			rc = dx_fx_fail(rb->e, -errno, "cannot create %s: %s",
					p, strerror(errno));
	} else if (w->type == DX_FX_LINK) {
		if (h && strcmp(h->target, w->target) == 0)
			rb->r->unchanged++;
		else if ((rc = dx_rb_link(rb, w, p)) == 0)
			rb->r->written++;
	} else {
		char hex[DX_FX_HEX_LEN + 1];
		if (h && h->size == w->size &&
		    dx_fx_sha256_file(p, hex, NULL) == 0 &&
		    strcmp(hex, w->hash) == 0) {
			rb->r->unchanged++;
			if (h->mode != w->mode && chmod(p, w->mode) < 0)
				rc = dx_fx_fail(rb->e, -errno,
						"cannot change the mode of %s: "
						"%s",
						p, strerror(errno));
			rb->r->modes += h->mode != w->mode;
		} else {
			char *obj = dx_snap_object_path(rb->project, w->hash);
			rc = obj ? dx_fx_copy_atomic(obj, p, w->mode, w->hash,
						     false, NULL, rb->e) :
				   -ENOMEM;
			free(obj);
			if (rc == 0)
				rb->r->written++;
			rb->r->modes += h && h->mode != w->mode;
		}
	}
	free(p);
	return rc;
}

/* Directory modes last, deepest first, so a read-only directory is only
 * closed once what it holds is written. */
static int dx_rb_dir_modes(dx_rb *rb)
{
	for (size_t i = rb->want.count; i-- > 0;) {
		const dx_fx_entry *w = &rb->want.v[i];
		if (w->type != DX_FX_DIR)
			continue;
		int rc = dx_rb_chmod(rb, w->path, w->mode);
		if (rc < 0)
			return rc;
		rb->r->modes += rb->before[i] != (mode_t)-1 &&
				rb->before[i] != w->mode;
	}
	return 0;
}

static int dx_rb_run(dx_rb *rb)
{
	int rc = dx_fx_walk(rb->project, dx_fx_skip_dx, NULL, &rb->have, rb->e);
	if (rc < 0)
		return rc;
	rb->gone = calloc(rb->have.count + 1, sizeof *rb->gone);
	rb->before = calloc(rb->want.count + 1, sizeof *rb->before);
	if (!rb->gone || !rb->before)
		return dx_fx_fail(rb->e, -ENOMEM, "out of memory");
	rc = dx_rb_open_dirs(rb);
	if (rc == 0)
		rc = dx_rb_remove(rb);
	for (size_t i = 0; rc == 0 && i < rb->want.count; i++) {
		rc = dx_rb_restore_one(rb, i);
		dx_snap_progress(rb->o, "rollback", i + 1, rb->want.count);
	}
	if (rc == 0)
		rc = dx_rb_dir_modes(rb);
	int fd = open(rb->project, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	return rc;
}

int dx_snap_rollback(const dx_snap_opts *o, const char *id,
		     dx_rollback_result *r, dx_fx_err *e)
{
	const char *project = dx_snap_proj(o);
	memset(r, 0, sizeof *r);
	dx_rb rb = {.project = project, .o = o, .r = r, .e = e};
	int rc = dx_snap_resolve(project, id, r->id, e);
	if (rc < 0)
		return rc;
	rc = dx_snap_load(project, r->id, &rb.want, e);
	if (rc < 0)
		return rc;
	rc = dx_rb_check_objects(&rb);
	int lock = rc < 0 ? rc : dx_snap_lock(project, e);
	if (lock >= 0) {
		rc = dx_rb_run(&rb);
		close(lock);
	} else {
		rc = lock;
	}
	dx_fx_tree_free(&rb.want);
	dx_fx_tree_free(&rb.have);
	free(rb.gone);
	free(rb.before);
	return rc;
}
