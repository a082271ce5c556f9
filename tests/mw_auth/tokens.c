/* tokens.c - keys and JWTs made by the mw_auth tests themselves. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tokens.h"

long tk_now(void)
{
	return (long)time(NULL);
}

const char *tk_write(const char *dir, const char *name, const void *data,
		     size_t len, unsigned mode)
{
	static char path[320];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	chmod(path, mode);
	return path;
}

static int slurp(tk_pem *p)
{
	FILE *f = fopen(p->path, "rb");
	if (!f) {
		perror(p->path);
		return -1;
	}
	char buf[16384];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	p->pem = malloc(n + 1);
	if (!p->pem)
		return -1;
	memcpy(p->pem, buf, n);
	p->pem[n] = '\0';
	p->len = n;
	return 0;
}

static int make_secret(const char *dir, const char *name, char fill,
		       tk_pem *p)
{
	char s[64];
	for (size_t i = 0; i < sizeof s; i++)
		s[i] = (char)(fill + (char)(i % 26));
	const char *path = tk_write(dir, name, s, sizeof s, 0600);
	if (!path)
		return -1;
	snprintf(p->path, sizeof p->path, "%s", path);
	return slurp(p);
}

static int run(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "tokens: \"%s\" failed (%d)\n", cmd, rc);
	return rc == 0 ? 0 : -1;
}

/* genpkey with opts into name.key, its public half into name.pub. */
static int make_pair(const char *dir, const char *name, const char *opts,
		     tk_pem *priv, tk_pem *pub)
{
	snprintf(priv->path, sizeof priv->path, "%s/%s.key", dir, name);
	snprintf(pub->path, sizeof pub->path, "%s/%s.pub", dir, name);
	char cmd[1200];
	snprintf(cmd, sizeof cmd,
		 "openssl genpkey %s -out '%s' 2>/dev/null && "
		 "openssl pkey -in '%s' -pubout -out '%s' 2>/dev/null",
		 opts, priv->path, priv->path, pub->path);
	if (run(cmd) < 0 || slurp(priv) < 0 || slurp(pub) < 0)
		return -1;
	return 0;
}

int tk_keys_make(tk_keys *k)
{
	memset(k, 0, sizeof *k);
	const char *base = getenv("TMPDIR");
	snprintf(k->dir, sizeof k->dir, "%s/dx-mwauth-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(k->dir)) {
		perror("mkdtemp");
		return -1;
	}
	chmod(k->dir, 0755);
	if (make_secret(k->dir, "secret", 'a', &k->secret) < 0 ||
	    make_secret(k->dir, "secret2", 'A', &k->secret2) < 0)
		return -1;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		printf("note: no openssl command: RS256/ES256 cases skip\n");
		return 0;
	}
	if (make_pair(k->dir, "rsa",
		      "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
		      &k->rsa_priv, &k->rsa_pub) < 0 ||
	    make_pair(k->dir, "ec",
		      "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
		      &k->ec_priv, &k->ec_pub) < 0)
		return -1;
	k->have_pki = true;
	return 0;
}

static void rm_pem(tk_pem *p)
{
	if (p->path[0])
		unlink(p->path);
	free(p->pem);
	memset(p, 0, sizeof *p);
}

void tk_keys_remove(tk_keys *k)
{
	rm_pem(&k->secret);
	rm_pem(&k->secret2);
	rm_pem(&k->rsa_priv);
	rm_pem(&k->rsa_pub);
	rm_pem(&k->ec_priv);
	rm_pem(&k->ec_pub);
	if (k->dir[0])
		rmdir(k->dir);
}

char *tk_token(jwt_alg_t alg, const void *key, size_t key_len,
	       const char *claims)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_set_alg(jwt, alg, key, (int)key_len) == 0 &&
	    jwt_add_grants_json(jwt, claims) == 0)
		out = jwt_encode_str(jwt);
	jwt_free(jwt);
	return out;
}

char *tk_tokenf(jwt_alg_t alg, const void *key, size_t key_len,
		const char *fmt, ...)
{
	char claims[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(claims, sizeof claims, fmt, ap);
	va_end(ap);
	return tk_token(alg, key, key_len, claims);
}
