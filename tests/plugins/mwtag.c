/* mwtag.c - the reload property test's middleware (tests/reload_prop): it
 * tags every answer that passes through it, so a client sees which chain
 * ran, in which order, on which build and with which config. One source
 * built several times (see meson.build): MT_NAME names the plugin and its
 * MIDDLEWARE facet, MT_VERSION its version.
 *
 * The after hook adds response metadata "x-tag-NAME: TAG@VERSION". After
 * hooks run in reverse chain order, so the order of these entries in an
 * answer is the chain reversed. Errors pass through it too (a 404 for a
 * route nobody serves still shows the default chain).
 *
 * Config (every key optional; any other key fails init):
 *   "tag"   string, 1..32 bytes (default "-"): what the entry carries
 *   "uses"  the name of a SERVICE facet looked up in init: init fails when
 *           nobody provides it, and while this plugin is loaded the
 *           provider is in use (the host refuses to unload or reload it)
 *   "fail"  true: init fails (after the lookup), with its own message
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dx/middleware.h>
#include <dx/plugin.h>

#ifndef MT_NAME
#error "build with -DMT_NAME=\"mwtag_x\""
#endif
#ifndef MT_VERSION
#define MT_VERSION "1.0.0"
#endif

#define MT_TAG_MAX 32

struct mt {
	char value[MT_TAG_MAX + sizeof "@" MT_VERSION];
};

static void mt_after(void *self, const dx_request *req, dx_response *res)
{
	const struct mt *t = self;
	/* Out of metadata room: the answer still goes, the test sees it. */
	dx_response_meta(res, "x-tag-" MT_NAME, t->value, strlen(t->value));
}

static int mt_init(const dx_host_api *host, const dx_config *config,
		   void **self)
{
	static const char *const keys[] = {"tag", "uses", "fail", NULL};
	const char *tag = "-", *uses = NULL;
	bool fail = false;
	int rc = host->config_keys(host, config, keys);
	if (rc == 0)
		rc = host->config_str(host, config, "tag", "-", &tag);
	if (rc == 0)
		rc = host->config_str(host, config, "uses", NULL, &uses);
	if (rc == 0)
		rc = host->config_bool(host, config, "fail", false, &fail);
	if (rc < 0)
		return rc;
	if (!*tag || strlen(tag) > MT_TAG_MAX)
		return host->config_error(host, config, "tag",
					  "1..%d bytes, got %zu", MT_TAG_MAX,
					  strlen(tag));
	dx_facet_ref ref;
	if (uses && host->lookup(host, DX_FACET_SERVICE, uses, &ref) < 0)
		return host->config_error(host, config, "uses",
					  "no SERVICE facet \"%s\" is loaded",
					  uses);
	if (fail)
		return host->fail(host, DX_EINIT,
				  MT_NAME " refuses to start (config fail)");
	struct mt *t = calloc(1, sizeof *t);
	if (!t)
		return host->fail(host, -ENOMEM, "out of memory");
	strcpy(t->value, tag);
	strcat(t->value, "@" MT_VERSION);
	*self = t;
	return 0;
}

static void mt_fini(void *self)
{
	free(self);
}

static const dx_middleware_vtable mt_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.after = mt_after,
};

static const dx_facet mt_facets[] = {
	{DX_FACET_MIDDLEWARE, MT_NAME, &mt_vtable},
};

DX_PLUGIN(.name = MT_NAME, .version = MT_VERSION,
	  .description = "tags answers with its name, config and version",
	  DX_FACETS(mt_facets), .init = mt_init, .fini = mt_fini)
