/* chain.h - the middleware chain: flat arrays built once per generation.
 *
 * Running it allocates nothing and looks nothing up. The links (one per
 * manifest entry: vtable, instance, name) are kept for messages; what runs
 * is two arrays made from them when the chain is built: the before hooks
 * in order and the after hooks last link first, each entry a function
 * pointer with its instance, so a hook costs one indirect call and a
 * middleware without a before (or an after) costs nothing on that side.
 * Worker threads read chains concurrently; nothing in them changes after
 * they are built. */
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

typedef struct dx_chain_before_hook {
	int (*fn)(void *self, dx_request *req, dx_response *res);
	void *self;
	unsigned link; /* its index in links */
} dx_chain_before_hook;

/* fn NULL: the host's own x-response-time, in the place of the after
 * hook of the first link asking for it (DX_MW_META_RESPONSE_TIME). */
typedef struct dx_chain_after_hook {
	void (*fn)(void *self, const dx_request *req, dx_response *res);
	void *self;
	unsigned link;
} dx_chain_after_hook;

/* "x-response-time", checked when the host was built (tests/chain). */
extern const dx_meta_key dx_chain_time_key;
/* The host's x-response-time entry: ns since the request started, in
 * whole microseconds. Out of metadata room the answer goes without it. */
void dx_chain_time(dx_response *res, uint64_t ns);

typedef struct dx_chain {
	dx_chain_link *links;
	unsigned count;
	/* Made by dx_chain_flatten from links (NULL, 0: no hooks). */
	dx_chain_before_hook *befores; /* link order */
	dx_chain_after_hook *afters;   /* last link first */
	unsigned nbefore, nafter;
	/* Whether links, befores and afters are the chain's to free (a test
	 * may hand links of its own to dx_chain_flatten). */
	bool owns_links;
} dx_chain;

/* Build a chain from plugin names (each must provide a MIDDLEWARE facet
 * of its own name); path names the list in messages ("middleware",
 * "route_middleware.echo"). Call after the plugins' init. */
int dx_chain_build(const dx_registry *r, char *const *names, size_t n,
		   const char *path, dx_chain *out, dx_diag *d);
/* Make c's hook arrays from c->links and c->count (a vtable too small to
 * hold a hook, or with it NULL, has none): 0 or -ENOMEM. */
int dx_chain_flatten(dx_chain *c);
void dx_chain_free(dx_chain *c);

/* A before that did not answer DX_MW_CONTINUE: res gets its 500 unless it
 * stopped with an answer. Returns how many links ran. */
unsigned dx_chain_stopped(const dx_chain *c, const dx_chain_before_hook *b,
			  int rc, dx_response *res);

/* Run the before hooks in order until one stops the chain (answered, or
 * failed: then res holds a 500). Returns how many links ran, the stopping
 * one included; *stopped tells whether the handler should be skipped. */
static inline unsigned dx_chain_before(const dx_chain *c, dx_request *req,
				       dx_response *res, bool *stopped)
{
	*stopped = false;
	const dx_chain_before_hook *b = c->befores, *end = b + c->nbefore;
	for (; b < end; b++) {
		int rc = b->fn(b->self, req, res);
		if (rc != DX_MW_CONTINUE) {
			*stopped = true;
			return dx_chain_stopped(c, b, rc, res);
		}
	}
	return c->count;
}

/* Run the after hooks of the first ran links, last first, and write the
 * host's own metadata in their places; now_ns is the monotonic time the
 * after hooks start at (x-response-time is now_ns - req->start_ns). */
static inline void dx_chain_after(const dx_chain *c, unsigned ran,
				  const dx_request *req, dx_response *res,
				  uint64_t now_ns)
{
	const dx_chain_after_hook *a = c->afters, *end = a + c->nafter;
	for (; a < end; a++) {
		if (a->link >= ran)
			continue;
		if (a->fn)
			a->fn(a->self, req, res);
		else
			dx_chain_time(res, now_ns > req->start_ns
						   ? now_ns - req->start_ns
						   : 0);
	}
}

#endif
