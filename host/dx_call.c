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

#include "dx_cmd.h"

const char dx_call_usage[] =
	"usage: dx call [OPTIONS] ADDR ROUTE [ARG...]\n"
	"       dx call [OPTIONS] ADDR --ping [DATA]\n"
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
	"\n"
	"The answer's metadata goes to stderr as \"< key: value\" lines.\n"
	"Exit status: 0 an answer, 1 an RpcError (its status and message on\n"
	"stderr) or a failure to connect, 2 a usage error.\n"
	"\n"
	"Examples:\n"
	"  dx call 127.0.0.1:7070 hello dx\n"
	"  dx call 127.0.0.1:7070 delay 100 later\n"
	"  dx call 127.0.0.1:7070 --ping\n";

struct dx_call_opts {
	const char *addr;
	const char *route;
	char *args;
	size_t args_len;
	bool ping, compress, routes;
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
