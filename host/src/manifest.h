/* manifest.h - read and validate a dx manifest (JSON) completely, before
 * anything is loaded.
 *
 * Every problem is reported, not just the first, each as one line that
 * starts with the JSON path ("plugins[2].config.alg: ...", "listen[0]: ...")
 * or, for a JSON syntax error, "LINE:COL: ..." (the caller puts the file
 * name in front). Unknown keys, wrong
 * types, out-of-range values and missing files are errors. Relative paths
 * are resolved from the manifest's directory. Plugin configs are not
 * validated here (the plugin does that through the host API at init), but
 * they must be objects.
 *
 * Plugin sections: a top-level key that is not one of the host's is
 * accepted only when it is the name of a plugin in "plugins" ("NAME":
 * {...} beside {"name": "NAME"}); the host keeps it raw (only duplicate
 * keys are checked) and the plugin validates it through host->section.
 * Any other key is "unknown key; expected one of ...". */
#ifndef DX_HOST_MANIFEST_H
#define DX_HOST_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "diag.h"

typedef enum dx_listen_kind {
	DX_LISTEN_TCP4,
	DX_LISTEN_TCP6,
	DX_LISTEN_UNIX,
} dx_listen_kind;

typedef struct dx_listen {
	dx_listen_kind kind;
	char *text; /* as written: "127.0.0.1:7070", "[::1]:7070", "unix:x" */
	char *host; /* "127.0.0.1", "::1" (no brackets); NULL for unix */
	uint16_t port;
	char *path; /* unix socket path, resolved; NULL for tcp */
} dx_listen;

/* io.zero_copy: when answers of 64 KiB or more go out with send_zc.
 * auto: not to loopback or Unix peers, where the kernel copies anyway and
 * holds the notification until the reader has read (a slow local reader
 * would stall the connection). */
typedef enum dx_zero_copy {
	DX_ZC_AUTO = 0,
	DX_ZC_ALWAYS = 1,
	DX_ZC_NEVER = 2,
} dx_zero_copy;

typedef struct dx_manifest_plugin {
	char *name;          /* from "name", or NULL when only "path" given */
	char *path;          /* the resolved file to load (absolute) */
	bool allow_writable; /* skip the group/other-writable check */
	const cJSON *config; /* the "config" object, or NULL; owned by root */
	char *config_path;   /* "plugins[2].config" */
	const cJSON *routes; /* "routes": route name -> id, or NULL */
	char *routes_path;   /* "plugins[2].routes" */
	char *json_path;     /* "plugins[2]" */
} dx_manifest_plugin;

typedef struct dx_route_mw dx_route_mw;

typedef struct dx_manifest {
	char *file; /* the manifest path as given */
	char *dir;  /* its directory, absolute */
	cJSON *root;

	char **plugin_path; /* resolved directories */
	size_t plugin_path_count;

	dx_listen *listen;
	size_t listen_count;

	unsigned workers; /* 0 = "auto" (one per online CPU) */
	bool pin_cpus;

	struct {
		char *backend; /* "auto" or an IO facet name */
		uint32_t queue_depth;
		bool sqpoll;
		dx_zero_copy zero_copy;
	} io;

	/* The limits a running host can change (dx ctl apply) travel in
	 * each generation (gen.h); max_message sizes buffers at start. */
	struct dx_limits {
		uint64_t max_frame;
		uint64_t max_message;
		uint64_t max_connections;
		uint64_t idle_timeout_ms;
		uint64_t header_timeout_ms;
		uint64_t grace_ms; /* shutdown grace period */
		/* Unsent answers past which a connection's input waits. */
		uint64_t max_output;
		/* Output without progress this long closes; 0: off. */
		uint64_t write_timeout_ms;
	} limits;

	char *control_socket; /* resolved path, or NULL for none */
	/* metrics.listen: the HTTP endpoint for Prometheus (HOST:PORT), or
	 * NULL for none (metrics_http.h). */
	dx_listen *metrics_listen;

	struct {
		unsigned threads; /* background threads, default 1 */
		unsigned queue;   /* queue length, default 1024 */
	} background;

	dx_manifest_plugin *plugins;
	size_t plugin_count;

	char **middleware; /* plugin names, in order */
	size_t middleware_count;

	/* route_middleware: a route's own list instead of middleware. */
	struct dx_route_mw {
		char *route; /* a route name */
		char **names;
		size_t count;
	} *route_middleware;
	size_t route_middleware_count;
} dx_manifest;

/* Read and validate file. 0 with *out set (free with dx_manifest_free), or
 * DX_ECONFIG / a negated errno with every reason in d and *out NULL. */
int dx_manifest_load(const char *file, dx_manifest **out, dx_diag *d);
/* Same, from text in memory; dir resolves relative paths, file names the
 * source in messages. */
int dx_manifest_parse(const char *text, const char *file, const char *dir,
		      dx_manifest **out, dx_diag *d);
void dx_manifest_free(dx_manifest *m);

/* The plugin section key of m (kept raw, owned by m), or NULL when m has
 * none; NULL for the host's own keys too. */
const cJSON *dx_manifest_section(const dx_manifest *m, const char *key);
/* Whether key is one of the host's own top-level keys ("listen", ...). */
bool dx_manifest_host_key(const char *key);

/* One plugin entry from outside the manifest (dx ctl load), validated
 * like plugins[i] (keys, name, path, config, routes; a name found along
 * m's plugin_path, a relative path from m's directory), its messages
 * starting at jpath. 0 with *out filled (free with
 * dx_manifest_plugin_free; out->config and out->routes point into v), or
 * negative with every reason in d. */
int dx_manifest_plugin_parse(const dx_manifest *m, const cJSON *v,
			     const char *jpath, dx_manifest_plugin *out,
			     dx_diag *d);
void dx_manifest_plugin_free(dx_manifest_plugin *pl);
/* dir and name joined ("dir/name", one slash even when dir ends in one,
 * as relative paths of the manifest are resolved): malloc'd, or NULL. */
char *dx_path_join(const char *dir, const char *name);

#endif
