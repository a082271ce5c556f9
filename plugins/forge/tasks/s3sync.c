/* s3sync.c - an S3 client on libcurl's SigV4 signing, and the snapshot
 * store's upload (s3sync.h). */
#include "s3sync.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#define DX_S3_EMPTY_SHA256                                                     \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct dx_s3 {
	CURL *curl;
	char *endpoint; /* without a trailing '/' */
	char *bucket, *region, *access_key, *secret_key, *prefix;
	long timeout;
};

/* curl_global_init once per process: libcurl asks for it before any
 * thread uses a handle (its init is not thread-safe in every build). */
static pthread_once_t dx_s3_once = PTHREAD_ONCE_INIT;
static CURLcode dx_s3_init_rc;
static void dx_s3_global_init(void)
{
	dx_s3_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- credentials ---- */

static char *dx_s3_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

static int dx_s3_cred_file(const char *file, char **ak, char **sk, dx_fx_err *e)
{
	char *text = NULL;
	int rc = dx_fx_read_file(file, &text, NULL);
	if (rc < 0)
		return dx_fx_fail(e, rc,
				  "cannot read the credentials file %s: "
				  "%s",
				  file, strerror(-rc));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq || *dx_s3_trim(line) == '#')
			continue;
		*eq = '\0';
		char *key = dx_s3_trim(line), *val = dx_s3_trim(eq + 1);
		if (strncmp(key, "export ", 7) == 0)
			key = dx_s3_trim(key + 7);
		char **slot = !strcasecmp(key, "aws_access_key_id")     ? ak :
			      !strcasecmp(key, "aws_secret_access_key") ? sk :
									  NULL;
		if (slot && !*slot && *val && !(*slot = strdup(val)))
			rc = -ENOMEM;
	}
	free(text);
	if (rc == 0 && (!*ak || !*sk))
		rc = dx_fx_fail(e, -ENOENT,
				"the credentials file %s has no %s: expected "
				"\"aws_access_key_id = ...\" and "
				"\"aws_secret_access_key = ...\" lines",
				file, !*ak ? "access key" : "secret key");
	return rc;
}

int dx_s3_credentials(const char *file, char **access_key, char **secret_key,
		      dx_fx_err *e)
{
	*access_key = *secret_key = NULL;
	int rc;
	if (file) {
		rc = dx_s3_cred_file(file, access_key, secret_key, e);
	} else {
		const char *ak = getenv("AWS_ACCESS_KEY_ID");
		const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
		if (!ak || !*ak || !sk || !*sk)
			return dx_fx_fail(e, -ENOENT,
					  "no credentials: set "
					  "AWS_ACCESS_KEY_ID and "
					  "AWS_SECRET_ACCESS_KEY, or pass "
					  "--credentials FILE");
		*access_key = strdup(ak);
		*secret_key = strdup(sk);
		rc = *access_key && *secret_key ? 0 : -ENOMEM;
	}
	if (rc < 0) {
		free(*access_key);
		free(*secret_key);
		*access_key = *secret_key = NULL;
	}
	return rc;
}

/* ---- the client ---- */

void dx_s3_free(dx_s3 *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->endpoint);
	free(c->bucket);
	free(c->region);
	free(c->access_key);
	free(c->secret_key);
	free(c->prefix);
	free(c);
}

dx_s3 *dx_s3_new(const dx_s3_conf *conf, dx_fx_err *e)
{
	const char *missing = !conf->endpoint || !*conf->endpoint ? "endpoint" :
			      !conf->bucket || !*conf->bucket     ? "bucket" :
			      !conf->access_key || !conf->secret_key ?
								"credentials" :
								NULL;
	if (missing) {
		dx_fx_fail(e, -EINVAL, "S3: no %s given", missing);
		return NULL;
	}
	if (strncmp(conf->endpoint, "http://", 7) != 0 &&
	    strncmp(conf->endpoint, "https://", 8) != 0) {
		dx_fx_fail(e, -EINVAL,
			   "S3 endpoint \"%s\" is not a URL: expected "
			   "http://HOST[:PORT] or https://HOST[:PORT]",
			   conf->endpoint);
		return NULL;
	}
	pthread_once(&dx_s3_once, dx_s3_global_init);
	dx_s3 *c = calloc(1, sizeof *c);
	if (!c || dx_s3_init_rc != CURLE_OK || !(c->curl = curl_easy_init())) {
		dx_fx_fail(e, -ENOMEM, "S3: libcurl could not start");
		dx_s3_free(c);
		return NULL;
	}
	c->endpoint = strdup(conf->endpoint);
	c->bucket = strdup(conf->bucket);
	c->region = strdup(conf->region && *conf->region ? conf->region :
							   "us-east-1");
	c->access_key = strdup(conf->access_key);
	c->secret_key = strdup(conf->secret_key);
	c->prefix = strdup(conf->prefix ? conf->prefix : "");
	c->timeout = conf->timeout > 0 ? conf->timeout : 120;
	if (!c->endpoint || !c->bucket || !c->region || !c->access_key ||
	    !c->secret_key || !c->prefix) {
		dx_fx_fail(e, -ENOMEM, "out of memory");
		dx_s3_free(c);
		return NULL;
	}
	size_t n = strlen(c->endpoint);
	while (n && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = '\0';
	return c;
}

void dx_s3_reply_free(dx_s3_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof *reply);
}

typedef struct dx_s3_sink {
	char *buf;
	size_t len, cap;
	bool oom;
} dx_s3_sink;

static size_t dx_s3_write_cb(char *p, size_t size, size_t n, void *arg)
{
	dx_s3_sink *s = arg;
	size_t len = size * n;
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + len + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b) {
			s->oom = true;
			return 0;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

typedef struct dx_s3_source {
	const char *p;
	size_t left;
} dx_s3_source;

static size_t dx_s3_read_mem(char *out, size_t size, size_t n, void *arg)
{
	dx_s3_source *s = arg;
	size_t len = size * n < s->left ? size * n : s->left;
	memcpy(out, s->p, len);
	s->p += len;
	s->left -= len;
	return len;
}

/* The options every request gets: signing, credentials, timeouts. */
static struct curl_slist *dx_s3_setup(dx_s3 *c, const dx_s3_http *h,
				      char *sigv4, size_t sigv4_len,
				      char *sha_hdr, size_t sha_len)
{
	CURL *k = c->curl;
	const char *service = h->service ? h->service : "s3";
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, h->url);
	snprintf(sigv4, sigv4_len, "aws:amz:%s:%s", c->region, service);
	curl_easy_setopt(k, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(k, CURLOPT_USERNAME, c->access_key);
	curl_easy_setopt(k, CURLOPT_PASSWORD, c->secret_key);
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, c->timeout);
	curl_easy_setopt(k, CURLOPT_USERAGENT, "dx-forge");
	struct curl_slist *hdrs = NULL;
	if (strcmp(service, "s3") == 0) {
		const char *hash = h->payload_hash;
		char buf[DX_FX_HEX_LEN + 1];
		if (!hash && h->body) {
			dx_fx_sha256_hex(h->body, (size_t)h->body_len, buf);
			hash = buf;
		}
		snprintf(sha_hdr, sha_len, "x-amz-content-sha256: %s",
			 hash ? hash : DX_S3_EMPTY_SHA256);
		hdrs = curl_slist_append(hdrs, sha_hdr);
	}
	for (size_t i = 0; h->headers && h->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, h->headers[i]);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, hdrs);
	return hdrs;
}

static struct curl_slist *dx_s3_connect_to(CURL *k, const char *entry)
{
	if (!entry)
		return NULL;
	struct curl_slist *l = curl_slist_append(NULL, entry);
	curl_easy_setopt(k, CURLOPT_CONNECT_TO, l);
	return l;
}

int dx_s3_request(dx_s3 *c, const dx_s3_http *h, dx_s3_reply *reply,
		  dx_fx_err *e)
{
	char sigv4[256], sha_hdr[128];
	dx_s3_sink sink = {0};
	dx_s3_source src = {h->body, (size_t)h->body_len};
	FILE *f = NULL;
	memset(reply, 0, sizeof *reply);
	struct curl_slist *hdrs =
		dx_s3_setup(c, h, sigv4, sizeof sigv4, sha_hdr, sizeof sha_hdr);
	struct curl_slist *conn = dx_s3_connect_to(c->curl, h->connect_to);
	CURL *k = c->curl;
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, dx_s3_write_cb);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &sink);
	int rc = 0;
	if (strcmp(h->method, "PUT") == 0) {
		curl_easy_setopt(k, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(k, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)h->body_len);
		if (h->body_file) {
			f = fopen(h->body_file, "rb");
			if (!f)
				rc = dx_fx_fail(e, -errno, "cannot read %s: %s",
						h->body_file, strerror(errno));
			curl_easy_setopt(k, CURLOPT_READDATA, f);
		} else {
			curl_easy_setopt(k, CURLOPT_READFUNCTION,
					 dx_s3_read_mem);
			curl_easy_setopt(k, CURLOPT_READDATA, &src);
		}
	} else if (strcmp(h->method, "HEAD") == 0) {
		curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
	} else if (strcmp(h->method, "GET") != 0) {
		curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, h->method);
	}
	CURLcode cc = CURLE_OK;
	if (rc == 0)
		cc = curl_easy_perform(k);
	if (rc == 0 && (cc != CURLE_OK || sink.oom)) {
		rc = dx_fx_fail(e, sink.oom ? -ENOMEM : -EIO, "%s %s: %s",
				h->method, h->url,
				sink.oom ? "out of memory" :
					   curl_easy_strerror(cc));
	}
	if (rc == 0) {
		curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &reply->status);
		reply->body = sink.buf ? sink.buf : strdup("");
		reply->len = sink.len;
		sink.buf = NULL;
		if (!reply->body)
			rc = dx_fx_fail(e, -ENOMEM, "out of memory");
	}
	/* The handle keeps pointers to these until the next reset. */
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(k, CURLOPT_CONNECT_TO, NULL);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(conn);
	if (f)
		fclose(f);
	free(sink.buf);
	return rc;
}

/* ---- S3 operations ---- */

/* The text of <tag>...</tag> in xml (first match), malloc'd, entities
 * decoded; NULL when absent. *next: just past it. */
static char *dx_s3_xml(const char *xml, const char *tag, const char **next)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = xml ? strstr(xml, open) : NULL;
	const char *b = a ? strstr(a, close) : NULL;
	if (!b)
		return NULL;
	a += strlen(open);
	if (next)
		*next = b + strlen(close);
	char *out = malloc((size_t)(b - a) + 1), *o = out;
	if (!out)
		return NULL;
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'},
		    {"&lt;", '<'},
		    {"&gt;", '>'},
		    {"&quot;", '"'},
		    {"&apos;", '\''}};
	while (a < b) {
		size_t i = 0;
		for (; i < sizeof ents / sizeof ents[0]; i++)
			if (!strncmp(a, ents[i].ent, strlen(ents[i].ent)))
				break;
		if (i < sizeof ents / sizeof ents[0]) {
			*o++ = ents[i].c;
			a += strlen(ents[i].ent);
		} else {
			*o++ = *a++;
		}
	}
	*o = '\0';
	return out;
}

/* An error naming the endpoint, the key, the status and S3's words. */
static int dx_s3_status_error(dx_s3 *c, const char *op, const char *key,
			      const dx_s3_reply *rp, dx_fx_err *e)
{
	char *code = dx_s3_xml(rp->body, "Code", NULL);
	char *msg = dx_s3_xml(rp->body, "Message", NULL);
	int rc = rp->status == 404                      ? -ENOENT :
		 rp->status == 401 || rp->status == 403 ? -EACCES :
							  -EIO;
	dx_fx_fail(
		e, rc, "S3 %s of %s%s%s%s bucket %s at %s: HTTP %ld%s%s%s%s%s",
		op, *key ? "\"" : "", key, *key ? "\"" : "", *key ? " in" : "",
		c->bucket, c->endpoint, rp->status, code ? " " : "",
		code ? code : "", msg ? ": " : "", msg ? msg : "",
		rc == -EACCES ? " (check the credentials and the region)" : "");
	free(code);
	free(msg);
	return rc;
}

/* endpoint/bucket/key with the key percent-encoded ('/' kept). */
static char *dx_s3_url(dx_s3 *c, const char *key, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(key);
	char *enc = malloc(3 * n + 1), *o = enc;
	if (!enc)
		return NULL;
	for (const unsigned char *s = (const unsigned char *)key; *s; s++) {
		if (isalnum(*s) || strchr("-._~/", *s)) {
			*o++ = (char)*s;
		} else {
			*o++ = '%';
			*o++ = hex[*s >> 4];
			*o++ = hex[*s & 15];
		}
	}
	*o = '\0';
	char *url = dx_fx_printf("%s/%s%s%s%s%s", c->endpoint, c->bucket,
				 *enc ? "/" : "", enc, query ? "?" : "",
				 query ? query : "");
	free(enc);
	return url;
}

/* One request on key (the URL's) about what (the error's: the key, or a
 * listing's prefix). */
static int dx_s3_op_on(dx_s3 *c, const char *op, const char *key,
		       const char *what, dx_s3_http *h, const char *query,
		       dx_s3_reply *rp, dx_fx_err *e)
{
	char *url = dx_s3_url(c, key, query);
	if (!url)
		return dx_fx_fail(e, -ENOMEM, "out of memory");
	h->url = url;
	int rc = dx_s3_request(c, h, rp, e);
	free(url);
	if (rc == 0 && (rp->status < 200 || rp->status > 299)) {
		rc = dx_s3_status_error(c, op, what, rp, e);
		dx_s3_reply_free(rp);
	}
	return rc;
}

static int dx_s3_op(dx_s3 *c, const char *op, const char *key, dx_s3_http *h,
		    const char *query, dx_s3_reply *rp, dx_fx_err *e)
{
	return dx_s3_op_on(c, op, key, key, h, query, rp, e);
}

int dx_s3_create_bucket(dx_s3 *c, dx_fx_err *e)
{
	/* A bucket we can already reach is fine; HEAD asks (S3 answers a
	 * second create with 409, which is ambiguous between "yours" and
	 * "someone else's"). */
	dx_s3_http head = {.method = "HEAD"};
	dx_s3_reply rp;
	int rc = dx_s3_op_on(c, "bucket lookup", "", "", &head, NULL, &rp, e);
	if (rc == 0) {
		dx_s3_reply_free(&rp);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	dx_s3_http h = {.method = "PUT", .body = "", .body_len = 0};
	rc = dx_s3_op_on(c, "bucket creation", "", "", &h, NULL, &rp, e);
	if (rc == 0)
		dx_s3_reply_free(&rp);
	return rc;
}

int dx_s3_put(dx_s3 *c, const char *key, const void *data, size_t len,
	      dx_fx_err *e)
{
	dx_s3_http h = {.method = "PUT", .body = data, .body_len = len};
	dx_s3_reply rp;
	int rc = dx_s3_op(c, "upload", key, &h, NULL, &rp, e);
	if (rc == 0)
		dx_s3_reply_free(&rp);
	return rc;
}

int dx_s3_put_file(dx_s3 *c, const char *key, const char *path,
		   const char *sha256_hex, dx_fx_err *e)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return dx_fx_fail(e, -errno, "cannot read %s: %s", path,
				  strerror(errno));
	char hex[DX_FX_HEX_LEN + 1];
	if (!sha256_hex) {
		int rc = dx_fx_sha256_file(path, hex, NULL);
		if (rc < 0)
			return dx_fx_fail(e, rc, "cannot read %s: %s", path,
					  strerror(-rc));
		sha256_hex = hex;
	}
	dx_s3_http h = {.method = "PUT",
			.body_file = path,
			.body_len = (uint64_t)st.st_size,
			.payload_hash = sha256_hex};
	dx_s3_reply rp;
	int rc = dx_s3_op(c, "upload", key, &h, NULL, &rp, e);
	if (rc == 0)
		dx_s3_reply_free(&rp);
	return rc;
}

int dx_s3_get(dx_s3 *c, const char *key, char **data, size_t *len, dx_fx_err *e)
{
	dx_s3_http h = {.method = "GET"};
	dx_s3_reply rp;
	int rc = dx_s3_op(c, "download", key, &h, NULL, &rp, e);
	if (rc == 0) {
		*data = rp.body;
		if (len)
			*len = rp.len;
	}
	return rc;
}

void dx_s3_keys_free(char **keys, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(keys[i]);
	free(keys);
}

static int dx_s3_keys_add(char ***keys, size_t *count, size_t *cap, char *k)
{
	if (*count == *cap) {
		size_t n = *cap ? 2 * *cap : 64;
		char **v = realloc(*keys, n * sizeof *v);
		if (!v) {
			free(k);
			return -ENOMEM;
		}
		*keys = v;
		*cap = n;
	}
	(*keys)[(*count)++] = k;
	return 0;
}

/* The query of one ListObjectsV2 page; parameters in the sorted order
 * SigV4's canonical query string wants. */
static char *dx_s3_list_query(dx_s3 *c, const char *prefix, const char *token)
{
	char *p = curl_easy_escape(c->curl, prefix, 0);
	char *t = token ? curl_easy_escape(c->curl, token, 0) : NULL;
	char *q = NULL;
	if (p && (!token || t))
		q = dx_fx_printf("%s%s%slist-type=2&prefix=%s",
				 t ? "continuation-token=" : "", t ? t : "",
				 t ? "&" : "", p);
	curl_free(p);
	curl_free(t);
	return q;
}

int dx_s3_list(dx_s3 *c, const char *prefix, char ***keys, size_t *count,
	       dx_fx_err *e)
{
	size_t cap = 0;
	char *token = NULL;
	int rc = 0;
	*keys = NULL;
	*count = 0;
	do {
		char *q = dx_s3_list_query(c, prefix, token);
		free(token);
		token = NULL;
		if (!q) {
			rc = dx_fx_fail(e, -ENOMEM, "out of memory");
			break;
		}
		dx_s3_http h = {.method = "GET"};
		dx_s3_reply rp;
		rc = dx_s3_op_on(c, "listing", "", prefix, &h, q, &rp, e);
		free(q);
		if (rc < 0)
			break;
		const char *at = rp.body;
		for (char *k; rc == 0 && (k = dx_s3_xml(at, "Key", &at));)
			rc = dx_s3_keys_add(keys, count, &cap, k);
		char *trunc = dx_s3_xml(rp.body, "IsTruncated", NULL);
		if (trunc && strcmp(trunc, "true") == 0)
			token = dx_s3_xml(rp.body, "NextContinuationToken",
					  NULL);
		free(trunc);
		dx_s3_reply_free(&rp);
	} while (rc == 0 && token);
	free(token);
	if (rc < 0) {
		dx_s3_keys_free(*keys, *count);
		*keys = NULL;
		*count = 0;
	}
	return rc;
}

/* ---- sync ---- */

typedef struct dx_sync {
	const dx_sync_opts *o;
	const char *project;
	dx_s3 *c;
	char *record; /* path */
	char **done;  /* sorted keys of the record */
	size_t ndone;
	FILE *append;
	dx_sync_result *r;
	dx_fx_err *e;
	size_t step, steps;
} dx_sync;

static int dx_sync_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dx_sync_load_record(dx_sync *s)
{
	const dx_s3_conf *cf = &s->o->s3;
	char *id = dx_fx_printf("%s\n%s\n%s", s->c->endpoint, cf->bucket,
				s->c->prefix);
	char hex[DX_FX_HEX_LEN + 1];
	if (!id)
		return dx_fx_fail(s->e, -ENOMEM, "out of memory");
	dx_fx_sha256_hex(id, strlen(id), hex);
	free(id);
	char *dir = dx_fx_join(s->project, ".dx/forge/sync");
	s->record = dir ? dx_fx_printf("%s/%.16s.keys", dir, hex) : NULL;
	int rc = s->record ? dx_fx_mkdirs(dir, 0755) : -ENOMEM;
	free(dir);
	if (rc < 0)
		return dx_fx_fail(s->e, rc,
				  "cannot create %s/.dx/forge/sync: %s",
				  s->project, strerror(-rc));
	char *text = NULL;
	size_t cap = 0;
	if (!s->o->force && dx_fx_read_file(s->record, &text, NULL) == 0) {
		char *save = NULL;
		for (char *l = strtok_r(text, "\n", &save); rc == 0 && l;
		     l = strtok_r(NULL, "\n", &save)) {
			if (*l == '#')
				continue;
			char *k = strdup(l);
			rc = k ? dx_s3_keys_add(&s->done, &s->ndone, &cap, k) :
				 -ENOMEM;
		}
		free(text);
		if (s->ndone)
			qsort(s->done, s->ndone, sizeof *s->done, dx_sync_cmp);
	}
	struct stat st;
	bool fresh = s->o->force || stat(s->record, &st) < 0;
	s->append = rc == 0 ? fopen(s->record, s->o->force ? "w" : "a") : NULL;
	if (rc == 0 && !s->append)
		rc = dx_fx_fail(s->e, -errno, "cannot write %s: %s", s->record,
				strerror(errno));
	else if (rc == 0 && fresh)
		fprintf(s->append,
			"# keys uploaded to %s bucket %s prefix "
			"\"%s\"\n",
			s->c->endpoint, cf->bucket, s->c->prefix);
	return rc;
}

static bool dx_sync_uploaded(const dx_sync *s, const char *key)
{
	return s->ndone &&
	       bsearch(&key, s->done, s->ndone, sizeof *s->done, dx_sync_cmp);
}

/* Upload one file as key unless the record has it. */
static int dx_sync_one(dx_sync *s, const char *key, const char *path,
		       const char *hash)
{
	int rc = 0;
	if (dx_sync_uploaded(s, key)) {
		s->r->skipped++;
	} else {
		rc = dx_s3_put_file(s->c, key, path, hash, s->e);
		if (rc == 0) {
			struct stat st;
			if (stat(path, &st) == 0)
				s->r->bytes += (uint64_t)st.st_size;
			s->r->uploaded++;
			/* One line per key, flushed: a sync that is cut off
			 * keeps what it did. */
			fprintf(s->append, "%s\n", key);
			fflush(s->append);
		}
	}
	if (s->o->progress)
		s->o->progress(s->o->progress_arg, "sync", ++s->step, s->steps);
	return rc;
}

/* The objects now in the store: "AB/CDEF..." names as full hashes. */
static int dx_sync_objects(dx_sync *s, char ***hashes, size_t *count)
{
	char *dir = dx_fx_join(s->project, ".dx/forge/snapshots/objects");
	size_t cap = 0;
	int rc = dir ? 0 : -ENOMEM;
	*hashes = NULL;
	*count = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	for (struct dirent *de; rc == 0 && d && (de = readdir(d));) {
		if (strlen(de->d_name) != 2)
			continue;
		char *sub = dx_fx_join(dir, de->d_name);
		DIR *d2 = sub ? opendir(sub) : NULL;
		for (struct dirent *f; rc == 0 && d2 && (f = readdir(d2));) {
			char *h = dx_fx_printf("%s%s", de->d_name, f->d_name);
			if (h && !dx_fx_is_hex64(h)) {
				free(h);
				continue; /* ".", "..", temp files */
			}
			rc = h ? dx_s3_keys_add(hashes, count, &cap, h) :
				 -ENOMEM;
		}
		if (d2)
			closedir(d2);
		free(sub);
	}
	if (d)
		closedir(d);
	free(dir);
	if (rc == 0 && *count)
		qsort(*hashes, *count, sizeof **hashes, dx_sync_cmp);
	return rc < 0 ? dx_fx_fail(s->e, rc, "out of memory") : 0;
}

static int dx_sync_run(dx_sync *s)
{
	/* Manifests are listed before objects: a snapshot finishing
	 * meanwhile writes its objects first, so every manifest uploaded
	 * here has its objects among those listed after it. */
	dx_snap_info *snaps = NULL;
	char **objs = NULL;
	size_t nsnaps = 0, nobjs = 0;
	int rc = dx_snap_list(s->project, &snaps, &nsnaps, s->e);
	if (rc == 0)
		rc = dx_sync_objects(s, &objs, &nobjs);
	s->r->snapshots = nsnaps;
	s->steps = nsnaps + nobjs;
	for (size_t i = 0; rc == 0 && i < nobjs; i++) {
		char *key = dx_fx_printf("%sobjects/%s", s->c->prefix, objs[i]);
		char *path = dx_snap_object_path(s->project, objs[i]);
		rc = key && path ? dx_sync_one(s, key, path, objs[i]) : -ENOMEM;
		free(key);
		free(path);
	}
	for (size_t i = 0; rc == 0 && i < nsnaps; i++) {
		char *key = dx_fx_printf("%ssnapshots/%s.json", s->c->prefix,
					 snaps[i].id);
		char *path = dx_snap_manifest_path(s->project, snaps[i].id);
		rc = key && path ? dx_sync_one(s, key, path, snaps[i].id) :
				   -ENOMEM;
		free(key);
		free(path);
	}
	if (rc == -ENOMEM)
		dx_fx_fail(s->e, rc, "out of memory");
	dx_s3_keys_free(objs, nobjs);
	free(snaps);
	return rc;
}

int dx_s3_sync(const dx_sync_opts *o, dx_sync_result *r, dx_fx_err *e)
{
	dx_sync s = {.o = o,
		     .project = o->project ? o->project : ".",
		     .r = r,
		     .e = e};
	memset(r, 0, sizeof *r);
	s.c = dx_s3_new(&o->s3, e);
	if (!s.c)
		return -EINVAL;
	int rc = dx_sync_load_record(&s);
	if (rc == 0)
		rc = dx_sync_run(&s);
	if (s.append)
		fclose(s.append);
	dx_s3_keys_free(s.done, s.ndone);
	free(s.record);
	dx_s3_free(s.c);
	return rc;
}
