/* s3sync.h - upload a project's snapshots to an S3-compatible store
 * (Amazon S3, Cloudflare R2, MinIO, s3rver) with libcurl's built-in AWS
 * SigV4 signing (CURLOPT_AWS_SIGV4).
 *
 * Requests are path-style: ENDPOINT/BUCKET/KEY. Every S3 request carries
 * x-amz-content-sha256 (the payload's SHA-256, which libcurl also signs as
 * the payload hash). Keys in the bucket:
 *   PREFIX objects/HASH          a file's content (snapshot.h's objects)
 *   PREFIX snapshots/ID.json     a manifest, uploaded after its objects
 * A re-sync uploads only keys it has not uploaded to that endpoint, bucket
 * and prefix before: the record is PROJECT/.dx/forge/sync/R.keys (R: the
 * first 16 digits of SHA-256 of "endpoint\nbucket\nprefix"), one key per
 * line, appended as each upload succeeds. Objects never change under their
 * name, so the record cannot go stale, except when the bucket is emptied
 * behind its back: force re-uploads everything.
 *
 * Thread rules: a dx_s3 client is used by one thread at a time; separate
 * clients may run in parallel. dx_s3_sync makes its own. */
#ifndef DX_FORGE_S3SYNC_H
#define DX_FORGE_S3SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_util.h"
#include "snapshot.h"

typedef struct dx_s3_conf {
	const char *endpoint; /* "https://ACCOUNT.r2.cloudflarestorage.com" */
	const char *bucket;
	const char *region; /* NULL: "us-east-1" (R2: "auto") */
	const char *access_key;
	const char *secret_key;
	const char *prefix; /* of every key, e.g. "myproject/"; NULL: "" */
	long timeout;       /* seconds per request; 0: 120 */
} dx_s3_conf;

/* Credentials from file (NULL: the environment, AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY). The file holds "key = value" lines: either the
 * AWS names (aws_access_key_id, aws_secret_access_key, as in
 * ~/.aws/credentials; "[section]" lines are ignored, the first value
 * wins) or the environment's (AWS_ACCESS_KEY_ID=...). Both malloc'd.
 * 0, -ENOENT (none found: e says where it looked) or -errno. */
int dx_s3_credentials(const char *file, char **access_key, char **secret_key,
		      dx_fx_err *e);

typedef struct dx_s3 dx_s3;

/* A client; conf is copied. NULL with e filled when conf lacks something
 * or libcurl cannot start. */
dx_s3 *dx_s3_new(const dx_s3_conf *conf, dx_fx_err *e);
void dx_s3_free(dx_s3 *c);

/* One signed request, the way every request of this client is made.
 * Exposed for the SigV4 known-answer test and for tools. */
typedef struct dx_s3_http {
	const char *method;         /* GET, PUT, HEAD */
	const char *url;            /* complete */
	const char *service;        /* NULL: "s3" (which adds
				       * x-amz-content-sha256) */
	const char *const *headers; /* extra "Name: value", NULL-ended */
	const void *body;           /* PUT from memory, or */
	const char *body_file;      /* PUT from a file */
	uint64_t body_len;          /* of either */
	const char *payload_hash;   /* hex SHA-256 of the body; NULL: of
				       * body (memory), or of empty */
	const char *connect_to;     /* CURLOPT_CONNECT_TO entry, or NULL */
} dx_s3_http;

typedef struct dx_s3_reply {
	long status; /* HTTP status; 0 when no answer */
	char *body;  /* malloc'd, NUL-terminated */
	size_t len;
} dx_s3_reply;

/* 0 when the request got an answer (any status: the caller judges), or
 * a negative code when the transfer failed (e names the endpoint). */
int dx_s3_request(dx_s3 *c, const dx_s3_http *h, dx_s3_reply *reply,
		  dx_fx_err *e);
void dx_s3_reply_free(dx_s3_reply *reply);

/* The object operations. Errors name the endpoint, the key and the HTTP
 * status (and S3's error code and message when it sent them). */
int dx_s3_create_bucket(dx_s3 *c, dx_fx_err *e); /* existing: 0 */
int dx_s3_put_file(dx_s3 *c, const char *key, const char *path,
		   const char *sha256_hex, dx_fx_err *e);
int dx_s3_put(dx_s3 *c, const char *key, const void *data, size_t len,
	      dx_fx_err *e);
/* -ENOENT for a missing key. */
int dx_s3_get(dx_s3 *c, const char *key, char **data, size_t *len,
	      dx_fx_err *e);
/* Every key starting with prefix (ListObjectsV2, all pages), malloc'd
 * array of malloc'd strings. */
int dx_s3_list(dx_s3 *c, const char *prefix, char ***keys, size_t *count,
	       dx_fx_err *e);
void dx_s3_keys_free(char **keys, size_t count);

/* Upload the project's snapshot store. */
typedef struct dx_sync_opts {
	const char *project; /* NULL: "." */
	dx_s3_conf s3;
	bool force; /* ignore the record: upload everything */
	dx_snap_progress_fn progress;
	void *progress_arg;
} dx_sync_opts;

typedef struct dx_sync_result {
	size_t snapshots; /* manifests in the store */
	size_t uploaded;  /* keys uploaded now */
	size_t skipped;   /* keys uploaded before */
	uint64_t bytes;   /* uploaded now */
} dx_sync_result;

int dx_s3_sync(const dx_sync_opts *o, dx_sync_result *r, dx_fx_err *e);

#endif
