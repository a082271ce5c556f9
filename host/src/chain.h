/* chain.h - the middleware chain: a flat array built once at start-up.
 *
 * Running it allocates nothing and looks nothing up: each link holds the
 * facet's vtable and its plugin's instance. Worker threads read chains
 * concurrently; nothing in them changes after start-up. */
#ifndef DX_HOST_CHAIN_H
#define DX_HOST_CHAIN_H

#include <stdbool.h>

#include <dx/middleware.h>

#include "diag.h"
#include "registry.h"

typedef struct dx_chain_link {
	const dx_middleware_vtable *vt;
	void *self;
	const char *name;
} dx_chain_link;

typedef struct dx_chain {
	dx_chain_link *links;
	unsigned count;
} dx_chain;

/* Build a chain from plugin names (each must provide a MIDDLEWARE facet
 * of its own name); path names the list in messages ("middleware",
 * "route_middleware.echo"). Call after the plugins' init. */
int dx_chain_build(const dx_registry *r, char *const *names, size_t n,
		   const char *path, dx_chain *out, dx_diag *d);
void dx_chain_free(dx_chain *c);

/* Run the before hooks in order until one stops the chain (answered, or
 * failed: then res holds a 500). Returns how many ran, the stopping one
 * included; *stopped tells whether the handler should be skipped. */
unsigned dx_chain_before(const dx_chain *c, dx_request *req, dx_response *res,
			 bool *stopped);
/* Run the after hooks of the first ran links, last first. */
void dx_chain_after(const dx_chain *c, unsigned ran, const dx_request *req,
		    dx_response *res);

#endif
