/* test_loader.c - host/src/loader.c: a good plugin loads; each refusal
 * class, a real .so from tests/plugins, gives its code and a message that
 * names the file (and both ABI versions where they matter); the permission
 * rule; and dx_descriptor_check on descriptors made in memory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"
#include "loader.h"
#include "testplug.h"
#include "tp_refusals.h"
#include "testutil.h"

/* The test plugins are loaded from the build tree, whose mode depends on
 * the builder's umask; the permission rule has tests of its own below. */
static const dx_load_opts any_mode = {.allow_writable = true};

START_TEST(test_good_loads)
{
	char *path = tu_tp("good");
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, &any_mode, &m, &d);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_uint_eq(d.count, 0);
	ck_assert_ptr_nonnull(m.handle);
	ck_assert_str_eq(m.path, path);
	const dx_plugin *p = m.desc;
	ck_assert_uint_eq(p->magic, DX_PLUGIN_MAGIC);
	ck_assert_uint_eq(p->abi_major, DX_ABI_MAJOR);
	ck_assert_uint_eq(p->abi_minor, DX_ABI_MINOR);
	ck_assert_uint_eq(p->size, sizeof(dx_plugin));
	ck_assert_str_eq(p->name, "good");
	ck_assert_str_eq(p->version, "1.2.3");
	ck_assert_ptr_nonnull(p->init);
	ck_assert_ptr_nonnull(p->fini);
	ck_assert_uint_eq(p->facet_count, 2);
	ck_assert_uint_eq(p->facets[0].kind, DX_FACET_ROUTES);
	ck_assert_str_eq(p->facets[0].name, "good_routes");
	ck_assert_uint_eq(p->facets[1].kind, DX_FACET_SERVICE);
	ck_assert_str_eq(p->facets[1].name, "good_svc");
	const dx_routes_vtable *vt = p->facets[0].vtable;
	ck_assert_uint_eq(vt->size, sizeof *vt);
	ck_assert_uint_eq(vt->count, 2);
	ck_assert_uint_eq(vt->routes[0].id, 100);
	ck_assert_str_eq(vt->routes[0].name, "good.ping");
	ck_assert_uint_eq(vt->routes[1].id, 101);
	const tp_service_vtable *svc = p->facets[1].vtable;
	ck_assert_uint_eq(svc->size, sizeof *svc);

	/* dx plugin inspect prints what was loaded. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(out);
	dx_module_describe(&m, out);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "good"));
	ck_assert_ptr_nonnull(strstr(text, "1.2.3"));
	ck_assert_ptr_nonnull(strstr(text, "ROUTES good_routes"));
	ck_assert_ptr_nonnull(strstr(text, "SERVICE good_svc"));
	ck_assert_ptr_nonnull(strstr(text, "route 100 good.ping"));
	free(text);

	dx_module_close(&m);
	ck_assert_ptr_null(m.handle);
	ck_assert_ptr_null(m.path);
	dx_diag_clear(&d);
	free(path);
}
END_TEST

#define N_REFUSALS (int)(sizeof refusals / sizeof refusals[0])

START_TEST(test_refusal)
{
	const struct refusal *t = &refusals[_i];
	char *path = tu_tp(t->plugin);
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, &any_mode, &m, &d);
	ck_assert_msg(rc == t->code, "%s: rc %d (%s), expected %s: %s",
		      t->plugin, rc, dx_err_name(rc), dx_err_name(t->code),
		      tu_diag_all(&d));
	/* Nothing stays loaded. */
	ck_assert_ptr_null(m.handle);
	ck_assert_ptr_null(m.path);
	ck_assert_ptr_null(m.desc);
	ck_assert_uint_eq(d.count, 1);
	tu_assert_diag_has(&d, path);
	for (int k = 0; k < 3 && t->says[k]; k++)
		tu_assert_diag_has(&d, t->says[k]);
	dx_diag_clear(&d);
	free(path);
}
END_TEST

START_TEST(test_not_a_shared_object)
{
	char *dir = tu_tmpdir();
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/text.so", dir), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an ELF file\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0644), 0);

	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, NULL, &m, &d);
	ck_assert_msg(rc == DX_ENOTSO, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_ptr_null(m.handle);
	tu_assert_diag_has(&d, path);
	tu_assert_diag_has(&d, "not a loadable shared object");
	dx_diag_clear(&d);

	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_missing_file)
{
	char *path = tu_tp("no_such_plugin");
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, NULL, &m, &d);
	ck_assert_msg(rc == -ENOENT, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_ptr_null(m.handle);
	tu_assert_diag_has(&d, path);
	dx_diag_clear(&d);
	free(path);
}
END_TEST

/* A copy of good.so in a fresh directory, for the permission rule. */
struct perm_fixture {
	char *dir;
	char *file;
};

static void perm_setup(struct perm_fixture *f)
{
	char *good = tu_tp("good");
	f->dir = tu_tmpdir();
	ck_assert_int_ge(asprintf(&f->file, "%s/good.so", f->dir), 0);
	tu_copy(good, f->file, 0644);
	free(good);
}

static void perm_teardown(struct perm_fixture *f)
{
	unlink(f->file);
	rmdir(f->dir);
	free(f->file);
	free(f->dir);
}

static int perm_open(const struct perm_fixture *f, const dx_load_opts *opts,
		     dx_diag *d)
{
	dx_module m;
	int rc = dx_module_open(f->file, opts, &m, d);
	if (rc == 0) {
		ck_assert_str_eq(m.desc->name, "good");
		dx_module_close(&m);
	} else {
		ck_assert_ptr_null(m.handle);
	}
	return rc;
}

START_TEST(test_perms_safe_loads)
{
	struct perm_fixture f;
	perm_setup(&f);
	dx_diag d = DX_DIAG_INIT;
	int rc = perm_open(&f, NULL, &d);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_int_eq(dx_module_check_perms(f.file, &d), 0);
	ck_assert_uint_eq(d.count, 0);
	dx_diag_clear(&d);
	perm_teardown(&f);
}
END_TEST

START_TEST(test_perms_file_writable)
{
	static const mode_t modes[] = {0664, 0646, 0666, 0775};
	struct perm_fixture f;
	perm_setup(&f);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		ck_assert_int_eq(chmod(f.file, modes[i]), 0);
		dx_diag d = DX_DIAG_INIT;
		int rc = perm_open(&f, NULL, &d);
		ck_assert_msg(rc == DX_EUNSAFE, "mode %o: rc %d: %s",
			      (unsigned)modes[i], rc, tu_diag_all(&d));
		ck_assert_uint_eq(d.count, 1);
		tu_assert_diag_has(&d, "writable");
		tu_assert_diag_has(&d, "file");
		tu_assert_diag_has(&d, f.file);
		tu_assert_diag_has(&d, "allow_writable");
		dx_diag_clear(&d);
		/* The manifest's override. */
		rc = perm_open(&f, &any_mode, &d);
		ck_assert_msg(rc == 0, "rc %d: %s", rc, tu_diag_all(&d));
		dx_diag_clear(&d);
	}
	perm_teardown(&f);
}
END_TEST

START_TEST(test_perms_dir_writable)
{
	struct perm_fixture f;
	perm_setup(&f);
	ck_assert_int_eq(chmod(f.dir, 0775), 0);
	dx_diag d = DX_DIAG_INIT;
	int rc = perm_open(&f, NULL, &d);
	ck_assert_msg(rc == DX_EUNSAFE, "rc %d: %s", rc, tu_diag_all(&d));
	ck_assert_uint_eq(d.count, 1);
	tu_assert_diag_has(&d, "directory");
	tu_assert_diag_has(&d, "writable");
	/* Named by its real path, and the file the user asked for. */
	char *real = realpath(f.dir, NULL);
	ck_assert_ptr_nonnull(real);
	char *needle = NULL;
	ck_assert_int_ge(asprintf(&needle, "directory %s ", real), 0);
	tu_assert_diag_has(&d, needle);
	tu_assert_diag_has(&d, f.file);
	free(needle);
	free(real);
	dx_diag_clear(&d);

	ck_assert_int_eq(chmod(f.dir, 0757), 0);
	ck_assert_int_eq(dx_module_check_perms(f.file, &d), DX_EUNSAFE);
	dx_diag_clear(&d);

	rc = perm_open(&f, &any_mode, &d);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, tu_diag_all(&d));
	dx_diag_clear(&d);
	ck_assert_int_eq(chmod(f.dir, 0755), 0);
	perm_teardown(&f);
}
END_TEST

/* A relative path without a slash: the permission check stats ./NAME, so
 * the loader must load that same file, not one found along the library
 * search path (meson test puts the test plugins' dir, with a good.so, on
 * LD_LIBRARY_PATH). The local good.so is really rec_a, to tell them apart. */
START_TEST(test_relative_path_loads_checked_file)
{
	char *rec = tu_tp("rec_a");
	char *dir = tu_tmpdir();
	char *file = NULL;
	ck_assert_int_ge(asprintf(&file, "%s/good.so", dir), 0);
	tu_copy(rec, file, 0644);
	char cwd[PATH_MAX];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(dir), 0);
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open("good.so", NULL, &m, &d);
	char name[64] = "";
	if (rc == 0) {
		snprintf(name, sizeof name, "%s", m.desc->name);
		dx_module_close(&m);
	}
	ck_assert_int_eq(chdir(cwd), 0);
	unlink(file);
	rmdir(dir);
	ck_assert_msg(rc == 0 && strcmp(name, "rec_a") == 0,
		      "dx_module_open(\"good.so\") in a directory holding "
		      "rec_a as good.so: rc %d (%s), loaded \"%s\": %s",
		      rc, dx_err_name(rc), name, tu_diag_all(&d));
	dx_diag_clear(&d);
	free(file);
	free(dir);
	free(rec);
}
END_TEST

/* In-memory descriptors: a valid base that each test breaks once. */
static int mem_call(void *self, const dx_request *req, dx_response *res)
{
	return 0;
}

struct mem {
	dx_route routes[3];
	dx_routes_vtable vt;
	dx_routes_vtable vt2;
	dx_route routes2[1];
	uint32_t svc; /* a SERVICE vtable: only the size */
	dx_facet facets[3];
	dx_plugin p;
};

static void mem_init(struct mem *m)
{
	memset(m, 0, sizeof *m);
	m->routes[0] = (dx_route){1, "mem.a", mem_call};
	m->routes[1] = (dx_route){2, "mem.b", mem_call};
	m->routes[2] = (dx_route){3, "mem.c", mem_call};
	m->vt = (dx_routes_vtable){sizeof m->vt, sizeof(dx_route), m->routes,
				   3};
	m->routes2[0] = (dx_route){9, "mem.z", mem_call};
	m->vt2 = (dx_routes_vtable){sizeof m->vt2, sizeof(dx_route), m->routes2,
				    1};
	m->svc = sizeof m->svc;
	m->facets[0] = (dx_facet){DX_FACET_ROUTES, "mem_routes", &m->vt};
	m->facets[1] = (dx_facet){DX_FACET_SERVICE, "mem_svc", &m->svc};
	m->facets[2] = (dx_facet){DX_FACET_ROUTES, "mem_more", &m->vt2};
	m->p = (dx_plugin){
		.magic = DX_PLUGIN_MAGIC,
		.abi_major = DX_ABI_MAJOR,
		.abi_minor = DX_ABI_MINOR,
		.size = sizeof(dx_plugin),
		.name = "mem",
		.version = "0.1.0",
		.facets = m->facets,
		.facet_count = 3,
	};
}

/* Run dx_descriptor_check and assert its code and one phrase. */
static void mem_expect(const struct mem *m, int code, const char *says)
{
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_descriptor_check(&m->p, "mem://test", &d);
	ck_assert_msg(rc == code, "rc %d (%s), expected %s: %s", rc,
		      dx_err_name(rc), dx_err_name(code), tu_diag_all(&d));
	if (code) {
		ck_assert_uint_eq(d.count, 1);
		tu_assert_diag_has(&d, "mem://test");
		if (says)
			tu_assert_diag_has(&d, says);
	} else {
		ck_assert_uint_eq(d.count, 0);
	}
	dx_diag_clear(&d);
}

START_TEST(test_mem_valid)
{
	struct mem m;
	mem_init(&m);
	mem_expect(&m, 0, NULL);
	m.p.facet_count = 0;
	m.p.facets = NULL;
	mem_expect(&m, 0, NULL); /* a plugin with no facets is fine */
	mem_init(&m);
	m.p.description = NULL;
	m.p.size = sizeof(dx_plugin) + 64; /* built by a newer 1.x SDK */
	mem_expect(&m, 0, NULL);
	mem_init(&m);
	m.vt.count = 0;
	m.vt.routes = NULL;
	mem_expect(&m, 0, NULL);
}
END_TEST

START_TEST(test_mem_facet_table)
{
	struct mem m;
	mem_init(&m);
	m.p.facets = NULL;
	mem_expect(&m, DX_EFACET, "count 3");
	mem_init(&m);
	m.p.facet_count = 100000;
	mem_expect(&m, DX_EFACET, "count 100000");
	mem_init(&m);
	m.p.facet_count = UINT32_MAX;
	mem_expect(&m, DX_EFACET, "malformed facet table");
}
END_TEST

START_TEST(test_mem_facets)
{
	struct mem m;
	mem_init(&m);
	m.facets[1].vtable = NULL;
	mem_expect(&m, DX_EFACET, "no vtable");
	mem_init(&m);
	m.facets[1].name = NULL;
	mem_expect(&m, DX_ENAME, "(null)");
	mem_init(&m);
	m.facets[1].name = "Svc";
	mem_expect(&m, DX_ENAME, "\"Svc\"");
	mem_init(&m);
	m.facets[1].kind = 0;
	mem_expect(&m, DX_EFACET, "unknown kind 0");
	mem_init(&m);
	m.facets[1].kind = DX_FACET_PROTOCOL;
	m.facets[1].name = NULL; /* the kind is refused before the name */
	mem_expect(&m, DX_EFACET, "reserved kind 6");
	mem_init(&m);
	m.svc = 0;
	mem_expect(&m, DX_ESIZE, "vtable size 0");
	mem_init(&m);
	m.vt.size = (uint32_t)DX_ROUTES_VTABLE_V1_0_SIZE - 1;
	mem_expect(&m, DX_ESIZE, "mem_routes");
	/* The same name under another kind is another facet. */
	mem_init(&m);
	m.facets[1].name = "mem_routes";
	mem_expect(&m, 0, NULL);
	mem_init(&m);
	m.facets[2].name = "mem_routes";
	mem_expect(&m, DX_EDUP, "facets 0 and 2");
}
END_TEST

START_TEST(test_mem_names)
{
	struct mem m;
	mem_init(&m);
	m.p.name = NULL;
	mem_expect(&m, DX_ENAME, "(null)");
	mem_init(&m);
	m.p.name = "";
	mem_expect(&m, DX_ENAME, "invalid plugin name");
	char long_name[65];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	mem_init(&m);
	m.p.name = long_name;
	mem_expect(&m, DX_ENAME, "at most 63 bytes");
	long_name[63] = '\0';
	m.p.name = long_name;
	mem_expect(&m, 0, NULL);
	mem_init(&m);
	m.p.version = "";
	mem_expect(&m, DX_ENAME, "no version");
	mem_init(&m);
	m.p.version = NULL;
	mem_expect(&m, DX_ENAME, "no version");
}
END_TEST

START_TEST(test_mem_prefix)
{
	struct mem m;
	mem_init(&m);
	m.p.magic = 0;
	m.p.name = NULL; /* nothing past the prefix is read */
	mem_expect(&m, DX_EMAGIC, "magic");
	mem_init(&m);
	m.p.abi_major = 0;
	char want[16]; /* the versions as the loader prints them */
	snprintf(want, sizeof want, "0.%d", DX_ABI_MINOR);
	mem_expect(&m, DX_EABI, want);
	mem_init(&m);
	m.p.abi_minor = DX_ABI_MINOR + 7;
	snprintf(want, sizeof want, "1.%d", DX_ABI_MINOR + 7);
	mem_expect(&m, DX_EABI, want);
	mem_init(&m);
	m.p.size = (uint32_t)DX_PLUGIN_V1_0_SIZE - 1;
	mem_expect(&m, DX_ESIZE, "smaller than the ABI 1.0 size");
	mem_init(&m);
	m.p.size = DX_PLUGIN_PREFIX_SIZE;
	m.p.facets = NULL;
	mem_expect(&m, DX_ESIZE, NULL);
}
END_TEST

START_TEST(test_mem_routes)
{
	struct mem m;
	mem_init(&m);
	m.routes[1].name = NULL;
	mem_expect(&m, DX_ENAME, "(null)");
	mem_init(&m);
	m.routes[2].id = 0;
	mem_expect(&m, DX_ENAME, "id 0");
	mem_init(&m);
	m.routes[2].call = NULL;
	mem_expect(&m, DX_ENAME, "no handler");
	mem_init(&m);
	m.routes[2].name = ".mem";
	mem_expect(&m, DX_ENAME, "\".mem\"");
	mem_init(&m);
	m.vt.route_size = (uint32_t)DX_ROUTE_V1_0_SIZE - 1;
	mem_expect(&m, DX_ESIZE, "route_size");
	mem_init(&m);
	m.vt.route_size = 0;
	mem_expect(&m, DX_ESIZE, "route_size 0");
	mem_init(&m);
	m.vt.routes = NULL;
	mem_expect(&m, DX_ESIZE, "malformed route table");
	mem_init(&m);
	m.vt.count = 1u << 30;
	mem_expect(&m, DX_ESIZE, "malformed route table");
	mem_init(&m);
	m.routes[2].id = 1;
	mem_expect(&m, DX_EDUP, "share an id");
	mem_init(&m);
	m.routes[2].name = "mem.a";
	mem_expect(&m, DX_EDUP, "(id 3, \"mem.a\")");
}
END_TEST

/* Two route tables of one plugin that use the same id: the registry only
 * compares against other plugins, so the loader has to catch it. */
START_TEST(test_mem_routes_dup_across_tables)
{
	struct mem m;
	mem_init(&m);
	m.routes2[0].id = 2;
	mem_expect(&m, DX_EDUP, "id 2");
	mem_init(&m);
	m.routes2[0].name = "mem.b";
	mem_expect(&m, DX_EDUP, "mem.b");
}
END_TEST

/* A route table from a newer SDK whose dx_route grew: the loader steps by
 * route_size, so it sees every route (here the duplicate in the 3rd). */
START_TEST(test_mem_routes_bigger_route_size)
{
	struct big_route {
		dx_route r;
		uint64_t added_later[3];
	} big[3] = {
		{{1, "big.a", mem_call}, {0}},
		{{2, "big.b", mem_call}, {0}},
		{{3, "big.c", mem_call}, {0}},
	};
	struct mem m;
	mem_init(&m);
	m.vt.route_size = sizeof big[0];
	m.vt.routes = &big[0].r;
	mem_expect(&m, 0, NULL);
	big[2].r.id = 1;
	mem_expect(&m, DX_EDUP, "\"big.c\"");
	big[2].r.id = 3;
	big[2].r.name = "Big";
	mem_expect(&m, DX_ENAME, "\"Big\"");
}
END_TEST

START_TEST(test_facet_min_size)
{
	ck_assert_uint_eq(dx_facet_min_size(DX_FACET_ROUTES),
			  DX_ROUTES_VTABLE_V1_0_SIZE);
	ck_assert_uint_eq(dx_facet_min_size(DX_FACET_SERVICE),
			  sizeof(uint32_t));
	ck_assert_uint_ge(dx_facet_min_size(DX_FACET_IO), sizeof(uint32_t));
	ck_assert_uint_eq(dx_facet_min_size(DX_FACET_PROTOCOL), 0);
	ck_assert_uint_eq(dx_facet_min_size(0), 0);
	ck_assert_uint_eq(dx_facet_min_size(99), 0);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("files");
	tcase_add_test(tc, test_good_loads);
	tcase_add_loop_test(tc, test_refusal, 0, N_REFUSALS);
	tcase_add_test(tc, test_not_a_shared_object);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("perms");
	tcase_add_test(tc, test_perms_safe_loads);
	tcase_add_test(tc, test_perms_file_writable);
	tcase_add_test(tc, test_perms_dir_writable);
	tcase_add_test(tc, test_relative_path_loads_checked_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("descriptor");
	tcase_add_test(tc, test_mem_valid);
	tcase_add_test(tc, test_mem_facet_table);
	tcase_add_test(tc, test_mem_facets);
	tcase_add_test(tc, test_mem_names);
	tcase_add_test(tc, test_mem_prefix);
	tcase_add_test(tc, test_mem_routes);
	tcase_add_test(tc, test_mem_routes_dup_across_tables);
	tcase_add_test(tc, test_mem_routes_bigger_route_size);
	tcase_add_test(tc, test_facet_min_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return dx_check_run(loader_suite());
}
