/* bench_mw_auth.c - the in-process cost of mw_auth's before() hook.
 *
 *     bench_mw_auth [ROUNDS]      (DX_PLUGINS: the build's plugins dir)
 *     bench_mw_auth token SECRET_FILE
 *                                 prints an HS256 token (sub "bench", iss
 *                                 "dx-bench", aud "dx", role, valid 1 h)
 *                                 signed with the file's secret
 *
 * Loads mw_auth through the real loader and registry (as the host does),
 * then times before() with the same HS256 token over and over (a cache
 * hit), and with the cache off (a fresh HS256 verification every call) and
 * an RS256 host with the cache off (when the openssl command made a key).
 * Prints one line per case: the median over ROUNDS (default 7) of the mean
 * ns per call. bench/middleware.sh runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include <dx/middleware.h>
#include <dx/routes.h>

#include "registry.h"
#include "tokens.h"

struct inst {
	dx_registry *r;
	cJSON *cfg;
	const dx_middleware_vtable *vt;
	void *self;
};

static int inst_open(struct inst *in, const char *json)
{
	memset(in, 0, sizeof *in);
	dx_diag d = DX_DIAG_INIT;
	in->cfg = cJSON_Parse(json);
	dx_registry_opts o = {.log_level = DX_LOG_WARN, .workers = 1};
	in->r = dx_registry_new(&o);
	char path[1024];
	snprintf(path, sizeof path, "%s/mw_auth/mw_auth.so",
		 getenv("DX_PLUGINS"));
	dx_load_opts lo = {.allow_writable = true};
	dx_module m;
	dx_facet_ref ref;
	if (!in->cfg || !in->r || dx_module_open(path, &lo, &m, &d) < 0 ||
	    dx_registry_add(in->r, &m, in->cfg, "plugins[0].config", &d) < 0 ||
	    dx_registry_init_all(in->r, &d) < 0 ||
	    dx_registry_lookup(in->r, DX_FACET_MIDDLEWARE, "mw_auth", &ref) <
		    0) {
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "bench_mw_auth: %s\n", d.msgs[i]);
		dx_diag_clear(&d);
		return -1;
	}
	in->vt = ref.vtable;
	in->self = ref.self;
	dx_diag_clear(&d);
	return 0;
}

static void inst_close(struct inst *in)
{
	dx_registry_free(in->r);
	cJSON_Delete(in->cfg);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median over rounds of the mean ns of n before() calls; -1 if one did
 * not pass. */
static double time_before(struct inst *in, const char *token, int n,
			  int rounds)
{
	char authz[8300];
	snprintf(authz, sizeof authz, "Bearer %s", token);
	dx_hbtp_meta meta;
	memset(&meta, 0, sizeof meta);
	meta.e[0] = (dx_hbtp_meta_entry){"authorization", 13,
					 (const uint8_t *)authz,
					 (uint16_t)strlen(authz)};
	meta.count = 1;
	uint8_t buf[256];
	dx_ext ext[DX_REQUEST_EXT_MAX];
	double per[64];
	if (rounds > 64)
		rounds = 64;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (int i = 0; i < n; i++) {
			dx_response res;
			dx_response_init(&res, buf, sizeof buf, NULL, 0);
			dx_request req = {.size = sizeof req,
					  .opcode = DX_HBTP_RPC_CALL,
					  .route = 2,
					  .route_name = "echo",
					  .meta = &meta,
					  .peer = "127.0.0.1:1",
					  .worker = 0,
					  .ext = ext};
			if (in->vt->before(in->self, &req, &res) !=
			    DX_MW_CONTINUE) {
				fprintf(stderr, "bench_mw_auth: refused: %.*s\n",
					(int)res.len, (char *)buf);
				return -1;
			}
		}
		per[r] = (now_ns() - t0) / n;
	}
	qsort(per, (size_t)rounds, sizeof per[0], cmp_double);
	return per[rounds / 2];
}

static char *std_token(jwt_alg_t alg, const tk_pem *key)
{
	return tk_tokenf(alg, key->pem, key->len,
			 "{\"sub\": \"bench\", \"iss\": \"dx-bench\", "
			 "\"aud\": \"dx\", \"role\": \"admin\", "
			 "\"exp\": %ld}",
			 tk_now() + 3600);
}

static int run_case(const char *name, const char *cfg, const char *token,
		    int n, int rounds)
{
	struct inst in;
	if (!token || inst_open(&in, cfg) < 0)
		return -1;
	time_before(&in, token, n / 10 + 1, 1); /* warm up, fill the cache */
	double ns = time_before(&in, token, n, rounds);
	inst_close(&in);
	if (ns < 0)
		return -1;
	printf("%-28s %10.0f ns/call  (median of %d rounds of %d)\n", name,
	       ns, rounds, n);
	return 0;
}

/* The secret as mw_auth reads it: the file without a trailing newline. */
static int print_token(const char *file)
{
	tk_pem key;
	memset(&key, 0, sizeof key);
	FILE *f = fopen(file, "rb");
	char buf[4096];
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f)
		fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!n) {
		fprintf(stderr, "bench_mw_auth: no secret in %s\n", file);
		return 1;
	}
	key.pem = buf;
	key.len = n;
	char *t = std_token(JWT_ALG_HS256, &key);
	if (!t)
		return 1;
	printf("%s\n", t);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "token") == 0)
		return print_token(argv[2]);
	int rounds = argc > 1 ? atoi(argv[1]) : 7;
	if (rounds < 1)
		rounds = 7;
	if (!getenv("DX_PLUGINS")) {
		fprintf(stderr, "bench_mw_auth: set DX_PLUGINS\n");
		return 2;
	}
	tk_keys k;
	if (tk_keys_make(&k) < 0)
		return 1;
	char cfg[1024];
	const char *claims = "\"issuer\": \"dx-bench\", \"audience\": \"dx\", "
			     "\"require\": [\"role\"]";
	char *hs = std_token(JWT_ALG_HS256, &k.secret);
	int rc = 0;
	snprintf(cfg, sizeof cfg,
		 "{\"alg\": \"HS256\", \"secret_file\": \"%s\", %s}",
		 k.secret.path, claims);
	rc |= run_case("HS256, cache hit", cfg, hs, 1000000, rounds);
	snprintf(cfg, sizeof cfg,
		 "{\"alg\": \"HS256\", \"secret_file\": \"%s\", %s, "
		 "\"cache\": 0}",
		 k.secret.path, claims);
	rc |= run_case("HS256, cache off", cfg, hs, 20000, rounds);
	if (k.have_pki) {
		char *rs = std_token(JWT_ALG_RS256, &k.rsa_priv);
		snprintf(cfg, sizeof cfg,
			 "{\"alg\": \"RS256\", \"public_key_file\": \"%s\", "
			 "%s}",
			 k.rsa_pub.path, claims);
		rc |= run_case("RS256, cache hit", cfg, rs, 1000000, rounds);
		snprintf(cfg, sizeof cfg,
			 "{\"alg\": \"RS256\", \"public_key_file\": \"%s\", "
			 "%s, \"cache\": 0}",
			 k.rsa_pub.path, claims);
		rc |= run_case("RS256, cache off", cfg, rs, 300, rounds);
		free(rs);
	}
	free(hs);
	tk_keys_remove(&k);
	return rc ? 1 : 0;
}
