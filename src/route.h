/*
 * route: [route PATTERN] patterns and the choice of the most specific
 * route for a request.  Pure.
 *
 * PATTERN is host, host:port, *.domain, [v6], [v6]:port, each optionally
 * followed by a path prefix ("api.example.com/v2/").  Hosts compare
 * case-insensitively; path prefixes byte-for-byte.
 */
#ifndef RP_ROUTE_H
#define RP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

struct route_pattern {
	char *host; /* lower-case; for a wildcard, the domain without "*." */
	bool wildcard; /* "*.domain": any subdomain, not the apex */
	unsigned port; /* 0 = any port */
	char *path; /* path prefix, "" = none */
	size_t path_len;
};

/* Parse a pattern; -1 with *cause (static string) when malformed. */
int route_pattern_parse(
    const char *, struct route_pattern *, const char **cause);
void route_pattern_free(struct route_pattern *);
/* Does the pattern match host (lower-case, no brackets), port and path? */
bool route_pattern_matches(const struct route_pattern *, const char *host,
    unsigned port, const char *path);
/*
 * Order by specificity: < 0 when a is more specific than b, > 0 when
 * less, 0 when they are equally specific (a tie, which for two distinct
 * patterns can only mean they are duplicates).  The order: a longer path
 * prefix; then an exact host over a wildcard; a longer wildcard domain
 * over a shorter; a port over none.
 */
int route_pattern_cmp(
    const struct route_pattern *, const struct route_pattern *);
/* Are the two the same pattern (ignoring case)? */
bool route_pattern_equal(
    const struct route_pattern *, const struct route_pattern *);
/* Print the pattern in canonical form into buf. */
void route_pattern_format(const struct route_pattern *, char *, size_t);

/*
 * Given patterns sorted with route_pattern_cmp (most specific first),
 * return the index of the first match, or -1.
 */
int route_select(const struct route_pattern *const *, size_t n,
    const char *host, unsigned port, const char *path);

#endif
