/* routes_async - a test plugin for the host's post, watch and stream.
 *
 *   push  (60)  args "N": answers "ok", then a thread it starts sends N
 *               StateSync frames ("0", "1", ...) on the call's seq and
 *               ends the stream.
 *   poke  (61)  writes a byte into a pipe that init asked worker 0 to
 *               watch (through post): the watch counts what it reads.
 *   count (62)  answers "<bytes the watch read> <streams closed early>
 *               <rewatches that failed>".
 *   rewatch (63) on worker 0, unwatch the pipe and watch it again in the
 *               same callback: the new watch must work (the old one's
 *               cancellation must not reach it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dx/io.h>
#include <dx/plugin.h>
#include <dx/routes.h>

#define MAX_PUSHERS 64

struct async {
	const dx_host_api *host;
	/* Threads are this test plugin's own (real plugins use post()); fini
	 * joins them so none runs once the host unloads the plugin. */
	pthread_mutex_t lock;
	pthread_t threads[MAX_PUSHERS];
	int nthreads;
	int pipe[2];
	dx_watch *watch;
	_Atomic unsigned long read_bytes;
	_Atomic unsigned long closed;
	_Atomic unsigned long rewatch_failed;
};

struct pusher {
	struct async *a;
	dx_stream *stream;
	int n;
};

static void *push_main(void *arg)
{
	struct pusher *p = arg;
	for (int i = 0; i < p->n; i++) {
		char b[16];
		int len = snprintf(b, sizeof b, "%d", i);
		if (p->a->host->stream_send(p->a->host, p->stream,
					    DX_HBTP_STATE_SYNC, b,
					    (size_t)len) < 0)
			break;
	}
	p->a->host->stream_end(p->a->host, p->stream);
	free(p);
	return NULL;
}

static void push_closed(void *arg)
{
	struct async *a = arg;
	atomic_fetch_add(&a->closed, 1);
}

static int push_call(void *self, const dx_request *req, dx_response *res)
{
	struct async *a = self;
	struct pusher *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->a = a;
	/* The body is not NUL-terminated: parse exactly its bytes. */
	for (size_t i = 0; i < req->body_len && req->body[i] >= '0' &&
			   req->body[i] <= '9' && p->n < 100000000;
	     i++)
		p->n = p->n * 10 + (req->body[i] - '0');
	p->stream = a->host->stream(a->host, req, push_closed, a);
	pthread_mutex_lock(&a->lock);
	int rc = p->stream && a->nthreads < MAX_PUSHERS
			 ? pthread_create(&a->threads[a->nthreads], NULL,
					  push_main, p)
			 : -1;
	if (rc == 0)
		a->nthreads++;
	pthread_mutex_unlock(&a->lock);
	if (rc != 0) {
		if (p->stream)
			a->host->stream_end(a->host, p->stream);
		free(p);
		return dx_response_error(res, 503, "no stream");
	}
	return dx_response_write(res, "ok", 2);
}

static void on_pipe(void *arg, uint32_t revents)
{
	struct async *a = arg;
	char buf[64];
	ssize_t n;
	while ((n = read(a->pipe[0], buf, sizeof buf)) > 0)
		atomic_fetch_add(&a->read_bytes, (unsigned long)n);
}

static void start_watch(void *arg)
{
	struct async *a = arg;
	a->watch = a->host->watch(a->host, a->pipe[0], DX_IO_POLLIN, on_pipe, a);
}

static void do_rewatch(void *arg)
{
	struct async *a = arg;
	a->host->unwatch(a->host, a->watch);
	a->watch = a->host->watch(a->host, a->pipe[0], DX_IO_POLLIN, on_pipe, a);
	if (!a->watch)
		atomic_fetch_add(&a->rewatch_failed, 1);
}

static int rewatch_call(void *self, const dx_request *req, dx_response *res)
{
	struct async *a = self;
	int rc = a->host->post(a->host, 0, do_rewatch, a);
	return rc < 0 ? rc : dx_response_write(res, "ok", 2);
}

static int poke_call(void *self, const dx_request *req, dx_response *res)
{
	struct async *a = self;
	return write(a->pipe[1], "x", 1) == 1 ? dx_response_write(res, "ok", 2)
					       : -errno;
}

static int count_call(void *self, const dx_request *req, dx_response *res)
{
	struct async *a = self;
	return dx_response_printf(res, "%lu %lu %lu",
				  atomic_load(&a->read_bytes),
				  atomic_load(&a->closed),
				  atomic_load(&a->rewatch_failed));
}

/* {"cmd": "async"}: the plugin's own control command. */
static char *async_control(void *arg, const char *request)
{
	struct async *a = arg;
	if (strstr(request, "\"fail\"")) {
		a->host->fail(a->host, -EINVAL, "asked to fail");
		return NULL;
	}
	char *out = NULL;
	if (asprintf(&out, "{\"read\":%lu}", atomic_load(&a->read_bytes)) < 0)
		return NULL;
	return out;
}

static int async_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	struct async *a = calloc(1, sizeof *a);
	if (!a || pipe2(a->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(a);
		return host->fail(host, -errno, "pipe: %s", strerror(errno));
	}
	a->host = host;
	pthread_mutex_init(&a->lock, NULL);
	*self = a;
	int rc = host->control(host, "async", async_control, a);
	if (rc < 0)
		return host->fail(host, rc, "control command: %s",
				  dx_strerror(rc));
	/* Watches are made on a worker: ask worker 0 to make this one. */
	return host->post(host, 0, start_watch, a);
}

static void async_fini(void *self)
{
	struct async *a = self;
	/* The workers have stopped: every stream_send now fails, so each
	 * pusher ends its stream and returns. */
	for (int i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	pthread_mutex_destroy(&a->lock);
	close(a->pipe[0]);
	close(a->pipe[1]);
	free(a);
}

static const dx_route async_routes[] = {
	{.id = 60, .name = "push", .call = push_call},
	{.id = 61, .name = "poke", .call = poke_call},
	{.id = 62, .name = "count", .call = count_call},
	{.id = 63, .name = "rewatch", .call = rewatch_call},
};
static const dx_routes_vtable async_vtable = DX_ROUTES(async_routes);
static const dx_facet async_facets[] = {
	{DX_FACET_ROUTES, "async", &async_vtable},
};

DX_PLUGIN(.name = "routes_async", .version = "1.0.0",
	  .description = "tests the host's post, watch and stream",
	  DX_FACETS(async_facets), .init = async_init, .fini = async_fini)
