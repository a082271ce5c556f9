/* tp_refusals.h - what the loader must say about each refusal build of
 * testplug.c (tests/plugins/variants): shared by the Linux loader test
 * (tests/unit/test_loader.c) and the Windows one (tests/win), so both
 * systems are held to the same codes and messages. Include once, after
 * <dx/plugin.h>. */
#ifndef DX_TP_REFUSALS_H
#define DX_TP_REFUSALS_H

/* The host's ABI as the loader prints it ("1.3"), and the one newer minor
 * the abi_minor_newer plugin is built with: spelled from DX_ABI_MINOR so
 * the expected messages follow a minor bump. */
#define TP_STR_(x) #x
#define TP_STR(x) TP_STR_(x)
#define TP_HOST_ABI TP_STR(DX_ABI_MAJOR) "." TP_STR(DX_ABI_MINOR)
#if DX_ABI_MINOR == 2
#define TP_NEWER 3
#elif DX_ABI_MINOR == 3
#define TP_NEWER 4
#else
#error "tell TP_NEWER the minor after DX_ABI_MINOR"
#endif

/* One row per refusal class: the plugin, the code, and what the message
 * must say besides the file's name. */
static const struct refusal {
	const char *plugin;
	int code;
	const char *says[3];
} refusals[] = {
	{"no_symbol", DX_ENOSYM, {"dx_plugin_v1", "DX_PLUGIN"}},
	{"returns_null", DX_EMAGIC, {"dx_plugin_v1", "NULL"}},
	{"bad_magic", DX_EMAGIC, {"magic", "0x32505844"}},
	{"abi_major",
	 DX_EABI,
	 {"2." TP_STR(DX_ABI_MINOR), TP_HOST_ABI, "major"}},
	{"abi_minor_newer",
	 DX_EABI,
	 {"1." TP_STR(TP_NEWER), TP_HOST_ABI, "newer"}},
	{"small_descriptor", DX_ESIZE, {"size 16", "1.0"}},
	{"small_vtable", DX_ESIZE, {"vtable size 4", "1.0", "good_routes"}},
	{"bad_name", DX_ENAME, {"\"Bad-Name\""}},
	{"no_version", DX_ENAME, {"no_version", "version"}},
	{"dup_facet", DX_EDUP, {"dup_facet_svc", "twice"}},
	{"reserved_facet", DX_EFACET, {"reserved", "kind 6"}},
	{"unknown_kind", DX_EFACET, {"unknown", "kind 99"}},
	{"route_id_zero", DX_ENAME, {"id 0", "route_id_zero.ping"}},
	{"dup_route_id", DX_EDUP, {"id 100", "share an id"}},
	{"bad_route_name", DX_ENAME, {"\"Bad.route\"", "invalid name"}},
};

#endif
