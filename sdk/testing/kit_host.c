/* kit_host.c - the test kit's host: a manifest with no listener, a
 * registry, plugins loaded and initialised one by one as `dx ctl load`
 * does (the loader's and the registry's checks, then init), the
 * middleware chain, the generation a worker serves, logs and counters.
 * The caller's thread only (logs: any thread, under log_lock). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "boot.h"
#include "kit_int.h"

/* The manifest every kit host starts from: no listener, one worker. */
static const char kit_manifest[] = "{\"dx\": 1, \"listen\": [], "
				   "\"workers\": 1}";

void kit_err(const dx_diag *d, char *err, size_t errlen)
{
	if (!err || !errlen)
		return;
	size_t off = 0;
	err[0] = '\0';
	for (size_t i = 0; i < d->count && off < errlen; i++) {
		int n = snprintf(err + off, errlen - off, "%s%s", i ? "\n" : "",
				 d->msgs[i]);
		off += n > 0 ? (size_t)n : 0;
	}
}

static void kit_err_text(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

static void kit_log(void *ud, int level, const char *who, const char *msg)
{
	dx_test_host *h = ud;
	pthread_mutex_lock(&h->log_lock);
	if (h->verbose)
		fprintf(stderr, "dx-test: [%d] %s: %s\n", level, who, msg);
	if (h->nlogs == h->caplogs) {
		size_t cap = h->caplogs ? h->caplogs * 2 : 32;
		dx_test_log *t = realloc(h->logs, cap * sizeof *t);
		if (!t)
			goto out;
		h->logs = t;
		h->caplogs = cap;
	}
	char *w = strdup(who), *m = strdup(msg);
	if (!w || !m) {
		free(w);
		free(m);
		goto out;
	}
	h->logs[h->nlogs++] = (dx_test_log){level, w, m};
out:
	pthread_mutex_unlock(&h->log_lock);
}

dx_test_host *dx_test_host_new(void)
{
	dx_test_host *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	pthread_mutex_init(&h->log_lock, NULL);
	const char *v = getenv("DX_TEST_VERBOSE");
	h->verbose = v && *v == '1';
	dx_diag d = DX_DIAG_INIT;
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, "/");
	dx_registry_opts ro = {.log = kit_log,
			       .log_ud = h,
			       .log_level = DX_LOG_DEBUG,
			       .workers = 1};
	if (dx_manifest_parse(kit_manifest, "dx_test_host", cwd, &h->m, &d) <
		    0 ||
	    !(h->reg = dx_registry_new(&ro))) {
		dx_diag_print(&d, stderr, "dx_test_host_new");
		dx_diag_clear(&d);
		dx_test_host_free(h);
		return NULL;
	}
	dx_registry_set_manifest(h->reg, h->m);
	h->gen_id = 1;
	h->stale = true;
	return h;
}

void dx_test_host_free(dx_test_host *h)
{
	if (!h)
		return;
	kit_stop(h);
	if (h->reg) {
		dx_registry_fini_all(h->reg);
		dx_registry_free(h->reg);
	}
	dx_gen_free(atomic_load(&h->view.gen));
	for (size_t i = 0; i < h->nold; i++)
		dx_gen_free(h->old[i]);
	free(h->old);
	dx_manifest_free(h->m);
	for (size_t i = 0; i < h->nconns; i++) {
		free(h->conns[i].peer);
		dx_buf_free(&h->conns[i].out);
	}
	free(h->conns);
	for (size_t i = 0; i < h->nreplies; i++) {
		kit_reply *r = h->replies[i];
		dx_buf_free(&r->raw);
		free(r->keys);
		free(r->values);
		free((char *)r->pub.body);
		free(r);
	}
	free(h->replies);
	for (size_t i = 0; i < h->npushes; i++)
		free((char *)h->pushes[i].body);
	free(h->pushes);
	dx_test_log_clear(h);
	free(h->logs);
	pthread_mutex_destroy(&h->log_lock);
	free(h);
}

/* The plugin entry {"path": path, "config": <config_json>}, as a manifest
 * would list it. */
static int kit_entry(const char *path, const char *config_json, cJSON **out,
		     char *err, size_t errlen)
{
	cJSON *cfg = NULL;
	if (config_json && *config_json) {
		const char *end = NULL;
		cfg = cJSON_ParseWithOpts(config_json, &end, true);
		if (!cfg || !cJSON_IsObject(cfg)) {
			if (err && errlen)
				snprintf(err, errlen,
					 "config: expected a JSON object, got "
					 "\"%.40s\"%s",
					 config_json,
					 cfg ? "" : " (not valid JSON)");
			cJSON_Delete(cfg);
			return DX_ECONFIG;
		}
	}
	cJSON *e = cJSON_CreateObject();
	if (!e || !cJSON_AddStringToObject(e, "path", path) ||
	    (cfg && !cJSON_AddItemToObject(e, "config", cfg))) {
		cJSON_Delete(cfg);
		cJSON_Delete(e);
		kit_err_text(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

int dx_test_load(dx_test_host *h, const char *path, const char *config_json,
		 char *err, size_t errlen)
{
	if (!h || !path)
		return -EINVAL;
	cJSON *entry = NULL;
	int rc = kit_entry(path, config_json, &entry, err, errlen);
	if (rc < 0)
		return rc;
	char jpath[32];
	snprintf(jpath, sizeof jpath, "plugins[%zu]", h->nloaded);
	dx_diag d = DX_DIAG_INIT;
	dx_manifest_plugin pl;
	rc = dx_manifest_plugin_parse(h->m, entry, jpath, &pl, &d);
	if (rc == 0) {
		rc = dx_boot_one(&pl, h->reg, &d);
		if (rc == 0)
			rc = dx_registry_init_last(h->reg, h->gen_id, &d);
		dx_manifest_plugin_free(&pl);
	}
	if (rc == 0) {
		/* The plugin's config points into the entry from now on. */
		dx_registry_keep_json(h->reg, entry);
		h->nloaded++;
		h->stale = true;
	} else {
		cJSON_Delete(entry);
		kit_err(&d, err, errlen);
	}
	dx_diag_clear(&d);
	return rc;
}

int kit_refresh(dx_test_host *h, char *err, size_t errlen)
{
	if (!h->stale)
		return 0;
	dx_diag d = DX_DIAG_INIT;
	dx_gen *g = NULL;
	int rc = dx_boot_check_middleware(h->m, h->reg, &d);
	if (rc == 0)
		rc = dx_gen_build(h->m, h->reg, ++h->gen_id, &g, &d);
	if (rc < 0) {
		kit_err(&d, err, errlen);
		dx_diag_clear(&d);
		return rc;
	}
	dx_gen *prev = atomic_load(&h->view.gen);
	if (prev) {
		dx_gen **t = realloc(h->old, (h->nold + 1) * sizeof *t);
		if (!t) {
			dx_gen_free(g);
			kit_err_text(err, errlen, "out of memory");
			return -ENOMEM;
		}
		h->old = t;
		h->old[h->nold++] = prev;
	}
	/* The worker adopts it at its next loop boundary, as under dx-host. */
	atomic_store(&h->view.gen, g);
	h->stale = false;
	return 0;
}

int dx_test_use(dx_test_host *h, const char *middleware, char *err,
		size_t errlen)
{
	if (!h || !middleware)
		return -EINVAL;
	dx_manifest *m = h->m;
	char **t =
		realloc(m->middleware, (m->middleware_count + 1) * sizeof *t);
	if (!t)
		return -ENOMEM;
	m->middleware = t;
	if (!(t[m->middleware_count] = strdup(middleware)))
		return -ENOMEM;
	m->middleware_count++;
	h->stale = true;
	int rc = kit_refresh(h, err, errlen);
	if (rc < 0) {
		free(t[--m->middleware_count]);
		h->stale = true;
	}
	return rc;
}

int dx_test_route_id(dx_test_host *h, const char *name)
{
	if (!h || !name || kit_refresh(h, NULL, 0) < 0)
		return -ENOENT;
	const dx_gen *g = atomic_load(&h->view.gen);
	for (unsigned id = 1; g && id <= UINT16_MAX; id++) {
		const dx_route_ref *r = dx_gen_route(g, (uint16_t)id);
		if (r && strcmp(r->route->name, name) == 0)
			return (int)id;
	}
	return -ENOENT;
}

int dx_test_lookup(dx_test_host *h, uint32_t kind, const char *name,
		   dx_facet_ref *ref)
{
	if (!h || !name || !ref)
		return -EINVAL;
	return dx_registry_lookup(h->reg, kind, name, ref);
}

const char *dx_test_meta_get(const dx_test_reply *r, const char *key,
			     size_t *len)
{
	for (size_t i = 0; r && i < r->meta_count; i++) {
		if (strcmp(r->meta[i].key, key) == 0) {
			if (len)
				*len = r->meta[i].len;
			return r->meta[i].value;
		}
	}
	return NULL;
}

typedef struct kit_counter_find {
	const char *name;
	uint64_t value;
	bool found;
} kit_counter_find;

static void kit_counter_each(void *ud, const char *name, const char *help,
			     uint64_t value)
{
	kit_counter_find *f = ud;
	if (strcmp(f->name, name) == 0) {
		f->value = value;
		f->found = true;
	}
}

int dx_test_counter(const dx_test_host *h, const char *name, uint64_t *value)
{
	kit_counter_find f = {name, 0, false};
	if (!h || !name)
		return -EINVAL;
	dx_registry_each_counter(h->reg, kit_counter_each, &f);
	if (!f.found)
		return -ENOENT;
	if (value)
		*value = f.value;
	return 0;
}

size_t dx_test_logs(dx_test_host *h, const dx_test_log **lines)
{
	pthread_mutex_lock(&h->log_lock);
	size_t n = h->nlogs;
	*lines = h->logs;
	pthread_mutex_unlock(&h->log_lock);
	return n;
}

bool dx_test_log_has(dx_test_host *h, int level, const char *needle)
{
	bool found = false;
	pthread_mutex_lock(&h->log_lock);
	for (size_t i = 0; i < h->nlogs && !found; i++)
		found = (level < 0 || h->logs[i].level == level) &&
			strstr(h->logs[i].msg, needle);
	pthread_mutex_unlock(&h->log_lock);
	return found;
}

void dx_test_log_clear(dx_test_host *h)
{
	pthread_mutex_lock(&h->log_lock);
	for (size_t i = 0; i < h->nlogs; i++) {
		free((char *)h->logs[i].who);
		free((char *)h->logs[i].msg);
	}
	h->nlogs = 0;
	pthread_mutex_unlock(&h->log_lock);
}

size_t dx_test_pushes(const dx_test_host *h, const dx_test_push **pushes)
{
	*pushes = h->pushes;
	return h->npushes;
}
