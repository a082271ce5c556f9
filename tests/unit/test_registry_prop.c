/* test_registry_prop.c - property tests for the registry and the loader's
 * descriptor check, over random plugins made in memory.
 *
 * The seed comes from DX_TEST_SEED when set, else from the clock; every
 * failure message carries it ("seed N case K"), so DX_TEST_SEED=N replays
 * the failing run exactly. */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "check_main.h"
#include "loader.h"
#include "registry.h"
#include "testutil.h"

#define CASES 250
#define MAX_PLUGINS 8
#define MAX_FACETS 6
#define MAX_ROUTES 5
#define NAME_LEN 24

static unsigned long long seed;

/* splitmix64: small, and the same stream on every platform. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}
static unsigned rnd_below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static const char first_chars[] = "abcdefghijklmnopqrstuvwxyz";
static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
static const char route_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_.";

static void rnd_name(char *out, const char *chars)
{
	size_t len = 1 + rnd_below(NAME_LEN - 1);
	out[0] = first_chars[rnd_below(sizeof first_chars - 1)];
	for (size_t i = 1; i < len; i++)
		out[i] = chars[rnd_below((unsigned)strlen(chars))];
	out[len] = '\0';
}

static int route_fn(void *self, const dx_request *req, dx_response *res)
{
	return 0;
}

/* One random plugin, every pointer into itself; +1 facet of room for the
 * "duplicate facet" defect. */
struct gen {
	char name[DX_NAME_MAX + 8]; /* room for the too-long defect */
	char facet_names[MAX_FACETS + 1][NAME_LEN + 8];
	char route_names[MAX_FACETS][MAX_ROUTES][NAME_LEN + 8];
	dx_route routes[MAX_FACETS][MAX_ROUTES];
	dx_routes_vtable vts[MAX_FACETS];
	uint32_t plain_vts[MAX_FACETS]; /* non-ROUTES: only a size */
	dx_facet facets[MAX_FACETS + 1];
	dx_plugin desc;
	char path[DX_NAME_MAX + 16];
};

/* What one case has handed out so far, to keep names and ids unique. */
struct world {
	struct gen *g[MAX_PLUGINS];
	int n;
	unsigned char route_used[65536];
};

static bool plugin_taken(const struct world *w, const char *name)
{
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->g[i]->name, name) == 0)
			return true;
	return false;
}

static bool facet_taken(const struct world *w, const struct gen *self, int upto,
			uint32_t kind, const char *name)
{
	for (int i = 0; i <= w->n; i++) {
		const struct gen *g = i < w->n ? w->g[i] : self;
		int count = i < w->n ? (int)g->desc.facet_count : upto;
		for (int f = 0; f < count; f++)
			if (g->facets[f].kind == kind &&
			    strcmp(g->facets[f].name, name) == 0)
				return true;
	}
	return false;
}

static bool route_name_taken(const struct world *w, const struct gen *self,
			     const char *name)
{
	for (int i = 0; i <= w->n; i++) {
		const struct gen *g = i < w->n ? w->g[i] : self;
		for (int f = 0; f < MAX_FACETS; f++)
			for (int k = 0; k < MAX_ROUTES; k++)
				if (g->routes[f][k].name &&
				    strcmp(g->routes[f][k].name, name) == 0)
					return true;
	}
	return false;
}

static int dummy_init(const dx_host_api *host, const dx_config *config,
		      void **self)
{
	/* The table is unique per plugin: a self the test can recognise. */
	*self = (void *)host;
	return 0;
}

static bool route_id_taken(const struct world *w, const struct gen *g,
			   uint16_t id)
{
	if (w->route_used[id])
		return true;
	for (int f = 0; f < MAX_FACETS; f++)
		for (int k = 0; k < MAX_ROUTES; k++)
			if (g->routes[f][k].id == id)
				return true;
	return false;
}

/* A random valid plugin, unique against w (not added to it). */
static struct gen *gen_plugin(const struct world *w)
{
	struct gen *g = calloc(1, sizeof *g);
	ck_assert_ptr_nonnull(g);
	do
		rnd_name(g->name, name_chars);
	while (plugin_taken(w, g->name));
	snprintf(g->path, sizeof g->path, "mem://%s", g->name);
	int nf = (int)rnd_below(MAX_FACETS + 1);
	for (int f = 0; f < nf; f++) {
		dx_facet *fa = &g->facets[f];
		fa->kind = DX_FACET_IO + rnd_below(DX_FACET_FORGE_DRIVER);
		do
			rnd_name(g->facet_names[f], name_chars);
		while (facet_taken(w, g, f, fa->kind, g->facet_names[f]));
		fa->name = g->facet_names[f];
		if (fa->kind != DX_FACET_ROUTES) {
			g->plain_vts[f] = (uint32_t)dx_facet_min_size(fa->kind) +
					  rnd_below(64);
			fa->vtable = &g->plain_vts[f];
			continue;
		}
		uint32_t nr = rnd_below(MAX_ROUTES + 1);
		for (uint32_t k = 0; k < nr; k++) {
			uint16_t id;
			do
				id = (uint16_t)(1 + rnd_below(65535));
			while (route_id_taken(w, g, id));
			char *rn = g->route_names[f][k];
			do
				rnd_name(rn, route_chars);
			while (route_name_taken(w, g, rn));
			g->routes[f][k] = (dx_route){id, rn, route_fn};
		}
		g->vts[f] = (dx_routes_vtable){sizeof(dx_routes_vtable),
					       sizeof(dx_route), g->routes[f],
					       nr};
		fa->vtable = &g->vts[f];
	}
	g->desc = (dx_plugin){
		.magic = DX_PLUGIN_MAGIC,
		.abi_major = DX_ABI_MAJOR,
		.abi_minor = DX_ABI_MINOR,
		.size = sizeof(dx_plugin),
		.name = g->name,
		.version = "0.0.1",
		.facets = nf ? g->facets : NULL,
		.facet_count = (uint32_t)nf,
		.init = dummy_init,
	};
	return g;
}

static void world_take(struct world *w, struct gen *g)
{
	for (uint32_t f = 0; f < g->desc.facet_count; f++)
		if (g->facets[f].kind == DX_FACET_ROUTES)
			for (uint32_t k = 0; k < g->vts[f].count; k++)
				w->route_used[g->routes[f][k].id] = 1;
	w->g[w->n++] = g;
}

static void world_free(struct world *w)
{
	for (int i = 0; i < w->n; i++)
		free(w->g[i]);
	w->n = 0;
}

/* Register g's descriptor as a module without a file behind it. */
static int add_mem(dx_registry *r, const struct gen *g, dx_diag *d)
{
	dx_module m = {.path = strdup(g->path), .desc = &g->desc};
	ck_assert_ptr_nonnull(m.path);
	return dx_registry_add(r, &m, NULL, NULL, d);
}

static void quiet_sink(void *ud, int level, const char *who, const char *msg)
{
}

/* Everything registered looks up to itself; nothing else does. */
static void check_world(const dx_registry *r, const struct world *w, int c)
{
	ck_assert_msg(dx_registry_count(r) == (size_t)w->n,
		      "seed %llu case %d: count %zu, expected %d", seed, c,
		      dx_registry_count(r), w->n);
	for (int i = 0; i < w->n; i++) {
		const struct gen *g = w->g[i];
		ck_assert_msg(dx_registry_find(r, g->name) == i,
			      "seed %llu case %d: plugin %s not at %d", seed, c,
			      g->name, i);
		const void *self = NULL;
		for (uint32_t f = 0; f < g->desc.facet_count; f++) {
			const dx_facet *fa = &g->facets[f];
			dx_facet_ref ref;
			int rc =
				dx_registry_lookup(r, fa->kind, fa->name, &ref);
			ck_assert_msg(rc == 0 && ref.vtable == fa->vtable &&
					      strcmp(ref.plugin, g->name) == 0,
				      "seed %llu case %d: facet %s %s of %s: "
				      "rc %d",
				      seed, c, dx_facet_kind_name(fa->kind),
				      fa->name, g->name, rc);
			/* One instance behind all of a plugin's facets. */
			ck_assert_msg(ref.self != NULL &&
					      (!self || ref.self == self),
				      "seed %llu case %d: self of %s", seed, c,
				      g->name);
			self = ref.self;
			if (fa->kind != DX_FACET_ROUTES)
				continue;
			for (uint32_t k = 0; k < g->vts[f].count; k++) {
				const dx_route *rt = &g->routes[f][k];
				const dx_route_ref *rr =
					dx_registry_route(r, rt->id);
				ck_assert_msg(rr && rr->route == rt &&
						      rr->self == self &&
						      strcmp(rr->plugin,
							     g->name) == 0,
					      "seed %llu case %d: route %u %s "
					      "of %s",
					      seed, c, (unsigned)rt->id,
					      rt->name, g->name);
			}
		}
	}
	for (int k = 0; k < 200; k++) {
		uint16_t id = (uint16_t)rnd();
		if (!w->route_used[id])
			ck_assert_msg(dx_registry_route(r, id) == NULL,
				      "seed %llu case %d: phantom route %u",
				      seed, c, (unsigned)id);
		char name[NAME_LEN + 8];
		rnd_name(name, name_chars);
		uint32_t kind = DX_FACET_IO + rnd_below(DX_FACET_FORGE_DRIVER);
		dx_facet_ref ref;
		if (!facet_taken(w, NULL, 0, kind, name))
			ck_assert_msg(dx_registry_lookup(r, kind, name, &ref) ==
					      -ENOENT,
				      "seed %llu case %d: phantom facet %s",
				      seed, c, name);
		if (!plugin_taken(w, name))
			ck_assert_msg(dx_registry_find(r, name) == -1,
				      "seed %llu case %d: phantom plugin %s",
				      seed, c, name);
	}
}

/* Refused additions: a plugin again, a new plugin reusing a facet or a
 * route id. Each gives DX_EDUP and leaves the registry as it was. */
static void check_refusals(dx_registry *r, struct world *w, int c)
{
	const struct gen *old = w->g[rnd_below((unsigned)w->n)];
	dx_diag d = DX_DIAG_INIT;
	int rc = add_mem(r, old, &d);
	ck_assert_msg(rc == DX_EDUP && tu_diag_find(&d, old->name),
		      "seed %llu case %d: re-adding %s: rc %d: %s", seed, c,
		      old->name, rc, tu_diag_all(&d));
	dx_diag_clear(&d);

	struct gen *g = gen_plugin(w);
	if (old->desc.facet_count && g->desc.facet_count) {
		/* Same kind and name as one of old's facets. */
		uint32_t f = rnd_below(old->desc.facet_count);
		g->facets[0] = old->facets[f];
		rc = add_mem(r, g, &d);
		ck_assert_msg(rc == DX_EDUP,
			      "seed %llu case %d: facet %s: rc %d", seed, c,
			      old->facets[f].name, rc);
		dx_diag_clear(&d);
	}
	free(g);

	for (uint32_t f = 0; f < old->desc.facet_count; f++) {
		if (old->facets[f].kind != DX_FACET_ROUTES ||
		    !old->vts[f].count)
			continue;
		g = gen_plugin(w);
		/* A fresh facet whose only route reuses one of old's ids.
		 * Generated names are at most NAME_LEN bytes, so these two
		 * longer ones are never taken. */
		dx_route stolen = old->routes[f][0];
		stolen.name = "stolen.route.name.longer.than.any.generated";
		dx_routes_vtable vt = {sizeof vt, sizeof stolen, &stolen, 1};
		g->facets[0] = (dx_facet){DX_FACET_ROUTES,
					  "stolen_facet_longer_than_generated",
					  &vt};
		if (!g->desc.facet_count) {
			g->desc.facets = g->facets;
			g->desc.facet_count = 1;
		}
		rc = add_mem(r, g, &d);
		ck_assert_msg(rc == DX_EDUP && tu_diag_find(&d, "same id"),
			      "seed %llu case %d: route id %u: rc %d: %s", seed,
			      c, (unsigned)stolen.id, rc, tu_diag_all(&d));
		dx_diag_clear(&d);
		free(g);
		break;
	}
}

START_TEST(test_register_round_trips)
{
	for (int c = 0; c < CASES; c++) {
		dx_registry_opts o = {.log = quiet_sink};
		dx_registry *r = dx_registry_new(&o);
		ck_assert_ptr_nonnull(r);
		struct world *w = calloc(1, sizeof *w);
		ck_assert_ptr_nonnull(w);
		int n = 1 + (int)rnd_below(MAX_PLUGINS);
		dx_diag d = DX_DIAG_INIT;
		for (int i = 0; i < n; i++) {
			struct gen *g = gen_plugin(w);
			int rc = dx_descriptor_check(&g->desc, g->path, &d);
			ck_assert_msg(rc == 0,
				      "seed %llu case %d: generated %s "
				      "refused: %s",
				      seed, c, g->name, tu_diag_all(&d));
			rc = add_mem(r, g, &d);
			ck_assert_msg(rc == 0, "seed %llu case %d: add %s: %s",
				      seed, c, g->name, tu_diag_all(&d));
			world_take(w, g);
		}
		ck_assert_int_eq(dx_registry_init_all(r, &d), 0);
		check_world(r, w, c);
		check_refusals(r, w, c);
		check_world(r, w, c);
		dx_registry_free(r);
		world_free(w);
		free(w);
	}
}
END_TEST

/* One random defect in an otherwise valid plugin; the code it must give. */
static int break_one(struct gen *g, const char **what)
{
	int routes_facet = -1;
	for (uint32_t f = 0; f < g->desc.facet_count; f++)
		if (g->facets[f].kind == DX_FACET_ROUTES && g->vts[f].count)
			routes_facet = (int)f;
	for (;;) {
		switch (rnd_below(8)) {
		case 0: { /* a bad character somewhere in the name */
			static const char bad[] = "-A .Z/\xc3";
			size_t len = strlen(g->name);
			g->name[rnd_below((unsigned)len)] =
				bad[rnd_below(sizeof bad - 1)];
			*what = "bad name char";
			return DX_ENAME;
		}
		case 1: /* a leading digit or underscore */
			g->name[0] = "0_9"[rnd_below(3)];
			*what = "bad first char";
			return DX_ENAME;
		case 2: /* 64 bytes: one too many */
			memset(g->name, 'a', 64);
			g->name[64] = '\0';
			*what = "name too long";
			return DX_ENAME;
		case 3: { /* a facet declared twice */
			uint32_t n = g->desc.facet_count;
			if (!n)
				break;
			g->facets[n] = g->facets[rnd_below(n)];
			g->desc.facet_count = n + 1;
			*what = "dup facet";
			return DX_EDUP;
		}
		case 4: /* route id zero */
			if (routes_facet < 0)
				break;
			g->routes[routes_facet]
				 [rnd_below(g->vts[routes_facet].count)]
					 .id = 0;
			*what = "route id 0";
			return DX_ENAME;
		case 5: { /* a route id used twice in one table */
			if (routes_facet < 0 || g->vts[routes_facet].count < 2)
				break;
			dx_route *rs = g->routes[routes_facet];
			uint32_t n = g->vts[routes_facet].count;
			uint32_t a = rnd_below(n);
			uint32_t b = (a + 1 + rnd_below(n - 1)) % n;
			rs[b].id = rs[a].id;
			*what = "dup route id";
			return DX_EDUP;
		}
		case 6: /* a bad facet name */
			if (!g->desc.facet_count)
				break;
			g->facet_names[rnd_below(g->desc.facet_count)][0] = 'Q';
			*what = "bad facet name";
			return DX_ENAME;
		case 7: /* an unknown or reserved kind */
			if (!g->desc.facet_count)
				break;
			g->facets[rnd_below(g->desc.facet_count)].kind =
				rnd_below(2) ? DX_FACET_PROTOCOL :
					       7 + rnd_below(1000);
			*what = "bad kind";
			return DX_EFACET;
		}
	}
}

START_TEST(test_defects_refused)
{
	struct world *w = calloc(1, sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (int c = 0; c < CASES * 4; c++) {
		struct gen *g = gen_plugin(w);
		const char *what = "";
		int want = break_one(g, &what);
		dx_diag d = DX_DIAG_INIT;
		int rc = dx_descriptor_check(&g->desc, g->path, &d);
		ck_assert_msg(rc == want && d.count == 1 &&
				      tu_diag_find(&d, g->path),
			      "seed %llu case %d: %s: rc %d (%s), expected %s: "
			      "%s",
			      seed, c, what, rc, dx_err_name(rc),
			      dx_err_name(want), tu_diag_all(&d));
		dx_diag_clear(&d);
		free(g);
	}
	free(w);
}
END_TEST

/* dx_name_valid and dx_route_name_valid against POSIX regular
 * expressions, on random strings biased to sit near the rules' edges. */
START_TEST(test_names_match_regex)
{
	regex_t name_re, route_re;
	ck_assert_int_eq(regcomp(&name_re, "^[a-z][a-z0-9_]{0,62}$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	ck_assert_int_eq(regcomp(&route_re, "^[a-z][a-z0-9_.]{0,62}$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	static const char *const alphabets[] = {
		name_chars, route_chars, "aZ_.-9 ", "a\x01\x7f\xc3\xa9/", "ab",
	};
	char s[80];
	int valid_seen = 0;
	for (int c = 0; c < CASES * 20; c++) {
		const char *abc = alphabets[rnd_below(5)];
		size_t len = rnd_below(4) ? rnd_below(8) : 58 + rnd_below(10);
		for (size_t i = 0; i < len; i++)
			s[i] = abc[rnd_below((unsigned)strlen(abc))];
		s[len] = '\0';
		if (len && rnd_below(2))
			s[0] = first_chars[rnd_below(26)];
		bool want = regexec(&name_re, s, 0, NULL, 0) == 0;
		bool want_route = regexec(&route_re, s, 0, NULL, 0) == 0;
		valid_seen += want;
		ck_assert_msg(dx_name_valid(s) == want,
			      "seed %llu case %d: dx_name_valid(\"%s\") (len "
			      "%zu) should be %d",
			      seed, c, s, len, want);
		ck_assert_msg(dx_route_name_valid(s) == want_route,
			      "seed %llu case %d: dx_route_name_valid(\"%s\") "
			      "(len %zu) should be %d",
			      seed, c, s, len, want_route);
	}
	/* The generator is not so biased that it only makes invalid names. */
	ck_assert_int_gt(valid_seen, CASES);
	regfree(&name_re);
	regfree(&route_re);
}
END_TEST

static void seed_tests(void)
{
	/* Each test starts from the seed, so one test replays alone. */
	rng_state = seed;
}

static Suite *prop_suite(void)
{
	Suite *s = suite_create("registry_prop");
	TCase *tc = tcase_create("prop");
	tcase_add_checked_fixture(tc, seed_tests, NULL);
	tcase_set_timeout(tc, 50);
	tcase_add_test(tc, test_register_round_trips);
	tcase_add_test(tc, test_defects_refused);
	tcase_add_test(tc, test_names_match_regex);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *env = getenv("DX_TEST_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = (unsigned long long)time(NULL) ^
		       ((unsigned long long)getpid() << 32);
	return dx_check_run(prop_suite());
}
