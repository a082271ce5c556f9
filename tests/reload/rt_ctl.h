/* rt_ctl.h - talk to a dx-host's control socket from a test: one JSON
 * request line out, one JSON answer line back, parsed with cJSON
 * (docs/architecture.md lists the commands). Plain error returns, no Check: the
 * caller asserts, with the raw answer in its message. */
#ifndef DX_RT_CTL_H
#define DX_RT_CTL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cJSON.h>

/* The longest a control command may take: a reload waits for every
 * worker to adopt the new generation, slower under sanitizers. */
#define RT_CTL_TIMEOUT_S 30

/* Send request (an object; a newline is added) to the socket at path and
 * return the answer, parsed (the caller cJSON_Delete()s it). The answer's
 * text goes to raw (n bytes, truncated) either way; on failure NULL, with
 * raw saying why. */
static cJSON *rt_ctl(const char *path, const cJSON *request, char *raw,
		     size_t n)
{
	raw[0] = '\0';
	char *line = cJSON_PrintUnformatted(request);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = RT_CTL_TIMEOUT_S};
	if (!line || fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		snprintf(raw, n, "control socket %s: %s", path,
			 line ? strerror(errno) : "out of memory");
		goto fail;
	}
	size_t len = strlen(line);
	line[len] = '\n'; /* the NUL goes: write exactly len + 1 bytes */
	for (size_t off = 0; off < len + 1;) {
		ssize_t w = write(fd, line + off, len + 1 - off);
		if (w <= 0) {
			snprintf(raw, n, "control socket %s: write: %s", path,
				 w < 0 ? strerror(errno) : "closed");
			goto fail;
		}
		off += (size_t)w;
	}
	size_t got = 0;
	while (got < n - 1 && !memchr(raw, '\n', got)) {
		ssize_t r = read(fd, raw + got, n - 1 - got);
		if (r <= 0) {
			int e = errno;
			raw[got] = '\0';
			if (!memchr(raw, '\n', got))
				snprintf(raw + got, n - got,
					 " [control socket: %s after %zu bytes]",
					 r < 0 ? strerror(e) : "closed", got);
			goto fail;
		}
		got += (size_t)r;
		raw[got] = '\0';
	}
	close(fd);
	free(line);
	cJSON *answer = cJSON_Parse(raw);
	if (!answer && got < n - 1)
		snprintf(raw + got, n - got, " [not JSON]");
	return answer;
fail:
	if (fd >= 0)
		close(fd);
	free(line);
	return NULL;
}

/* {"cmd": cmd} with "name" and "path" members when not NULL. */
static cJSON *rt_ctl_cmd(const char *sock, const char *cmd, const char *name,
			 const char *path, char *raw, size_t n)
{
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (name)
		cJSON_AddStringToObject(req, "name", name);
	if (path)
		cJSON_AddStringToObject(req, "path", path);
	cJSON *answer = rt_ctl(sock, req, raw, n);
	cJSON_Delete(req);
	return answer;
}

/* Member key of o as a string, or NULL. */
static const char *rt_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Member key of o as a number, or def. */
static double rt_num(const cJSON *o, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* Whether o has "ok": true. */
static bool rt_ok(const cJSON *o)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
}

/* The entry of plugin name in a {"cmd":"plugins"} answer, or NULL. */
static const cJSON *rt_plugin_entry(const cJSON *plugins, const char *name)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(plugins, "plugins");
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		const char *n = rt_str(e, "name");
		if (n && strcmp(n, name) == 0)
			return e;
	}
	return NULL;
}

/* Whether s ends with suffix. */
static bool rt_ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);
	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

#endif
