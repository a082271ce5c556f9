/* forge_control.c - the control command {"cmd": "forge", "op": OP, ...}
 * (control thread). The answers are what `dx forge` prints.
 *
 *   status                  every tool: name, state, pid, restarts, starts,
 *                           last exit, health, why it waits or failed
 *   up [tool]               ensure_running (all tools without "tool")
 *   stop tool               stop it (SIGTERM, SIGKILL after its grace)
 *   restart tool            stop it if it runs, start it again; clears
 *                           Degraded
 *   logs tool [bytes]       the tail of its log file (default 64 KiB)
 *
 * up, stop and restart only change what the orchestrator wants, under the
 * lock, and post a pump to worker 0, which starts and signals processes:
 * they answer at once, and the caller polls status to see the result. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "forge_int.h"
#include "task.h"

#define LOG_TAIL_DEFAULT 65536
#define LOG_TAIL_MAX (1024 * 1024)

static void add_tool(cJSON *arr, const forge *f, size_t i)
{
	const forge_tool *t = &f->tools[i];
	const dx_orch_tool *o = dx_orch_at(f->orch, i);
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return;
	cJSON_AddItemToArray(arr, j);
	dx_orch_state st = dx_orch_state_of(f->orch, i);
	cJSON_AddStringToObject(j, "name", t->desc.name);
	cJSON_AddStringToObject(j, "state", dx_orch_state_name(st));
	cJSON_AddNumberToObject(j, "pid", o->pid > 0 ? o->pid : 0);
	cJSON_AddNumberToObject(j, "restarts", o->restarts);
	cJSON_AddNumberToObject(j, "starts", o->starts);
	if (o->exited) {
		char text[32];
		cJSON_AddNumberToObject(j, "last_exit", o->last_exit);
		cJSON_AddStringToObject(
			j, "last_exit_text",
			dx_orch_exit_text(o->last_exit, text, sizeof text));
	} else {
		cJSON_AddNullToObject(j, "last_exit");
	}
	cJSON_AddBoolToObject(j, "completed", o->completed);
	cJSON_AddBoolToObject(j, "wanted", o->want);
	cJSON_AddBoolToObject(j, "stopping", o->stopping);
	bool blocked = false;
	long w = dx_orch_waiting(f->orch, i, &blocked);
	if (st == DX_ORCH_STARTING && w >= 0) {
		cJSON_AddStringToObject(j, "waiting_for",
					f->tools[w].desc.name);
		cJSON_AddBoolToObject(j, "blocked", blocked);
	}
	if (o->why[0])
		cJSON_AddStringToObject(j, "why", o->why);
	cJSON_AddStringToObject(j, "health", t->health_text);
	cJSON_AddStringToObject(j, "driver", t->driver_name);
	cJSON_AddStringToObject(j, "log", t->desc.log_path);
	cJSON_AddNumberToObject(j, "started_ns", (double)o->started_ns);
	cJSON_AddNumberToObject(j, "healthy_ns", (double)o->healthy_ns);
	cJSON_AddNumberToObject(j, "priority", o->spec.priority);
}

static cJSON *op_status(forge *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "tools");
	pthread_mutex_lock(&f->lock);
	for (size_t k = 0; arr && k < f->count; k++)
		add_tool(arr, f, dx_orch_order(f->orch, k));
	cJSON_AddNumberToObject(o, "now_ns", (double)forge_now(f));
	pthread_mutex_unlock(&f->lock);
	cJSON_AddStringToObject(o, "log_dir", f->log_dir);
	return o;
}

/* The tool named by request member "tool": its index, or -1 after
 * host->fail (required: it must be there). */
static long find_tool(forge *f, const cJSON *req, const char *op,
		      bool required, bool *all)
{
	const cJSON *tool = cJSON_GetObjectItemCaseSensitive(req, "tool");
	*all = false;
	if (!tool || cJSON_IsNull(tool)) {
		if (required) {
			f->host->fail(f->host, -EINVAL,
				      "%s: which tool? give \"tool\"", op);
			return -1;
		}
		*all = true;
		return 0;
	}
	long i = cJSON_IsString(tool)
			 ? dx_orch_find(f->orch, tool->valuestring)
			 : -1;
	if (i < 0) {
		char names[512] = "";
		size_t len = 0;
		for (size_t k = 0; k < f->count && len < sizeof names; k++)
			len += (size_t)snprintf(names + len, sizeof names - len,
						"%s%s", k ? ", " : "",
						f->tools[k].desc.name);
		f->host->fail(f->host, -ENOENT,
			      "no tool \"%s\" in forge.tools (tools: %s)",
			      cJSON_IsString(tool) ? tool->valuestring : "?",
			      f->count ? names : "none");
	}
	return i;
}

/* up, stop or restart of one tool; its result line. */
static void change(forge *f, const char *op, size_t i, cJSON *results)
{
	uint64_t now = forge_now(f);
	const dx_orch_tool *o = dx_orch_at(f->orch, i);
	dx_orch_state before = dx_orch_state_of(f->orch, i);
	int rc;
	if (strcmp(op, "up") == 0)
		rc = dx_orch_up(f->orch, i, now);
	else if (strcmp(op, "stop") == 0)
		rc = dx_orch_down(f->orch, i, now);
	else
		rc = dx_orch_restart(f->orch, i, now);
	cJSON *r = cJSON_CreateObject();
	if (!r)
		return;
	cJSON_AddItemToArray(results, r);
	cJSON_AddStringToObject(r, "tool", o->spec.name);
	cJSON_AddStringToObject(r, "was", dx_orch_state_name(before));
	cJSON_AddNumberToObject(r, "pid", o->pid > 0 ? o->pid : 0);
	cJSON_AddNumberToObject(r, "starts", o->starts);
	const char *what;
	if (rc == -EAGAIN)
		what = "degraded: not started (use restart)";
	else if (rc < 0)
		what = "failed";
	else if (strcmp(op, "up") == 0)
		what = o->pid > 0 ? "already running" : "starting";
	else if (strcmp(op, "stop") == 0)
		what = o->pid > 0 ? "stopping" : "not running";
	else
		what = o->pid > 0 ? "restarting" : "starting";
	cJSON_AddStringToObject(r, "result", what);
	cJSON_AddBoolToObject(r, "ok", rc == 0);
}

static cJSON *op_change(forge *f, const cJSON *req, const char *op)
{
	bool all;
	pthread_mutex_lock(&f->lock);
	long i = find_tool(f, req, op, strcmp(op, "up") != 0, &all);
	if (i < 0) {
		pthread_mutex_unlock(&f->lock);
		return NULL;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *results = cJSON_AddArrayToObject(o, "results");
	for (size_t k = 0; results && k < (all ? f->count : 1); k++)
		change(f, op, all ? dx_orch_order(f->orch, k) : (size_t)i,
		       results);
	pthread_mutex_unlock(&f->lock);
	int rc = forge_kick(f);
	if (rc < 0) {
		cJSON_Delete(o);
		f->host->fail(f->host, rc,
			      "%s: the host is stopping (%s); nothing changes",
			      op, dx_strerror(rc));
		return NULL;
	}
	return o;
}

/* Printable text: a NUL or another control byte (but \n, \t) becomes '?'
 * so the log's tail always travels as a JSON string. */
static void scrub(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			s[i] = '?';
	}
}

static cJSON *op_logs(forge *f, const cJSON *req)
{
	bool all;
	pthread_mutex_lock(&f->lock);
	long i = find_tool(f, req, "logs", true, &all);
	pthread_mutex_unlock(&f->lock);
	if (i < 0)
		return NULL;
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(req, "bytes");
	double want = cJSON_IsNumber(b) ? b->valuedouble : LOG_TAIL_DEFAULT;
	size_t n = want < 1 ? 1 : want > LOG_TAIL_MAX ? LOG_TAIL_MAX
						      : (size_t)want;
	const char *path = f->tools[i].desc.log_path;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "tool", f->tools[i].desc.name);
	cJSON_AddStringToObject(o, "log", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (e == ENOENT) { /* never started: an empty log */
			cJSON_AddNumberToObject(o, "size", 0);
			cJSON_AddStringToObject(o, "text", "");
			return o;
		}
		cJSON_Delete(o);
		f->host->fail(f->host, -e, "logs: %s: %s", path, strerror(e));
		return NULL;
	}
	off_t from = st.st_size > (off_t)n ? st.st_size - (off_t)n : 0;
	char *buf = malloc(n + 1);
	ssize_t got = buf ? pread(fd, buf, n, from) : -1;
	close(fd);
	if (got < 0) {
		free(buf);
		cJSON_Delete(o);
		f->host->fail(f->host, -EIO, "logs: cannot read %s", path);
		return NULL;
	}
	buf[got] = '\0';
	char *text = buf;
	if (from > 0) { /* start at a whole line */
		char *nl = memchr(buf, '\n', (size_t)got);
		if (nl)
			text = nl + 1;
	}
	scrub(text, strlen(text));
	cJSON_AddNumberToObject(o, "size", (double)st.st_size);
	cJSON_AddBoolToObject(o, "truncated", from > 0);
	cJSON_AddStringToObject(o, "text", text);
	free(buf);
	return o;
}

/* ---- background tasks (host->enqueue) ---- */

/* On the background thread that ran (or dropped) the task. */
static void task_done(void *arg, const char *task, int rc, const char *msg)
{
	forge *f = arg;
	f->host->log(f->host, rc < 0 ? DX_LOG_WARN : DX_LOG_INFO, "%s: %s",
		     task, msg);
	pthread_mutex_lock(&f->lock);
	if (f->nresults == sizeof f->results / sizeof f->results[0]) {
		memmove(f->results, f->results + 1,
			sizeof f->results - sizeof f->results[0]);
		f->nresults--;
	}
	struct forge_task_result *r = &f->results[f->nresults++];
	snprintf(r->task, sizeof r->task, "%s", task);
	r->rc = rc;
	snprintf(r->message, sizeof r->message, "%s", msg);
	pthread_mutex_unlock(&f->lock);
}

static const char *req_str(const cJSON *req, const char *key, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
	return cJSON_IsString(v) ? v->valuestring : def;
}

static dx_forge_task *task_sync(forge *f, const cJSON *req,
				const char *project)
{
	dx_s3_conf s3 = {
		.endpoint = req_str(req, "endpoint", NULL),
		.bucket = req_str(req, "bucket", NULL),
		.region = req_str(req, "region", NULL),
		.prefix = req_str(req, "prefix", NULL),
	};
	if (!s3.endpoint || !s3.bucket) {
		f->host->fail(f->host, -EINVAL,
			      "sync needs \"endpoint\" and \"bucket\"");
		return NULL;
	}
	/* Credentials only for a request that will be tried. */
	char *ak = NULL, *sk = NULL;
	dx_fx_err e = {0};
	if (dx_s3_credentials(req_str(req, "credentials", NULL), &ak, &sk,
			      &e) < 0) {
		f->host->fail(f->host, -ENOENT, "sync: %s", e.msg);
		return NULL;
	}
	s3.access_key = ak;
	s3.secret_key = sk;
	dx_forge_task *t = dx_forge_task_sync(project, &s3);
	free(ak);
	memset(sk, 0, strlen(sk));
	free(sk);
	return t;
}

/* {"op": "task", "kind": "snapshot"|"analyse"|"prefetch"|"sync", ...}:
 * queued on the host's background threads; "tasks" shows how they went. */
static cJSON *op_task(forge *f, const cJSON *req)
{
	const char *kind = req_str(req, "kind", "");
	const char *project = req_str(req, "project", ".");
	dx_forge_task *t = NULL;
	if (!strcmp(kind, "snapshot"))
		t = dx_forge_task_snapshot(project);
	else if (!strcmp(kind, "analyse"))
		t = dx_forge_task_analyse(project, req_str(req, "report", NULL));
	else if (!strcmp(kind, "prefetch")) {
		const char *reg = req_str(req, "registry", NULL),
			   *name = req_str(req, "name", NULL),
			   *ver = req_str(req, "version", NULL);
		if (reg && name && ver)
			t = dx_forge_task_prefetch(reg, project, name, ver);
		else
			f->host->fail(f->host, -EINVAL,
				      "prefetch needs \"registry\", \"name\" "
				      "and \"version\"");
	} else if (!strcmp(kind, "sync"))
		t = task_sync(f, req, project);
	else
		f->host->fail(f->host, -EINVAL,
			      "unknown task \"%s\"; use snapshot, analyse, "
			      "prefetch or sync",
			      kind);
	if (!t)
		return NULL;
	const char *name = dx_forge_task_name(t);
	dx_forge_task_on_done(t, task_done, f);
	if (f->host->enqueue(f->host, name, dx_forge_task_run,
			     dx_forge_task_drop, t) < 0)
		return NULL; /* drop ran, and told task_done */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "queued", name);
	return o;
}

static cJSON *op_tasks(forge *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "tasks");
	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < f->nresults; i++) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "task", f->results[i].task);
		cJSON_AddNumberToObject(r, "rc", f->results[i].rc);
		cJSON_AddStringToObject(r, "message", f->results[i].message);
		cJSON_AddItemToArray(arr, r);
	}
	pthread_mutex_unlock(&f->lock);
	return o;
}

char *forge_control(void *arg, const char *request)
{
	forge *f = arg;
	cJSON *req = cJSON_Parse(request);
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	const char *name = cJSON_IsString(op) ? op->valuestring : "status";
	cJSON *o = NULL;
	if (strcmp(name, "status") == 0)
		o = op_status(f);
	else if (!strcmp(name, "up") || !strcmp(name, "stop") ||
		 !strcmp(name, "restart"))
		o = op_change(f, req, name);
	else if (strcmp(name, "logs") == 0)
		o = op_logs(f, req);
	else if (strcmp(name, "task") == 0)
		o = op_task(f, req);
	else if (strcmp(name, "tasks") == 0)
		o = op_tasks(f);
	else
		f->host->fail(f->host, -EINVAL,
			      "unknown op \"%s\"; use status, up, stop, "
			      "restart, logs, task or tasks",
			      name);
	cJSON_Delete(req);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	/* The host frees the answer with free(): cJSON allocates with
	 * malloc unless told otherwise. */
	return text;
}
