/* io_case.h - what the IO backend tests (test_io_backend.c, and a
 * backend's own test such as test_io_iocp.c) share: the backend under
 * test, loaded through the real loader and registry; instances, waiting,
 * arming; the byte pattern of the test streams; and peer threads that
 * write or read them. Helpers fail the running case through Check
 * (tests/io/win/check.h on Windows). The test's main thread only, except
 * the peers' own threads. */
#ifndef DX_TEST_IO_CASE_H
#define DX_TEST_IO_CASE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include <dx/io.h>

#include "io_sys.h"

/* The backend under test (io_backend_open). */
extern const dx_io_vtable *vt;
extern void *vself;

struct dx_registry;

/* The plugin, its registry and config. */
struct io_backend {
	struct dx_registry *reg;
	void *config; /* a cJSON object, or NULL */
};

/* Load PLUGIN (a name under $DX_PLUGINS, or a file when it has a '/')
 * with its config (JSON text, or NULL), find its IO facet FACET, probe
 * it, and set vt and vself: 0, 77 (meson's SKIP: not built, or the probe
 * says unusable here, with the reason printed), or 1 or 2 (an error,
 * printed). */
int io_backend_open(struct io_backend *b, const char *plugin,
		    const char *facet, const char *config_json);
void io_backend_close(struct io_backend *b);

/* A connected TCP pair: *a non-blocking (the backend's side), *b
 * blocking (a peer thread's). bufsz > 0 shrinks both sides' buffers. */
void tcp_pair(int *a, int *b, int bufsz);

/* An instance with buf_count buffers of buf_size bytes (0: defaults). */
dx_io *io_new(uint32_t buf_count, uint32_t buf_size);
/* Submit and wait; a sane count. */
int io_wait(dx_io *io, dx_io_cqe *c, unsigned max, int ms);

/* Queue an operation; on -EBUSY (queue full) submit and retry. */
#define ARM(io, call)                                                      \
	do {                                                               \
		int rc_;                                                   \
		while ((rc_ = (call)) == -EBUSY)                           \
			ck_assert_int_ge(vt->submit(io), 0);               \
		ck_assert_msg(rc_ == 0, "%s: %s", #call, strerror(-rc_));  \
	} while (0)

/* Loop until cond, failing after ms. */
#define UNTIL(cond, ms, what)                                              \
	for (uint64_t end_ = now_us() + (uint64_t)(ms) * 1000u; !(cond);   \
	     ck_assert_msg(now_us() < end_, "timed out waiting for %s",   \
			   what))

/* Byte i of stream salt: a counter stream, so a lost, duplicated or
 * reordered byte shows. */
uint8_t pat(uint32_t salt, uint64_t i);
void pat_fill(uint32_t salt, uint64_t at, uint8_t *p, size_t n);
bool pat_check(uint32_t salt, uint64_t at, const uint8_t *p, size_t n);
uint64_t fnv(uint64_t h, const uint8_t *p, size_t n);
#define FNV0 0xcbf29ce484222325u

/* ---- peer threads ---- */

struct peer {
	int fd;
	uint32_t salt;
	uint64_t total;    /* writer: bytes to write; reader: max to read */
	unsigned delay_us; /* between chunks */
	size_t chunk;
	atomic_int go;     /* reader: start when set (if wait_go) */
	bool wait_go;
	bool shut;         /* writer: shutdown(SHUT_WR) when done */
	/* results */
	uint64_t done;
	uint64_t sum;
	bool ok;
	pthread_t th;
};

void *writer_main(void *arg);
void *reader_main(void *arg);
void peer_start(struct peer *p, void *(*fn)(void *));
void peer_join(struct peer *p);

#endif
