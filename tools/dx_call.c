/* dx_call.c - `dx call ADDR ROUTE [ARG...]`: one HBTP request, by hand. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <dx/client.h>
#include <dx/db_teleport.h>
#include <dx/teleport.h>

#include "dx_cmd.h"

const char dx_call_usage[] =
	"usage: dx call [OPTIONS] ADDR ROUTE [ARG...]\n"
	"       dx call [OPTIONS] ADDR --ping [DATA]\n"
	"       dx call [OPTIONS] ADDR db.get|db.subscribe QUERY [PARAM...]\n"
	"\n"
	"Send one RpcCall to the host at ADDR (HOST:PORT, [IPV6]:PORT or\n"
	"unix:PATH) and print the answer's body on stdout. ROUTE is a route\n"
	"name (looked up through route 0, the route table) or a number. The\n"
	"ARGs are joined with spaces and sent as the call's arguments.\n"
	"\n"
	"  --ping          send Ping instead and print the round trip\n"
	"  --meta KEY=VAL  request metadata (repeatable), e.g.\n"
	"                  --meta \"authorization=Bearer $TOKEN\"\n"
	"  --compress      send the arguments LZ4-compressed\n"
	"  --timeout MS    give up after MS milliseconds (default 5000)\n"
	"  --routes        print the route table and exit\n"
	"  --json          db.get / db.subscribe: print rowsets as JSON\n"
	"                  instead of a table\n"
	"\n"
	"db.get and db.subscribe (db_teleport) take a registered query's\n"
	"name and its parameters in text form (\\N for NULL), and print the\n"
	"answer's rowset as a table (or JSON); db.subscribe then prints each\n"
	"new rowset the host pushes until interrupted.\n"
	"\n"
	"The answer's metadata goes to stderr as \"< key: value\" lines.\n"
	"Exit status: 0 an answer, 1 an RpcError (its status and message on\n"
	"stderr) or a failure to connect, 2 a usage error.\n"
	"\n"
	"Examples:\n"
	"  dx call 127.0.0.1:7070 hello dx\n"
	"  dx call 127.0.0.1:7070 delay 100 later\n"
	"  dx call 127.0.0.1:7070 --ping\n"
	"  dx call 127.0.0.1:7070 db.get user_by_id 42\n"
	"  dx call --json 127.0.0.1:7070 db.subscribe open_orders\n";

struct dx_call_opts {
	const char *addr;
	const char *route;
	char *args;
	size_t args_len;
	bool ping, compress, routes, json;
	char **rest; /* the ARGs, for db.get / db.subscribe */
	int nrest;
	int timeout_ms;
	uint8_t meta[4096];
	dx_hbtp_meta_writer mw;
	unsigned nmeta;
};

static int dx_call_meta(struct dx_call_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		fprintf(stderr, "dx call: --meta wants KEY=VALUE, got \"%s\"\n",
			kv);
		return 2;
	}
	char key[256];
	snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
	if ((o->nmeta++ == 0 &&
	     dx_hbtp_meta_begin(&o->mw, o->meta, sizeof o->meta) < 0) ||
	    dx_hbtp_meta_add(&o->mw, key, eq + 1, strlen(eq + 1)) < 0) {
		fprintf(stderr,
			"dx call: --meta %s: keys are lowercase ASCII, and "
			"all metadata must fit in %zu bytes\n",
			key, sizeof o->meta);
		return 2;
	}
	return 0;
}

/* Join argv[from..] with spaces. */
static char *dx_join(int argc, char **argv, int from, size_t *len)
{
	size_t n = 0;
	for (int i = from; i < argc; i++)
		n += strlen(argv[i]) + 1;
	char *s = calloc(1, n + 1);
	if (!s)
		return NULL;
	for (int i = from; i < argc; i++) {
		strcat(s, argv[i]);
		if (i + 1 < argc)
			strcat(s, " ");
	}
	*len = strlen(s);
	return s;
}

static int dx_call_parse(int argc, char **argv, struct dx_call_opts *o)
{
	static const struct option opts[] = {
		{"ping", no_argument, NULL, 'p'},
		{"meta", required_argument, NULL, 'm'},
		{"compress", no_argument, NULL, 'z'},
		{"timeout", required_argument, NULL, 't'},
		{"routes", no_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	o->timeout_ms = 5000;
	optind = 1;
	int c, rc;
	/* Options may come anywhere; ARGs starting with '-' go after "--". */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o->ping = true; break;
		case 'z': o->compress = true; break;
		case 'r': o->routes = true; break;
		case 'j': o->json = true; break;
		case 't': o->timeout_ms = atoi(optarg); break;
		case 'm':
			if ((rc = dx_call_meta(o, optarg)) != 0)
				return rc;
			break;
		case 'h': fputs(dx_call_usage, stdout); return -1;
		default: fputs(dx_call_usage, stderr); return 2;
		}
	}
	int need = o->ping || o->routes ? 1 : 2;
	if (argc - optind < need) {
		fputs(dx_call_usage, stderr);
		return 2;
	}
	o->addr = argv[optind++];
	if (!o->ping && !o->routes)
		o->route = argv[optind++];
	o->rest = argv + optind;
	o->nrest = argc - optind;
	o->args = dx_join(argc, argv, optind, &o->args_len);
	return o->args ? 0 : 1;
}

/* The route id for name: a number, or a lookup in route 0's table. */
static int dx_call_resolve(dx_client *c, const char *name, int timeout_ms)
{
	char *end;
	long id = strtol(name, &end, 10);
	if (*name && !*end)
		return id >= 0 && id <= 65535 ? (int)id : -ERANGE;
	char *json;
	size_t len;
	int rc = dx_client_routes(c, &json, &len, timeout_ms);
	if (rc < 0)
		return rc;
	cJSON *t = cJSON_ParseWithLength(json, len);
	free(json);
	rc = -ENOENT;
	const cJSON *r;
	cJSON_ArrayForEach(r, t)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "id");
		if (cJSON_IsString(n) && cJSON_IsNumber(i) &&
		    strcmp(n->valuestring, name) == 0)
			rc = i->valueint;
	}
	cJSON_Delete(t);
	return rc;
}

static void dx_print_meta(const dx_client_msg *m)
{
	for (unsigned i = 0; i < m->meta.count; i++)
		fprintf(stderr, "< %.*s: %.*s\n", m->meta.e[i].key_len,
			m->meta.e[i].key, m->meta.e[i].value_len,
			(const char *)m->meta.e[i].value);
}

static int dx_call_answer(const dx_client_msg *m)
{
	dx_print_meta(m);
	if (m->opcode == DX_HBTP_RPC_ERROR) {
		fprintf(stderr, "dx call: error %u: %.*s\n", m->status,
			(int)m->len, (const char *)m->payload);
		return 1;
	}
	if (m->opcode == DX_HBTP_CLOSE) {
		fprintf(stderr, "dx call: the host closed the connection (%u: "
				"%.*s)\n",
			m->status, (int)m->len, (const char *)m->payload);
		return 1;
	}
	fwrite(m->payload, 1, m->len, stdout);
	if (isatty(STDOUT_FILENO) && m->len && m->payload[m->len - 1] != '\n')
		putchar('\n');
	return 0;
}

/* db_teleport's routes take an encoded body and answer rowsets. */
static bool dx_call_is_db(const char *route)
{
	return strcmp(route, "db.get") == 0 ||
	       strcmp(route, "db.subscribe") == 0;
}

/* The db.get / db.subscribe body for QUERY [PARAM...] (dx/db_teleport.h);
 * a PARAM of \N is SQL NULL. malloc'd into *body; 0 or 2 (usage). */
static int dx_call_db_body(const struct dx_call_opts *o, uint8_t **body,
			   size_t *len)
{
	if (o->nrest < 1 || o->nrest - 1 > 255) {
		fprintf(stderr, "dx call: %s wants QUERY [PARAM...] (at most "
				"255 parameters)\n",
			o->route);
		return 2;
	}
	const char **params = calloc((size_t)o->nrest, sizeof *params);
	if (!params)
		return 1;
	for (int i = 1; i < o->nrest; i++)
		params[i - 1] = strcmp(o->rest[i], "\\N") ? o->rest[i] : NULL;
	unsigned np = (unsigned)(o->nrest - 1);
	size_t cap = dx_db_body_size(o->rest[0], params, np);
	*body = malloc(cap);
	long n = *body ? dx_db_body_encode(*body, cap, o->rest[0], params, np) :
			 -ENOMEM;
	free(params);
	if (n < 0) {
		fprintf(stderr, "dx call: %s %s: %s (names are 1..255 bytes, "
				"parameters at most %u)\n",
			o->route, o->rest[0], dx_strerror((int)n),
			DX_DB_PARAM_MAX);
		free(*body);
		*body = NULL;
		return 2;
	}
	*len = (size_t)n;
	return 0;
}

/* Print an answer's rowset as a table or JSON. 0, or 1 when it is not a
 * rowset. */
static int dx_call_print_rowset(const dx_client_msg *m, bool json)
{
	void *buf;
	dx_rowset rs;
	int rc = dx_db_answer_open(m->payload, m->len, &buf, &rs);
	if (rc == 0)
		rc = json ? dx_rowset_print_json(&rs, stdout)
			  : dx_rowset_print_table(&rs, stdout);
	free(buf);
	fflush(stdout);
	if (rc < 0) {
		fprintf(stderr, "dx call: the answer (%zu bytes) is not a "
				"rowset: %s\n",
			m->len, dx_strerror(rc));
		return 1;
	}
	return 0;
}

/* db.get / db.subscribe: send, print the rowset, and for a subscription
 * every StateSync after it until the connection ends. */
static int dx_call_db(dx_client *c, struct dx_call_opts *o, int id)
{
	uint8_t *body;
	size_t len;
	uint16_t seq;
	dx_client_msg m;
	int rc = dx_call_db_body(o, &body, &len);
	if (rc)
		return rc;
	rc = dx_client_call(c, (uint16_t)id, body, len, 0, &seq);
	free(body);
	if (rc < 0 || (rc = dx_client_wait(c, seq, &m, o->timeout_ms)) < 0)
		return rc;
	if (m.opcode != DX_HBTP_RPC_RESPONSE)
		return dx_call_answer(&m) ? 1 : 0;
	dx_print_meta(&m);
	if (dx_call_print_rowset(&m, o->json))
		return 1;
	if (strcmp(o->route, "db.subscribe") != 0)
		return 0;
	for (;;) {
		if ((rc = dx_client_wait(c, seq, &m, -1)) < 0)
			return rc == -ECONNRESET ? 0 : rc;
		if (m.opcode != DX_HBTP_STATE_SYNC)
			return dx_call_answer(&m) ? 1 : 0;
		if (dx_call_print_rowset(&m, o->json))
			return 1;
	}
}

static int dx_call_run(dx_client *c, struct dx_call_opts *o)
{
	dx_client_msg m;
	uint16_t seq;
	int rc;
	if (o->routes) {
		char *json;
		size_t len;
		if ((rc = dx_client_routes(c, &json, &len, o->timeout_ms)) < 0)
			return rc;
		printf("%s\n", json);
		free(json);
		return 0;
	}
	if (o->ping) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if ((rc = dx_client_ping(c, o->args, o->args_len, &seq)) < 0 ||
		    (rc = dx_client_wait(c, seq, &m, o->timeout_ms)) < 0)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("pong seq %u, %zu bytes, %.0f us\n", seq, m.len,
		       (double)(b.tv_sec - a.tv_sec) * 1e6 +
			       (double)(b.tv_nsec - a.tv_nsec) / 1e3);
		return 0;
	}
	int id = dx_call_resolve(c, o->route, o->timeout_ms);
	if (id < 0) {
		fprintf(stderr,
			"dx call: no route \"%s\" at %s (dx call %s --routes "
			"lists them)\n",
			o->route, o->addr, o->addr);
		return 1;
	}
	if (o->nmeta && (dx_hbtp_meta_end(&o->mw) < 0 ||
			 dx_client_set_meta(c, o->meta, o->mw.len) < 0))
		return -E2BIG;
	if (dx_call_is_db(o->route))
		return dx_call_db(c, o, id);
	if ((rc = dx_client_call(c, (uint16_t)id, o->args, o->args_len,
				 o->compress ? DX_HBTP_COMPRESSED : 0, &seq)) <
		    0 ||
	    (rc = dx_client_wait(c, seq, &m, o->timeout_ms)) < 0)
		return rc;
	return dx_call_answer(&m) ? 1 : 0;
}

int dx_cmd_call(int argc, char **argv)
{
	struct dx_call_opts o = {0};
	int rc = dx_call_parse(argc, argv, &o);
	if (rc) {
		free(o.args);
		return rc < 0 ? 0 : rc;
	}
	char err[256];
	dx_client *c;
	rc = dx_client_connect(o.addr, o.timeout_ms, &c, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "dx call: %s\n", err);
		free(o.args);
		return 1;
	}
	rc = dx_call_run(c, &o);
	if (rc < 0)
		fprintf(stderr, "dx call: %s: %s\n", o.addr,
			*dx_client_error(c) ? dx_client_error(c)
					    : dx_strerror(rc));
	dx_client_close(c);
	free(o.args);
	return rc < 0 ? 1 : rc;
}
