/* sha256.c - SHA-256 of memory, of a file, and of what is copied between
 * two descriptors, as lowercase hex (fx_util.h). OpenSSL's EVP, as libcurl
 * uses. */
#include "fx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

static void dx_fx_hex(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void dx_fx_sha256_hex(const void *data, size_t len, char out[DX_FX_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	dx_fx_hex(md, n, out);
}

int dx_fx_sha256_fd(int in, int out, char hex[DX_FX_HEX_LEN + 1],
		    uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	static const size_t bufsz = 1 << 16;
	char *buf = malloc(bufsz);
	uint64_t total = 0;
	int rc = buf ? 0 : -ENOMEM;
	while (rc == 0) {
		ssize_t n = dx_fx_read_some(in, buf, bufsz);
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
		if (out >= 0)
			rc = dx_fx_write_all(out, buf, (size_t)n);
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	free(buf);
	if (rc == 0) {
		dx_fx_hex(md, mdlen, hex);
		if (size)
			*size = total;
	}
	return rc;
}

int dx_fx_sha256_file(const char *path, char out[DX_FX_HEX_LEN + 1],
		      uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = dx_fx_sha256_fd(fd, -1, out, size);
	close(fd);
	return rc;
}

bool dx_fx_is_hex64(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == DX_FX_HEX_LEN;
}
