/* server_int.h - what server.c and reload.c share; not an interface. */
#ifndef DX_HOST_SERVER_INT_H
#define DX_HOST_SERVER_INT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "gen.h"
#include "worker.h"

struct dx_server {
	dx_server_view view;
	const dx_io_vtable *vt;
	void *vt_self;
	char backend[64]; /* the IO facet's name */
	dx_worker *workers;
	unsigned nworkers;
	/* Per listener slot (listen.c): the bound address and the manifest
	 * text that opened it; NULL for a slot apply closed. */
	char **addrs;
	size_t naddrs;
	char **listen_keys;
	size_t nslots; /* == naddrs */
	/* Per worker, nslots each: its listening fds as the main thread
	 * knows them. Main thread only: a worker's own table (listen_fds)
	 * changes on its thread when it runs the post apply made, which may
	 * be after the next apply has begun. -1: none. */
	int **slot_fds;
	bool started;
	bool drained;
	_Atomic unsigned next_post;
	/* Generations replaced by a reload and not yet freed: each waits
	 * for every worker to pass it and for its deferred requests (main
	 * thread only). */
	dx_gen *replaced;
	/* The manifest in force: the one the host started with, or the
	 * last one `apply` published (view.m stays the first: what cannot
	 * change live is read there). Main thread. */
	const dx_manifest *manifest;
	/* The sockets systemd passed (activate.h); NULL: none. */
	struct dx_inherited *inherited;
};

/* txn.c: publish g and wait until every worker adopted it. */
int dx_server_publish(dx_server *s, dx_gen *g, dx_diag *d);
/* The oldest generation any worker may still start a request on. */
uint64_t dx_server_min_qs(const dx_server *s);

/* listen.c, for startup (server.c) and apply alike: open listen entry l
 * for each of s's workers into fds[0..nworkers-1], a socket each where
 * the kernel balances the port (bind.h's dx_bind_each), else one shared;
 * passed >= 0 is a socket systemd passed for l (activate.h), which serves
 * every worker and is neither claimed nor checked. Otherwise a unix path
 * is claimed and a TCP port checked first. port: l's, or the passed
 * socket's. *addr: the address as bound ("127.0.0.1:PORT", "unix:PATH",
 * malloc'd). 0, or a negative errno with the reason in d and nothing
 * this call bound left open. */
int dx_listen_open(const dx_server *s, const dx_listen *l, int passed,
		   uint16_t port, int *fds, char **addr, dx_diag *d);

#endif
