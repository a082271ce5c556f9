/* mw_auth - JWT bearer authentication as a MIDDLEWARE facet (libjwt 1.10).
 *
 * Reads "authorization: Bearer <token>" from the request metadata and
 * verifies the token with the algorithm and key the config pins (the
 * token's own alg is only ever compared with it, never obeyed; "none" is
 * always refused). A verified token's claims become request extensions:
 *
 *     jwt.sub     the "sub" claim's string (absent when the token has none)
 *     jwt.claims  every claim, as one JSON object
 *
 * Their memory belongs to this worker's cache entry and stays valid until
 * this worker's next request with a token (past the handler and the after
 * hooks). Refusals answer RpcError 401 with a short reason that never
 * quotes the token or the key: "missing token", "malformed authorization
 * header", "malformed token", "bad signature", "token expired", "token not
 * yet valid", "wrong issuer", "wrong audience", "algorithm not allowed",
 * "missing claim NAME".
 *
 * Config:
 *   alg              HS256|HS384|HS512|RS256|RS384|RS512|ES256|ES384|ES512
 *   (paths are relative to the manifest's directory)
 *   secret_file      HS*: the shared secret (a trailing newline is dropped;
 *                    at least as many bytes as the hash; refused when
 *                    others may read it)
 *   public_key_file  RS* / ES*: the PEM public key
 *   issuer, audience the iss / aud (string or array) a token must carry
 *   leeway_s         clock skew allowed for exp and nbf (0..3600, 30)
 *   require          claim names every token must carry
 *   public_routes    route names that need no token (one that comes anyway
 *                    is verified, and its claims set when it is good, but
 *                    a bad one does not stop the call)
 *   cache            verified tokens kept per worker (default 1024; 0: off)
 *
 * Counters: mw_auth.verified (signatures checked and accepted),
 * mw_auth.cache_hits (accepted from the cache), mw_auth.refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dx/middleware.h>
#include <dx/plugin.h>
#include <dx/routes.h>

#include "auth_cache.h"
#include "auth_token.h"

#define KEY_FILE_MAX (64 * 1024)
#define CACHE_MAX (1 << 20)

struct auth {
	const dx_host_api *host;
	auth_policy policy;
	unsigned char *key; /* secret or PEM, NUL-terminated, owned */
	const char **public_routes; /* strings owned by the config */
	size_t public_count;
	unsigned workers;
	auth_cache *caches; /* workers + 1: the last serves non-workers */
	uint64_t seed;
	dx_counter *verified, *refused, *cache_hits;
};

/* ---- requests --------------------------------------------------------- */

static bool is_public(const struct auth *a, const char *route)
{
	for (size_t i = 0; route && i < a->public_count; i++)
		if (strcmp(a->public_routes[i], route) == 0)
			return true;
	return false;
}

/* "Bearer <token>" -> the token (scheme case-insensitive, RFC 7235). */
static auth_verdict bearer(const uint8_t *h, size_t n, const char **tok,
			   size_t *len)
{
	if (!h)
		return AUTH_MISSING;
	const char *s = (const char *)h;
	/* The scheme in two loads, without strncasecmp: | 0x20 lowers a
	 * letter, and no byte but the letter's two cases lowers to it. */
	if (n < 6)
		return AUTH_BAD_HEADER;
	uint32_t w4, s4;
	uint16_t w2, s2;
	memcpy(&w4, s, 4);
	memcpy(&w2, s + 4, 2);
	memcpy(&s4, "bear", 4);
	memcpy(&s2, "er", 2);
	if ((w4 | 0x20202020u) != s4 || (uint16_t)(w2 | 0x2020u) != s2 ||
	    (n > 6 && s[6] != ' '))
		return AUTH_BAD_HEADER;
	size_t i = 6, end = n;
	while (i < end && s[i] == ' ')
		i++;
	while (end > i && s[end - 1] == ' ')
		end--;
	if (i == end)
		return AUTH_MISSING;
	if (end - i > AUTH_TOKEN_MAX)
		return AUTH_MALFORMED; /* not even hashed */
	*tok = s + i;
	*len = end - i;
	return AUTH_OK;
}

/* This worker's cache. Calls from outside a worker (tests, tools) share
 * the last one: they are single-threaded by nature. */
static auth_cache *cache_for(struct auth *a, const dx_request *req)
{
	int w = req->worker;
	if (w < 0 || (unsigned)w >= a->workers)
		w = a->host->worker_id(a->host);
	if (w < 0 || (unsigned)w >= a->workers)
		w = (int)a->workers;
	return &a->caches[w];
}

/* Seconds since the epoch, for exp and nbf. The host read the monotonic
 * clock when it decoded the request (req->start_ns); the wall clock is
 * read again only when that moved on by a millisecond since this worker
 * last read it (or went back): a millisecond is nothing beside the
 * leeway, and a wall-clock step shows within one. A request made without
 * start_ns (by hand, outside a worker) reads it every time. */
#define WALL_REREAD_NS 1000000u
static double wall_now(struct auth *a, auth_cache *c, const dx_request *req)
{
	uint64_t m = req->start_ns;
	if (m && c->mono_at && m >= c->mono_at &&
	    m - c->mono_at < WALL_REREAD_NS)
		return c->wall_at;
	double now = (double)a->host->now_ns(a->host, DX_CLOCK_REALTIME) / 1e9;
	if (m) {
		c->mono_at = m;
		c->wall_at = now;
	}
	return now;
}

/* A cached verdict, or a fresh verification that fills the cache. */
static auth_verdict authenticate(struct auth *a, const dx_request *req,
				 const char *tok, size_t len,
				 const auth_entry **out, const char **missing)
{
	auth_cache *c = cache_for(a, req);
	uint64_t hash = 0;
	double now = wall_now(a, c, req);
	auth_entry *e = auth_cache_last(c, tok, len);
	if (!e) {
		hash = auth_hash(a->seed, tok, len);
		e = auth_cache_find(c, hash, tok, len);
	}
	if (e) {
		auth_verdict v = auth_check_time(&a->policy, e->claims.exp,
						 e->claims.nbf, now);
		if (v != AUTH_OK) {
			auth_cache_drop(c, e);
			return v;
		}
		a->host->counter_add(a->cache_hits, 1);
		*out = e;
		return AUTH_OK;
	}
	auth_claims cl;
	auth_verdict v = auth_verify(&a->policy, tok, len, now, &cl);
	if (v != AUTH_OK) {
		*missing = cl.missing;
		return v;
	}
	e = auth_cache_put(c, hash, tok, len, &cl);
	if (!e)
		return AUTH_NOMEM;
	a->host->counter_add(a->verified, 1);
	*out = e;
	return AUTH_OK;
}

/* Both extensions in one call (dx_request_ext_set_n: no key compare when
 * auth is the first to set any); jwt.sub first, so mw_ratelimit's lookup
 * of it matches the first entry. */
static int set_claims(dx_request *req, const auth_entry *e)
{
	const dx_ext ext[2] = {
		{"jwt.sub", e->claims.sub, e->claims.sub_len},
		{"jwt.claims", e->claims.json, e->claims.json_len},
	};
	unsigned n = e->claims.sub ? 2 : 1;
	const dx_ext *from = ext + 2 - n;
	/* None set yet (auth first in the chain, the common case): what
	 * dx_request_ext_set_n does then, written here (ext and ext_count
	 * are the request's public members) without a call into libdx. */
	if (req->ext && req->ext_count == 0) {
		for (unsigned i = 0; i < n; i++)
			req->ext[i] = from[i];
		req->ext_count = n;
		return 0;
	}
	return dx_request_ext_set_n(req, from, n);
}

static int refuse(struct auth *a, dx_response *res, auth_verdict v,
		  const char *missing)
{
	a->host->counter_add(a->refused, 1);
	int rc = v == AUTH_MISSING_CLAIM
			 ? dx_response_error(res, 401, "missing claim %s",
					     missing)
			 : dx_response_error(res, 401, "%s", auth_reason(v));
	return rc < 0 ? rc : DX_MW_STOP;
}

/* The authorization value, or NULL: dx_request_meta with the key's length
 * known (no strlen per request; a fixed-size compare the compiler
 * inlines). */
static const uint8_t *authorization(const dx_request *req, uint16_t *len)
{
	static const char key[] = "authorization";
	const dx_hbtp_meta *m = req->meta;
	for (unsigned i = 0; m && i < m->count; i++) {
		const dx_hbtp_meta_entry *e = &m->e[i];
		if (e->key_len == sizeof key - 1 &&
		    memcmp(e->key, key, sizeof key - 1) == 0) {
			*len = e->value_len;
			return e->value;
		}
	}
	return NULL;
}

static int auth_before(void *self, dx_request *req, dx_response *res)
{
	struct auth *a = self;
	uint16_t hlen = 0;
	const uint8_t *h = authorization(req, &hlen);
	const char *tok = NULL, *missing = "";
	size_t len = 0;
	const auth_entry *e = NULL;
	auth_verdict v = bearer(h, hlen, &tok, &len);
	if (v == AUTH_OK)
		v = authenticate(a, req, tok, len, &e, &missing);
	if (v == AUTH_NOMEM)
		return -ENOMEM;
	if (v == AUTH_OK)
		return set_claims(req, e) < 0 ? -ENOSPC : DX_MW_CONTINUE;
	if (is_public(a, req->route_name))
		return DX_MW_CONTINUE;
	return refuse(a, res, v, missing);
}

/* ---- config ----------------------------------------------------------- */

static const char alg_list[] =
	"HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or ES512";

static int parse_alg(struct auth *a, const dx_config *cfg)
{
	const dx_host_api *h = a->host;
	const char *s = NULL;
	int rc = h->config_str(h, cfg, "alg", NULL, &s);
	if (rc < 0)
		return rc;
	if (!s)
		return h->config_error(h, cfg, "alg",
				       "missing: say which algorithm tokens "
				       "are signed with (%s)",
				       alg_list);
	jwt_alg_t alg = jwt_str_alg(s);
	if (alg == JWT_ALG_NONE || strcasecmp(s, "none") == 0)
		return h->config_error(h, cfg, "alg",
				       "\"none\" is never allowed (unsigned "
				       "tokens); use %s",
				       alg_list);
	if (alg == JWT_ALG_INVAL || alg < JWT_ALG_HS256 ||
	    alg > JWT_ALG_ES512)
		return h->config_error(h, cfg, "alg",
				       "unknown algorithm \"%s\"; use %s", s,
				       alg_list);
	a->policy.alg = alg;
	a->policy.alg_name = jwt_alg_str(alg);
	return 0;
}

static bool alg_is_hmac(jwt_alg_t alg)
{
	return alg == JWT_ALG_HS256 || alg == JWT_ALG_HS384 ||
	       alg == JWT_ALG_HS512;
}

/* The whole of path (at most KEY_FILE_MAX bytes), NUL-terminated. Errors
 * name the file and the config member. */
static int read_key_file(struct auth *a, const dx_config *cfg,
			 const char *key, const char *path, bool secret,
			 size_t *len)
{
	const dx_host_api *h = a->host;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return h->config_error(h, cfg, key, "cannot open %s: %s", path,
				       strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > KEY_FILE_MAX) {
		rc = h->config_error(h, cfg, key,
				     "%s is not a regular file of at most "
				     "%d bytes",
				     path, KEY_FILE_MAX);
		goto out;
	}
	if (secret && (st.st_mode & (S_IRWXO))) {
		rc = h->config_error(h, cfg, key,
				     "%s may be read or written by others "
				     "(mode %04o); a shared secret must not "
				     "be: chmod 600 %s",
				     path, (unsigned)(st.st_mode & 07777),
				     path);
		goto out;
	}
	if (secret && (st.st_mode & S_IRWXG))
		h->log(h, DX_LOG_WARN,
		       "%s is readable by its group (mode %04o); consider "
		       "chmod 600",
		       path, (unsigned)(st.st_mode & 07777));
	a->key = malloc((size_t)st.st_size + 1);
	if (!a->key) {
		rc = h->fail(h, -ENOMEM, "out of memory");
		goto out;
	}
	ssize_t n = read(fd, a->key, (size_t)st.st_size);
	if (n < 0) {
		rc = h->config_error(h, cfg, key, "cannot read %s: %s", path,
				     strerror(errno));
		goto out;
	}
	a->key[n] = '\0';
	*len = (size_t)n;
out:
	close(fd);
	return rc;
}

/* RFC 7518 3.2: an HMAC key at least as long as the hash. */
static int check_secret(struct auth *a, const dx_config *cfg,
			const char *path, size_t *len)
{
	while (*len && (a->key[*len - 1] == '\n' || a->key[*len - 1] == '\r'))
		a->key[--*len] = '\0';
	size_t need = a->policy.alg == JWT_ALG_HS256   ? 32
		      : a->policy.alg == JWT_ALG_HS384 ? 48
						       : 64;
	if (*len < need)
		return a->host->config_error(
			a->host, cfg, "secret_file",
			"the secret in %s is %zu bytes; %s needs at least %zu "
			"(e.g. head -c %zu /dev/urandom | base64 -w0 > %s)",
			path, *len, a->policy.alg_name, need, need, path);
	return 0;
}

static int check_pem(struct auth *a, const dx_config *cfg, const char *path)
{
	const char *k = (const char *)a->key;
	if (strstr(k, "PRIVATE KEY"))
		return a->host->config_error(
			a->host, cfg, "public_key_file",
			"%s holds a private key; give the public key (openssl "
			"pkey -in KEY -pubout)",
			path);
	bool rsa = a->policy.alg >= JWT_ALG_RS256 &&
		   a->policy.alg <= JWT_ALG_RS512;
	if (!strstr(k, "-----BEGIN PUBLIC KEY-----") &&
	    !(rsa && strstr(k, "-----BEGIN RSA PUBLIC KEY-----")))
		return a->host->config_error(
			a->host, cfg, "public_key_file",
			"%s is not a PEM public key (expected \"-----BEGIN "
			"PUBLIC KEY-----\")",
			path);
	return 0;
}

static int parse_key(struct auth *a, const dx_config *cfg)
{
	const dx_host_api *h = a->host;
	const char *secret = NULL, *pub = NULL;
	/* Relative paths are the manifest directory's (ABI 1.1); an older
	 * host leaves them to the working directory. */
	int (*path)(const dx_host_api *, const dx_config *, const char *,
		    const char *, const char **) =
		DX_HAS(h, config_file) ? h->config_file : h->config_str;
	int rc = path(h, cfg, "secret_file", NULL, &secret);
	if (rc == 0)
		rc = path(h, cfg, "public_key_file", NULL, &pub);
	if (rc < 0)
		return rc;
	bool hmac = alg_is_hmac(a->policy.alg);
	const char *name = a->policy.alg_name;
	if (secret && pub)
		return h->config_error(h, cfg, "public_key_file",
				       "give either secret_file or "
				       "public_key_file, not both (%s uses %s)",
				       name, hmac ? "secret_file" : "public_key_file");
	if (hmac && pub)
		return h->config_error(h, cfg, "public_key_file",
				       "%s verifies with a shared secret: use "
				       "secret_file",
				       name);
	if (!hmac && secret)
		return h->config_error(h, cfg, "secret_file",
				       "%s verifies with a public key: use "
				       "public_key_file (PEM)",
				       name);
	if (!secret && !pub)
		return h->config_error(h, cfg, NULL,
				       "%s needs %s", name,
				       hmac ? "secret_file" : "public_key_file");
	size_t len = 0;
	rc = read_key_file(a, cfg, hmac ? "secret_file" : "public_key_file",
			   hmac ? secret : pub, hmac, &len);
	if (rc == 0)
		rc = hmac ? check_secret(a, cfg, secret, &len)
			  : check_pem(a, cfg, pub);
	a->policy.key = a->key;
	a->policy.key_len = len;
	return rc;
}

/* An array of strings under key (absent: none), each checked by valid. */
static int parse_names(struct auth *a, const dx_config *cfg, const char *key,
		       bool (*valid)(const char *), const char *expected,
		       const char ***out, size_t *count)
{
	const dx_host_api *h = a->host;
	if (!h->config_has(h, cfg, key))
		return 0;
	const dx_config *arr = h->config_child(h, cfg, key);
	if (!arr)
		return DX_ECONFIG; /* the getter said why */
	size_t n = h->config_len(h, arr);
	*out = calloc(n ? n : 1, sizeof **out);
	if (!*out)
		return h->fail(h, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const dx_config *it = h->config_at(h, arr, i);
		const char *s = NULL;
		int rc = h->config_str(h, it, NULL, NULL, &s);
		if (rc < 0)
			return rc;
		if (!s || !valid(s))
			return h->config_error(h, it, NULL, "expected %s",
					       expected);
		(*out)[(*count)++] = s;
	}
	return 0;
}

static bool claim_name_valid(const char *s)
{
	return *s && strlen(s) <= 255;
}

static bool route_name_valid(const char *s)
{
	return dx_route_name_valid(s);
}

static int parse_config(struct auth *a, const dx_config *cfg)
{
	static const char *const keys[] = {
		"alg",      "secret_file", "public_key_file", "issuer",
		"audience", "leeway_s",    "require",         "public_routes",
		"cache",    NULL};
	const dx_host_api *h = a->host;
	int64_t leeway = 30, cache = 1024;
	int rc = h->config_keys(h, cfg, keys);
	if (rc == 0)
		rc = parse_alg(a, cfg);
	if (rc == 0)
		rc = parse_key(a, cfg);
	if (rc == 0)
		rc = h->config_str(h, cfg, "issuer", NULL, &a->policy.issuer);
	if (rc == 0)
		rc = h->config_str(h, cfg, "audience", NULL,
				   &a->policy.audience);
	if (rc == 0)
		rc = h->config_int(h, cfg, "leeway_s", 30, 0, 3600, &leeway);
	if (rc == 0)
		rc = h->config_int(h, cfg, "cache", 1024, 0, CACHE_MAX, &cache);
	if (rc == 0)
		rc = parse_names(a, cfg, "require", claim_name_valid,
				 "a claim name (a non-empty string)",
				 &a->policy.require,
				 &a->policy.require_count);
	if (rc == 0)
		rc = parse_names(a, cfg, "public_routes", route_name_valid,
				 "a route name ([a-z][a-z0-9_.]*)",
				 &a->public_routes, &a->public_count);
	if (rc < 0)
		return rc;
	a->policy.leeway_s = leeway;
	unsigned w = h->worker_count(h);
	a->workers = w ? w : 1;
	a->caches = calloc(a->workers + 1, sizeof *a->caches);
	if (!a->caches)
		return h->fail(h, -ENOMEM, "out of memory");
	for (unsigned i = 0; i <= a->workers; i++)
		if (auth_cache_init(&a->caches[i], (unsigned)cache) < 0)
			return h->fail(h, -ENOMEM,
				       "out of memory for a cache of %lld "
				       "entries per worker",
				       (long long)cache);
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static void auth_fini(void *self)
{
	struct auth *a = self;
	if (!a)
		return;
	for (unsigned i = 0; a->caches && i <= a->workers; i++)
		auth_cache_fini(&a->caches[i]);
	free(a->caches);
	if (a->key) /* scrub the secret */
		memset(a->key, 0, a->policy.key_len);
	free(a->key);
	free(a->policy.require);
	free((void *)a->public_routes);
	free(a);
}

static int auth_init(const dx_host_api *host, const dx_config *config,
		     void **self)
{
	struct auth *a = calloc(1, sizeof *a);
	if (!a)
		return host->fail(host, -ENOMEM, "out of memory");
	a->host = host;
	int rc = parse_config(a, config);
	if (rc == 0) {
		a->verified = host->counter(host, "verified",
					    "tokens verified by signature");
		a->refused = host->counter(host, "refused",
					   "requests refused with 401");
		a->cache_hits = host->counter(host, "cache_hits",
					      "tokens accepted from the cache");
		if (!a->verified || !a->refused || !a->cache_hits)
			rc = host->fail(host, -ENOMEM, "out of memory");
	}
	if (rc < 0) {
		auth_fini(a);
		return rc;
	}
	uint64_t s = host->now_ns(host, DX_CLOCK_REALTIME) ^
		     host->now_ns(host, DX_CLOCK_MONOTONIC) << 17 ^
		     (uint64_t)(uintptr_t)a;
	a->seed = auth_hash(0x6d775f61757468ull, &s, sizeof s);
	host->log(host, DX_LOG_INFO,
		  "%s, leeway %llds, %zu public route(s), cache %u per worker",
		  a->policy.alg_name, (long long)a->policy.leeway_s,
		  a->public_count,
		  a->caches[0].sets * a->caches[0].ways);
	*self = a;
	return 0;
}

static const dx_middleware_vtable auth_vtable = {
	.size = sizeof(dx_middleware_vtable),
	.before = auth_before,
	.after = NULL,
};

static const dx_facet auth_facets[] = {
	{DX_FACET_MIDDLEWARE, "mw_auth", &auth_vtable},
};

DX_PLUGIN(.name = "mw_auth", .version = "1.0.0",
	  .description = "JWT bearer authentication (libjwt), alg pinned by "
			 "config, per-worker cache of verified tokens",
	  DX_FACETS(auth_facets), .init = auth_init, .fini = auth_fini)
