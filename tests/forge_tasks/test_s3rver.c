/* test_s3rver.c - sync against a real S3-compatible server on loopback:
 * s3rver (npm), started here on a free port (s3rver.sh installs it and
 * passes its path in DX_S3RVER; argv[1] is the dx executable). Objects
 * are uploaded, listed and read back byte for byte; a re-sync after one
 * change uploads only what changed; errors name the endpoint, the key and
 * the HTTP status. s3rver checks the access key ID (its account is
 * "S3RVER") but not SigV4 signatures: test_sigv4 checks those. */
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>

#include "check_main.h"
#include "ft_util.h"
#include "s3sync.h"
#include "snapshot.h"
#include "task.h"

#define BUCKET "forge"
#define ACCESS "S3RVER"
#define SECRET "S3RVER"

static const char *dx_exe;
static char endpoint[64];

static dx_s3_conf conf(const char *prefix)
{
	return (dx_s3_conf){endpoint, BUCKET, "us-east-1", ACCESS,
			    SECRET,   prefix, 30};
}

static void mk_tree(const char *p)
{
	ft_puts(p, "a.txt", "alpha\n");
	ft_puts(p, "dup.txt", "alpha\n");
	ft_write(p, "empty", "", 0, 0644);
	static unsigned char big[300000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 9));
	ft_write(p, "data/big.bin", big, sizeof big, 0644);
	ft_write(p, "bin/tool", "#!/bin/sh\n\0\x01\xff", 14, 0755);
	ft_puts(p, ".git/HEAD", "not synced\n");
}

static dx_snap_result snap(const char *p)
{
	dx_snap_opts o = {.project = p};
	dx_snap_result r;
	dx_fx_err e = {{0}};
	ck_assert_msg(dx_snap_create(&o, &r, &e) == 0, "%s", e.msg);
	return r;
}

static dx_sync_result sync_now(const char *p, const char *prefix, bool force)
{
	dx_sync_opts o = {.project = p, .s3 = conf(prefix), .force = force};
	dx_sync_result r;
	dx_fx_err e = {{0}};
	ck_assert_msg(dx_s3_sync(&o, &r, &e) == 0, "sync: %s", e.msg);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_upload_list_read_back)
{
	char *p = ft_tmpdir();
	mk_tree(p);
	dx_snap_result s = snap(p);
	ck_assert_uint_eq(s.new_objects, 4); /* alpha, empty, big, tool */
	dx_sync_result r = sync_now(p, "t1/", false);
	ck_assert_uint_eq(r.snapshots, 1);
	ck_assert_uint_eq(r.uploaded, 5);
	ck_assert_uint_eq(r.skipped, 0);

	dx_fx_err e = {{0}};
	dx_s3_conf c = conf("t1/");
	dx_s3 *cl = dx_s3_new(&c, &e);
	char **keys;
	size_t n;
	ck_assert_msg(dx_s3_list(cl, "t1/", &keys, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, 5);
	qsort(keys, n, sizeof *keys, cmp_str);
	/* Every key read back equals the local file, byte for byte. */
	size_t objects = 0;
	for (size_t i = 0; i < n; i++) {
		char *local;
		if (strncmp(keys[i], "t1/objects/", 11) == 0) {
			local = dx_snap_object_path(p, keys[i] + 11);
			objects++;
		} else {
			char *want = ft_printf("t1/snapshots/%s.json", s.id);
			ck_assert_str_eq(keys[i], want);
			free(want);
			local = dx_snap_manifest_path(p, s.id);
		}
		char *want = NULL, *got = NULL;
		size_t wlen = 0, glen = 0;
		ck_assert_int_eq(dx_fx_read_file(local, &want, &wlen), 0);
		ck_assert_msg(dx_s3_get(cl, keys[i], &got, &glen, &e) == 0,
			      "%s", e.msg);
		ck_assert_uint_eq(glen, wlen);
		ck_assert_msg(memcmp(got, want, wlen) == 0, "%s differs",
			      keys[i]);
		free(want);
		free(got);
		free(local);
	}
	ck_assert_uint_eq(objects, 4);
	dx_s3_keys_free(keys, n);

	/* A missing key: -ENOENT, and the message says which. */
	char *data;
	ck_assert_int_eq(dx_s3_get(cl, "t1/objects/nope", &data, NULL, &e),
			 -ENOENT);
	ck_assert_msg(strstr(e.msg, "t1/objects/nope") &&
			      strstr(e.msg, endpoint) &&
			      strstr(e.msg, "HTTP 404"),
		      "%s", e.msg);
	dx_s3_free(cl);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_resync_uploads_only_changes)
{
	char *p = ft_tmpdir();
	mk_tree(p);
	snap(p);
	dx_sync_result r = sync_now(p, "t2/", false);
	ck_assert_uint_eq(r.uploaded, 5);

	/* Nothing changed: nothing uploaded. */
	r = sync_now(p, "t2/", false);
	ck_assert_uint_eq(r.uploaded, 0);
	ck_assert_uint_eq(r.skipped, 5);

	/* One file changed: its new content and the new manifest. */
	ft_puts(p, "a.txt", "alpha, edited\n");
	snap(p);
	r = sync_now(p, "t2/", false);
	ck_assert_uint_eq(r.snapshots, 2);
	ck_assert_uint_eq(r.uploaded, 2);
	ck_assert_uint_eq(r.skipped, 5);
	ck_assert_uint_gt(r.bytes, 14); /* the new content and manifest */

	/* Another prefix is another remote: all of it. */
	r = sync_now(p, "t2b/", false);
	ck_assert_uint_eq(r.uploaded, 7);
	/* force: everything again. */
	r = sync_now(p, "t2/", true);
	ck_assert_uint_eq(r.uploaded, 7);
	r = sync_now(p, "t2/", false);
	ck_assert_uint_eq(r.uploaded, 0);

	dx_fx_err e = {{0}};
	dx_s3_conf c = conf("t2/");
	dx_s3 *cl = dx_s3_new(&c, &e);
	char **keys;
	size_t n;
	ck_assert_int_eq(dx_s3_list(cl, "t2/", &keys, &n, &e), 0);
	ck_assert_uint_eq(n, 7);
	dx_s3_keys_free(keys, n);
	dx_s3_free(cl);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_bucket_and_task)
{
	dx_fx_err e = {{0}};
	dx_s3_conf c = conf(NULL);
	c.bucket = "made-by-dx";
	dx_s3 *cl = dx_s3_new(&c, &e);
	ck_assert_msg(dx_s3_create_bucket(cl, &e) == 0, "%s", e.msg);
	ck_assert_msg(dx_s3_create_bucket(cl, &e) == 0, "again: %s", e.msg);
	ck_assert_msg(dx_s3_put(cl, "k e y+1", "v", 1, &e) == 0, "%s", e.msg);
	char *v;
	size_t len;
	ck_assert_msg(dx_s3_get(cl, "k e y+1", &v, &len, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(v[0], 'v');
	free(v);
	dx_s3_free(cl);

	/* The queue's sync task. */
	char *p = ft_tmpdir();
	mk_tree(p);
	snap(p);
	c = conf("t4/");
	dx_forge_task *t = dx_forge_task_sync(p, &c);
	ck_assert_str_eq(dx_forge_task_name(t), "forge.sync");
	dx_forge_task_run(t);
	cl = dx_s3_new(&c, &e);
	char **keys;
	size_t n;
	ck_assert_int_eq(dx_s3_list(cl, "t4/", &keys, &n, &e), 0);
	ck_assert_uint_eq(n, 5);
	dx_s3_keys_free(keys, n);
	dx_s3_free(cl);
	ft_rmtree(p);
	free(p);
}
END_TEST

START_TEST(test_cli)
{
	ck_assert_msg(dx_exe, "pass the dx executable as argv[1]");
	char *p = ft_tmpdir();
	mk_tree(p);
	char *ep = ft_printf("--endpoint=%s", endpoint);
	char *out;
	char *nosnap[] = {(char *)dx_exe,     "forge", "sync", ep,
			  "--bucket=" BUCKET, NULL};
	setenv("AWS_ACCESS_KEY_ID", ACCESS, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	int rc = ft_run(p, nosnap, &out);
	ck_assert_msg(rc == 0 && strstr(out, "nothing to sync"), "%d: %s", rc,
		      out);
	free(out);

	char *take[] = {(char *)dx_exe, "forge", "snapshot", NULL};
	ck_assert_int_eq(ft_run(p, take, NULL), 0);
	char *sync[] = {(char *)dx_exe,     "forge",        "sync", ep,
			"--bucket=" BUCKET, "--prefix=t3/", NULL};
	rc = ft_run(p, sync, &out);
	ck_assert_msg(rc == 0 && strstr(out, ": 5 uploaded"), "%d: %s", rc,
		      out);
	free(out);
	rc = ft_run(p, sync, &out);
	ck_assert_msg(rc == 0 && strstr(out, ": 0 uploaded") &&
			      strstr(out, "5 already there"),
		      "%d: %s", rc, out);
	free(out);

	/* Credentials from a file; a wrong access key: HTTP 403, named. */
	ft_puts(p, "creds",
		"aws_access_key_id = NOBODY\n"
		"aws_secret_access_key = x\n");
	char *cf = ft_printf("--credentials=%s/creds", p);
	char *bad[] = {(char *)dx_exe,     "forge",        "sync", ep,
		       "--bucket=" BUCKET, "--prefix=t5/", cf,     NULL};
	rc = ft_run(p, bad, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, endpoint) && strstr(out, "HTTP 403") &&
			      strstr(out, "t5/objects/") &&
			      strstr(out, "InvalidAccessKeyId"),
		      "%s", out);
	free(out);
	/* A bucket that does not exist. */
	char *nob[] = {(char *)dx_exe,      "forge", "sync", ep,
		       "--bucket=nobucket", NULL};
	rc = ft_run(p, nob, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, "HTTP 404") && strstr(out, "nobucket"), "%s",
		      out);
	free(out);
	unsetenv("AWS_ACCESS_KEY_ID");
	char *nocred[] = {(char *)dx_exe,     "forge", "sync", ep,
			  "--bucket=" BUCKET, NULL};
	rc = ft_run(p, nocred, &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(out, "AWS_ACCESS_KEY_ID"), "%s", out);
	free(out);
	free(cf);
	free(ep);
	ft_rmtree(p);
	free(p);
}
END_TEST

/* ---- s3rver ---- */

static pid_t s3rver_pid;

static int start_s3rver(const char *bin, const char *dir)
{
	char *log = dx_fx_printf("%s/s3rver.log", dir);
	char *data = dx_fx_printf("%s/data", dir);
	mkdir(data, 0755);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "-d", data, "-a", "127.0.0.1", "-p", "0",
		      "--configure-bucket", BUCKET, (char *)NULL);
		_exit(127);
	}
	s3rver_pid = pid;
	int port = 0;
	for (int i = 0; i < 300 && !port; i++) { /* 30 s */
		usleep(100000);
		char *text = NULL;
		if (dx_fx_read_file(log, &text, NULL) == 0) {
			const char *at =
				strstr(text, "listening on 127.0.0.1:");
			if (at)
				port = atoi(at + 23);
		}
		free(text);
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "s3rver exited (see %s)\n", log);
			s3rver_pid = 0;
			break;
		}
	}
	free(log);
	free(data);
	return port;
}

static void stop_s3rver(void)
{
	if (s3rver_pid > 0) {
		kill(-s3rver_pid, SIGTERM);
		waitpid(s3rver_pid, NULL, 0);
		s3rver_pid = 0;
	}
}

int main(int argc, char **argv)
{
	/* Absolute: the tests run it from other directories. */
	dx_exe = argc > 1 ? realpath(argv[1], NULL) : NULL;
	const char *bin = getenv("DX_S3RVER");
	if (!bin || !*bin) {
		printf("SKIP: DX_S3RVER is not set: run this through "
		       "tests/forge_tasks/s3rver.sh (meson test does)\n");
		return 77;
	}
	char *dir = NULL;
	{
		const char *base = getenv("TMPDIR");
		dir = dx_fx_printf("%s/dxs3.XXXXXX",
				   base && *base ? base : "/tmp");
		if (!mkdtemp(dir))
			return 1;
	}
	int port = start_s3rver(bin, dir);
	if (!port) {
		fprintf(stderr, "s3rver did not start on loopback\n");
		stop_s3rver();
		return 1;
	}
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
	printf("s3rver at %s\n", endpoint);
	fflush(stdout);
	Suite *s = suite_create("s3rver");
	TCase *tc = tcase_create("s3rver");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_upload_list_read_back);
	tcase_add_test(tc, test_resync_uploads_only_changes);
	tcase_add_test(tc, test_bucket_and_task);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	int rc = dx_check_run(s);
	stop_s3rver();
	char *rm = dx_fx_printf("rm -rf '%s'", dir);
	if (system(rm) != 0)
		rc = 1;
	free(rm);
	free(dir);
	return rc;
}
