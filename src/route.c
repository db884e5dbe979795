/*
 * route: parse [route PATTERN] patterns, order them by specificity and
 * pick the first that matches a request.  Sorting happens once at config
 * load, so a lookup is a scan that stops at the first hit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "route.h"
#include "units.h"
#include "util.h"

int
route_pattern_parse(const char *in, struct route_pattern *p, const char **cause)
{
	const char *slash, *hp = in;
	struct http_url u;
	char *hostport;
	int rc;

	memset(p, 0, sizeof *p);
	if (*in == '\0') {
		*cause = "empty route pattern";
		return -1;
	}
	if (*in == '/') {
		*cause = "a route pattern starts with a host";
		return -1;
	}
	for (const char *c = in; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
			*cause =
			    "spaces and control characters are not allowed in a route pattern";
			return -1;
		}
	slash = strchr(in, '/');
	if (*in == '[') {
		/* the path starts after the closing bracket */
		const char *rb = strchr(in, ']');
		slash = rb != NULL ? strchr(rb, '/') : NULL;
	}
	hostport = slash ? xstrndup(in, (size_t)(slash - in)) : xstrdup(in);
	if (strncmp(hostport, "*.", 2) == 0) {
		p->wildcard = true;
		hp = hostport + 2;
	} else
		hp = hostport;
	if (strchr(hp, '*') != NULL) {
		*cause = "'*' is only allowed as a leading '*.' label";
		free(hostport);
		return -1;
	}
	/* Reuse the URL authority parser for host, IPv6 and port rules. */
	{
		char *url = xasprintf("http://%s/", hp);
		rc = http_url_parse(url, &u, cause);
		free(url);
	}
	free(hostport);
	if (rc != 0)
		return -1;
	if (p->wildcard && u.host_is_ipv6) {
		*cause = "a wildcard cannot apply to an IPv6 address";
		return -1;
	}
	p->host = xstrdup(u.host);
	p->port = u.port_given ? u.port : 0;
	p->path = xstrdup(slash ? slash : "");
	p->path_len = strlen(p->path);
	return 0;
}

void
route_pattern_free(struct route_pattern *p)
{
	free(p->host);
	free(p->path);
	p->host = p->path = NULL;
}

static bool
host_matches(const struct route_pattern *p, const char *host)
{
	size_t hl, dl;

	if (!p->wildcard)
		return util_strcasecmp(p->host, host) == 0;
	hl = strlen(host);
	dl = strlen(p->host);
	return hl > dl + 1 && host[hl - dl - 1] == '.' &&
	    util_strcasecmp(host + hl - dl, p->host) == 0;
}

bool
route_pattern_matches(const struct route_pattern *p, const char *host,
    unsigned port, const char *path)
{
	if (p->port != 0 && p->port != port)
		return false;
	if (p->path_len != 0 && strncmp(path, p->path, p->path_len) != 0)
		return false;
	return host_matches(p, host);
}

int
route_pattern_cmp(const struct route_pattern *a, const struct route_pattern *b)
{
	if (a->path_len != b->path_len)
		return a->path_len > b->path_len ? -1 : 1;
	if (a->wildcard != b->wildcard)
		return a->wildcard ? 1 : -1;
	if (a->wildcard) {
		size_t la = strlen(a->host), lb = strlen(b->host);
		if (la != lb)
			return la > lb ? -1 : 1;
	}
	if ((a->port != 0) != (b->port != 0))
		return a->port != 0 ? -1 : 1;
	return 0;
}

bool
route_pattern_equal(
    const struct route_pattern *a, const struct route_pattern *b)
{
	return a->wildcard == b->wildcard && a->port == b->port &&
	    util_strcasecmp(a->host, b->host) == 0 &&
	    util_strcasecmp(a->path, b->path) == 0;
}

void
route_pattern_format(const struct route_pattern *p, char *buf, size_t len)
{
	bool v6 = strchr(p->host, ':') != NULL;
	char port[16] = "";

	if (p->port != 0)
		snprintf(port, sizeof port, ":%u", p->port);
	snprintf(buf, len, "%s%s%s%s%s%s", p->wildcard ? "*." : "",
	    v6 ? "[" : "", p->host, v6 ? "]" : "", port, p->path);
}

int
route_select(const struct route_pattern *const *v, size_t n, const char *host,
    unsigned port, const char *path)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (route_pattern_matches(v[i], host, port, path))
			return (int)i;
	return -1;
}
