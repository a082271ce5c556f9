/* config.c - typed, path-aware access to a plugin's part of the manifest. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct dx_config {
	const cJSON *json;
	cJSON *owned; /* the empty object made for a plugin without config */
	char *path;
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
	char *p = NULL;
	int n;
	if (key)
		n = asprintf(&p, "%s%s%s", c->path, *c->path ? "." : "", key);
	else
		n = asprintf(&p, "%s[%zu]", c->path, i);
	return n < 0 ? NULL : p;
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

static const char *dx_json_type(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "an invalid value";
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
	if (!cJSON_IsString(j))
		return dx_config_error(c, key, d, "expected a string, got %s",
				       dx_json_type(j));
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
		if (cJSON_IsNumber(j))
			return dx_config_error(
				c, key, d,
				"expected an integer in %lld..%lld, got %.17g",
				(long long)min, (long long)max, v);
		return dx_config_error(c, key, d,
				       "expected an integer in %lld..%lld, got "
				       "%s",
				       (long long)min, (long long)max,
				       dx_json_type(j));
	}
	*out = (int64_t)v;
	return 0;
}

int dx_config_get_bool(const dx_config *c, const char *key, bool def,
		       bool *out, dx_diag *d)
{
	const cJSON *j = dx_config_item(c, key);
	if (!j) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsBool(j))
		return dx_config_error(c, key, d, "expected true or false, got %s",
				       dx_json_type(j));
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
	if (!cJSON_IsNumber(j))
		return dx_config_error(c, key, d, "expected a number, got %s",
				       dx_json_type(j));
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
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) {
		dx_config_error(c, key, d, "expected an object or an array, got %s",
				dx_json_type(j));
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
	if (!cJSON_IsObject(c->json))
		return dx_config_error(c, NULL, d, "expected an object, got %s",
				       dx_json_type(c->json));
	int rc = 0;
	for (const cJSON *j = c->json->child; j; j = j->next) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], j->string) != 0)
			i++;
		if (allowed[i])
			continue;
		char list[512] = "";
		size_t len = 0;
		for (i = 0; allowed[i] && len < sizeof list; i++)
			len += (size_t)snprintf(list + len, sizeof list - len,
						"%s%s", i ? ", " : "",
						allowed[i]);
		rc = dx_config_error(c, j->string, d,
				     "unknown key; expected one of: %s",
				     *list ? list : "(none)");
	}
	return rc;
}
