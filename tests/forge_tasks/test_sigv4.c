/* test_sigv4.c - the signatures our S3 requests carry.
 *
 * s3rver does not check SigV4 signatures, so this test does: each request
 * goes through the client's own request path (dx_s3_request, libcurl's
 * CURLOPT_AWS_SIGV4) to a tiny HTTP server on loopback that records it.
 *   - AWS's published examples, whose date is fixed: libcurl signs with an
 *     X-Amz-Date header the caller provides (7.88 does; it also sends its
 *     own copy first, with the same value), so the signature must be
 *     exactly AWS's:
 *       IAM ListUsers, 20150830T123600Z (the SigV4 documentation's
 *       example): 5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7
 *       S3 GET Object examplebucket/test.txt, Range bytes=0-9,
 *       20130524T000000Z (the S3 API reference's example):
 *       f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41
 *   - a real upload (dx_s3_put, the current time): the signature is
 *     recomputed here from what arrived, by an independent SigV4 signer
 *     (OpenSSL HMAC), itself first checked against AWS's IAM example. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check_main.h"
#include "ft_util.h"
#include "s3sync.h"

#define EMPTY_SHA                                                              \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- a one-request HTTP server on loopback ---- */

typedef struct server {
	int fd;
	int port;
	pthread_t th;
	char head[16384];
	char *body;
	size_t body_len;
} server;

static const char *hdr(const server *s, const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	for (const char *l = strstr(s->head, "\r\n"); l && l[2];
	     l = strstr(l + 2, "\r\n")) {
		const char *h = l + 2;
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			const char *v = h + n + 1;
			while (*v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)strcspn(v, "\r"), v);
			return out;
		}
	}
	return NULL;
}

static void *serve_one(void *arg)
{
	server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	size_t n = 0;
	char *end = NULL;
	while (!end && n < sizeof s->head - 1) {
		ssize_t r = read(c, s->head + n, sizeof s->head - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		s->head[n] = '\0';
		end = strstr(s->head, "\r\n\r\n");
	}
	if (end) {
		char cl[32];
		size_t want = hdr(s, "content-length", cl, sizeof cl) ?
				      strtoul(cl, NULL, 10) :
				      0;
		size_t have = n - (size_t)(end + 4 - s->head);
		s->body = malloc(want + 1);
		memcpy(s->body, end + 4, have);
		if (hdr(s, "expect", cl, sizeof cl) && have < want) {
			const char *go = "HTTP/1.1 100 Continue\r\n\r\n";
			ck_assert_int_eq(write(c, go, strlen(go)),
					 (ssize_t)strlen(go));
		}
		while (have < want) {
			ssize_t r = read(c, s->body + have, want - have);
			if (r <= 0)
				break;
			have += (size_t)r;
		}
		s->body_len = have;
		end[2] = '\0'; /* keep the head's last header's CRLF */
	}
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n";
	ck_assert_int_eq(write(c, ok, strlen(ok)), (ssize_t)strlen(ok));
	close(c);
	return NULL;
}

static void server_start(server *s)
{
	memset(s, 0, sizeof *s);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(s->fd, 4), 0);
	socklen_t len = sizeof a;
	getsockname(s->fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->th, NULL, serve_one, s), 0);
}

static void server_join(server *s)
{
	pthread_join(s->th, NULL);
	close(s->fd);
}

/* The value after "key=" in the Authorization header. */
static char *auth_field(const char *auth, const char *key)
{
	const char *p = strstr(auth, key);
	ck_assert_msg(p != NULL, "no %s in \"%s\"", key, auth);
	p += strlen(key);
	return strndup(p, strcspn(p, ", "));
}

/* ---- one request through the client ---- */

static void kat(const char *access, const char *secret, const char *region,
		const char *service, const char *host, const char *url,
		const char *const *headers, const char *want_signed,
		const char *want_sig, const char *want_cred)
{
	server s;
	server_start(&s);
	dx_s3_conf conf = {.endpoint = "http://unused.example",
			   .bucket = "unused",
			   .region = region,
			   .access_key = access,
			   .secret_key = secret};
	dx_fx_err e = {{0}};
	dx_s3 *c = dx_s3_new(&conf, &e);
	ck_assert_msg(c, "%s", e.msg);
	char *connect_to = ft_printf("%s:80:127.0.0.1:%d", host, s.port);
	dx_s3_http h = {.method = "GET",
			.url = url,
			.service = service,
			.headers = headers,
			.connect_to = connect_to};
	dx_s3_reply rp;
	ck_assert_msg(dx_s3_request(c, &h, &rp, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(rp.status, 200);
	dx_s3_reply_free(&rp);
	server_join(&s);
	char auth[1024], hosthdr[256];
	ck_assert_ptr_nonnull(hdr(&s, "authorization", auth, sizeof auth));
	ck_assert_str_eq(hdr(&s, "host", hosthdr, sizeof hosthdr), host);
	char *sig = auth_field(auth, "Signature=");
	char *signed_h = auth_field(auth, "SignedHeaders=");
	char *cred = auth_field(auth, "Credential=");
	ck_assert_msg(strncmp(auth, "AWS4-HMAC-SHA256 ", 17) == 0, "%s", auth);
	ck_assert_str_eq(cred, want_cred);
	ck_assert_str_eq(signed_h, want_signed);
	ck_assert_str_eq(sig, want_sig);
	free(sig);
	free(signed_h);
	free(cred);
	free(connect_to);
	free(s.body);
	dx_s3_free(c);
}

START_TEST(test_aws_iam_example)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded; "
		"charset=utf-8",
		"X-Amz-Date: 20150830T123600Z", NULL};
	kat("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	    "us-east-1", "iam", "iam.amazonaws.com",
	    "http://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
	    headers, "content-type;host;x-amz-date",
	    "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
	    "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request");
}
END_TEST

START_TEST(test_aws_s3_get_example)
{
	/* Our S3 requests add x-amz-content-sha256 themselves (here the
	 * empty body's hash, as in AWS's example). */
	static const char *const headers[] = {
		"Range: bytes=0-9", "X-Amz-Date: 20130524T000000Z", NULL};
	kat("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	    "us-east-1", NULL, "examplebucket.s3.amazonaws.com",
	    "http://examplebucket.s3.amazonaws.com/test.txt", headers,
	    "host;range;x-amz-content-sha256;x-amz-date",
	    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	    "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
}
END_TEST

/* ---- an independent SigV4 signer ---- */

static void hmac(const unsigned char *key, size_t klen, const char *msg,
		 unsigned char out[32])
{
	unsigned int n = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
	     strlen(msg), out, &n);
}

static void sign(const char *secret, const char *amzdate, const char *region,
		 const char *service, const char *creq, char out[65])
{
	char date[9], hash[65];
	snprintf(date, sizeof date, "%.8s", amzdate);
	dx_fx_sha256_hex(creq, strlen(creq), hash);
	char *sts = ft_printf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
			      amzdate, date, region, service, hash);
	char *k = ft_printf("AWS4%s", secret);
	unsigned char a[32], b[32];
	hmac((unsigned char *)k, strlen(k), date, a);
	hmac(a, 32, region, b);
	hmac(b, 32, service, a);
	hmac(a, 32, "aws4_request", b);
	hmac(b, 32, sts, a);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", a[i]);
	free(sts);
	free(k);
}

START_TEST(test_signer_self_check)
{
	char sig[65];
	sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z",
	     "us-east-1", "iam",
	     "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
	     "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
	     "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	     "content-type;host;x-amz-date\n" EMPTY_SHA,
	     sig);
	ck_assert_str_eq(
		sig,
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}
END_TEST

START_TEST(test_real_upload_signature)
{
	server s;
	server_start(&s);
	char *endpoint = ft_printf("http://127.0.0.1:%d", s.port);
	const char *secret = "s3cr3t/with+odd=chars";
	dx_s3_conf conf = {.endpoint = endpoint,
			   .bucket = "bkt",
			   .region = "auto",
			   .access_key = "AKTEST",
			   .secret_key = secret};
	dx_fx_err e = {{0}};
	dx_s3 *c = dx_s3_new(&conf, &e);
	ck_assert_msg(c, "%s", e.msg);
	const char body[] = "object body\n\0with a NUL";
	ck_assert_msg(dx_s3_put(c, "objects/ab12", body, sizeof body, &e) == 0,
		      "%s", e.msg);
	server_join(&s);

	ck_assert_msg(strncmp(s.head, "PUT /bkt/objects/ab12 HTTP/1.1\r\n",
			      32) == 0,
		      "%s", s.head);
	ck_assert_uint_eq(s.body_len, sizeof body);
	ck_assert_int_eq(memcmp(s.body, body, sizeof body), 0);
	char want_hash[65], got_hash[128], date[64], host[128], auth[1024];
	dx_fx_sha256_hex(body, sizeof body, want_hash);
	ck_assert_ptr_nonnull(
		hdr(&s, "x-amz-content-sha256", got_hash, sizeof got_hash));
	ck_assert_str_eq(got_hash, want_hash);
	ck_assert_ptr_nonnull(hdr(&s, "x-amz-date", date, sizeof date));
	ck_assert_ptr_nonnull(hdr(&s, "host", host, sizeof host));
	ck_assert_ptr_nonnull(hdr(&s, "authorization", auth, sizeof auth));
	char *signed_h = auth_field(auth, "SignedHeaders=");
	ck_assert_str_eq(signed_h, "host;x-amz-content-sha256;x-amz-date");
	char *cred = auth_field(auth, "Credential=");
	char *want_cred = ft_printf("AKTEST/%.8s/auto/s3/aws4_request", date);
	ck_assert_str_eq(cred, want_cred);

	char *creq = ft_printf("PUT\n/bkt/objects/ab12\n\nhost:%s\n"
			       "x-amz-content-sha256:%s\nx-amz-date:%s\n\n"
			       "host;x-amz-content-sha256;x-amz-date\n%s",
			       host, want_hash, date, want_hash);
	char want_sig[65];
	sign(secret, date, "auto", "s3", creq, want_sig);
	char *sig = auth_field(auth, "Signature=");
	ck_assert_str_eq(sig, want_sig);

	free(sig);
	free(creq);
	free(want_cred);
	free(cred);
	free(signed_h);
	free(s.body);
	free(endpoint);
	dx_s3_free(c);
}
END_TEST

START_TEST(test_credentials)
{
	char *d = ft_tmpdir();
	ft_puts(d, "aws",
		"[default]\naws_access_key_id = AK1\n"
		"aws_secret_access_key=SK/1+x\n[other]\n"
		"aws_access_key_id = AK2\n");
	ft_puts(d, "env",
		"export AWS_ACCESS_KEY_ID=\"AK3\"\n"
		"AWS_SECRET_ACCESS_KEY='SK3'\n");
	ft_puts(d, "bad", "nothing here\n");
	char *ak, *sk, *p;
	dx_fx_err e = {{0}};
	p = ft_printf("%s/aws", d);
	ck_assert_int_eq(dx_s3_credentials(p, &ak, &sk, &e), 0);
	ck_assert_str_eq(ak, "AK1");
	ck_assert_str_eq(sk, "SK/1+x");
	free(ak);
	free(sk);
	free(p);
	p = ft_printf("%s/env", d);
	ck_assert_int_eq(dx_s3_credentials(p, &ak, &sk, &e), 0);
	ck_assert_str_eq(ak, "AK3");
	ck_assert_str_eq(sk, "SK3");
	free(ak);
	free(sk);
	free(p);
	p = ft_printf("%s/bad", d);
	ck_assert_int_eq(dx_s3_credentials(p, &ak, &sk, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, p), "%s", e.msg);
	free(p);
	setenv("AWS_ACCESS_KEY_ID", "EAK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ESK", 1);
	ck_assert_int_eq(dx_s3_credentials(NULL, &ak, &sk, &e), 0);
	ck_assert_str_eq(ak, "EAK");
	free(ak);
	free(sk);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(dx_s3_credentials(NULL, &ak, &sk, &e), -ENOENT);
	ck_assert_msg(strstr(e.msg, "AWS_SECRET_ACCESS_KEY"), "%s", e.msg);
	ft_rmtree(d);
	free(d);
}
END_TEST

START_TEST(test_errors_name_endpoint)
{
	/* Nothing listens on the port: the error names the URL. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t alen = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &alen);
	int port = ntohs(a.sin_port);
	close(fd); /* bound, never listening, now free: refused */
	char *endpoint = ft_printf("http://127.0.0.1:%d", port);
	dx_s3_conf conf = {endpoint, "bkt", NULL, "a", "b", NULL, 5};
	dx_fx_err e = {{0}};
	dx_s3 *c = dx_s3_new(&conf, &e);
	ck_assert_int_lt(dx_s3_put(c, "k", "x", 1, &e), 0);
	ck_assert_msg(strstr(e.msg, endpoint) && strstr(e.msg, "/bkt/k"), "%s",
		      e.msg);
	dx_s3_free(c);
	free(endpoint);
	conf.endpoint = "ftp://x";
	ck_assert_ptr_null(dx_s3_new(&conf, &e));
	ck_assert_msg(strstr(e.msg, "not a URL"), "%s", e.msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("sigv4");
	tcase_add_test(tc, test_aws_iam_example);
	tcase_add_test(tc, test_aws_s3_get_example);
	tcase_add_test(tc, test_signer_self_check);
	tcase_add_test(tc, test_real_upload_signature);
	tcase_add_test(tc, test_credentials);
	tcase_add_test(tc, test_errors_name_endpoint);
	suite_add_tcase(s, tc);
	return dx_check_run(s);
}
