/*
 * http: pure HTTP helpers the proxy needs around libevent's parser --
 * request-target and authority parsing, header-name and header-value
 * validation, hop-by-hop classification, Retry-After.  No I/O.
 */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_scheme {
	HTTP_SCHEME_HTTP = 0,
	HTTP_SCHEME_HTTPS = 1,
};

/*
 * A parsed absolute URL or authority.  host is lower-cased and has no
 * brackets; port is the explicit port or the scheme's default;
 * path_query points into the parsed string ("/" when absent) and has no
 * fragment.
 */
struct http_url {
	enum http_scheme scheme;
	char host[256];
	unsigned port;
	bool port_given;
	bool host_is_ipv6;
	const char *path; /* into the input: path and query, or "/" */
	size_t path_len;
	bool path_add_slash; /* "http://h?q": send "/" before path ("?q") */
	bool has_fragment; /* a "#..." (never in a request-target) */
};

/*
 * Parse "http://host[:port][/path][?query][#frag]" (scheme case-insensitive;
 * "https" accepted).  Rejects userinfo, empty host, bad ports, and any byte
 * that must not appear in a request-target (CTL, space, non-ASCII).
 * Returns 0, or -1 with *cause.
 */
int http_url_parse(const char *, struct http_url *, const char **cause);
/* Parse an authority-form target "host:port" (port required) for CONNECT. */
int http_authority_parse(const char *, struct http_url *, const char **cause);

/* Is this a valid header field-name (RFC 9110 token)? */
bool http_is_token(const char *);
/*
 * Is this one of the nine methods libevent 2.1.12's HTTP server knows
 * (exactly these spellings: GET, POST, HEAD, PUT, DELETE, OPTIONS, TRACE,
 * CONNECT, PATCH)?  Any other takes the raw lane.
 */
bool http_method_evhttp_knows(const char *method);
/*
 * Our Via entry for a message received as HTTP/major.minor: the protocol
 * it came in (RFC 9110 section 7.6.3), "1.0 retryproxy" or "1.1 retryproxy".
 */
const char *http_via(int major, int minor);
/*
 * A rate-limit reset field (X-RateLimit-Reset, RateLimit-Reset): whole
 * seconds from now, or, from 1000000000 up, a Unix time in seconds (as
 * GitHub's X-RateLimit-Reset); *ms from wall_now_ms (0 when past).
 * 0, or -1 when it is not a number.
 */
int http_parse_rate_limit_reset(
    const char *v, uint64_t wall_now_ms, uint64_t *ms);
/*
 * A Content-Range of a 206 (RFC 9110 section 14.4): "bytes F-L/C", or
 * with an asterisk for C (*complete then HTTP_LENGTH_UNKNOWN).  0, or -1
 * when it is malformed, another unit, unsatisfied (an asterisk for F-L),
 * F > L, or L >= C.
 */
#define HTTP_LENGTH_UNKNOWN UINT64_MAX
int http_parse_content_range(
    const char *v, uint64_t *first, uint64_t *last, uint64_t *complete);
/* Is this a valid field value (no CTL but HTAB, no NUL, no CR/LF)? */
bool http_value_is_valid(const char *);
/*
 * Is this header hop-by-hop (Connection, Keep-Alive, Proxy-Connection,
 * Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) or
 * named by the Connection header value conn (may be NULL)?
 */
bool http_is_hop_by_hop(const char *name, const char *conn);
/* Does the comma-separated list contain token (case-insensitive)? */
bool http_list_has_token(const char *list, const char *token);
/*
 * The timeout= of a Keep-Alive field value ("timeout=5, max=100": how long
 * the server keeps an idle connection, RFC 2068 section 19.7.1.1), in
 * ms; 0 when v is NULL, has none, or it is malformed or over a day.
 */
uint64_t http_keepalive_timeout_ms(const char *v);

/*
 * Retry-After: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 and
 * asctime forms).  wall_now_ms is the current Unix time in ms; a date in
 * the past yields 0.  Returns 0 with *delay_ms set, or -1 when the value
 * is not a valid Retry-After.
 */
int http_parse_retry_after(
    const char *, uint64_t wall_now_ms, uint64_t *delay_ms);
/* Parse an HTTP-date into Unix seconds; -1 when invalid. */
int http_parse_date(const char *, int64_t *unix_s);

/* The Host value for an origin (the port left out when it is the default). */
void http_host_value(
    char *buf, size_t len, const char *host, unsigned port, bool https);
/* Is this a valid method token (uppercase conventional, any token)? */
bool http_method_is_valid(const char *);
/*
 * The standard method (RFC 9110 section 9.3, or PATCH) that s names in
 * any case, in upper case; NULL for any other token.  For the config
 * only: on the wire, method names are case-sensitive.
 */
const char *http_method_standard(const char *s);

#endif
