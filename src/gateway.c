/*
 * gateway: origin parsing, URL building, forwarding fields and listener
 * matching for gateway listeners (gateway.h).  The lanes call these;
 * everything after the URL is built is the proxy's ordinary request path.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "http.h"
#include "util.h"

int
gateway_origin_parse(const char *v, char **base, const char **why)
{
	struct http_url u;
	size_t n;
	char port[8] = "";

	if (http_url_parse(v, &u, why) != 0)
		return -1;
	if (u.has_fragment) {
		*why = "an origin has no fragment (#...)";
		return -1;
	}
	if (memchr(u.path, '?', u.path_len) != NULL) {
		*why = "an origin has no query (?...)";
		return -1;
	}
	n = u.path_len;
	while (n > 0 && u.path[n - 1] == '/')
		n--;
	if (u.port_given)
		snprintf(port, sizeof port, ":%u", u.port);
	*base = xasprintf("%s://%s%s%s%s%.*s",
	    u.scheme == HTTP_SCHEME_HTTPS ? "https" : "http",
	    u.host_is_ipv6 ? "[" : "", u.host, u.host_is_ipv6 ? "]" : "", port,
	    (int)n, u.path);
	return 0;
}

char *
gateway_url(const struct gateway *gw, const char *target)
{
	if (target == NULL || target[0] != '/')
		return NULL;
	return xasprintf("%s%s", gw->base, target);
}

static bool
addr_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static unsigned
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

static bool
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		   &((const struct sockaddr_in6 *)b)->sin6_addr,
		   sizeof(struct in6_addr)) == 0;
}

bool
gateway_addr_overlaps(const struct listen_addr *a, const struct listen_addr *b)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
	const struct sockaddr *sb = (const struct sockaddr *)&b->ss;

	if (addr_port(sa) != addr_port(sb))
		return false;
	/* [::] takes IPv4 connections too (unless IPV6_V6ONLY) */
	if ((sa->sa_family == AF_INET6 && addr_is_any(&a->ss)) ||
	    (sb->sa_family == AF_INET6 && addr_is_any(&b->ss)))
		return true;
	if (sa->sa_family != sb->sa_family)
		return false;
	return addr_is_any(&a->ss) || addr_is_any(&b->ss) || addr_equal(sa, sb);
}

const struct gateway *
gateway_find(const struct config *c, const struct sockaddr *sa)
{
	for (size_t i = 0; i < c->ngateways; i++) {
		const struct gateway *g = &c->gateways[i];
		const struct sockaddr *ga =
		    (const struct sockaddr *)&g->addr.ss;
		if (ga->sa_family != sa->sa_family ||
		    addr_port(ga) != addr_port(sa))
			continue;
		if (addr_is_any(&g->addr.ss) || addr_equal(ga, sa))
			return g;
	}
	return NULL;
}

/* May host go inside a quoted-string without escapes? */
static bool
quotable(const char *host)
{
	for (const char *p = host; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x21 ||
		    (unsigned char)*p > 0x7e)
			return false;
	return *host != '\0';
}

void
gateway_forwarded(enum forwarded_mode mode, const char *ip,
    const char *prev_xff, const char *prev_fwd, const char *host, char **xff,
    char **fwd)
{
	bool v6 = strchr(ip, ':') != NULL;
	char *elem;

	*xff = NULL;
	*fwd = NULL;
	if (mode == FORWARDED_XFF || mode == FORWARDED_BOTH)
		*xff = prev_xff != NULL && *prev_xff != '\0'
		    ? xasprintf("%s, %s", prev_xff, ip)
		    : xstrdup(ip);
	if (mode != FORWARDED_RFC7239 && mode != FORWARDED_BOTH)
		return;
	/* RFC 7239 section 6: an IPv6 node is quoted, in brackets */
	elem = xasprintf("for=%s%s%s%s%s%s;proto=http", v6 ? "\"[" : "", ip,
	    v6 ? "]\"" : "", host != NULL && quotable(host) ? ";host=\"" : "",
	    host != NULL && quotable(host) ? host : "",
	    host != NULL && quotable(host) ? "\"" : "");
	if (prev_fwd != NULL && *prev_fwd != '\0') {
		*fwd = xasprintf("%s, %s", prev_fwd, elem);
		free(elem);
	} else
		*fwd = elem;
}
