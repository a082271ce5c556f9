/* dx/plugin.h - the plugin ABI (contract: docs/abi.md).
 *
 * A plugin is a shared object that exports one function,
 *
 *     const dx_plugin *dx_plugin_v1(void);
 *
 * returning a static descriptor. The descriptor's first 12 bytes (magic,
 * abi_major, abi_minor, size) are fixed forever; every struct after them,
 * the descriptor itself, each facet vtable and dx_host_api, starts with (or
 * carries) a size and only ever grows at the end. A reader treats a member
 * past the end of a smaller struct as absent: use DX_HAS().
 *
 * Write a plugin with DX_PLUGIN() at the bottom of its one .c file:
 *
 *     static const dx_facet facets[] = {
 *         {DX_FACET_ROUTES, "hello", &hello_routes},
 *     };
 *     DX_PLUGIN(.name = "routes_hello", .version = "1.0.0",
 *               .description = "answers route hello",
 *               DX_FACETS(facets), .init = hello_init, .fini = hello_fini);
 */
#ifndef DX_PLUGIN_H
#define DX_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DX_ABI_MAJOR 1
#define DX_ABI_MINOR 3

/* The bytes 'D','X','P','1' in memory on a little-endian machine. */
#define DX_PLUGIN_MAGIC                                                    \
	((uint32_t)'D' | (uint32_t)'X' << 8 | (uint32_t)'P' << 16 |        \
	 (uint32_t)'1' << 24)

/* The exported symbol, as a string for dlsym/GetProcAddress. */
#define DX_PLUGIN_SYMBOL "dx_plugin_v1"

#if defined(_WIN32)
#define DX_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define DX_EXPORT __attribute__((visibility("default")))
#else
#define DX_EXPORT
#endif

/* mingw-w64: the host and libdx format with mingw's C99 printf
 * (__USE_MINGW_ANSI_STDIO), so formats are checked as GNU's (%zu), not as
 * msvcrt's, which plain "printf" means there. */
#if defined(__MINGW32__)
#define DX_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#elif defined(__GNUC__)
#define DX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define DX_PRINTF(fmt, args)
#endif

/* True when a sized struct p (whose first member is uint32_t size) is large
 * enough to hold member m and m is set. Use it before calling any member
 * that was appended after v1.0. */
#define DX_HAS(p, m)                                                       \
	((p)->size >= offsetof(__typeof__(*(p)), m) + sizeof((p)->m) &&    \
	 (p)->m)

typedef enum dx_facet_kind {
	DX_FACET_IO = 1,
	DX_FACET_ROUTES = 2,
	DX_FACET_MIDDLEWARE = 3,
	DX_FACET_SERVICE = 4,
	DX_FACET_FORGE_DRIVER = 5,
	DX_FACET_PROTOCOL = 6, /* reserved: refused by this host */
} dx_facet_kind;

/* One thing a plugin provides. vtable points at a struct whose first member
 * is uint32_t size (sizeof the struct as the plugin was built). */
typedef struct dx_facet {
	uint32_t kind; /* dx_facet_kind */
	const char *name;
	const void *vtable;
} dx_facet;

/* A facet found through the registry: call its vtable with its plugin's
 * self pointer. */
typedef struct dx_facet_ref {
	const void *vtable;
	void *self;
	const char *plugin; /* name of the plugin that provides it */
} dx_facet_ref;

typedef struct dx_host_api dx_host_api;
typedef struct dx_config dx_config; /* a node of the manifest, host-owned */
typedef struct dx_counter dx_counter;
typedef struct dx_gauge dx_gauge;         /* ABI 1.2 */
typedef struct dx_histogram dx_histogram; /* ABI 1.2 */
typedef struct dx_pending dx_pending; /* a request answered later */
typedef struct dx_watch dx_watch;     /* an fd watched on a worker loop */
typedef struct dx_stream dx_stream;   /* pushes to one client's seq */
struct dx_request;

typedef struct dx_plugin {
	/* Fixed prefix: never changes. */
	uint32_t magic;     /* DX_PLUGIN_MAGIC */
	uint16_t abi_major; /* DX_ABI_MAJOR as built */
	uint16_t abi_minor; /* DX_ABI_MINOR as built */
	uint32_t size;      /* sizeof(dx_plugin) as built */

	/* v1.0 */
	const char *name;        /* [a-z][a-z0-9_]*, unique in a host */
	const char *version;     /* the plugin's own semver */
	const char *description; /* one line */
	const dx_facet *facets;
	uint32_t facet_count;

	/* Called once, in manifest order, before any worker runs. host stays
	 * valid until fini returns; config is this plugin's "config" object
	 * (an empty object when the manifest has none). On failure return a
	 * negative code, after host->fail() or host->config_error() to say
	 * why; fini is then not called. */
	int (*init)(const dx_host_api *host, const dx_config *config,
		    void **self);
	/* Called once, in reverse manifest order. May be NULL. */
	void (*fini)(void *self);

	/* Hot swap (optional; docs/abi.md). Both run on the main thread
	 * while the old instance still serves. export hands out a state blob
	 * that stays owned by the old instance and valid until its fini; it
	 * must not stop what the old instance needs to serve until it is
	 * retired. import is called on the new instance after its init
	 * (host->handoff_version names the exporter's version); if it
	 * fails, the reload fails and the old instance serves on. When a
	 * change is rolled back after an import succeeded (another step of
	 * an apply failed), the host hands the state back: export on the
	 * new instance, import on the old one, then the new one's fini. */
	int (*handoff_export)(void *self, const void **data, size_t *len);
	int (*handoff_import)(void *self, const void *data, size_t len);

	/* v1.1 (optional; the host calls it when DX_HAS(plugin, retire)).
	 * The instance is out of service: replaced by a reload (after its
	 * export, if there was one), unloaded, or never published (its
	 * reload, load or apply failed after its init). Called once, on the
	 * main thread, once no new request can reach it (requests it
	 * started may still be running). End what keeps the instance alive
	 * by itself: unwatch (post to the watch's worker), stop re-arming
	 * timers, end streams it did not hand over. fini follows once
	 * nothing the host holds for it is left (timers, posts, watches,
	 * streams, deferred requests, background tasks). */
	void (*retire)(void *self);
} dx_plugin;

/* The v1.0 sizes a loader insists on. */
#define DX_PLUGIN_PREFIX_SIZE 12u
#define DX_PLUGIN_V1_0_SIZE                                                \
	(offsetof(dx_plugin, handoff_import) +                             \
	 sizeof(((dx_plugin *)0)->handoff_import))

enum { DX_LOG_ERROR = 0, DX_LOG_WARN = 1, DX_LOG_INFO = 2, DX_LOG_DEBUG = 3 };
enum { DX_CLOCK_MONOTONIC = 0, DX_CLOCK_REALTIME = 1 };

/* The plugin's only door into the host. Each plugin gets its own table (the
 * host knows who is calling from the pointer), so every member takes it as
 * the first argument. Sized and append-only: check DX_HAS(host, member)
 * before using a member added after v1.0. Unless noted, members may be
 * called from any thread. */
struct dx_host_api {
	uint32_t size;
	uint16_t abi_major; /* the host's ABI */
	uint16_t abi_minor;

	/* Logging, prefixed with the plugin's name. */
	void (*log)(const dx_host_api *host, int level, const char *fmt, ...)
		DX_PRINTF(3, 4);
	/* Record why the current call (init, a command) failed; the host shows
	 * it with the plugin's name. Returns code, so `return host->fail(...)`
	 * reads naturally. */
	int (*fail)(const dx_host_api *host, int code, const char *fmt, ...)
		DX_PRINTF(3, 4);

	/* Configuration (main thread only: read it during init and keep what
	 * you need). Each getter reads member key of the object cfg (or cfg
	 * itself when key is NULL). A missing member gives def and 0. A
	 * present member of the wrong type or out of range records an error
	 * naming its JSON path ("plugins[2].config.port: expected an integer
	 * in 1..65535, got 70000") and returns DX_ECONFIG. Strings stay valid
	 * until fini. */
	int (*config_str)(const dx_host_api *host, const dx_config *cfg,
			  const char *key, const char *def, const char **out);
	int (*config_int)(const dx_host_api *host, const dx_config *cfg,
			  const char *key, int64_t def, int64_t min,
			  int64_t max, int64_t *out);
	int (*config_bool)(const dx_host_api *host, const dx_config *cfg,
			   const char *key, bool def, bool *out);
	int (*config_double)(const dx_host_api *host, const dx_config *cfg,
			     const char *key, double def, double *out);
	/* Whether member key is present (any type). */
	bool (*config_has)(const dx_host_api *host, const dx_config *cfg,
			   const char *key);
	/* Member key when it is an object or an array, else NULL (a present
	 * member of another type also records an error). */
	const dx_config *(*config_child)(const dx_host_api *host,
					 const dx_config *cfg, const char *key);
	/* Number of elements of an array or members of an object. */
	size_t (*config_len)(const dx_host_api *host, const dx_config *cfg);
	/* Element i of an array (or member i of an object), or NULL. */
	const dx_config *(*config_at)(const dx_host_api *host,
				      const dx_config *cfg, size_t i);
	/* The JSON path of cfg, e.g. "plugins[2].config.queries[0]". */
	const char *(*config_path)(const dx_host_api *host,
				   const dx_config *cfg);
	/* Record an error about member key of cfg (key may be NULL) and
	 * return DX_ECONFIG: config_error(h, c, "alg", "unknown algorithm
	 * \"%s\"", s) reports plugins[2].config.alg: unknown algorithm "XS256". */
	int (*config_error)(const dx_host_api *host, const dx_config *cfg,
			    const char *key, const char *fmt, ...)
		DX_PRINTF(4, 5);
	/* Fail with DX_ECONFIG on the first member of the object cfg whose
	 * key is not in the NULL-terminated list allowed. */
	int (*config_keys)(const dx_host_api *host, const dx_config *cfg,
			   const char *const *allowed);

	/* Registry: another plugin's facet by kind and name. 0 and *out set,
	 * or -ENOENT. Loaded plugins' facets are all visible during init. */
	int (*lookup)(const dx_host_api *host, uint32_t kind,
		      const char *name, dx_facet_ref *out);

	/* Clocks, in nanoseconds. */
	uint64_t (*now_ns)(const dx_host_api *host, int clock);

	/* Workers: how many the host runs, and which one the calling thread
	 * is (0..count-1), or -1 when it is not a worker thread. */
	unsigned (*worker_count)(const dx_host_api *host);
	int (*worker_id)(const dx_host_api *host);

	/* Metrics: a monotonically increasing counter named
	 * "<plugin>.<name>", owned by the host (it outlives the plugin, so a
	 * reloaded build keeps counting). Create counters during init (main
	 * thread); counter_add and counter_get are lock-free and may be called
	 * from any thread (a worker adds to a cell of its own). help is kept
	 * and shown: the HELP line of the Prometheus family
	 * dx_plugin_<plugin>_<name>_total (docs/metrics.md). name is 1..63
	 * bytes, best [a-z0-9_] (anything else becomes '_' in Prometheus).
	 * Returns NULL on ENOMEM, or (logged) when the plugin already made a
	 * gauge or histogram of that name. */
	dx_counter *(*counter)(const dx_host_api *host, const char *name,
			       const char *help);
	void (*counter_add)(dx_counter *counter, uint64_t n);
	uint64_t (*counter_get)(const dx_counter *counter);

	/* Answering later. A route handler that cannot answer at once calls
	 * defer(req) (worker thread, during the handler), returns DX_PENDING,
	 * and later calls complete() exactly once, from any thread: status 0
	 * answers RpcResponse with body, 400..599 answers RpcError with body
	 * as the message. The body is copied. If the client went away
	 * meanwhile the answer is dropped and complete still returns 0; the
	 * host counts it. defer returns NULL on ENOMEM. */
	dx_pending *(*defer)(const dx_host_api *host,
			     const struct dx_request *req);
	int (*complete)(const dx_host_api *host, dx_pending *pending,
			uint16_t status, const void *body, size_t len);

	/* Run fn(arg) on the calling worker's thread after delay_ns (worker
	 * thread only; DX_ESTATE elsewhere). Timers do not outlive the host's
	 * drain: pending ones run with the host draining, so fn must still
	 * complete what it owes. */
	int (*timer)(const dx_host_api *host, uint64_t delay_ns,
		     void (*fn)(void *arg), void *arg);

	/* Run fn(arg) on worker's thread (0..count-1; -1: any), soon. Any
	 * thread, any time from init on: posts made before the workers
	 * start run when they do (and never, if the host does not serve:
	 * dx-host --check). 0 or -ENOMEM / DX_ESTATE (draining).
	 *
	 * Lifetimes: watches end with the workers, which stop before any
	 * plugin's fini runs: fini must not call unwatch. A stream lives
	 * until its stream_end, which may come at any time, from fini too;
	 * once the workers have stopped, stream_send returns -EPIPE. */
	int (*post)(const dx_host_api *host, int worker,
		    void (*fn)(void *arg), void *arg);

	/* Watch a foreign fd (a database socket) on the calling worker's
	 * loop: fn(arg, revents) runs there each time it becomes ready
	 * (DX_IO_POLLIN/OUT/ERR/HUP from dx/io.h; consume until EAGAIN).
	 * Worker thread only (post() to get there). unwatch stops it before
	 * returning (same thread); the fd stays open and is the caller's.
	 * A backend swap carries watches over. NULL and errno on failure. */
	dx_watch *(*watch)(const dx_host_api *host, int fd, uint32_t events,
			   void (*fn)(void *arg, uint32_t revents), void *arg);
	void (*unwatch)(const dx_host_api *host, dx_watch *watch);

	/* Server push (StateSync, StateDelta): during a route handler, keep
	 * the client's connection and the request's seq to send more frames
	 * on later. stream_send (any thread; the body is copied; frames of
	 * one stream arrive in order) sends one FINAL frame of opcode with
	 * that seq; it returns -EPIPE once the client is gone. on_close(arg)
	 * runs on the stream's worker when the connection closes. Every
	 * stream must be ended with stream_end (any thread), after which
	 * on_close is not called. */
	dx_stream *(*stream)(const dx_host_api *host,
			     const struct dx_request *req,
			     void (*on_close)(void *arg), void *arg);
	int (*stream_send)(const dx_host_api *host, dx_stream *stream,
			   uint8_t opcode, const void *body, size_t len);
	void (*stream_end)(const dx_host_api *host, dx_stream *stream);

	/* Background work, off the workers: fn(arg) runs on one of the
	 * host's background threads (manifest "background": threads,
	 * queue), in queue order. Never blocks (microseconds): when the
	 * queue is full the oldest queued task is dropped, its drop(arg)
	 * runs (to free arg; may be NULL), the drop is counted and logged
	 * with the task's name (a static string). Any thread, from init on;
	 * tasks still queued when the host stops are dropped the same way.
	 * 0 or -ENOMEM. */
	int (*enqueue)(const dx_host_api *host, const char *name,
		       void (*fn)(void *arg), void (*drop)(void *arg),
		       void *arg);

	/* A control-socket command of the plugin's own: a request line
	 * {"cmd": cmd, ...} is handed to fn as JSON text, and fn returns
	 * the answer, a malloc'd JSON object (the host frees it and adds
	 * "ok": true unless it says otherwise), or NULL for an error (with
	 * host->fail's message). fn runs on the control thread: keep it
	 * short. Register during init. 0, -EEXIST or -ENOMEM. */
	int (*control)(const dx_host_api *host, const char *cmd,
		       char *(*fn)(void *arg, const char *request), void *arg);

	/* A plugin's own top-level section of the manifest. A top-level key
	 * that is not one of the host's is accepted only when it is the name
	 * of a plugin listed in "plugins" ("forge": {...} beside {"name":
	 * "forge"}); the host checks nothing in it but duplicate keys and
	 * keeps it raw for that plugin, which validates it with the config
	 * getters, whose error paths start at the key ("forge.tools[1]
	 * .binary: ..."). NULL when the manifest has no such section (or key
	 * is one of the host's own). With key NULL: the manifest's directory,
	 * a string node (config_str(host, node, NULL, NULL, &dir)), from
	 * which a relative path in a section is meant. Main thread, during
	 * init. */
	const dx_config *(*section)(const dx_host_api *host, const char *key);

	/* v1.1: check with DX_HAS(host, member) before calling. */

	/* During handoff_import: the version (dx_plugin.version) of the
	 * instance whose state is being imported, so an import can convert
	 * it or refuse it (host->fail naming both versions); NULL at any
	 * other time. Main thread. */
	const char *(*handoff_version)(const dx_host_api *host);
	/* Take over a stream that another instance of this plugin opened
	 * (in a state handoff). From when it returns, on_close(arg) is the
	 * stream's callback, never the old one, and the stream keeps this
	 * instance, not the old one, from being finalised. Any thread. 0;
	 * -EPIPE when the client's connection has already closed (the old
	 * on_close has run; the stream still needs its stream_end); -EINVAL
	 * for NULL. */
	int (*stream_adopt)(const dx_host_api *host, dx_stream *stream,
			    void (*on_close)(void *arg), void *arg);
	/* Member key of cfg as a file or directory path: config_str, then a
	 * relative path is made absolute from the manifest's directory (an
	 * absolute one is kept), so a manifest means the same from any
	 * working directory. *out stays valid until fini. Main thread. */
	int (*config_file)(const dx_host_api *host, const dx_config *cfg,
			   const char *key, const char *def, const char **out);
	/* True under dx-host --check: validate everything, but change
	 * nothing outside the process (write no file, install nothing in a
	 * database, start no process); say what would be done instead.
	 * Main thread, during init. */
	bool (*dry_run)(const dx_host_api *host);

	/* v1.2: check with DX_HAS(host, member) before calling. */

	/* Metrics beside counter (docs/metrics.md), host-owned and kept
	 * across a reload like counters; create them during init (main
	 * thread). A gauge is a value that goes up and down
	 * (dx_plugin_<plugin>_<name>); set, add and get are lock-free, any
	 * thread. A histogram counts observations into buckets with the
	 * upper bounds given (ascending, finite; copied), plus +Inf, and
	 * keeps their sum (dx_plugin_<plugin>_<name>_bucket/_sum/_count);
	 * observe is lock-free, any thread (a worker writes a cell of its
	 * own). Both return NULL on ENOMEM, or (logged) on bad bounds or a
	 * name the plugin already used for another kind or other bounds. */
	dx_gauge *(*gauge)(const dx_host_api *host, const char *name,
			   const char *help);
	void (*gauge_set)(dx_gauge *gauge, double value);
	void (*gauge_add)(dx_gauge *gauge, double delta);
	double (*gauge_get)(const dx_gauge *gauge);
	dx_histogram *(*histogram)(const dx_host_api *host, const char *name,
				   const char *help, const double *bounds,
				   size_t count);
	void (*histogram_observe)(dx_histogram *histogram, double value);

	/* Later versions append members here. */
};

#define DX_HOST_API_V1_0_SIZE                                              \
	(offsetof(dx_host_api, section) +                                  \
	 sizeof(((dx_host_api *)0)->section))
#define DX_HOST_API_V1_1_SIZE                                              \
	(offsetof(dx_host_api, dry_run) +                                  \
	 sizeof(((dx_host_api *)0)->dry_run))
#define DX_HOST_API_V1_2_SIZE                                              \
	(offsetof(dx_host_api, histogram_observe) +                        \
	 sizeof(((dx_host_api *)0)->histogram_observe))

/* Fill .facets and .facet_count from a static array. */
#define DX_FACETS(array)                                                   \
	.facets = (array), .facet_count = sizeof(array) / sizeof((array)[0])

/* Declare the plugin: the descriptor and the exported dx_plugin_v1. */
#define DX_PLUGIN(...)                                                     \
	static const dx_plugin dx_plugin_descriptor_ = {                   \
		.magic = DX_PLUGIN_MAGIC,                                  \
		.abi_major = DX_ABI_MAJOR,                                 \
		.abi_minor = DX_ABI_MINOR,                                 \
		.size = sizeof(dx_plugin),                                 \
		__VA_ARGS__};                                              \
	DX_EXPORT const dx_plugin *dx_plugin_v1(void);                     \
	DX_EXPORT const dx_plugin *dx_plugin_v1(void)                      \
	{                                                                  \
		return &dx_plugin_descriptor_;                             \
	}

/* Names of plugins and facets: [a-z][a-z0-9_]*, at most 63 bytes. */
#define DX_NAME_MAX 63
bool dx_name_valid(const char *name);

/* "IO", "ROUTES", ... or NULL for an unknown kind. */
const char *dx_facet_kind_name(uint32_t kind);

#ifdef __cplusplus
}
#endif
#endif
