/* dx_forge_tasks.c - `dx forge snapshot|rollback|sync|prefetch|analyse`
 * (dx_forge_tasks.h): the same code the forge plugin runs on the host's
 * background queue, run here in the foreground. */
#include "dx_forge_tasks.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyse.h"
#include "prefetch.h"
#include "s3sync.h"
#include "snapshot.h"

const char dx_forge_tasks_usage[] =
	"usage: dx forge snapshot [--project DIR] [--list]\n"
	"       dx forge rollback ID [--project DIR]\n"
	"       dx forge sync [--project DIR] --endpoint URL --bucket NAME\n"
	"                     [--region REGION] [--prefix P] "
	"[--credentials FILE]\n"
	"                     [--force] [--create-bucket]\n"
	"       dx forge prefetch NAME@VERSION [--registry DIR] "
	"[--project DIR]\n"
	"       dx forge analyse [--project DIR] [--output FILE]\n"
	"\n"
	"These work without a running host; the forge plugin runs the same\n"
	"tasks on the host's background queue.\n"
	"\n"
	"  snapshot  store the project tree (not .git, not .dx) by content in\n"
	"            PROJECT/.dx/forge/snapshots and print its ID; --list shows\n"
	"            the snapshots, oldest first\n"
	"  rollback  restore the tree to snapshot ID (6 or more of its digits):\n"
	"            files and modes as they were, files created since removed;\n"
	"            .git and .dx are never touched\n"
	"  sync      upload the snapshots to an S3-compatible store (S3, R2,\n"
	"            MinIO) with AWS SigV4; only what was not uploaded before\n"
	"            (--force: everything). Credentials: AWS_ACCESS_KEY_ID and\n"
	"            AWS_SECRET_ACCESS_KEY, or --credentials FILE with\n"
	"            aws_access_key_id = ... and aws_secret_access_key = ...\n"
	"            lines. Defaults: $DX_FORGE_S3_ENDPOINT, $DX_FORGE_S3_BUCKET,\n"
	"            $AWS_REGION (else us-east-1; R2 wants \"auto\")\n"
	"  prefetch  copy REGISTRY/NAME/VERSION into PROJECT/.dx/forge/cache\n"
	"  analyse   count files and lines per language; writes\n"
	"            PROJECT/.dx/forge/analysis.json (or --output FILE)\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage.\n"
	"\n"
	"Example:\n"
	"  dx forge snapshot\n"
	"  dx forge rollback 3fa1c2\n"
	"  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... dx forge sync \\\n"
	"      --endpoint https://ACCOUNT.r2.cloudflarestorage.com "
	"--bucket backups --region auto\n";

bool dx_forge_task_verb(const char *verb)
{
	static const char *const verbs[] = {"snapshot", "rollback", "sync",
					    "prefetch", "analyse"};
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(verb, verbs[i]) == 0)
			return true;
	return false;
}

typedef struct dx_ft_args {
	const char *verb;
	const char *project, *registry, *output, *credentials;
	const char *endpoint, *bucket, *region, *prefix;
	const char *arg; /* ID or NAME@VERSION */
	bool list, force, create_bucket;
} dx_ft_args;

/* Progress on a terminal only, and only for work worth watching. */
#define DX_FT_PROGRESS_MIN 200

static void dx_ft_progress(void *arg, const char *what, size_t done,
			   size_t total)
{
	(void)arg;
	if (total < DX_FT_PROGRESS_MIN || (done % 64 && done != total))
		return;
	fprintf(stderr, "\rdx forge %s: %zu/%zu", what, done, total);
	if (done == total)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

/* 0, 1 (--help printed) or 2 (usage error printed). */
static int dx_ft_parse(int argc, char **argv, dx_ft_args *a)
{
	static const struct option longs[] = {
		{"project", required_argument, NULL, 'p'},
		{"registry", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"credentials", required_argument, NULL, 'c'},
		{"endpoint", required_argument, NULL, 'e'},
		{"bucket", required_argument, NULL, 'b'},
		{"region", required_argument, NULL, 'R'},
		{"prefix", required_argument, NULL, 'P'},
		{"list", no_argument, NULL, 'l'},
		{"force", no_argument, NULL, 'f'},
		{"create-bucket", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	a->verb = argv[0];
	a->project = ".";
	a->registry = getenv("DX_FORGE_REGISTRY");
	a->endpoint = getenv("DX_FORGE_S3_ENDPOINT");
	a->bucket = getenv("DX_FORGE_S3_BUCKET");
	a->region = getenv("AWS_REGION");
	if (!a->region)
		a->region = getenv("AWS_DEFAULT_REGION");
	a->prefix = getenv("DX_FORGE_S3_PREFIX");
	optind = 1;
	opterr = 0;
	for (int c;
	     (c = getopt_long(argc, argv, "p:r:o:h", longs, NULL)) != -1;) {
		switch (c) {
		case 'p': a->project = optarg; break;
		case 'r': a->registry = optarg; break;
		case 'o': a->output = optarg; break;
		case 'c': a->credentials = optarg; break;
		case 'e': a->endpoint = optarg; break;
		case 'b': a->bucket = optarg; break;
		case 'R': a->region = optarg; break;
		case 'P': a->prefix = optarg; break;
		case 'l': a->list = true; break;
		case 'f': a->force = true; break;
		case 'C': a->create_bucket = true; break;
		case 'h': fputs(dx_forge_tasks_usage, stdout); return 1;
		default:
			fprintf(stderr, "dx forge %s: bad option %s\n%s",
				a->verb, argv[optind - 1],
				dx_forge_tasks_usage);
			return 2;
		}
	}
	bool wants_arg = !strcmp(a->verb, "rollback") ||
			 !strcmp(a->verb, "prefetch");
	if (wants_arg && optind < argc)
		a->arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "dx forge %s: unexpected argument \"%s\"\n",
			a->verb, argv[optind]);
		return 2;
	}
	if (wants_arg && !a->arg) {
		fprintf(stderr, "dx forge %s: which %s?\n", a->verb,
			strcmp(a->verb, "rollback") ? "NAME@VERSION" :
						      "snapshot ID");
		return 2;
	}
	return 0;
}

static void dx_ft_size(uint64_t n, char *buf, size_t len)
{
	if (n < 10240)
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
	else if (n < 10ull << 20)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
}

static int dx_ft_fail(const dx_ft_args *a, const dx_fx_err *e)
{
	fprintf(stderr, "dx forge %s: %s\n", a->verb, e->msg);
	return 1;
}

static int dx_ft_list(const dx_ft_args *a)
{
	dx_fx_err e = {{0}};
	dx_snap_info *v;
	size_t n;
	if (dx_snap_list(a->project, &v, &n, &e) < 0)
		return dx_ft_fail(a, &e);
	if (n == 0)
		printf("no snapshots in %s/.dx/forge/snapshots\n", a->project);
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)v[i].taken;
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s  %s  %zu entries\n", v[i].id, when, v[i].entries);
	}
	free(v);
	return 0;
}

static int dx_ft_snapshot(const dx_ft_args *a, const dx_snap_opts *o)
{
	if (a->list)
		return dx_ft_list(a);
	dx_fx_err e = {{0}};
	dx_snap_result r;
	if (dx_snap_create(o, &r, &e) < 0)
		return dx_ft_fail(a, &e);
	char size[32];
	dx_ft_size(r.bytes, size, sizeof size);
	printf("snapshot %s\n", r.id);
	printf("  %zu files, %zu directories, %zu links, %s; %zu new "
	       "object%s stored%s\n",
	       r.files, r.dirs, r.links, size, r.new_objects,
	       r.new_objects == 1 ? "" : "s",
	       r.existed ? " (the tree is unchanged since this snapshot)" : "");
	if (r.skipped)
		printf("  %zu fifos, sockets or devices left out\n", r.skipped);
	return 0;
}

static int dx_ft_rollback(const dx_ft_args *a, const dx_snap_opts *o)
{
	dx_fx_err e = {{0}};
	dx_rollback_result r;
	if (dx_snap_rollback(o, a->arg, &r, &e) < 0)
		return dx_ft_fail(a, &e);
	printf("rolled back to %s\n  %zu written, %zu removed, %zu "
	       "unchanged, %zu modes restored\n",
	       r.id, r.written, r.removed, r.unchanged, r.modes);
	return 0;
}

static int dx_ft_sync(const dx_ft_args *a, const dx_snap_opts *so)
{
	if (!a->endpoint || !a->bucket) {
		fprintf(stderr, "dx forge sync: no %s: pass %s or set %s\n",
			!a->endpoint ? "endpoint" : "bucket",
			!a->endpoint ? "--endpoint URL" : "--bucket NAME",
			!a->endpoint ? "DX_FORGE_S3_ENDPOINT" :
				       "DX_FORGE_S3_BUCKET");
		return 2;
	}
	dx_fx_err e = {{0}};
	char *ak = NULL, *sk = NULL;
	if (dx_s3_credentials(a->credentials, &ak, &sk, &e) < 0)
		return dx_ft_fail(a, &e);
	dx_sync_opts o = {.project = a->project,
			  .s3 = {a->endpoint, a->bucket, a->region, ak, sk,
				 a->prefix, 0},
			  .force = a->force,
			  .progress = so->progress};
	int rc = 0;
	if (a->create_bucket) {
		dx_s3 *c = dx_s3_new(&o.s3, &e);
		rc = c ? dx_s3_create_bucket(c, &e) : -1;
		dx_s3_free(c);
	}
	dx_sync_result r;
	if (rc == 0)
		rc = dx_s3_sync(&o, &r, &e);
	free(ak);
	free(sk);
	if (rc < 0)
		return dx_ft_fail(a, &e);
	if (r.snapshots == 0) {
		printf("nothing to sync: no snapshots in %s/.dx/forge/"
		       "snapshots (take one with dx forge snapshot)\n",
		       a->project);
		return 0;
	}
	char size[32];
	dx_ft_size(r.bytes, size, sizeof size);
	printf("synced %zu snapshot%s to %s/%s: %zu uploaded (%s), %zu "
	       "already there\n",
	       r.snapshots, r.snapshots == 1 ? "" : "s", a->endpoint, a->bucket,
	       r.uploaded, size, r.skipped);
	return 0;
}

static int dx_ft_prefetch(const dx_ft_args *a)
{
	if (!a->registry) {
		fprintf(stderr, "dx forge prefetch: no registry: pass "
				"--registry DIR or set DX_FORGE_REGISTRY\n");
		return 2;
	}
	dx_fx_err e = {{0}};
	char *name, *version;
	if (dx_prefetch_parse_spec(a->arg, &name, &version, &e) < 0) {
		fprintf(stderr, "dx forge prefetch: %s\n", e.msg);
		return 2;
	}
	dx_prefetch_opts o = {a->registry, a->project};
	dx_prefetch_result r;
	int rc = dx_prefetch(&o, name, version, &r, &e);
	if (rc == 0) {
		if (r.cached)
			printf("%s@%s is cached already: %s\n", name, version,
			       r.path);
		else
			printf("prefetched %s@%s: %zu files to %s\n", name,
			       version, r.files, r.path);
		free(r.path);
	}
	free(name);
	free(version);
	return rc < 0 ? dx_ft_fail(a, &e) : 0;
}

static int dx_ft_analyse(const dx_ft_args *a)
{
	dx_fx_err e = {{0}};
	dx_analyse_opts o = {a->project, a->output};
	dx_analysis r;
	if (dx_analyse(&o, &r, &e) < 0)
		return dx_ft_fail(a, &e);
	printf("%-18s %8s %10s\n", "language", "files", "lines");
	for (size_t i = 0; i < r.count; i++)
		printf("%-18s %8zu %10llu\n", r.langs[i].language,
		       r.langs[i].files, (unsigned long long)r.langs[i].lines);
	printf("%-18s %8zu %10llu\n", "total", r.files,
	       (unsigned long long)r.lines);
	if (r.report)
		printf("report: %s\n", r.report);
	dx_analysis_free(&r);
	return 0;
}

int dx_forge_task_cmd(int argc, char **argv)
{
	dx_ft_args a;
	memset(&a, 0, sizeof a);
	int rc = dx_ft_parse(argc, argv, &a);
	if (rc)
		return rc == 1 ? 0 : rc;
	dx_snap_opts so = {.project = a.project};
	if (isatty(STDERR_FILENO))
		so.progress = dx_ft_progress;
	if (!strcmp(a.verb, "snapshot"))
		return dx_ft_snapshot(&a, &so);
	if (!strcmp(a.verb, "rollback"))
		return dx_ft_rollback(&a, &so);
	if (!strcmp(a.verb, "sync"))
		return dx_ft_sync(&a, &so);
	if (!strcmp(a.verb, "prefetch"))
		return dx_ft_prefetch(&a);
	return dx_ft_analyse(&a);
}
