/* forge_schema.c - the schema of forge's manifest section (see
 * forge_schema.h), read through the host API's config getters only, so the
 * same code runs in the plugin and in `dx forge run`.
 *
 *   forge.tools[]: name (required, [a-z][a-z0-9_]*, unique), binary
 *   (required), driver (a name; "process" by default), args [strings],
 *   env {NAME: "value"}, cwd (from the manifest's directory), priority
 *   -1000..1000, stop_grace_ms 0..600000, restart no|on_failure|always,
 *   depends_on [{tool, condition started|healthy|completed}] (known
 *   tools, no cycle), health: exactly one of tcp "HOST:PORT", cmd
 *   [argv...], alive true. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/addr.h>

#include "forge_schema.h"
#include "orch.h"

typedef struct schema {
	const dx_host_api *h;
	int rc;          /* DX_ECONFIG once anything was reported */
	const char *str; /* what str_of read last */
} schema;

#define ERR(s, cfg, key, ...)                                                  \
	((s)->rc = (s)->h->config_error((s)->h, (cfg), (key), __VA_ARGS__))

/* A string member, or NULL (absent, or reported: not a string). */
static const char *str_of(schema *s, const dx_config *c, const char *key)
{
	s->str = NULL;
	if (s->h->config_str(s->h, c, key, NULL, &s->str) < 0)
		s->rc = DX_ECONFIG;
	return s->str;
}

static void check_keys(schema *s, const dx_config *c, const char *const *keys)
{
	if (s->h->config_keys(s->h, c, keys) < 0)
		s->rc = DX_ECONFIG;
}

static void nonempty(schema *s, const dx_config *c, const char *key)
{
	const char *v = str_of(s, c, key);
	if (v && !*v)
		ERR(s, c, key, "expected a non-empty string, got \"\"");
}

static void name_of(schema *s, const dx_config *c, const char *key,
		    const char *what)
{
	const char *v = str_of(s, c, key);
	if (v && !dx_name_valid(v))
		ERR(s, c, key,
		    "invalid %s name \"%.48s%s\": use [a-z][a-z0-9_]*, at most "
		    "%d bytes",
		    what, v, strlen(v) > 48 ? "..." : "", DX_NAME_MAX);
}

static void one_of(schema *s, const dx_config *c, const char *key,
		   const char *const *allowed)
{
	const char *v = str_of(s, c, key);
	char want[128];
	size_t len = 0;
	for (size_t i = 0; v && allowed[i]; i++) {
		if (!strcmp(v, allowed[i]))
			return;
		len += (size_t)snprintf(want + len, sizeof want - len,
					"%s\"%s\"", i ? ", " : "", allowed[i]);
	}
	if (v)
		ERR(s, c, key, "expected one of %s, got \"%.48s%s\"", want, v,
		    strlen(v) > 48 ? "..." : "");
}

static void int_in(schema *s, const dx_config *c, const char *key, int64_t lo,
		   int64_t hi)
{
	int64_t v;
	if (s->h->config_int(s->h, c, key, 0, lo, hi, &v) < 0)
		s->rc = DX_ECONFIG;
}

/* Member key when it is an array (or object), else NULL: absent, or
 * reported. */
static const dx_config *child(schema *s, const dx_config *c, const char *key)
{
	const dx_config *k = s->h->config_child(s->h, c, key);
	if (!k && s->h->config_has(s->h, c, key))
		s->rc = DX_ECONFIG;
	return k;
}

/* Whether the container c is an object: its members' paths end in a key,
 * an array's in "[i]" (an empty one counts as either). */
static bool is_object(schema *s, const dx_config *c)
{
	const dx_config *first = s->h->config_at(s->h, c, 0);
	const char *p = first ? s->h->config_path(s->h, first) : "";
	return *p && p[strlen(p) - 1] != ']';
}

static void str_array(schema *s, const dx_config *c, const char *key,
		      bool need_one)
{
	const dx_config *a = child(s, c, key);
	if (!a)
		return;
	size_t n = s->h->config_len(s->h, a);
	if (is_object(s, a) || (need_one && !n)) {
		ERR(s, c, key, "expected %s, got %s",
		    need_one ? "a non-empty array of strings" :
			       "an array of strings",
		    is_object(s, a) ? "an object" : "an array");
		return;
	}
	for (size_t i = 0; i < n; i++)
		str_of(s, s->h->config_at(s->h, a, i), NULL);
}

static void env_of(schema *s, const dx_config *t)
{
	const dx_config *e = child(s, t, "env");
	size_t n = e ? s->h->config_len(s->h, e) : 0;
	if (e && n && !is_object(s, e)) {
		ERR(s, t, "env",
		    "expected an object of NAME: \"value\" strings, got an "
		    "array");
		return;
	}
	size_t base = e ? strlen(s->h->config_path(s->h, e)) + 1 : 0;
	for (size_t i = 0; i < n; i++) {
		const dx_config *m = s->h->config_at(s->h, e, i);
		const char *name = s->h->config_path(s->h, m) + base;
		if (!*name || strchr(name, '='))
			ERR(s, m, NULL,
			    "invalid environment variable name; it must be "
			    "non-empty and have no '='");
		str_of(s, m, NULL);
	}
}

/* "HOST:PORT" or "[HOST]:PORT" with a port in 1..65535 (libdx's parser;
 * an unbracketed IPv6 host such as ::1:80 is let through, as the process
 * driver's connect resolves it). */
static bool tcp_ok(const char *text)
{
	dx_addr a;
	int rc = dx_addr_parse(text, &a);
	if (rc < 0 && rc != DX_ADDR_EUNBRACKETED)
		return false;
	return a.kind == DX_ADDR_TCP && a.port != 0;
}

static void health_of(schema *s, const dx_config *t)
{
	static const char *const keys[] = {"tcp", "cmd", "alive", NULL};
	const dx_config *hc = child(s, t, "health");
	if (!hc)
		return;
	check_keys(s, hc, keys);
	const dx_host_api *h = s->h;
	if (h->config_has(h, hc, "tcp") + h->config_has(h, hc, "cmd") +
		    h->config_has(h, hc, "alive") !=
	    1)
		ERR(s, hc, NULL, "expected exactly one of tcp, cmd, alive");
	const char *tcp = str_of(s, hc, "tcp");
	if (tcp && !tcp_ok(tcp))
		ERR(s, hc, "tcp",
		    "expected \"HOST:PORT\" with a port in 1..65535, got "
		    "\"%.48s%s\"",
		    tcp, strlen(tcp) > 48 ? "..." : "");
	str_array(s, hc, "cmd", true);
	bool alive = true;
	if (h->config_bool(h, hc, "alive", true, &alive) < 0)
		s->rc = DX_ECONFIG;
	else if (!alive)
		ERR(s, hc, "alive", "expected true, got false");
}

/* A tool's dependencies as read once (a getter reports each time it is
 * called, so the graph below never reads the config again). */
typedef struct deps {
	const char **tool;      /* "" when not a string */
	const dx_config **node; /* the depends_on[k] entry */
	size_t n;
} deps;

static void depends_of(schema *s, const dx_config *t, deps *out)
{
	static const char *const keys[] = {"tool", "condition", NULL};
	static const char *const conds[] = {"started", "healthy", "completed",
					    NULL};
	const dx_config *list = child(s, t, "depends_on");
	size_t n = list ? s->h->config_len(s->h, list) : 0;
	out->tool = calloc(n + 1, sizeof *out->tool);
	out->node = calloc(n + 1, sizeof *out->node);
	if (!out->tool || !out->node) {
		s->rc = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const dx_config *d = s->h->config_at(s->h, list, i);
		check_keys(s, d, keys);
		bool has = s->h->config_has(s->h, d, "tool");
		if (!has)
			ERR(s, d, NULL, "missing required key \"tool\"");
		const char *to = str_of(s, d, "tool");
		out->node[out->n] = d;
		out->tool[out->n++] = to ? to : has ? "" : NULL;
		if (!out->tool[out->n - 1])
			out->n--; /* no "tool": no edge */
		one_of(s, d, "condition", conds);
	}
}

/* Check tool t; its valid name (or NULL) and its dependencies. */
static const char *tool_of(schema *s, const dx_config *t, deps *dl)
{
	static const char *const keys[] = {
		"name",    "driver", "binary",        "args",
		"env",     "cwd",    "priority",      "depends_on",
		"restart", "health", "stop_grace_ms", NULL};
	static const char *const restarts[] = {"no", "on_failure", "always",
					       NULL};
	const dx_host_api *h = s->h;
	check_keys(s, t, keys);
	const char *name = str_of(s, t, "name");
	if (name && !dx_name_valid(name)) {
		ERR(s, t, "name",
		    "invalid tool name \"%.48s%s\": use [a-z][a-z0-9_]*, at "
		    "most %d bytes",
		    name, strlen(name) > 48 ? "..." : "", DX_NAME_MAX);
		name = NULL;
	}
	if (!h->config_has(h, t, "name"))
		ERR(s, t, NULL, "missing required key \"name\"");
	if (!h->config_has(h, t, "binary"))
		ERR(s, t, NULL,
		    "missing required key \"binary\" (the program to run)");
	else
		nonempty(s, t, "binary");
	if (h->config_has(h, t, "driver"))
		name_of(s, t, "driver", "forge driver");
	str_array(s, t, "args", false);
	env_of(s, t);
	if (h->config_has(h, t, "cwd"))
		nonempty(s, t, "cwd");
	int_in(s, t, "priority", -1000, 1000);
	int_in(s, t, "stop_grace_ms", 0, 600000);
	one_of(s, t, "restart", restarts);
	depends_of(s, t, dl);
	health_of(s, t);
	return name;
}

/* The tools as a graph for dx_orch_cycles: node i is tools[i]. */
typedef struct graph {
	schema *s;
	const dx_config *tools;
	const char **name; /* valid, unique names; NULL otherwise */
	deps *dep;
	size_t n;
} graph;

static size_t find(const graph *g, const char *name)
{
	for (size_t i = 0; name && i < g->n; i++)
		if (g->name[i] && !strcmp(g->name[i], name))
			return i;
	return g->n;
}

static size_t edge(void *arg, size_t i, size_t k)
{
	const graph *g = arg;
	return k < g->dep[i].n ? find(g, g->dep[i].tool[k]) : SIZE_MAX;
}

/* "a -> b -> c -> a": each tool waits for the next. */
static void cycle(void *arg, const size_t *c, size_t len)
{
	graph *g = arg;
	char text[512];
	size_t at = 0;
	for (size_t i = 0; i < len && at < sizeof text; i++)
		at += (size_t)snprintf(text + at, sizeof text - at, "%s -> ",
				       g->name[c[i]]);
	if (at < sizeof text)
		snprintf(text + at, sizeof text - at, "%s", g->name[c[0]]);
	ERR(g->s, g->tools, NULL,
	    "dependency cycle: %s; each tool waits for the next, so none can "
	    "start",
	    text);
}

/* Unknown dependencies, then cycles (each back edge reports one). */
static void graph_check(graph *g)
{
	const dx_host_api *h = g->s->h;
	for (size_t i = 0; i < g->n; i++) {
		const deps *dl = &g->dep[i];
		for (size_t k = 0; k < dl->n; k++) {
			const char *to = dl->tool[k];
			if (!*to || find(g, to) < g->n)
				continue;
			ERR(g->s, dl->node[k], "tool",
			    "tool \"%s\" depends on \"%s\", which is not in "
			    "forge.tools",
			    g->name[i] ?
				    g->name[i] :
				    h->config_path(h, h->config_at(h, g->tools,
								   i)),
			    to);
		}
	}
	if (dx_orch_cycles(g->n, edge, cycle, g) < 0)
		g->s->rc = -ENOMEM;
}

static void tools_of(schema *s, const dx_config *tools)
{
	const dx_host_api *h = s->h;
	graph g = {s, tools, NULL, NULL, h->config_len(h, tools)};
	if (is_object(s, tools)) {
		ERR(s, tools, NULL,
		    "expected an array of tool objects, got an object");
		return;
	}
	g.name = calloc(g.n + 1, sizeof *g.name);
	g.dep = calloc(g.n + 1, sizeof *g.dep);
	for (size_t i = 0; g.name && g.dep && i < g.n; i++) {
		const dx_config *t = h->config_at(h, tools, i);
		g.name[i] = tool_of(s, t, &g.dep[i]);
		size_t j = find(&g, g.name[i]);
		if (g.name[i] && j < i) {
			ERR(s, t, "name", "\"%s\" is also forge.tools[%zu]",
			    g.name[i], j);
			g.name[i] = NULL;
		}
	}
	if (g.name && g.dep)
		graph_check(&g);
	else
		s->rc = -ENOMEM;
	for (size_t i = 0; g.dep && i < g.n; i++) {
		free(g.dep[i].tool);
		free(g.dep[i].node);
	}
	free(g.dep);
	free(g.name);
}

int forge_schema_check(const dx_host_api *h, const dx_config *sec)
{
	static const char *const keys[] = {"tools", NULL};
	schema s = {h, 0, NULL};
	if (!sec)
		return 0;
	check_keys(&s, sec, keys);
	const dx_config *tools = child(&s, sec, "tools");
	if (tools)
		tools_of(&s, tools);
	return s.rc;
}

char *forge_schema_path(const char *dir, const char *cwd)
{
	char *p = NULL;
	if (cwd[0] == '/' || !dir)
		return strdup(cwd);
	size_t n = strlen(dir);
	if (asprintf(&p, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
		     cwd) < 0)
		return NULL;
	return p;
}
