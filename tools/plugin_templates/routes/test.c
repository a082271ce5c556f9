/* test_@NAME@ - @NAME@'s test on the dx plugin test kit (dx/testing.h): a
 * dx host inside this process loads @NAME@.so with the real loader and
 * calls its route through the host's pipeline.
 *
 * usage: test_@NAME@ PLUGIN.so [PLUGINDIR]   (meson test passes both) */
#include <stdio.h>
#include <string.h>

#include <dx/testing.h>

@CHECK@

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PLUGIN.so [PLUGINDIR]\n", argv[0]);
		return 2;
	}
	char err[1024];
	dx_test_host *h = dx_test_host_new();
	CHECK(h != NULL);
	if (dx_test_load(h, argv[1], "{\"greeting\": \"hi\"}", err,
			 sizeof err) < 0) {
		fprintf(stderr, "load %s: %s\n", argv[1], err);
		return 1;
	}
	const dx_test_reply *r;
	CHECK(dx_test_call_route(h, "@NAME@", "dx", 2, &r) == 0);
	CHECK(r->answered && r->status == 0);
	CHECK(strcmp(r->body, "hi, dx!") == 0);
	CHECK(dx_test_route_id(h, "@NAME@") == @ID@);
	uint64_t calls = 0;
	CHECK(dx_test_counter(h, "@NAME@.calls", &calls) == 0 && calls == 1);
	CHECK(dx_test_log_has(h, DX_LOG_INFO, "greeting is \"hi\""));
	dx_test_host_free(h);

	/* A config it refuses: init fails naming the key. */
	h = dx_test_host_new();
	CHECK(dx_test_load(h, argv[1], "{\"greting\": \"x\"}", err,
			   sizeof err) < 0);
	CHECK(strstr(err, "greting") != NULL);
	dx_test_host_free(h);
	printf("ok\n");
	return 0;
}
