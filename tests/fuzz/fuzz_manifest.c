/* fuzz_manifest - the manifest validator (host/src/manifest.c,
 * manifest_listen.c, manifest_plugins.c, json_check.c through
 * dx_manifest_parse) and the config getters plugins read their sections
 * with (config.c through the host API table, hostapi.c's offline one:
 * config_str ... config_keys).
 *
 * Input: manifest text. Relative paths resolve from this build's plugins
 * directory, so "routes_echo/routes_echo.so" names a real plugin and the
 * plugins' configs and sections are reached. Checked: a refused manifest
 * says why; an accepted one has limits within their documented bounds and
 * max_message >= max_frame; every getter over every member of every
 * plugin config and section answers consistently: 0 with a value (inside
 * [min, max] for integers) or DX_ECONFIG with one more recorded error that
 * names the node's path. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "config.h"
#include "fuzz_check.h"
#include "fuzz_host.h"
#include "hostapi_offline.h"

static const dx_host_api *host;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	host = dx_hostapi_offline();
	return host ? 0 : -1;
}

/* One more error, naming path, since count errors. */
static void check_error(size_t before, const dx_config *cfg)
{
	const dx_diag *d = dx_hostapi_offline_errors(host);
	FUZZ_CHECK(d->count == before + 1, "%zu errors recorded, not %zu",
		   d->count, before + 1);
	const char *path = host->config_path(host, cfg);
	FUZZ_CHECK(strncmp(dx_diag_last(d), path, strlen(path)) == 0,
		   "error \"%s\" does not start with %s", dx_diag_last(d),
		   path);
}

static void getters(const dx_config *cfg, const char *key)
{
	const dx_diag *d = dx_hostapi_offline_errors(host);
	size_t n = d->count;
	const char *s = NULL;
	int rc = host->config_str(host, cfg, key, "def", &s);
	if (rc == 0)
		FUZZ_CHECK(s != NULL, "config_str %s: no string", key);
	else
		check_error(n, cfg);
	n = d->count;
	int64_t i = 0;
	rc = host->config_int(host, cfg, key, 5, -3, 1000, &i);
	if (rc == 0)
		FUZZ_CHECK(i >= -3 && i <= 1000, "config_int %s: %lld", key,
			   (long long)i);
	else
		check_error(n, cfg);
	n = d->count;
	bool b;
	if (host->config_bool(host, cfg, key, true, &b) < 0)
		check_error(n, cfg);
	n = d->count;
	double x;
	if (host->config_double(host, cfg, key, 0.5, &x) < 0)
		check_error(n, cfg);
	(void)host->config_has(host, cfg, key);
}

/* Every member of an object, every element of an array, depth-first. */
static void walk(const dx_config *cfg, int depth)
{
	const cJSON *j = dx_config_json(cfg);
	if (!j || depth > 8)
		return;
	static const char *const allowed[] = {"greeting", "port", NULL};
	if (cJSON_IsObject(j))
		(void)host->config_keys(host, cfg, allowed);
	size_t len = host->config_len(host, cfg);
	for (size_t i = 0; i < len && i < 64; i++) {
		const dx_config *at = host->config_at(host, cfg, i);
		if (at)
			walk(at, depth + 1);
	}
	FUZZ_CHECK(!host->config_at(host, cfg, len), "element past the end");
	if (!cJSON_IsObject(j))
		return;
	const cJSON *m;
	int k = 0;
	cJSON_ArrayForEach(m, j)
	{
		if (!m->string || k++ >= 64)
			break;
		getters(cfg, m->string);
		const dx_config *child = host->config_child(host, cfg, m->string);
		if (child)
			walk(child, depth + 1);
	}
	getters(cfg, "absent-key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	FUZZ_CHECK(text != NULL, "malloc");
	memcpy(text, data, size);
	text[size] = '\0';
	dx_manifest *m = NULL;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_manifest_parse(text, "fuzz.json", fuzz_plugins_dir(), &m,
				   &d);
	if (rc < 0) {
		FUZZ_CHECK(!m && d.count > 0, "refused (%d) without a reason",
			   rc);
	} else {
		FUZZ_CHECK(m && d.count == 0, "accepted with %zu messages",
			   d.count);
		FUZZ_CHECK(m->limits.max_frame >= 64 &&
				   m->limits.max_message >= m->limits.max_frame,
			   "limits %llu / %llu",
			   (unsigned long long)m->limits.max_frame,
			   (unsigned long long)m->limits.max_message);
		for (size_t i = 0; i < m->plugin_count; i++) {
			const dx_manifest_plugin *p = &m->plugins[i];
			FUZZ_CHECK(p->path && p->json_path, "plugin %zu", i);
			dx_config *cfg = dx_config_new(p->config,
						       p->config_path);
			FUZZ_CHECK(cfg != NULL, "config");
			walk(cfg, 0);
			dx_config_free(cfg);
			if (!p->name)
				continue;
			const cJSON *sec = dx_manifest_section(m, p->name);
			dx_config *sc = dx_config_section(sec, p->name);
			if (sc)
				walk(sc, 0);
			dx_config_free(sc);
		}
		dx_manifest_free(m);
	}
	dx_diag_clear(&d);
	/* The offline table keeps its errors: start each input afresh. */
	dx_diag_clear((dx_diag *)dx_hostapi_offline_errors(host));
	free(text);
	return 0;
}
