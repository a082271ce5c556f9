/* config.c - typed, path-aware access to a plugin's part of the manifest:
 * its plugins[].config and its own top-level section. The wording of every
 * message comes from json_check.h, the one JSON validation layer; a node
 * made for a section speaks as the manifest does ("got 5000", "did you
 * mean"), a plugin's config as it always has ("got a number"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json_check.h"

struct dx_config {
	const cJSON *json;
	cJSON *owned; /* the empty object made for a plugin without config */
	char *path;
	bool manifest_style; /* a section: say what was found, as written */
	/* Child nodes handed out so far, so each is made once and lives as
	 * long as its parent. */
	struct dx_config *kids;
	struct dx_config *next;
};

static dx_config *dx_config_make(const cJSON *json, const char *path)
{
	dx_config *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->path = strdup(path);
	if (!c->path) {
		free(c);
		return NULL;
	}
	c->json = json;
	return c;
}

dx_config *dx_config_new(const cJSON *json, const char *path)
{
	cJSON *owned = NULL;
	if (!json) {
		json = owned = cJSON_CreateObject();
		if (!owned)
			return NULL;
	}
	dx_config *c = dx_config_make(json, path);
	if (!c) {
		cJSON_Delete(owned);
		return NULL;
	}
	c->owned = owned;
	return c;
}

dx_config *dx_config_section(const cJSON *json, const char *key)
{
	dx_config *c = json ? dx_config_make(json, key) : NULL;
	if (c)
		c->manifest_style = true;
	return c;
}

dx_config *dx_config_string(const char *text, const char *path)
{
	cJSON *owned = cJSON_CreateString(text);
	dx_config *c = owned ? dx_config_make(owned, path) : NULL;
	if (!c)
		cJSON_Delete(owned);
	else
		c->owned = owned;
	return c;
}

void dx_config_free(dx_config *c)
{
	while (c) {
		dx_config *next = c->next;
		dx_config_free(c->kids);
		cJSON_Delete(c->owned);
		free(c->path);
		free(c);
		c = next;
	}
}

const char *dx_config_node_path(const dx_config *c)
{
	return c->path;
}

const cJSON *dx_config_json(const dx_config *c)
{
	return c->json;
}

/* The path of member key (or element i when key is NULL) of c. */
static char *dx_config_subpath(const dx_config *c, const char *key, size_t i)
{
	char p[DX_JC_PATH_MAX];
	return strdup(key ? dx_jc_key(p, c->path, key) :
			    dx_jc_idx(p, c->path, i));
}

int dx_config_verror(const dx_config *c, const char *key, dx_diag *d,
		     const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (key)
		dx_diag_add(d, "%s%s%s: %s", c->path, *c->path ? "." : "", key,
			    msg);
	else
		dx_diag_add(d, "%s: %s", *c->path ? c->path : "(config)", msg);
	return DX_ECONFIG;
}

static int dx_config_error(const dx_config *c, const char *key, dx_diag *d,
			   const char *fmt, ...) DX_PRINTF(4, 5);
static int dx_config_error(const dx_config *c, const char *key, dx_diag *d,
			   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = dx_config_verror(c, key, d, fmt, ap);
	va_end(ap);
	return rc;
}

/* What a message says was found: the value itself in a section (as the
 * manifest's own checks say it), its kind in a plugin's config. */
static const char *dx_config_got(const dx_config *c, const cJSON *j, char *buf,
				 size_t n)
{
	return c->manifest_style ? dx_jc_describe(j, buf, n) : dx_jc_kind(j);
}

/* Member key of c (c itself when key is NULL); NULL when absent. Keys are
 * matched case-sensitively: "Alg" is not "alg". */
static const cJSON *dx_config_item(const dx_config *c, const char *key)
{
	if (!key)
		return c->json;
	if (!cJSON_IsObject(c->json))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(c->json, key);
}

int dx_config_get_str(const dx_config *c, const char *key, const char *def,
		      const char **out, dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j) {
		*out = def;
		return 0;
	}
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsString(j))
		return dx_config_error(c, key, d, "expected a string, got %s",
				       dx_config_got(c, j, got, sizeof got));
	*out = j->valuestring;
	return 0;
}

int dx_config_get_int(const dx_config *c, const char *key, int64_t def,
		      int64_t min, int64_t max, int64_t *out, dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j) {
		*out = def;
		return 0;
	}
	double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
	/* A double holds every integer up to 2^53 exactly; the range check
	 * below is done in double so huge values cannot overflow the cast. */
	/* (double)INT64_MAX rounds up to 2^63, so v == 2^63 would pass a
	 * plain v > max test and overflow the cast: refuse it outright. */
	if (!cJSON_IsNumber(j) || v != floor(v) || v < (double)min ||
	    v > (double)max || v >= 9223372036854775808.0) {
		char got[DX_JC_GOT_MAX];
		if (cJSON_IsNumber(j) && !c->manifest_style)
			return dx_config_error(
				c, key, d,
				"expected an integer in %lld..%lld, got %.17g",
				(long long)min, (long long)max, v);
		return dx_config_error(c, key, d,
				       "expected an integer in %lld..%lld, got "
				       "%s",
				       (long long)min, (long long)max,
				       dx_config_got(c, j, got, sizeof got));
	}
	*out = (int64_t)v;
	return 0;
}

int dx_config_get_bool(const dx_config *c, const char *key, bool def, bool *out,
		       dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j) {
		*out = def;
		return 0;
	}
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsBool(j))
		return dx_config_error(c, key, d,
				       "expected true or false, got %s",
				       dx_config_got(c, j, got, sizeof got));
	*out = cJSON_IsTrue(j);
	return 0;
}

int dx_config_get_double(const dx_config *c, const char *key, double def,
			 double *out, dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j) {
		*out = def;
		return 0;
	}
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsNumber(j))
		return dx_config_error(c, key, d, "expected a number, got %s",
				       dx_config_got(c, j, got, sizeof got));
	*out = j->valuedouble;
	return 0;
}

bool dx_config_has(const dx_config *c, const char *key)
{
	return dx_config_item(c, key) != NULL;
}

/* The cached node for j, made on first use. */
static const dx_config *dx_config_node(const dx_config *c, const cJSON *j,
				       const char *key, size_t i)
{
	dx_config *mc = (dx_config *)c; /* the cache is not observable */
	for (dx_config *k = mc->kids; k; k = k->next)
		if (k->json == j)
			return k;
	char *path = dx_config_subpath(c, key, i);
	dx_config *k = path ? dx_config_make(j, path) : NULL;
	free(path);
	if (!k)
		return NULL;
	k->manifest_style = c->manifest_style;
	k->next = mc->kids;
	mc->kids = k;
	return k;
}

const dx_config *dx_config_child(const dx_config *c, const char *key,
				 dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j)
		return NULL;
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) {
		dx_config_error(c, key, d,
				"expected an object or an array, got %s",
				dx_config_got(c, j, got, sizeof got));
		return NULL;
	}
	return dx_config_node(c, j, key, 0);
}

size_t dx_config_len(const dx_config *c)
{
	if (!cJSON_IsArray(c->json) && !cJSON_IsObject(c->json))
		return 0;
	return (size_t)cJSON_GetArraySize(c->json);
}

const dx_config *dx_config_at(const dx_config *c, size_t i)
{
	if (i >= dx_config_len(c))
		return NULL;
	const cJSON *j = cJSON_GetArrayItem(c->json, (int)i);
	if (!j)
		return NULL;
	/* An object's member is named by its key, an array's by its index. */
	return dx_config_node(c, j, cJSON_IsObject(c->json) ? j->string : NULL,
			      i);
}

int dx_config_check_keys(const dx_config *c, const char *const *allowed,
			 dx_diag *d)
{
	char got[DX_JC_GOT_MAX];
	if (!cJSON_IsObject(c->json))
		return dx_config_error(c, NULL, d, "expected an object, got %s",
				       dx_config_got(c, c->json, got,
						     sizeof got));
	int rc = 0;
	for (const cJSON *j = c->json->child; j; j = j->next) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], j->string) != 0)
			i++;
		if (allowed[i] || dx_jc_get(c->json, j->string) != j)
			continue; /* known, or a repeat already reported */
		char *msg = dx_jc_unknown_key(j->string, allowed,
					      !c->manifest_style);
		rc = dx_config_error(c, j->string, d, "%s",
				     msg ? msg : "unknown key");
		free(msg);
	}
	return rc;
}
