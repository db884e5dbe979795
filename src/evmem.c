/*
 * evmem: libevent's allocator, with a per-thread cache of the blocks it
 * takes and gives back (see evmem.h).
 */
#include <event2/event.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evmem.h"

/*
 * Small classes: glibc's chunk sizes 32 to 1040 bytes (16 apart), whose
 * usable sizes are 24 to 1032; a request of n bytes gets a chunk of
 * (n + 8) rounded up to 16, at least 32.  Large classes: 2^11 to 2^18.
 */
#define NSMALL 64
#define LARGE_SHIFT 11
#define NLARGE 8

struct block {
	struct block *next;
};

struct evmem_cache {
	struct block *head[NSMALL + NLARGE];
	unsigned n[NSMALL + NLARGE];
	size_t bytes;
};

static _Thread_local struct evmem_cache cache;

static size_t
small_usable(size_t n)
{
	size_t chunk = (n + 8 + 15) & ~(size_t)15;

	return (chunk < 32 ? 32 : chunk) - 8;
}

/* The class a request of n bytes is served from; -1: none. */
static int
class_of_request(size_t n, size_t *size)
{
	unsigned c = 0;

	if (n <= EVMEM_SMALL) {
		*size = small_usable(n);
		return (int)((*size - 24) / 16);
	}
	if (n < EVMEM_MIN || n > EVMEM_MAX)
		return -1;
	while (((size_t)1 << (c + LARGE_SHIFT)) < n)
		c++;
	*size = (size_t)1 << (c + LARGE_SHIFT);
	return NSMALL + (int)c;
}

/* The class a block of usable size u serves (all of it fits u); -1. */
static int
class_of_block(size_t u, size_t *size)
{
	unsigned c = 0;

	if (u <= EVMEM_SMALL) {
		/* (glibc's usable sizes are 24 + 16k here: exactly a class) */
		if (u < 24 || (u - 24) % 16 != 0)
			return -1;
		*size = u;
		return (int)((u - 24) / 16);
	}
	if (u < EVMEM_MIN || u > EVMEM_MAX + 4096)
		return -1;
	while (c + 1 < NLARGE && ((size_t)1 << (c + 1 + LARGE_SHIFT)) <= u)
		c++;
	*size = (size_t)1 << (c + LARGE_SHIFT);
	return NSMALL + (int)c;
}

void *
evmem_malloc(size_t n)
{
	size_t size;
	int c = class_of_request(n, &size);

	if (c < 0)
		return malloc(n);
	if (cache.head[c] != NULL) {
		struct block *b = cache.head[c];
		cache.head[c] = b->next;
		cache.n[c]--;
		cache.bytes -= size;
		return b;
	}
	/* (a large one: the whole class, so it serves any request of it) */
	return malloc(size);
}

void *
evmem_realloc(void *p, size_t n)
{
	return realloc(p, n); /* (every block is glibc's) */
}

void
evmem_free(void *p)
{
	size_t size;
	int c;

	if (p == NULL)
		return;
	c = class_of_block(malloc_usable_size(p), &size);
	if (c < 0 ||
	    cache.n[c] == (c < NSMALL ? EVMEM_PER_SMALL : EVMEM_PER_LARGE) ||
	    cache.bytes + size > EVMEM_BYTES) {
		free(p);
		return;
	}
	((struct block *)p)->next = cache.head[c];
	cache.head[c] = p;
	cache.n[c]++;
	cache.bytes += size;
}

void
evmem_thread_free(void)
{
	for (int c = 0; c < NSMALL + NLARGE; c++) {
		while (cache.head[c] != NULL) {
			struct block *b = cache.head[c];
			cache.head[c] = b->next;
			free(b);
		}
		cache.n[c] = 0;
	}
	cache.bytes = 0;
}

size_t
evmem_cached(size_t *bytes)
{
	size_t n = 0;

	for (int c = 0; c < NSMALL + NLARGE; c++)
		n += cache.n[c];
	if (bytes != NULL)
		*bytes = cache.bytes;
	return n;
}

/*
 * Under AddressSanitizer or valgrind's memcheck every block goes back to the
 * allocator they watch: a block kept here would hide a use after free.
 */
static bool
checked(void)
{
	const char *pre = getenv("LD_PRELOAD");

#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#endif
#endif
	return pre != NULL && strstr(pre, "vgpreload_memcheck") != NULL;
}

void
evmem_install(void)
{
	if (checked()) {
		event_set_mem_functions(malloc, realloc, free);
		return;
	}
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
	/* (the main thread's, whichever way the process ends) */
	atexit(evmem_thread_free);
}
