/* log.h - the host's log lines on stderr: a timestamp, the level, who
 * (the plugin's name, or "dx" for the host) and the message, as text or as
 * one JSON object a line, with the id of the request being handled when
 * the client sent one (metadata key x-request-id).
 *
 *   text: 2026-12-07T09:01:02.345Z error dx: route x failed: ... request_id=abc
 *   json: {"ts":"2026-12-07T09:01:02.345Z","level":"error","msg":"...",
 *          "request_id":"abc"}     ("plugin":"NAME" when a plugin logs)
 *
 * Timestamps are RFC 3339, UTC, milliseconds. A line is built whole in a
 * buffer on the stack and written with one write(2), so lines from
 * several threads never interleave; a message is cut at 2 KiB by the
 * registry, a request id at DX_LOG_RID_MAX bytes.
 *
 * The request id is per thread: the pipeline sets it around a request's
 * middleware and handler on the worker thread (dx_log_request_begin/end),
 * and every line logged on that thread meanwhile, the host's or a
 * plugin's through host->log, carries it. It points into the request's
 * metadata, which outlives the call: nothing is copied or allocated, and a
 * request without metadata costs one branch. */
#ifndef DX_HOST_LOG_H
#define DX_HOST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dx/hbtp.h>

typedef enum dx_log_format {
	DX_LOG_FORMAT_TEXT = 0,
	DX_LOG_FORMAT_JSON = 1,
} dx_log_format;

/* The longest request id a line carries; longer ones are cut. */
#define DX_LOG_RID_MAX 128
/* Room for everything but the message, escaped: see dx_log_line. */
#define DX_LOG_LINE_MIN 2048

/* "text" or "json" into *out: 0, or -EINVAL for any other name. */
int dx_log_format_parse(const char *name, dx_log_format *out);

/* The registry's sink (registry.h dx_log_sink) writing to stderr; ud is a
 * const dx_log_format * (NULL: text) that outlives the registry. Any
 * thread. */
void dx_log_stderr(void *ud, int level, const char *who, const char *msg);

/* One line, newline included, into buf (cap bytes, NUL-terminated). With
 * cap at least DX_LOG_LINE_MIN a line too long has its message cut and
 * still ends in a newline and, in JSON, stays valid.
 * realtime_ns: nanoseconds since the epoch (UTC). rid may be NULL. The
 * length written. Exposed for tests; dx_log_stderr is the one caller. */
size_t dx_log_line(char *buf, size_t cap, dx_log_format f, uint64_t realtime_ns,
		   int level, const char *who, const char *msg,
		   const uint8_t *rid, size_t rid_len);

/* RFC 3339 UTC with milliseconds ("2026-12-07T09:01:02.345Z"): 24 bytes
 * and a NUL into out. */
void dx_log_timestamp(uint64_t realtime_ns, char out[25]);

/* Worker thread, around one request: when it has metadata, lines this
 * thread logs until dx_log_request_end carry its x-request-id, looked up
 * when a line is written (true: call dx_log_request_end after the
 * request); false when there is no metadata to look in. */
bool dx_log_request_begin(const dx_hbtp_meta *meta);
void dx_log_request_end(void);

/* For a line logged while a request runs but about others (a summary of
 * several): suspend takes this thread's request id away into *saved,
 * resume puts it back. */
typedef struct dx_log_request {
	const dx_hbtp_meta *meta;
} dx_log_request;
void dx_log_request_suspend(dx_log_request *saved);
void dx_log_request_resume(const dx_log_request *saved);

#endif
