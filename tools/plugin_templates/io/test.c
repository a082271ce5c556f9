/* test_@NAME@ - @NAME@'s test on the dx plugin test kit (dx/testing.h): a
 * dx host inside this process loads io_epoll (shipped with dx, from
 * PLUGINDIR) and @NAME@.so with the real loader, finds the IO facet as
 * the host's backend picker would and drives one instance: probe, create,
 * wake, wait for the wake's completion, destroy.
 *
 * usage: test_@NAME@ PLUGIN.so PLUGINDIR   (meson test passes both) */
#include <stdio.h>
#include <string.h>

#include <dx/io.h>
#include <dx/testing.h>

@CHECK@

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PLUGIN.so PLUGINDIR\n", argv[0]);
		return 2;
	}
	char err[1024], epoll[4096];
	snprintf(epoll, sizeof epoll, "%s/io_epoll.so", argv[2]);
	dx_test_host *h = dx_test_host_new();
	CHECK(h != NULL);
	/* Without its delegate it refuses, and says what to load. */
	CHECK(dx_test_load(h, argv[1], NULL, err, sizeof err) < 0);
	CHECK(strstr(err, "io_epoll") != NULL);
	if (dx_test_load(h, epoll, NULL, err, sizeof err) < 0 ||
	    dx_test_load(h, argv[1], NULL, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	dx_facet_ref ref;
	CHECK(dx_test_lookup(h, DX_FACET_IO, "@NAME@", &ref) == 0);
	const dx_io_vtable *vt = ref.vtable;
	char why[256] = "";
	CHECK(vt->probe(ref.self, why, sizeof why) == 0);
	dx_io_params params = {.size = sizeof params, .queue_depth = 64,
			       .buf_count = 16, .buf_size = 4096};
	dx_io *io;
	CHECK(vt->create(ref.self, &params, &io) == 0);
	CHECK(vt->wake(io) == 0);
	dx_io_cqe cqes[8];
	int n = vt->wait(io, cqes, 8, 1000);
	CHECK(n >= 1);
	bool woke = false;
	for (int i = 0; i < n; i++)
		woke |= cqes[i].op == DX_IO_WAKE;
	CHECK(woke);
	vt->destroy(io);
	uint64_t made = 0, waits = 0;
	CHECK(dx_test_counter(h, "@NAME@.instances", &made) == 0 && made == 1);
	CHECK(dx_test_counter(h, "@NAME@.waits", &waits) == 0 && waits >= 1);
	dx_test_host_free(h);
	printf("ok\n");
	return 0;
}
