/* forge_config.c - the forge plugin's reading of its configuration: the
 * plugin's own options (plugins[].config) and the tools of the manifest's
 * "forge" section, turned into the orchestrator's specs and the drivers'
 * tool descriptions. Main thread, during init. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forge_int.h"
#include "forge_schema.h"

#define MS (UINT64_C(1000000))

/* ---- reading forge.tools ---- */

static char *forge_keep(forge_tool *t, const char *s)
{
	char **v = realloc(t->strs, (t->str_count + 1) * sizeof *v);
	if (!v)
		return NULL;
	t->strs = v;
	char *c = strdup(s);
	if (c)
		v[t->str_count++] = c;
	return c;
}

/* The strings of array key of cfg, kept in t, as a new array. */
static int forge_str_array(forge *f, forge_tool *t, const dx_config *cfg,
			   const char *key, const char ***out, size_t *n)
{
	const dx_host_api *h = f->host;
	const dx_config *a = h->config_child(h, cfg, key);
	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	size_t len = h->config_len(h, a);
	const char **v = calloc(len + 1, sizeof *v);
	if (!v)
		return -ENOMEM;
	*out = v;
	for (size_t i = 0; i < len; i++) {
		const char *s = NULL;
		if (h->config_str(h, h->config_at(h, a, i), NULL, NULL, &s) <
			    0 ||
		    !s)
			return DX_ECONFIG;
		if (!(v[i] = forge_keep(t, s)))
			return -ENOMEM;
	}
	*n = len;
	return 0;
}

/* env {"NAME": "value"} as "NAME=value" strings. */
static int forge_env(forge *f, forge_tool *t, const dx_config *cfg)
{
	const dx_host_api *h = f->host;
	const dx_config *e = h->config_child(h, cfg, "env");
	if (!e)
		return 0;
	size_t len = h->config_len(h, e);
	const char *base = h->config_path(h, e);
	t->env = calloc(len + 1, sizeof *t->env);
	if (!t->env)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		const dx_config *m = h->config_at(h, e, i);
		const char *val = NULL, *path = h->config_path(h, m);
		if (h->config_str(h, m, NULL, "", &val) < 0)
			return DX_ECONFIG;
		/* The member's name is its path past "...env.". */
		const char *name = path + strlen(base) + 1;
		char *kv = NULL;
		if (asprintf(&kv, "%s=%s", name, val) < 0)
			return -ENOMEM;
		t->env[i] = forge_keep(t, kv);
		free(kv);
		if (!t->env[i])
			return -ENOMEM;
	}
	t->desc.env = t->env;
	t->desc.env_count = len;
	return 0;
}

static int forge_health_cfg(forge *f, forge_tool *t, const dx_config *cfg)
{
	const dx_host_api *h = f->host;
	const dx_config *hc = h->config_child(h, cfg, "health");
	const char *tcp = NULL;
	char text[300];
	t->desc.health_kind = DX_FORGE_HEALTH_ALIVE;
	snprintf(text, sizeof text, "alive");
	if (hc && h->config_has(h, hc, "tcp")) {
		if (h->config_str(h, hc, "tcp", NULL, &tcp) < 0)
			return DX_ECONFIG;
		t->desc.health_kind = DX_FORGE_HEALTH_TCP;
		t->desc.health_tcp = forge_keep(t, tcp);
		snprintf(text, sizeof text, "tcp %s", tcp);
	} else if (hc && h->config_has(h, hc, "cmd")) {
		int rc = forge_str_array(f, t, hc, "cmd", &t->hcmd,
					 &t->desc.health_cmd_count);
		if (rc < 0)
			return rc;
		t->desc.health_kind = DX_FORGE_HEALTH_CMD;
		t->desc.health_cmd = t->hcmd;
		snprintf(text, sizeof text, "cmd %s",
			 t->desc.health_cmd_count ? t->hcmd[0] : "");
	}
	t->health_text = forge_keep(t, text);
	return t->health_text ? 0 : -ENOMEM;
}

static uint32_t forge_enum(const char *s, const char *const *names,
			   uint32_t def)
{
	for (uint32_t i = 0; s && names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return def;
}

/* The orchestrator's spec of a tool; the strings stay the config's. */
static int forge_spec(forge *f, const dx_config *cfg, dx_orch_spec *s)
{
	static const char *const restarts[] = {"no", "on_failure", "always",
					       NULL};
	static const char *const conds[] = {"started", "healthy",
					    "completed", NULL};
	const dx_host_api *h = f->host;
	const char *name = NULL, *restart = NULL;
	int64_t prio = 0, grace = 0;
	if (h->config_str(h, cfg, "name", NULL, &name) < 0 || !name ||
	    h->config_str(h, cfg, "restart", "no", &restart) < 0 ||
	    h->config_int(h, cfg, "priority", 0, -1000, 1000, &prio) < 0 ||
	    h->config_int(h, cfg, "stop_grace_ms", 5000, 0, 600000, &grace) <
		    0)
		return DX_ECONFIG;
	*s = (dx_orch_spec){(char *)name, (int)prio,
			    forge_enum(restart, restarts, 0), (uint32_t)grace,
			    NULL, 0};
	const dx_config *deps = h->config_child(h, cfg, "depends_on");
	size_t n = deps ? h->config_len(h, deps) : 0;
	if (!n)
		return 0;
	s->deps = calloc(n, sizeof *s->deps);
	if (!s->deps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const dx_config *d = h->config_at(h, deps, i);
		const char *tool = NULL, *cond = NULL;
		if (h->config_str(h, d, "tool", NULL, &tool) < 0 || !tool ||
		    h->config_str(h, d, "condition", "started", &cond) < 0)
			return DX_ECONFIG;
		s->deps[i] = (dx_orch_dep){(char *)tool,
					   forge_enum(cond, conds, 0), 0};
		s->dep_count = i + 1;
	}
	return 0;
}

static int forge_tool_cfg(forge *f, forge_tool *t, const dx_config *cfg)
{
	const dx_host_api *h = f->host;
	const char *name = NULL, *binary = NULL, *cwd = NULL, *driver = NULL;
	if (h->config_str(h, cfg, "name", NULL, &name) < 0 || !name ||
	    h->config_str(h, cfg, "binary", NULL, &binary) < 0 || !binary ||
	    h->config_str(h, cfg, "cwd", NULL, &cwd) < 0 ||
	    h->config_str(h, cfg, "driver", "process", &driver) < 0)
		return DX_ECONFIG;
	dx_facet_ref ref;
	if (h->lookup(h, DX_FACET_FORGE_DRIVER, driver, &ref) < 0)
		return h->config_error(
			h, cfg, "driver",
			"no FORGE_DRIVER facet \"%s\" is loaded; add the plugin "
			"that provides it (\"process\": forge_process) to "
			"plugins",
			driver);
	/* The loader checks only the vtables it knows (IO, ROUTES, ...);
	 * FORGE_DRIVER tables are private to forge's plugins, so their
	 * size is checked here, by the one consumer. */
	const dx_forge_driver_vtable *vt = ref.vtable;
	if (!vt || vt->size < DX_FORGE_DRIVER_VTABLE_V1_0_SIZE)
		return h->config_error(
			h, cfg, "driver",
			"plugin %s: FORGE_DRIVER \"%s\" has a vtable of %u "
			"bytes, smaller than the %zu of forge driver v1.0; "
			"rebuild %s against this dx",
			ref.plugin ? ref.plugin : "?", driver,
			vt ? (unsigned)vt->size : 0u,
			(size_t)DX_FORGE_DRIVER_VTABLE_V1_0_SIZE,
			ref.plugin ? ref.plugin : "it");
	t->vt = vt;
	t->drv_self = ref.self;
	t->desc.size = sizeof t->desc;
	t->desc.name = forge_keep(t, name);
	t->desc.binary = forge_keep(t, binary);
	if (cwd) {
		/* Relative to the manifest's directory (host->section(NULL)). */
		const dx_config *dn = h->section(h, NULL);
		const char *dir = NULL;
		if (dn && h->config_str(h, dn, NULL, NULL, &dir) < 0)
			return DX_ECONFIG;
		char *abs = forge_schema_path(dir, cwd);
		t->desc.cwd = abs ? forge_keep(t, abs) : NULL;
		free(abs);
	}
	t->driver_name = forge_keep(t, driver);
	char *log = NULL;
	if (asprintf(&log, "%s/%s.log", f->log_dir, name) < 0)
		return -ENOMEM;
	t->desc.log_path = forge_keep(t, log);
	free(log);
	if (!t->desc.name || !t->desc.binary || !t->desc.log_path ||
	    !t->driver_name || (cwd && !t->desc.cwd))
		return -ENOMEM;
	int rc = forge_str_array(f, t, cfg, "args", &t->args,
				 &t->desc.arg_count);
	t->desc.args = t->args;
	if (rc == 0)
		rc = forge_env(f, t, cfg);
	if (rc == 0)
		rc = forge_health_cfg(f, t, cfg);
	int64_t grace = 0;
	if (rc == 0)
		rc = h->config_int(h, cfg, "stop_grace_ms", 5000, 0, 600000,
				   &grace);
	t->desc.stop_grace_ms = (uint32_t)grace;
	t->desc.health_timeout_ms = f->health_timeout_ms;
	return rc;
}

int forge_tools(forge *f, const dx_config *tools)
{
	const dx_host_api *h = f->host;
	size_t n = h->config_len(h, tools);
	f->tools = calloc(n + 1, sizeof *f->tools);
	if (!f->tools)
		return -ENOMEM;
	f->count = n;
	for (size_t i = 0; i < n; i++) {
		forge_tool *t = &f->tools[i];
		*t = (forge_tool){.f = f, .idx = i, .proc = {0, -1}};
		const dx_config *cfg = h->config_at(h, tools, i);
		dx_orch_spec s = {0};
		int rc = forge_spec(f, cfg, &s);
		if (rc == 0)
			rc = dx_orch_add(f->orch, &s);
		free(s.deps);
		if (rc >= 0)
			rc = forge_tool_cfg(f, t, cfg);
		if (rc < 0)
			return rc == DX_ECONFIG
				       ? rc
				       : h->config_error(h, cfg, NULL,
							 "cannot register "
							 "tool: %s",
							 dx_strerror(rc));
	}
	char why[256];
	int rc = dx_orch_resolve(f->orch, why, sizeof why);
	if (rc < 0)
		return h->config_error(h, tools, NULL, "%s", why);
	return 0;
}

/* ---- the plugin's options ---- */

static int forge_mkdirs(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return -e;
		}
		if (!(*s = c))
			break;
	}
	free(p);
	return 0;
}

int forge_options(forge *f, const dx_config *cfg, dx_orch_opts *o)
{
	static const char *const keys[] = {
		"log_dir",
		"autostart",
		"backoff_ms",
		"backoff_max_ms",
		"start_limit_burst",
		"start_limit_interval_ms",
		"health_interval_ms",
		"health_timeout_ms",
		"health_failures",
		NULL};
	const dx_host_api *h = f->host;
	const char *dir = NULL;
	int64_t v[7];
	/* Relative to the manifest's directory, like every path in it. */
	if (h->config_keys(h, cfg, keys) < 0 ||
	    (DX_HAS(h, config_file)
		     ? h->config_file(h, cfg, "log_dir", ".dx/forge/logs", &dir)
		     : h->config_str(h, cfg, "log_dir", ".dx/forge/logs",
				     &dir)) < 0 ||
	    h->config_bool(h, cfg, "autostart", true, &f->autostart) < 0 ||
	    h->config_int(h, cfg, "backoff_ms", 100, 1, 3600000, &v[0]) < 0 ||
	    h->config_int(h, cfg, "backoff_max_ms", 5000, 1, 3600000, &v[1]) <
		    0 ||
	    h->config_int(h, cfg, "start_limit_burst", 5, 1,
			  DX_ORCH_BURST_MAX, &v[2]) < 0 ||
	    h->config_int(h, cfg, "start_limit_interval_ms", 10000, 1,
			  86400000, &v[3]) < 0 ||
	    h->config_int(h, cfg, "health_interval_ms", 1000, 10, 3600000,
			  &v[4]) < 0 ||
	    h->config_int(h, cfg, "health_timeout_ms", 2000, 10, 600000,
			  &v[5]) < 0 ||
	    h->config_int(h, cfg, "health_failures", 3, 1, 1000, &v[6]) < 0)
		return DX_ECONFIG;
	*o = (dx_orch_opts){.backoff_ns = (uint64_t)v[0] * MS,
			    .backoff_max_ns = (uint64_t)v[1] * MS,
			    .burst = (unsigned)v[2],
			    .window_ns = (uint64_t)v[3] * MS,
			    .health_ns = (uint64_t)v[4] * MS,
			    .health_failures = (unsigned)v[6]};
	f->health_timeout_ms = (uint32_t)v[5];
	char cwd[4096];
	if (dir[0] == '/')
		f->log_dir = strdup(dir);
	else if (getcwd(cwd, sizeof cwd) &&
		 asprintf(&f->log_dir, "%s/%s", cwd, dir) < 0)
		f->log_dir = NULL;
	if (!f->log_dir)
		return -ENOMEM;
	if (DX_HAS(h, dry_run) && h->dry_run(h)) {
		/* dx-host --check changes nothing outside the process. */
		h->log(h, DX_LOG_INFO, "--check: would create %s", f->log_dir);
		return 0;
	}
	int rc = forge_mkdirs(f->log_dir);
	if (rc < 0)
		return h->config_error(h, cfg, "log_dir",
				       "cannot create %s: %s", f->log_dir,
				       strerror(-rc));
	return 0;
}
