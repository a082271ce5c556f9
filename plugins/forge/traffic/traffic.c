/* traffic.c - plan and install: the traffic manager's two entry points.
 *
 * State under PROJECT/.dx/forge/:
 *   installed.json   packages, versions, and per file: to, from and the git
 *                    blob id of its base (tm_state.c)
 *   base/NAME/TO     the pristine copy of each installed file: the merge
 *                    base of the next update (a hash alone cannot merge)
 *   lock             flock'd by the install at work; holds its pid
 *   journal          only while an install runs (tm_journal.c)
 *
 * A plan reads and never writes. An install plans without the lock (so a
 * refused package writes nothing, not even .dx/forge), then takes the lock,
 * recovers an interrupted install if there is one, plans again against
 * what is now on disk, and applies the result as one transaction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "tm_int.h"

/* One plan: the package, the state and each file's light. */
typedef struct tm_plan {
	const dx_tm_opts *o;
	char *root; /* realpath of the project */
	tm_pkg pkg;
	cJSON *state;
	cJSON *old; /* the package's entry in state, or NULL */
	tm_buf *bases;
	bool *has_base;
	tm_out *outs;
	dx_tm_report rep;
} tm_plan;

static void tm_plan_free(tm_plan *p)
{
	for (size_t i = 0; i < p->pkg.count && p->outs && p->bases; i++) {
		tm_buf_free(&p->bases[i]);
		tm_buf_free(&p->outs[i].merged);
	}
	free(p->bases);
	free(p->has_base);
	free(p->outs);
	tm_pkg_free(&p->pkg);
	cJSON_Delete(p->state);
	free(p->root);
	dx_tm_report_free(&p->rep);
}

static bool tm_component_ok(const char *s)
{
	return *s && *s != '.' && !strchr(s, '/') && !strchr(s, '@') &&
	       strlen(s) < 256;
}

int dx_tm_parse_spec(const char *spec, char **name, char **version, dx_diag *d)
{
	const char *at = strchr(spec, '@');
	*name = *version = NULL;
	if (!at) {
		dx_diag_add(d, "\"%s\": expected NAME@VERSION", spec);
		return -EINVAL;
	}
	*name = strndup(spec, (size_t)(at - spec));
	*version = strdup(at + 1);
	if (!*name || !*version || !tm_component_ok(*name) ||
	    !tm_component_ok(*version)) {
		dx_diag_add(d,
			    "\"%s\": NAME and VERSION must be plain names "
			    "(not empty, no '/' or '@', not starting with "
			    "'.')",
			    spec);
		free(*name);
		free(*version);
		*name = *version = NULL;
		return -EINVAL;
	}
	return 0;
}

/* The disk checks of every path: all problems listed, any one refuses. */
static int tm_plan_paths(tm_plan *p, dx_diag *d)
{
	int rc = 0;
	for (size_t i = 0; i < p->pkg.count; i++) {
		const char *to = p->pkg.files[i].to;
		char **dirs = NULL, *side = tm_printf("%s.new", to);
		size_t nd = 0;
		const char *owner = tm_state_owner(p->state, to, p->pkg.name);
		int r = owner ? -EEXIST : 0;
		if (owner)
			dx_diag_add(d, "%s: already installed by package %s",
				    to, owner);
		if (!r)
			r = tm_path_resolve(p->root, to, &dirs, &nd, d);
		if (!r)
			r = tm_path_resolve(p->root, side, &dirs, &nd, d);
		while (nd)
			free(dirs[--nd]);
		free(dirs);
		free(side);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

/* A base copy is used only when its blob id matches the state's: a copy
 * edited or left over by hand is no merge base (the file goes Red). */
static bool tm_base_trusted(const cJSON *sf, const tm_buf *b)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(sf, "base");
	char have[41];
	tm_blob_id(b, have);
	return cJSON_IsString(id) && strcmp(id->valuestring, have) == 0;
}

/* Read the user's file and the base of file i, then classify it. */
static int tm_plan_file(tm_plan *p, size_t i, dx_diag *d)
{
	const tm_pfile *f = &p->pkg.files[i];
	char *path = tm_join(p->root, f->to);
	char *bpath = tm_printf("%s/%s/%s/%s", p->root, TM_BASE_DIR,
				p->pkg.name, f->to);
	tm_buf user;
	int rc = tm_read(path, &user);
	int brc = rc == 0 || rc == -ENOENT ? tm_read(bpath, &p->bases[i]) : 0;
	if (rc < 0 && rc != -ENOENT)
		dx_diag_add(d, "%s: %s", f->to, strerror(-rc));
	else if (brc < 0 && brc != -ENOENT)
		dx_diag_add(d, "%s: %s", bpath, strerror(-(rc = brc)));
	else {
		const cJSON *sf = tm_state_file(p->old, f->to);
		p->has_base[i] = brc == 0 && tm_base_trusted(sf, &p->bases[i]);
		tm_in in = {
			.new = &f->content,
			.user = rc == 0 ? &user : NULL,
			.base = p->has_base[i] ? &p->bases[i] : NULL,
			.installed = sf != NULL,
			.restore_deleted = p->o->restore_deleted,
		};
		size_t start = d->count;
		rc = tm_classify(&in, &p->outs[i], d);
		dx_diag_prefix(d, start, f->to);
	}
	tm_buf_free(&user);
	free(bpath);
	free(path);
	return rc;
}

/* Where file i's new content goes: TO, TO.new, or nowhere. */
static char *tm_plan_target(const tm_plan *p, size_t i)
{
	switch (p->outs[i].action) {
	case DX_TM_WRITE:
	case DX_TM_MERGE: return tm_printf("%s", p->pkg.files[i].to);
	case DX_TM_CONFLICT: return tm_printf("%s.new", p->pkg.files[i].to);
	default: return NULL;
	}
}

/* Refuse before writing anything if a write would be denied. */
static int tm_plan_access(tm_plan *p, dx_diag *d)
{
	int rc = 0;
	for (size_t i = 0; i < p->pkg.count; i++) {
		char *t = tm_plan_target(p, i);
		int r = t ? tm_path_writable(p->root, t, d) : 0;
		free(t);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

static void tm_rep_add(dx_tm_report *r, const char *path, dx_tm_light l,
		       dx_tm_action a, const char *why)
{
	/* Nothing is written yet: tm_must's abort loses nothing. */
	dx_tm_file *n = tm_must(realloc(r->files, (r->count + 1) * sizeof *n));
	r->files = n;
	n[r->count++] = (dx_tm_file){tm_printf("%s", path), l, a, why};
}

/* Files the installed version had and the new one does not. */
static bool tm_plan_dropped(const tm_plan *p, const char *to)
{
	for (size_t i = 0; i < p->pkg.count; i++)
		if (strcmp(p->pkg.files[i].to, to) == 0)
			return false;
	return true;
}

static void tm_plan_report(tm_plan *p)
{
	dx_tm_report *r = &p->rep;
	r->name = tm_printf("%s", p->pkg.name);
	r->version = tm_printf("%s", p->pkg.version);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(p->old, "version");
	r->old_version = cJSON_IsString(v) ? tm_printf("%s", v->valuestring) :
					     NULL;
	for (size_t i = 0; i < p->pkg.count; i++)
		tm_rep_add(r, p->pkg.files[i].to, p->outs[i].light,
			   p->outs[i].action, p->outs[i].why);
	cJSON *f, *files = cJSON_GetObjectItemCaseSensitive(p->old, "files");
	cJSON_ArrayForEach(f, files)
	{
		cJSON *to = cJSON_GetObjectItemCaseSensitive(f, "to");
		if (cJSON_IsString(to) && tm_plan_dropped(p, to->valuestring))
			tm_rep_add(r, to->valuestring, DX_TM_GREEN, DX_TM_DROP,
				   "no longer in the package");
	}
	if (tm_journal_pending(p->root))
		r->recovered = tm_printf("an interrupted install is pending; "
					 "the next install recovers it first");
}

static int tm_plan_alloc(tm_plan *p)
{
	size_t n = p->pkg.count ? p->pkg.count : 1;
	p->bases = calloc(n, sizeof *p->bases);
	p->has_base = calloc(n, sizeof *p->has_base);
	p->outs = calloc(n, sizeof *p->outs);
	return p->bases && p->has_base && p->outs ? 0 : -ENOMEM;
}

/* Everything a plan knows, or an error with nothing written. */
static int tm_plan_build(const dx_tm_opts *o, const char *name,
			 const char *version, tm_plan *p, dx_diag *d)
{
	memset(p, 0, sizeof *p);
	p->o = o;
	char *n = NULL, *v = NULL, *spec = tm_printf("%s@%s", name, version);
	int rc = dx_tm_parse_spec(spec, &n, &v, d);
	free(spec);
	free(n);
	free(v);
	if (rc)
		return rc;
	if (!o->registry || !o->project) {
		dx_diag_add(d, "a registry and a project directory are needed");
		return -EINVAL;
	}
	p->root = realpath(o->project, NULL);
	if (!p->root) {
		dx_diag_add(d, "project %s: %s", o->project, strerror(errno));
		return -errno;
	}
	rc = tm_pkg_load(o->registry, name, version, &p->pkg, d);
	if (!rc)
		rc = tm_state_load(p->root, &p->state, d);
	if (rc)
		return rc;
	p->old = tm_state_pkg(p->state, name);
	if ((rc = tm_plan_paths(p, d)) < 0) {
		dx_diag_add(d, "%s@%s refused: nothing was written", name,
			    version);
		return rc;
	}
	if ((rc = tm_plan_alloc(p)) < 0)
		return rc;
	for (size_t i = 0; i < p->pkg.count && !rc; i++)
		rc = tm_plan_file(p, i, d);
	if (!rc && (rc = tm_plan_access(p, d)) < 0)
		dx_diag_add(d, "%s@%s refused: nothing was written", name,
			    version);
	if (!rc)
		tm_plan_report(p);
	return rc;
}

int dx_tm_plan(const dx_tm_opts *o, const char *name, const char *version,
	       dx_tm_report *out, dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (git_libgit2_init() < 0) {
		dx_diag_add(d, "libgit2 failed to initialise");
		return -EIO;
	}
	tm_plan p;
	int rc = tm_plan_build(o, name, version, &p, d);
	if (!rc) {
		*out = p.rep;
		memset(&p.rep, 0, sizeof p.rep);
	}
	tm_plan_free(&p);
	git_libgit2_shutdown();
	return rc;
}

void dx_tm_report_free(dx_tm_report *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->files[i].path);
	free(r->files);
	free(r->name);
	free(r->version);
	free(r->old_version);
	free(r->recovered);
	memset(r, 0, sizeof *r);
}

const char *dx_tm_light_name(dx_tm_light l)
{
	return l == DX_TM_GREEN  ? "Green" :
	       l == DX_TM_YELLOW ? "Yellow" :
				   "Red";
}

const char *dx_tm_action_text(dx_tm_action a)
{
	switch (a) {
	case DX_TM_WRITE: return "written";
	case DX_TM_UNCHANGED: return "already up to date";
	case DX_TM_MERGE: return "merged";
	case DX_TM_KEEP: return "kept your version";
	case DX_TM_CONFLICT: return "conflict: new version in FILE.new";
	case DX_TM_KEEP_DELETED: return "kept deleted";
	case DX_TM_DROP: return "left in place, no longer tracked";
	}
	return "?";
}

/* ---- install ---- */

/* The base file i will have after the install, or NULL for none. */
static const tm_buf *tm_new_base(const tm_plan *p, size_t i)
{
	if (!p->outs[i].keep_base)
		return &p->pkg.files[i].content;
	return p->has_base[i] ? &p->bases[i] : NULL;
}

/* installed.json after the install, as text (malloc'd). */
static char *tm_state_text(tm_plan *p)
{
	cJSON *pkgs = cJSON_GetObjectItemCaseSensitive(p->state, "packages");
	cJSON_DeleteItemFromObjectCaseSensitive(pkgs, p->pkg.name);
	p->old = NULL; /* it pointed into what was just deleted */
	cJSON *e = cJSON_AddObjectToObject(pkgs, p->pkg.name);
	cJSON_AddStringToObject(e, "version", p->pkg.version);
	cJSON *files = cJSON_AddArrayToObject(e, "files");
	for (size_t i = 0; i < p->pkg.count; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "to", p->pkg.files[i].to);
		cJSON_AddStringToObject(f, "from", p->pkg.files[i].from);
		const tm_buf *b = tm_new_base(p, i);
		char id[41];
		if (b)
			tm_blob_id(b, id);
		if (b)
			cJSON_AddStringToObject(f, "base", id);
		else
			cJSON_AddNullToObject(f, "base");
		cJSON_AddItemToArray(files, f);
	}
	char *json = tm_must(cJSON_Print(p->state)); /* nothing written yet */
	char *text = tm_printf("%s\n", json);
	cJSON_free(json);
	return text;
}

/* Add one op and the directories its target needs. */
static int tm_add_op(tm_txn *t, const char *target, const tm_buf *b, dx_diag *d)
{
	tm_txn_add(t, target, b ? b->data : NULL, b ? b->len : 0, !b);
	return b ? tm_path_resolve(t->root, target, &t->dirs, &t->ndirs, d) : 0;
}

/* The base copies: new ones written, dropped files' removed. */
static int tm_txn_bases(tm_plan *p, tm_txn *t, dx_diag *d)
{
	int rc = 0;
	for (size_t i = 0; i < p->pkg.count && !rc; i++) {
		const tm_buf *nb = tm_new_base(p, i);
		if (nb != &p->pkg.files[i].content ||
		    (p->has_base[i] && tm_buf_eq(&p->bases[i], nb)))
			continue;
		char *b = tm_printf("%s/%s/%s", TM_BASE_DIR, p->pkg.name,
				    p->pkg.files[i].to);
		rc = tm_add_op(t, b, nb, d);
		free(b);
	}
	for (size_t i = 0; i < p->rep.count && !rc; i++) {
		if (p->rep.files[i].action != DX_TM_DROP)
			continue;
		char *b = tm_printf("%s/%s/%s", TM_BASE_DIR, p->pkg.name,
				    p->rep.files[i].path);
		rc = tm_add_op(t, b, NULL, d);
		free(b);
	}
	return rc;
}

static int tm_install_apply(tm_plan *p, const dx_tm_opts *o, dx_diag *d)
{
	tm_txn t = {.root = p->root, .o = o};
	t.label = tm_printf("%s@%s", p->pkg.name, p->pkg.version);
	int rc = 0;
	for (size_t i = 0; i < p->pkg.count && !rc; i++) {
		char *target = tm_plan_target(p, i);
		const tm_buf *b = p->outs[i].action == DX_TM_MERGE ?
					  &p->outs[i].merged :
					  &p->pkg.files[i].content;
		if (target)
			rc = tm_add_op(&t, target, b, d);
		free(target);
	}
	if (!rc)
		rc = tm_txn_bases(p, &t, d);
	char *state = rc ? NULL : tm_state_text(p);
	if (!rc) {
		tm_buf sb = {state, strlen(state)};
		rc = tm_add_op(&t, TM_STATE, &sb, d);
	}
	if (!rc)
		rc = tm_txn_run(&t, d);
	free(state);
	tm_txn_free(&t);
	return rc;
}

/* Under the lock: recover, plan again, apply. */
static int tm_install_locked(const dx_tm_opts *o, const char *name,
			     const char *version, const char *root,
			     dx_tm_report *out, dx_diag *d)
{
	char *recovered = NULL;
	int rc = tm_journal_recover(root, &recovered, d);
	tm_plan p;
	if (!rc)
		rc = tm_plan_build(o, name, version, &p, d);
	else
		memset(&p, 0, sizeof p);
	if (!rc)
		rc = tm_install_apply(&p, o, d);
	if (!rc) {
		*out = p.rep;
		memset(&p.rep, 0, sizeof p.rep);
		free(out->recovered); /* the plan's "pending" note */
		out->recovered = recovered;
		recovered = NULL;
	}
	free(recovered);
	tm_plan_free(&p);
	return rc;
}

int dx_tm_install(const dx_tm_opts *o, const char *name, const char *version,
		  dx_tm_report *out, dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (git_libgit2_init() < 0) {
		dx_diag_add(d, "libgit2 failed to initialise");
		return -EIO;
	}
	/* First without the lock: a refused package writes nothing. */
	tm_plan first;
	int rc = tm_plan_build(o, name, version, &first, d);
	int lock = rc ? -1 : tm_lock(first.root, d);
	if (!rc && lock < 0)
		rc = lock;
	if (!rc)
		rc = tm_install_locked(o, name, version, first.root, out, d);
	tm_unlock(lock);
	tm_plan_free(&first);
	git_libgit2_shutdown();
	return rc;
}

int dx_tm_recover(const dx_tm_opts *o, char **what, dx_diag *d)
{
	*what = NULL;
	char *root = o->project ? realpath(o->project, NULL) : NULL;
	if (!root) {
		dx_diag_add(d, "project %s: %s",
			    o->project ? o->project : "(none)",
			    strerror(errno));
		return -EINVAL;
	}
	int rc = 0;
	if (tm_journal_pending(root)) {
		int lock = tm_lock(root, d);
		rc = lock < 0 ? lock : tm_journal_recover(root, what, d);
		tm_unlock(lock);
	}
	free(root);
	return rc;
}
