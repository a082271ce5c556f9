/* tm_journal.c - an install applies completely or not at all.
 *
 * Every change of an install (project files, FILE.new files, base copies,
 * installed.json) is an op: "target gets this content" or "target goes".
 * The sequence:
 *
 *   1. journal (state "staging"): every op's target, the temp file beside
 *      it (.NAME.dxtmp.PID) and where its previous content is saved aside
 *      (.NAME.dxold.PID), and the directories to create;
 *   2. stage: create the directories, write and fsync every temp file, copy
 *      every existing target aside; nothing the user sees has changed;
 *   3. journal (state "committing"), written atomically like everything;
 *   4. commit: rename each temp over its target (or unlink the target),
 *      fsync the directories, delete the saved copies and the journal.
 *
 * A failure in 2 or 4 (EACCES, EISDIR, ENOSPC, an immutable file) rolls
 * back at once: renamed targets get their saved copy back (or are removed
 * when they did not exist), temps and copies go, new directories go.
 *
 * Recovery (the next install, or dx_tm_recover) after a kill: a journal in
 * "staging" is rolled back (nothing visible had changed yet, so this only
 * cleans up); one in "committing" is rolled forward - every byte of the new
 * version was already fsynced, the user asked for it, and finishing touches
 * only the ops not yet renamed (a temp still present means not yet done).
 * Should rolling forward fail, it rolls back instead. Either way the
 * project ends fully old or fully new and the journal is gone. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tm_int.h"

void tm_txn_add(tm_txn *t, const char *target, const char *data, size_t len,
		bool remove)
{
	if (t->nops == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		tm_op *n = realloc(t->ops, cap * sizeof *n);
		if (!n)
			abort(); /* before the journal: nothing to undo */
		t->ops = n;
		t->cap = cap;
	}
	tm_op *op = &t->ops[t->nops++];
	memset(op, 0, sizeof *op);
	op->target = tm_printf("%s", target);
	op->data = data;
	op->len = len;
	op->remove = remove;
}

void tm_txn_free(tm_txn *t)
{
	for (tm_op *op = t->ops; op < t->ops + t->nops; op++) {
		free(op->target);
		free(op->tmp);
		free(op->old);
	}
	free(t->ops);
	for (size_t i = 0; i < t->ndirs; i++)
		free(t->dirs[i]);
	free(t->dirs);
	free(t->label);
	memset(t, 0, sizeof *t);
}

static bool tm_exists(const char *root, const char *rel)
{
	char *p = tm_join(root, rel);
	struct stat st;
	bool e = lstat(p, &st) == 0;
	free(p);
	return e;
}

/* unlink root/rel; ENOENT is fine. */
static int tm_unlink(const char *root, const char *rel)
{
	char *p = tm_join(root, rel);
	int rc = unlink(p) < 0 && errno != ENOENT ? -errno : 0;
	free(p);
	return rc;
}

static int tm_rename(const char *root, const char *from, const char *to)
{
	char *a = tm_join(root, from), *b = tm_join(root, to);
	int rc = rename(a, b) < 0 ? -errno : 0;
	free(a);
	free(b);
	return rc;
}

/* ---- the journal file ---- */

static cJSON *tm_journal_json(const tm_txn *t, const char *state)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "state", state);
	cJSON_AddStringToObject(j, "label", t->label);
	cJSON *dirs = cJSON_AddArrayToObject(j, "dirs");
	for (size_t i = 0; i < t->ndirs; i++)
		cJSON_AddItemToArray(dirs, cJSON_CreateString(t->dirs[i]));
	cJSON *ops = cJSON_AddArrayToObject(j, "ops");
	for (size_t i = 0; i < t->nops; i++) {
		cJSON *op = cJSON_CreateObject();
		cJSON_AddStringToObject(op, "target", t->ops[i].target);
		if (t->ops[i].tmp)
			cJSON_AddStringToObject(op, "tmp", t->ops[i].tmp);
		else
			cJSON_AddNullToObject(op, "tmp");
		cJSON_AddStringToObject(op, "old", t->ops[i].old);
		cJSON_AddItemToArray(ops, op);
	}
	return j;
}

/* Replace the journal atomically: it is either the old one or the new. */
static int tm_journal_write(const tm_txn *t, const char *state, dx_diag *d)
{
	cJSON *j = tm_journal_json(t, state);
	char *text = j ? cJSON_Print(j) : NULL;
	cJSON_Delete(j);
	if (!text) {
		dx_diag_add(d, "out of memory writing the journal");
		return -ENOMEM;
	}
	char *tmp = tm_join(t->root, TM_JOURNAL ".tmp");
	char *path = tm_join(t->root, TM_JOURNAL);
	unlink(tmp);
	int rc = dx_fx_write_new(tmp, text, strlen(text));
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (!rc)
		rc = dx_fx_fsync_parent(path);
	if (rc) {
		unlink(tmp);
		dx_diag_add(d, "%s: %s", path, strerror(-rc));
	}
	cJSON_free(text);
	free(tmp);
	free(path);
	return rc;
}

static void tm_journal_remove(const char *root)
{
	char *path = tm_join(root, TM_JOURNAL);
	unlink(path);
	dx_fx_fsync_parent(path);
	free(path);
}

bool tm_journal_pending(const char *root)
{
	return tm_exists(root, TM_JOURNAL);
}

/* ---- stage, commit, roll back, roll forward ---- */

/* Count one file write for progress and for the test hook. */
static void tm_count(tm_txn *t)
{
	t->writes++;
	if (t->o && t->o->progress)
		t->o->progress(t->o->progress_arg, t->writes, 2 * t->nops);
	if (t->o && t->o->kill_after && t->writes == t->o->kill_after)
		raise(SIGKILL); /* test hook: see dx_tm_opts.kill_after */
}

/* Copy root/target to root/old when target exists. */
static int tm_save_aside(const char *root, const tm_op *op)
{
	char *p = tm_join(root, op->target);
	tm_buf b;
	int rc = tm_read(p, &b);
	free(p);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	p = tm_join(root, op->old);
	rc = dx_fx_write_new(p, b.data, b.len);
	free(p);
	tm_buf_free(&b);
	return rc;
}

static int tm_stage(tm_txn *t, size_t *failed)
{
	for (size_t i = 0; i < t->ndirs; i++) {
		char *p = tm_join(t->root, t->dirs[i]);
		int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
		free(p);
		if (rc) {
			*failed = i;
			return rc;
		}
	}
	for (size_t i = 0; i < t->nops; i++) {
		tm_op *op = &t->ops[i];
		char *tmp = op->tmp ? tm_join(t->root, op->tmp) : NULL;
		int rc = tmp ? dx_fx_write_new(tmp, op->data, op->len) : 0;
		free(tmp);
		if (!rc)
			rc = tm_save_aside(t->root, op);
		if (rc) {
			*failed = t->ndirs + i;
			return rc;
		}
		tm_count(t);
	}
	return 0;
}

static int tm_apply(tm_txn *t, const tm_op *op)
{
	if (op->remove)
		return tm_unlink(t->root, op->target);
	if (!tm_exists(t->root, op->tmp))
		return 0; /* renamed before a crash: done */
	return tm_rename(t->root, op->tmp, op->target);
}

static void tm_fsync_all(const tm_txn *t)
{
	for (size_t i = 0; i < t->nops; i++) {
		char *p = tm_join(t->root, t->ops[i].target);
		dx_fx_fsync_parent(p);
		free(p);
	}
}

static int tm_commit(tm_txn *t, size_t *failed)
{
	for (size_t i = 0; i < t->nops; i++) {
		int rc = tm_apply(t, &t->ops[i]);
		if (rc) {
			*failed = t->ndirs + i;
			return rc;
		}
		tm_count(t);
	}
	tm_fsync_all(t);
	for (size_t i = 0; i < t->nops; i++)
		tm_unlink(t->root, t->ops[i].old);
	return 0;
}

/* Undo one op. committing: the op may have been applied. */
static int tm_undo(const tm_txn *t, const tm_op *op, bool committing)
{
	int rc = 0;
	bool saved = tm_exists(t->root, op->old);
	bool applied = op->remove ? !tm_exists(t->root, op->target) :
				    !tm_exists(t->root, op->tmp);
	if (committing && applied) {
		if (saved)
			rc = tm_rename(t->root, op->old, op->target);
		else if (!op->remove)
			rc = tm_unlink(t->root, op->target);
	}
	if (op->tmp)
		tm_unlink(t->root, op->tmp);
	if (!rc)
		tm_unlink(t->root, op->old);
	return rc;
}

/* Put everything back. The journal stays if some undo failed, so the next
 * run tries again rather than forgetting what is half done. */
static int tm_rollback(tm_txn *t, bool committing, dx_diag *d)
{
	int bad = 0;
	for (size_t i = t->nops; i-- > 0;) {
		int rc = tm_undo(t, &t->ops[i], committing);
		if (rc) {
			dx_diag_add(d,
				    "%s: could not restore: %s; the journal "
				    "%s stays for the next run",
				    t->ops[i].target, strerror(-rc),
				    TM_JOURNAL);
			bad = rc;
		}
	}
	for (size_t i = t->ndirs; i-- > 0;) {
		char *p = tm_join(t->root, t->dirs[i]);
		rmdir(p); /* only if empty: it may have been there already */
		free(p);
	}
	tm_fsync_all(t);
	if (!bad)
		tm_journal_remove(t->root);
	return bad;
}

static const char *tm_failed_name(const tm_txn *t, size_t failed)
{
	return failed < t->ndirs ? t->dirs[failed] :
				   t->ops[failed - t->ndirs].target;
}

/* The temp and saved-aside names beside rel: DIR/.BASE.TAG.PID. */
static char *tm_side_name(const char *rel, const char *tag, long pid)
{
	char suffix[64];
	snprintf(suffix, sizeof suffix, ".%s.%ld", tag, pid);
	return tm_must(dx_fx_beside(rel, suffix));
}

int tm_txn_run(tm_txn *t, dx_diag *d)
{
	long pid = (long)getpid();
	for (size_t i = 0; i < t->nops; i++) {
		tm_op *op = &t->ops[i];
		op->tmp = op->remove ? NULL :
				       tm_side_name(op->target, "dxtmp", pid);
		op->old = tm_side_name(op->target, "dxold", pid);
	}
	int rc = tm_journal_write(t, "staging", d);
	if (rc)
		return rc;
	size_t failed = 0;
	bool committing = false;
	rc = tm_stage(t, &failed);
	if (!rc) {
		rc = tm_journal_write(t, "committing", d);
		failed = SIZE_MAX;
	}
	if (!rc) {
		committing = true;
		rc = tm_commit(t, &failed);
	}
	if (!rc) {
		tm_journal_remove(t->root);
		return 0;
	}
	if (failed != SIZE_MAX)
		dx_diag_add(d, "%s: %s", tm_failed_name(t, failed),
			    strerror(-rc));
	if (tm_rollback(t, committing, d) == 0)
		dx_diag_add(d, "%s: rolled back, nothing was changed",
			    t->label);
	return rc;
}

/* ---- recovery ---- */

static int tm_txn_from_json(tm_txn *t, const cJSON *j)
{
	const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
	const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(j, "dirs");
	const cJSON *ops = cJSON_GetObjectItemCaseSensitive(j, "ops");
	if (!cJSON_IsString(label) || !cJSON_IsArray(dirs) ||
	    !cJSON_IsArray(ops))
		return -EINVAL;
	t->label = tm_printf("%s", label->valuestring);
	const cJSON *e;
	cJSON_ArrayForEach(e, dirs)
	{
		if (!cJSON_IsString(e) ||
		    dx_fx_path_why(e->valuestring, TM_PATH_REL))
			return -EINVAL;
		t->dirs = realloc(t->dirs, (t->ndirs + 1) * sizeof *t->dirs);
		if (!t->dirs)
			abort();
		t->dirs[t->ndirs++] = tm_printf("%s", e->valuestring);
	}
	cJSON_ArrayForEach(e, ops)
	{
		const cJSON *tg = cJSON_GetObjectItemCaseSensitive(e, "target");
		const cJSON *tmp = cJSON_GetObjectItemCaseSensitive(e, "tmp");
		const cJSON *old = cJSON_GetObjectItemCaseSensitive(e, "old");
		/* The journal names files we will rename and delete: the
		 * same rule as a package's paths, so a tampered journal
		 * cannot reach outside the project either. */
		if (!cJSON_IsString(tg) || !cJSON_IsString(old) ||
		    !(cJSON_IsString(tmp) || cJSON_IsNull(tmp)) ||
		    dx_fx_path_why(tg->valuestring, TM_PATH_REL) ||
		    dx_fx_path_why(old->valuestring, TM_PATH_REL) ||
		    (cJSON_IsString(tmp) &&
		     dx_fx_path_why(tmp->valuestring, TM_PATH_REL)))
			return -EINVAL;
		tm_txn_add(t, tg->valuestring, NULL, 0, cJSON_IsNull(tmp));
		tm_op *op = &t->ops[t->nops - 1];
		op->tmp = op->remove ? NULL : tm_printf("%s", tmp->valuestring);
		op->old = tm_printf("%s", old->valuestring);
	}
	return 0;
}

/* Run the journal's decision on t; *what says what happened. */
static int tm_recover_txn(tm_txn *t, bool committing, char **what, dx_diag *d)
{
	if (committing) {
		int rc = 0;
		for (size_t i = 0; i < t->nops && !rc; i++)
			rc = tm_apply(t, &t->ops[i]);
		if (!rc) {
			tm_fsync_all(t);
			for (size_t i = 0; i < t->nops; i++)
				tm_unlink(t->root, t->ops[i].old);
			tm_journal_remove(t->root);
			*what = tm_printf("finished the interrupted install "
					  "of %s",
					  t->label);
			return 0;
		}
		dx_diag_add(d,
			    "finishing the interrupted install of %s "
			    "failed (%s); rolling it back",
			    t->label, strerror(-rc));
	}
	int rc = tm_rollback(t, committing, d);
	if (!rc)
		*what = tm_printf("rolled back the interrupted install of %s",
				  t->label);
	return rc;
}

int tm_journal_recover(const char *root, char **what, dx_diag *d)
{
	*what = NULL;
	char *path = tm_join(root, TM_JOURNAL);
	char *tmp = tm_join(root, TM_JOURNAL ".tmp");
	unlink(tmp); /* a journal being replaced when we were killed */
	free(tmp);
	tm_buf text;
	int rc = tm_read(path, &text);
	if (rc == -ENOENT) {
		free(path);
		return 0;
	}
	cJSON *j = rc ? NULL : cJSON_ParseWithLength(text.data, text.len);
	tm_buf_free(&text);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	tm_txn t = {.root = root};
	if (!rc && (!cJSON_IsString(st) || tm_txn_from_json(&t, j) < 0))
		rc = -EINVAL;
	if (rc) {
		dx_diag_add(d,
			    "%s: unreadable journal of an interrupted "
			    "install (%s); inspect it, then remove it",
			    path,
			    rc == -EINVAL ? "not a forge journal" :
					    strerror(-rc));
	} else {
		bool committing = strcmp(st->valuestring, "committing") == 0;
		rc = tm_recover_txn(&t, committing, what, d);
	}
	cJSON_Delete(j);
	tm_txn_free(&t);
	free(path);
	return rc;
}
