/* chain.c - building the middleware chain's arrays, and a stopped chain's
 * answer (running it is inline in chain.h). */
#include <errno.h>
#include <stdlib.h>

#include "chain.h"

int dx_chain_flatten(dx_chain *c)
{
	c->befores = NULL;
	c->afters = NULL;
	c->nbefore = c->nafter = 0;
	if (!c->count)
		return 0;
	c->befores = calloc(c->count, sizeof *c->befores);
	c->afters = calloc(c->count, sizeof *c->afters);
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
	for (unsigned i = c->count; i-- > 0;) {
		const dx_chain_link *l = &c->links[i];
		if (DX_HAS(l->vt, after))
			c->afters[c->nafter++] = (dx_chain_after_hook){
				l->vt->after, l->self, i};
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
