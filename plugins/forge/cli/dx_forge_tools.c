/* dx_forge_tools.c - the tool verbs of `dx forge`: status, up, stop,
 * restart and logs ask the running host's forge plugin through the control
 * socket ({"cmd": "forge", "op": ...}); run executes a tool's binary here,
 * from the manifest, without a host. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "diag.h"
#include "dx_cmd.h"
#include "dx_ctl_client.h"
#include "dx_forge_tools.h"
#include "config.h"
#include "forge_schema.h"
#include "hostapi_offline.h"
#include "manifest.h"

typedef struct fa {
	const char *verb;
	const char *sock, *manifest;
	const char *tool;
	bool json, no_wait;
	int timeout_ms; /* how long up/stop/restart wait to settle */
	long bytes;
	char **rest; /* run: the ARGS after -- */
	int rest_count;
	char *owned; /* socket path from the manifest */
} fa;

static bool jtrue(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Send {"cmd":"forge","op":op,"tool":tool,...}: the parsed answer when it
 * says ok, else NULL after printing why. raw (may be NULL) gets the text. */
static cJSON *ask(fa *a, const char *op, const char *tool, long bytes,
		  char **raw)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "forge");
	cJSON_AddStringToObject(req, "op", op);
	if (tool)
		cJSON_AddStringToObject(req, "tool", tool);
	if (bytes > 0)
		cJSON_AddNumberToObject(req, "bytes", (double)bytes);
	char *line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	char *answer = NULL;
	int e = line ? dx_ctl_ask(a->sock, line, 5000, &answer) : ENOMEM;
	cJSON_free(line);
	if (e) {
		char who[64];
		snprintf(who, sizeof who, "dx forge %s", a->verb);
		dx_ctl_print_error(who, a->sock, e);
		return NULL;
	}
	cJSON *o = cJSON_Parse(answer);
	if (!jtrue(o, "ok")) {
		const char *err = o ? dx_json_str(o, "error", "failed")
				    : "the host's answer is not JSON";
		if (strstr(err, "unknown command"))
			fprintf(stderr,
				"dx forge %s: %s: the host has no forge "
				"plugin (add {\"name\": \"forge\"} and "
				"{\"name\": \"forge_process\"} to plugins)\n",
				a->verb, a->sock);
		else
			fprintf(stderr, "dx forge %s: %s (host %s)\n", a->verb,
				err, a->sock);
		cJSON_Delete(o);
		free(answer);
		return NULL;
	}
	if (raw)
		*raw = answer;
	else
		free(answer);
	return o;
}

/* ---- status ---- */

static const char *exit_text(const cJSON *t, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "last_exit");
	if (!cJSON_IsNumber(v))
		return "-";
	snprintf(buf, len, "%s", dx_json_str(t, "last_exit_text", "?"));
	return buf;
}

static void note_of(const cJSON *t, char *buf, size_t len)
{
	const char *w = dx_json_str(t, "waiting_for", NULL);
	buf[0] = '\0';
	if (w)
		snprintf(buf, len, "%s %s", jtrue(t, "blocked") ? "blocked on"
								: "waiting for",
			 w);
	else if (jtrue(t, "stopping"))
		snprintf(buf, len, "stopping");
	else if (dx_json_str(t, "why", NULL))
		snprintf(buf, len, "%s", dx_json_str(t, "why", ""));
}

static void print_table(const cJSON *o)
{
	printf("%-16s %-9s %-8s %-8s %-10s %s\n", "NAME", "STATE", "PID",
	       "RESTARTS", "LAST-EXIT", "NOTE");
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "tools"))
	{
		char pid[16] = "-", ex[32], note[256];
		if (dx_json_num(t, "pid") > 0)
			snprintf(pid, sizeof pid, "%.0f", dx_json_num(t, "pid"));
		note_of(t, note, sizeof note);
		printf("%-16s %-9s %-8s %-8.0f %-10s %s\n", dx_json_str(t, "name", "?"),
		       dx_json_str(t, "state", "?"), pid, dx_json_num(t, "restarts"),
		       exit_text(t, ex, sizeof ex), note);
	}
}

static int do_status(fa *a)
{
	char *raw = NULL;
	cJSON *o = ask(a, "status", NULL, 0, &raw);
	if (!o)
		return 1;
	if (a->json)
		printf("%s\n", raw);
	else if (!cJSON_GetArraySize(
			 cJSON_GetObjectItemCaseSensitive(o, "tools")))
		printf("no tools (the manifest's forge.tools is empty)\n");
	else
		print_table(o);
	free(raw);
	cJSON_Delete(o);
	return 0;
}

/* ---- up, stop, restart: ask, then wait for the state to settle ---- */

typedef struct target {
	const char *name;
	double starts; /* before the request */
	bool done, ok;
} target;

static const cJSON *find_tool(const cJSON *status, const char *name)
{
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(status, "tools"))
		if (strcmp(dx_json_str(t, "name", ""), name) == 0)
			return t;
	return NULL;
}

/* Whether t has settled for verb; *ok whether as hoped. */
static bool settled(const char *verb, const target *g, const cJSON *t,
		    bool *ok)
{
	const char *st = dx_json_str(t, "state", "");
	bool stopped = strcmp(st, "stopped") == 0;
	bool degraded = strcmp(st, "degraded") == 0;
	*ok = false;
	if (strcmp(verb, "stop") == 0) {
		*ok = stopped;
		return stopped || degraded;
	}
	if (strcmp(verb, "restart") == 0 && dx_json_num(t, "starts") <= g->starts &&
	    !degraded && !(stopped && !jtrue(t, "wanted")))
		return false; /* not started again yet */
	if (strcmp(st, "healthy") == 0 || degraded) {
		*ok = !degraded;
		return true;
	}
	if (stopped && !jtrue(t, "wanted")) {
		/* It ran and exited: fine if it completed (exit 0). */
		*ok = jtrue(t, "completed");
		return true;
	}
	return strcmp(st, "starting") == 0 && jtrue(t, "blocked");
}

static void print_settled(const cJSON *t, bool ok)
{
	char ex[32], note[256];
	const char *st = dx_json_str(t, "state", "?");
	note_of(t, note, sizeof note);
	printf("%s: %s", dx_json_str(t, "name", "?"), st);
	if (dx_json_num(t, "pid") > 0)
		printf(" (pid %.0f)", dx_json_num(t, "pid"));
	else if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "last_exit")))
		printf(" (last: %s)", exit_text(t, ex, sizeof ex));
	if (*note && !ok)
		printf(": %s", note);
	putchar('\n');
}

static int wait_settled(fa *a, target *g, size_t n)
{
	long long deadline = dx_ms_now() + a->timeout_ms;
	size_t left = n;
	bool all_ok = true;
	cJSON *o = NULL;
	while (left) {
		cJSON_Delete(o);
		if (!(o = ask(a, "status", NULL, 0, NULL)))
			return 1;
		for (size_t i = 0; i < n; i++) {
			const cJSON *t = find_tool(o, g[i].name);
			bool ok;
			if (g[i].done || !t || !settled(a->verb, &g[i], t, &ok))
				continue;
			g[i].done = true;
			all_ok &= ok;
			left--;
			print_settled(t, ok);
		}
		if (!left)
			break;
		if (dx_ms_now() >= deadline) {
			for (size_t i = 0; i < n; i++) {
				const cJSON *t = find_tool(o, g[i].name);
				if (g[i].done || !t)
					continue;
				fprintf(stderr,
					"dx forge %s: %s: still %s after %d ms "
					"(see dx forge logs %s)\n",
					a->verb, g[i].name, dx_json_str(t, "state", "?"),
					a->timeout_ms, g[i].name);
			}
			cJSON_Delete(o);
			return 1;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	cJSON_Delete(o);
	return all_ok ? 0 : 1;
}

static int do_change(fa *a)
{
	cJSON *o = ask(a, a->verb, a->tool, 0, NULL);
	if (!o)
		return 1;
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(o, "results");
	size_t n = (size_t)cJSON_GetArraySize(results);
	target *g = calloc(n + 1, sizeof *g);
	if (!g) {
		cJSON_Delete(o);
		return 1;
	}
	size_t k = 0;
	bool ok = true;
	const cJSON *r;
	cJSON_ArrayForEach(r, results)
	{
		const char *name = dx_json_str(r, "tool", "?");
		printf("%s: %s\n", name, dx_json_str(r, "result", "?"));
		if (!jtrue(r, "ok")) {
			ok = false;
			continue;
		}
		g[k++] = (target){name, dx_json_num(r, "starts"), false, false};
	}
	int rc = ok ? 0 : 1;
	if (!a->no_wait && k && wait_settled(a, g, k))
		rc = 1;
	free(g);
	cJSON_Delete(o);
	return rc;
}

/* ---- logs ---- */

static int do_logs(fa *a)
{
	cJSON *o = ask(a, "logs", a->tool, a->bytes, NULL);
	if (!o)
		return 1;
	const char *text = dx_json_str(o, "text", "");
	fputs(text, stdout);
	if (*text && text[strlen(text) - 1] != '\n')
		putchar('\n');
	cJSON_Delete(o);
	return 0;
}

/* ---- run: the tool's binary with ARGS, here, to completion ---- */

static const cJSON *manifest_tool(const dx_manifest *m, const char *name)
{
	const cJSON *forge = dx_manifest_section(m, "forge");
	const cJSON *tools =
		forge ? cJSON_GetObjectItemCaseSensitive(forge, "tools") : NULL;
	const cJSON *t;
	cJSON_ArrayForEach(t, tools)
		if (strcmp(dx_json_str(t, "name", ""), name) == 0)
			return t;
	return NULL;
}

/* forge.tools checked as the forge plugin checks it at init, through a
 * host API table of the host core's own (no host runs here). */
static bool tools_ok(const dx_manifest *m)
{
	const dx_host_api *h = dx_hostapi_offline();
	dx_config *sec = dx_config_section(dx_manifest_section(m, "forge"),
					   "forge");
	int rc = h ? forge_schema_check(h, sec) : -ENOMEM;
	if (h)
		dx_diag_print(dx_hostapi_offline_errors(h), stderr,
			      "dx forge run");
	if (rc == -ENOMEM)
		fprintf(stderr, "dx forge run: out of memory\n");
	dx_config_free(sec);
	dx_hostapi_offline_free(h);
	return rc == 0;
}

static int do_run(fa *a)
{
	if (!a->manifest) {
		fprintf(stderr, "dx forge run: which manifest? pass -m "
				"MANIFEST (run reads the tool from it)\n");
		return 2;
	}
	dx_manifest *m;
	dx_diag d = DX_DIAG_INIT;
	if (dx_manifest_load(a->manifest, &m, &d) < 0) {
		dx_diag_print(&d, stderr, "dx forge run");
		dx_diag_clear(&d);
		return 1;
	}
	dx_diag_clear(&d);
	if (!tools_ok(m)) {
		dx_manifest_free(m);
		return 1;
	}
	const cJSON *t = manifest_tool(m, a->tool);
	if (!t) {
		fprintf(stderr, "dx forge run: %s: no tool \"%s\" in "
				"forge.tools\n",
			a->manifest, a->tool);
		dx_manifest_free(m);
		return 1;
	}
	const char *bin = dx_json_str(t, "binary", "");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(t, "args");
	bool own = a->rest_count > 0; /* ARGS replace the manifest's args */
	size_t n = own ? (size_t)a->rest_count
		       : (size_t)cJSON_GetArraySize(args);
	char **argv = calloc(n + 2, sizeof *argv);
	if (!argv) {
		dx_manifest_free(m);
		return 1;
	}
	argv[0] = (char *)bin;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = own ? a->rest[i]
				  : cJSON_GetArrayItem(args, (int)i)->valuestring;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t, "env"))
		setenv(e->string, e->valuestring, 1);
	char *cwd = dx_json_str(t, "cwd", NULL) ?
			    forge_schema_path(m->dir, dx_json_str(t, "cwd", ""))
			  : NULL;
	if (cwd && chdir(cwd) < 0) {
		fprintf(stderr, "dx forge run %s: cwd %s: %s\n", a->tool, cwd,
			strerror(errno));
		free(cwd);
		free(argv);
		dx_manifest_free(m);
		return 1;
	}
	free(cwd);
	fflush(stdout);
	execvp(bin, argv);
	int err = errno;
	fprintf(stderr, "dx forge run %s: %s: %s\n", a->tool, bin,
		strerror(err));
	free(argv);
	dx_manifest_free(m);
	return err == ENOENT ? 127 : 126;
}

/* ---- arguments ---- */

static int parse(int argc, char **argv, fa *a)
{
	static const struct option longs[] = {
		{"socket", required_argument, NULL, 's'},
		{"manifest", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"no-wait", no_argument, NULL, 'W'},
		{"bytes", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	a->verb = argv[0];
	a->timeout_ms = 30000;
	optind = 1;
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "s:m:h", longs, NULL)) != -1;) {
		switch (c) {
		case 's': a->sock = optarg; break;
		case 'm': a->manifest = optarg; break;
		case 'j': a->json = true; break;
		case 't': a->timeout_ms = atoi(optarg); break;
		case 'W': a->no_wait = true; break;
		case 'b': a->bytes = atol(optarg); break;
		case 'h': fputs(dx_forge_usage, stdout); return 1;
		default:
			fprintf(stderr, "dx forge %s: bad option %s\nTry 'dx "
					"forge --help'.\n",
				a->verb, argv[optind - 1]);
			return 2;
		}
	}
	/* GNU getopt moves the non-options to the end: TOOL, then (run)
	 * the ARGS after "--". */
	if (optind < argc)
		a->tool = argv[optind++];
	if (strcmp(a->verb, "run") == 0) {
		a->rest = argv + optind;
		a->rest_count = argc - optind;
	} else if (optind < argc) {
		fprintf(stderr, "dx forge %s: unexpected argument \"%s\"\n",
			a->verb, argv[optind]);
		return 2;
	}
	return 0;
}

bool dx_forge_is_tool_verb(const char *v)
{
	static const char *const verbs[] = {"status", "up",   "stop",
					    "restart", "logs", "run"};
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(v, verbs[i]) == 0)
			return true;
	return false;
}

int dx_forge_tools(int argc, char **argv)
{
	fa a;
	memset(&a, 0, sizeof a);
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc == 1 ? 0 : rc;
	bool change = !strcmp(a.verb, "up") || !strcmp(a.verb, "stop") ||
		      !strcmp(a.verb, "restart");
	bool needs_tool = strcmp(a.verb, "status") != 0 &&
			  strcmp(a.verb, "up") != 0;
	if (needs_tool && !a.tool) {
		fprintf(stderr, "dx forge %s: which tool? dx forge %s TOOL\n",
			a.verb, a.verb);
		return 2;
	}
	if (!strcmp(a.verb, "status") && a.tool) {
		fprintf(stderr, "dx forge status: takes no TOOL\n");
		return 2;
	}
	if (!strcmp(a.verb, "run"))
		return do_run(&a);
	if (!a.sock && !a.manifest)
		a.sock = getenv("DX_SOCKET");
	if (!a.sock && !a.manifest) {
		fprintf(stderr,
			"dx forge %s: which host? pass --socket PATH or -m "
			"MANIFEST (its control.socket), or set DX_SOCKET to "
			"the control socket's path\n",
			a.verb);
		return 2;
	}
	if (!a.sock) {
		char who[64];
		snprintf(who, sizeof who, "dx forge %s", a.verb);
		if (!(a.sock = a.owned = dx_ctl_socket_of(a.manifest, who)))
			return 1;
	}
	if (!strcmp(a.verb, "status"))
		rc = do_status(&a);
	else if (change)
		rc = do_change(&a);
	else
		rc = do_logs(&a);
	free(a.owned);
	return rc;
}
