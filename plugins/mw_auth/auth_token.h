/* auth_token.h - verify one JWT against a pinned policy (libjwt 1.10).
 *
 * auth_verify() is the whole fresh check, in this order: size and shape
 * (three base64url segments, at most AUTH_TOKEN_MAX bytes), the header's
 * alg against the configured one (before libjwt sees the token, so an
 * HS256 token never reaches jwt_decode on an RS256 host), the signature
 * (jwt_decode, always with the configured key), jwt_get_alg() once more,
 * then exp / nbf (with the leeway), iss, aud and the required claims.
 *
 * No global state; thread-safe as long as each thread has its own
 * auth_claims. Nothing here ever copies the token or the key into a
 * message. */
#ifndef MW_AUTH_TOKEN_H
#define MW_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jwt.h>

/* Longer tokens are refused as malformed without being decoded. */
#define AUTH_TOKEN_MAX 8192

typedef enum auth_verdict {
	AUTH_OK = 0,
	AUTH_MISSING,        /* "missing token" */
	AUTH_BAD_HEADER,     /* "malformed authorization header" */
	AUTH_MALFORMED,      /* "malformed token" */
	AUTH_BAD_SIGNATURE,  /* "bad signature" */
	AUTH_EXPIRED,        /* "token expired" */
	AUTH_NOT_YET_VALID,  /* "token not yet valid" */
	AUTH_WRONG_ISSUER,   /* "wrong issuer" */
	AUTH_WRONG_AUDIENCE, /* "wrong audience" */
	AUTH_ALG_REFUSED,    /* "algorithm not allowed" */
	AUTH_MISSING_CLAIM,  /* "missing claim X" (X: see auth_claims) */
	AUTH_NOMEM,          /* not a refusal: the host answers 500 */
} auth_verdict;

/* What a token must satisfy. Owned by the plugin instance; read-only
 * after init, so workers share it without locks. */
typedef struct auth_policy {
	jwt_alg_t alg;
	const char *alg_name; /* "HS256", ...: compared with the header */
	const unsigned char *key;
	size_t key_len;
	const char *issuer;   /* NULL: any */
	const char *audience; /* NULL: any */
	int64_t leeway_s;
	const char **require; /* claim names that must be present */
	size_t require_count;
} auth_policy;

/* A verified token's claims, owned by the caller (auth_claims_free). */
typedef struct auth_claims {
	char *json; /* every claim, as libjwt serialises them (malloc) */
	size_t json_len;
	char *sub; /* the "sub" string (malloc), NULL when absent */
	size_t sub_len;
	double exp; /* +inf when absent */
	double nbf; /* -inf when absent */
	const char *missing; /* AUTH_MISSING_CLAIM: the policy's name */
} auth_claims;

/* The short text a refusal carries ("bad signature"). */
const char *auth_reason(auth_verdict v);

/* Verify token (len bytes, not NUL-terminated) at now_s (seconds since
 * the epoch). AUTH_OK fills *out (free it with auth_claims_free); any
 * other verdict leaves *out empty (except out->missing). */
auth_verdict auth_verify(const auth_policy *p, const char *token, size_t len,
			 double now_s, auth_claims *out);

/* exp / nbf against now_s with the leeway (shared with cache hits,
 * which run it on every request: inline). */
static inline auth_verdict auth_check_time(const auth_policy *p, double exp,
					   double nbf, double now_s)
{
	double leeway = (double)p->leeway_s;
	if (now_s > exp + leeway)
		return AUTH_EXPIRED;
	if (now_s + leeway < nbf)
		return AUTH_NOT_YET_VALID;
	return AUTH_OK;
}

void auth_claims_free(auth_claims *c);

/* Decode base64url (no padding) into out (cap bytes): the length, or -1
 * for a character outside the alphabet, a bad length or no room. */
long auth_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
