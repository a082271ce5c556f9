/* chain.c - running middleware in order and unwinding it in reverse. */
#include <errno.h>
#include <stdlib.h>

#include "chain.h"

int dx_chain_build(const dx_registry *r, char *const *names, size_t n,
		   const char *path, dx_chain *out, dx_diag *d)
{
	*out = (dx_chain){0};
	if (!n)
		return 0;
	out->links = calloc(n, sizeof *out->links);
	if (!out->links)
		return -ENOMEM;
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
	return 0;
}

void dx_chain_free(dx_chain *c)
{
	free(c->links);
	*c = (dx_chain){0};
}

unsigned dx_chain_before(const dx_chain *c, dx_request *req, dx_response *res,
			 bool *stopped)
{
	*stopped = false;
	for (unsigned i = 0; i < c->count; i++) {
		const dx_chain_link *l = &c->links[i];
		if (!DX_HAS(l->vt, before))
			continue;
		int rc = l->vt->before(l->self, req, res);
		if (rc == DX_MW_CONTINUE)
			continue;
		if (rc != DX_MW_STOP || !res->status) {
			/* A failure, or a stop without an answer: the client
			 * still gets one. */
			res->len = 0;
			dx_response_error(res, 500, "middleware %s failed: %s",
					  l->name,
					  rc < 0 ? dx_strerror(rc)
						 : "stopped without an answer");
		}
		*stopped = true;
		return i + 1;
	}
	return c->count;
}

void dx_chain_after(const dx_chain *c, unsigned ran, const dx_request *req,
		    dx_response *res)
{
	for (unsigned i = ran; i-- > 0;) {
		const dx_chain_link *l = &c->links[i];
		if (DX_HAS(l->vt, after))
			l->vt->after(l->self, req, res);
	}
}
