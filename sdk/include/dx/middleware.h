/* dx/middleware.h - the MIDDLEWARE facet: hooks around every RpcCall.
 *
 * The manifest's "middleware" list (plugin names, each plugin providing a
 * MIDDLEWARE facet of the same name) sets the order; "route_middleware"
 * may give a route its own list. For each RpcCall and ClientEvent the host
 * runs the before hooks in order; a before may answer (write an error into
 * res with dx_response_error and return DX_MW_STOP) and stop the chain, and
 * then the handler does not run. The after hooks run in reverse order for
 * exactly the middleware whose before ran (a middleware without a before
 * counts as having run), whether the handler answered, failed or a before
 * stopped the chain. The chain is a flat array built at start-up: running
 * it allocates nothing and looks nothing up.
 *
 * Both hooks run on the request's worker thread and must not block. A
 * before may set request extensions (dx_request_ext_set) for the later
 * middleware and the handler; an after may add response metadata
 * (dx_response_meta). When a handler answers later (DX_PENDING), the after
 * hooks run when the answer is completed, with req->body, req->meta and the
 * extensions already gone (empty).
 */
#ifndef DX_MIDDLEWARE_H
#define DX_MIDDLEWARE_H

#include <dx/routes.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Well-known metadata the host writes itself (host_meta, ABI 1.3), for
 * less than a hook costs: no call, the clock reading it takes for its own
 * metrics, a key checked once.
 *   DX_MW_META_RESPONSE_TIME  x-response-time: whole microseconds from
 *                             req->start_ns to the moment the after hooks
 *                             start (handler and befores included), put
 *                             where this middleware's after would write. */
#define DX_MW_META_RESPONSE_TIME 0x1u

/* A before's return: go on, or stop (res holds the answer). */
#define DX_MW_CONTINUE 0
#define DX_MW_STOP 1

typedef struct dx_middleware_vtable {
	uint32_t size;
	/* DX_MW_CONTINUE, DX_MW_STOP, or a negative code (the host answers
	 * 500 and stops). May be NULL. */
	int (*before)(void *self, dx_request *req, dx_response *res);
	/* res is the answer about to be sent (status 0: RpcResponse). May be
	 * NULL. */
	void (*after)(void *self, const dx_request *req, dx_response *res);
	/* ABI 1.3: DX_MW_META_* bits, metadata the host adds to every answer
	 * this middleware's after would see (its link ran: the rule above),
	 * once every after hook has run; 0: none. Read with DX_HAS: a vtable
	 * built against 1.2 or older has none. */
	uint32_t host_meta;
} dx_middleware_vtable;

/* A response metadata key checked once (at init), then written on every
 * request without looking at it again: dx_response_meta validates its key
 * and measures it on each call, which on the per-request path of a
 * middleware costs more than the rest of the entry. bytes holds the
 * entry's front as it goes on the wire (u8 key length, then the key);
 * len is 1 + the key's length, 0 for a key that was refused. Fill it with
 * dx_meta_key_init and treat it as read-only afterwards: any number of
 * threads may write responses with one key at once. */
typedef struct dx_meta_key {
	uint32_t len;
	uint8_t bytes[1 + 255];
} dx_meta_key;

/* 0, or -EINVAL when key is not a valid metadata key (lowercase ASCII
 * letters, digits, - _ ., 1..255 bytes); then k->len is 0 and every write
 * with it is refused (-EINVAL). */
int dx_meta_key_init(dx_meta_key *k, const char *key);
/* dx_response_meta with a key dx_meta_key_init accepted: 0, -EINVAL (a
 * refused key, a value over 65,535 bytes) or -E2BIG (no room left, or
 * DX_HBTP_META_MAX entries already). */
int dx_response_meta_key(dx_response *res, const dx_meta_key *k,
			 const void *value, size_t len);
/* The same with value as a decimal number. */
int dx_response_meta_key_u64(dx_response *res, const dx_meta_key *k,
			     uint64_t value);

#define DX_MIDDLEWARE_VTABLE_V1_0_SIZE                                     \
	(offsetof(dx_middleware_vtable, after) +                           \
	 sizeof(((dx_middleware_vtable *)0)->after))

#ifdef __cplusplus
}
#endif
#endif
