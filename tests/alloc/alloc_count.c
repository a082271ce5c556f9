/* alloc_count.c - an LD_PRELOAD library that counts a process's heap calls.
 *
 * malloc, calloc, realloc, free, posix_memalign and aligned_alloc go to
 * glibc's __libc_* entry points (no dlsym, so no bootstrapping trouble) and
 * bump one counter. On SIGUSR2 the count is written, as a decimal line, to
 * the file named by DX_ALLOC_COUNT_FILE. Used by test_alloc to show that
 * the host's request path allocates nothing once warm. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static _Atomic unsigned long dx_alloc_calls;
static const char *dx_alloc_file;

void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&dx_alloc_calls, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	atomic_fetch_add_explicit(&dx_alloc_calls, 1, memory_order_relaxed);
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&dx_alloc_calls, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p)
		atomic_fetch_add_explicit(&dx_alloc_calls, 1,
					  memory_order_relaxed);
	__libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	atomic_fetch_add_explicit(&dx_alloc_calls, 1, memory_order_relaxed);
	void *p = __libc_memalign(align, n);
	if (!p)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
	atomic_fetch_add_explicit(&dx_alloc_calls, 1, memory_order_relaxed);
	return __libc_memalign(align, n);
}

/* Async-signal-safe: open, write, close and our own formatting only. */
static void dx_alloc_dump(int sig)
{
	char buf[32];
	unsigned long v = atomic_load(&dx_alloc_calls);
	int i = sizeof buf - 1;
	buf[i--] = '\n';
	do
		buf[i--] = (char)('0' + v % 10);
	while ((v /= 10) && i >= 0);
	int fd = open(dx_alloc_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	ssize_t w = write(fd, buf + i + 1, sizeof buf - (size_t)i - 1);
	(void)w;
	close(fd);
}

__attribute__((constructor)) static void dx_alloc_init(void)
{
	dx_alloc_file = getenv("DX_ALLOC_COUNT_FILE");
	if (dx_alloc_file)
		signal(SIGUSR2, dx_alloc_dump);
}
