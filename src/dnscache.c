/*
 * dnscache: resolved names kept for a short while (see dnscache.h).
 */
#include <string.h>

#include "dnscache.h"
#include "util.h"

void
dnscache_init(struct dnscache *c)
{
	memset(c, 0, sizeof *c);
}

static struct dnscache_entry *
find(struct dnscache *c, const char *name)
{
	for (size_t i = 0; i < DNSCACHE_ENTRIES; i++)
		if (c->e[i].name[0] != '\0' &&
		    util_strcasecmp(c->e[i].name, name) == 0)
			return &c->e[i];
	return NULL;
}

unsigned
dnscache_get(struct dnscache *c, const char *name, uint64_t now_ms,
    struct sockaddr_storage *out, unsigned max)
{
	struct dnscache_entry *e = find(c, name);
	unsigned n;

	if (e == NULL || now_ms >= e->expires_ms) {
		if (e != NULL)
			e->name[0] = '\0';
		c->misses++;
		return 0;
	}
	n = e->naddrs < max ? e->naddrs : max;
	memcpy(out, e->addrs, n * sizeof *out);
	c->hits++;
	return n;
}

void
dnscache_put(struct dnscache *c, const char *name,
    const struct sockaddr_storage *addrs, unsigned n, uint64_t now_ms,
    uint64_t ttl_ms)
{
	struct dnscache_entry *e;

	if (n == 0 || ttl_ms == 0 || strlen(name) > DNSCACHE_NAME_MAX)
		return;
	if ((e = find(c, name)) == NULL) {
		/* a free slot, else the one that expires first */
		e = &c->e[0];
		for (size_t i = 0; i < DNSCACHE_ENTRIES; i++) {
			if (c->e[i].name[0] == '\0') {
				e = &c->e[i];
				break;
			}
			if (c->e[i].expires_ms < e->expires_ms)
				e = &c->e[i];
		}
		strcpy(e->name, name);
	}
	if (n > DNSCACHE_ADDRS)
		n = DNSCACHE_ADDRS;
	memcpy(e->addrs, addrs, n * sizeof *addrs);
	e->naddrs = n;
	e->expires_ms = now_ms + ttl_ms;
}

void
dnscache_forget(struct dnscache *c, const char *name)
{
	struct dnscache_entry *e = find(c, name);

	if (e != NULL)
		e->name[0] = '\0';
}
