/* chain.c - building the middleware chain's arrays, and a stopped chain's
 * answer (running it is inline in chain.h). A middleware asking for
 * well-known metadata (host_meta) gets an after entry the host serves
 * itself, in the place its own after hook has: the order of metadata in
 * an answer is that of the after hooks, as when a plugin wrote it. */
#include <errno.h>
#include <stdlib.h>

#include "chain.h"
#include "meta_u64.h"

const dx_meta_key dx_chain_time_key = {
	.len = 16,
	.bytes = "\x0f"
		 "x-response-time",
};

void dx_chain_time(dx_response *res, uint64_t ns)
{
	(void)dx_meta_put_u64(res, dx_chain_time_key.bytes,
			      sizeof "x-response-time", ns / 1000);
}

int dx_chain_flatten(dx_chain *c)
{
	c->befores = NULL;
	c->afters = NULL;
	c->nbefore = c->nafter = 0;
	if (!c->count)
		return 0;
	c->befores = calloc(c->count, sizeof *c->befores);
	/* One more for the host's x-response-time. */
	c->afters = calloc(c->count + 1, sizeof *c->afters);
	if (!c->befores || !c->afters) {
		free(c->befores);
		free(c->afters);
		c->befores = NULL;
		c->afters = NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->count; i++) {
		const dx_chain_link *l = &c->links[i];
		if (DX_HAS(l->vt, before))
			c->befores[c->nbefore++] = (dx_chain_before_hook){
				l->vt->before, l->self, i};
	}
	/* The first link asking for x-response-time gets the host's entry
	 * (one per answer, however many ask), after its own after hook. */
	unsigned timing = c->count;
	for (unsigned i = 0; i < c->count && timing == c->count; i++) {
		const dx_middleware_vtable *vt = c->links[i].vt;
		if (DX_HAS(vt, host_meta) &&
		    (vt->host_meta & DX_MW_META_RESPONSE_TIME))
			timing = i;
	}
	for (unsigned i = c->count; i-- > 0;) {
		const dx_chain_link *l = &c->links[i];
		if (DX_HAS(l->vt, after))
			c->afters[c->nafter++] = (dx_chain_after_hook){
				l->vt->after, l->self, i};
		if (i == timing)
			c->afters[c->nafter++] =
				(dx_chain_after_hook){NULL, NULL, i};
	}
	return 0;
}

int dx_chain_build(const dx_registry *r, char *const *names, size_t n,
		   const char *path, dx_chain *out, dx_diag *d)
{
	*out = (dx_chain){0};
	if (!n)
		return 0;
	out->links = calloc(n, sizeof *out->links);
	if (!out->links)
		return -ENOMEM;
	out->owns_links = true;
	for (size_t i = 0; i < n; i++) {
		dx_facet_ref ref;
		if (dx_registry_lookup(r, DX_FACET_MIDDLEWARE, names[i], &ref) <
		    0) {
			dx_diag_add(d,
				    "%s[%zu]: plugin \"%s\" provides no "
				    "MIDDLEWARE facet named \"%s\"",
				    path, i, names[i], names[i]);
			dx_chain_free(out);
			return DX_EFACET;
		}
		out->links[i] =
			(dx_chain_link){ref.vtable, ref.self, ref.plugin};
	}
	out->count = (unsigned)n;
	if (dx_chain_flatten(out) < 0) {
		dx_chain_free(out);
		return -ENOMEM;
	}
	return 0;
}

void dx_chain_free(dx_chain *c)
{
	if (c->owns_links)
		free(c->links);
	free(c->befores);
	free(c->afters);
	*c = (dx_chain){0};
}

unsigned dx_chain_stopped(const dx_chain *c, const dx_chain_before_hook *b,
			  int rc, dx_response *res)
{
	if (rc != DX_MW_STOP || !res->status) {
		/* A failure, or a stop without an answer: the client still
		 * gets one. */
		res->len = 0;
		dx_response_error(res, 500, "middleware %s failed: %s",
				  c->links[b->link].name,
				  rc < 0 ? dx_strerror(rc)
					 : "stopped without an answer");
	}
	return b->link + 1;
}
