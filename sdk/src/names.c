/* names.c - the name rules shared by the loader, the registry and plugins. */
#include <string.h>

#include <dx/plugin.h>
#include <dx/routes.h>

static bool dx_name_check(const char *name, const char *extra)
{
	if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || (extra && strchr(extra, c));
		if (!ok || n >= DX_NAME_MAX)
			return false;
	}
	return true;
}

bool dx_name_valid(const char *name)
{
	return dx_name_check(name, NULL);
}

bool dx_route_name_valid(const char *name)
{
	return dx_name_check(name, ".");
}

const char *dx_facet_kind_name(uint32_t kind)
{
	switch (kind) {
	case DX_FACET_IO: return "IO";
	case DX_FACET_ROUTES: return "ROUTES";
	case DX_FACET_MIDDLEWARE: return "MIDDLEWARE";
	case DX_FACET_SERVICE: return "SERVICE";
	case DX_FACET_FORGE_DRIVER: return "FORGE_DRIVER";
	case DX_FACET_PROTOCOL: return "PROTOCOL";
	default: return NULL;
	}
}
