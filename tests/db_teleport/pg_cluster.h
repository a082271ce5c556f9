/* pg_cluster.h - a throwaway PostgreSQL cluster for the db_teleport tests
 * and benchmark: initdb into a fresh temporary directory, a server on a
 * Unix socket in that directory only (listen_addresses=''), stopped and
 * removed afterwards.
 *
 * As root, initdb and pg_ctl refuse to run: they run as the postgres user
 * through runuser (the directory is chowned to it); as anyone else they
 * run as the caller. The port only names the socket file inside our own
 * directory, so it cannot collide with another server; it still is one no
 * TCP listener uses, in case a reader adds listen_addresses.
 *
 * conninfo: "host=DIR port=PORT user=dx dbname=postgres". */
#ifndef DX_PG_CLUSTER_H
#define DX_PG_CLUSTER_H

#include <netinet/in.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/free_port.h"

#define PG_BIN_DEFAULT "/usr/lib/postgresql/15/bin"

struct pg_cluster {
	char dir[64];
	char bin[256];
	char conninfo[256];
	unsigned port;
	bool as_postgres; /* root: run the tools through runuser */
	bool running;
};

static const char *pg_bin(void)
{
	const char *b = getenv("DX_PG_BIN");
	return b && *b ? b : PG_BIN_DEFAULT;
}

/* Whether the server binaries are here (else the tests skip). */
static bool pg_available(void)
{
	char p[300];
	snprintf(p, sizeof p, "%s/initdb", pg_bin());
	return access(p, X_OK) == 0;
}

static unsigned pg_free_port(void)
{
	unsigned port = free_tcp_port();
	return port ? port : 5432 + (unsigned)(getpid() % 2000);
}

/* Run a tool from the server's bin directory with the given arguments (a
 * shell-safe string: our paths have no spaces), as postgres when root. */
static int pg_tool(const struct pg_cluster *c, const char *tool,
		   const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s%s/%s %s >>%s/setup.log 2>&1",
		 c->as_postgres ? "runuser -u postgres -- " : "", c->bin, tool,
		 args, c->dir);
	int st = system(cmd);
	return st == 0 ? 0 : -1;
}

static void pg_dump_log(const struct pg_cluster *c)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "cat %s/setup.log %s/log >&2 2>/dev/null",
		 c->dir, c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no postgres log)\n");
}

/* pg_ctl start (also after pg_stop). */
static int pg_start(struct pg_cluster *c)
{
	char args[512];
	snprintf(args, sizeof args,
		 "-D %s/data -o \"-k %s -p %u -c listen_addresses=''\" "
		 "-l %s/log -w -t 60 start",
		 c->dir, c->dir, c->port, c->dir);
	if (pg_tool(c, "pg_ctl", args) < 0) {
		fprintf(stderr, "pg_cluster: pg_ctl start failed\n");
		pg_dump_log(c);
		return -1;
	}
	c->running = true;
	return 0;
}

/* pg_ctl stop -m fast: every backend is terminated. */
static int pg_stop(struct pg_cluster *c)
{
	if (!c->running)
		return 0;
	char args[300];
	snprintf(args, sizeof args, "-D %s/data -m fast -w -t 60 stop", c->dir);
	int rc = pg_tool(c, "pg_ctl", args);
	if (rc == 0)
		c->running = false;
	return rc;
}

/* initdb + start. 0, or -1 after printing why (the directory is removed
 * again). */
static int pg_cluster_create(struct pg_cluster *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->bin, sizeof c->bin, "%s", pg_bin());
	snprintf(c->dir, sizeof c->dir, "/tmp/dx-pg.XXXXXX");
	if (!mkdtemp(c->dir)) {
		perror("pg_cluster: mkdtemp");
		return -1;
	}
	c->as_postgres = geteuid() == 0;
	if (c->as_postgres) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw || chown(c->dir, pw->pw_uid, pw->pw_gid) < 0) {
			fprintf(stderr, "pg_cluster: no postgres user to run "
					"initdb as (apt-get install "
					"postgresql)\n");
			rmdir(c->dir);
			return -1;
		}
	}
	c->port = pg_free_port();
	snprintf(c->conninfo, sizeof c->conninfo,
		 "host=%s port=%u user=dx dbname=postgres", c->dir, c->port);
	char args[300];
	snprintf(args, sizeof args, "-D %s/data -A trust -U dx -E UTF8 "
				    "--no-sync",
		 c->dir);
	if (pg_tool(c, "initdb", args) < 0) {
		fprintf(stderr, "pg_cluster: initdb failed\n");
		pg_dump_log(c);
		goto fail;
	}
	if (pg_start(c) < 0)
		goto fail;
	return 0;
fail:;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg_cluster: could not remove %s\n", c->dir);
	c->dir[0] = '\0';
	return -1;
}

/* Stop (if running) and remove. Idempotent. */
static void pg_cluster_destroy(struct pg_cluster *c)
{
	if (!c->dir[0])
		return;
	pg_stop(c);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg_cluster: could not remove %s\n", c->dir);
	c->dir[0] = '\0';
}

#endif
