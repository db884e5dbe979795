/*
 * config-keys: the key table and the parser and printer of each value
 * type.  Adding a key means adding one row here (and a line in the sample
 * config and the man page, which tests check).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config-keys.h"
#include "gateway.h"
#include "http.h"
#include "parent.h"
#include "units.h"
#include "util.h"

#define AT(base, k, type) ((type *)((char *)(base) + (k)->off))
#define CAT(base, k, type) ((const type *)((const char *)(base) + (k)->off))

/* Split a comma-separated list into trimmed, non-empty items. */
static size_t
split_list(struct config *c, const char *v, char ***out)
{
	char *copy = config_own(c, xstrdup(v)), *save = NULL, *tok;
	char **items = NULL;
	size_t n = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = util_trim(tok);
		if (*tok == '\0')
			continue;
		items = xrealloc(items, (n + 1) * sizeof *items);
		items[n++] = tok;
	}
	*out = config_own(c, items);
	return n;
}

static int
p_bool(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;

	if (units_parse_bool(v, AT(b, k, bool), &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	return 0;
}

static void
o_bool(const struct key_def *k, const void *b, struct sbuf *s)
{
	sbuf_puts(s, *CAT(b, k, bool) ? "yes" : "no");
}

static int
check_range(const struct key_def *k, uint64_t v, char **cause,
    char *(*fmt)(uint64_t, char *, size_t))
{
	char lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return 0;
	*cause = xasprintf("must be between %s and %s",
	    fmt(k->min, lo, sizeof lo), fmt(k->max, hi, sizeof hi));
	return -1;
}

static int
p_duration(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;
	uint64_t ms;

	if (units_parse_duration(v, &ms, &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	if (check_range(k, ms, cause, units_format_duration) != 0)
		return -1;
	*AT(b, k, uint64_t) = ms;
	return 0;
}

static void
o_duration(const struct key_def *k, const void *b, struct sbuf *s)
{
	char buf[32];

	sbuf_puts(
	    s, units_format_duration(*CAT(b, k, uint64_t), buf, sizeof buf));
}

static int
p_size(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;
	uint64_t n;

	if (units_parse_size(v, &n, &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	if (check_range(k, n, cause, units_format_size) != 0)
		return -1;
	*AT(b, k, uint64_t) = n;
	return 0;
}

static void
o_size(const struct key_def *k, const void *b, struct sbuf *s)
{
	char buf[32];

	sbuf_puts(s, units_format_size(*CAT(b, k, uint64_t), buf, sizeof buf));
}

static char *
fmt_uint(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static int
p_uint(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;
	uint64_t n;

	if (units_parse_uint(v, 0, UINT32_MAX, &n, &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	if (check_range(k, n, cause, fmt_uint) != 0)
		return -1;
	*AT(b, k, unsigned) = (unsigned)n;
	return 0;
}

static void
o_uint(const struct key_def *k, const void *b, struct sbuf *s)
{
	sbuf_printf(s, "%u", *CAT(b, k, unsigned));
}

static int
p_double(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;

	if (units_parse_double(v, AT(b, k, double), &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	if (*AT(b, k, double) > (double)k->max) {
		*cause = xasprintf(
		    "must be at most %llu", (unsigned long long)k->max);
		return -1;
	}
	return 0;
}

/* Values come from 6-decimal fixed point: print them back exactly. */
static void
put_decimal(double v, struct sbuf *s)
{
	char buf[64];
	size_t n = (size_t)snprintf(buf, sizeof buf, "%.6f", v);

	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	sbuf_puts(s, buf);
}

static void
o_double(const struct key_def *k, const void *b, struct sbuf *s)
{
	put_decimal(*CAT(b, k, double), s);
}

static int
p_percent(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	const char *why;

	if (units_parse_percent(v, AT(b, k, double), &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	return 0;
}

static void
o_percent(const struct key_def *k, const void *b, struct sbuf *s)
{
	put_decimal(*CAT(b, k, double), s);
	sbuf_puts(s, "%");
}

/* A whole percentage, "50%" or "50", within the key's range. */
static int
p_whole_percent(struct config *c, const struct key_def *k, void *b,
    const char *v, char **cause)
{
	const char *why;
	double d;

	if (units_parse_percent(v, &d, &why) != 0) {
		*cause = xstrdup(why);
		return -1;
	}
	if (d != (double)(unsigned)d) {
		*cause = xstrdup("expected a whole percentage such as 50%");
		return -1;
	}
	if ((unsigned)d < k->min || (unsigned)d > k->max) {
		*cause = xasprintf("must be between %llu%% and %llu%%",
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	*AT(b, k, unsigned) = (unsigned)d;
	return 0;
}

static void
o_whole_percent(const struct key_def *k, const void *b, struct sbuf *s)
{
	sbuf_printf(s, "%u%%", *CAT(b, k, unsigned));
}

/* hedge_after: off, a duration, or pNN (1..99). */
static int
p_hedge_after(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct hedge_after *h = AT(b, k, struct hedge_after);
	const char *why;
	uint64_t n;

	memset(h, 0, sizeof *h);
	if (util_strcasecmp(v, "off") == 0)
		return 0;
	if (v[0] == 'p' || v[0] == 'P') {
		if (units_parse_uint(v + 1, 1, 99, &n, &why) != 0) {
			*cause = xasprintf(
			    "'%s': a percentile is p1 to p99 (%s)", v, why);
			return -1;
		}
		h->pct = (unsigned)n;
		return 0;
	}
	if (units_parse_duration(v, &h->ms, &why) != 0) {
		*cause =
		    xasprintf("off, a duration or a percentile (p95): %s", why);
		return -1;
	}
	if (h->ms == 0) {
		*cause = xstrdup("must be more than 0 (or off)");
		return -1;
	}
	return check_range(k, h->ms, cause, units_format_duration);
}

static void
o_hedge_after(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct hedge_after *h = CAT(b, k, struct hedge_after);
	char buf[32];

	if (h->pct > 0)
		sbuf_printf(s, "p%u", h->pct);
	else if (h->ms > 0)
		sbuf_puts(s, units_format_duration(h->ms, buf, sizeof buf));
	else
		sbuf_puts(s, "off");
}

static int
p_enum(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct sbuf list = {0};
	int i;

	for (i = 0; k->names[i] != NULL; i++) {
		if (util_strcasecmp(v, k->names[i]) == 0) {
			*AT(b, k, int) = i;
			sbuf_free(&list);
			return 0;
		}
		sbuf_printf(&list, "%s%s", i ? ", " : "", k->names[i]);
	}
	*cause = xasprintf("expected one of: %s", list.s);
	sbuf_free(&list);
	return -1;
}

static void
o_enum(const struct key_def *k, const void *b, struct sbuf *s)
{
	sbuf_puts(s, k->names[*CAT(b, k, int)]);
}

static int
p_string(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	if (k->min > 0 && *v == '\0') {
		*cause = xstrdup("must not be empty");
		return -1;
	}
	*AT(b, k, char *) = config_own(c, xstrdup(v));
	return 0;
}

static void
o_string(const struct key_def *k, const void *b, struct sbuf *s)
{
	const char *v = *CAT(b, k, char *);

	sbuf_puts(s, v != NULL ? v : "");
}

/* A header name, or empty to disable. */
static int
p_header_name(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	if (*v != '\0' && !http_is_token(v)) {
		*cause = xasprintf("'%s' is not a valid header name", v);
		return -1;
	}
	return p_string(c, k, b, v, cause);
}

/* An optional file path: empty means none. */
static int
p_path(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	*AT(b, k, char *) = *v == '\0' ? NULL : config_own(c, xstrdup(v));
	return 0;
}

int
config_listen_addr_parse(const char *v, struct listen_addr *la, char **cause)
{
	char host[48];
	const char *colon, *why;
	uint64_t port;
	size_t n;

	memset(la, 0, sizeof *la);
	if (*v == '[') {
		const char *rb = strchr(v, ']');
		if (rb == NULL || rb[1] != ':')
			goto bad;
		n = (size_t)(rb - v - 1);
		if (n >= sizeof host)
			goto bad;
		memcpy(host, v + 1, n);
		host[n] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL || (size_t)(colon - v) >= sizeof host)
			goto bad;
		n = (size_t)(colon - v);
		memcpy(host, v, n);
		host[n] = '\0';
	}
	if (units_parse_uint(colon + 1, 1, 65535, &port, &why) != 0)
		goto bad;
	if (*v != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		la->sslen = sizeof *sin;
		snprintf(
		    la->text, sizeof la->text, "%s:%u", host, (unsigned)port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la->ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		la->sslen = sizeof *sin6;
		snprintf(
		    la->text, sizeof la->text, "[%s]:%u", host, (unsigned)port);
	}
	return 0;
bad:
	*cause = xasprintf("'%s' is not ADDR:PORT (an IPv4 address, or an "
			   "IPv6 one in brackets, and a port 1-65535)",
	    v);
	return -1;
}

static int
p_listen(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct proxy_config *pc = b;
	struct listen_addr *la;
	char **items;
	size_t n = split_list(c, v, &items), i, j;

	if (n == 0) {
		*cause = xstrdup("at least one address is needed");
		return -1;
	}
	la = config_own(c, xcalloc(n, sizeof *la));
	for (i = 0; i < n; i++) {
		if (config_listen_addr_parse(items[i], &la[i], cause) != 0)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(la[i].text, la[j].text) == 0) {
				*cause = xasprintf(
				    "'%s' is listed twice", la[i].text);
				return -1;
			}
	}
	pc->listen = la;
	pc->nlisten = n;
	return 0;
}

static void
o_listen(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct proxy_config *pc = b;

	for (size_t i = 0; i < pc->nlisten; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "", pc->listen[i].text);
}

static int
p_admin(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct proxy_config *pc = b;

	if (util_strcasecmp(v, "off") == 0 || *v == '\0') {
		pc->admin_on = false;
		return 0;
	}
	if (config_listen_addr_parse(v, &pc->admin, cause) != 0)
		return -1;
	pc->admin_on = true;
	return 0;
}

static void
o_admin(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct proxy_config *pc = b;

	sbuf_puts(s, pc->admin_on ? pc->admin.text : "off");
}

static int
p_workers(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	if (util_strcasecmp(v, "auto") == 0) {
		*AT(b, k, unsigned) = 0;
		return 0;
	}
	return p_uint(c, k, b, v, cause);
}

static void
o_workers(const struct key_def *k, const void *b, struct sbuf *s)
{
	unsigned n = *CAT(b, k, unsigned);

	if (n == 0)
		sbuf_puts(s, "auto");
	else
		sbuf_printf(s, "%u", n);
}

static int
p_cidrs(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct cidr_set *set = AT(b, k, struct cidr_set);

	cidr_set_free(set);
	return cidr_set_parse(v, set, cause);
}

static void
o_cidrs(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct cidr_set *set = CAT(b, k, struct cidr_set);
	char buf[64];

	for (size_t i = 0; i < set->n; i++) {
		cidr_format(&set->v[i], buf, sizeof buf);
		sbuf_printf(s, "%s%s", i ? ", " : "", buf);
	}
}

static int
p_ports(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct port_set *set = AT(b, k, struct port_set);

	port_set_free(set);
	return port_set_parse(v, set, cause);
}

static void
o_ports(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct port_set *set = CAT(b, k, struct port_set);

	if (set->any) {
		sbuf_puts(s, "*");
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		sbuf_printf(s, "%s%u", i ? ", " : "", set->v[i].lo);
		if (set->v[i].hi != set->v[i].lo)
			sbuf_printf(s, "-%u", set->v[i].hi);
	}
}

static int
p_timeouts(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;
	uint64_t *ms = config_own(c, xcalloc(n ? n : 1, sizeof *ms));
	const char *why;

	for (i = 0; i < n; i++)
		if (units_parse_duration(items[i], &ms[i], &why) != 0) {
			*cause = xasprintf("'%s': %s", items[i], why);
			return -1;
		}
	p->timeouts_ms = ms;
	p->ntimeouts = n;
	return 0;
}

static void
o_timeouts(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;
	char buf[32];

	for (size_t i = 0; i < p->ntimeouts; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "",
		    units_format_duration(p->timeouts_ms[i], buf, sizeof buf));
}

static int
p_statuses(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;

	memset(p->statuses, 0, sizeof p->statuses);
	for (i = 0; i < n; i++) {
		uint64_t lo, hi;
		const char *why;
		char *dash = strchr(items[i], '-');
		if (dash != NULL)
			*dash++ = '\0';
		if (units_parse_uint(
			util_trim(items[i]), 100, 599, &lo, &why) != 0 ||
		    (dash != NULL &&
			units_parse_uint(
			    util_trim(dash), 100, 599, &hi, &why) != 0)) {
			*cause =
			    xasprintf("'%s' is not a status 100-599", items[i]);
			return -1;
		}
		if (dash == NULL)
			hi = lo;
		for (uint64_t st = lo; st <= hi; st++)
			p->statuses[st / 8] |= (uint8_t)(1u << (st % 8));
	}
	return 0;
}

static void
o_statuses(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;
	bool first = true;

	for (int st = 100; st < 600; st++)
		if (policy_status_is_listed(p, st)) {
			sbuf_printf(s, "%s%d", first ? "" : ", ", st);
			first = false;
		}
}

static int
p_methods(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;

	p->methods_all = false;
	for (i = 0; i < n; i++) {
		if (strcmp(items[i], "*") == 0) {
			p->methods_all = true;
			continue;
		}
		if (!http_method_is_valid(items[i])) {
			*cause = xasprintf("'%s' is not a method", items[i]);
			return -1;
		}
		/* "get" is GET; any other token is kept as written */
		if (http_method_standard(items[i]) != NULL)
			util_upper(items[i]);
	}
	p->methods = items;
	p->nmethods = n;
	return 0;
}

static void
o_methods(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	if (p->methods_all) {
		sbuf_puts(s, "*");
		return;
	}
	for (size_t i = 0; i < p->nmethods; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "", p->methods[i]);
}

static int
p_header_names(struct config *c, const struct key_def *k, void *b,
    const char *v, char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items);

	for (size_t i = 0; i < n; i++)
		if (!http_is_token(items[i])) {
			*cause = xasprintf(
			    "'%s' is not a valid header name", items[i]);
			return -1;
		}
	p->reset_headers = items;
	p->nreset_headers = n;
	return 0;
}

static void
o_header_names(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	for (size_t i = 0; i < p->nreset_headers; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "", p->reset_headers[i]);
}

static const char *const error_names[] = {
    "connect", "dns", "reset", "timeout", NULL};

static int
p_errors(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;

	p->errors = 0;
	for (i = 0; i < n; i++) {
		int j;
		for (j = 0; error_names[j] != NULL; j++)
			if (util_strcasecmp(items[i], error_names[j]) == 0)
				break;
		if (error_names[j] == NULL) {
			*cause = xasprintf("'%s' is not one of connect, dns, "
					   "reset, timeout",
			    items[i]);
			return -1;
		}
		p->errors |= FAIL_MASK(j);
	}
	return 0;
}

static void
o_errors(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;
	bool first = true;

	for (int j = 0; error_names[j] != NULL; j++)
		if (p->errors & FAIL_MASK(j)) {
			sbuf_printf(
			    s, "%s%s", first ? "" : ", ", error_names[j]);
			first = false;
		}
}

static int
p_headers(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;
	struct header_match *hm = config_own(c, xcalloc(n ? n : 1, sizeof *hm));

	for (i = 0; i < n; i++) {
		char *colon = strchr(items[i], ':');
		if (colon == NULL) {
			*cause =
			    xasprintf("'%s' is not 'Name: value'", items[i]);
			return -1;
		}
		*colon = '\0';
		hm[i].name = util_trim(items[i]);
		hm[i].value = util_trim(colon + 1);
		if (!http_is_token(hm[i].name) || *hm[i].value == '\0') {
			*cause = xasprintf("'%s: %s' is not 'Name: value' "
					   "(value * for any)",
			    hm[i].name, hm[i].value);
			return -1;
		}
	}
	p->retry_if_header = hm;
	p->nretry_if_header = n;
	return 0;
}

static void
o_headers(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	for (size_t i = 0; i < p->nretry_if_header; i++)
		sbuf_printf(s, "%s%s: %s", i ? ", " : "",
		    p->retry_if_header[i].name, p->retry_if_header[i].value);
}

static int
p_regex(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	regex_t *re;
	int rc;

	p->retry_if_body_src = config_own(c, xstrdup(v));
	p->retry_if_body = NULL;
	if (*v == '\0')
		return 0;
	re = xcalloc(1, sizeof *re);
	rc = regcomp(re, v, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[128];
		regerror(rc, re, msg, sizeof msg);
		*cause = xasprintf("bad regular expression: %s", msg);
		free(re);
		return -1;
	}
	c->regexes =
	    xrealloc(c->regexes, (c->nregexes + 1) * sizeof *c->regexes);
	c->regexes[c->nregexes++] = re;
	p->retry_if_body = re;
	return 0;
}

static void
o_regex(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	sbuf_puts(s, p->retry_if_body_src ? p->retry_if_body_src : "");
}

static int
p_fallbacks(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;
	struct fallback *fb = config_own(c, xcalloc(n ? n : 1, sizeof *fb));

	for (i = 0; i < n; i++) {
		struct http_url u;
		const char *why;
		if (http_url_parse(items[i], &u, &why) != 0) {
			*cause = xasprintf("'%s': %s", items[i], why);
			return -1;
		}
		if (u.path_len != 1 || u.path[0] != '/' ||
		    items[i][strlen(items[i]) - 1] == '/') {
			*cause =
			    xasprintf("'%s': a fallback is "
				      "scheme://host[:port], without a path",
				items[i]);
			return -1;
		}
		fb[i].scheme = (int)u.scheme;
		fb[i].host = config_own(c, xstrdup(u.host));
		fb[i].port = u.port;
		fb[i].text = items[i];
	}
	p->fallbacks = fb;
	p->nfallbacks = n;
	return 0;
}

static void
o_fallbacks(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	for (size_t i = 0; i < p->nfallbacks; i++)
		sbuf_printf(s, "%s%s", i ? ", " : "", p->fallbacks[i].text);
}

/* `parent`: http://host:port, ... in order, or direct. */
static int
p_parent(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char **items;
	size_t n = split_list(c, v, &items), i;
	struct parent *pv;

	p->parents = NULL;
	p->nparents = 0;
	if (n == 1 && util_strcasecmp(items[0], "direct") == 0)
		return 0;
	if (n == 0) {
		*cause = xstrdup("empty: write 'direct' for no parent");
		return -1;
	}
	if (n > PARENT_MAX) {
		*cause = xasprintf("at most %d parents", PARENT_MAX);
		return -1;
	}
	pv = config_own(c, xcalloc(n, sizeof *pv));
	for (i = 0; i < n; i++) {
		char host[256];
		const char *why;
		if (util_strcasecmp(items[i], "direct") == 0) {
			*cause = xstrdup("'direct' stands alone: a list of "
					 "parents, or direct");
			return -1;
		}
		if (parent_parse(
			items[i], host, sizeof host, &pv[i].port, &why) != 0) {
			*cause = xasprintf("'%s': %s", items[i], why);
			return -1;
		}
		pv[i].host = config_own(c, xstrdup(host));
		pv[i].text = config_own(c,
		    xasprintf(strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			pv[i].port));
		for (size_t j = 0; j < i; j++)
			if (strcmp(pv[j].text, pv[i].text) == 0) {
				*cause =
				    xasprintf("'%s': listed twice", items[i]);
				return -1;
			}
	}
	p->parents = pv;
	p->nparents = n;
	return 0;
}

/* [gateway ADDR] origin: http(s)://host[:port][/path] */
static int
p_origin(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct gateway *g = b;
	const char *why;
	char *base;

	if (*v == '\0') {
		g->origin = NULL; /* (the default: resolve() wants one) */
		return 0;
	}
	if (gateway_origin_parse(v, &base, &why) != 0) {
		*cause = xasprintf("'%s': %s (expected "
				   "http(s)://host[:port][/path])",
		    v, why);
		return -1;
	}
	g->origin = config_own(c, xstrdup(v));
	g->base = config_own(c, base);
	return 0;
}

static void
o_parent(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	if (p->nparents == 0)
		sbuf_puts(s, "direct");
	for (size_t i = 0; i < p->nparents; i++)
		sbuf_printf(
		    s, "%shttp://%s", i ? ", " : "", p->parents[i].text);
}

/* The first line of a parent_auth file, without its end of line. */
static char *
read_secret(const char *path, char **cause)
{
	char buf[1024];
	struct stat st;
	FILE *f = fopen(path, "r");
	char *line = NULL;

	if (f == NULL) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		*cause = xasprintf("%s is readable by group or others "
				   "(chmod 600 it)",
		    path);
	else if (fgets(buf, sizeof buf, f) == NULL)
		*cause = xasprintf("%s is empty", path);
	else {
		buf[strcspn(buf, "\r\n")] = '\0';
		line = xstrdup(buf);
	}
	OPENSSL_cleanse(buf, sizeof buf);
	fclose(f);
	return line;
}

/*
 * `parent_auth`: user:password, or the absolute path of a file whose
 * first line is user:password; kept as the Proxy-Authorization value.
 */
static int
p_parent_auth(struct config *c, const struct key_def *k, void *b, const char *v,
    char **cause)
{
	struct policy *p = b;
	char *cred = NULL, *colon;
	unsigned char *out;
	size_t n;
	int rc = -1;

	p->parent_auth = "";
	p->parent_auth_src = "";
	if (*v == '\0')
		return 0;
	if (*v == '/') {
		if ((cred = read_secret(v, cause)) == NULL)
			return -1;
	} else
		cred = xstrdup(v);
	n = strlen(cred);
	colon = strchr(cred, ':');
	if (colon == NULL || colon == cred) {
		/* (never the value: it may be a password) */
		*cause = xstrdup(*v == '/'
			? "the file's first line is not user:password"
			: "not user:password, nor an absolute file path");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)cred[i] < 0x20 || cred[i] == 0x7f) {
			*cause = xstrdup("a control character in the "
					 "credentials");
			goto out;
		}
	out = xmalloc(6 + 4 * ((n + 2) / 3) + 1);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock(out + 6, (const unsigned char *)cred, (int)n);
	p->parent_auth = config_own(c, out);
	/* (credentials written inline are not kept as written) */
	p->parent_auth_src = *v == '/' ? config_own(c, xstrdup(v)) : "(set)";
	rc = 0;
out:
	OPENSSL_cleanse(cred, n);
	free(cred);
	return rc;
}

/* A path is shown; credentials written inline never are. */
static void
o_parent_auth(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct policy *p = b;

	sbuf_puts(s, p->parent_auth_src);
}

static void
o_origin(const struct key_def *k, const void *b, struct sbuf *s)
{
	const struct gateway *g = b;

	sbuf_puts(s, g->origin != NULL ? g->origin : "");
}

static const char *const log_formats[] = {"text", "json", NULL};
static const char *const affinities[] = {"off", "auto", NULL};
static const char *const log_levels[] = {
    "error", "warn", "info", "debug", NULL};
static const char *const backoffs[] = {
    "exponential", "random", "list", "fibonacci", "jitter", NULL};
static const char *const holds[] = {"off", "wait", "fail", NULL};
static const char *const lanes[] = {"raw", "evhttp", NULL};
static const char *const auths[] = {"off", "basic", NULL};
static const char *const forwardeds[] = {
    "none", "xff", "rfc7239", "both", NULL};

#define PX(f) offsetof(struct proxy_config, f)
#define TX(f) offsetof(struct tls_config, f)
#define PO(f) offsetof(struct policy, f)
#define GX(f) offsetof(struct gateway, f)
#define MS_MAX (30ULL * 24 * 3600 * 1000)

#define K(n, sc, d, h, p, o, off, mn, mx)                                      \
	{                                                                      \
		n, sc, d, h, p, o, off, mn, mx, NULL                           \
	}
#define KE(n, sc, d, h, off, names)                                            \
	{                                                                      \
		n, sc, d, h, p_enum, o_enum, off, 0, 0, names                  \
	}

const struct key_def config_keys[] = {
    K("listen", SCOPE_PROXY, "127.0.0.1:3128",
	"addresses to listen on; [::1]:3128 for IPv6", p_listen, o_listen, 0, 0,
	0),
    K("workers", SCOPE_PROXY, "auto",
	"worker threads, each with its own event loop; auto = CPU count",
	p_workers, o_workers, PX(workers), 1, 1024),
    KE("cpu_affinity", SCOPE_PROXY, "off",
	"off, or auto: worker i runs only on the i-th CPU the process may use",
	PX(cpu_affinity), affinities),
    KE("lane", SCOPE_PROXY, "raw",
	"raw: requests but CONNECT are parsed and forwarded by retryproxy's "
	"own code; evhttp: by libevent's where it can (so are those of a "
	"route that hedges, peeks at bodies or has a parent)",
	PX(lane), lanes),
    K("allow", SCOPE_PROXY, "127.0.0.0/8, ::1",
	"client addresses (CIDR) that may use the proxy; others get 403",
	p_cidrs, o_cidrs, PX(allow), 0, 0),
    K("connect_ports", SCOPE_PROXY, "443",
	"ports a CONNECT may reach; * = any; others get 403", p_ports, o_ports,
	PX(connect_ports), 0, 0),
    K("deny", SCOPE_PROXY, "",
	"destination addresses (CIDR, checked after DNS) never contacted",
	p_cidrs, o_cidrs, PX(deny), 0, 0),
    K("avoid_failed_address", SCOPE_PROXY, "10s",
	"how long an upstream address that refused or timed out a connect "
	"is tried last; 0 = off",
	p_duration, o_duration, PX(avoid_failed_address_ms), 0, MS_MAX),
    K("max_request_body", SCOPE_PROXY, "16M",
	"request bodies are held up to this for re-sending; larger stream",
	p_size, o_size, PX(max_request_body), 0, 1ULL << 40),
    K("max_buffered", SCOPE_PROXY, "256M",
	"request bodies held at once, all clients; past it bodies stream",
	p_size, o_size, PX(max_buffered), 0, 1ULL << 50),
    K("max_upload", SCOPE_PROXY, "0",
	"largest request body accepted (0 = no limit); larger get 413", p_size,
	o_size, PX(max_upload), 0, 1ULL << 50),
    K("max_header_size", SCOPE_PROXY, "64K",
	"request or response header block; larger: 431 / 502", p_size, o_size,
	PX(max_header_size), 1024, 16ULL << 20),
    K("max_connections", SCOPE_PROXY, "4096",
	"client connections at once; beyond it new ones wait", p_uint, o_uint,
	PX(max_connections), 1, 1000000),
    K("client_timeout", SCOPE_PROXY, "60s",
	"idle keep-alive and slow-request limit on client connections",
	p_duration, o_duration, PX(client_timeout_ms), 1, MS_MAX),
    K("shutdown_timeout", SCOPE_PROXY, "30s",
	"how long SIGTERM waits for requests in flight", p_duration, o_duration,
	PX(shutdown_timeout_ms), 0, MS_MAX),
    K("access_log", SCOPE_PROXY, "stderr", "stderr, off, or a file path",
	p_string, o_string, PX(access_log), 1, 0),
    KE("access_log_format", SCOPE_PROXY, "text",
	"text or json (one object a line)", PX(access_log_format), log_formats),
    KE("log_level", SCOPE_PROXY, "info", "error, warn, info or debug",
	PX(log_level), log_levels),
    K("admin", SCOPE_PROXY, "off",
	"address for GET /metrics, /healthz and /config; off = none", p_admin,
	o_admin, 0, 0, 0),
    KE("auth", SCOPE_PROXY, "off",
	"off, or basic: clients must send Proxy-Authorization: Basic for a "
	"user of auth_file",
	PX(auth), auths),
    K("auth_file", SCOPE_PROXY, "",
	"users for auth = basic: user:hash lines (htpasswd -B, -2 or -5); "
	"not writable by group or others",
	p_path, o_string, PX(auth_file), 0, 0),
    K("via", SCOPE_PROXY, "yes",
	"add Via: 1.x retryproxy (x: as received) to forwarded messages",
	p_bool, o_bool, PX(via), 0, 0),

    K("trust", SCOPE_TLS, "system",
	"CA bundle that verifies upstream certificates: system or a PEM path",
	p_string, o_string, TX(trust), 1, 0),
    K("ca_cert", SCOPE_TLS, "",
	"PEM CA certificate that signs interception certificates", p_path,
	o_string, TX(ca_cert), 0, 0),
    K("ca_key", SCOPE_TLS, "",
	"PEM private key of ca_cert (mode 0600 or stricter)", p_path, o_string,
	TX(ca_key), 0, 0),

    K("attempts", SCOPE_POLICY, "3",
	"total attempts including the first, 1..100 (1 = no retries)", p_uint,
	o_uint, PO(attempts), 1, 100),
    KE("backoff", SCOPE_POLICY, "exponential",
	"exponential, random, list, fibonacci or jitter", PO(backoff),
	backoffs),
    K("start_timeout", SCOPE_POLICY, "100ms",
	"exponential, jitter: the first delay", p_duration, o_duration,
	PO(start_timeout_ms), 0, MS_MAX),
    K("factor", SCOPE_POLICY, "2", "exponential, jitter: growth per retry",
	p_double, o_double, PO(factor), 0, 1000),
    K("max_timeout", SCOPE_POLICY, "30s",
	"clamp on every delay (random: upper bound)", p_duration, o_duration,
	PO(max_timeout_ms), 0, MS_MAX),
    K("min_timeout", SCOPE_POLICY, "100ms", "random: lower bound", p_duration,
	o_duration, PO(min_timeout_ms), 0, MS_MAX),
    K("timeouts", SCOPE_POLICY, "",
	"list: the delays in order; the last one repeats", p_timeouts,
	o_timeouts, 0, 0, 0),
    K("multiplier", SCOPE_POLICY, "1s", "fibonacci: unit of the sequence",
	p_duration, o_duration, PO(multiplier_ms), 0, MS_MAX),
    K("random_interval_size", SCOPE_POLICY, "2s",
	"jitter: width of the uniform random addition", p_duration, o_duration,
	PO(random_interval_ms), 0, MS_MAX),
    K("statuses", SCOPE_POLICY, "",
	"response statuses (100-599) retried in addition to 5xx", p_statuses,
	o_statuses, 0, 0, 0),
    K("retry_all_server_errors", SCOPE_POLICY, "yes", "every 5xx is retried",
	p_bool, o_bool, PO(retry_all_server_errors), 0, 0),
    K("methods", SCOPE_POLICY, "GET, HEAD, OPTIONS, TRACE, PUT, DELETE",
	"methods whose requests may be re-sent; * = all", p_methods, o_methods,
	0, 0, 0),
    K("errors", SCOPE_POLICY, "connect, dns, reset, timeout",
	"transport failures retried", p_errors, o_errors, 0, 0, 0),
    K("idempotency_header", SCOPE_POLICY, "Idempotency-Key",
	"a request carrying this header is retried like an idempotent one",
	p_header_name, o_string, PO(idempotency_header), 0, 0),
    K("retry_if_header", SCOPE_POLICY, "",
	"Name: value list; a response carrying one is retried (* = any)",
	p_headers, o_headers, 0, 0, 0),
    K("retry_if_body", SCOPE_POLICY, "",
	"POSIX extended regex; a response body (first 64K) matching it is retried",
	p_regex, o_regex, 0, 0, 0),
    K("connect_timeout", SCOPE_POLICY, "5s",
	"per attempt: DNS + TCP + TLS handshake", p_duration, o_duration,
	PO(connect_timeout_ms), 1, MS_MAX),
    K("per_try_timeout", SCOPE_POLICY, "30s",
	"per attempt: from sending to the end of the response headers",
	p_duration, o_duration, PO(per_try_timeout_ms), 1, MS_MAX),
    K("deadline", SCOPE_POLICY, "0",
	"total time for all attempts and delays; 0 = none", p_duration,
	o_duration, PO(deadline_ms), 0, MS_MAX),
    K("retry_after", SCOPE_POLICY, "yes",
	"on a retried 429/503, wait at least its Retry-After", p_bool, o_bool,
	PO(retry_after), 0, 0),
    K("max_retry_after", SCOPE_POLICY, "60s",
	"a longer Retry-After is not waited for: the response is returned",
	p_duration, o_duration, PO(max_retry_after_ms), 0, MS_MAX),
    K("retry_budget", SCOPE_POLICY, "20%",
	"retries may add at most this share of the route's requests (10 s)",
	p_percent, o_percent, PO(retry_budget_percent), 0, 0),
    K("retry_budget_min", SCOPE_POLICY, "10",
	"retries always allowed per second, whatever the budget", p_uint,
	o_uint, PO(retry_budget_min), 0, 1000000),
    K("fallbacks", SCOPE_POLICY, "",
	"origins (scheme://host[:port]) for attempts 2, 3, ...; the last repeats",
	p_fallbacks, o_fallbacks, 0, 0, 0),
    K("tls", SCOPE_POLICY, "no",
	"forward plain http requests to the origin over TLS", p_bool, o_bool,
	PO(tls), 0, 0),
    K("verify", SCOPE_POLICY, "yes",
	"verify upstream certificates and host names", p_bool, o_bool,
	PO(verify), 0, 0),
    K("intercept", SCOPE_POLICY, "no",
	"terminate CONNECT here with a certificate from [tls] ca_cert", p_bool,
	o_bool, PO(intercept), 0, 0),
    K("client_overrides", SCOPE_POLICY, "yes",
	"honour the X-Retry-Attempts request header", p_bool, o_bool,
	PO(client_overrides), 0, 0),
    K("attempts_limit", SCOPE_POLICY, "10",
	"the most attempts X-Retry-Attempts may ask for", p_uint, o_uint,
	PO(attempts_limit), 1, 100),
    K("report_attempts", SCOPE_POLICY, "no",
	"add X-Retry-Attempts: N (attempts made) to responses", p_bool, o_bool,
	PO(report_attempts), 0, 0),
    K("attempt_header", SCOPE_POLICY, "",
	"a header carrying the 1-based attempt number upstream", p_header_name,
	o_string, PO(attempt_header), 0, 0),
    K("warm_reuse", SCOPE_POLICY, "yes",
	"requests that may not be re-sent may ride a pooled connection idle "
	"for less than half the origin's keep-alive",
	p_bool, o_bool, PO(warm_reuse), 0, 0),
    KE("hold", SCOPE_POLICY, "off",
	"off; wait or fail: after a 429/503 with Retry-After, new requests to "
	"that origin wait until then, or get its status at once",
	PO(hold), holds),
    K("retry_after_headers", SCOPE_POLICY, "",
	"headers read as Retry-After when a 429/503 has none: seconds, or a "
	"Unix time (X-RateLimit-Reset, RateLimit-Reset)",
	p_header_names, o_header_names, 0, 0, 0),
    K("resume", SCOPE_POLICY, "yes",
	"a GET whose body breaks is finished with Range/If-Range when its "
	"validator is strong (else truncated)",
	p_bool, o_bool, PO(resume), 0, 0),
    K("resume_max", SCOPE_POLICY, "3",
	"the most continuations one response may use (each is an attempt)",
	p_uint, o_uint, PO(resume_max), 0, 100),
    K("body_timeout", SCOPE_POLICY, "30s",
	"the longest wait for more of a response body once the client "
	"receives it",
	p_duration, o_duration, PO(body_timeout_ms), 1, MS_MAX),
    K("eject_after", SCOPE_POLICY, "0",
	"consecutive failures (connect, reset, timeout, 5xx) after which an "
	"origin is ejected; 0 = never",
	p_uint, o_uint, PO(eject_after), 0, 1000),
    K("eject_percent", SCOPE_POLICY, "0%",
	"an origin whose failures (as for eject_after) are at least this "
	"share of its attempts of the last 10 s is ejected; 0% = never",
	p_whole_percent, o_whole_percent, PO(eject_percent), 0, 100),
    K("eject_min_attempts", SCOPE_POLICY, "10",
	"the attempts to an origin in 10 s before eject_percent judges it",
	p_uint, o_uint, PO(eject_min_attempts), 1, 100000),
    K("eject_time", SCOPE_POLICY, "30s",
	"how long an ejection lasts, times the ejections in a row", p_duration,
	o_duration, PO(eject_time_ms), 1, MS_MAX),
    K("eject_max_time", SCOPE_POLICY, "300s", "the longest ejection",
	p_duration, o_duration, PO(eject_max_time_ms), 1, MS_MAX),
    K("parent", SCOPE_POLICY, "direct",
	"parent proxies (http://host:port, ...) tried in order, a failing one "
	"avoided for a while; direct = none",
	p_parent, o_parent, 0, 0, 0),
    K("parent_auth", SCOPE_POLICY, "",
	"user:password, or an absolute path of a file (mode 600) holding it: "
	"Proxy-Authorization: Basic sent to the parent",
	p_parent_auth, o_parent_auth, 0, 0, 0),
    K("origin", SCOPE_GATEWAY, "",
	"where the gateway's requests go: http(s)://host[:port][/path]; the "
	"request's path follows the path prefix",
	p_origin, o_origin, 0, 0, 0),
    KE("forwarded", SCOPE_GATEWAY, "xff",
	"fields that name the client to the origin: xff (X-Forwarded-For), "
	"rfc7239 (Forwarded), both or none",
	GX(forwarded), forwardeds),
    K("hedge_after", SCOPE_POLICY, "off",
	"off, a duration, or pNN: a request that may be re-sent and has no "
	"response head by then is sent again, the first head wins",
	p_hedge_after, o_hedge_after, PO(hedge_after), 1, MS_MAX),
    K("hedge_max", SCOPE_POLICY, "1",
	"the most extra copies (hedges) one request may send", p_uint, o_uint,
	PO(hedge_max), 0, 3),
};
const size_t config_nkeys_ = RP_NELEM(config_keys);

const struct key_def *
config_key_find(enum key_scope scope, const char *name)
{
	for (size_t i = 0; i < config_nkeys_; i++)
		if (config_keys[i].scope == scope &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

const char *
config_scope_name(enum key_scope s)
{
	return s == SCOPE_PROXY	 ? "proxy"
	    : s == SCOPE_TLS	 ? "tls"
	    : s == SCOPE_GATEWAY ? "gateway ADDR"
				 : "default";
}

size_t
config_nkeys(void)
{
	return config_nkeys_;
}

const char *
config_key_name(size_t i)
{
	return config_keys[i].name;
}

const char *
config_key_section(size_t i)
{
	return config_scope_name(config_keys[i].scope);
}

const char *
config_key_default(size_t i)
{
	return config_keys[i].def;
}

const char *
config_key_help(size_t i)
{
	return config_keys[i].help;
}
