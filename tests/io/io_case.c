/* io_case.c - io_case.h: the backend under test and what its cases
 * share. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cJSON.h>

#include <dx/io.h>

#include "diag.h"
#include "io_case.h"
#include "io_sys.h"
#include "loader.h"
#include "registry.h"

const dx_io_vtable *vt;
void *vself;

/* ---- helpers ---- */

dx_io *io_new(uint32_t buf_count, uint32_t buf_size)
{
	dx_io_params p = {.size = sizeof p,
			  .queue_depth = 256,
			  .buf_count = buf_count,
			  .buf_size = buf_size};
	dx_io *io = NULL;
	int rc = vt->create(vself, &p, &io);
	ck_assert_msg(rc == 0 && io, "create: %s", strerror(-rc));
	return io;
}

void tcp_pair(int *a, int *b, int bufsz)
{
	uint16_t port;
	int l = listener(&port);
	*b = connect_to(port);
	set_nb(l, false);
	*a = sys_accept(l);
	ck_assert_int_ge(*a, 0);
	sys_close(l);
	set_nb(*a, true);
	if (bufsz > 0) {
		set_bufs(*a, bufsz);
		set_bufs(*b, bufsz);
	}
}

int io_wait(dx_io *io, dx_io_cqe *c, unsigned max, int ms)
{
	ck_assert_int_ge(vt->submit(io), 0);
	int n = vt->wait(io, c, max, ms);
	ck_assert_msg(n >= 0 && (unsigned)n <= max, "wait: %d", n);
	return n;
}

uint8_t pat(uint32_t salt, uint64_t i)
{
	uint32_t w = (uint32_t)(i >> 2) * 2654435761u + salt;
	return (uint8_t)(w >> (8 * (i & 3)));
}

void pat_fill(uint32_t salt, uint64_t at, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(salt, at + i);
}

bool pat_check(uint32_t salt, uint64_t at, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(salt, at + i))
			return false;
	return true;
}

uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* ---- peer threads ---- */

void *writer_main(void *arg)
{
	struct peer *p = arg;
	uint8_t buf[9000];
	uint64_t seed = p->salt;
	p->ok = true;
	while (p->done < p->total) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		size_t n = p->chunk ? p->chunk : 1 + (seed >> 33) % sizeof buf;
		if (n > sizeof buf)
			n = sizeof buf;
		if (n > p->total - p->done)
			n = (size_t)(p->total - p->done);
		pat_fill(p->salt, p->done, buf, n);
		size_t off = 0;
		while (off < n) {
			long w = sys_write(p->fd, buf + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				p->ok = false;
				return NULL;
			}
			off += (size_t)w;
		}
		p->done += n;
		if (p->delay_us)
			sys_usleep(p->delay_us);
	}
	if (p->shut)
		sys_shut_wr(p->fd);
	return NULL;
}

void *reader_main(void *arg)
{
	struct peer *p = arg;
	uint8_t buf[65536];
	size_t chunk = p->chunk && p->chunk < sizeof buf ? p->chunk :
							     sizeof buf;
	while (p->wait_go && !atomic_load(&p->go))
		sys_usleep(1000);
	p->ok = true;
	p->sum = FNV0;
	for (;;) {
		long r = sys_read(p->fd, buf, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (!pat_check(p->salt, p->done, buf, (size_t)r))
			p->ok = false;
		p->sum = fnv(p->sum, buf, (size_t)r);
		p->done += (uint64_t)r;
		if (p->delay_us)
			sys_usleep(p->delay_us);
	}
	return NULL;
}

void peer_start(struct peer *p, void *(*fn)(void *))
{
	ck_assert_int_eq(pthread_create(&p->th, NULL, fn, p), 0);
}

void peer_join(struct peer *p)
{
	ck_assert_int_eq(pthread_join(p->th, NULL), 0);
}

/* ---- loading the backend ---- */

static void log_sink(void *ud, int level, const char *who, const char *msg)
{
	(void)ud;
	(void)level;
	fprintf(stderr, "[%s] %s\n", who, msg);
}

/* Meson's SKIP, with the reason; a failure when DX_IO_REQUIRE is set
 * (the Windows runs: io_iocp is the only Windows backend, so a skip
 * there would hide that nothing was tested). */
static int skip(const char *what, const char *why)
{
	const char *req = getenv("DX_IO_REQUIRE");
	if (req && *req && strcmp(req, "0") != 0) {
		fprintf(stderr, "FAIL: %s: %s (DX_IO_REQUIRE: the backend "
				"must be usable here)\n",
			what, why);
		return 1;
	}
	fprintf(stderr, "SKIP: %s: %s\n", what, why);
	return 77;
}

int io_backend_open(struct io_backend *b, const char *plugin,
		    const char *facet, const char *config_json)
{
	memset(b, 0, sizeof *b);
	/* Lives as long as the registry (dx_registry_add). */
	cJSON *config = config_json ? cJSON_Parse(config_json) : NULL;
	if (config_json && !cJSON_IsObject(config)) {
		fprintf(stderr, "config is not a JSON object: %s\n",
			config_json);
		return 2;
	}
	b->config = config;
	const char *dir = getenv("DX_PLUGINS");
	if (!dir || !*dir) {
		fprintf(stderr, "DX_PLUGINS is not set: run through meson test\n");
		return 2;
	}
	char path[4096];
	if (strchr(plugin, '/'))
		snprintf(path, sizeof path, "%s", plugin);
	else
		snprintf(path, sizeof path, "%s/%s/%s%s", dir, plugin, plugin,
			 sys_dl_suffix);
	if (!sys_file_exists(path))
		return skip(path, "not built (or not readable)");

	dx_registry_opts ro = {.log = log_sink, .log_level = DX_LOG_WARN,
			       .workers = 1};
	dx_registry *reg = dx_registry_new(&ro);
	b->reg = reg;
	dx_diag d = DX_DIAG_INIT;
	dx_load_opts lo = {.allow_writable = true}; /* build dirs may be g+w */
	dx_module m;
	if (dx_module_open(path, &lo, &m, &d) < 0 ||
	    dx_registry_add(reg, &m, config, "plugins[0].config", &d) < 0 ||
	    dx_registry_init_all(reg, &d) < 0) {
		dx_diag_print(&d, stderr, "test_io_backend");
		return 1;
	}
	dx_diag_clear(&d);
	dx_facet_ref ref;
	if (dx_registry_lookup(reg, DX_FACET_IO, facet, &ref) < 0) {
		fprintf(stderr, "%s: no IO facet \"%s\"\n", path, facet);
		return 1;
	}
	vt = ref.vtable;
	vself = ref.self;
	char why[512] = "";
	if (vt->probe(vself, why, sizeof why) < 0)
		return skip(facet, why[0] ? why : "probe says unusable");
	return 0;
}

void io_backend_close(struct io_backend *b)
{
	dx_registry_free(b->reg);
	cJSON_Delete(b->config);
}
