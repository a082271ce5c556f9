/* dx-host - read a manifest, load and initialise its plugins, serve HBTP
 * on one worker per core until SIGTERM or SIGINT (on Windows a console
 * control event) or dx ctl drain, then drain and finalise.
 * --check validates everything (manifest, plugins, backend) and exits. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activate.h"
#include "boot.h"
#include "control.h"
#include "cpus.h"
#include "log.h"
#include "notify.h"
#include "proc.h"
#include "sd.h"
#include "metrics_http.h"
#include "server.h"
#include "version.h"

static const char dx_host_usage[] =
	"usage: dx-host -m MANIFEST [--check] [--log-level LEVEL] [-q]\n"
	"               [--log-format text|json]\n"
	"       dx-host --help | --version\n"
	"\n"
	"Load the plugins a JSON manifest names and serve HBTP with them.\n"
	"\n"
	"  -m, --manifest FILE  the manifest (JSON; see README.md, \"Manifest\")\n"
	"  -c, --check          validate the manifest, load and initialise every\n"
	"                       plugin, print one line per plugin, finalise them\n"
	"                       and exit: 0 when all is well, 1 with the reasons\n"
	"      --log-level L    error, warn, info (default) or debug\n"
	"  -q, --quiet          only errors (same as --log-level error)\n"
	"      --log-format F   text (default): \"TIME LEVEL WHO: MESSAGE\";\n"
	"                       json: one object a line, {\"ts\", \"level\",\n"
	"                       \"plugin\" (when a plugin logs), \"msg\",\n"
	"                       \"request_id\" (a request's x-request-id)};\n"
	"                       TIME is UTC, e.g. 2026-12-07T09:01:02.345Z\n"
	"  -h, --help           this text\n"
	"  -V, --version        the host's version and plugin ABI\n"
	"\n"
	"Exit status: 0 success, 1 a bad manifest or a plugin that failed to\n"
	"load or initialise (each reason is printed), 2 a usage error.\n";
/* ...then proc.h's dx_proc_help, then this. */
static const char dx_host_example[] =
	"\n"
	"Example:\n"
	"  dx-host -m examples/hello.json --check\n";

struct dx_host_args {
	const char *manifest;
	bool check;
	int log_level;
	dx_log_format log_format;
};

static int dx_parse_level(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* 0 to go on, or the exit status. */
static int dx_host_parse(int argc, char **argv, struct dx_host_args *a)
{
	static const struct option opts[] = {
		{"manifest", required_argument, NULL, 'm'},
		{"check", no_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'L'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	*a = (struct dx_host_args){.log_level = DX_LOG_INFO};
	int c;
	while ((c = getopt_long(argc, argv, "m:cqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'm': a->manifest = optarg; break;
		case 'c': a->check = true; break;
		case 'q': a->log_level = DX_LOG_ERROR; break;
		case 'L':
			a->log_level = dx_parse_level(optarg);
			if (a->log_level < 0) {
				fprintf(stderr,
					"dx-host: --log-level: unknown level "
					"\"%s\"; use error, warn, info or "
					"debug\n",
					optarg);
				return 2;
			}
			break;
		case 'F':
			if (dx_log_format_parse(optarg, &a->log_format) < 0) {
				fprintf(stderr,
					"dx-host: --log-format: unknown format "
					"\"%s\"; use text or json\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(dx_host_usage, stdout);
			fputs(dx_proc_help, stdout);
			fputs(dx_host_example, stdout);
			return -1;
		case 'V':
			printf("dx-host %s (plugin ABI %d.%d)\nsystemd: %s%s\n",
			       DX_VERSION, DX_ABI_MAJOR, DX_ABI_MINOR,
			       *dx_sd_build ? "notify and socket activation "
					      "through "
					    : "none (built without libsystemd)",
			       dx_sd_build);
			return -1;
		default:
			fprintf(stderr, "Try 'dx-host --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"dx-host: unexpected argument \"%s\"\nTry 'dx-host "
			"--help'.\n",
			argv[optind]);
		return 2;
	}
	if (!a->manifest) {
		fprintf(stderr, "dx-host: no manifest: pass -m FILE\nTry "
				"'dx-host --help'.\n");
		return 2;
	}
	return 0;
}

/* A reason dx-host stops: "dx-host: WHY" on stderr, or with --log-format
 * json an error line like every other, so the log stays one object a
 * line. */
static void dx_host_error(const struct dx_host_args *a, const char *why)
{
	if (a->log_format == DX_LOG_FORMAT_JSON)
		dx_log_stderr((void *)&a->log_format, DX_LOG_ERROR, "dx", why);
	else
		fprintf(stderr, "dx-host: %s\n", why);
}

static void dx_host_errors(const struct dx_host_args *a, const dx_diag *d)
{
	for (size_t i = 0; i < d->count; i++)
		dx_host_error(a, d->msgs[i]);
}

static void dx_print_plugin(const dx_module *m, FILE *out)
{
	const dx_plugin *p = m->desc;
	fprintf(out, "%s %s  ABI %u.%u  %s  facets:", p->name, p->version,
		p->abi_major, p->abi_minor, m->path);
	for (uint32_t i = 0; i < p->facet_count; i++)
		fprintf(out, "%s %s %s", i ? "," : "",
			dx_facet_kind_name(p->facets[i].kind),
			p->facets[i].name);
	fprintf(out, "%s\n", p->facet_count ? "" : " none");
}

static void dx_check_report(const dx_manifest *m, dx_registry *r,
			    const char *file, const char *backend)
{
	for (size_t i = 0; i < dx_registry_count(r); i++)
		dx_print_plugin(dx_registry_module(r, i), stdout);
	if (*backend)
		printf("io backend: %s\n", backend);
	printf("%s: ok (%zu plugin%s, %zu listener%s)\n", file,
	       dx_registry_count(r), dx_registry_count(r) == 1 ? "" : "s",
	       m->listen_count, m->listen_count == 1 ? "" : "s");
}

/* Serve until SIGTERM, SIGINT or `dx ctl drain`, then drain. passed:
 * the sockets systemd passed (NULL: none), taken. */
static int dx_serve(const dx_manifest *m, dx_registry *r, dx_diag *d,
		    dx_inherited *passed)
{
	dx_server *s = NULL;
	dx_control *ctl = NULL;
	int rc = dx_control_open(m->control_socket, d, &ctl);
	if (rc == 0)
		rc = dx_registry_start_background(r);
	/* Workers run whenever there is an IO backend, listeners or not:
	 * plugins need their loops (post, watch, timer) even in a host that
	 * serves no HBTP, e.g. one that only supervises tools. */
	dx_facet_ref io;
	bool has_io = dx_registry_lookup_kind(r, DX_FACET_IO, &io) == 0;
	if (rc == 0 && (m->listen_count || has_io)) {
		rc = dx_server_new_passed(m, r, passed, d, &s);
		passed = NULL; /* the server's */
	}
	if (rc == 0 && passed) /* no listener takes them */
		rc = dx_inherit_check(passed, m, d);
	dx_inherit_free(passed);
	if (rc == 0 && s)
		rc = dx_server_start(s, d);
	dx_metrics_http *http = NULL;
	if (rc == 0 && m->metrics_listen)
		rc = dx_metrics_http_start(m->metrics_listen, r, s, d, &http);
	if (rc == 0) {
		dx_registry_log(r, DX_LOG_INFO, "ready: %zu plugin%s%s%s%s",
				dx_registry_count(r),
				dx_registry_count(r) == 1 ? "" : "s",
				s ? "" : ", no listeners",
				m->control_socket ? ", control socket " : "",
				m->control_socket ? m->control_socket : "");
		dx_notify_ready(s, r);
		dx_control_ctx x = {r, s, time(NULL)};
		int sig = dx_control_run(ctl, &x);
		const char *why = sig == SIGTERM  ? "SIGTERM"
				  : sig == SIGINT ? "SIGINT"
						  : "dx ctl drain";
		dx_notify_stopping(why);
		dx_registry_log(r, DX_LOG_INFO, "%s: draining%s", why,
				s ? ": no new connections, Close sent, "
				    "in-flight requests finishing"
				  : "");
	}
	dx_metrics_http_stop(http); /* it reads the server's workers */
	dx_server_free(s);
	dx_control_close(ctl);
	return rc;
}

static int dx_host_run(const struct dx_host_args *a, const dx_manifest *m,
		       dx_inherited *passed)
{
	dx_registry_opts ro = {
		.log = dx_log_stderr,
		.log_ud = (void *)&a->log_format,
		.log_level = a->log_level,
		.workers = m->workers ? m->workers : dx_cpus(),
		.bg_threads = m->background.threads,
		.bg_queue = m->background.queue,
		.dry_run = a->check,
	};
	dx_registry *r = dx_registry_new(&ro);
	if (!r) {
		fprintf(stderr, "dx-host: out of memory\n");
		dx_inherit_free(passed);
		return 1;
	}
	dx_diag d = DX_DIAG_INIT;
	char backend[64] = "";
	dx_registry_set_manifest(r, m);
	int rc = dx_boot_plugins(m, r, &d);
	if (rc == 0 && a->check && m->listen_count)
		rc = dx_server_check(m, r, &d, backend, sizeof backend);
	if (rc == 0 && a->check)
		dx_check_report(m, r, a->manifest, backend);
	else if (rc == 0) {
		rc = dx_serve(m, r, &d, passed);
		passed = NULL; /* dx_serve's */
	}
	dx_inherit_free(passed);
	if (rc < 0) {
		dx_host_errors(a, &d);
		char sum[1200];
		snprintf(sum, sizeof sum, "%s: %zu error%s; nothing %s",
			 a->manifest, d.count, d.count == 1 ? "" : "s",
			 a->check ? "passes" : "started");
		dx_host_error(a, sum);
	}
	dx_registry_fini_all(r);
	if (rc == 0 && !a->check)
		dx_registry_log(r, DX_LOG_INFO,
				"plugins finalised in reverse order; bye");
	dx_registry_free(r);
	dx_diag_clear(&d);
	return rc < 0 ? 1 : 0;
}

/* "dx-host: FILE: PATH: why", or "dx-host: FILE:LINE:COL: why" for a JSON
 * syntax error, the form editors and terminals jump to. */
static void dx_print_manifest_errors(const struct dx_host_args *a,
				     const dx_diag *d)
{
	for (size_t i = 0; i < d->count; i++) {
		char line[2048];
		dx_diag_at_file(d, i, a->manifest, line, sizeof line);
		dx_host_error(a, line);
	}
}

int main(int argc, char **argv)
{
	struct dx_host_args a;
	int rc = dx_host_parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;

	/* Signals blocked (POSIX) before any thread starts. */
	dx_proc_init();

	/* Sockets a socket unit passed: taken before any plugin can start a
	 * thread or a child (activate.h). */
	dx_inherited *passed = NULL;
	dx_diag d = DX_DIAG_INIT;
	if (dx_inherit_open(&passed, &d) < 0) {
		dx_host_errors(&a, &d);
		dx_diag_clear(&d);
		return 1;
	}
	dx_manifest *m = NULL;
	if (dx_manifest_load(a.manifest, &m, &d) < 0) {
		dx_print_manifest_errors(&a, &d);
		dx_diag_clear(&d);
		dx_inherit_free(passed);
		return 1;
	}
	dx_diag_clear(&d);
	rc = dx_host_run(&a, m, passed);
	dx_manifest_free(m);
	return rc;
}
