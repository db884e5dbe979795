/*
 * acl: CIDR and port sets.  Addresses are compared as raw bytes; an
 * IPv4-mapped IPv6 address is folded to IPv4 before matching, so a deny
 * of 10.0.0.0/8 also covers ::ffff:10.1.2.3.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl.h"
#include "units.h"
#include "util.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
cidr_parse(const char *in, struct cidr *c, const char **cause)
{
	char buf[128], *slash, *a = buf;
	uint64_t prefix;
	unsigned max;

	if (strlen(in) >= sizeof buf) {
		*cause = "address too long";
		return -1;
	}
	strcpy(buf, in);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (*a == '[') {
		size_t n = strlen(a);
		if (n < 2 || a[n - 1] != ']') {
			*cause = "unbalanced brackets";
			return -1;
		}
		a[n - 1] = '\0';
		a++;
	}
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET, a, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*cause = "not an IPv4 or IPv6 address";
		return -1;
	}
	c->prefix = max;
	if (slash != NULL) {
		if (units_parse_uint(slash, 0, max, &prefix, cause) != 0) {
			*cause = "bad prefix length";
			return -1;
		}
		c->prefix = (unsigned)prefix;
	}
	return 0;
}

int
cidr_set_parse(const char *list, struct cidr_set *set, char **cause)
{
	char *copy = xstrdup(list), *save = NULL, *tok;
	const char *why;
	int rc = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		struct cidr c;
		tok = util_trim(tok);
		if (*tok == '\0')
			continue;
		if (cidr_parse(tok, &c, &why) != 0) {
			*cause = xasprintf("'%s': %s", tok, why);
			rc = -1;
			break;
		}
		set->v = xrealloc(set->v, (set->n + 1) * sizeof *set->v);
		set->v[set->n++] = c;
	}
	free(copy);
	return rc;
}

void
cidr_set_free(struct cidr_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static bool
prefix_matches(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
cidr_set_contains_raw(
    const struct cidr_set *set, int family, const uint8_t *addr)
{
	size_t i;

	if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	for (i = 0; i < set->n; i++) {
		const struct cidr *c = &set->v[i];
		if (c->family == family &&
		    prefix_matches(c->addr, addr, c->prefix))
			return true;
		/* An IPv4-mapped entry matches plain IPv4 addresses too. */
		if (c->family == AF_INET6 && family == AF_INET &&
		    c->prefix >= 96 && memcmp(c->addr, v4mapped, 12) == 0 &&
		    prefix_matches(c->addr + 12, addr, c->prefix - 96))
			return true;
	}
	return false;
}

bool
cidr_set_contains(const struct cidr_set *set, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return cidr_set_contains_raw(
		    set, AF_INET, (const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;
		return cidr_set_contains_raw(
		    set, AF_INET6, (const uint8_t *)&in6->sin6_addr);
	}
	return false;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof a);
	if ((c->family == AF_INET && c->prefix == 32) ||
	    (c->family == AF_INET6 && c->prefix == 128))
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, c->prefix);
}

int
port_set_parse(const char *list, struct port_set *set, char **cause)
{
	char *copy = xstrdup(list), *save = NULL, *tok;
	const char *why;
	int rc = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t lo, hi;
		char *dash;
		tok = util_trim(tok);
		if (*tok == '\0')
			continue;
		if (strcmp(tok, "*") == 0) {
			set->any = true;
			continue;
		}
		dash = strchr(tok, '-');
		if (dash != NULL)
			*dash = '\0';
		if (units_parse_uint(util_trim(tok), 1, 65535, &lo, &why) !=
			0 ||
		    (dash != NULL &&
			units_parse_uint(
			    util_trim(dash + 1), 1, 65535, &hi, &why) != 0)) {
			*cause = xasprintf("'%s': not a port (1-65535)", tok);
			rc = -1;
			break;
		}
		if (dash == NULL)
			hi = lo;
		if (hi < lo) {
			*cause = xasprintf("'%s-%llu': empty range", tok,
			    (unsigned long long)hi);
			rc = -1;
			break;
		}
		set->v = xrealloc(set->v, (set->n + 1) * sizeof *set->v);
		set->v[set->n].lo = (uint16_t)lo;
		set->v[set->n].hi = (uint16_t)hi;
		set->n++;
	}
	free(copy);
	if (rc == 0 && !set->any && set->n == 0) {
		*cause = xstrdup("no ports given (use * for any)");
		rc = -1;
	}
	return rc;
}

bool
port_set_contains(const struct port_set *set, unsigned port)
{
	size_t i;

	if (set->any)
		return port >= 1 && port <= 65535;
	for (i = 0; i < set->n; i++)
		if (port >= set->v[i].lo && port <= set->v[i].hi)
			return true;
	return false;
}

void
port_set_free(struct port_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
	set->any = false;
}
