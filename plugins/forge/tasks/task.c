/* task.c - the forge tasks as background-queue work (task.h). */
#include "task.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyse.h"
#include "prefetch.h"
#include "snapshot.h"

typedef enum dx_forge_task_kind {
	DX_FT_SNAPSHOT,
	DX_FT_SYNC,
	DX_FT_PREFETCH,
	DX_FT_ANALYSE,
} dx_forge_task_kind;

static const char *const dx_forge_task_names[] = {
	"forge.snapshot", "forge.sync", "forge.prefetch", "forge.analyse"};

/* Strings by role; which are set depends on the kind. */
enum { S_PROJECT, S_A, S_B, S_C, S_D, S_E, S_F, S_G, S_COUNT };

struct dx_forge_task {
	dx_forge_task_kind kind;
	char *s[S_COUNT];
	long timeout;
	dx_forge_task_done_fn done;
	void *done_arg;
};

static void dx_forge_task_free(dx_forge_task *t);

static dx_forge_task *dx_forge_task_new(dx_forge_task_kind kind,
					const char *const *strs, size_t n)
{
	dx_forge_task *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->kind = kind;
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		if (strs[i] && !(t->s[i] = strdup(strs[i])))
			ok = false;
	if (!t->s[S_PROJECT] && !(t->s[S_PROJECT] = strdup(".")))
		ok = false;
	if (!ok) {
		dx_forge_task_free(t);
		return NULL;
	}
	return t;
}

dx_forge_task *dx_forge_task_snapshot(const char *project)
{
	const char *s[] = {project};
	return dx_forge_task_new(DX_FT_SNAPSHOT, s, 1);
}

dx_forge_task *dx_forge_task_sync(const char *project, const dx_s3_conf *c)
{
	const char *s[] = {project,       c->endpoint,   c->bucket, c->region,
			   c->access_key, c->secret_key, c->prefix};
	dx_forge_task *t = dx_forge_task_new(DX_FT_SYNC, s, 7);
	if (t)
		t->timeout = c->timeout;
	return t;
}

dx_forge_task *dx_forge_task_prefetch(const char *registry, const char *project,
				      const char *name, const char *version)
{
	const char *s[] = {project, registry, name, version};
	return dx_forge_task_new(DX_FT_PREFETCH, s, 4);
}

dx_forge_task *dx_forge_task_analyse(const char *project, const char *report)
{
	const char *s[] = {project, report};
	return dx_forge_task_new(DX_FT_ANALYSE, s, 2);
}

void dx_forge_task_on_done(dx_forge_task *t, dx_forge_task_done_fn fn,
			   void *arg)
{
	t->done = fn;
	t->done_arg = arg;
}

const char *dx_forge_task_name(const dx_forge_task *t)
{
	return dx_forge_task_names[t->kind];
}

static void dx_forge_task_free(dx_forge_task *t)
{
	if (t->kind == DX_FT_SYNC && t->s[S_E]) {
		volatile char *p = t->s[S_E]; /* the secret key */
		while (*p)
			*p++ = '\0';
	}
	for (size_t i = 0; i < S_COUNT; i++)
		free(t->s[i]);
	free(t);
}

/* Each kind's run: call the task, and on success say in msg what it did
 * (on failure the caller words e). */
static int dx_ft_snapshot(const dx_forge_task *t, char *msg, size_t len,
			  dx_fx_err *e)
{
	dx_snap_opts o = {.project = t->s[S_PROJECT]};
	dx_snap_result r;
	int rc = dx_snap_create(&o, &r, e);
	if (rc < 0)
		return rc;
	snprintf(msg, len, "snapshot %s: %zu files, %zu new objects%s", r.id,
		 r.files, r.new_objects, r.existed ? " (unchanged)" : "");
	return 0;
}

static int dx_ft_sync(const dx_forge_task *t, char *msg, size_t len,
		      dx_fx_err *e)
{
	dx_sync_opts o = {.project = t->s[S_PROJECT],
			  .s3 = {t->s[S_A], t->s[S_B], t->s[S_C], t->s[S_D],
				 t->s[S_E], t->s[S_F], t->timeout}};
	dx_sync_result r;
	int rc = dx_s3_sync(&o, &r, e);
	if (rc < 0)
		return rc;
	snprintf(msg, len, "sync to %s/%s: %zu uploaded, %zu already there",
		 t->s[S_A], t->s[S_B], r.uploaded, r.skipped);
	return 0;
}

static int dx_ft_prefetch(const dx_forge_task *t, char *msg, size_t len,
			  dx_fx_err *e)
{
	dx_prefetch_opts o = {t->s[S_A], t->s[S_PROJECT]};
	dx_prefetch_result r;
	int rc = dx_prefetch(&o, t->s[S_B], t->s[S_C], &r, e);
	if (rc < 0)
		return rc;
	snprintf(msg, len, "prefetch %s@%s: %s %s", t->s[S_B], t->s[S_C],
		 r.cached ? "already in" : "copied to", r.path);
	free(r.path);
	return 0;
}

static int dx_ft_analyse(const dx_forge_task *t, char *msg, size_t len,
			 dx_fx_err *e)
{
	dx_analyse_opts o = {t->s[S_PROJECT], t->s[S_A]};
	dx_analysis a;
	int rc = dx_analyse(&o, &a, e);
	if (rc < 0)
		return rc;
	snprintf(msg, len, "analyse: %zu files, %llu lines, report %s", a.files,
		 (unsigned long long)a.lines, a.report ? a.report : "(none)");
	dx_analysis_free(&a);
	return 0;
}

static int (*const dx_ft_run[])(const dx_forge_task *, char *, size_t,
				dx_fx_err *) = {
	[DX_FT_SNAPSHOT] = dx_ft_snapshot,
	[DX_FT_SYNC] = dx_ft_sync,
	[DX_FT_PREFETCH] = dx_ft_prefetch,
	[DX_FT_ANALYSE] = dx_ft_analyse,
};

static int dx_forge_task_exec(dx_forge_task *t, char *msg, size_t len)
{
	dx_fx_err e = {{0}};
	int rc = dx_ft_run[t->kind](t, msg, len, &e);
	if (rc < 0)
		snprintf(msg, len, "%s", e.msg[0] ? e.msg : "failed");
	return rc;
}

void dx_forge_task_run(void *task)
{
	dx_forge_task *t = task;
	char msg[1200];
	int rc = dx_forge_task_exec(t, msg, sizeof msg);
	if (t->done)
		t->done(t->done_arg, dx_forge_task_name(t), rc, msg);
	dx_forge_task_free(t);
}

void dx_forge_task_drop(void *task)
{
	dx_forge_task *t = task;
	if (!t)
		return;
	if (t->done)
		t->done(t->done_arg, dx_forge_task_name(t), -ECANCELED,
			"dropped: the background queue was full");
	dx_forge_task_free(t);
}
