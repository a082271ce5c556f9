/* test_@NAME@ - @NAME@'s test on the dx plugin test kit (dx/testing.h): a
 * dx host inside this process loads routes_hello (shipped with dx, from
 * PLUGINDIR) and @NAME@.so with the real loader, puts @NAME@ around every
 * route, and calls through the host's pipeline.
 *
 * usage: test_@NAME@ PLUGIN.so PLUGINDIR   (meson test passes both) */
#include <stdio.h>
#include <string.h>

#include <dx/testing.h>

@CHECK@

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PLUGIN.so PLUGINDIR\n", argv[0]);
		return 2;
	}
	char err[1024], hello[4096];
	snprintf(hello, sizeof hello, "%s/routes_hello.so", argv[2]);
	dx_test_host *h = dx_test_host_new();
	CHECK(h != NULL);
	if (dx_test_load(h, hello, NULL, err, sizeof err) < 0 ||
	    dx_test_load(h, argv[1], "{\"deny\": \"mallory\"}", err,
			 sizeof err) < 0 ||
	    dx_test_use(h, "@NAME@", err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const dx_test_reply *r;
	CHECK(dx_test_call_route(h, "hello", "dx", 2, &r) == 0);
	CHECK(r->answered && r->status == 0);
	CHECK(strcmp(r->body, "hello, dx!") == 0);
	const char *tag = dx_test_meta_get(r, "x-@NAME@", NULL);
	CHECK(tag && strcmp(tag, "seen") == 0);
	/* Refused before the route runs; the after hook still tags it. */
	CHECK(dx_test_call_route(h, "hello", "mallory", 7, &r) == 0);
	CHECK(r->answered && r->status == 403);
	CHECK(strcmp(r->body, "denied by @NAME@") == 0);
	CHECK(dx_test_meta_get(r, "x-@NAME@", NULL) != NULL);
	uint64_t denied = 0;
	CHECK(dx_test_counter(h, "@NAME@.denied", &denied) == 0 &&
	      denied == 1);
	dx_test_host_free(h);

	/* A config it refuses, naming the key. */
	h = dx_test_host_new();
	CHECK(dx_test_load(h, argv[1], "{\"tag\": \"\"}", err, sizeof err) <
	      0);
	CHECK(strstr(err, "config.tag") != NULL);
	dx_test_host_free(h);
	printf("ok\n");
	return 0;
}
