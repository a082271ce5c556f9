/* dx_ctl.c - `dx ctl COMMAND`: talk to a running host's control socket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "dx_cmd.h"
#include "dx_ctl_client.h"
#include "path.h" /* dx_path_real: realpath, or its Windows equal */

const char dx_ctl_usage[] =
	"usage: dx ctl [--socket PATH | -m MANIFEST] [--json] COMMAND\n"
	"\n"
	"Ask a running dx-host through its control socket (the manifest's\n"
	"control.socket; a Unix socket, mode 0600; on Windows the named pipe\n"
	"\\\\.\\pipe\\dx-PATH, PATH absolute with '/' for '\\', or the\n"
	"value itself when it starts with \\\\.\\pipe\\).\n"
	"\n"
	"commands:\n"
	"  status    uptime, workers, backend, listeners, connections, requests\n"
	"  plugins   loaded plugins: name, version, ABI, facets, file\n"
	"  stats     the host's counters and every plugin counter\n"
	"  metrics   every metric in the Prometheus text format (what\n"
	"            metrics.listen serves at GET /metrics)\n"
	"  swap io BACKEND\n"
	"            move every worker and its live connections to another IO\n"
	"            backend (io_uring, epoll) without closing any\n"
	"  reload PLUGIN [FILE]\n"
	"            load a new build of PLUGIN (from FILE, or the file it was\n"
	"            loaded from), check and initialise it like at startup,\n"
	"            hand it the old instance's state, and switch every worker\n"
	"            to it without closing a connection; the old instance\n"
	"            finishes what it started, then is finalised and unloaded.\n"
	"            On any failure the old instance keeps serving. Deploy a\n"
	"            new build by writing a new file and renaming it over the\n"
	"            old one. Plugins that use PLUGIN (they looked up one of\n"
	"            its facets) are reloaded with it\n"
	"  load PLUGIN-JSON | load --name NAME [--path FILE] [--config FILE]\n"
	"            load a plugin into the running host, given as an entry of\n"
	"            the manifest's plugins ('{\"name\": \"routes_hello\"}'),\n"
	"            checked and initialised like at startup; its routes are\n"
	"            served once every worker has it\n"
	"  unload PLUGIN\n"
	"            stop serving a plugin: new requests no longer reach it,\n"
	"            what it started finishes, then it is finalised and\n"
	"            unloaded (not the IO backend in use, nor a plugin the\n"
	"            manifest's middleware names)\n"
	"  apply [MANIFEST]\n"
	"            make the running host match its manifest (or MANIFEST),\n"
	"            as one transaction: plugins added are loaded, removed\n"
	"            ones unloaded, changed ones (file, config, routes, own\n"
	"            section) reloaded with state handed over; middleware,\n"
	"            route_middleware, limits and io.backend follow. Every\n"
	"            new instance is initialised before anything is published;\n"
	"            if anything fails nothing changes and every reason is\n"
	"            printed. Keys only a restart changes (workers, listen,\n"
	"            ...) are refused by name. SIGHUP does the same (not on\n"
	"            Windows, which has no signals but the console's)\n"
	"  drain     stop accepting, send Close, finish in-flight requests,\n"
	"            finalise plugins and exit 0\n"
	"\n"
	"  -s, --socket PATH    the control socket (default: $DX_SOCKET)\n"
	"  -m, --manifest FILE  read control.socket from this manifest\n"
	"      --json           print the host's JSON answer as it came\n"
	"      --timeout MS     give up after MS milliseconds (default 5000)\n"
	"\n"
	"Example:\n"
	"  dx ctl -m examples/hello.json status\n"
	"  dx ctl -m examples/hello.json swap io epoll\n"
	"  dx ctl -m examples/hello.json reload routes_echo\n"
	"  dx ctl -m examples/hello.json load --name routes_hello\n"
	"  dx ctl -m examples/hello.json unload routes_hello\n"
	"  dx ctl -m examples/hello.json apply\n";

static void dx_ctl_print_status(const cJSON *o)
{
	printf("version      %s (pid %.0f)\n", dx_json_str(o, "version", ""),
	       dx_json_num(o, "pid"));
	printf("uptime       %.0f s\n", dx_json_num(o, "uptime_s"));
	printf("workers      %.0f\n", dx_json_num(o, "workers"));
	printf("backend      %s\n", dx_json_str(o, "backend", ""));
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(o, "listen"))
		printf("listening    %s\n", cJSON_IsString(l) ? l->valuestring : "");
	printf("connections  %.0f\n", dx_json_num(o, "connections"));
	printf("requests     %.0f\n", dx_json_num(o, "requests"));
	printf("plugins      %.0f\n", dx_json_num(o, "plugins"));
}

static void dx_ctl_print_plugins(const cJSON *o)
{
	printf("%-16s %-9s %-4s %-28s %s\n", "NAME", "VERSION", "ABI",
	       "FACETS", "FILE");
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "plugins"))
	{
		char facets[256] = "";
		size_t n = 0;
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(p, "facets"))
			if (n < sizeof facets)
				n += (size_t)snprintf(facets + n,
						      sizeof facets - n,
						      "%s%s %s", n ? ", " : "",
						      dx_json_str(f, "kind", ""),
						      dx_json_str(f, "name", ""));
		printf("%-16s %-9s %-4s %-28s %s\n", dx_json_str(p, "name", ""),
		       dx_json_str(p, "version", ""), dx_json_str(p, "abi", ""), facets,
		       dx_json_str(p, "path", ""));
	}
}

static void dx_ctl_print_stats(const cJSON *o)
{
	const char *groups[] = {"host", "background", "plugins",
				"route_failures"};
	for (int g = 0; g < 4; g++) {
		const cJSON *v;
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, groups[g]))
			printf("%-8s %-32s %.0f\n", groups[g], v->string,
			       cJSON_IsNumber(v) ? v->valuedouble : 0);
	}
}

static int dx_ctl_print(const char *cmd, const char *answer, bool json)
{
	cJSON *o = cJSON_Parse(answer);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
	int rc = cJSON_IsTrue(ok) ? 0 : 1;
	if (json)
		printf("%s\n", answer); /* the line, without its newline */
	else if (rc && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			      o, "errors")) > 1) {
		/* One line per reason: apply reports every one. */
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "errors"))
			fprintf(stderr, "dx ctl %s: %s\n", cmd,
				cJSON_IsString(e) ? e->valuestring : "");
	} else if (rc)
		fprintf(stderr, "dx ctl %s: %s\n", cmd,
			o ? dx_json_str(o, "error", "") : "the host's answer is not JSON");
	else if (strcmp(cmd, "status") == 0)
		dx_ctl_print_status(o);
	else if (strcmp(cmd, "plugins") == 0)
		dx_ctl_print_plugins(o);
	else if (strcmp(cmd, "stats") == 0)
		dx_ctl_print_stats(o);
	else if (strcmp(cmd, "metrics") == 0)
		fputs(dx_json_str(o, "text", ""), stdout);
	else if (strcmp(cmd, "swap") == 0)
		printf("io backend: %s -> %s\n", dx_json_str(o, "from", ""),
		       dx_json_str(o, "backend", ""));
	else if (strcmp(cmd, "load") == 0 || strcmp(cmd, "unload") == 0)
		printf("%s %s %s (%s), generation %.0f, %.1f ms\n", cmd,
		       dx_json_str(o, "name", ""),
		       dx_json_str(o, *cmd == 'l' ? "to" : "from", ""),
		       dx_json_str(o, "path", ""), dx_json_num(o, "generation"),
		       dx_json_num(o, "ms"));
	else if (strcmp(cmd, "apply") == 0) {
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "changes");
		printf("applied %s: generation %.0f, %d change%s, %.1f ms\n",
		       dx_json_str(o, "path", ""), dx_json_num(o, "generation"),
		       cJSON_GetArraySize(ch),
		       cJSON_GetArraySize(ch) == 1 ? "" : "s",
		       dx_json_num(o, "ms"));
		const cJSON *c;
		cJSON_ArrayForEach(c, ch)
			printf("  %s\n", cJSON_IsString(c) ? c->valuestring : "");
	} else if (strcmp(cmd, "reload") == 0)
		printf("%s: %s -> %s (%s), generation %.0f, %s, %.1f ms%s%s\n",
		       dx_json_str(o, "name", ""), dx_json_str(o, "from", ""),
		       dx_json_str(o, "to", ""), dx_json_str(o, "path", ""),
		       dx_json_num(o, "generation"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "handoff"))
			       ? "state handed over"
			       : "no state handed over",
		       dx_json_num(o, "ms"),
		       cJSON_HasObjectItem(o, "warning") ? "; warning: " : "",
		       dx_json_str(o, "warning", ""));
	else
		printf("%s: done\n", cmd);
	cJSON_Delete(o);
	return rc;
}

/* A small file's text (malloc'd), or NULL with errno set. */
static char *dx_ctl_read(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	while (s) {
		len += fread(s + len, 1, cap - len - 1, f);
		if (len < cap - 1)
			break;
		char *t = realloc(s, cap *= 2);
		if (!t)
			free(s);
		s = t;
	}
	int e = ferror(f) ? EIO : 0;
	fclose(f);
	if (s && e) {
		free(s);
		s = NULL;
		errno = e;
	}
	if (s)
		s[len] = '\0';
	return s;
}

/* The "plugin" member of a load request: the JSON given, or one made of
 * --name, --path (made absolute: the host resolves from its own
 * directory) and --config (a file holding the config object). */
static int dx_ctl_load_entry(cJSON *req, const char *json, const char *name,
			     const char *path, const char *config)
{
	cJSON *pl;
	if (json) {
		pl = cJSON_Parse(json);
		if (!cJSON_IsObject(pl)) {
			fprintf(stderr, "dx ctl load: expected a JSON object "
					"such as '{\"name\": \"routes_hello\"}', "
					"got: %s\n",
				json);
			cJSON_Delete(pl);
			return -1;
		}
	} else {
		pl = cJSON_CreateObject();
		if (name)
			cJSON_AddStringToObject(pl, "name", name);
		char *abs = path ? dx_path_real(path) : NULL;
		if (path && !abs) {
			fprintf(stderr, "dx ctl load: %s: %s\n", path,
				strerror(errno));
			cJSON_Delete(pl);
			return -1;
		}
		if (abs)
			cJSON_AddStringToObject(pl, "path", abs);
		free(abs);
		if (config) {
			char *text = dx_ctl_read(config);
			cJSON *c = text ? cJSON_Parse(text) : NULL;
			bool read = text != NULL;
			free(text);
			if (!cJSON_IsObject(c)) {
				fprintf(stderr, "dx ctl load: %s: %s\n", config,
					read ? "not a JSON object"
					     : strerror(errno));
				cJSON_Delete(c);
				cJSON_Delete(pl);
				return -1;
			}
			cJSON_AddItemToObject(pl, "config", c);
		}
	}
	cJSON_AddItemToObject(req, "plugin", pl);
	return 0;
}

int dx_cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"manifest", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"name", required_argument, NULL, 'N'},
		{"path", required_argument, NULL, 'P'},
		{"config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *manifest = NULL;
	const char *lname = NULL, *lpath = NULL, *lconfig = NULL;
	bool json = false;
	int timeout_ms = 5000, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'm': manifest = optarg; break;
		case 'j': json = true; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'N': lname = optarg; break;
		case 'P': lpath = optarg; break;
		case 'C': lconfig = optarg; break;
		case 'h': fputs(dx_ctl_usage, stdout); return 0;
		default: fputs(dx_ctl_usage, stderr); return 2;
		}
	}
	bool swap = optind < argc && strcmp(argv[optind], "swap") == 0;
	bool reload = optind < argc && strcmp(argv[optind], "reload") == 0;
	bool load = optind < argc && strcmp(argv[optind], "load") == 0;
	bool unload = optind < argc && strcmp(argv[optind], "unload") == 0;
	bool apply = optind < argc && strcmp(argv[optind], "apply") == 0;
	int nargs = argc - optind;
	bool shape = swap	? nargs == 3
		     : reload	? nargs == 2 || nargs == 3
		     : load	? nargs == 2 || (nargs == 1 && (lname || lpath))
		     : unload	? nargs == 2
		     : apply	? nargs == 1 || nargs == 2
				: nargs == 1;
	/* A known verb with the wrong arguments gets its own line, not the
	 * whole usage. */
	static const struct {
		const char *cmd, *args;
	} verbs[] = {
		{"swap", "io BACKEND"},
		{"reload", "PLUGIN [FILE]"},
		{"load", "PLUGIN-JSON | --name NAME [--path FILE] [--config FILE]"},
		{"unload", "PLUGIN"},
		{"apply", "[MANIFEST]"},
	};
	if (!shape && nargs > 0) {
		for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
			if (strcmp(argv[optind], verbs[i].cmd) == 0) {
				fprintf(stderr,
					"usage: dx ctl %s %s (dx ctl --help "
					"says more)\n",
					verbs[i].cmd, verbs[i].args);
				return 2;
			}
	}
	if (!shape) {
		fputs(dx_ctl_usage, stderr);
		return 2;
	}
	if (!sock && !manifest)
		sock = getenv("DX_SOCKET");
	if (!sock && !manifest) {
		fputs("dx ctl: which host? pass --socket PATH or -m MANIFEST, "
		      "or set DX_SOCKET to the control socket's path\n",
		      stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (swap) {
		cJSON_AddStringToObject(req, "kind", argv[optind + 1]);
		cJSON_AddStringToObject(req, "name", argv[optind + 2]);
	}
	if (unload)
		cJSON_AddStringToObject(req, "name", argv[optind + 1]);
	if (load && dx_ctl_load_entry(req, nargs == 2 ? argv[optind + 1] : NULL,
				      lname, lpath, lconfig) < 0) {
		cJSON_Delete(req);
		return 1;
	}
	char *file = NULL;
	if (apply && nargs == 2) {
		/* Made absolute: the host resolves from its own directory. */
		if (!(file = dx_path_real(argv[optind + 1]))) {
			fprintf(stderr, "dx ctl apply: %s: %s\n",
				argv[optind + 1], strerror(errno));
			cJSON_Delete(req);
			return 1;
		}
		cJSON_AddStringToObject(req, "path", file);
		free(file);
		file = NULL;
	}
	if (reload) {
		cJSON_AddStringToObject(req, "name", argv[optind + 1]);
		/* The host resolves paths from its own directory: send ours
		 * made absolute. */
		if (nargs == 3 && !(file = dx_path_real(argv[optind + 2]))) {
			fprintf(stderr, "dx ctl reload: %s: %s\n",
				argv[optind + 2], strerror(errno));
			cJSON_Delete(req);
			return 1;
		}
		if (file)
			cJSON_AddStringToObject(req, "path", file);
		free(file);
	}
	char *request = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	char *owned = sock ? NULL : dx_ctl_socket_of(manifest, "dx ctl");
	if (!request || (!sock && !(sock = owned))) {
		cJSON_free(request);
		return 1;
	}
	char *answer = NULL;
	int e = dx_ctl_ask(sock, request, timeout_ms, &answer);
	cJSON_free(request);
	int rc = 1;
	if (e)
		dx_ctl_print_error("dx ctl", sock, e);
	else
		rc = dx_ctl_print(cmd, answer, json);
	free(answer);
	free(owned);
	return rc;
}
