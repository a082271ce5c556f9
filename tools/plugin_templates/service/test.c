/* test_@NAME@ - @NAME@'s test on the dx plugin test kit (dx/testing.h): a
 * dx host inside this process loads @NAME@.so with the real loader, finds
 * its SERVICE facet as another plugin would (host->lookup) and calls it.
 *
 * usage: test_@NAME@ PLUGIN.so [PLUGINDIR]   (meson test passes both) */
#include <stdio.h>
#include <string.h>

#include <dx/testing.h>

@CHECK@

/* The service's vtable, as @NAME@.c declares it. */
struct @NAME@_service {
	uint32_t size;
	uint64_t (*next)(void *self);
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PLUGIN.so [PLUGINDIR]\n", argv[0]);
		return 2;
	}
	char err[1024];
	dx_test_host *h = dx_test_host_new();
	CHECK(h != NULL);
	if (dx_test_load(h, argv[1], "{\"start\": 41}", err, sizeof err) < 0) {
		fprintf(stderr, "load %s: %s\n", argv[1], err);
		return 1;
	}
	dx_facet_ref ref;
	CHECK(dx_test_lookup(h, DX_FACET_SERVICE, "@NAME@", &ref) == 0);
	const struct @NAME@_service *svc = ref.vtable;
	CHECK(svc->size >= sizeof *svc);
	CHECK(svc->next(ref.self) == 41);
	CHECK(svc->next(ref.self) == 42);
	uint64_t n = 0;
	CHECK(dx_test_counter(h, "@NAME@.handed_out", &n) == 0 && n == 2);
	dx_test_host_free(h);

	/* A config it refuses, naming the key. */
	h = dx_test_host_new();
	CHECK(dx_test_load(h, argv[1], "{\"start\": -1}", err, sizeof err) <
	      0);
	CHECK(strstr(err, "config.start") != NULL);
	dx_test_host_free(h);
	printf("ok\n");
	return 0;
}
