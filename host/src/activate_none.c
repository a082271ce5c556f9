/* activate_none.c - activate.h where no listening sockets can be passed
 * to the host: Windows, which has no socket activation of systemd's kind
 * (no inherited descriptors numbered from 3). LISTEN_FDS in the
 * environment is refused, as sd_none.c's build refuses it, rather than
 * ignored: whoever set it expects the host to adopt sockets. Main
 * thread. */
#include <stdlib.h>

#include <dx/error.h>

#include "activate.h"

int dx_inherit_open(dx_inherited **out, dx_diag *d)
{
	*out = NULL;
	if (!getenv("LISTEN_FDS"))
		return 0;
	dx_diag_add(d, "LISTEN_FDS: passed listening sockets (systemd's "
		       "socket activation) are not supported on this system; "
		       "unset LISTEN_FDS and let dx-host bind its listen "
		       "entries");
	return DX_ECONFIG;
}

int dx_inherit_take(dx_inherited *in, const dx_listen *l, uint16_t *port)
{
	(void)in;
	(void)l;
	(void)port;
	return -1;
}

int dx_inherit_check(const dx_inherited *in, const dx_manifest *m, dx_diag *d)
{
	(void)in;
	(void)m;
	(void)d;
	return 0;
}

bool dx_inherit_owns_path(const dx_inherited *in, const char *path)
{
	(void)in;
	(void)path;
	return false;
}

unsigned dx_inherit_count(const dx_inherited *in)
{
	(void)in;
	return 0;
}

void dx_inherit_free(dx_inherited *in)
{
	(void)in;
}
