/* fuzz_mw_auth - mw_auth's token check (plugins/mw_auth/auth_token.c,
 * compiled in from the plugin's source): the size and shape pre-check,
 * base64url, the header's alg pinned before libjwt sees the token, then
 * libjwt and the claims.
 *
 * Input: one byte choosing the policy (HS256 or HS384; with or without
 * issuer, audience and a required claim), then the token. The clock is
 * fixed (2027-01-15), so a verdict depends on the input alone. Checked: a
 * token is accepted only if it has the shape (three segments, at most
 * AUTH_TOKEN_MAX bytes) and its header names the policy's algorithm, and
 * an accepted token's claims are all there; base64url never writes past
 * its cap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_token.h"
#include "fuzz_check.h"

#define NOW_S 1800000000.0

static const unsigned char key[] = "fuzz-secret-0123456789abcdef";
static const char *require[] = {"sub"};

static void policy_for(uint8_t opt, auth_policy *p)
{
	memset(p, 0, sizeof *p);
	p->alg = (opt & 1) ? JWT_ALG_HS384 : JWT_ALG_HS256;
	p->alg_name = (opt & 1) ? "HS384" : "HS256";
	p->key = key;
	p->key_len = sizeof key - 1;
	p->issuer = (opt & 2) ? "dx-fuzz" : NULL;
	p->audience = (opt & 4) ? "api" : NULL;
	p->leeway_s = (opt & 8) ? 30 : 0;
	p->require = (opt & 16) ? require : NULL;
	p->require_count = (opt & 16) ? 1 : 0;
}

/* The first segment's JSON names alg: decode it with the plugin's own
 * base64url and look (the verdict must agree). */
static int header_alg_is(const char *t, size_t len, const char *want)
{
	const char *dot = memchr(t, '.', len);
	if (!dot)
		return 0;
	size_t n = (size_t)(dot - t);
	uint8_t *buf = malloc(n + 1);
	FUZZ_CHECK(buf != NULL, "malloc");
	long k = auth_b64url_decode(t, n, buf, n);
	int ok = 0;
	if (k >= 0) {
		buf[k] = '\0';
		char pat[32];
		snprintf(pat, sizeof pat, "\"%s\"", want);
		ok = strstr((char *)buf, pat) != NULL;
	}
	free(buf);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	auth_policy p;
	policy_for(data[0], &p);
	const char *tok = (const char *)data + 1;
	size_t len = size - 1;

	/* base64url alone, into a buffer of exactly its cap. */
	size_t cap = len / 4 * 3 + 3;
	uint8_t *out = malloc(cap);
	FUZZ_CHECK(out != NULL, "malloc");
	long k = auth_b64url_decode(tok, len, out, cap);
	FUZZ_CHECK(k <= (long)cap && k >= -1, "decoded %ld into %zu", k, cap);
	free(out);

	auth_claims c;
	memset(&c, 0, sizeof c);
	auth_verdict v = auth_verify(&p, tok, len, NOW_S, &c);
	FUZZ_CHECK(v >= AUTH_OK && v <= AUTH_NOMEM, "verdict %d", (int)v);
	FUZZ_CHECK(auth_reason(v) != NULL, "reason");
	if (v == AUTH_OK) {
		const char *d1 = memchr(tok, '.', len);
		FUZZ_CHECK(len <= AUTH_TOKEN_MAX && d1 &&
				   memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)),
			   "accepted a token of %zu bytes without its shape",
			   len);
		FUZZ_CHECK(header_alg_is(tok, len, p.alg_name),
			   "accepted a token whose header is not %s",
			   p.alg_name);
		FUZZ_CHECK(c.json && strlen(c.json) == c.json_len,
			   "claims missing");
		FUZZ_CHECK(!p.require_count || strstr(c.json, "\"sub\""),
			   "sub required, absent");
		FUZZ_CHECK(auth_check_time(&p, c.exp, c.nbf, NOW_S) == AUTH_OK,
			   "accepted outside its time");
		auth_claims_free(&c);
	} else {
		FUZZ_CHECK(!c.json && !c.sub, "refused but claims filled");
	}
	return 0;
}
