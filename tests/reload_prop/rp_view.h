/* rp_view.h - what the reload property test compares: a host's view as a
 * sorted list of text lines, made either from the model (rp_expect) or
 * from a running host (rp_observe: {"cmd":"plugins"}, route 0 and calls
 * through the chains):
 *   plugin NAME VERSION PATH KIND:FACET,...   ("path": the file loaded,
 *                                             not the host's private copy)
 *   route ID NAME PLUGIN                      (route 0's table)
 *   chain ROUTE|* = MW...                     (the middleware an answer
 *                                             went through, in chain order;
 *                                             "*" the default chain, seen
 *                                             on a route nobody serves)
 *   answer ID = TEXT                          (what a route answers)
 * A middleware shows as "mw_timing" (its x-response-time) or as
 * "NAME=TAG@VERSION" (mwtag's x-tag-NAME). rp_observe also returns the
 * generations (the host's and each plugin's) apart: a refused step must
 * not move them either.
 *
 * Single-threaded: the test's main thread only. */
#ifndef DX_RP_VIEW_H
#define DX_RP_VIEW_H

#include <stdarg.h>

#include <dx/client.h>

#include "../reload/rt_ctl.h"
#include "rp_model.h"

#define RP_NO_ROUTE 65000 /* never served: shows the default chain */
#define RP_CALL_MS 10000
#define RP_RAW 32768 /* room for a control answer */

/* ---- from the model ---- */

static const struct rp_plug *rp_plug_named(const struct rp_model *m,
					   const char *name)
{
	int i = rp_find(m, name);
	return i < 0 ? NULL : &m->p[i];
}

/* A chain as "= A B" (each middleware as the answer shows it). */
static void rp_chain_text(const struct rp_model *m, const struct rp_chain *c,
			  char *out, size_t n)
{
	size_t len = (size_t)snprintf(out, n, "=");
	for (int i = 0; i < c->n && len < n; i++) {
		const struct rp_plug *p = rp_plug_named(m, c->mw[i]);
		if (p && p->f->ck == RP_CK_MT)
			len += (size_t)snprintf(out + len, n - len, " %s=%s@%s",
						c->mw[i], p->cfg->tag,
						p->f->version);
		else
			len += (size_t)snprintf(out + len, n - len, " %s",
						c->mw[i]);
	}
}

static void rp_expect(const struct rp_model *m, struct rp_lines *v)
{
	v->n = 0;
	for (int i = 0; i < m->n; i++) {
		const struct rp_plug *p = &m->p[i];
		const struct rp_file *f = p->f;
		char facets[RP_LINE] = "";
		for (int k = 0; k < 2 && f->facets[k].kind; k++)
			snprintf(facets + strlen(facets),
				 sizeof facets - strlen(facets), "%s%s:%s",
				 k ? "," : "", f->facets[k].kind,
				 f->facets[k].name);
		rp_add(v, "plugin %s %s %s %s", f->name, f->version, f->path,
		       facets);
		for (int k = 0; k < rp_nroutes(f); k++) {
			const struct rp_route *r = &f->routes[k];
			uint16_t id = rp_route_id(p, k);
			rp_add(v, "route %u %s %s", id, r->name, f->name);
			if (r->ans == RP_ANS_FIXED)
				rp_add(v, "answer %u = %s", id, r->text);
			else if (r->ans == RP_ANS_PING)
				rp_add(v, "answer %u = pong from %s", id,
				       f->name);
			else if (r->ans == RP_ANS_HELLO)
				rp_add(v, "answer %u = %s, world!", id,
				       p->cfg->greeting);
		}
	}
	for (int c = -1; c < m->man.nrmw; c++) {
		const struct rp_chain *ch = c < 0 ? &m->man.mw : &m->man.rmw[c];
		char text[RP_LINE];
		rp_chain_text(m, ch, text, sizeof text);
		rp_add(v, "chain %s %s", ch->route ? ch->route : "*", text);
	}
	rp_sort(v);
}

/* ---- from the host ---- */

/* One call of route id on c: its text (an RpcError as "!STATUS TEXT") and
 * the chain its answer went through ("= A B"). false: no answer (why in
 * text). */
static bool rp_call(dx_client *c, uint16_t id, char *text, size_t n,
		    char *chain, size_t cn)
{
	uint16_t seq;
	dx_client_msg msg;
	if (dx_client_call(c, id, "", 0, 0, &seq) < 0 ||
	    dx_client_wait(c, seq, &msg, RP_CALL_MS) < 0) {
		snprintf(text, n, "route %u: %s", id, dx_client_error(c));
		return false;
	}
	if (msg.opcode == DX_HBTP_RPC_RESPONSE)
		snprintf(text, n, "%.*s", (int)msg.len,
			 (const char *)msg.payload);
	else
		snprintf(text, n, "!%u %.*s", msg.status, (int)msg.len,
			 (const char *)msg.payload);
	/* After hooks run in reverse chain order: read the entries back to
	 * front. */
	size_t len = (size_t)snprintf(chain, cn, "=");
	for (int i = (int)msg.meta.count - 1; i >= 0 && len < cn; i--) {
		const dx_hbtp_meta_entry *e = &msg.meta.e[i];
		if (e->key_len == 15 && !memcmp(e->key, "x-response-time", 15))
			len += (size_t)snprintf(chain + len, cn - len,
						" mw_timing");
		else if (e->key_len > 6 && !memcmp(e->key, "x-tag-", 6))
			len += (size_t)snprintf(chain + len, cn - len,
						" %.*s=%.*s", e->key_len - 6,
						e->key + 6, (int)e->value_len,
						(const char *)e->value);
		else
			len += (size_t)snprintf(chain + len, cn - len, " ?%.*s",
						e->key_len, e->key);
	}
	return true;
}

/* The host's view into v (which routes and chains to call comes from m),
 * its generations into gens. false: the host did not answer (why in
 * err). */
static bool rp_observe(const char *ctl, dx_client *c, const struct rp_model *m,
		       struct rp_lines *v, struct rp_lines *gens, char *err,
		       size_t en)
{
	char *raw = malloc(RP_RAW);
	v->n = gens->n = 0;
	cJSON *a = raw ? rt_ctl_cmd(ctl, "plugins", NULL, NULL, raw, RP_RAW) :
			 NULL;
	if (!a || !rt_ok(a)) {
		snprintf(err, en, "plugins: %s", raw ? raw : "out of memory");
		cJSON_Delete(a);
		free(raw);
		return false;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(a, "plugins"))
	{
		char facets[RP_LINE] = "";
		const cJSON *f;
		cJSON_ArrayForEach(
			f, cJSON_GetObjectItemCaseSensitive(e, "facets"))
			snprintf(facets + strlen(facets),
				 sizeof facets - strlen(facets), "%s%s:%s",
				 facets[0] ? "," : "", rt_str(f, "kind"),
				 rt_str(f, "name"));
		const char *path = rt_str(
			cJSON_GetObjectItemCaseSensitive(e, "file"), "path");
		rp_add(v, "plugin %s %s %s %s", rt_str(e, "name"),
		       rt_str(e, "version"), path ? path : "(no file.path)",
		       facets);
		rp_add(gens, "generation %s %.0f", rt_str(e, "name"),
		       rt_num(e, "generation", -1));
	}
	rp_add(gens, "generation (host) %.0f", rt_num(a, "generation", -1));
	cJSON_Delete(a);
	free(raw);

	char *json = NULL;
	size_t len;
	if (dx_client_routes(c, &json, &len, RP_CALL_MS) < 0) {
		snprintf(err, en, "route 0: %s", dx_client_error(c));
		return false;
	}
	cJSON *routes = cJSON_Parse(json);
	cJSON_ArrayForEach(e, routes)
		rp_add(v, "route %.0f %s %s", rt_num(e, "id", -1),
		       rt_str(e, "name"), rt_str(e, "plugin"));
	if (!cJSON_IsArray(routes))
		rp_add(v, "route 0 answered %.100s", json);
	cJSON_Delete(routes);
	free(json);

	/* What the model says each route answers, and each chain. */
	char text[RP_LINE], chain[RP_LINE];
	for (int i = 0; i < m->n; i++)
		for (int k = 0; k < rp_nroutes(m->p[i].f); k++) {
			uint16_t id = rp_route_id(&m->p[i], k);
			if (m->p[i].f->routes[k].ans == RP_ANS_NONE)
				continue;
			if (!rp_call(c, id, text, sizeof text, chain,
				     sizeof chain)) {
				snprintf(err, en, "%s", text);
				return false;
			}
			rp_add(v, "answer %u = %s", id, text);
		}
	for (int r = -1; r < m->man.nrmw; r++) {
		uint16_t id = RP_NO_ROUTE;
		const char *route = r < 0 ? "*" : m->man.rmw[r].route;
		for (int i = 0; r >= 0 && i < m->n; i++)
			for (int k = 0; k < rp_nroutes(m->p[i].f); k++)
				if (!strcmp(m->p[i].f->routes[k].name, route))
					id = rp_route_id(&m->p[i], k);
		if (!rp_call(c, id, text, sizeof text, chain, sizeof chain)) {
			snprintf(err, en, "%s", text);
			return false;
		}
		rp_add(v, "chain %s %s", route, chain);
	}
	rp_sort(v);
	rp_sort(gens);
	return true;
}

#endif
