/* dx_plugin.c - `dx plugin inspect|ids|new`: a plugin file as the host
 * would load it, the route ids dx keeps for itself, and a new plugin
 * project (dx_plugin_new.c). */
#include <stdio.h>
#include <string.h>

#include <dx/routes.h>

#include "dx_cmd.h"
#include "dx_route_ids.h"
#include "loader.h"

const char dx_plugin_usage[] =
	"usage: dx plugin inspect FILE [--allow-writable]\n"
	"       dx plugin ids\n"
	"       dx plugin new NAME --kind routes|middleware|service|io "
	"[--dir DIR]\n"
	"\n"
	"inspect: open FILE exactly as dx-host would and print its\n"
	"descriptor: name, version, ABI (the plugin's and this host's),\n"
	"descriptor and vtable sizes against their ABI 1.0 sizes, facets and\n"
	"routes. If the host would refuse the file, print the exact reason\n"
	"and exit 1. A route id in the range dx keeps for its own plugins\n"
	"(1..1023) is flagged with a warning line, naming the shipped plugin\n"
	"it clashes with (the exit status stays 0: a manifest can move it).\n"
	"\n"
	"  --allow-writable  skip the check that FILE and its directory are\n"
	"                    not writable by group or others (the manifest's\n"
	"                    plugins[].allow_writable)\n"
	"\n"
	"ids: print the route ids the plugins shipped with dx register, and\n"
	"the range third-party plugins take (1024..65535).\n"
	"\n"
	"new: write a small plugin project into DIR (default ./NAME): the\n"
	"plugin's source, a meson.build that builds it against the installed\n"
	"SDK (pkg-config dx-sdk, dx-testing), a test using the plugin test\n"
	"kit (dx/testing.h) and a manifest that serves it. DIR must not exist.\n"
	"\n"
	"Examples:\n"
	"  dx plugin inspect build/plugins/routes_hello/routes_hello.so\n"
	"  dx plugin new my_routes --kind routes\n";

/* Warn about every route of p whose id is dx's own (docs/writing-plugins.md,
 * "Route ids"); the shipped plugin itself is not warned about its ids. */
static void dx_check_route_ids(const dx_plugin *p, FILE *out)
{
	for (uint32_t i = 0; i < p->facet_count; i++) {
		const dx_facet *f = &p->facets[i];
		if (f->kind != DX_FACET_ROUTES)
			continue;
		const dx_routes_vtable *vt = f->vtable;
		for (uint32_t k = 0; k < vt->count; k++) {
			const dx_route *r =
				(const void *)((const char *)vt->routes +
					       (size_t)k * vt->route_size);
			if (r->id > DX_ROUTE_ID_RESERVED_MAX)
				continue;
			const dx_shipped_route *s =
				dx_shipped_route_find(r->id);
			if (s && strcmp(s->plugin, p->name) == 0)
				continue;
			fprintf(out, "warning: route %u %s: ", (unsigned)r->id,
				r->name);
			if (s)
				fprintf(out,
					"clashes with shipped plugin %s (route "
					"%u %s); ",
					s->plugin, (unsigned)s->id, s->route);
			else
				fprintf(out,
					"ids 1..%u are reserved for the "
					"plugins shipped with dx; ",
					DX_ROUTE_ID_RESERVED_MAX);
			fprintf(out,
				"take an id in %u..65535, or move it in the "
				"manifest: \"routes\": {\"%s\": %u}\n",
				DX_ROUTE_ID_THIRD_PARTY_MIN, r->name,
				(unsigned)dx_route_id_suggest(r->name));
		}
	}
}

static int dx_plugin_inspect(int argc, char **argv)
{
	const char *file = NULL;
	dx_load_opts opts = {0};
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--allow-writable") == 0)
			opts.allow_writable = true;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr,
				"dx plugin inspect: unknown option %s\n%s",
				argv[i], dx_plugin_usage);
			return 2;
		} else if (file) {
			fprintf(stderr, "dx plugin inspect: one FILE only\n");
			return 2;
		} else
			file = argv[i];
	}
	if (!file) {
		fputs(dx_plugin_usage, stderr);
		return 2;
	}
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(file, &opts, &m, &d);
	if (rc < 0) {
		dx_diag_print(&d, stderr, "dx");
		fprintf(stderr, "dx: %s would be refused (%s)\n", file,
			dx_err_name(rc));
		dx_diag_clear(&d);
		return 1;
	}
	dx_module_describe(&m, stdout);
	dx_check_route_ids(m.desc, stdout);
	dx_module_close(&m);
	return 0;
}

static int dx_plugin_ids(int argc, char **argv)
{
	if (argc > 0) {
		fprintf(stderr, "dx plugin ids: takes no arguments\n");
		return 2;
	}
	size_t n;
	const dx_shipped_route *t = dx_shipped_routes(&n);
	printf("0 (the host's route table) is reserved.\n"
	       "1..%u: the plugins shipped with dx:\n",
	       DX_ROUTE_ID_RESERVED_MAX);
	for (size_t i = 0; i < n; i++)
		printf("  %-5u %-14s %s\n", (unsigned)t[i].id, t[i].route,
		       t[i].plugin);
	printf("%u..65535: third-party plugins.\n",
	       DX_ROUTE_ID_THIRD_PARTY_MIN);
	return 0;
}

int dx_cmd_plugin(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(dx_plugin_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "inspect") == 0)
		return dx_plugin_inspect(argc - 2, argv + 2);
	if (strcmp(argv[1], "ids") == 0)
		return dx_plugin_ids(argc - 2, argv + 2);
	if (strcmp(argv[1], "new") == 0)
		return dx_plugin_new(argc - 2, argv + 2);
	fprintf(stderr, "dx plugin: unknown subcommand \"%s\"\n%s", argv[1],
		dx_plugin_usage);
	return 2;
}
