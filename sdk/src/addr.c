/* addr.c - parsing the addresses of dx/addr.h, and their messages. The
 * rules and the wording are the manifest's (the strictest of the three
 * parsers this replaces). */
#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#endif
#include <stdio.h>
#include <string.h>

#include <dx/addr.h>

#define DX_ADDR_SHAPES "HOST:PORT, [IPV6]:PORT or unix:PATH"

/* Split "HOST:PORT" or "[HOST]:PORT"; false when text has neither shape. */
static bool dx_addr_split(const char *text, dx_addr *a, const char **port)
{
	const char *h = text, *colon;
	size_t hl;
	a->bracketed = text[0] == '[';
	if (a->bracketed) {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return false;
		h = text + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - text);
	}
	if (hl == 0 || hl >= sizeof a->host)
		return false;
	memcpy(a->host, h, hl);
	a->host[hl] = '\0';
	*port = colon + 1;
	return true;
}

static bool dx_addr_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return false;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

int dx_addr_parse(const char *text, dx_addr *out)
{
	memset(out, 0, sizeof *out);
	out->text = text;
	if (!strncmp(text, "unix:", 5)) {
		out->kind = DX_ADDR_UNIX;
		out->path = text + 5;
		return *out->path ? 0 : DX_ADDR_ENOPATH;
	}
	const char *port;
	if (!dx_addr_split(text, out, &port))
		return DX_ADDR_ESHAPE;
	out->kind = DX_ADDR_TCP;
	if (!dx_addr_port(port, &out->port))
		return DX_ADDR_EPORT;
	if (!out->bracketed && strchr(out->host, ':'))
		return DX_ADDR_EUNBRACKETED;
	return 0;
}

int dx_addr_numeric(dx_addr *a)
{
	unsigned char bin[sizeof(struct in6_addr)];
	const char *h = a->host;
	bool v6 = a->bracketed;
	if (!v6 && !strcmp(h, "localhost"))
		h = "127.0.0.1";
	else if (!v6 && !strcmp(h, "*"))
		h = "0.0.0.0";
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, bin) != 1)
		return v6             ? DX_ADDR_EIPV6 :
		       strchr(h, ':') ? DX_ADDR_EUNBRACKETED :
					DX_ADDR_EIPV4;
	char canon[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, bin, canon, sizeof canon);
	snprintf(a->host, sizeof a->host, "%s", canon);
	return 0;
}

char *dx_addr_message(int code, const char *got, char *buf, size_t len)
{
	if (!len)
		return buf;
	switch (code) {
	case 0: snprintf(buf, len, "%s is a valid address", got); break;
	case DX_ADDR_ESHAPE:
		snprintf(buf, len, "expected %s, got %s", DX_ADDR_SHAPES, got);
		break;
	case DX_ADDR_ENOPATH:
		snprintf(buf, len, "expected a socket path after unix:, got %s",
			 got);
		break;
	case DX_ADDR_EPORT:
		snprintf(buf, len,
			 "invalid port in %s; expected a decimal number in "
			 "0..65535 (0 lets the kernel choose)",
			 got);
		break;
	case DX_ADDR_EIPV4:
		snprintf(buf, len,
			 "invalid IPv4 address in %s; expected a dotted quad "
			 "such as 127.0.0.1, localhost or *",
			 got);
		break;
	case DX_ADDR_EUNBRACKETED:
		snprintf(buf, len,
			 "invalid IPv4 address in %s; write IPv6 addresses "
			 "in brackets, as in [::1]:7070",
			 got);
		break;
	case DX_ADDR_EIPV6:
		snprintf(buf, len, "invalid IPv6 address in %s", got);
		break;
	default:
		snprintf(buf, len, "%s: not an address problem (%d)", got,
			 code);
	}
	return buf;
}
