/* dx_ctl_client.h - the dx tool's side of the control socket, shared by
 * `dx ctl` and `dx forge`: find the socket, send one request line, read
 * one answer line. */
#ifndef DX_CTL_CLIENT_H
#define DX_CTL_CLIENT_H

/* One request line, one answer line (any length). 0 with *answer
 * malloc'd (NUL-terminated, without the newline), or a positive errno:
 * ENOENT/ECONNREFUSED (no host there), ETIMEDOUT, EPIPE, ... */
int dx_ctl_ask(const char *path, const char *request, int timeout_ms,
	       char **answer);

/* control.socket of the manifest at file, malloc'd, or NULL after
 * printing why on stderr, each line prefixed with who ("dx ctl"). */
char *dx_ctl_socket_of(const char *file, const char *who);

/* Monotonic milliseconds, for the CLI's deadlines. */
long long dx_ms_now(void);

/* Members of a host's JSON answer: the string (or def), the number (or 0). */
struct cJSON;
const char *dx_json_str(const struct cJSON *o, const char *k, const char *def);
double dx_json_num(const struct cJSON *o, const char *k);

/* Print "WHO: PATH: why (hint)" for an error of dx_ctl_ask. */
void dx_ctl_print_error(const char *who, const char *path, int e);

#endif
