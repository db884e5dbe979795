/*
 * util: allocators that exit on exhaustion, ASCII string helpers, clocks
 * and a growable string buffer.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void
oom(void)
{
	fputs("retryproxy: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	/* (malloc and memset: glibc's calloc skips the thread cache, main.c) */
	size_t total;
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if (__builtin_mul_overflow(n, size, &total))
		oom();
	p = malloc(total);
	if (p == NULL)
		oom();
	return memset(p, 0, total);
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

/*
 * ASCII lower case by table: header names are compared for every field
 * of every request, and the table is half the instructions of a test
 * and an add per byte (callgrind).
 */
static const unsigned char lower[256] = {
#define R(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
#define R16(b) R(b), R(b + 8)
    R16(0x00),
    R16(0x10),
    R16(0x20),
    R16(0x30),
    /* 0x40: '@' then A-Z as a-z, then [ \ ] ^ _ */
    0x40,
    R16(0x61),
    R(0x71),
    0x79,
    0x7a,
    0x5b,
    0x5c,
    0x5d,
    0x5e,
    0x5f,
    R16(0x60),
    R16(0x70),
    R16(0x80),
    R16(0x90),
    R16(0xa0),
    R16(0xb0),
    R16(0xc0),
    R16(0xd0),
    R16(0xe0),
    R16(0xf0),
#undef R16
#undef R
};

static int
lc(int c)
{
	return lower[c];
}

int
util_strcasecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int d = lc((unsigned char)*a) - lc((unsigned char)*b);
		if (d != 0 || *a == '\0')
			return d;
	}
}

int
util_strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		int d = lc((unsigned char)*a) - lc((unsigned char)*b);
		if (d != 0 || *a == '\0')
			return d;
	}
	return 0;
}

void
util_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)lc((unsigned char)*s);
}

void
util_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - ('a' - 'A'));
}

char *
util_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s &&
	    (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

size_t
util_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t *row, best;

	row = xcalloc(lb + 1, sizeof *row);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = lc((unsigned char)a[i - 1]) ==
				lc((unsigned char)b[j - 1])
			    ? 0
			    : 1;
			size_t v = diag + cost;
			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
		}
	}
	best = row[lb];
	free(row);
	return best;
}

/* (this thread's: util_clock_per_turn) */
static _Thread_local bool per_turn, mono_known, wall_known;
static _Thread_local uint64_t mono_ms, wall_ms;

void
util_clock_per_turn(bool on)
{
	per_turn = on;
	mono_known = wall_known = false;
}

void
util_clock_turn(void)
{
	mono_known = wall_known = false;
}

/* clock's milliseconds: *ms, read again unless *known (this turn's) */
static uint64_t
clock_ms(clockid_t clock, uint64_t *ms, bool *known)
{
	struct timespec ts;

	if (!*known) {
		clock_gettime(clock, &ts);
		*ms =
		    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		*known = per_turn;
	}
	return *ms;
}

uint64_t
util_now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC, &mono_ms, &mono_known);
}

uint64_t
util_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME, &wall_ms, &wall_known);
}

unsigned
util_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Room for n more bytes and the NUL. */
static void
sbuf_room(struct sbuf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
}

void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	sbuf_room(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
sbuf_field(struct sbuf *b, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	char *p;

	sbuf_room(b, n + v + 4);
	p = b->s + b->len;
	memcpy(p, name, n);
	memcpy(p + n, ": ", 2);
	memcpy(p + n + 2, value, v);
	memcpy(p + n + 2 + v, "\r\n", 3);
	b->len += n + v + 4;
}

void
sbuf_putu(struct sbuf *b, uint64_t v)
{
	char d[UTIL_UTOA_LEN];

	sbuf_add(b, d, util_utoa(d, v));
}

size_t
util_utoa(char *buf, uint64_t v)
{
	char rev[UTIL_UTOA_LEN];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	return n;
}

void
util_append(char *buf, size_t len, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (len == 0)
		return;
	if (*at >= len - 1) {
		buf[len - 1] = '\0';
		return;
	}
	if (n > len - 1 - *at)
		n = len - 1 - *at;
	memcpy(buf + *at, s, n);
	*at += n;
	buf[*at] = '\0';
}

void
util_append_u(char *buf, size_t len, size_t *at, uint64_t v)
{
	char d[UTIL_UTOA_LEN + 1];

	d[util_utoa(d, v)] = '\0';
	util_append(buf, len, at, d);
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	int n;

	/* into the room there is; only when it does not fit, grow and again */
	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? b->s + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	if ((size_t)n >= room) {
		sbuf_room(b, (size_t)n);
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			oom();
	}
	b->len += (size_t)n;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

static _Thread_local struct sbuf scratch;

struct sbuf *
sbuf_scratch(void)
{
	scratch.len = 0;
	if (scratch.s != NULL)
		scratch.s[0] = '\0';
	return &scratch;
}

void
sbuf_scratch_free(void)
{
	sbuf_free(&scratch);
}
