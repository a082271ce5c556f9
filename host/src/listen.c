/* listen.c - the listeners a running server has, changed by apply.
 *
 * Each worker has a table of listening sockets, indexed by slot; an
 * accept in flight carries its slot. A slot is never reused: a listener
 * apply removes leaves its slot closed (-1), and one it adds takes a new
 * slot at the end, so a late accept completion can never be taken for
 * another listener's. The server keeps, per slot, the manifest text that
 * opened it (listen_keys), which is how a manifest's entries are matched,
 * and its bound address (addrs; NULL for a closed slot).
 *
 * prepare (main thread, before the publish) binds what the new manifest
 * adds, for every worker, and checks the ports as at startup: it can fail,
 * and abort closes what it bound. commit (after the publish, cannot fail)
 * hands each worker its new table through a post: on its own thread the
 * worker closes what left and arms accepts on what came. Connections
 * accepted on a listener that leaves stay open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activate.h"
#include "async.h"
#include "bind.h"
#include "listen.h"
#include "server_int.h"

struct dx_listen_change {
	size_t n;        /* slots after */
	size_t first;    /* the first new slot */
	int **fds;       /* per worker, n fds; -1: closed or closing */
	int **mine;      /* the same, the main thread's copy (slot_fds) */
	char **keys;     /* per slot: its manifest text, NULL: closed */
	char **addrs;    /* per slot: its bound address, NULL: closed */
	char **unlinks;  /* unix socket paths of listeners that leave */
	size_t nunlinks;
};

static void dx_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* close_new: the change was not made; the listeners it bound are closed
 * and the socket files of its unix ones removed (they are the host's:
 * dx_bind_unix_claim made sure). */
static void dx_change_free(dx_server *s, dx_listen_change *ch, bool close_new)
{
	for (size_t i = ch->first; close_new && ch->addrs && i < ch->n; i++)
		if (ch->addrs[i] && strncmp(ch->addrs[i], "unix:", 5) == 0)
			unlink(ch->addrs[i] + 5);
	for (unsigned k = 0; ch->fds && k < s->nworkers; k++) {
		for (size_t i = ch->first; close_new && ch->fds[k] && i < ch->n;
		     i++)
			if (ch->fds[k][i] >= 0)
				dx_bind_close(ch->fds[k][i]);
		free(ch->fds[k]);
		if (ch->mine)
			free(ch->mine[k]);
	}
	free(ch->fds);
	free(ch->mine);
	dx_strv_free(ch->keys, ch->n);
	dx_strv_free(ch->addrs, ch->n);
	dx_strv_free(ch->unlinks, ch->nunlinks);
	free(ch);
}

static bool dx_listed(const dx_manifest *m, const char *text)
{
	for (size_t i = 0; i < m->listen_count; i++)
		if (strcmp(m->listen[i].text, text) == 0)
			return true;
	return false;
}

static bool dx_open_slot(const dx_server *s, const char *text)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->listen_keys[i] && strcmp(s->listen_keys[i], text) == 0)
			return true;
	return false;
}

static char *dx_addr_text(const dx_listen *l, uint16_t port)
{
	char *a = NULL;
	int n = l->kind == DX_LISTEN_TCP6   ? asprintf(&a, "[%s]:%u", l->host, port)
		: l->kind == DX_LISTEN_TCP4 ? asprintf(&a, "%s:%u", l->host, port)
					    : asprintf(&a, "unix:%s", l->path);
	return n < 0 ? NULL : a;
}

int dx_listen_open(const dx_server *s, const dx_listen *l, int passed,
		   uint16_t port, int *fds, char **addr, dx_diag *d)
{
	if (passed >= 0) {
		/* systemd's: neither unlinked nor checked */
	} else if (l->kind == DX_LISTEN_UNIX) {
		/* A stale socket from a crash goes; a live one or a file
		 * that is no socket is not ours to take. */
		int rc = dx_bind_unix_claim(l, d);
		if (rc < 0)
			return rc;
	} else if (port && dx_port_free(l, port, d) < 0) {
		return -EADDRINUSE;
	}
	/* Shared (a unix socket, no SO_REUSEPORT that balances, or a socket
	 * systemd passed, which is one socket): the kernel hands each
	 * connection to one accept. */
	bool shared = !dx_bind_each(l) || passed >= 0;
	for (unsigned k = 0; k < s->nworkers; k++) {
		int fd = shared && k ? dx_bind_share(fds[0], l, d)
			 : passed >= 0 ? passed
				       : dx_bind(l, &port, d);
		if (fd < 0) {
			while (k--)
				dx_bind_close(fds[k]);
			return fd;
		}
		fds[k] = fd;
	}
	if (!(*addr = dx_addr_text(l, port))) {
		for (unsigned k = 0; k < s->nworkers; k++)
			dx_bind_close(fds[k]);
		return -ENOMEM;
	}
	return 0;
}

/* Bind l for every worker into slot i of ch (fds: room for a socket per
 * worker). */
static int dx_listen_bind(dx_server *s, dx_listen_change *ch, size_t i,
			  const dx_listen *l, int *fds, dx_diag *d)
{
	int rc = dx_listen_open(s, l, -1, l->port, fds, &ch->addrs[i], d);
	if (rc < 0)
		return rc;
	for (unsigned k = 0; k < s->nworkers; k++)
		ch->fds[k][i] = fds[k];
	ch->keys[i] = strdup(l->text);
	return ch->keys[i] ? 0 : -ENOMEM;
}

int dx_listen_prepare(dx_server *s, const dx_manifest *is,
		      dx_listen_change **out, dx_diag *d)
{
	*out = NULL;
	size_t add = 0, leave = 0;
	for (size_t i = 0; i < is->listen_count; i++)
		add += !dx_open_slot(s, is->listen[i].text);
	for (size_t i = 0; i < s->nslots; i++)
		leave += s->listen_keys[i] && !dx_listed(is, s->listen_keys[i]);
	if (!add && !leave)
		return 0;
	dx_listen_change *ch = calloc(1, sizeof *ch);
	if (!ch)
		return -ENOMEM;
	ch->first = s->nslots;
	ch->n = s->nslots + add;
	ch->fds = calloc(s->nworkers, sizeof *ch->fds);
	ch->keys = calloc(ch->n ? ch->n : 1, sizeof *ch->keys);
	ch->addrs = calloc(ch->n ? ch->n : 1, sizeof *ch->addrs);
	ch->unlinks = calloc(leave ? leave : 1, sizeof *ch->unlinks);
	int rc = ch->fds && ch->keys && ch->addrs && ch->unlinks ? 0 : -ENOMEM;
	for (unsigned k = 0; rc == 0 && k < s->nworkers; k++) {
		ch->fds[k] = malloc((ch->n ? ch->n : 1) * sizeof **ch->fds);
		if (!ch->fds[k]) {
			rc = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < ch->n; i++)
			ch->fds[k][i] = -1;
	}
	/* What stays keeps its slot (and its fds, owned by the workers). */
	for (size_t i = 0; rc == 0 && i < s->nslots; i++) {
		const char *key = s->listen_keys[i];
		if (!key)
			continue;
		if (!dx_listed(is, key)) {
			/* Its resolved path is in the manifest in force. */
			const dx_manifest *m = s->manifest;
			for (size_t j = 0; j < m->listen_count; j++)
				if (m->listen[j].kind == DX_LISTEN_UNIX &&
				    strcmp(m->listen[j].text, key) == 0 &&
				    !dx_inherit_owns_path(s->inherited,
							  m->listen[j].path))
					ch->unlinks[ch->nunlinks++] =
						strdup(m->listen[j].path);
			continue;
		}
		for (unsigned k = 0; k < s->nworkers; k++)
			ch->fds[k][i] = s->slot_fds[k][i];
		ch->keys[i] = strdup(key);
		ch->addrs[i] = strdup(s->addrs[i]);
		if (!ch->keys[i] || !ch->addrs[i])
			rc = -ENOMEM;
	}
	size_t slot = ch->first;
	int *fds = rc == 0 ? malloc(s->nworkers * sizeof *fds) : NULL;
	if (rc == 0 && !fds)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < is->listen_count; i++)
		if (!dx_open_slot(s, is->listen[i].text))
			rc = dx_listen_bind(s, ch, slot++, &is->listen[i], fds,
					    d);
	free(fds);
	/* The main thread's copy of each worker's new table. */
	if (rc == 0 && !(ch->mine = calloc(s->nworkers, sizeof *ch->mine)))
		rc = -ENOMEM;
	for (unsigned k = 0; rc == 0 && k < s->nworkers; k++) {
		if (!(ch->mine[k] = malloc((ch->n ? ch->n : 1) *
					   sizeof **ch->mine)))
			rc = -ENOMEM;
		else
			memcpy(ch->mine[k], ch->fds[k],
			       ch->n * sizeof **ch->mine);
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			dx_diag_add(d, "listen: out of memory");
		dx_change_free(s, ch, true);
		return rc;
	}
	*out = ch;
	return 0;
}

void dx_listen_abort(dx_server *s, dx_listen_change *ch)
{
	if (ch)
		dx_change_free(s, ch, true);
}

/* A worker's new table, applied on its own thread. */
struct dx_listen_job {
	dx_worker *w;
	int *fds;
	size_t n, first;
};

static void dx_listen_on_worker(void *arg)
{
	struct dx_listen_job *j = arg;
	dx_worker *w = j->w;
	if (!w->accepting) {
		/* Draining: it closed its listeners; the new ones go too. */
		for (size_t i = j->first; i < j->n; i++)
			if (j->fds[i] >= 0)
				dx_bind_close(j->fds[i]);
		free(j->fds);
		free(j);
		return;
	}
	for (size_t i = 0; i < w->listen_count; i++)
		if (w->listen_fds[i] >= 0 && j->fds[i] < 0) {
			/* Its accept in flight completes cancelled, and is not
			 * armed again: the slot is closed. */
			w->vt->detach(w->io, w->listen_fds[i]);
			dx_bind_close(w->listen_fds[i]);
		}
	size_t old = w->listen_count;
	free(w->listen_fds);
	w->listen_fds = j->fds;
	w->listen_count = j->n;
	for (size_t i = old; !w->swapping && i < j->n; i++)
		if (w->listen_fds[i] >= 0 &&
		    w->vt->accept(w->io, w->listen_fds[i],
				  DX_UD(DX_UD_LISTEN, i, 0)) == 0)
			w->accepts_armed++;
	free(j);
}

void dx_listen_commit(dx_server *s, dx_listen_change *ch)
{
	if (!ch)
		return;
	for (unsigned k = 0; k < s->nworkers; k++) {
		struct dx_listen_job *j = malloc(sizeof *j);
		if (j) {
			*j = (struct dx_listen_job){&s->workers[k], ch->fds[k],
						    ch->n, ch->first};
			if (dx_worker_post(&s->workers[k], dx_listen_on_worker,
					   j, NULL) == 0) {
				ch->fds[k] = NULL; /* the worker's now */
				continue;
			}
		}
		free(j);
		/* Not posted (out of memory): this worker keeps its old
		 * table; the new sockets are closed below for it alone. */
		for (size_t i = ch->first; i < ch->n; i++) {
			if (ch->fds[k][i] >= 0)
				dx_bind_close(ch->fds[k][i]);
			ch->mine[k][i] = -1;
		}
		dx_registry_log(s->view.reg, DX_LOG_ERROR,
				"worker %u keeps its old listeners: out of "
				"memory",
				k);
	}
	for (size_t i = 0; i < ch->nunlinks; i++)
		if (ch->unlinks[i])
			unlink(ch->unlinks[i]);
	/* The server's view of the slots, fds and addresses becomes the new
	 * one. */
	for (unsigned k = 0; k < s->nworkers; k++) {
		free(s->slot_fds[k]);
		s->slot_fds[k] = ch->mine[k];
		ch->mine[k] = NULL;
	}
	dx_strv_free(s->listen_keys, s->nslots);
	s->listen_keys = ch->keys;
	s->nslots = ch->n;
	ch->keys = NULL;
	dx_strv_free(s->addrs, s->naddrs);
	s->addrs = ch->addrs;
	s->naddrs = ch->n;
	ch->addrs = NULL;
	ch->n = 0;
	dx_change_free(s, ch, false);
}
