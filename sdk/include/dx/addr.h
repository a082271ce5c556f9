/* dx/addr.h - addresses as users write them, and connecting to one.
 *
 * The one grammar of every address dx reads (the manifest's listen list,
 * `dx call`, `dx bench`, dx_client_connect):
 *
 *     HOST:PORT      127.0.0.1:7070, localhost:7070, *:7070 (split at the
 *                    last colon; a HOST with a colon is refused: IPv6
 *                    addresses go in brackets)
 *     [IPV6]:PORT    [::1]:7070
 *     unix:PATH      unix:/run/dx.sock (PATH as written: not resolved)
 *
 * PORT is 1 to 5 decimal digits, 0..65535. HOST is 1..255 bytes.
 *
 * Parsing does not allocate and never looks a name up. Problems come back
 * as DX_ADDR_E* codes, one per case, so each caller can word them in its
 * own context; dx_addr_message() gives the standard wording (the
 * manifest's), e.g. "invalid port in "x:99999"; expected a decimal number
 * in 0..65535 (0 lets the kernel choose)".
 *
 * Connecting (POSIX only) makes non-blocking, close-on-exec sockets; TCP
 * ones get TCP_NODELAY. timeout_ms < 0 waits forever.
 *
 * Threads: no shared state; every function is safe on any thread.
 */
#ifndef DX_ADDR_H
#define DX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dx_addr_kind {
	DX_ADDR_TCP = 1,  /* HOST:PORT or [IPV6]:PORT */
	DX_ADDR_UNIX = 2, /* unix:PATH */
} dx_addr_kind;

/* Problems, one per case (0 is none). Negative, like every dx code, but
 * far from errno and DX_E*: pass them to dx_addr_message(). */
enum {
	DX_ADDR_ESHAPE = -10101,  /* not HOST:PORT, [IPV6]:PORT or unix:PATH */
	DX_ADDR_ENOPATH = -10102, /* "unix:" and nothing after it */
	DX_ADDR_EPORT = -10103,   /* PORT is not a decimal number 0..65535 */
	DX_ADDR_EIPV4 = -10104,   /* dx_addr_numeric: HOST is no IPv4 address */
	DX_ADDR_EUNBRACKETED = -10105, /* HOST has a colon: IPv6 unbracketed */
	DX_ADDR_EIPV6 = -10106,        /* dx_addr_numeric: [HOST] is no IPv6 */
};

typedef struct dx_addr {
	dx_addr_kind kind;
	bool bracketed;   /* written [HOST]:PORT */
	uint16_t port;    /* TCP */
	char host[256];   /* TCP: HOST without brackets, NUL-terminated */
	const char *path; /* unix: points into the text parsed */
	const char *text; /* the text parsed (the caller keeps it alive) */
} dx_addr;

/* Parse text into *out: 0 or a DX_ADDR_E* code. Checks the shape first,
 * then the port, then that an unbracketed HOST has no colon. After
 * DX_ADDR_EPORT or DX_ADDR_EUNBRACKETED the other fields are filled, so a
 * caller that reports every problem can go on to dx_addr_numeric(). */
int dx_addr_parse(const char *text, dx_addr *out);

/* Require a numeric HOST, as a listener does: an IPv4 dotted quad (or
 * "localhost" = 127.0.0.1, "*" = 0.0.0.0) or, bracketed, an IPv6 address.
 * Rewrites host in canonical form (inet_ntop's, so equal addresses compare
 * equal). 0, DX_ADDR_EIPV4, DX_ADDR_EUNBRACKETED or DX_ADDR_EIPV6. */
int dx_addr_numeric(dx_addr *a);

/* code's standard message into buf (always NUL-terminated when len > 0),
 * naming the address as got (the caller's rendering, e.g. the text or a
 * quoted JSON string). Returns buf. */
char *dx_addr_message(int code, const char *got, char *buf, size_t len);

/* Connect to a parsed address (names resolved with getaddrinfo; each
 * candidate tried until one connects). Returns the connected socket, or a
 * negative errno (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH when the name
 * does not resolve) with a message naming a->text in err (errlen bytes,
 * may be 0). The socket is the caller's to close. POSIX only. */
int dx_addr_connect(const dx_addr *a, int timeout_ms, char *err, size_t errlen);

/* For callers that connect many times to one address (a load generator):
 * resolve once, then connect each candidate without further lookups. */
typedef struct dx_sockaddr {
	int family;   /* AF_INET, AF_INET6, AF_UNIX */
	uint32_t len; /* bytes used of sa */
	union {
		uint8_t sa[128]; /* a struct sockaddr_storage */
		void *align_;
		uint64_t align64_;
	};
} dx_sockaddr;

/* Up to n candidates for a into out: how many (>= 1), or a negative code
 * with a message in err. POSIX only. */
int dx_addr_resolve(const dx_addr *a, dx_sockaddr *out, int n, char *err,
		    size_t errlen);
/* One non-blocking connected socket to sa, or a negative errno. A Unix
 * listener whose backlog is full is retried until the timeout. POSIX only. */
int dx_sockaddr_connect(const dx_sockaddr *sa, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
