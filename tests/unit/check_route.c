/*
 * Unit tests for route.c: parsing [route PATTERN] patterns, matching a
 * request's host, port and path, the specificity order of retryproxy.ini(5)
 * and the choice of the most specific route.  Tables of rows; every
 * message names the failing row.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "util.h"

#define MAXPAT 6

struct parse_ok_row {
	const char *in;
	const char *host;
	int wildcard;
	unsigned port;
	const char *path;
};

static const struct parse_ok_row parse_ok_rows[] = {
    {"api.example.com", "api.example.com", 0, 0, ""},
    {"API.Example.com:8443", "api.example.com", 0, 8443, ""},
    {"*.example.com", "example.com", 1, 0, ""},
    {"*.Example.COM", "example.com", 1, 0, ""},
    {"api.example.com/v2/", "api.example.com", 0, 0, "/v2/"},
    {"*.example.com:8080/x", "example.com", 1, 8080, "/x"},
    {"[::1]", "::1", 0, 0, ""},
    {"[::1]:8080/p", "::1", 0, 8080, "/p"},
    {"[2001:DB8::1]:443", "2001:db8::1", 0, 443, ""},
    {"10.0.0.1:81", "10.0.0.1", 0, 81, ""},
    {"h:1", "h", 0, 1, ""},
    {"h:65535", "h", 0, 65535, ""},
    {"example.com/", "example.com", 0, 0, "/"},
};

START_TEST(test_parse_ok)
{
	const struct parse_ok_row *r = &parse_ok_rows[_i];
	struct route_pattern p;
	const char *cause = NULL;
	int rc;

	memset(&p, 0, sizeof p);
	rc = route_pattern_parse(r->in, &p, &cause);
	ck_assert_msg(rc == 0, "parse \"%s\": rc %d (%s)", r->in, rc,
	    cause != NULL ? cause : "no cause");
	ck_assert_msg(p.host != NULL && strcmp(p.host, r->host) == 0,
	    "parse \"%s\": host \"%s\", want \"%s\"", r->in,
	    p.host != NULL ? p.host : "(null)", r->host);
	ck_assert_msg(p.wildcard == (r->wildcard != 0),
	    "parse \"%s\": wildcard %d, want %d", r->in, p.wildcard,
	    r->wildcard);
	ck_assert_msg(p.port == r->port, "parse \"%s\": port %u, want %u",
	    r->in, p.port, r->port);
	ck_assert_msg(p.path != NULL && strcmp(p.path, r->path) == 0,
	    "parse \"%s\": path \"%s\", want \"%s\"", r->in,
	    p.path != NULL ? p.path : "(null)", r->path);
	ck_assert_msg(p.path_len == strlen(r->path),
	    "parse \"%s\": path_len %zu, want %zu", r->in, p.path_len,
	    strlen(r->path));
	route_pattern_free(&p);
}
END_TEST

static const char *const parse_bad_rows[] = {
    "",
    "*.",
    "*",
    "a*.b.com",
    "h:0",
    "h:99999",
    "h:65536",
    "h:abc",
    "[::1",
    "host/with space",
    "/path-only",
};

START_TEST(test_parse_bad)
{
	const char *in = parse_bad_rows[_i];
	struct route_pattern p;
	const char *cause = NULL;
	int rc;

	memset(&p, 0, sizeof p);
	rc = route_pattern_parse(in, &p, &cause);
	ck_assert_msg(rc == -1, "parse \"%s\": rc %d, want -1", in, rc);
	ck_assert_msg(
	    cause != NULL && *cause != '\0', "parse \"%s\": no cause", in);
}
END_TEST

/* Parse a pattern the table says is valid; fail the test if it is not. */
static void
must_parse(const char *in, struct route_pattern *p)
{
	const char *cause = NULL;

	memset(p, 0, sizeof *p);
	ck_assert_msg(route_pattern_parse(in, p, &cause) == 0,
	    "pattern \"%s\" does not parse: %s", in,
	    cause != NULL ? cause : "no cause");
}

struct match_row {
	const char *pat;
	const char *host;
	unsigned port;
	const char *path;
	int want;
};

static const struct match_row match_rows[] = {
    {"api.example.com", "api.example.com", 443, "/", 1},
    {"api.example.com", "api.example.com", 80, "/x", 1},
    {"api.example.com", "api.example.com", 1, "/", 1},
    {"api.example.com", "api.example.com", 65535, "/", 1},
    {"api.example.com", "API.Example.COM", 443, "/", 1},
    {"API.EXAMPLE.COM", "api.example.com", 443, "/", 1},
    {"api.example.com", "other.example.com", 443, "/", 0},
    {"api.example.com", "xapi.example.com", 443, "/", 0},
    {"api.example.com", "pi.example.com", 443, "/", 0},
    {"api.example.com", "api.example.com.evil", 443, "/", 0},
    {"api.example.com", "api.example.co", 443, "/", 0},
    {"*.example.com", "a.example.com", 443, "/", 1},
    {"*.example.com", "a.b.example.com", 443, "/", 1},
    {"*.example.com", "A.Example.Com", 443, "/", 1},
    {"*.example.com", "example.com", 443, "/", 0},
    {"*.example.com", "badexample.com", 443, "/", 0},
    {"*.example.com", "xexample.com", 443, "/", 0},
    {"*.example.com", "a.example.org", 443, "/", 0},
    {"*.example.com", "example.com.a", 443, "/", 0},
    {"api.example.com:8443", "api.example.com", 8443, "/", 1},
    {"api.example.com:8443", "api.example.com", 443, "/", 0},
    {"api.example.com/v2/", "api.example.com", 443, "/v2/x", 1},
    {"api.example.com/v2/", "api.example.com", 443, "/v2/", 1},
    {"api.example.com/v2/", "api.example.com", 443, "/V2/x", 0},
    {"api.example.com/v2/", "api.example.com", 443, "/v1", 0},
    {"api.example.com/v2/", "api.example.com", 443, "/v2", 0},
    {"api.example.com/v2/", "api.example.com", 443, "/", 0},
    {"api.example.com/v2/", "b.example.com", 443, "/v2/x", 0},
    {"*.example.com:8080/x", "a.example.com", 8080, "/xyz", 1},
    {"*.example.com:8080/x", "a.example.com", 8081, "/xyz", 0},
    {"*.example.com:8080/x", "a.example.com", 8080, "/y", 0},
    {"*.example.com:8080/x", "example.com", 8080, "/x", 0},
    {"[::1]", "::1", 443, "/", 1},
    {"[::1]:8080/p", "::1", 8080, "/p/q", 1},
    {"[::1]:8080/p", "::2", 8080, "/p/q", 0},
    {"[::1]:8080/p", "::1", 8081, "/p/q", 0},
    {"10.0.0.1:81", "10.0.0.1", 81, "/", 1},
    {"10.0.0.1:81", "10.0.0.10", 81, "/", 0},
    {"10.0.0.1:81", "10.0.0.1", 80, "/", 0},
};

START_TEST(test_matches)
{
	const struct match_row *r = &match_rows[_i];
	struct route_pattern p;
	bool got;

	must_parse(r->pat, &p);
	got = route_pattern_matches(&p, r->host, r->port, r->path);
	ck_assert_msg(got == (r->want != 0),
	    "\"%s\" vs host \"%s\" port %u path \"%s\": got %d, want %d",
	    r->pat, r->host, r->port, r->path, got, r->want);
	route_pattern_free(&p);
}
END_TEST

struct cmp_row {
	const char *a;
	const char *b;
	int want; /* sign of cmp(a, b) */
};

static const struct cmp_row cmp_rows[] = {
    /* A longer path prefix beats everything else. */
    {"api.example.com/v2/x", "api.example.com/v2/", -1},
    {"api.example.com/v2/", "api.example.com:8443", -1},
    {"*.example.com/v2/", "api.example.com", -1},
    {"*.example.com:8080/x", "api.example.com:8443", -1},
    {"h:81", "h/a", 1},
    /* Then an exact host over a wildcard. */
    {"api.example.com", "*.example.com", -1},
    {"api.example.com", "*.api.example.com", -1},
    {"api.example.com:8443", "*.example.com", -1},
    {"a.com", "*.api.example.com:8080", -1},
    /* Then a longer wildcard domain over a shorter. */
    {"*.api.example.com", "*.example.com", -1},
    {"*.example.com:8080", "*.api.example.com", 1},
    /* Then a port over none. */
    {"api.example.com:8443", "api.example.com", -1},
    {"*.example.com:8080", "*.example.com", -1},
    {"[::1]:8080", "[::1]", -1},
    /* Equal specificity. */
    {"api.example.com", "other.example.com", 0},
    {"a.com", "api.example.com", 0},
    {"api.example.com:1", "api.example.com:2", 0},
    {"API.example.com", "api.example.com", 0},
    {"*.example.com", "*.example.org", 0},
    {"a.com/v2/", "b.com/v3/", 0},
};

static int
sign(int v)
{
	return (v > 0) - (v < 0);
}

START_TEST(test_cmp)
{
	const struct cmp_row *r = &cmp_rows[_i];
	struct route_pattern a, b;
	int ab, ba;

	must_parse(r->a, &a);
	must_parse(r->b, &b);
	ab = sign(route_pattern_cmp(&a, &b));
	ba = sign(route_pattern_cmp(&b, &a));
	ck_assert_msg(ab == r->want, "cmp(\"%s\", \"%s\"): %d, want %d", r->a,
	    r->b, ab, r->want);
	ck_assert_msg(ba == -r->want, "cmp(\"%s\", \"%s\"): %d, want %d", r->b,
	    r->a, ba, -r->want);
	route_pattern_free(&a);
	route_pattern_free(&b);
}
END_TEST

struct equal_row {
	const char *a;
	const char *b;
	int want;
};

static const struct equal_row equal_rows[] = {
    {"api.example.com", "api.example.com", 1},
    {"API.Example.com", "api.example.com", 1},
    {"*.a.com", "*.A.COM", 1},
    {"[::1]:8080/p", "[::1]:8080/p", 1},
    {"Api.Example.Com:8443/v2/", "api.example.com:8443/v2/", 1},
    {"api.example.com:8443", "api.example.com", 0},
    {"a.com:80", "a.com:81", 0},
    {"*.example.com", "example.com", 0},
    {"a.com/v2", "a.com/v3", 0},
    {"a.com", "a.com/", 0},
    {"a.com", "b.com", 0},
};

START_TEST(test_equal)
{
	const struct equal_row *r = &equal_rows[_i];
	struct route_pattern a, b;
	bool ab, ba;

	must_parse(r->a, &a);
	must_parse(r->b, &b);
	ab = route_pattern_equal(&a, &b);
	ba = route_pattern_equal(&b, &a);
	ck_assert_msg(
	    ab == (r->want != 0), "equal(\"%s\", \"%s\"): %d", r->a, r->b, ab);
	ck_assert_msg(
	    ba == (r->want != 0), "equal(\"%s\", \"%s\"): %d", r->b, r->a, ba);
	route_pattern_free(&a);
	route_pattern_free(&b);
}
END_TEST

struct format_row {
	const char *in;
	const char *want; /* NULL: only check that it parses back equal */
};

static const struct format_row format_rows[] = {
    {"api.example.com", "api.example.com"},
    {"API.Example.com:8443", "api.example.com:8443"},
    {"*.Example.com/x", "*.example.com/x"},
    {"[::1]:8080/p", "[::1]:8080/p"},
    {"10.0.0.1:81", "10.0.0.1:81"},
    {"[::1]", NULL},
    {"*.example.com:8080/x", NULL},
    {"api.example.com/v2/", NULL},
};

START_TEST(test_format)
{
	const struct format_row *r = &format_rows[_i];
	struct route_pattern p, q;
	const char *cause = NULL;
	char buf[512];

	must_parse(r->in, &p);
	memset(buf, 0, sizeof buf);
	route_pattern_format(&p, buf, sizeof buf);
	if (r->want != NULL)
		ck_assert_msg(strcmp(buf, r->want) == 0,
		    "format \"%s\": \"%s\", want \"%s\"", r->in, buf, r->want);
	memset(&q, 0, sizeof q);
	ck_assert_msg(route_pattern_parse(buf, &q, &cause) == 0,
	    "format \"%s\" gave \"%s\", which does not parse: %s", r->in, buf,
	    cause != NULL ? cause : "no cause");
	ck_assert_msg(route_pattern_equal(&p, &q),
	    "format \"%s\" gave \"%s\", which parses to another pattern", r->in,
	    buf);
	route_pattern_free(&p);
	route_pattern_free(&q);
}
END_TEST

struct select_row {
	const char *name;
	const char *pats[MAXPAT]; /* NULL-terminated */
	const char *host;
	unsigned port;
	const char *path;
	int want; /* index into pats, -1 = none */
};

static const struct select_row select_rows[] = {
    {"host:port wins on its port", {"api.example.com", "api.example.com:8443"},
	"api.example.com", 8443, "/", 1},
    {"host on another port", {"api.example.com", "api.example.com:8443"},
	"api.example.com", 443, "/", 0},
    {"longer wildcard", {"*.example.com", "*.api.example.com"},
	"x.api.example.com", 443, "/", 1},
    {"shorter wildcard", {"*.example.com", "*.api.example.com"},
	"x.example.com", 443, "/", 0},
    {"apex of the longer wildcard", {"*.example.com", "*.api.example.com"},
	"api.example.com", 443, "/", 0},
    {"exact over wildcard", {"*.example.com", "api.example.com"},
	"api.example.com", 443, "/", 1},
    {"wildcard for another host", {"*.example.com", "api.example.com"},
	"b.example.com", 443, "/", 0},
    {"apex matches neither", {"*.example.com", "api.example.com"},
	"example.com", 443, "/", -1},
    {"path prefix beats port", {"api.example.com:8443", "api.example.com/v2/"},
	"api.example.com", 8443, "/v2/x", 1},
    {"port when the path differs",
	{"api.example.com:8443", "api.example.com/v2/"}, "api.example.com",
	8443, "/v1", 0},
    {"neither", {"api.example.com:8443", "api.example.com/v2/"},
	"api.example.com", 443, "/v1", -1},
    {"wildcard path beats exact", {"*.example.com/v2/", "api.example.com"},
	"api.example.com", 443, "/v2/a", 0},
    {"exact when the path differs", {"*.example.com/v2/", "api.example.com"},
	"api.example.com", 443, "/v3", 1},
    {"longer path prefix", {"api.example.com/v2/", "api.example.com/v2/admin/"},
	"api.example.com", 443, "/v2/admin/x", 1},
    {"shorter path prefix",
	{"api.example.com/v2/", "api.example.com/v2/admin/"}, "api.example.com",
	443, "/v2/x", 0},
    {"no match", {"a.com"}, "b.com", 80, "/", -1},
    {"no patterns", {NULL}, "a.com", 80, "/", -1},
    {"pattern case", {"API.EXAMPLE.COM"}, "api.example.com", 80, "/", 0},
    {"ipv6 path", {"[::1]", "[::1]:8080/p"}, "::1", 8080, "/p", 1},
    {"ipv6 other path", {"[::1]", "[::1]:8080/p"}, "::1", 8080, "/q", 0},
    {"five: path",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"api.example.com", 8443, "/v2/x", 4},
    {"five: port",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"api.example.com", 8443, "/", 3},
    {"five: exact",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"api.example.com", 80, "/", 2},
    {"five: long wildcard",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"x.api.example.com", 80, "/", 1},
    {"five: short wildcard",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"y.example.com", 80, "/v2/", 0},
    {"five: none",
	{"*.example.com", "*.api.example.com", "api.example.com",
	    "api.example.com:8443", "api.example.com/v2/"},
	"example.com", 80, "/", -1},
};

static int
cmp_ptr(const void *a, const void *b)
{
	const struct route_pattern *const *pa = a;
	const struct route_pattern *const *pb = b;

	return route_pattern_cmp(*pa, *pb);
}

START_TEST(test_select)
{
	const struct select_row *r = &select_rows[_i];
	struct route_pattern pats[MAXPAT];
	const struct route_pattern *sorted[MAXPAT];
	size_t n;
	int got;

	for (n = 0; n < MAXPAT && r->pats[n] != NULL; n++) {
		must_parse(r->pats[n], &pats[n]);
		sorted[n] = &pats[n];
	}
	qsort(sorted, n, sizeof sorted[0], cmp_ptr);
	got = route_select(sorted, n, r->host, r->port, r->path);
	if (r->want < 0)
		ck_assert_msg(got == -1, "%s: selected %d (\"%s\"), want none",
		    r->name, got,
		    got >= 0 && (size_t)got < n ? sorted[got]->host : "?");
	else {
		ck_assert_msg(got >= 0 && (size_t)got < n,
		    "%s: selected %d, want \"%s\"", r->name, got,
		    r->pats[r->want]);
		ck_assert_msg(sorted[got] == &pats[r->want],
		    "%s: selected a pattern for \"%s\", want \"%s\"", r->name,
		    sorted[got]->host, r->pats[r->want]);
	}
	while (n > 0)
		route_pattern_free(&pats[--n]);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_ok, 0, RP_NELEM(parse_ok_rows));
	tcase_add_loop_test(tc, test_parse_bad, 0, RP_NELEM(parse_bad_rows));
	tcase_add_loop_test(tc, test_format, 0, RP_NELEM(format_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_loop_test(tc, test_matches, 0, RP_NELEM(match_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_loop_test(tc, test_cmp, 0, RP_NELEM(cmp_rows));
	tcase_add_loop_test(tc, test_equal, 0, RP_NELEM(equal_rows));
	tcase_add_loop_test(tc, test_select, 0, RP_NELEM(select_rows));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
