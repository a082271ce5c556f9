/* dx_bench_conn.c - `dx bench`'s set-up: resolving ADDR, the route id,
 * a connection's buffers, and the request bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <dx/addr.h>
#include <dx/client.h>
#include <dx/hbtp.h>

#include "dx_bench.h"
#include "sock.h"

/* ---- addresses and connecting --------------------------------------------- */

/* Resolve ADDR (dx/addr.h); the candidates into out (up to n). Returns how
 * many, or -1 with a message in err. */
int bench_resolve(const char *addr, dx_sockaddr *out, int n, char *err,
		  size_t errlen)
{
	dx_addr a;
	int rc = dx_addr_parse(addr, &a);
	if (rc < 0) {
		dx_addr_message(rc, addr, err, errlen);
		return -1;
	}
	rc = dx_addr_resolve(&a, out, n, err, errlen);
	return rc < 0 ? -1 : rc;
}

/* The route id for name: a number, or a lookup in route 0's table. */
int bench_route_id(const bopts *o)
{
	char *end;
	long id = strtol(o->route, &end, 10);
	if (*o->route && !*end) {
		if (id >= 0 && id <= 65535)
			return (int)id;
		fprintf(stderr, "dx bench: --route %s: ids are 0..65535\n",
			o->route);
		return -1;
	}
	char err[256];
	dx_client *c;
	if (dx_client_connect(o->addr, o->timeout_ms, &c, err, sizeof err) <
	    0) {
		fprintf(stderr, "dx bench: cannot connect: %s\n", err);
		return -1;
	}
	if (o->meta.out) /* the route table may sit behind middleware too */
		dx_client_set_meta(c, o->meta_buf, o->meta.len);
	char *json;
	size_t len;
	int rc = dx_client_routes(c, &json, &len, o->timeout_ms);
	if (rc < 0) {
		fprintf(stderr, "dx bench: %s: reading the route table: %s\n",
			o->addr,
			*dx_client_error(c) ? dx_client_error(c) :
					      dx_strerror(rc));
		dx_client_close(c);
		return -1;
	}
	dx_client_close(c);
	cJSON *t = cJSON_ParseWithLength(json, len);
	free(json);
	rc = -1;
	const cJSON *r;
	cJSON_ArrayForEach(r, t)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "id");
		if (cJSON_IsString(n) && cJSON_IsNumber(i) &&
		    strcmp(n->valuestring, o->route) == 0)
			rc = i->valueint;
	}
	cJSON_Delete(t);
	if (rc < 0)
		fprintf(stderr,
			"dx bench: no route \"%s\" at %s (dx call %s --routes "
			"lists them)\n",
			o->route, o->addr, o->addr);
	return rc;
}
int bench_conn_init(bconn *c, const bshared *sh, int fd)
{
	const bopts *o = sh->o;
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->rcap = sh->req_len * o->pipeline * 2 + 64;
	if (o->mode == B_RESP && sh->resp_len * 2 + 64 > c->rcap)
		c->rcap = sh->resp_len * 2 + 64;
	if (c->rcap < 65536)
		c->rcap = 65536;
	c->wcap = sh->req_len * o->pipeline;
	c->rbuf = malloc(c->rcap);
	c->wbuf = malloc(c->wcap);
	c->ts = calloc(sh->ring, sizeof *c->ts);
	c->seq = calloc(sh->ring, sizeof *c->seq);
	c->used = calloc(sh->ring, 1);
	c->free = calloc(sh->ring, sizeof *c->free);
	if (!c->rbuf || !c->wbuf || !c->ts || !c->seq || !c->used || !c->free)
		return -1;
	for (unsigned i = 0; i < o->pipeline; i++) {
		c->seq[i] = (uint16_t)i;
		c->free[c->nfree++] = (uint16_t)(o->pipeline - 1 - i);
	}
	return 0;
}

void bench_conn_free(bconn *c)
{
	if (c->fd >= 0 && !c->dead)
		dx_sock_close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->ts);
	free(c->seq);
	free(c->used);
	free(c->free);
}

/* The request bytes: one frame (HBTP, seq patched per send) or one RESP
 * inline command. */
uint8_t *bench_build_request(const bopts *o, int route, size_t *len,
			     size_t *resp_len)
{
	uint8_t *r;
	if (o->mode == B_RESP) {
		*len = o->size ? 5 + o->size + 2 : 6; /* "PING x..x\r\n" */
		if (!(r = malloc(*len)))
			return NULL;
		memcpy(r, o->size ? "PING " : "PING\r\n", o->size ? 5 : 6);
		if (o->size) {
			memset(r + 5, 'x', o->size);
			memcpy(r + 5 + o->size, "\r\n", 2);
		}
		*resp_len = o->size ? o->size + 32 : 7;
		return r;
	}
	size_t meta = o->meta.out ? o->meta.len : 0;
	size_t body = meta + (o->mode == B_ROUTE ? 2 + o->size : o->size);
	*len = DX_HBTP_HEADER_SIZE + body;
	*resp_len = *len;
	if (!(r = malloc(*len)))
		return NULL;
	dx_hbtp_header h = {
		.opcode = o->mode == B_ROUTE ? DX_HBTP_RPC_CALL : DX_HBTP_PING,
		.flags = DX_HBTP_FINAL | (meta ? DX_HBTP_HAS_META : 0) |
			 (o->mode == B_ROUTE ? DX_HBTP_EXPECTS_RESPONSE : 0),
		.seq = 0,
		.length = (uint32_t)body,
	};
	dx_hbtp_header_encode(&h, r);
	uint8_t *b = r + DX_HBTP_HEADER_SIZE;
	memcpy(b, o->meta_buf, meta);
	b += meta;
	if (o->mode == B_ROUTE) {
		dx_hbtp_put_le16(b, (uint16_t)route);
		b += 2;
	}
	if (o->body && o->mode == B_ROUTE)
		memcpy(b, o->body, o->size);
	else
		memset(b, 'x', o->size);
	return r;
}
