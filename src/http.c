/*
 * http: request-target parsing, header validation, hop-by-hop rules and
 * Retry-After.  Stricter than libevent's parser on purpose: anything that
 * could be framed two ways upstream is refused here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "units.h"
#include "util.h"

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool
http_is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

bool
http_method_is_valid(const char *s)
{
	return http_is_token(s);
}

const char *
http_method_standard(const char *s)
{
	/* RFC 9110 section 9.3, and PATCH (RFC 5789) */
	static const char *const std[] = {"GET", "HEAD", "POST", "PUT",
	    "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

	for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
		if (util_ieq(s, std[i]))
			return std[i];
	return NULL;
}

bool
http_value_is_valid(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

bool
http_list_has_token(const char *list, const char *token)
{
	size_t tl = strlen(token);
	const char *p = list;

	while (*p != '\0') {
		const char *start, *end;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == tl &&
		    util_strncasecmp(start, token, tl) == 0)
			return true;
	}
	return false;
}

uint64_t
http_keepalive_timeout_ms(const char *v)
{
	const char *p = v;

	while (p != NULL && *p != '\0') {
		uint64_t n = 0;
		bool quoted, digits = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (util_strncasecmp(p, "timeout", 7) != 0 ||
		    (p[7] != '=' && p[7] != ' ' && p[7] != '\t')) {
			p = strchr(p, ',');
			continue;
		}
		p += 7;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			return 0;
		while (*p == ' ' || *p == '\t')
			p++;
		quoted = *p == '"';
		p += quoted;
		for (; *p >= '0' && *p <= '9'; p++, digits = true)
			if ((n = n * 10 + (uint64_t)(*p - '0')) > 86400)
				return 0;
		if (quoted && *p++ != '"')
			return 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!digits || (*p != '\0' && *p != ','))
			return 0;
		return n * 1000;
	}
	return 0;
}

bool
http_is_hop_by_hop(const char *name, const char *conn)
{
	static const char *const hop[] = {"Connection", "Keep-Alive",
	    "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer",
	    "Transfer-Encoding", "Upgrade"};
	size_t i;

	for (i = 0; i < RP_NELEM(hop); i++)
		if (util_ieq(name, hop[i]))
			return true;
	return conn != NULL && http_list_has_token(conn, name);
}

/* Bytes allowed in a path or query we forward: visible ASCII only. */
static bool
is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* host[:port] in [s, e): fills host/port/port_given/host_is_ipv6. */
static int
parse_hostport(const char *s, const char *e, struct http_url *u,
    bool port_required, const char **cause)
{
	const char *hs, *he, *p;
	uint64_t port;
	char tmp[8];
	size_t n;

	if (s == e) {
		*cause = "empty host";
		return -1;
	}
	if (memchr(s, '@', (size_t)(e - s)) != NULL) {
		*cause = "user information in a URL is not allowed";
		return -1;
	}
	if (*s == '[') {
		char a6[INET6_ADDRSTRLEN + 1];
		unsigned char buf[16];
		hs = s + 1;
		he = memchr(hs, ']', (size_t)(e - hs));
		if (he == NULL) {
			*cause = "unbalanced '[' in host";
			return -1;
		}
		if ((size_t)(he - hs) >= sizeof a6) {
			*cause = "bad IPv6 address";
			return -1;
		}
		memcpy(a6, hs, (size_t)(he - hs));
		a6[he - hs] = '\0';
		if (inet_pton(AF_INET6, a6, buf) != 1) {
			*cause = "bad IPv6 address";
			return -1;
		}
		u->host_is_ipv6 = true;
		p = he + 1;
		if (p != e && *p != ':') {
			*cause = "junk after IPv6 address";
			return -1;
		}
	} else {
		hs = s;
		he = memchr(s, ':', (size_t)(e - s));
		if (he == NULL)
			he = e;
		p = he;
		for (const char *q = hs; q < he; q++) {
			unsigned char c = (unsigned char)*q;
			if (!((c >= 'a' && c <= 'z') ||
				(c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '-' ||
				c == '.' || c == '_')) {
				*cause = "bad character in host";
				return -1;
			}
		}
	}
	n = (size_t)(he - hs);
	if (n == 0 || n >= sizeof u->host) {
		*cause = n == 0 ? "empty host" : "host name too long";
		return -1;
	}
	memcpy(u->host, hs, n);
	u->host[n] = '\0';
	util_lower(u->host);
	if (p != e) {
		/* p points at ':' */
		n = (size_t)(e - p - 1);
		if (n == 0 || n >= sizeof tmp) {
			*cause = "bad port";
			return -1;
		}
		memcpy(tmp, p + 1, n);
		tmp[n] = '\0';
		if (units_parse_uint(tmp, 1, 65535, &port, cause) != 0) {
			*cause = "bad port";
			return -1;
		}
		u->port = (unsigned)port;
		u->port_given = true;
	} else if (port_required) {
		*cause = "a port is required (host:port)";
		return -1;
	}
	return 0;
}

int
http_url_parse(const char *s, struct http_url *u, const char **cause)
{
	const char *auth, *aend, *p;

	memset(u, 0, sizeof *u);
	if (util_strncasecmp(s, "http://", 7) == 0) {
		u->scheme = HTTP_SCHEME_HTTP;
		u->port = 80;
		auth = s + 7;
	} else if (util_strncasecmp(s, "https://", 8) == 0) {
		u->scheme = HTTP_SCHEME_HTTPS;
		u->port = 443;
		auth = s + 8;
	} else {
		*cause = "not an absolute http:// URL";
		return -1;
	}
	aend = auth + strcspn(auth, "/?#");
	if (parse_hostport(auth, aend, u, false, cause) != 0)
		return -1;
	for (p = aend; *p != '\0' && *p != '#'; p++) {
		if (!is_target_char((unsigned char)*p)) {
			*cause = "bad character in URL path";
			return -1;
		}
	}
	u->has_fragment = *p == '#';
	if (*p == '#') {
		for (const char *q = p; *q != '\0'; q++)
			if (!is_target_char((unsigned char)*q)) {
				*cause = "bad character in URL fragment";
				return -1;
			}
	}
	if (p == aend) {
		u->path = "/";
		u->path_len = 1;
	} else if (*aend == '?') {
		u->path = aend;
		u->path_len = (size_t)(p - aend);
		u->path_add_slash = true;
	} else {
		u->path = aend;
		u->path_len = (size_t)(p - aend);
	}
	return 0;
}

int
http_authority_parse(const char *s, struct http_url *u, const char **cause)
{
	memset(u, 0, sizeof *u);
	u->scheme = HTTP_SCHEME_HTTPS;
	u->path = "/";
	u->path_len = 1;
	return parse_hostport(s, s + strlen(s), u, true, cause);
}

static int
month_index(const char *m)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(m, months[i], 3) == 0)
			return i;
	return -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
make_time(int y, int mon, int d, int h, int mi, int s, int64_t *out)
{
	static const int mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (mon < 0 || mon > 11 || d < 1 || d > mdays[mon] || h > 23 ||
	    mi > 59 || s > 60 || y < 1970 || (mon == 1 && d == 29 && !leap))
		return -1;
	*out = days_from_civil(y, mon + 1, d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

int
http_parse_date(const char *s, int64_t *out)
{
	char wd[16], mon[4], tz[4];
	int d, y, h, mi, sec, n = 0;

	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &d, mon, &y, &h,
		&mi, &sec, tz, &n) == 8 &&
	    s[n] == '\0' && strcmp(tz, "GMT") == 0)
		return make_time(y, month_index(mon), d, h, mi, sec, out);
	/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	n = 0;
	if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wd, &d, mon,
		&y, &h, &mi, &sec, tz, &n) == 8 &&
	    s[n] == '\0' && strcmp(tz, "GMT") == 0) {
		y += y < 70 ? 2000 : 1900;
		return make_time(y, month_index(mon), d, h, mi, sec, out);
	}
	/* asctime: Sun Nov  6 08:49:37 1994 */
	n = 0;
	if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi,
		&sec, &y, &n) == 7 &&
	    s[n] == '\0')
		return make_time(y, month_index(mon), d, h, mi, sec, out);
	return -1;
}

/* Digits at *s (at least one, at most 2^64 - 2): advance *s past them. */
static int
parse_u64(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 1 - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*out = n;
	return 0;
}

int
http_parse_content_range(
    const char *v, uint64_t *first, uint64_t *last, uint64_t *complete)
{
	const char *s = v;
	uint64_t f, l, c = HTTP_LENGTH_UNKNOWN;

	while (*s == ' ' || *s == '\t')
		s++;
	if (util_strncasecmp(s, "bytes", 5) != 0 || s[5] != ' ')
		return -1;
	s += 6;
	while (*s == ' ')
		s++;
	if (parse_u64(&s, &f) != 0 || *s++ != '-' || parse_u64(&s, &l) != 0 ||
	    *s++ != '/')
		return -1;
	if (*s == '*')
		s++;
	else if (parse_u64(&s, &c) != 0)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\0' || f > l || (c != HTTP_LENGTH_UNKNOWN && l >= c))
		return -1;
	*first = f;
	*last = l;
	*complete = c;
	return 0;
}

int
http_parse_retry_after(const char *v, uint64_t wall_now_ms, uint64_t *ms)
{
	char buf[64], *t;
	uint64_t secs = 0;
	int64_t when;

	if (strlen(v) >= sizeof buf)
		return -1;
	strcpy(buf, v);
	t = util_trim(buf);
	if (*t >= '0' && *t <= '9') {
		/* delta-seconds; a huge value saturates (it is then simply
		 * longer than any max_retry_after) */
		for (; *t >= '0' && *t <= '9'; t++)
			if (secs < UINT64_MAX / 10000)
				secs = secs * 10 + (uint64_t)(*t - '0');
		if (*t != '\0')
			return -1;
		*ms = secs * 1000;
		return 0;
	}
	if (http_parse_date(t, &when) != 0)
		return -1;
	if ((uint64_t)when * 1000 <= wall_now_ms)
		*ms = 0;
	else
		*ms = (uint64_t)when * 1000 - wall_now_ms;
	return 0;
}

void
http_host_value(
    char *buf, size_t len, const char *host, unsigned port, bool https)
{
	bool v6 = strchr(host, ':') != NULL;
	size_t at = 0;

	/* (by hand, not snprintf: once for every request of the raw lane) */
	if (len > 0)
		buf[0] = '\0';
	if (v6)
		util_append(buf, len, &at, "[");
	util_append(buf, len, &at, host);
	if (v6)
		util_append(buf, len, &at, "]");
	if (port != (https ? 443u : 80u)) {
		util_append(buf, len, &at, ":");
		util_append_u(buf, len, &at, port);
	}
}

int
http_parse_rate_limit_reset(const char *v, uint64_t wall_now_ms, uint64_t *ms)
{
	uint64_t n = 0;
	size_t i = 0;

	while (v[i] == ' ' || v[i] == '\t')
		i++;
	if (v[i] < '0' || v[i] > '9')
		return -1;
	/* (saturates at 10^13 s, some 300,000 years: n * 1000 cannot wrap) */
	for (; v[i] >= '0' && v[i] <= '9'; i++)
		if ((n = n * 10 + (uint64_t)(v[i] - '0')) > 10000000000000ULL)
			n = 10000000000000ULL;
	while (v[i] == ' ' || v[i] == '\t')
		i++;
	if (v[i] != '\0')
		return -1;
	if (n < 1000000000) {
		*ms = n * 1000;
		return 0;
	}
	*ms = n * 1000 > wall_now_ms ? n * 1000 - wall_now_ms : 0;
	return 0;
}

const char *
http_via(int major, int minor)
{
	return major == 1 && minor == 0 ? "1.0 retryproxy" : "1.1 retryproxy";
}

bool
http_method_evhttp_knows(const char *method)
{
	static const char *const known[] = {"GET", "POST", "HEAD", "PUT",
	    "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(method, known[i]) == 0)
			return true;
	return false;
}
