/* dx/routes.h - the ROUTES facet: HBTP RpcCall handlers.
 *
 * A ROUTES vtable lists routes, each with a fixed id (1..65535; 0 is the
 * host's discovery route), a name clients call it by, and a handler. Two
 * routes with the same id or name in one host are refused at load time.
 */
#ifndef DX_ROUTES_H
#define DX_ROUTES_H

#include <dx/hbtp.h>
#include <dx/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Members only the host and libdx may touch. dx_request and dx_response
 * are filled by the host and read by plugins, so their layout is ABI 1.0
 * and stays as it is (docs/abi.md); the host's members are declared
 * through DX_HOST_ONLY, which gives them a name no plugin uses unless the
 * file is part of the host or libdx (built with DX_BUILDING_HOST). So
 * `res->data` does not compile in a plugin, and the bytes are the same
 * either way: a plugin built against 1.0 works with this host and back. */
#ifdef DX_BUILDING_HOST
#define DX_HOST_ONLY(name) name
#else
#define DX_HOST_ONLY(name) dx_host_only_##name
#endif

/* A handler's return value when it will answer later through the host. */
#define DX_PENDING 1

/* A request extension: a value one middleware leaves for the later ones
 * and the handler (mw_auth's verified claims, for one). The value's memory
 * belongs to whoever set it and must stay valid until the request's after
 * hooks have run. */
typedef struct dx_ext {
	const char *key;
	const void *value;
	size_t len;
} dx_ext;

#define DX_REQUEST_EXT_MAX 16

/* One decoded request, owned by the host and valid for the duration of the
 * middleware and handler calls. Sized and append-only. */
typedef struct dx_request {
	uint32_t size;
	uint8_t opcode;
	uint8_t flags;
	uint16_t seq;
	uint16_t route;
	const uint8_t *body; /* the arguments, after the route id */
	size_t body_len;
	int worker;        /* worker id, or -1 outside a worker */
	uint64_t start_ns; /* monotonic time the request was decoded */
	void *DX_HOST_ONLY(host_priv); /* the host's */
	const dx_hbtp_meta *meta; /* request metadata (count 0: none) */
	const char *peer;  /* "1.2.3.4:5678", "[::1]:5678" or "unix" */
	const char *route_name; /* NULL when no route has this id */
	dx_ext *ext;       /* extensions: ext_count used of DX_REQUEST_EXT_MAX */
	unsigned ext_count;
} dx_request;

/* Where a handler writes its answer: a host-owned buffer that is reset and
 * reused between requests. status 0 answers RpcResponse with the body;
 * any other status answers RpcError with that status and the body as the
 * message. A plugin writes through dx_response_write/printf/error/meta and
 * may read status, len, meta_len and meta_count; dx_response_body() and
 * dx_response_meta_find() read back what was written. The DX_HOST_ONLY
 * members are the host's (and libdx's): see above. */
typedef struct dx_response {
	uint32_t size;
	uint16_t status;
	uint8_t *DX_HOST_ONLY(data); /* the body: len bytes used of cap */
	size_t len;
	size_t DX_HOST_ONLY(cap);
	/* Make room for at least extra more bytes; 0 or -ENOMEM / -E2BIG. */
	int (*DX_HOST_ONLY(reserve))(struct dx_response *res, size_t extra);
	void *DX_HOST_ONLY(owner);
	/* Response metadata entries (without the u16 block length), written
	 * by dx_response_meta into host-owned room; sent as the HAS_META
	 * block in front of the body. */
	uint8_t *DX_HOST_ONLY(meta);
	size_t meta_len;
	size_t DX_HOST_ONLY(meta_cap);
	unsigned meta_count; /* entries so far: at most DX_HBTP_META_MAX */
} dx_response;

/* 0 answered in res, DX_PENDING answers later, negative: the host answers
 * RpcError 500 (or res->status when the handler set one). Any other
 * positive value is a plugin bug: answered 500 and logged. Runs on a
 * worker thread; must not block. */
typedef int (*dx_route_fn)(void *self, const dx_request *req,
			   dx_response *res);

typedef struct dx_route {
	uint16_t id;
	const char *name; /* [a-z][a-z0-9_.]*, e.g. "echo", "db.get" */
	dx_route_fn call;
} dx_route;

typedef struct dx_routes_vtable {
	uint32_t size;
	uint32_t route_size; /* sizeof(dx_route) as built */
	const dx_route *routes;
	uint32_t count;
} dx_routes_vtable;

#define DX_ROUTES_VTABLE_V1_0_SIZE                                         \
	(offsetof(dx_routes_vtable, count) +                               \
	 sizeof(((dx_routes_vtable *)0)->count))
#define DX_ROUTE_V1_0_SIZE                                                 \
	(offsetof(dx_route, call) + sizeof(((dx_route *)0)->call))

/* Fill a dx_routes_vtable from a static array of dx_route. */
#define DX_ROUTES(array)                                                   \
	{                                                                  \
		.size = sizeof(dx_routes_vtable),                          \
		.route_size = sizeof(dx_route), .routes = (array),         \
		.count = sizeof(array) / sizeof((array)[0]),               \
	}

/* The value of request metadata key (lowercase), or NULL. */
const uint8_t *dx_request_meta(const dx_request *req, const char *key,
			       uint16_t *len);
/* Set extension key (a static or long-lived string) to value: 0, or
 * -ENOSPC when DX_REQUEST_EXT_MAX are taken. Setting a key again replaces
 * its value. Middleware only (before hooks). */
int dx_request_ext_set(dx_request *req, const char *key, const void *value,
		       size_t len);
/* Set n extensions at once, as dx_request_ext_set would one by one; the
 * n keys must differ from each other. Cheaper than n calls: when none is
 * set yet (the first middleware to set any), nothing is compared. 0, or
 * -ENOSPC (entries before the one that did not fit are set). */
int dx_request_ext_set_n(dx_request *req, const dx_ext *ext, unsigned n);
/* Extension key's value (and *len), or NULL. */
const void *dx_request_ext_get(const dx_request *req, const char *key,
			       size_t *len);
/* Add response metadata key: value (lowercase key, 1..255 bytes): 0,
 * -EINVAL (bad key) or -E2BIG (no room left, or DX_HBTP_META_MAX entries
 * already: more than a client accepts). */
int dx_response_meta(dx_response *res, const char *key, const void *value,
		     size_t len);

/* Add response metadata key: value as a decimal number. */
int dx_response_meta_u64(dx_response *res, const char *key, uint64_t value);

/* Route names: [a-z][a-z0-9_.]*, at most 63 bytes. */
bool dx_route_name_valid(const char *name);

/* For whoever hands a response to a handler without a host (a test, a
 * program calling a route directly): res writes its body into body
 * (body_cap bytes) and its metadata entries into meta (meta_cap bytes;
 * NULL and 0 for none), never growing: a write past the end is -E2BIG.
 * The buffers stay the caller's. */
void dx_response_init(dx_response *res, void *body, size_t body_cap,
		      void *meta, size_t meta_cap);
/* The body written so far: res->len bytes (NULL when nothing was). */
const uint8_t *dx_response_body(const dx_response *res);
/* The metadata entries written so far, res->meta_len bytes, as
 * dx_response_meta wrote them (no u16 block length in front). */
const uint8_t *dx_response_meta_entries(const dx_response *res);
/* The value of response metadata key already written, or NULL. */
const uint8_t *dx_response_meta_find(const dx_response *res, const char *key,
				     uint16_t *len);

/* Append n bytes to the response body. 0 or a negative code. */
int dx_response_write(dx_response *res, const void *data, size_t n);
/* Append a formatted string (without its NUL). */
int dx_response_printf(dx_response *res, const char *fmt, ...)
	DX_PRINTF(2, 3);
/* Replace the body with an error: status (400..599) and a message. */
int dx_response_error(dx_response *res, uint16_t status, const char *fmt,
		      ...) DX_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif
