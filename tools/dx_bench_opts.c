/* dx_bench_opts.c - `dx bench`'s command line into a bopts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/client.h>

#include "dx_bench.h"
#include "dx_cmd.h"

static int parse_uint(const char *opt, const char *s, unsigned long long lo,
		      unsigned long long hi, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < lo || v > hi) {
		fprintf(stderr,
			"dx bench: %s wants an integer in %llu..%llu, "
			"got \"%s\"\n",
			opt, lo, hi, s);
		return 2;
	}
	*out = v;
	return 0;
}

static int parse_secs(const char *opt, const char *s, double lo, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= lo) || v > 86400) {
		fprintf(stderr,
			"dx bench: %s wants seconds (%g..86400), got "
			"\"%s\"\n",
			opt, lo, s);
		return 2;
	}
	*out = v;
	return 0;
}

/* "1", "0,2", "1-3,5". */
static int parse_cpus(const char *s, bopts *o)
{
	const char *p = s;
	o->ncpus = 0;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p || a < 0 || a >= BENCH_CPU_MAX)
			goto bad;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a || b >= BENCH_CPU_MAX)
				goto bad;
			p = end;
		}
		for (long i = a; i <= b; i++) {
			if (o->ncpus == sizeof o->cpus / sizeof o->cpus[0])
				goto bad;
			o->cpus[o->ncpus++] = (int)i;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (o->ncpus)
		return 0;
bad:
	fprintf(stderr,
		"dx bench: --cpu wants a CPU list such as 1, 2,3 or "
		"0-3, got \"%s\"\n",
		s);
	return 2;
}

/* --meta KEY=VALUE, appended to o->meta. */
static int parse_meta(const char *s, bopts *o)
{
	const char *eq = strchr(s, '=');
	char key[256];
	if (!o->meta.out)
		dx_hbtp_meta_begin(&o->meta, o->meta_buf, sizeof o->meta_buf);
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof key) {
		fprintf(stderr,
			"dx bench: --meta wants KEY=VALUE, got \"%s\"\n", s);
		return 2;
	}
	memcpy(key, s, (size_t)(eq - s));
	key[eq - s] = '\0';
	int rc = dx_hbtp_meta_add(&o->meta, key, eq + 1, strlen(eq + 1));
	if (rc < 0) {
		fprintf(stderr, "dx bench: --meta %s: %s\n", key,
			rc == -EINVAL ? "keys are lowercase ASCII, values at "
					"most 65535 bytes" :
					"the metadata block is full");
		return 2;
	}
	return dx_hbtp_meta_end(&o->meta) < 0 ? 2 : 0;
}

/* --body-hex: the route arguments, as hex digits. */
static int parse_hex(const char *s, bopts *o)
{
	size_t n = strlen(s);
	free(o->body);
	o->body = n % 2 ? NULL : malloc(n / 2 + 1);
	for (size_t i = 0; o->body && i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
			free(o->body);
			o->body = NULL;
			break;
		}
		o->body[i] = (uint8_t)v;
	}
	if (!o->body) {
		fprintf(stderr, "dx bench: --body-hex wants an even number of "
				"hex digits\n");
		return 2;
	}
	o->body_len = n / 2;
	return 0;
}

int bench_parse(int argc, char **argv, bopts *o)
{
	static const struct option opts[] = {
		{"ping", no_argument, NULL, 'p'},
		{"route", required_argument, NULL, 'r'},
		{"resp", no_argument, NULL, 'R'},
		{"warmup", required_argument, NULL, 'w'},
		{"cpu", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'j'},
		{"meta", required_argument, NULL, 'M'},
		{"body-hex", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	o->conns = 50;
	o->pipeline = 1;
	o->threads = 1;
	o->duration = 5;
	o->warmup = 1;
	o->timeout_ms = 5000;
	o->mode = B_PING;
	optind = 1;
	int c, rc = 0;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "hc:P:t:d:n:s:", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			rc = parse_uint("-c", optarg, 1, 100000, &v);
			o->conns = (unsigned)v;
			break;
		case 'P':
			rc = parse_uint("-P", optarg, 1, 4096, &v);
			o->pipeline = (unsigned)v;
			break;
		case 't':
			rc = parse_uint("-t", optarg, 1, 256, &v);
			o->threads = (unsigned)v;
			break;
		case 'n':
			rc = parse_uint("-n", optarg, 1, UINT64_MAX / 2, &v);
			o->count = v;
			break;
		case 's':
			rc = parse_uint("-s", optarg, 0, 16u << 20, &v);
			o->size = (size_t)v;
			break;
		case 'T':
			rc = parse_uint("--timeout", optarg, 1, 3600000, &v);
			o->timeout_ms = (int)v;
			break;
		case 'd':
			rc = parse_secs("-d", optarg, 0.001, &o->duration);
			break;
		case 'w':
			rc = parse_secs("--warmup", optarg, 0, &o->warmup);
			break;
		case 'C': rc = parse_cpus(optarg, o); break;
		case 'p': o->mode = B_PING; break;
		case 'R': o->mode = B_RESP; break;
		case 'r':
			o->mode = B_ROUTE;
			o->route = optarg;
			break;
		case 'j': o->json = true; break;
		case 'M': rc = parse_meta(optarg, o); break;
		case 'B': rc = parse_hex(optarg, o); break;
		case 'h': fputs(dx_bench_usage, stdout); return -1;
		default: fputs(dx_bench_usage, stderr); return 2;
		}
		if (rc)
			return rc;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "dx bench: %s\n%s",
			argc - optind ? "one ADDR only" : "ADDR is missing",
			dx_bench_usage);
		return 2;
	}
	o->addr = argv[optind];
	if (o->threads > o->conns)
		o->threads = o->conns;
	if (o->body)
		o->size = o->body_len; /* --body-hex wins over -s */
	if (o->mode == B_ROUTE && o->size + 2 > DX_CLIENT_MAX_FRAME) {
		fprintf(stderr, "dx bench: -s %zu is above a frame's size\n",
			o->size);
		return 2;
	}
	return 0;
}
