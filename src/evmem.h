/*
 * evmem: the allocator libevent is given (event_set_mem_functions): glibc's
 * malloc, with a cache in each thread of the blocks libevent takes and
 * gives back for every request and connection.
 *
 * A new client connection makes some fifteen small objects in libevent
 * (the bufferevent, four evbuffers, evhttp's connection and request, the
 * address twice as a string, ...) and frees them when it closes; each
 * read into an empty buffer takes an evbuffer chain (a 4 KiB read: an
 * 8 KiB block), freed once drained.  glibc's per-thread cache (tcache)
 * holds seven blocks of a size, up to 1 KiB: with fifty clients
 * connecting and closing at once, most of these went through glibc's
 * bins (_int_malloc and _int_free: ~5k instructions a `Connection:
 * close` request, callgrind).  Here a thread keeps, per size, up to
 * EVMEM_PER_SMALL of the small blocks and EVMEM_PER_LARGE of those of 2
 * to 256 KiB (by power-of-two class), up to EVMEM_BYTES in all, and hands
 * them out again last in, first out.  Its calloc is malloc and memset
 * (glibc 2.36's calloc never takes from tcache).  Under AddressSanitizer
 * and valgrind's memcheck nothing is kept (it would hide a use after free
 * from them).
 */
#ifndef RP_EVMEM_H
#define RP_EVMEM_H

#include <stddef.h>

#define EVMEM_SMALL 1032 /* the largest small block (glibc's tcache's) */
#define EVMEM_MIN (2 * 1024) /* large blocks: 2 KiB to 256 KiB */
#define EVMEM_MAX (256 * 1024)
#define EVMEM_PER_SMALL 256
#define EVMEM_PER_LARGE 4
/* The most one thread keeps. */
#define EVMEM_BYTES (768 * 1024)

/* Give libevent these (before anything of libevent's is made). */
void evmem_install(void);
void *evmem_malloc(size_t);
void *evmem_realloc(void *, size_t);
void evmem_free(void *);
/* Free what this thread keeps (at the end of a thread that used libevent). */
void evmem_thread_free(void);
/* What this thread keeps: blocks, bytes (for tests). */
size_t evmem_cached(size_t *bytes);

#endif
