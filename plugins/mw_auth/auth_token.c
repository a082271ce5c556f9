/* auth_token.c - verify one JWT against a pinned policy (libjwt 1.10).
 *
 * libjwt 1.10 has no validation API: jwt_decode(&jwt, token, key, len)
 * checks the signature with whatever key it is given, for whatever alg the
 * token's header names. Given an RSA public key PEM and an HS256 token it
 * verifies an HMAC keyed with the PEM bytes and succeeds (the
 * algorithm-confusion attack); given no key it accepts alg "none". So the
 * algorithm is pinned here, twice: the header is decoded and its alg
 * compared with the configured one before jwt_decode runs, and
 * jwt_get_alg() is compared again after it. jwt_decode is never called
 * without the key. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "auth_token.h"

/* Room for a decoded segment of a token of AUTH_TOKEN_MAX bytes. */
#define SEGMENT_MAX (AUTH_TOKEN_MAX / 4 * 3 + 3)

const char *auth_reason(auth_verdict v)
{
	switch (v) {
	case AUTH_OK:
		return "ok";
	case AUTH_MISSING:
		return "missing token";
	case AUTH_BAD_HEADER:
		return "malformed authorization header";
	case AUTH_MALFORMED:
		return "malformed token";
	case AUTH_BAD_SIGNATURE:
		return "bad signature";
	case AUTH_EXPIRED:
		return "token expired";
	case AUTH_NOT_YET_VALID:
		return "token not yet valid";
	case AUTH_WRONG_ISSUER:
		return "wrong issuer";
	case AUTH_WRONG_AUDIENCE:
		return "wrong audience";
	case AUTH_ALG_REFUSED:
		return "algorithm not allowed";
	case AUTH_MISSING_CLAIM:
		return "missing claim";
	case AUTH_NOMEM:
		return "out of memory";
	}
	return "refused";
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long auth_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4 == 1 || n / 4 * 3 + 2 > cap)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)o;
}

/* Split header.payload.signature; every part non-empty base64url. */
static auth_verdict split(const char *t, size_t len, size_t *d1, size_t *d2)
{
	const char *a = memchr(t, '.', len);
	if (!a)
		return AUTH_MALFORMED;
	size_t i1 = (size_t)(a - t);
	const char *b = memchr(a + 1, '.', len - i1 - 1);
	if (!b)
		return AUTH_MALFORMED;
	size_t i2 = (size_t)(b - t);
	if (i1 == 0 || i2 == i1 + 1 || i2 + 1 == len ||
	    memchr(b + 1, '.', len - i2 - 1))
		return AUTH_MALFORMED;
	*d1 = i1;
	*d2 = i2;
	return AUTH_OK;
}

/* The decoded segment as a JSON object (cJSON_Delete it), or NULL. */
static cJSON *segment_json(const char *s, size_t n, uint8_t *buf)
{
	long k = auth_b64url_decode(s, n, buf, SEGMENT_MAX);
	if (k <= 0)
		return NULL;
	cJSON *j = cJSON_ParseWithLength((const char *)buf, (size_t)k);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* The header names exactly the pinned alg (and typ, if any, is JWT, as
 * libjwt insists). Runs before any signature work. */
static auth_verdict check_header(const auth_policy *p, const char *t,
				 size_t d1, uint8_t *buf)
{
	cJSON *h = segment_json(t, d1, buf);
	if (!h)
		return AUTH_MALFORMED;
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	const cJSON *typ = cJSON_GetObjectItemCaseSensitive(h, "typ");
	auth_verdict v = AUTH_OK;
	if (!cJSON_IsString(alg) || (typ && !cJSON_IsString(typ)))
		v = AUTH_MALFORMED;
	else if (strcmp(alg->valuestring, p->alg_name) != 0)
		v = AUTH_ALG_REFUSED;
	else if (typ && strcmp(typ->valuestring, "JWT") != 0)
		v = AUTH_MALFORMED;
	cJSON_Delete(h);
	return v;
}

static bool audience_ok(const cJSON *aud, const char *want)
{
	if (cJSON_IsString(aud))
		return strcmp(aud->valuestring, want) == 0;
	if (!cJSON_IsArray(aud))
		return false;
	const cJSON *it;
	cJSON_ArrayForEach(it, aud)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, want) == 0)
			return true;
	}
	return false;
}

/* A NumericDate claim into *out (def when absent); false when present but
 * not a number. */
static bool numeric_date(const cJSON *claims, const char *name, double def,
			 double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);
	if (!v) {
		*out = def;
		return true;
	}
	if (!cJSON_IsNumber(v) || isnan(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

/* The verified claims against the policy; fills exp, nbf and sub. */
static auth_verdict check_claims(const auth_policy *p, const cJSON *claims,
				 double now_s, auth_claims *out)
{
	if (!numeric_date(claims, "exp", INFINITY, &out->exp) ||
	    !numeric_date(claims, "nbf", -INFINITY, &out->nbf))
		return AUTH_MALFORMED;
	auth_verdict v = auth_check_time(p, out->exp, out->nbf, now_s);
	if (v != AUTH_OK)
		return v;
	if (p->issuer) {
		const cJSON *iss =
			cJSON_GetObjectItemCaseSensitive(claims, "iss");
		if (!cJSON_IsString(iss) ||
		    strcmp(iss->valuestring, p->issuer) != 0)
			return AUTH_WRONG_ISSUER;
	}
	if (p->audience &&
	    !audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"),
			 p->audience))
		return AUTH_WRONG_AUDIENCE;
	for (size_t i = 0; i < p->require_count; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(claims, p->require[i])) {
			out->missing = p->require[i];
			return AUTH_MISSING_CLAIM;
		}
	}
	const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	if (sub && !cJSON_IsString(sub))
		return AUTH_MALFORMED;
	if (sub) {
		out->sub_len = strlen(sub->valuestring);
		out->sub = strdup(sub->valuestring);
		if (!out->sub)
			return AUTH_NOMEM;
	}
	return AUTH_OK;
}

/* jwt_decode with the pinned key, then the claims. */
static auth_verdict verify_signed(const auth_policy *p, const char *token,
				  size_t len, double now_s, auth_claims *out)
{
	char z[AUTH_TOKEN_MAX + 1]; /* jwt_decode wants a C string */
	memcpy(z, token, len);
	z[len] = '\0';
	jwt_t *jwt = NULL;
	int rc = jwt_decode(&jwt, z, p->key, (int)p->key_len);
	if (rc != 0 || !jwt)
		return rc == ENOMEM ? AUTH_NOMEM : AUTH_BAD_SIGNATURE;
	auth_verdict v = AUTH_OK;
	if (jwt_get_alg(jwt) != p->alg) {
		v = AUTH_ALG_REFUSED; /* cannot happen after check_header */
		goto out;
	}
	out->json = jwt_get_grants_json(jwt, NULL);
	if (!out->json) {
		v = AUTH_MALFORMED;
		goto out;
	}
	out->json_len = strlen(out->json);
	cJSON *claims = cJSON_ParseWithLength(out->json, out->json_len);
	if (!cJSON_IsObject(claims))
		v = claims ? AUTH_MALFORMED : AUTH_NOMEM;
	else
		v = check_claims(p, claims, now_s, out);
	cJSON_Delete(claims);
out:
	jwt_free(jwt);
	return v;
}

auth_verdict auth_verify(const auth_policy *p, const char *token, size_t len,
			 double now_s, auth_claims *out)
{
	memset(out, 0, sizeof *out);
	if (len == 0)
		return AUTH_MISSING;
	if (len > AUTH_TOKEN_MAX)
		return AUTH_MALFORMED;
	size_t d1, d2;
	auth_verdict v = split(token, len, &d1, &d2);
	if (v != AUTH_OK)
		return v;
	for (size_t i = d2 + 1; i < len; i++)
		if (b64url_value((unsigned char)token[i]) < 0)
			return AUTH_MALFORMED;
	uint8_t buf[SEGMENT_MAX];
	v = check_header(p, token, d1, buf);
	if (v != AUTH_OK)
		return v;
	cJSON *payload = segment_json(token + d1 + 1, d2 - d1 - 1, buf);
	if (!payload)
		return AUTH_MALFORMED;
	cJSON_Delete(payload);
	v = verify_signed(p, token, len, now_s, out);
	if (v != AUTH_OK) {
		const char *missing = out->missing;
		auth_claims_free(out);
		out->missing = missing;
	}
	return v;
}

void auth_claims_free(auth_claims *c)
{
	free(c->json); /* libjwt 1.10 allocates with malloc */
	free(c->sub);
	memset(c, 0, sizeof *c);
}
