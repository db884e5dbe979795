/*
 * util: allocation that exits on exhaustion (so callers never check NULL),
 * small string helpers and a monotonic clock.  Pure: no libevent, no OpenSSL.
 */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdbool.h>

#define RP_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Allocators: abort the process with a message when memory is exhausted. */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
/* printf into a fresh string. */
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* ASCII-only case-insensitive comparisons (locale-independent). */
int util_strcasecmp(const char *, const char *);
/*
 * util_strcasecmp(a, b) == 0, the first bytes compared inline: most
 * header names differ there, and a head's every field is compared with
 * a few (for every request).
 */
static inline bool
util_ieq(const char *a, const char *b)
{
	unsigned x = (unsigned char)*a, y = (unsigned char)*b;

	/* (| 0x20 folds ASCII case; other bytes it may pair go on to test) */
	if ((x | 0x20) != (y | 0x20))
		return false;
	return util_strcasecmp(a, b) == 0;
}
int util_strncasecmp(const char *, const char *, size_t);
/*
 * Are the n bytes at s the field name name (letters and '-'), in any
 * case?  (| 0x20 folds a letter's case and takes no other byte to a
 * letter; a '-' must be one.)  For names of a known length: no table,
 * no end test, a few instructions a byte.
 */
static inline bool
util_name_eq(const char *s, const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i],
			      m = (unsigned char)name[i];
		if (c != m && (m == '-' || (c | 0x20) != (m | 0x20)))
			return false;
	}
	return true;
}
void util_lower(char *);
void util_upper(char *);
/* Trim ASCII white space at both ends, in place; returns s. */
char *util_trim(char *s);
/* Levenshtein distance, for "did you mean" hints. */
size_t util_edit_distance(const char *, const char *);

/*
 * Milliseconds of CLOCK_MONOTONIC and of the wall clock (Unix epoch).  In
 * a thread that asked for it (util_clock_per_turn), each is read once a
 * turn of its event loop and kept until util_clock_turn says a new turn
 * began (loopclock.c: after each epoll_wait), as nginx keeps its
 * ngx_current_msec: a request read ~12 clocks, about 1 % of its CPU
 * (perf).  Within a turn the time stands still, as libevent's own timers
 * see it; it is never later than the true time.
 */
uint64_t util_now_ms(void);
void util_clock_per_turn(bool on);
void util_clock_turn(void);
/*
 * The decimal digits of v into buf (at least UTIL_UTOA_LEN bytes, not
 * terminated); how many.  (By hand: printf's format parsing was most of
 * the cost of the few numbers every request writes.)
 */
#define UTIL_UTOA_LEN 20
size_t util_utoa(char *buf, uint64_t v);
/*
 * Append s, or the digits of v, to the string in buf (len bytes, *at its
 * length so far), cut short as snprintf would; *at moves on.
 */
void util_append(char *buf, size_t len, size_t *at, const char *s);
void util_append_u(char *buf, size_t len, size_t *at, uint64_t v);
uint64_t util_wall_ms(void);

/* FNV-1a of a NUL-terminated string, for hash tables. */
unsigned util_hash(const char *);

/*
 * A growable string, for building output.  Always NUL-terminated once
 * anything has been appended.
 */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};
void sbuf_add(struct sbuf *, const char *, size_t);
/* (inline: a literal's length is then the compiler's to count) */
static inline void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}
/* "name: value" CRLF, grown once (a head is a dozen for every request). */
void sbuf_field(struct sbuf *, const char *name, const char *value);
/* The decimal digits of v (what printf's %llu writes, without it). */
void sbuf_putu(struct sbuf *, uint64_t v);
void sbuf_printf(struct sbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void sbuf_free(struct sbuf *);
/*
 * This thread's buffer for text built and then copied out at once (a
 * message head, into an evbuffer): empty, its memory kept from one use
 * to the next -- a malloc and a free less for every head.  One use at a
 * time; sbuf_scratch_free when the thread ends.
 */
struct sbuf *sbuf_scratch(void);
void sbuf_scratch_free(void);

#endif
