/* dx_forge.c - `dx forge VERB`: source packages through the traffic manager
 * (host/forge/traffic.h); the tool verbs (status, up, ...) are in
 * dx_forge_tools.c: they talk to the running host's forge plugin. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "dx_cmd.h"
#include "dx_forge_tasks.h"
#include "dx_forge_tools.h"
#include "traffic.h"

const char dx_forge_usage[] =
	"usage: dx forge plan NAME@VERSION [--registry DIR] [--project DIR]\n"
	"       dx forge install NAME@VERSION [--registry DIR] [--project DIR]\n"
	"                        [--restore-deleted]\n"
	"       dx forge recover [--project DIR]\n"
	"       dx forge status [--json]               (HOST: --socket PATH\n"
	"       dx forge up [TOOL] [--no-wait]            -m MANIFEST or\n"
	"                                                 $DX_SOCKET)\n"
	"       dx forge stop TOOL | restart TOOL | logs TOOL [--bytes N]\n"
	"       dx forge run TOOL -m MANIFEST [-- ARGS...]\n"
	"\n"
	"Install packages as source into a project, never losing your edits.\n"
	"A registry is a directory of NAME/VERSION/ trees, each with a\n"
	"package.json: {\"name\", \"version\", \"files\": [{\"from\", \"to\"}]}.\n"
	"Each file gets a light:\n"
	"  Green   absent, identical, or unchanged since installed: written\n"
	"  Yellow  changed by you: three-way merge; the clean result is written\n"
	"  Red     the merge conflicts or the file is binary: your file stays,\n"
	"          the new version is written beside it as FILE.new\n"
	"A file you deleted stays deleted unless --restore-deleted. Paths that\n"
	"escape the project refuse the whole package. An install applies\n"
	"completely or not at all; state is kept in PROJECT/.dx/forge/.\n"
	"\n"
	"  plan      print every file's light and why; writes nothing\n"
	"  install   install or update; prints what happened to each file\n"
	"  recover   finish or roll back an install that was killed half-way\n"
	"            (install does this first by itself)\n"
	"\n"
	"  -r, --registry DIR    the registry (default: $DX_FORGE_REGISTRY)\n"
	"  -p, --project DIR     the project (default: the current directory)\n"
	"      --restore-deleted write files you deleted again\n"
	"\n"
	"Tools (the manifest's forge.tools, supervised by the forge plugin in\n"
	"a running dx-host; the verbs ask it through its control socket):\n"
	"  status    NAME STATE PID RESTARTS LAST-EXIT of every tool; states:\n"
	"            stopped, starting, running, healthy, degraded\n"
	"  up        start TOOL (all tools without one) and what it depends\n"
	"            on; waits until each is healthy, has completed, or failed\n"
	"  stop      SIGTERM to the tool's process group, SIGKILL after its\n"
	"            stop_grace_ms; waits until it is stopped\n"
	"  restart   stop it if it runs and start it again (also the way out\n"
	"            of degraded)\n"
	"  logs      the tail of the tool's log (stdout and stderr)\n"
	"  run       run the tool's binary here, with ARGS instead of its args\n"
	"            (its env and cwd from the manifest); no host needed;\n"
	"            exits with the tool's status\n"
	"\n"
	"  -s, --socket PATH     the host's control socket (default:\n"
	"                        $DX_SOCKET)\n"
	"  -m, --manifest FILE   read control.socket (and, for run, the tool)\n"
	"      --json            status: the host's JSON answer\n"
	"      --timeout MS      how long up/stop/restart wait (default 30000)\n"
	"      --no-wait         up/stop/restart: do not wait\n"
	"      --bytes N         logs: how much of the tail (default 65536)\n"
	"\n"
	"Tasks (no host needed; `dx forge snapshot --help` says more):\n"
	"  snapshot [--list], rollback ID, sync, prefetch NAME@VERSION,\n"
	"  analyse\n"
	"\n"
	"Exit status: 0 done (conflicts included: see FILE.new), 1 refused or\n"
	"failed (nothing was changed; a tool that did not come up), 2 usage;\n"
	"run: the tool's own status (127: no such binary).\n"
	"\n"
	"Example:\n"
	"  dx forge plan ui@1.1.0 --registry ~/registry\n"
	"  dx forge install ui@1.1.0 --registry ~/registry\n";

/* Progress on a terminal only, and only when there is enough to wait
 * for: pipes and small packages get the report alone. */
#define DX_FORGE_PROGRESS_MIN_FILES 32

static void dx_forge_progress(void *arg, size_t done, size_t total)
{
	const char *label = arg;
	if (total < 2 * DX_FORGE_PROGRESS_MIN_FILES) /* two passes per file */
		return;
	fprintf(stderr, "\rdx forge: %s: %zu/%zu", label, done, total);
	if (done == total)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

static const char *dx_forge_short(dx_tm_action a)
{
	switch (a) {
	case DX_TM_WRITE: return "written";
	case DX_TM_UNCHANGED: return "same";
	case DX_TM_MERGE: return "merged";
	case DX_TM_KEEP: return "kept";
	case DX_TM_CONFLICT: return "conflict";
	case DX_TM_KEEP_DELETED: return "deleted";
	case DX_TM_DROP: return "dropped";
	}
	return "?";
}

static void dx_forge_print_plan(const dx_tm_report *r)
{
	size_t n[3] = {0, 0, 0};
	printf("plan for %s@%s", r->name, r->version);
	if (r->old_version)
		printf(" (installed: %s)", r->old_version);
	printf("; nothing written\n");
	if (r->recovered)
		printf("note: %s\n", r->recovered);
	for (size_t i = 0; i < r->count; i++) {
		const dx_tm_file *f = &r->files[i];
		n[f->light]++;
		printf("  %-6s  %s: %s\n", dx_tm_light_name(f->light), f->path,
		       f->why);
	}
	printf("%zu files: %zu green, %zu yellow, %zu red\n", r->count, n[0],
	       n[1], n[2]);
}

static void dx_forge_print_install(const dx_tm_report *r)
{
	size_t conflicts = 0;
	if (r->recovered)
		printf("%s\n", r->recovered);
	printf("installed %s@%s", r->name, r->version);
	if (r->old_version)
		printf(" (was %s)", r->old_version);
	putchar('\n');
	for (size_t i = 0; i < r->count; i++) {
		const dx_tm_file *f = &r->files[i];
		printf("  %-8s  %s", dx_forge_short(f->action), f->path);
		if (f->action == DX_TM_CONFLICT) {
			printf(" -> %s.new (%s)", f->path, f->why);
			conflicts++;
		} else if (f->action != DX_TM_WRITE &&
			   f->action != DX_TM_MERGE) {
			printf(" (%s)", dx_tm_action_text(f->action));
		}
		putchar('\n');
	}
	if (conflicts)
		printf("%zu conflict%s: your file%s kept; merge FILE.new into "
		       "it by hand, then delete FILE.new\n",
		       conflicts, conflicts == 1 ? "" : "s",
		       conflicts == 1 ? " is" : "s are");
}

typedef struct dx_forge_args {
	dx_tm_opts o;
	const char *spec;
} dx_forge_args;

/* argv[0] is the verb. 0, or 2 after printing a usage error. */
static int dx_forge_parse(int argc, char **argv, dx_forge_args *a)
{
	static const struct option longs[] = {
		{"registry", required_argument, NULL, 'r'},
		{"project", required_argument, NULL, 'p'},
		{"restore-deleted", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	a->o.registry = getenv("DX_FORGE_REGISTRY");
	a->o.project = ".";
	optind = 1;
	opterr = 0;
	for (int c;
	     (c = getopt_long(argc, argv, "r:p:h", longs, NULL)) != -1;) {
		switch (c) {
		case 'r': a->o.registry = optarg; break;
		case 'p': a->o.project = optarg; break;
		case 'R': a->o.restore_deleted = true; break;
		case 'h': fputs(dx_forge_usage, stdout); return 1;
		default:
			fprintf(stderr, "dx forge %s: bad option %s\n%s",
				argv[0], argv[optind - 1], dx_forge_usage);
			return 2;
		}
	}
	if (optind < argc)
		a->spec = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "dx forge %s: unexpected argument \"%s\"\n",
			argv[0], argv[optind]);
		return 2;
	}
	/* Test hook (see dx_tm_opts.kill_after): never set it otherwise. */
	const char *kill = getenv("DX_FORGE_TEST_KILL_AFTER");
	a->o.kill_after = kill ? (unsigned)strtoul(kill, NULL, 10) : 0;
	return 0;
}

static int dx_forge_packages(const char *verb, dx_forge_args *a)
{
	bool install = strcmp(verb, "install") == 0;
	dx_diag d = DX_DIAG_INIT;
	char *name = NULL, *version = NULL;
	int rc = 0;
	if (!a->spec) {
		fprintf(stderr, "dx forge %s: which NAME@VERSION?\n", verb);
		return 2;
	}
	if (!a->o.registry) {
		fprintf(stderr,
			"dx forge %s: no registry: pass --registry DIR "
			"or set DX_FORGE_REGISTRY\n",
			verb);
		return 2;
	}
	if (dx_tm_parse_spec(a->spec, &name, &version, &d) < 0) {
		dx_diag_print(&d, stderr, "dx forge");
		dx_diag_clear(&d);
		return 2;
	}
	if (install && isatty(STDERR_FILENO)) {
		a->o.progress = dx_forge_progress;
		a->o.progress_arg = (void *)a->spec;
	}
	dx_tm_report r;
	rc = install ? dx_tm_install(&a->o, name, version, &r, &d) :
		       dx_tm_plan(&a->o, name, version, &r, &d);
	if (rc < 0) {
		dx_diag_print(&d, stderr, "dx forge");
	} else if (install) {
		dx_forge_print_install(&r);
	} else {
		dx_forge_print_plan(&r);
	}
	if (rc == 0)
		dx_tm_report_free(&r);
	dx_diag_clear(&d);
	free(name);
	free(version);
	return rc < 0 ? 1 : 0;
}

static int dx_forge_recover(dx_forge_args *a)
{
	dx_diag d = DX_DIAG_INIT;
	char *what = NULL;
	int rc = dx_tm_recover(&a->o, &what, &d);
	if (rc < 0)
		dx_diag_print(&d, stderr, "dx forge");
	else
		printf("%s\n", what ? what : "nothing to recover");
	free(what);
	dx_diag_clear(&d);
	return rc < 0 ? 1 : 0;
}

int dx_cmd_forge(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(dx_forge_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *verb = argv[1];
	if (dx_forge_task_verb(verb)) /* snapshot, rollback, sync, ... */
		return dx_forge_task_cmd(argc - 1, argv + 1);
	if (dx_forge_is_tool_verb(verb)) /* status, up, stop, ... */
		return dx_forge_tools(argc - 1, argv + 1);
	bool packages = strcmp(verb, "plan") == 0 ||
			strcmp(verb, "install") == 0;
	if (!packages && strcmp(verb, "recover") != 0) {
		fprintf(stderr, "dx forge: unknown command \"%s\"\n%s", verb,
			dx_forge_usage);
		return 2;
	}
	dx_forge_args a;
	memset(&a, 0, sizeof a);
	int rc = dx_forge_parse(argc - 1, argv + 1, &a);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!packages && a.spec) {
		fprintf(stderr, "dx forge recover: takes no NAME@VERSION\n");
		return 2;
	}
	return packages ? dx_forge_packages(verb, &a) : dx_forge_recover(&a);
}
