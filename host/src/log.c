/* log.c - the host's log lines: text or JSON, timestamped, with the
 * request id of the request this thread is handling (log.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dx/plugin.h>

#include "log.h"

static const char *const dx_level_names[] = {"error", "warn", "info", "debug"};

/* This thread's request id: set by the pipeline around one request,
 * pointing into its metadata (log.h). */
static _Thread_local const dx_hbtp_meta *dx_log_meta;

int dx_log_format_parse(const char *name, dx_log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = DX_LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = DX_LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

void dx_log_timestamp(uint64_t realtime_ns, char out[25])
{
	time_t sec = (time_t)(realtime_ns / 1000000000u);
	unsigned ms = (unsigned)(realtime_ns % 1000000000u / 1000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, 25, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 25 - n, ".%03uZ", ms % 1000u);
}

/* A line being built: what does not fit (keeping `keep` bytes for the
 * line's end) is dropped whole, never half an escape or a character. */
typedef struct dx_line {
	char *p;
	size_t cap, len, keep;
} dx_line;

static bool dx_put(dx_line *l, const void *s, size_t n)
{
	if (l->len + n + l->keep >= l->cap)
		return false;
	memcpy(l->p + l->len, s, n);
	l->len += n;
	return true;
}

static void dx_puts(dx_line *l, const char *s)
{
	dx_put(l, s, strlen(s));
}

/* The length of the UTF-8 sequence at s (1..4), or 0 when it is not one
 * (overlong, a surrogate, past U+10FFFF, cut short). */
static size_t dx_utf8_len(const uint8_t *s, size_t n)
{
	size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (s[0] > 0xF4 || k == 0 || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) ||
	    (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
		return 0;
	return k;
}

/* s[0, n) as the inside of a JSON string: valid UTF-8 kept as it is,
 * quotes, backslashes and control characters escaped, a byte that is not
 * UTF-8 written as U+FFFD. */
static void dx_put_json(dx_line *l, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		char esc[8];
		size_t k = 1;
		const void *out = esc;
		size_t len = 2;
		uint8_t b = s[i];
		if (b == '"' || b == '\\')
			esc[0] = '\\', esc[1] = (char)b;
		else if (b == '\n')
			memcpy(esc, "\\n", 2);
		else if (b == '\t')
			memcpy(esc, "\\t", 2);
		else if (b == '\r')
			memcpy(esc, "\\r", 2);
		else if (b < 0x20 || b == 0x7F)
			len = (size_t)snprintf(esc, sizeof esc, "\\u%04x", b);
		else if (b < 0x80)
			out = &s[i], len = 1;
		else if ((k = dx_utf8_len(s + i, n - i)) > 0)
			out = &s[i], len = k;
		else
			k = 1, out = "\\ufffd", len = 6;
		if (!dx_put(l, out, len))
			return;
		i += k;
	}
}

static void dx_put_field(dx_line *l, const char *key, const void *v, size_t n)
{
	dx_puts(l, ",\"");
	dx_puts(l, key);
	dx_puts(l, "\":\"");
	dx_put_json(l, v, n);
	dx_puts(l, "\"");
}

static size_t dx_cut(size_t n)
{
	return n < DX_LOG_RID_MAX ? n : DX_LOG_RID_MAX;
}

static void dx_line_json(dx_line *l, const char *ts, const char *level,
			 const char *who, const char *msg, const uint8_t *rid,
			 size_t rid_len)
{
	l->keep = 4; /* "}\n and the NUL: the object always closes */
	dx_puts(l, "{\"ts\":\"");
	dx_puts(l, ts);
	dx_puts(l, "\"");
	dx_put_field(l, "level", level, strlen(level));
	if (strcmp(who, "dx") != 0)
		dx_put_field(l, "plugin", who, strlen(who));
	if (rid)
		dx_put_field(l, "request_id", rid, dx_cut(rid_len));
	dx_puts(l, ",\"msg\":\"");
	dx_put_json(l, (const uint8_t *)msg, strlen(msg));
	l->keep = 0;
	dx_puts(l, "\"}\n");
}

/* The text form keeps the shape "LEVEL who: message" behind the time;
 * a request id goes last, as request_id=ID with anything but printable
 * ASCII shown as '?', so one line stays one line. */
static void dx_line_text(dx_line *l, const char *ts, const char *level,
			 const char *who, const char *msg, const uint8_t *rid,
			 size_t rid_len)
{
	char tail[DX_LOG_RID_MAX + 16] = "";
	if (rid) {
		size_t n = dx_cut(rid_len);
		memcpy(tail, " request_id=", 12);
		for (size_t i = 0; i < n; i++)
			tail[12 + i] = rid[i] > 0x20 && rid[i] < 0x7F ?
					       (char)rid[i] :
					       '?';
		tail[12 + n] = '\0';
	}
	char head[80];
	snprintf(head, sizeof head, "%s %-5s ", ts, level);
	l->keep = strlen(tail) + 2;
	dx_puts(l, head);
	dx_puts(l, who);
	dx_puts(l, ": ");
	dx_put(l, msg, strlen(msg));
	l->keep = 0;
	dx_puts(l, tail);
	dx_puts(l, "\n");
}

size_t dx_log_line(char *buf, size_t cap, dx_log_format f, uint64_t realtime_ns,
		   int level, const char *who, const char *msg,
		   const uint8_t *rid, size_t rid_len)
{
	if (level < 0 || level > DX_LOG_DEBUG)
		level = DX_LOG_ERROR;
	char ts[25];
	dx_log_timestamp(realtime_ns, ts);
	dx_line l = {buf, cap, 0, 0};
	if (f == DX_LOG_FORMAT_JSON)
		dx_line_json(&l, ts, dx_level_names[level], who, msg, rid,
			     rid_len);
	else
		dx_line_text(&l, ts, dx_level_names[level], who, msg, rid,
			     rid_len);
	buf[l.len] = '\0';
	return l.len;
}

void dx_log_stderr(void *ud, int level, const char *who, const char *msg)
{
	const dx_log_format *f = ud;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	/* The request's id is looked up only when a line is written, not
	 * for every request that carries metadata. */
	uint16_t rid_len = 0;
	const uint8_t *rid =
		dx_log_meta ? dx_hbtp_meta_get(dx_log_meta, "x-request-id",
					       &rid_len)
			    : NULL;
	/* Room for a 2 KiB message escaped six bytes a byte, and the rest. */
	char buf[16384];
	size_t n = dx_log_line(buf, sizeof buf, f ? *f : DX_LOG_FORMAT_TEXT,
			       (uint64_t)now.tv_sec * 1000000000u +
				       (uint64_t)now.tv_nsec,
			       level, who, msg, rid, rid_len);
	/* One write: lines from several threads never interleave. */
	for (size_t at = 0; at < n;) {
		ssize_t w = write(STDERR_FILENO, buf + at, n - at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		at += (size_t)w;
	}
}

bool dx_log_request_begin(const dx_hbtp_meta *meta)
{
	if (!meta->count)
		return false;
	dx_log_meta = meta;
	return true;
}

void dx_log_request_end(void)
{
	dx_log_meta = NULL;
}

void dx_log_request_suspend(dx_log_request *saved)
{
	saved->meta = dx_log_meta;
	dx_log_request_end();
}

void dx_log_request_resume(const dx_log_request *saved)
{
	dx_log_meta = saved->meta;
}
