/* rp_model.h - the reload property test's model of a host's registry: the
 * plugin files it may be handed (what each one is, from its source in
 * tests/plugins and plugins/), the configs they may get, and the plugins,
 * routes and chains a host should show after a sequence of load, unload,
 * reload and apply. The model changes only through rp_load, rp_unload,
 * rp_reload and rp_apply, each of which first predicts whether the host
 * will accept the step (with the reason it should refuse it) and changes
 * nothing when it will not.
 *
 * The rules predicted are the host's documented ones (docs/architecture.md
 * sections 5 and 8a): the loader's refusals, a name given that is not the
 * file's, plugins[].routes naming a route the plugin lacks or giving two of
 * its routes one id, a plugin name, facet, route id or route name already
 * taken, an init that fails (the file, a bad config, a SERVICE it looks up
 * that nobody provides), an unload or reload of a plugin another uses, of
 * the IO backend in use (unload) or of a plugin the middleware names
 * (unload), and a generation that cannot be built (a chain naming a
 * middleware or route_middleware naming a route that is not loaded).
 *
 * Single-threaded: the test's main thread only. */
#ifndef DX_RP_MODEL_H
#define DX_RP_MODEL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_lines.h"

#define RP_MAX_PLUGINS 24
#define RP_MAX_MW 4    /* middleware in one chain */
#define RP_MAX_RMW 3   /* route_middleware entries */
#define RP_MAX_REMAP 2 /* plugins[].routes entries */
#define RP_WHY 512

/* What a route answers to an empty call. */
enum rp_ans {
	RP_ANS_NONE,  /* not called (it needs arguments, or defers) */
	RP_ANS_FIXED, /* text */
	RP_ANS_PING,  /* "pong from PLUGIN" */
	RP_ANS_HELLO, /* "GREETING, world!" (the config's greeting) */
};

struct rp_route {
	uint16_t id; /* 0: no more routes */
	const char *name;
	int ans;
	const char *text;
};

struct rp_facet {
	const char *kind; /* as {"cmd":"plugins"} spells it; NULL: no more */
	const char *name;
};

/* Which configs a file's init takes (struct rp_cfg.ck). */
enum rp_ck {
	RP_CK_EMPTY,
	RP_CK_TP,
	RP_CK_RT,
	RP_CK_REC,
	RP_CK_MT,
	RP_CK_HELLO,
	RP_CK_IO
};

/* A plugin file. */
struct rp_file {
	const char *file; /* its name in its directory */
	bool real;        /* DX_PLUGINS/STEM/file, else DX_TEST_PLUGINS/file */
	const char *name; /* the descriptor's plugin name */
	const char *version;
	bool refused;    /* the loader refuses it (ABI, magic, symbol) */
	bool init_fails; /* its init always fails */
	int ck;
	struct rp_route routes[3];
	struct rp_facet facets[2];
	char path[PATH_MAX]; /* canonical, filled by rp_files_init */
};

/* A config as a load or manifest entry gives it. */
struct rp_cfg {
	int ck;
	const char *json;
	bool bad;             /* init refuses it */
	const char *uses;     /* a SERVICE facet init looks up, or NULL */
	const char *tag;      /* mwtag's tag */
	const char *greeting; /* routes_hello's */
};

static const struct rp_cfg rp_cfgs[] = {
	{.ck = RP_CK_EMPTY, .json = "{}"},
	{.ck = RP_CK_EMPTY, .json = "{\"bogus\":1}", .bad = true},
	{.ck = RP_CK_IO, .json = "{}"},
	{.ck = RP_CK_TP, .json = "{}"},
	{.ck = RP_CK_TP, .json = "{\"answer\":7}"},
	{.ck = RP_CK_TP, .json = "{\"answer\":5000}", .bad = true},
	{.ck = RP_CK_RT, .json = "{}"},
	{.ck = RP_CK_RT, .json = "{\"bogus\":1}", .bad = true},
	{.ck = RP_CK_REC, .json = "{}"},
	{.ck = RP_CK_REC, .json = "{\"count\":5}"},
	{.ck = RP_CK_REC, .json = "{\"fail\":true}", .bad = true},
	{.ck = RP_CK_REC, .json = "{\"count\":500}", .bad = true},
	{.ck = RP_CK_MT, .json = "{}", .tag = "-"},
	{.ck = RP_CK_MT, .json = "{\"tag\":\"x\"}", .tag = "x"},
	{.ck = RP_CK_MT, .json = "{\"tag\":\"y\"}", .tag = "y"},
	{.ck = RP_CK_MT, .json = "{\"fail\":true}", .bad = true},
	{.ck = RP_CK_MT, .json = "{\"tag\":\"\"}", .bad = true},
	{.ck = RP_CK_MT,
	 .json = "{\"tag\":\"u\",\"uses\":\"good_svc\"}",
	 .tag = "u",
	 .uses = "good_svc"},
	{.ck = RP_CK_MT,
	 .json = "{\"tag\":\"r\",\"uses\":\"rec_a\"}",
	 .tag = "r",
	 .uses = "rec_a"},
	/* Looks good_svc up, then fails: the failed instance must not hold
	 * good in use. */
	{.ck = RP_CK_MT,
	 .json = "{\"uses\":\"good_svc\",\"fail\":true}",
	 .bad = true},
	{.ck = RP_CK_HELLO, .json = "{}", .greeting = "hello"},
	{.ck = RP_CK_HELLO, .json = "{\"greeting\":\"hi\"}", .greeting = "hi"},
	{.ck = RP_CK_HELLO, .json = "{\"bogus\":1}", .bad = true},
};
#define RP_NCFGS (sizeof rp_cfgs / sizeof rp_cfgs[0])

/* The pool reads best as a table. */
/* clang-format off */
#define RP_TP_ROUTES(pfx, a, b)                                                \
	{{a, pfx ".ping", RP_ANS_PING}, {b, pfx ".echo", RP_ANS_FIXED, ""}}
#define RP_TP_FACETS(pfx, svc)                                                 \
	{{"ROUTES", pfx "_routes"}, {"SERVICE", svc}}
#define RP_RT_ROUTES(tag)                                                      \
	{{300, "rt_version", RP_ANS_FIXED, tag}, {301, "rt_slow"},             \
	 {302, "rt_later"}}
#define RP_RT_FACETS {{"ROUTES", "reloadtest"}}
#define RP_MT_FACETS(n) {{"MIDDLEWARE", n}}

/* The pool. rp_files[0] is io_epoll, the backend every host runs on (never
 * loaded or unloaded by a step; reloaded sometimes). */
static struct rp_file rp_files[] = {
	{"io_epoll.so", true, "io_epoll", "1.0.0", .ck = RP_CK_IO,
	 .facets = {{"IO", "epoll"}}},
	{"reloadtest_v1.so", false, "reloadtest", "1.0.0", .ck = RP_CK_RT,
	 .routes = RP_RT_ROUTES("v1"), .facets = RP_RT_FACETS},
	{"reloadtest_v2.so", false, "reloadtest", "2.0.0", .ck = RP_CK_RT,
	 .routes = RP_RT_ROUTES("v2"), .facets = RP_RT_FACETS},
	{"reloadtest_v3.so", false, "reloadtest", "3.0.0", .ck = RP_CK_RT,
	 .init_fails = true, .routes = RP_RT_ROUTES("v3"),
	 .facets = RP_RT_FACETS},
	{"reloadtest_abi2.so", false, "reloadtest", "1.0.0", .refused = true,
	 .ck = RP_CK_RT},
	{"good.so", false, "good", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("good", 100, 101),
	 .facets = RP_TP_FACETS("good", "good_svc")},
	{"abi_major.so", false, "good", "1.2.3", .refused = true,
	 .ck = RP_CK_TP},
	{"bad_magic.so", false, "good", "1.2.3", .refused = true,
	 .ck = RP_CK_TP},
	{"no_symbol.so", false, "good", "1.2.3", .refused = true,
	 .ck = RP_CK_TP},
	{"route_id_zero.so", false, "route_id_zero", "1.2.3", .refused = true,
	 .ck = RP_CK_TP},
	/* Two routes of one id: refused by the loader, whatever
	 * plugins[].routes would move. */
	{"dup_route_id.so", false, "dup_route_id", "1.2.3", .refused = true,
	 .ck = RP_CK_TP},
	{"dup_name_a.so", false, "dup_name", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("dupa", 200, 201),
	 .facets = RP_TP_FACETS("dupa", "dupa_svc")},
	{"dup_name_b.so", false, "dup_name", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("dupb", 210, 211),
	 .facets = RP_TP_FACETS("dupb", "dupb_svc")},
	{"route_clash_a.so", false, "route_clash_a", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("rca", 300, 301),
	 .facets = RP_TP_FACETS("rca", "rca_svc")},
	{"route_clash_b.so", false, "route_clash_b", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("rcb", 300, 302),
	 .facets = RP_TP_FACETS("rcb", "rcb_svc")},
	{"facet_clash_a.so", false, "facet_clash_a", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("fca", 400, 401),
	 .facets = RP_TP_FACETS("fca", "shared_svc")},
	{"facet_clash_b.so", false, "facet_clash_b", "1.2.3", .ck = RP_CK_TP,
	 .routes = RP_TP_ROUTES("fcb", 410, 411),
	 .facets = RP_TP_FACETS("fcb", "shared_svc")},
	{"rec_a.so", false, "rec_a", "0.0.1", .ck = RP_CK_REC,
	 .facets = {{"SERVICE", "rec_a"}}},
	{"rec_b.so", false, "rec_b", "0.0.1", .ck = RP_CK_REC,
	 .facets = {{"SERVICE", "rec_b"}}},
	{"mwtag_a.so", false, "mwtag_a", "1.0.0", .ck = RP_CK_MT,
	 .facets = RP_MT_FACETS("mwtag_a")},
	{"mwtag_a2.so", false, "mwtag_a", "2.0.0", .ck = RP_CK_MT,
	 .facets = RP_MT_FACETS("mwtag_a")},
	{"mwtag_b.so", false, "mwtag_b", "1.0.0", .ck = RP_CK_MT,
	 .facets = RP_MT_FACETS("mwtag_b")},
	{"routes_hello.so", true, "routes_hello", "1.0.0", .ck = RP_CK_HELLO,
	 .routes = {{1, "hello", RP_ANS_HELLO}},
	 .facets = {{"ROUTES", "hello"}}},
	{"routes_echo.so", true, "routes_echo", "1.0.0", .ck = RP_CK_EMPTY,
	 .routes = {{2, "echo", RP_ANS_FIXED, ""}, {3, "delay"}},
	 .facets = {{"ROUTES", "echo"}}},
	{"mw_timing.so", true, "mw_timing", "1.0.0", .ck = RP_CK_EMPTY,
	 .facets = RP_MT_FACETS("mw_timing")},
};
#define RP_NFILES (sizeof rp_files / sizeof rp_files[0])
/* clang-format on */
#define RP_IO (&rp_files[0])

/* Fill every file's canonical path; false (after saying why) when one is
 * missing. */
static bool rp_files_init(const char *test_dir, const char *real_dir)
{
	for (size_t i = 0; i < RP_NFILES; i++) {
		struct rp_file *f = &rp_files[i];
		char p[PATH_MAX];
		size_t stem = strcspn(f->file, ".");
		if (f->real)
			snprintf(p, sizeof p, "%s/%.*s/%s", real_dir, (int)stem,
				 f->file, f->file);
		else
			snprintf(p, sizeof p, "%s/%s", test_dir, f->file);
		if (!realpath(p, f->path)) {
			perror(p);
			return false;
		}
	}
	return true;
}

/* One live plugin, as the model sees it. */
struct rp_plug {
	const struct rp_file *f;
	const struct rp_cfg *cfg;
	int nremap; /* plugins[].routes: name -> id */
	const char *remap_name[RP_MAX_REMAP];
	uint16_t remap_id[RP_MAX_REMAP];
};

struct rp_chain {
	const char *route; /* NULL: the default chain ("middleware") */
	int n;
	const char *mw[RP_MAX_MW];
};

/* A manifest: its plugin entries (each named, with its path) and chains,
 * and what makes one unacceptable before any plugin is tried. */
struct rp_manifest {
	int n;
	struct rp_plug e[RP_MAX_PLUGINS];
	struct rp_chain mw; /* "middleware" */
	int nrmw;
	struct rp_chain rmw[RP_MAX_RMW]; /* "route_middleware" */
	int missing;   /* this entry's path is a file that is not there; -1 */
	bool workers2; /* "workers": 2, a key only a restart changes */
};

/* The registry (the live plugins, in no particular order) and the
 * manifest in force (the host's at start, then the last one applied): its
 * chains are the host's, and its entries are what apply compares a new
 * manifest with. */
struct rp_model {
	int n;
	struct rp_plug p[RP_MAX_PLUGINS];
	struct rp_manifest man;
};

static int rp_find(const struct rp_model *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->p[i].f->name, name) == 0)
			return i;
	return -1;
}

static int rp_nroutes(const struct rp_file *f)
{
	int n = 0;
	while (n < 3 && f->routes[n].id)
		n++;
	return n;
}

/* The id route k of p is served under (plugins[].routes moves it). */
static uint16_t rp_route_id(const struct rp_plug *p, int k)
{
	for (int i = 0; i < p->nremap; i++)
		if (strcmp(p->remap_name[i], p->f->routes[k].name) == 0)
			return p->remap_id[i];
	return p->f->routes[k].id;
}

static bool rp_has_facet(const struct rp_file *f, const char *kind,
			 const char *name)
{
	for (int i = 0; i < 2 && f->facets[i].kind; i++)
		if (strcmp(f->facets[i].kind, kind) == 0 &&
		    strcmp(f->facets[i].name, name) == 0)
			return true;
	return false;
}

/* Whether plugin p can join m beside every plugin but skip (-1: none; a
 * reload: the one it replaces): the loader, its routes, the clashes, its
 * init. Else false with the reason in why. */
static bool rp_entry_ok(const struct rp_model *m, const struct rp_plug *p,
			int skip, char *why)
{
	const struct rp_file *f = p->f;
	int nr = rp_nroutes(f);
	if (f->refused) {
		snprintf(why, RP_WHY, "the loader refuses %s", f->file);
		return false;
	}
	for (int i = 0; i < p->nremap; i++) {
		int k = 0;
		while (k < nr && strcmp(f->routes[k].name, p->remap_name[i]))
			k++;
		if (k == nr) {
			snprintf(why, RP_WHY, "routes: %s has no route \"%s\"",
				 f->name, p->remap_name[i]);
			return false;
		}
	}
	for (int a = 0; a < nr; a++)
		for (int b = a + 1; b < nr; b++)
			if (rp_route_id(p, a) == rp_route_id(p, b)) {
				snprintf(why, RP_WHY,
					 "%s serves two routes "
					 "as id %u",
					 f->name, (unsigned)rp_route_id(p, a));
				return false;
			}
	for (int j = 0; j < m->n; j++) {
		const struct rp_plug *o = &m->p[j];
		if (j == skip)
			continue;
		if (strcmp(o->f->name, f->name) == 0) {
			snprintf(why, RP_WHY, "name %s is taken", f->name);
			return false;
		}
		for (int i = 0; i < 2 && f->facets[i].kind; i++)
			if (rp_has_facet(o->f, f->facets[i].kind,
					 f->facets[i].name)) {
				snprintf(why, RP_WHY, "facet %s %s is %s's",
					 f->facets[i].kind, f->facets[i].name,
					 o->f->name);
				return false;
			}
		for (int a = 0; a < nr; a++)
			for (int b = 0; b < rp_nroutes(o->f); b++)
				if (rp_route_id(p, a) == rp_route_id(o, b) ||
				    strcmp(f->routes[a].name,
					   o->f->routes[b].name) == 0) {
					snprintf(why, RP_WHY,
						 "route %u %s "
						 "clashes with %s's %u %s",
						 rp_route_id(p, a),
						 f->routes[a].name, o->f->name,
						 rp_route_id(o, b),
						 o->f->routes[b].name);
					return false;
				}
	}
	if (f->init_fails || p->cfg->ck != f->ck || p->cfg->bad) {
		snprintf(why, RP_WHY, "init of %s fails (%s, config %s)",
			 f->file, f->init_fails ? "the build" : "its config",
			 p->cfg->json);
		return false;
	}
	if (p->cfg->uses) {
		/* init looks the facet up while the old instance (a reload)
		 * and every other plugin are loaded. */
		for (int j = 0; j < m->n; j++)
			if (rp_has_facet(m->p[j].f, "SERVICE", p->cfg->uses))
				return true;
		snprintf(why, RP_WHY, "init of %s fails: no SERVICE %s",
			 f->name, p->cfg->uses);
		return false;
	}
	return true;
}

/* The plugin that uses a facet of p (a SERVICE it looked up), or NULL. */
static const char *rp_user_of(const struct rp_model *m, int idx)
{
	for (int j = 0; j < m->n; j++) {
		const char *u = m->p[j].cfg->uses;
		if (j != idx && u && rp_has_facet(m->p[idx].f, "SERVICE", u))
			return m->p[j].f->name;
	}
	return NULL;
}

static bool rp_route_named(const struct rp_model *m, const char *route)
{
	for (int j = 0; j < m->n; j++)
		for (int k = 0; k < rp_nroutes(m->p[j].f); k++)
			if (strcmp(m->p[j].f->routes[k].name, route) == 0)
				return true;
	return false;
}

/* Whether a generation can be built from m: every chain's middleware is a
 * MIDDLEWARE facet, every route_middleware route is served. */
static bool rp_gen_ok(const struct rp_model *m, char *why)
{
	for (int c = -1; c < m->man.nrmw; c++) {
		const struct rp_chain *ch = c < 0 ? &m->man.mw : &m->man.rmw[c];
		if (ch->route && !rp_route_named(m, ch->route)) {
			snprintf(why, RP_WHY,
				 "route_middleware.%s: no such "
				 "route",
				 ch->route);
			return false;
		}
		for (int i = 0; i < ch->n; i++) {
			int j = rp_find(m, ch->mw[i]);
			if (j < 0 ||
			    !rp_has_facet(m->p[j].f, "MIDDLEWARE", ch->mw[i])) {
				snprintf(why, RP_WHY,
					 "chain names %s, not a "
					 "loaded middleware",
					 ch->mw[i]);
				return false;
			}
		}
	}
	return true;
}

static bool rp_in_chains(const struct rp_model *m, const char *name)
{
	for (int c = -1; c < m->man.nrmw; c++) {
		const struct rp_chain *ch = c < 0 ? &m->man.mw : &m->man.rmw[c];
		for (int i = 0; i < ch->n; i++)
			if (strcmp(ch->mw[i], name) == 0)
				return true;
	}
	return false;
}

/* Every plugin that looked a SERVICE up still finds one (a reload
 * re-initialises the users of what it replaces, txn.c). */
static bool rp_uses_ok(const struct rp_model *m, char *why)
{
	for (int i = 0; i < m->n; i++) {
		const char *u = m->p[i].cfg->uses;
		bool found = !u;
		for (int j = 0; j < m->n && !found; j++)
			found = rp_has_facet(m->p[j].f, "SERVICE", u);
		if (!found) {
			snprintf(why, RP_WHY,
				 "%s uses SERVICE %s, which is "
				 "gone",
				 m->p[i].f->name, u);
			return false;
		}
	}
	return true;
}

/* ---- the steps: predict, and change m only when the host should ----
 * The _step forms are one step of a transaction (apply is several): they
 * check no generation, which only the whole transaction builds. */

static bool rp_load(struct rp_model *m, const struct rp_plug *p, char *why)
{
	if (m->n == RP_MAX_PLUGINS) {
		snprintf(why, RP_WHY, "the model is full");
		return false;
	}
	if (!rp_entry_ok(m, p, -1, why))
		return false;
	m->p[m->n++] = *p;
	return true;
}

static bool rp_unload_step(struct rp_model *m, const char *name, char *why)
{
	int i = rp_find(m, name);
	const char *user = i < 0 ? NULL : rp_user_of(m, i);
	if (i < 0)
		snprintf(why, RP_WHY, "%s is not loaded", name);
	else if (user)
		snprintf(why, RP_WHY, "%s uses %s", user, name);
	else if (m->p[i].f == RP_IO)
		snprintf(why, RP_WHY, "%s is the IO backend", name);
	else if (rp_in_chains(m, name))
		snprintf(why, RP_WHY, "the middleware names %s", name);
	if (i < 0 || user || m->p[i].f == RP_IO || rp_in_chains(m, name))
		return false;
	memmove(&m->p[i], &m->p[i + 1],
		(size_t)(m->n - i - 1) * sizeof m->p[0]);
	m->n--;
	return true;
}

/* Reload name as spec (a manifest entry: its file, config and routes), or
 * from f with its config and routes kept (f NULL: its own file again). */
static bool rp_reload_step(struct rp_model *m, const char *name,
			   const struct rp_plug *spec, const struct rp_file *f,
			   char *why)
{
	int i = rp_find(m, name);
	if (i < 0) {
		snprintf(why, RP_WHY, "%s is not loaded", name);
		return false;
	}
	struct rp_plug p = spec ? *spec : m->p[i];
	p.f = spec ? spec->f : f ? f : p.f;
	if (!p.f->refused && strcmp(p.f->name, name) != 0) {
		snprintf(why, RP_WHY, "%s is plugin %s, not %s", p.f->file,
			 p.f->name, name);
		return false;
	}
	if (!rp_entry_ok(m, &p, i, why))
		return false;
	struct rp_model next = *m;
	next.p[i] = p;
	if (!rp_uses_ok(&next, why))
		return false;
	*m = next;
	return true;
}

static bool rp_unload(struct rp_model *m, const char *name, char *why)
{
	struct rp_model next = *m;
	if (!rp_unload_step(&next, name, why) || !rp_gen_ok(&next, why))
		return false;
	*m = next;
	return true;
}

static bool rp_reload(struct rp_model *m, const char *name,
		      const struct rp_file *f, char *why)
{
	struct rp_model next = *m;
	if (!rp_reload_step(&next, name, NULL, f, why) ||
	    !rp_gen_ok(&next, why))
		return false;
	*m = next;
	return true;
}

/* ---- apply ---- */

static const struct rp_plug *rp_entry_named(const struct rp_manifest *n,
					    const char *name)
{
	for (int i = 0; i < n->n; i++)
		if (strcmp(n->e[i].f->name, name) == 0)
			return &n->e[i];
	return NULL;
}

/* Whether two entries differ in file, config or routes. */
static bool rp_entry_changed(const struct rp_plug *a, const struct rp_plug *b)
{
	if (a->f != b->f || strcmp(a->cfg->json, b->cfg->json) ||
	    a->nremap != b->nremap)
		return true;
	for (int i = 0; i < a->nremap; i++)
		if (strcmp(a->remap_name[i], b->remap_name[i]) ||
		    a->remap_id[i] != b->remap_id[i])
			return true;
	return false;
}

static bool rp_chain_same(const struct rp_chain *a, const struct rp_chain *b)
{
	bool same = a->n == b->n;
	for (int i = 0; same && i < a->n; i++)
		same = !strcmp(a->mw[i], b->mw[i]);
	return same;
}

static void rp_change(struct rp_lines *c, const char *what, const char *name)
{
	rp_add(c, "%s %s", what, name);
}

/* The manifest's own checks, before any plugin is tried. */
static bool rp_manifest_ok(const struct rp_manifest *n, char *why)
{
	if (n->workers2) {
		snprintf(why, RP_WHY, "workers changed: restart");
		return false;
	}
	if (n->missing >= 0) {
		snprintf(why, RP_WHY, "plugins[%d]: no such file", n->missing);
		return false;
	}
	for (int c = -1; c < n->nrmw; c++) {
		const struct rp_chain *ch = c < 0 ? &n->mw : &n->rmw[c];
		for (int i = 0; i < ch->n; i++)
			for (int k = 0; k < i; k++)
				if (!strcmp(ch->mw[i], ch->mw[k])) {
					snprintf(why, RP_WHY,
						 "%s names %s "
						 "twice",
						 ch->route ? ch->route :
							     "middleware",
						 ch->mw[i]);
					return false;
				}
		for (int i = 0; i < ch->n; i++)
			if (!rp_entry_named(n, ch->mw[i])) {
				snprintf(why, RP_WHY,
					 "%s names %s, not a "
					 "plugin of the manifest",
					 ch->route ? ch->route : "middleware",
					 ch->mw[i]);
				return false;
			}
	}
	return true;
}

/* Apply manifest n as apply.c does: entries the manifest in force lists
 * and n does not are unloaded (last first), then each entry of n in order
 * is loaded (not loaded yet), reloaded with its entry (new to the
 * manifest, or changed), or left; plugins loaded at run time that n does
 * not list stay. changes gets what the answer should list ("load NAME",
 * "unload NAME", "reload NAME", "middleware", "route_middleware"). */
static bool rp_apply(struct rp_model *m, const struct rp_manifest *n,
		     struct rp_lines *changes, char *why)
{
	changes->n = 0;
	if (!rp_manifest_ok(n, why))
		return false;
	struct rp_model next = *m;
	next.man = *n;
	bool ok = true;
	char w[RP_WHY];
	for (int i = m->man.n - 1; i >= 0; i--) {
		const char *name = m->man.e[i].f->name;
		if (rp_entry_named(n, name) || rp_find(&next, name) < 0)
			continue;
		if (rp_unload_step(&next, name, w))
			rp_change(changes, "unload", name);
		else if (ok)
			ok = false, memcpy(why, w, RP_WHY);
	}
	for (int i = 0; i < n->n; i++) {
		const struct rp_plug *b = &n->e[i];
		const struct rp_plug *a = rp_entry_named(&m->man, b->f->name);
		int at = rp_find(&next, b->f->name);
		bool step = true;
		if (at < 0) {
			step = rp_load(&next, b, w);
			if (step)
				rp_change(changes, "load", b->f->name);
		} else if (!a || rp_entry_changed(a, b)) {
			if (next.p[at].f->ck == RP_CK_IO) {
				snprintf(w, RP_WHY,
					 "an IO plugin is reloaded "
					 "on its own");
				step = false;
			} else {
				step = rp_reload_step(&next, b->f->name, b,
						      NULL, w);
			}
			if (step)
				rp_change(changes, "reload", b->f->name);
		}
		if (!step && ok)
			ok = false, memcpy(why, w, RP_WHY);
	}
	if (!ok || !rp_gen_ok(&next, why))
		return false;
	if (!rp_chain_same(&m->man.mw, &n->mw))
		rp_add(changes, "middleware");
	bool same = m->man.nrmw == n->nrmw;
	for (int i = 0; same && i < n->nrmw; i++)
		same = !strcmp(m->man.rmw[i].route, n->rmw[i].route) &&
		       rp_chain_same(&m->man.rmw[i], &n->rmw[i]);
	if (!same)
		rp_add(changes, "route_middleware");
	*m = next;
	return true;
}

#endif
