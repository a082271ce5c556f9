/* tokens.h - keys and JWTs made by the mw_auth tests themselves.
 *
 * tk_keys_make() writes, into a fresh temp dir: a 64-byte HMAC secret
 * (mode 0600) and, when the openssl command is there, an RSA 2048 and an
 * EC P-256 key pair (PEM: private and public). Tokens are made with
 * libjwt (jwt_new, jwt_set_alg, jwt_add_grants_json, jwt_encode_str). */
#ifndef DX_TEST_TOKENS_H
#define DX_TEST_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#include <jwt.h>

typedef struct tk_pem {
	char path[320]; /* the file */
	char *pem;      /* its contents, NUL-terminated (malloc) */
	size_t len;
} tk_pem;

typedef struct tk_keys {
	char dir[256];
	tk_pem secret;  /* HS*: 64 bytes */
	tk_pem secret2; /* another secret, for "bad signature" */
	bool have_pki;  /* the openssl command made the pairs below */
	tk_pem rsa_priv, rsa_pub, ec_priv, ec_pub;
} tk_keys;

/* 0, or -1 with a message on stderr. */
int tk_keys_make(tk_keys *k);
void tk_keys_remove(tk_keys *k);

/* A signed token (free() it) over claims (a JSON object), or NULL. For
 * JWT_ALG_NONE pass key NULL. */
char *tk_token(jwt_alg_t alg, const void *key, size_t key_len,
	       const char *claims);
/* The same with the claims printf-formatted. */
char *tk_tokenf(jwt_alg_t alg, const void *key, size_t key_len,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Seconds since the epoch. */
long tk_now(void);

/* Write data to dir/name with mode; the path (static buffer per call
 * site: copy it). */
const char *tk_write(const char *dir, const char *name, const void *data,
		     size_t len, unsigned mode);

#endif
