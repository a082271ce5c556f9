/* oprec.c - the io_uring backend's operation records: a slab of fixed-size
 * chunks with a free list (no malloc per operation once warm: a chunk of
 * OP_CHUNK records is added only when all are in use), a list of records
 * per fd (so detach knows what to cancel), a hash of timeouts by the host's
 * udata (so timeout_cancel finds one), and the deferred FIFO. Worker thread
 * only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uring.h"

int uring_ops_init(struct uring *u)
{
	u->free_head = OP_NONE;
	u->defer_head = u->defer_tail = OP_NONE;
	u->parked = OP_NONE;
	u->tmo_mask = 63;
	u->tmo_buckets = malloc((u->tmo_mask + 1) * sizeof(int32_t));
	if (!u->tmo_buckets)
		return -ENOMEM;
	for (uint32_t i = 0; i <= u->tmo_mask; i++)
		u->tmo_buckets[i] = OP_NONE;
	return 0;
}

void uring_ops_free(struct uring *u)
{
	for (uint32_t i = 0; i < u->nchunks; i++)
		free(u->chunks[i]);
	free(u->chunks);
	free(u->fds);
	free(u->tmo_buckets);
	u->chunks = NULL;
	u->fds = NULL;
	u->tmo_buckets = NULL;
}

static int grow_chunks(struct uring *u)
{
	if (u->nchunks >= (INT32_MAX >> OP_CHUNK_SHIFT))
		return -ENOMEM;
	struct op **c = realloc(u->chunks, (u->nchunks + 1) * sizeof *c);
	if (!c)
		return -ENOMEM;
	u->chunks = c;
	struct op *ops = calloc(OP_CHUNK, sizeof *ops);
	if (!ops)
		return -ENOMEM;
	c[u->nchunks] = ops;
	int32_t base = (int32_t)(u->nchunks << OP_CHUNK_SHIFT);
	/* Push in reverse so the lowest index comes out first. */
	for (int32_t i = OP_CHUNK - 1; i >= 0; i--) {
		ops[i].next = u->free_head;
		ops[i].fd = -1;
		u->free_head = base + i;
	}
	u->nchunks++;
	return 0;
}

int32_t uring_op_alloc(struct uring *u, uint8_t kind, int fd, uint64_t udata)
{
	if (u->free_head == OP_NONE && grow_chunks(u) < 0)
		return -ENOMEM;
	int32_t idx = u->free_head;
	struct op *op = uring_op_get(u, idx);
	u->free_head = op->next;
	uint32_t gen = op->gen + 1;
	memset(op, 0, sizeof *op);
	op->gen = gen;
	op->kind = kind;
	op->fd = fd;
	op->udata = udata;
	op->fd_prev = op->fd_next = op->next = OP_NONE;
	u->live++;
	return idx;
}

void uring_op_release(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	if (op->flags & OPF_ON_FD)
		uring_fd_unlink(u, idx);
	if (op->flags & OPF_IN_TABLE)
		uring_tmo_remove(u, idx);
	op->kind = 0;
	op->next = u->free_head;
	u->free_head = idx;
	u->live--;
}

/* uring_fdst's slow path: the array grows to the highest fd seen
 * (rarely). */
struct fdst *uring_fdst_grow(struct uring *u, int fd)
{
	uint32_t f = (uint32_t)fd;
	uint32_t cap = u->fd_cap ? u->fd_cap : 64;
	while (cap <= f)
		cap *= 2;
	struct fdst *a = realloc(u->fds, cap * sizeof *a);
	if (!a)
		return NULL;
	for (uint32_t i = u->fd_cap; i < cap; i++)
		a[i] = (struct fdst){OP_NONE, OP_NONE, OP_NONE, OP_NONE};
	u->fds = a;
	u->fd_cap = cap;
	return &u->fds[f];
}

int uring_fd_link(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	struct fdst *fs = uring_fdst(u, op->fd);
	if (!fs)
		return -ENOMEM;
	op->fd_prev = OP_NONE;
	op->fd_next = fs->head;
	if (op->fd_next != OP_NONE)
		uring_op_get(u, op->fd_next)->fd_prev = idx;
	fs->head = idx;
	op->flags |= OPF_ON_FD;
	return 0;
}

void uring_fd_unlink(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	if (op->fd_prev != OP_NONE)
		uring_op_get(u, op->fd_prev)->fd_next = op->fd_next;
	else
		u->fds[op->fd].head = op->fd_next;
	if (op->fd_next != OP_NONE)
		uring_op_get(u, op->fd_next)->fd_prev = op->fd_prev;
	op->fd_prev = op->fd_next = OP_NONE;
	op->flags &= (uint16_t)~OPF_ON_FD;
}

int32_t uring_fd_first(const struct uring *u, int fd)
{
	if (fd < 0 || (uint32_t)fd >= u->fd_cap)
		return OP_NONE;
	return u->fds[fd].head;
}

/* A send waiting behind the one in flight on its fd (linked already, so
 * its fdst exists). */
void uring_sendq_push(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	struct fdst *fs = &u->fds[op->fd];
	op->next = OP_NONE;
	op->flags |= OPF_QUEUED;
	if (fs->sq_tail == OP_NONE)
		fs->sq_head = idx;
	else
		uring_op_get(u, fs->sq_tail)->next = idx;
	fs->sq_tail = idx;
}

int32_t uring_sendq_pop(struct uring *u, int fd)
{
	struct fdst *fs = &u->fds[fd];
	int32_t idx = fs->sq_head;
	if (idx == OP_NONE)
		return OP_NONE;
	struct op *op = uring_op_get(u, idx);
	fs->sq_head = op->next;
	if (fs->sq_head == OP_NONE)
		fs->sq_tail = OP_NONE;
	op->next = OP_NONE;
	op->flags &= (uint16_t)~OPF_QUEUED;
	return idx;
}

/* Timeout table: chained through op.next, keyed by the host's udata. */
static uint32_t tmo_hash(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}

static int tmo_grow(struct uring *u)
{
	uint32_t nmask = u->tmo_mask * 2 + 1;
	int32_t *nb = malloc((nmask + 1) * sizeof *nb);
	if (!nb)
		return -ENOMEM;
	for (uint32_t i = 0; i <= nmask; i++)
		nb[i] = OP_NONE;
	for (uint32_t b = 0; b <= u->tmo_mask; b++) {
		int32_t i = u->tmo_buckets[b];
		while (i != OP_NONE) {
			struct op *op = uring_op_get(u, i);
			int32_t next = op->next;
			uint32_t h = tmo_hash(op->udata) & nmask;
			op->next = nb[h];
			nb[h] = i;
			i = next;
		}
	}
	free(u->tmo_buckets);
	u->tmo_buckets = nb;
	u->tmo_mask = nmask;
	return 0;
}

int uring_tmo_add(struct uring *u, int32_t idx)
{
	if (u->tmo_count > u->tmo_mask && tmo_grow(u) < 0)
		return -ENOMEM;
	struct op *op = uring_op_get(u, idx);
	uint32_t h = tmo_hash(op->udata) & u->tmo_mask;
	op->next = u->tmo_buckets[h];
	u->tmo_buckets[h] = idx;
	op->flags |= OPF_IN_TABLE;
	u->tmo_count++;
	return 0;
}

int32_t uring_tmo_find(const struct uring *u, uint64_t udata)
{
	int32_t i = u->tmo_buckets[tmo_hash(udata) & u->tmo_mask];
	while (i != OP_NONE) {
		struct op *op = uring_op_get((struct uring *)u, i);
		if (op->udata == udata && !(op->flags & OPF_CANCELLED))
			return i;
		i = op->next;
	}
	return OP_NONE;
}

void uring_tmo_remove(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	int32_t *pp = &u->tmo_buckets[tmo_hash(op->udata) & u->tmo_mask];
	while (*pp != OP_NONE && *pp != idx)
		pp = &uring_op_get(u, *pp)->next;
	if (*pp == idx)
		*pp = op->next;
	op->next = OP_NONE;
	op->flags &= (uint16_t)~OPF_IN_TABLE;
	u->tmo_count--;
}

/* Deferred FIFO (sends only: timeouts never defer, so op.next is free). */
void uring_defer_push(struct uring *u, int32_t idx)
{
	struct op *op = uring_op_get(u, idx);
	op->next = OP_NONE;
	op->flags |= OPF_DEFERRED;
	if (u->defer_tail == OP_NONE)
		u->defer_head = idx;
	else
		uring_op_get(u, u->defer_tail)->next = idx;
	u->defer_tail = idx;
}

int32_t uring_defer_pop(struct uring *u)
{
	int32_t idx = u->defer_head;
	if (idx == OP_NONE)
		return OP_NONE;
	struct op *op = uring_op_get(u, idx);
	u->defer_head = op->next;
	if (u->defer_head == OP_NONE)
		u->defer_tail = OP_NONE;
	op->next = OP_NONE;
	op->flags &= (uint16_t)~OPF_DEFERRED;
	return idx;
}

void uring_defer_drop(struct uring *u, int32_t idx)
{
	int32_t prev = OP_NONE, i = u->defer_head;
	while (i != OP_NONE && i != idx) {
		prev = i;
		i = uring_op_get(u, i)->next;
	}
	if (i != idx)
		return;
	struct op *op = uring_op_get(u, idx);
	if (prev == OP_NONE)
		u->defer_head = op->next;
	else
		uring_op_get(u, prev)->next = op->next;
	if (u->defer_tail == idx)
		u->defer_tail = prev;
	op->next = OP_NONE;
	op->flags &= (uint16_t)~OPF_DEFERRED;
}
