/*
 * fuzz_route: a route pattern, a host and a path.  Parsing must accept or
 * refuse cleanly; a parsed pattern must format to text that parses to an
 * equal pattern, and matching must never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *host, *path;
	struct route_pattern p, q;
	const char *cause;
	size_t blen = size + 64;
	char *buf = malloc(blen);

	memcpy(s, data, size);
	s[size] = '\0';
	host = strchr(s, '\n');
	if (host != NULL)
		*host++ = '\0';
	else
		host = "example.com";
	path = strchr(host, '\n');
	if (path != NULL)
		*path++ = '\0';
	else
		path = "/";
	if (route_pattern_parse(s, &p, &cause) == 0) {
		route_pattern_format(&p, buf, blen);
		if (route_pattern_parse(buf, &q, &cause) != 0)
			abort();
		if (!route_pattern_equal(&p, &q) || route_pattern_cmp(&p, &q))
			abort();
		(void)route_pattern_matches(&p, host, 443, path);
		(void)route_select(
		    (const struct route_pattern *const[]){&p, &q}, 2, host, 80,
		    path);
		route_pattern_free(&q);
		route_pattern_free(&p);
	}
	free(buf);
	free(s);
	return 0;
}
