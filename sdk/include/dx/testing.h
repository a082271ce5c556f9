/* dx/testing.h - the plugin test kit: a dx host inside the test process.
 *
 * Link libdx-testing (pkg-config dx-testing) and unit-test a plugin without
 * dx-host or sockets. The kit is the host, not a stand-in for it: a plugin
 * is opened by the host's own loader (real dlopen, every ABI and
 * descriptor check dx-host makes, the same messages), initialised through
 * the same dx_host_api table, and each call goes through the host's
 * request pipeline and middleware chain on one real worker (its turn, its
 * timers, its mailbox for answers completed elsewhere), which runs on the
 * test's own thread whenever a kit function runs it. What the kit replaces
 * is the network: a request is HBTP bytes handed to the worker as if
 * received on a connection, and the answer is read back from what the
 * worker sent.
 *
 *     dx_test_host *h = dx_test_host_new();
 *     char err[512];
 *     if (dx_test_load(h, "./routes_hello.so", "{\"greeting\": \"hi\"}",
 *                      err, sizeof err) < 0)
 *             fail("%s", err);
 *     const dx_test_reply *r;
 *     dx_test_call_route(h, "hello", "bob", 3, &r);
 *     // r->answered, r->status == 0, r->body == "hi, bob!"
 *     dx_test_host_free(h);
 *
 * Errors: 0 or a negative code, libuv style (dx/error.h: a negated errno
 * or DX_E*; dx_strerror names it). Functions that take err/errlen also
 * write the host's messages there, one per line, as dx-host would print
 * them (err may be NULL).
 *
 * Threads: one dx_test_host belongs to one thread, the one that calls the
 * kit (its worker runs there: host->worker_id() answers 0 in a handler,
 * -1 in init as under dx-host). Plugins may still complete deferred
 * requests, post and log from their own threads; the kit picks that up in
 * dx_test_run. Several hosts may live in one process; each loads its own
 * copy of a plugin file, like a reload does.
 *
 * Ownership: everything a dx_test_* function returns (replies, pushes)
 * belongs to the host and stays valid until dx_test_host_free; log lines
 * see dx_test_logs.
 */
#ifndef DX_TESTING_H
#define DX_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/hbtp.h>
#include <dx/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dx_test_host dx_test_host;

/* One metadata entry: key is lowercase ASCII (a-z 0-9 - _ .). */
typedef struct dx_test_meta {
	const char *key;
	const void *value;
	size_t len;
} dx_test_meta;

/* A request. Give the route by id, or by name with route 0. peer is what
 * the plugin sees in req->peer ("203.0.113.7:5000"); each distinct peer
 * is its own connection (NULL: "127.0.0.1:40000"). Everything is copied:
 * the caller keeps ownership. */
typedef struct dx_test_request {
	uint16_t route;
	const char *route_name;
	const void *body;
	size_t len;
	const dx_test_meta *meta;
	size_t meta_count;
	const char *peer;
} dx_test_request;

/* An answer, as a client would decode it. */
typedef struct dx_test_reply {
	bool answered;   /* false until the answer came (see dx_test_run) */
	uint16_t route;  /* the id the request went to */
	uint16_t seq;    /* its HBTP seq */
	uint16_t status; /* 0: RpcResponse; else RpcError's status */
	/* RpcResponse's body, or RpcError's message; NUL-terminated (the NUL
	 * is not counted in len). */
	const char *body;
	size_t len;
	/* The answer's metadata (keys NUL-terminated). */
	dx_test_meta meta[DX_HBTP_META_MAX];
	size_t meta_count;
} dx_test_reply;

/* A frame a plugin pushed on a stream (host->stream_send). */
typedef struct dx_test_push {
	uint8_t opcode;
	uint16_t seq;
	const char *body; /* NUL-terminated, as reply bodies */
	size_t len;
} dx_test_push;

/* A line the plugins (who: the plugin's name) or the host ("dx") logged.
 * Every level is kept, DX_LOG_DEBUG included. */
typedef struct dx_test_log {
	int level; /* DX_LOG_ERROR .. DX_LOG_DEBUG */
	const char *who;
	const char *msg;
} dx_test_log;

/* A host with no plugin, one worker and the manifest defaults. NULL only
 * on ENOMEM. With DX_TEST_VERBOSE=1 in the environment every log line is
 * also printed to stderr as it comes. */
dx_test_host *dx_test_host_new(void);
/* Run what is still owed (timers run now, as at dx-host's drain, posts,
 * answers), finalise the plugins in reverse load order, unload, free.
 * NULL is nothing. */
void dx_test_host_free(dx_test_host *h);

/* Load the plugin file path (as dx-host: permission checks, a private
 * copy mapped, every descriptor check) and initialise it with
 * config_json, the text of its "config" object (NULL or "": none).
 * 0; DX_ECONFIG for config text that is not a JSON object or that the
 * plugin refused; the loader's or the registry's code (DX_EABI,
 * DX_EDUP...) or init's own. */
int dx_test_load(dx_test_host *h, const char *path, const char *config_json,
		 char *err, size_t errlen);
/* Append middleware (a loaded plugin with a MIDDLEWARE facet of that
 * name) to the chain around every route, as the manifest's "middleware"
 * list does: befores run in the order added, afters in reverse. */
int dx_test_use(dx_test_host *h, const char *middleware, char *err,
		size_t errlen);

/* Send one request and run the worker until it is answered or has
 * nothing left to do at once: a handler that answers (or a middleware
 * that stops the chain) gives an answered reply on return; a deferred one
 * (DX_PENDING) is answered by dx_test_run. *out is set on 0. -ENOENT: no
 * loaded route has route_name; -EINVAL: no route given, a bad metadata
 * key or too much metadata; -E2BIG: larger than limits.max_message. */
int dx_test_call(dx_test_host *h, const dx_test_request *req,
		 const dx_test_reply **out);
/* The same for the common case: route by name, a body, no metadata. */
int dx_test_call_route(dx_test_host *h, const char *route, const void *body,
		       size_t len, const dx_test_reply **out);

/* Run the worker (timers when due, posts, answers completed on other
 * threads) until every call made so far is answered and no timer or
 * post is pending, or timeout_ms passes: 0, or -ETIMEDOUT (the replies
 * still unanswered say which). */
int dx_test_run(dx_test_host *h, int timeout_ms);
/* Run the timers pending now, whatever their due time, earliest first,
 * as dx-host does when its workers stop (a timer one of them arms waits
 * for its time); then send what they answered. Returns how many ran. */
size_t dx_test_fire_timers(dx_test_host *h);
/* Timers waiting on the worker. */
size_t dx_test_timers_pending(const dx_test_host *h);

/* The id of loaded route name, or -ENOENT. */
int dx_test_route_id(dx_test_host *h, const char *name);
/* A loaded plugin's facet of kind (DX_FACET_SERVICE, DX_FACET_IO...) by
 * name, as host->lookup finds it: call its vtable with ref->self to test
 * a SERVICE or an IO backend directly. 0, or -ENOENT. */
int dx_test_lookup(dx_test_host *h, uint32_t kind, const char *name,
		   dx_facet_ref *ref);
/* The value of reply metadata key (and *len), or NULL. */
const char *dx_test_meta_get(const dx_test_reply *r, const char *key,
			     size_t *len);

/* Counter "<plugin>.<name>" (host->counter): 0 and *value, or -ENOENT. */
int dx_test_counter(const dx_test_host *h, const char *name, uint64_t *value);

/* The lines logged so far (*lines; returns how many), oldest first. The
 * array is valid until the next kit call, or until a plugin's own thread
 * logs: read it while the plugin's threads are quiet. */
size_t dx_test_logs(dx_test_host *h, const dx_test_log **lines);
/* Whether a line of level (-1: any) contains needle. */
bool dx_test_log_has(dx_test_host *h, int level, const char *needle);
void dx_test_log_clear(dx_test_host *h);

/* The frames plugins pushed on streams so far. */
size_t dx_test_pushes(const dx_test_host *h, const dx_test_push **pushes);

#ifdef __cplusplus
}
#endif
#endif
