/* @NAME@ - a dx IO backend (made by `dx plugin new`).
 *
 * The contract is dx/io.h: completions {op, result, udata, flags} for
 * accept, recv, send and poll, one backend instance per worker, wake()
 * from any thread. Writing one from nothing is a few hundred lines, so
 * this skeleton starts as a working backend that forwards every operation
 * to another IO facet (config "delegate", the shipped epoll backend by
 * default, which the manifest must load before this plugin): replace the
 * forwarding one operation at a time with your own. Each instance is a
 * struct dx_io of this plugin's own that holds the delegate's instance.
 *
 * Config (plugins[].config):
 *   delegate  the IO facet to forward to (default "epoll", io_epoll's)
 * Counters: @NAME@.instances (backend instances made: one per worker),
 * @NAME@.waits.
 * Refusals: an unknown config key; no loaded IO facet named delegate
 * (init fails and says to load it first).
 */
#include <errno.h>
#include <stdlib.h>

#include <dx/io.h>
#include <dx/plugin.h>

struct plugin {
	const dx_host_api *host;
	dx_facet_ref delegate;
	dx_counter *instances, *waits;
};

/* One per worker; used only on that worker's thread, but wake. */
struct dx_io {
	struct plugin *p;
	const dx_io_vtable *vt; /* the delegate's */
	dx_io *inner;
};

static int io_probe(void *self, char *why, size_t why_len)
{
	struct plugin *p = self;
	const dx_io_vtable *vt = p->delegate.vtable;
	return vt->probe(p->delegate.self, why, why_len);
}

static int io_create(void *self, const dx_io_params *params, dx_io **out)
{
	struct plugin *p = self;
	dx_io *io = calloc(1, sizeof *io);
	if (!io)
		return -ENOMEM;
	io->p = p;
	io->vt = p->delegate.vtable;
	int rc = io->vt->create(p->delegate.self, params, &io->inner);
	if (rc < 0) {
		free(io);
		return rc;
	}
	p->host->counter_add(p->instances, 1);
	*out = io;
	return 0;
}

static void io_destroy(dx_io *io)
{
	io->vt->destroy(io->inner);
	free(io);
}

static int io_accept(dx_io *io, int listen_fd, uint64_t udata)
{
	return io->vt->accept(io->inner, listen_fd, udata);
}

static int io_recv(dx_io *io, int fd, uint64_t udata)
{
	return io->vt->recv(io->inner, fd, udata);
}

static int io_send(dx_io *io, int fd, const void *buf, size_t len,
		   uint64_t udata, uint32_t flags)
{
	return io->vt->send(io->inner, fd, buf, len, udata, flags);
}

static int io_poll(dx_io *io, int fd, uint32_t events, uint64_t udata)
{
	return io->vt->poll(io->inner, fd, events, udata);
}

static int io_timeout(dx_io *io, uint64_t ns, uint64_t udata)
{
	return io->vt->timeout(io->inner, ns, udata);
}

static int io_timeout_cancel(dx_io *io, uint64_t udata)
{
	return io->vt->timeout_cancel(io->inner, udata);
}

static int io_detach(dx_io *io, int fd)
{
	return io->vt->detach(io->inner, fd);
}

static int io_submit(dx_io *io)
{
	return io->vt->submit(io->inner);
}

static int io_wait(dx_io *io, dx_io_cqe *cqes, unsigned max, int timeout_ms)
{
	io->p->host->counter_add(io->p->waits, 1);
	return io->vt->wait(io->inner, cqes, max, timeout_ms);
}

static void io_buf_release(dx_io *io, uint16_t buf_id)
{
	io->vt->buf_release(io->inner, buf_id);
}

static int io_wake(dx_io *io)
{
	return io->vt->wake(io->inner);
}

static int plugin_init(const dx_host_api *host, const dx_config *config,
		       void **self)
{
	static const char *const keys[] = {"delegate", NULL};
	const char *name;
	int rc = host->config_keys(host, config, keys);
	if (rc == 0)
		rc = host->config_str(host, config, "delegate", "epoll", &name);
	if (rc < 0)
		return rc;
	struct plugin *p = calloc(1, sizeof *p);
	if (!p)
		return host->fail(host, -ENOMEM, "out of memory");
	p->host = host;
	if (host->lookup(host, DX_FACET_IO, name, &p->delegate) < 0) {
		free(p);
		return host->fail(host, -ENOENT,
				  "no IO facet \"%s\" to delegate to: load its "
				  "plugin (io_epoll for \"epoll\") before "
				  "@NAME@ in the manifest",
				  name);
	}
	p->instances = host->counter(host, "instances", "instances made");
	p->waits = host->counter(host, "waits", "waits for completions");
	if (!p->instances || !p->waits) {
		free(p);
		return host->fail(host, -ENOMEM, "out of memory");
	}
	*self = p;
	return 0;
}

static void plugin_fini(void *self)
{
	free(self);
}

/* caps 0: readiness emulated, no send_zc (the host then never asks for
 * it); set DX_IO_CAP_* as your own code earns them. */
static const dx_io_vtable plugin_vtable = {
	.size = sizeof(dx_io_vtable),
	.caps = 0,
	.probe = io_probe,
	.create = io_create,
	.destroy = io_destroy,
	.accept = io_accept,
	.recv = io_recv,
	.send = io_send,
	.poll = io_poll,
	.timeout = io_timeout,
	.timeout_cancel = io_timeout_cancel,
	.detach = io_detach,
	.submit = io_submit,
	.wait = io_wait,
	.buf_release = io_buf_release,
	.wake = io_wake,
};

/* The manifest picks it with "io": {"backend": "@NAME@"}. */
static const dx_facet plugin_facets[] = {
	{DX_FACET_IO, "@NAME@", &plugin_vtable},
};

DX_PLUGIN(.name = "@NAME@", .version = "0.1.0",
	  .description = "an IO backend that forwards to another one",
	  DX_FACETS(plugin_facets), .init = plugin_init, .fini = plugin_fini)
