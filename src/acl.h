/*
 * acl: CIDR sets and port sets for the allow/deny/connect_ports keys.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 entries.  Pure.
 */
#ifndef RP_ACL_H
#define RP_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct cidr_set {
	struct cidr *v;
	size_t n;
};

/* Parse one "addr" or "addr/len" (IPv6 without brackets, or in them). */
int cidr_parse(const char *, struct cidr *, const char **cause);
/* Parse a comma-separated list into set (appends); -1 names the bad item. */
int cidr_set_parse(const char *, struct cidr_set *, char **cause);
void cidr_set_free(struct cidr_set *);
/* Is this address (struct sockaddr_in / sockaddr_in6) in the set? */
bool cidr_set_contains(const struct cidr_set *, const struct sockaddr *);
/* The same for an address given as family + raw bytes (4 or 16). */
bool cidr_set_contains_raw(
    const struct cidr_set *, int family, const uint8_t *addr);
/* Print "a.b.c.d/n" or "x::y/n"; a full-length prefix is left out. */
void cidr_format(const struct cidr *, char *buf, size_t len);

/* Port set: "*" or a list of ports and ranges ("443, 8000-8100"). */
struct port_set {
	bool any;
	struct {
		uint16_t lo, hi;
	} * v;
	size_t n;
};
int port_set_parse(const char *, struct port_set *, char **cause);
bool port_set_contains(const struct port_set *, unsigned port);
void port_set_free(struct port_set *);

#endif
