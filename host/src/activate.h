/* activate.h - socket activation: the listening sockets a systemd socket
 * unit (or systemd-socket-activate) passed, adopted as the manifest's
 * listeners.
 *
 * Each passed socket is matched to a listen entry by address: same
 * family, same address and port (an entry with port 0 takes the passed
 * socket's port), or the same unix socket file. An entry served by a
 * passed socket is not bound again, and its unix socket file is never
 * unlinked (it is systemd's). A passed socket no entry matches is a
 * startup error naming it, as is one that is not a listening stream
 * socket. Every worker accepts on the one passed socket (a dup each),
 * as with unix listeners: SO_REUSEPORT sockets of our own would not
 * survive a restart, and the passed socket keeps its queue across one.
 * Main thread. */
#ifndef DX_HOST_ACTIVATE_H
#define DX_HOST_ACTIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "manifest.h"

typedef struct dx_inherited dx_inherited;

/* Take the sockets passed to this process (sd.h dx_sd_listen_fds): *out
 * is NULL when there are none. Negative with the reason in d when one is
 * not a listening stream socket, or when this build cannot adopt them.
 * Call it first thing in main, before any thread starts (it changes the
 * environment) and before any child is spawned (the passed fds become
 * close-on-exec here). */
int dx_inherit_open(dx_inherited **out, dx_diag *d);

/* The passed socket for l, or -1 when none matches (and when in is
 * NULL). The fd is the caller's from then on; *port becomes its port. */
int dx_inherit_take(dx_inherited *in, const dx_listen *l, uint16_t *port);

/* Every passed socket must have been taken: else an error naming each
 * one and the listen entries of m, and a negative result. */
int dx_inherit_check(const dx_inherited *in, const dx_manifest *m, dx_diag *d);

/* Whether path is the file of a passed unix socket (not to be unlinked). */
bool dx_inherit_owns_path(const dx_inherited *in, const char *path);

/* How many sockets were passed. */
unsigned dx_inherit_count(const dx_inherited *in);

/* Close what was not taken; free. NULL is nothing. */
void dx_inherit_free(dx_inherited *in);

#endif
