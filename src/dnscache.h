/*
 * dnscache: a worker's memory of names it resolved, so that a new upstream
 * connection to a name resolved a moment ago needs no query.  Pure: names
 * and addresses in, addresses out, the clock passed in.
 *
 * libevent's evdns_getaddrinfo gives no TTL, so an answer is kept for a
 * fixed time (DNSCACHE_TTL_MS) and never longer; failures are not kept.
 * A full cache replaces the entry closest to expiry.
 */
#ifndef RP_DNSCACHE_H
#define RP_DNSCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNSCACHE_TTL_MS 10000
#define DNSCACHE_ENTRIES 128
#define DNSCACHE_ADDRS 4 /* addresses kept a name */
#define DNSCACHE_NAME_MAX 255

struct dnscache_entry {
	char name[DNSCACHE_NAME_MAX + 1]; /* "" = free */
	uint64_t expires_ms;
	unsigned naddrs;
	struct sockaddr_storage addrs[DNSCACHE_ADDRS];
};

struct dnscache {
	struct dnscache_entry e[DNSCACHE_ENTRIES];
	uint64_t hits, misses;
};

void dnscache_init(struct dnscache *);
/*
 * The fresh addresses of name at now_ms, copied to out (up to max):
 * how many, 0 when unknown or expired.
 */
unsigned dnscache_get(struct dnscache *, const char *name, uint64_t now_ms,
    struct sockaddr_storage *out, unsigned max);
/* Remember name's addresses (up to DNSCACHE_ADDRS) until now_ms + ttl_ms. */
void dnscache_put(struct dnscache *, const char *name,
    const struct sockaddr_storage *addrs, unsigned n, uint64_t now_ms,
    uint64_t ttl_ms);
/* Forget name (its addresses stopped answering). */
void dnscache_forget(struct dnscache *, const char *name);

#endif
