/*
 * idlelearn: origins' idle timeouts as seen (see idlelearn.h).
 */
#include <stdlib.h>
#include <string.h>

#include "idlelearn.h"
#include "util.h"

#define NBUCKETS 256

struct learned {
	struct learned *next;
	unsigned hash;
	uint64_t close_ms; /* the shortest idle close seen */
	uint64_t seen_ms; /* when it was first seen, for expiry */
	char key[];
};

struct idlelearn {
	struct learned *b[NBUCKETS];
	unsigned n;
};

static void
clear(struct idlelearn *t)
{
	for (unsigned i = 0; i < NBUCKETS; i++) {
		struct learned *l, *next;
		for (l = t->b[i]; l != NULL; l = next) {
			next = l->next;
			free(l);
		}
		t->b[i] = NULL;
	}
	t->n = 0;
}

static struct learned *
find(const struct idlelearn *t, const char *key, unsigned h)
{
	struct learned *l;

	for (l = t->b[h % NBUCKETS]; l != NULL; l = l->next)
		if (l->hash == h && strcmp(l->key, key) == 0)
			return l;
	return NULL;
}

struct idlelearn *
idlelearn_new(void)
{
	return xcalloc(1, sizeof(struct idlelearn));
}

void
idlelearn_free(struct idlelearn *t)
{
	if (t == NULL)
		return;
	clear(t);
	free(t);
}

void
idlelearn_close(
    struct idlelearn *t, const char *key, uint64_t idle_ms, uint64_t now_ms)
{
	unsigned h = util_hash(key);
	struct learned *l = find(t, key, h);
	size_t len;

	if (l != NULL && now_ms - l->seen_ms < IDLELEARN_FOR_MS) {
		if (idle_ms < l->close_ms)
			l->close_ms = idle_ms;
		return;
	}
	if (l != NULL) {
		/* (an old observation: this one replaces it) */
		l->close_ms = idle_ms;
		l->seen_ms = now_ms;
		return;
	}
	if (t->n >= IDLELEARN_MAX)
		clear(t);
	len = strlen(key) + 1;
	l = xmalloc(sizeof *l + len);
	memcpy(l->key, key, len);
	l->hash = h;
	l->close_ms = idle_ms;
	l->seen_ms = now_ms;
	l->next = t->b[h % NBUCKETS];
	t->b[h % NBUCKETS] = l;
	t->n++;
}

uint64_t
idlelearn_limit_ms(const struct idlelearn *t, const char *key,
    uint64_t keepalive_ms, uint64_t now_ms)
{
	const struct learned *l = find(t, key, util_hash(key));
	uint64_t limit = keepalive_ms > 0 ? keepalive_ms : IDLELEARN_ASSUMED_MS;

	if (l != NULL && now_ms - l->seen_ms < IDLELEARN_FOR_MS &&
	    (keepalive_ms == 0 || l->close_ms < limit))
		limit = l->close_ms;
	return limit;
}

int
idlelearn_is_warm(const struct idlelearn *t, const char *key,
    uint64_t keepalive_ms, uint64_t idle_ms, uint64_t now_ms)
{
	return idle_ms * 2 < idlelearn_limit_ms(t, key, keepalive_ms, now_ms);
}
