/* test_reload_prop - a property test of live plugins (issue 10): random
 * sequences of load, unload, reload and apply against a real dx-host, each
 * step checked against a model of its registry (rp_model.h).
 *
 * Each sequence starts its own dx-host (io_epoll, 1 worker) on a random
 * manifest the model accepts, keeps one client connection to it, and runs
 * 5..12 random steps over the control socket. After every step:
 *   - the host said ok exactly when the model predicted the step valid
 *     (the model's reason for a refusal is in the step log);
 *   - an accepted step: the host's view (rp_view.h: plugins with version,
 *     file and facets; route 0's table; what each route answers; the
 *     middleware an answer passes through, by default and per route)
 *     equals the model's;
 *   - a refused step: the view and every generation (the host's and each
 *     plugin's) are exactly what they were before it.
 * At the end of each sequence every instance the steps replaced or
 * removed must have retired (nothing is in flight to hold it), and the
 * host must exit 0 on SIGTERM (every fini ran).
 *
 * The seed is printed first. DX_PROP_SEED=N replays a run, and sequence K
 * of it alone is DX_PROP_SEED=N+K DX_PROP_SEQUENCES=1 (a failure prints
 * that line). DX_PROP_SEQUENCES sets how many (default 100).
 *
 * usage: test_reload_prop DX_HOST (DX_TEST_PLUGINS and DX_PLUGINS set). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "../serve/test_host.h"
#include "../unit/check_main.h"
#include "../unit/prop_rng.h"
#include "rp_model.h"
#include "rp_view.h"

#define RP_SEQUENCES 100
#define RP_MIN_STEPS 5
#define RP_MAX_STEPS 12
#define RP_LOG 16384
#define RP_STOP_MS 15000
#define RP_RETIRE_MS 10000

enum { RP_LOAD, RP_UNLOAD, RP_RELOAD, RP_APPLY, RP_OPS };
static const char *const rp_op_names[RP_OPS] = {"load", "unload", "reload",
						"apply"};

static const char *dx_host;
static const char *plugin_dir; /* DX_PLUGINS */
/* Over the whole run: steps the host accepted and refused, per op. */
static unsigned long rp_accepted[RP_OPS], rp_refused[RP_OPS];

/* One sequence. */
struct rp_run {
	unsigned long long seed;
	int seq;
	rng r;
	struct dx_test_host host;
	bool host_up;
	dx_client *c;
	struct rp_model m;
	struct rp_lines view, gens; /* the host's, after the last step */
	char dir[64];               /* this sequence's files */
	size_t log_len;
	char log[RP_LOG]; /* the steps so far */
};

static void rp_log(struct rp_run *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rp_log(struct rp_run *x, const char *fmt, ...)
{
	if (x->log_len >= sizeof x->log - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(x->log + x->log_len, sizeof x->log - x->log_len, fmt,
			  ap);
	va_end(ap);
	if (k > 0)
		x->log_len += (size_t)k;
	if (x->log_len > sizeof x->log - 1)
		x->log_len = sizeof x->log - 1;
}

/* The property does not hold: say everything a replay needs, stop the
 * host, and fail the Check test with the seed and the reason. */
static void rp_fail(struct rp_run *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void rp_fail(struct rp_run *x, const char *fmt, ...)
{
	fprintf(stderr,
		"\nreload_prop: FAILED in sequence %d, seed %llu "
		"(replay it alone: DX_PROP_SEED=%llu "
		"DX_PROP_SEQUENCES=1)\n",
		x->seq, x->seed, x->seed);
	fprintf(stderr, "--- steps ---\n%s", x->log);
	char why[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	fprintf(stderr, "--- what went wrong ---\n%s\n", why);
	if (x->host_up) {
		kill(x->host.pid, SIGKILL);
		waitpid(x->host.pid, NULL, 0);
		dx_test_host_dump(&x->host);
		dx_test_host_clean(&x->host);
	}
	ck_abort_msg("sequence %d, seed %llu (DX_PROP_SEED=%llu "
		     "DX_PROP_SEQUENCES=1 replays it): %s",
		     x->seq, x->seed, x->seed, why);
	exit(1); /* not reached: ck_abort_msg ends the test */
}

/* ---- JSON: entries and manifests ---- */

/* p as a plugins[] entry; path NULL: by name only (along plugin_path). */
static cJSON *rp_entry(const struct rp_plug *p, const char *name,
		       const char *path)
{
	cJSON *e = cJSON_CreateObject();
	if (name)
		cJSON_AddStringToObject(e, "name", name);
	if (path)
		cJSON_AddStringToObject(e, "path", path);
	cJSON_AddItemToObject(e, "config", cJSON_Parse(p->cfg->json));
	if (p->nremap) {
		cJSON *r = cJSON_AddObjectToObject(e, "routes");
		for (int i = 0; i < p->nremap; i++)
			cJSON_AddNumberToObject(r, p->remap_name[i],
						p->remap_id[i]);
	}
	return e;
}

static cJSON *rp_chain_json(const struct rp_chain *c)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < c->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(c->mw[i]));
	return a;
}

/* The manifest members after listen and control: n's plugins, middleware
 * and route_middleware (and what makes n bad, when it is). */
static cJSON *rp_manifest_members(const struct rp_manifest *n)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *pp = cJSON_AddArrayToObject(o, "plugin_path");
	cJSON_AddItemToArray(pp, cJSON_CreateString(plugin_dir));
	cJSON_AddNumberToObject(o, "workers", n->workers2 ? 2 : 1);
	cJSON *io = cJSON_AddObjectToObject(o, "io");
	cJSON_AddStringToObject(io, "backend", "epoll");
	cJSON *pl = cJSON_AddArrayToObject(o, "plugins");
	for (int i = 0; i < n->n; i++)
		cJSON_AddItemToArray(pl, rp_entry(&n->e[i], n->e[i].f->name,
						  i == n->missing ?
							  "/nonexistent/p.so" :
							  n->e[i].f->path));
	if (n->mw.n)
		cJSON_AddItemToObject(o, "middleware", rp_chain_json(&n->mw));
	if (n->nrmw) {
		cJSON *rm = cJSON_AddObjectToObject(o, "route_middleware");
		for (int i = 0; i < n->nrmw; i++)
			cJSON_AddItemToObject(rm, n->rmw[i].route,
					      rp_chain_json(&n->rmw[i]));
	}
	return o;
}

/* Write n as a whole manifest for x's host (listen and control as it was
 * started with) to path. */
static void rp_write_manifest(struct rp_run *x, const struct rp_manifest *n,
			      const char *path)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "dx", 1);
	cJSON *l = cJSON_AddArrayToObject(o, "listen");
	cJSON_AddItemToArray(l, cJSON_CreateString("127.0.0.1:0"));
	cJSON *c = cJSON_AddObjectToObject(o, "control");
	cJSON_AddStringToObject(c, "socket", x->host.ctl);
	cJSON *members = rp_manifest_members(n);
	while (members->child) {
		cJSON *it = cJSON_DetachItemViaPointer(members, members->child);
		cJSON_AddItemToObject(o, it->string, it);
	}
	cJSON_Delete(members);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
		rp_fail(x, "could not write %s", path);
	rp_log(x, "%s: %s\n", path, text);
	free(text);
}

/* ---- the generator ---- */

static const struct rp_cfg *rp_pick_cfg(rng *r, int ck, bool good_only)
{
	const struct rp_cfg *pick[RP_NCFGS];
	size_t n = 0;
	for (size_t i = 0; i < RP_NCFGS; i++)
		if (rp_cfgs[i].ck == ck && (!good_only || !rp_cfgs[i].bad))
			pick[n++] = &rp_cfgs[i];
	return pick[rnd_below(r, n)];
}

static const uint16_t rp_ids[] = {1, 2, 20, 100, 150, 300, 500};

/* A plugin of file f with a random config, sometimes with a route moved
 * (rarely one the file lacks). */
static void rp_gen_plug(rng *r, const struct rp_file *f, bool good_only,
			struct rp_plug *p)
{
	memset(p, 0, sizeof *p);
	p->f = f;
	p->cfg = rp_pick_cfg(r, f->ck, good_only);
	int nr = rp_nroutes(f);
	if (nr && rnd_below(r, 100) < 20) {
		p->remap_name[0] = f->routes[rnd_below(r, (size_t)nr)].name;
		p->remap_id[0] =
			rp_ids[rnd_below(r, sizeof rp_ids / sizeof rp_ids[0])];
		p->nremap = 1;
	}
	if (!good_only && rnd_below(r, 100) < 4) {
		p->remap_name[p->nremap] = "nosuch";
		p->remap_id[p->nremap++] = 600;
	}
}

static const struct rp_file *rp_any_file(rng *r)
{
	return &rp_files[1 + rnd_below(r, RP_NFILES - 1)];
}

/* The pool's file of that name. */
static const struct rp_file *rp_file(const char *file)
{
	size_t i = 0;
	while (i < RP_NFILES - 1 && strcmp(rp_files[i].file, file))
		i++;
	return &rp_files[i];
}

/* A file to load: half the time one whose plugin is not loaded yet. */
static const struct rp_file *rp_load_file(rng *r, const struct rp_model *m)
{
	const struct rp_file *f = rp_any_file(r);
	for (int t = 0; t < 8 && rnd_below(r, 2) && rp_find(m, f->name) >= 0;
	     t++)
		f = rp_any_file(r);
	return f;
}

/* A name to unload or reload: mostly a loaded plugin's. */
static const char *rp_pick_name(rng *r, const struct rp_model *m)
{
	unsigned k = (unsigned)rnd_below(r, 100);
	if (k < 80 && m->n) {
		/* io_epoll is always there: pick it less often. */
		const struct rp_file *f = m->p[rnd_below(r, (size_t)m->n)].f;
		if (f == RP_IO && m->n > 1 && rnd_below(r, 4))
			f = m->p[1 + rnd_below(r, (size_t)m->n - 1)].f;
		return f->name;
	}
	if (k < 92)
		return rp_any_file(r)->name;
	return "nosuch";
}

/* Random chains over n's middleware entries: a default chain, and maybe
 * a route's own (a route that answers an empty call). */
static void rp_gen_chains(rng *r, struct rp_manifest *n)
{
	const char *mws[RP_MAX_PLUGINS];
	int nmw = 0;
	for (int i = 0; i < n->n; i++)
		if (n->e[i].f->facets[0].kind &&
		    !strcmp(n->e[i].f->facets[0].kind, "MIDDLEWARE"))
			mws[nmw++] = n->e[i].f->name;
	for (int i = nmw - 1; i > 0; i--) { /* shuffle */
		int j = (int)rnd_below(r, (size_t)i + 1);
		const char *t = mws[i];
		mws[i] = mws[j];
		mws[j] = t;
	}
	n->mw.n = nmw ? (int)rnd_below(r, (size_t)nmw + 1) : 0;
	for (int i = 0; i < n->mw.n; i++)
		n->mw.mw[i] = mws[i];
	n->nrmw = 0;
	if (!n->n || rnd_below(r, 100) >= 30)
		return;
	const struct rp_file *f = n->e[rnd_below(r, (size_t)n->n)].f;
	if (!rp_nroutes(f) || f->routes[0].ans == RP_ANS_NONE)
		return;
	struct rp_chain *c = &n->rmw[n->nrmw++];
	c->route = f->routes[0].name;
	c->n = nmw ? (int)rnd_below(r, (size_t)nmw + 1) : 0;
	for (int k = 0; k < c->n; k++)
		c->mw[k] = mws[nmw - 1 - k];
}

/* A random manifest the model accepts, as the host's first: io_epoll, a
 * few plugins, chains. */
static void rp_gen_manifest(rng *r, struct rp_model *m)
{
	char why[RP_WHY];
	memset(m, 0, sizeof *m);
	m->p[0] = (struct rp_plug){.f = RP_IO,
				   .cfg = rp_pick_cfg(r, RP_CK_IO, true)};
	m->n = 1;
	if (rnd_below(r, 100) < 35) {
		/* A provider and a plugin that uses its SERVICE (a lookup in
		 * init): unloading the provider is refused, reloading it
		 * reloads its user too. */
		bool good = rnd_below(r, 2);
		struct rp_plug p;
		rp_gen_plug(r, rp_file(good ? "good.so" : "rec_a.so"), true,
			    &p);
		p.nremap = 0;
		rp_load(m, &p, why);
		rp_gen_plug(r,
			    rp_file(rnd_below(r, 2) ? "mwtag_a.so" :
						      "mwtag_b.so"),
			    true, &p);
		for (size_t i = 0; i < RP_NCFGS; i++)
			if (rp_cfgs[i].uses &&
			    !strcmp(rp_cfgs[i].uses,
				    good ? "good_svc" : "rec_a"))
				p.cfg = &rp_cfgs[i];
		rp_load(m, &p, why);
	}
	int tries = (int)rnd_below(r, 8);
	for (int t = 0; t < tries; t++) {
		struct rp_plug p;
		rp_gen_plug(r, rp_any_file(r), true, &p);
		rp_load(m, &p, why);
	}
	m->man.n = m->n;
	memcpy(m->man.e, m->p, sizeof m->p);
	m->man.missing = -1;
	rp_gen_chains(r, &m->man);
	if (!rp_gen_ok(m, why)) { /* cannot happen: say so loudly */
		fprintf(stderr, "reload_prop: generated a bad manifest: %s\n",
			why);
		exit(2);
	}
}

/* ---- steps ---- */

/* Read the host's view into x->view and x->gens. */
static void rp_look(struct rp_run *x, const struct rp_model *m)
{
	char err[512];
	if (!rp_observe(x->host.ctl, x->c, m, &x->view, &x->gens, err,
			sizeof err))
		rp_fail(x, "could not read the host's view: %s", err);
}

/* The view must be the model's. */
static void rp_check_model(struct rp_run *x, const char *when)
{
	struct rp_lines want;
	static char diff[8192];
	rp_expect(&x->m, &want);
	if (rp_diff(&want, &x->view, diff, sizeof diff))
		rp_fail(x,
			"%s: the host's view differs from the model's "
			"(- model only, + host only):\n%s",
			when, diff);
}

/* Send req (one op), compare the answer with the prediction (ok and the
 * model after it in next, or refused because why; when list_key is not
 * NULL, the answer's array of that name must hold list's lines), then the
 * view. */
static void rp_step(struct rp_run *x, int op, cJSON *req, bool predicted,
		    const char *why, const struct rp_model *next,
		    const char *list_key, struct rp_lines *list)
{
	static char raw[RP_RAW];
	char *line = cJSON_PrintUnformatted(req);
	rp_log(x, "%s\n", line);
	cJSON *a = rt_ctl(x->host.ctl, req, raw, sizeof raw);
	free(line);
	cJSON_Delete(req);
	if (!a)
		rp_fail(x, "no answer from the control socket: %s", raw);
	bool ok = rt_ok(a);
	struct rp_lines got = {0};
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
				      a, list_key ? list_key : "changes"))
		rp_add(&got, "%s", cJSON_IsString(c) ? c->valuestring : "?");
	cJSON_Delete(a);
	raw[strcspn(raw, "\n")] = '\0';
	rp_log(x, "    host: %.300s\n    model: %s%s\n", raw,
	       predicted ? "ok" : "refused: ", predicted ? "" : why);
	(ok ? rp_accepted : rp_refused)[op]++;
	if (ok != predicted)
		rp_fail(x, "the host %s the step; the model predicted %s%s",
			ok ? "accepted" : "refused",
			predicted ? "ok" : "a refusal: ", predicted ? "" : why);
	static char diff[8192];
	if (ok && list_key) {
		rp_sort(list);
		rp_sort(&got);
		if (rp_diff(list, &got, diff, sizeof diff))
			rp_fail(x,
				"the answer's \"%s\" differs from the "
				"model's (- model only, + host only):\n%s",
				list_key, diff);
	}
	struct rp_lines before = x->view, gens = x->gens;
	if (ok)
		x->m = *next;
	rp_look(x, &x->m);
	if (ok) {
		rp_check_model(x, "after an accepted step");
		return;
	}
	if (rp_diff(&before, &x->view, diff, sizeof diff) ||
	    rp_diff(&gens, &x->gens, diff, sizeof diff))
		rp_fail(x,
			"a refused step changed the host (- before, + "
			"after):\n%s",
			diff);
}

static void rp_op_load(struct rp_run *x)
{
	struct rp_plug p;
	const struct rp_file *f = rp_load_file(&x->r, &x->m);
	rp_gen_plug(&x->r, f, false, &p);
	unsigned k = (unsigned)rnd_below(&x->r, 100);
	const char *name = f->name, *path = f->path;
	char why[RP_WHY] = "";
	struct rp_model next = x->m;
	bool ok;
	if (k < 6) { /* a name that is not the file's */
		name = strcmp(f->name, "good") ? "good" : "routes_hello";
		snprintf(why, sizeof why, "%s is not plugin %s", f->file, name);
		ok = false;
	} else if (k < 9) {
		path = "/nonexistent/plugin.so";
		snprintf(why, sizeof why, "no such file");
		ok = false;
	} else {
		if (k < 30)
			name = NULL; /* the file says */
		else if (k < 45 && f->real)
			path = NULL; /* found along plugin_path */
		ok = rp_load(&next, &p, why);
	}
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "load");
	cJSON_AddItemToObject(req, "plugin", rp_entry(&p, name, path));
	rp_step(x, RP_LOAD, req, ok, why, &next, NULL, NULL);
}

static void rp_op_unload(struct rp_run *x)
{
	const char *name = rp_pick_name(&x->r, &x->m);
	char why[RP_WHY] = "";
	struct rp_model next = x->m;
	bool ok = rp_unload(&next, name, why);
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "unload");
	cJSON_AddStringToObject(req, "name", name);
	rp_step(x, RP_UNLOAD, req, ok, why, &next, NULL, NULL);
}

static void rp_op_reload(struct rp_run *x)
{
	const char *name = rp_pick_name(&x->r, &x->m);
	const struct rp_file *f = NULL;
	unsigned k = (unsigned)rnd_below(&x->r, 100);
	if (k >= 40 && strcmp(name, RP_IO->name) != 0) {
		/* Another build: mostly one of the same name. */
		const struct rp_file *sib[RP_NFILES];
		size_t n = 0;
		for (size_t i = 1; i < RP_NFILES; i++)
			if (!strcmp(rp_files[i].name, name))
				sib[n++] = &rp_files[i];
		f = k < 80 && n ? sib[rnd_below(&x->r, n)] : rp_any_file(&x->r);
	}
	char why[RP_WHY] = "";
	struct rp_model next = x->m;
	bool ok = rp_reload(&next, name, f, why);
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "reload");
	cJSON_AddStringToObject(req, "name", name);
	if (f)
		cJSON_AddStringToObject(req, "path", f->path);
	/* Its users are reloaded with it, and the answer names them. */
	static struct rp_lines users;
	users.n = 0;
	int i = rp_find(&x->m, name);
	for (int j = 0; i >= 0 && j < x->m.n; j++) {
		const char *u = x->m.p[j].cfg->uses;
		if (j != i && u && rp_has_facet(x->m.p[i].f, "SERVICE", u))
			rp_add(&users, "%s", x->m.p[j].f->name);
	}
	rp_step(x, RP_RELOAD, req, ok, why, &next, "reloaded_with", &users);
}

/* One edit of manifest n (from m, the model): drop an entry, add one (a
 * new plugin, or one loaded at run time), change one (config, file,
 * routes), or only the chains. */
static void rp_edit(rng *r, const struct rp_model *m, struct rp_manifest *n)
{
	unsigned k = (unsigned)rnd_below(r, 100);
	/* Entry 0 is io_epoll: dropping or changing it is refused. */
	int i = n->n > 1 && rnd_below(r, 20) ?
			1 + (int)rnd_below(r, (size_t)n->n - 1) :
			0;
	if (k < 25 && n->n) {
		memmove(&n->e[i], &n->e[i + 1],
			(size_t)(n->n - i - 1) * sizeof n->e[0]);
		n->n--;
	} else if (k < 55 && n->n < RP_MAX_PLUGINS) {
		struct rp_plug p;
		int j = m->n ? (int)rnd_below(r, (size_t)m->n) : 0;
		if (k < 35 && m->n && !rp_entry_named(n, m->p[j].f->name))
			p = m->p[j]; /* loaded at run time: adopted */
		else
			rp_gen_plug(r, rp_load_file(r, m), rnd_below(r, 5), &p);
		if (!rp_entry_named(n, p.f->name))
			n->e[n->n++] = p;
	} else if (k < 85 && n->n) {
		struct rp_plug *p = &n->e[i];
		unsigned w = (unsigned)rnd_below(r, 3);
		if (w == 0) {
			p->cfg = rp_pick_cfg(r, p->f->ck, rnd_below(r, 4));
		} else if (w == 1) {
			const struct rp_file *sib[RP_NFILES];
			size_t ns = 0;
			for (size_t f = 1; f < RP_NFILES; f++)
				if (!strcmp(rp_files[f].name, p->f->name))
					sib[ns++] = &rp_files[f];
			if (ns)
				p->f = sib[rnd_below(r, ns)];
		} else {
			struct rp_plug q;
			rp_gen_plug(r, p->f, rnd_below(r, 4), &q);
			memcpy(p->remap_name, q.remap_name,
			       sizeof q.remap_name);
			memcpy(p->remap_id, q.remap_id, sizeof q.remap_id);
			p->nremap = q.nremap;
		}
	}
	if (k >= 85 || rnd_below(r, 2))
		rp_gen_chains(r, n);
}

static void rp_op_apply(struct rp_run *x)
{
	static struct rp_manifest n;
	n = x->m.man;
	n.missing = -1;
	n.workers2 = false;
	int edits = (int)rnd_below(&x->r, 4); /* 0: the same manifest */
	for (int e = 0; e < edits; e++)
		rp_edit(&x->r, &x->m, &n);
	unsigned k = (unsigned)rnd_below(&x->r, 100);
	if (k < 5 && n.n)
		n.missing = (int)rnd_below(&x->r, (size_t)n.n);
	else if (k < 9)
		n.workers2 = true;
	else if (k < 14 && n.mw.n < RP_MAX_MW)
		n.mw.mw[n.mw.n++] = "mw_timing"; /* maybe not an entry */
	static struct rp_model next;
	static struct rp_lines changes;
	next = x->m;
	char why[RP_WHY] = "";
	bool ok = rp_apply(&next, &n, &changes, why);
	char path[160];
	bool own = rnd_below(&x->r, 2); /* the host's own manifest file */
	snprintf(path, sizeof path, "%s/%s", x->host.dir,
		 own ? "m.json" : "apply.json");
	rp_write_manifest(x, &n, path);
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "apply");
	if (!own)
		cJSON_AddStringToObject(req, "path", path);
	rp_step(x, RP_APPLY, req, ok, why, &next, "changes", &changes);
}

/* ---- a sequence ---- */

static void rp_start(struct rp_run *x)
{
	cJSON *members = rp_manifest_members(&x->m.man);
	char *text = cJSON_PrintUnformatted(members);
	cJSON_Delete(members);
	size_t len = strlen(text);
	text[len - 1] = '\0'; /* the members without their braces */
	rp_log(x, "start: %s\n", text + 1);
	x->host_up = dx_test_host_start(&x->host, dx_host, text + 1, NULL) == 0;
	free(text);
	if (!x->host_up)
		rp_fail(x, "the host did not start on a manifest the model "
			   "accepts (its log is above)");
	char err[256];
	if (dx_client_connect(x->host.addr, 5000, &x->c, err, sizeof err) < 0)
		rp_fail(x, "connect %s: %s", x->host.addr, err);
	rp_look(x, &x->m);
	rp_check_model(x, "after start");
}

/* Nothing holds the instances the steps replaced or removed (no request
 * is in flight): each must retire, fini and all, within RP_RETIRE_MS. */
static void rp_check_retired(struct rp_run *x)
{
	static char raw[RP_RAW];
	for (int t = 0;; t++) {
		cJSON *a = rt_ctl_cmd(x->host.ctl, "plugins", NULL, NULL, raw,
				      sizeof raw);
		if (!a)
			rp_fail(x, "plugins: %s", raw);
		int left = cJSON_GetArraySize(
			cJSON_GetObjectItemCaseSensitive(a, "retiring"));
		cJSON_Delete(a);
		if (left == 0)
			return;
		if (t * 20 >= RP_RETIRE_MS)
			rp_fail(x,
				"old instances still retiring %d ms after "
				"the last step: %s",
				RP_RETIRE_MS, raw);
		usleep(20000);
	}
}

/* SIGTERM: the host must exit 0, in time. */
static void rp_stop(struct rp_run *x)
{
	dx_client_close(x->c);
	x->c = NULL;
	kill(x->host.pid, SIGTERM);
	int st = 0;
	pid_t w = 0;
	for (int t = 0; t < RP_STOP_MS / 10 && w == 0; t++) {
		w = waitpid(x->host.pid, &st, WNOHANG);
		if (w == 0)
			usleep(10000);
	}
	if (w != x->host.pid)
		rp_fail(x, "the host did not exit within %d ms of SIGTERM",
			RP_STOP_MS);
	x->host_up = false;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		dx_test_host_dump(&x->host);
		rp_fail(x,
			"the host exited with %s %d on SIGTERM (its log is "
			"above)",
			WIFSIGNALED(st) ? "signal" : "status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	dx_test_host_clean(&x->host);
}

static void rp_sequence(unsigned long long seed, int seq)
{
	static struct rp_run x;
	memset(&x, 0, sizeof x);
	x.seed = seed;
	x.seq = seq;
	x.r = (rng){.s = seed, .seed = seed};
	rp_gen_manifest(&x.r, &x.m);
	rp_start(&x);
	int steps = RP_MIN_STEPS +
		    (int)rnd_below(&x.r, RP_MAX_STEPS - RP_MIN_STEPS + 1);
	for (int i = 0; i < steps; i++) {
		rp_log(&x, "step %d: ", i + 1);
		unsigned k = (unsigned)rnd_below(&x.r, 100);
		if (k < 30)
			rp_op_load(&x);
		else if (k < 50)
			rp_op_unload(&x);
		else if (k < 72)
			rp_op_reload(&x);
		else
			rp_op_apply(&x);
	}
	rp_check_retired(&x);
	rp_stop(&x);
	if (getenv("DX_PROP_VERBOSE"))
		printf("sequence %d, seed %llu:\n%s", seq, seed, x.log);
}

static unsigned long long run_seed;
static int run_count;

/* The whole run is one Check test: the sequences, then the generator's
 * own check (both sides of every op happened). */
START_TEST(test_sequences)
{
	for (int k = 0; k < run_count; k++)
		rp_sequence(run_seed + (unsigned long long)k, k);
	for (int op = 0; op < RP_OPS; op++)
		printf("  %-6s accepted %lu, refused %lu\n", rp_op_names[op],
		       rp_accepted[op], rp_refused[op]);
	fflush(stdout);
	/* A generator that never makes one side of an op tests nothing
	 * there. */
	for (int op = 0; op < RP_OPS && run_count >= 50; op++)
		ck_assert_msg(rp_accepted[op] && rp_refused[op],
			      "seed %llu: %s was never %s in %d sequences: the "
			      "generator is broken",
			      run_seed, rp_op_names[op],
			      rp_accepted[op] ? "refused" : "accepted",
			      run_count);
	printf("reload_prop: %d sequences passed\n", run_count);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc != 2 || !getenv("DX_TEST_PLUGINS") || !getenv("DX_PLUGINS")) {
		fprintf(stderr, "usage: test_reload_prop DX_HOST (with "
				"DX_TEST_PLUGINS and DX_PLUGINS set)\n");
		return 2;
	}
	dx_host = argv[1];
	/* Shared helpers this test has no use for. */
	(void)dx_test_host_stop;
	(void)rt_plugin_entry;
	(void)rt_ends_with;
	plugin_dir = getenv("DX_PLUGINS");
	if (!rp_files_init(getenv("DX_TEST_PLUGINS"), plugin_dir))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	const char *s = getenv("DX_PROP_SEED");
	run_seed = s && *s ? strtoull(s, NULL, 0)
			   : (unsigned long long)time(NULL) << 16 ^
				     (unsigned long long)getpid();
	s = getenv("DX_PROP_SEQUENCES");
	run_count = s && *s ? atoi(s) : RP_SEQUENCES;
	printf("reload_prop: seed %llu, %d sequences (DX_PROP_SEED=%llu "
	       "replays them)\n",
	       run_seed, run_count, run_seed);
	fflush(stdout);
	Suite *suite = suite_create("reload_prop");
	TCase *tc = tcase_create("sequences");
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, test_sequences);
	suite_add_tcase(suite, tc);
	return dx_check_run(suite);
}
