/*
 * check_http: request-target and authority parsing, header-name and
 * header-value validation, hop-by-hop classification, list tokens,
 * Retry-After and HTTP-date parsing, method tokens.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "http.h"
#include "util.h"

/* 2015-10-21 07:28:00 UTC, the instant of the dates below. */
#define DATE_S INT64_C(1445412480)
#define DATE_MS ((uint64_t)DATE_S * 1000)

START_TEST(test_url_parse_ok)
{
	static const struct {
		const char *in;
		enum http_scheme scheme;
		const char *host;
		unsigned port;
		bool port_given;
		bool ipv6;
		const char *path;
		bool path_in_input; /* path must point at the first '/' */
	} t[] = {
	    {"http://Example.COM:8080/p?q=1", HTTP_SCHEME_HTTP, "example.com",
		8080, true, false, "/p?q=1", true},
	    {"http://h", HTTP_SCHEME_HTTP, "h", 80, false, false, "/", false},
	    {"https://h/x", HTTP_SCHEME_HTTPS, "h", 443, false, false, "/x",
		true},
	    {"HTTP://h/", HTTP_SCHEME_HTTP, "h", 80, false, false, "/", true},
	    {"HtTpS://h/", HTTP_SCHEME_HTTPS, "h", 443, false, false, "/",
		true},
	    {"http://[::1]:8080/p", HTTP_SCHEME_HTTP, "::1", 8080, true, true,
		"/p", true},
	    {"http://[FE80::1]/", HTTP_SCHEME_HTTP, "fe80::1", 80, false, true,
		"/", true},
	    {"http://h/p#frag", HTTP_SCHEME_HTTP, "h", 80, false, false, "/p",
		true},
	    {"http://h/a?b=c/d#x", HTTP_SCHEME_HTTP, "h", 80, false, false,
		"/a?b=c/d", true},
	    {"http://h:80/", HTTP_SCHEME_HTTP, "h", 80, true, false, "/", true},
	    {"https://H.Example:8443", HTTP_SCHEME_HTTPS, "h.example", 8443,
		true, false, "/", false},
	    {"http://10.0.0.1:3128/a/b", HTTP_SCHEME_HTTP, "10.0.0.1", 3128,
		true, false, "/a/b", true},
	    {"http://h:65535/", HTTP_SCHEME_HTTP, "h", 65535, true, false, "/",
		true},
	    {"http://h:1/", HTTP_SCHEME_HTTP, "h", 1, true, false, "/", true},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct http_url u;
		const char *cause = NULL;
		size_t want_len = strlen(t[i].path);
		int rc;

		memset(&u, 0xa5, sizeof u);
		rc = http_url_parse(t[i].in, &u, &cause);
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		ck_assert_msg(u.scheme == t[i].scheme,
		    "row %zu \"%s\": want scheme %d, got %d", i, t[i].in,
		    (int)t[i].scheme, (int)u.scheme);
		ck_assert_msg(strcmp(u.host, t[i].host) == 0,
		    "row %zu \"%s\": want host \"%s\", got \"%.255s\"", i,
		    t[i].in, t[i].host, u.host);
		ck_assert_msg(u.port == t[i].port,
		    "row %zu \"%s\": want port %u, got %u", i, t[i].in,
		    t[i].port, u.port);
		ck_assert_msg(u.port_given == t[i].port_given,
		    "row %zu \"%s\": want port_given %d, got %d", i, t[i].in,
		    t[i].port_given, u.port_given);
		ck_assert_msg(u.host_is_ipv6 == t[i].ipv6,
		    "row %zu \"%s\": want host_is_ipv6 %d, got %d", i, t[i].in,
		    t[i].ipv6, u.host_is_ipv6);
		ck_assert_msg(u.path_len == want_len,
		    "row %zu \"%s\": want path_len %zu, got %zu", i, t[i].in,
		    want_len, u.path_len);
		ck_assert_msg(
		    u.path != NULL && memcmp(u.path, t[i].path, want_len) == 0,
		    "row %zu \"%s\": want path \"%s\", got \"%.*s\"", i,
		    t[i].in, t[i].path, (int)want_len,
		    u.path != NULL ? u.path : "");
		if (t[i].path_in_input) {
			const char *slash;

			slash = strchr(strstr(t[i].in, "://") + 3, '/');
			ck_assert_msg(u.path == slash,
			    "row %zu \"%s\": path is not in the input", i,
			    t[i].in);
		}
	}
}
END_TEST

START_TEST(test_url_parse_bad)
{
	static const char *const t[] = {
	    "http://user:pw@h/",
	    "https://user@h/",
	    "ftp://h/",
	    "http://",
	    "http:///p",
	    "http://:80/",
	    "http://h:0/",
	    "http://h:99999/",
	    "http://h:/",
	    "http://h:8a/",
	    "http://h/a b",
	    "http://h/\x01",
	    "http://h/a\tb",
	    "http://h/\x7f",
	    "http://h/\xc3\xa9",
	    "/origin-form",
	    "http://[::1/",
	    "",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct http_url u;
		const char *cause = NULL;
		int rc;

		rc = http_url_parse(t[i], &u, &cause);
		ck_assert_msg(
		    rc == -1, "row %zu \"%s\": want -1, got %d", i, t[i], rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i]);
	}
}
END_TEST

START_TEST(test_authority_parse)
{
	static const struct {
		const char *in;
		int ok;
		const char *host;
		unsigned port;
		bool ipv6;
	} t[] = {
	    {"example.com:443", 1, "example.com", 443, false},
	    {"Example.COM:8443", 1, "example.com", 8443, false},
	    {"[::1]:8443", 1, "::1", 8443, true},
	    {"10.0.0.1:22", 1, "10.0.0.1", 22, false},
	    {"h:65535", 1, "h", 65535, false},
	    {"example.com", 0, NULL, 0, false},
	    {":443", 0, NULL, 0, false},
	    {"h:0", 0, NULL, 0, false},
	    {"h:70000", 0, NULL, 0, false},
	    {"h:", 0, NULL, 0, false},
	    {"[::1]", 0, NULL, 0, false},
	    {"", 0, NULL, 0, false},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct http_url u;
		const char *cause = NULL;
		int rc;

		memset(&u, 0xa5, sizeof u);
		rc = http_authority_parse(t[i].in, &u, &cause);
		if (!t[i].ok) {
			ck_assert_msg(rc == -1,
			    "row %zu \"%s\": want -1, got %d", i, t[i].in, rc);
			ck_assert_msg(cause != NULL, "row %zu \"%s\": no cause",
			    i, t[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		ck_assert_msg(strcmp(u.host, t[i].host) == 0,
		    "row %zu \"%s\": want host \"%s\", got \"%.255s\"", i,
		    t[i].in, t[i].host, u.host);
		ck_assert_msg(u.port == t[i].port,
		    "row %zu \"%s\": want port %u, got %u", i, t[i].in,
		    t[i].port, u.port);
		ck_assert_msg(u.host_is_ipv6 == t[i].ipv6,
		    "row %zu \"%s\": want host_is_ipv6 %d, got %d", i, t[i].in,
		    t[i].ipv6, u.host_is_ipv6);
	}
}
END_TEST

struct pred_row {
	const char *in;
	bool want;
};

/* libevent 2.1.12 knows nine methods, exactly so spelt. */
START_TEST(test_method_evhttp_knows)
{
	static const char *const yes[] = {"GET", "POST", "HEAD", "PUT",
	    "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};
	static const char *const no[] = {"get", "Get", "PROPFIND", "MKCOL",
	    "PURGE", "GETX", "GE", "", "REPORT", "LOCK"};

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		ck_assert_msg(http_method_evhttp_knows(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(!http_method_evhttp_knows(no[i]), "%s", no[i]);
}
END_TEST

START_TEST(test_is_token)
{
	static const struct pred_row t[] = {
	    {"Content-Type", true},
	    {"X-A_b.c~!", true},
	    {"a", true},
	    {"!#$%&'*+-.^_`|~09AZaz", true},
	    {"", false},
	    {"Bad Name", false},
	    {"a:b", false},
	    {"a\tb", false},
	    {"a(b", false},
	    {"a,b", false},
	    {"a;b", false},
	    {"a=b", false},
	    {"a/b", false},
	    {"a\"b", false},
	    {"a{b", false},
	    {"a\x7f", false},
	    {"caf\xc3\xa9", false},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool got = http_is_token(t[i].in);

		ck_assert_msg(got == t[i].want,
		    "row %zu \"%s\": want %d, got %d", i, t[i].in, t[i].want,
		    got);
	}
}
END_TEST

START_TEST(test_value_is_valid)
{
	static const struct pred_row t[] = {
	    {"text/html", true},
	    {"a\tb", true},
	    {"", true},
	    {"text/html; charset=utf-8", true},
	    /* obs-text is not a CTL */
	    {"caf\xc3\xa9", true},
	    {"a\rb", false},
	    {"a\nb", false},
	    {"a\x01b", false},
	    {"a\x7f", false},
	    {"\x1f", false},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool got = http_value_is_valid(t[i].in);

		ck_assert_msg(got == t[i].want, "row %zu: want %d, got %d", i,
		    t[i].want, got);
	}
}
END_TEST

START_TEST(test_is_hop_by_hop)
{
	static const struct {
		const char *name;
		const char *conn;
		bool want;
	} t[] = {
	    {"Connection", NULL, true},
	    {"connection", NULL, true},
	    {"Keep-Alive", NULL, true},
	    {"KEEP-ALIVE", NULL, true},
	    {"Proxy-Connection", NULL, true},
	    {"proxy-connection", NULL, true},
	    {"Proxy-Authorization", NULL, true},
	    {"TE", NULL, true},
	    {"te", NULL, true},
	    {"Trailer", NULL, true},
	    {"Transfer-Encoding", NULL, true},
	    {"transfer-encoding", NULL, true},
	    {"Upgrade", NULL, true},
	    {"UPGRADE", NULL, true},
	    {"Content-Type", NULL, false},
	    {"Host", NULL, false},
	    {"Content-Length", NULL, false},
	    {"Trailers", NULL, false},
	    {"T", NULL, false},
	    {"X-Foo", "close, X-Foo", true},
	    {"x-foo", "close, X-Foo", true},
	    {"X-Foo", NULL, false},
	    {"X-Foo", "close", false},
	    {"X-Foob", "close, X-Foo", false},
	    {"Content-Type", "close, X-Foo", false},
	    {"Upgrade", "close", true},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool got = http_is_hop_by_hop(t[i].name, t[i].conn);

		ck_assert_msg(got == t[i].want,
		    "row %zu \"%s\" (Connection: %s): want %d, got %d", i,
		    t[i].name, t[i].conn != NULL ? t[i].conn : "none",
		    t[i].want, got);
	}
}
END_TEST

START_TEST(test_list_has_token)
{
	static const struct {
		const char *list;
		const char *token;
		bool want;
	} t[] = {
	    {"close, X-Foo", "x-foo", true},
	    {"close, X-Foo", "close", true},
	    {"keep-alive", "close", false},
	    {"closed", "close", false},
	    {"xclose", "close", false},
	    {"close-x", "close", false},
	    {"close", "close", true},
	    {"Close", "close", true},
	    {"a,close", "close", true},
	    {" close ,a", "close", true},
	    {"a, b ,c", "b", true},
	    {"a,\tclose", "close", true},
	    {"a,,close", "close", true},
	    {"", "close", false},
	    {"a, b", "c", false},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool got = http_list_has_token(t[i].list, t[i].token);

		ck_assert_msg(got == t[i].want,
		    "row %zu \"%s\" has \"%s\": want %d, got %d", i, t[i].list,
		    t[i].token, t[i].want, got);
	}
}
END_TEST

START_TEST(test_keepalive_timeout)
{
	static const struct {
		const char *in;
		uint64_t want_ms;
	} t[] = {
	    {NULL, 0},
	    {"", 0},
	    {"timeout=5", 5000},
	    {"timeout=5, max=100", 5000},
	    {"max=100, timeout=15", 15000},
	    {"Timeout=2", 2000},
	    {"TIMEOUT = 3 ,max=1", 3000},
	    {"timeout=\"4\"", 4000},
	    {"timeout=\"4", 0},
	    {"timeout=0", 0},
	    {"timeout=", 0},
	    {"timeout=x", 0},
	    {"timeout=5x", 0},
	    {"timeout=-5", 0},
	    {"timeout=86400", 86400000},
	    {"timeout=86401", 0},
	    {"timeout=99999999999999999999999", 0},
	    {"timeouts=9, timeout=1", 1000},
	    {"xtimeout=9", 0},
	    {"max=5", 0},
	    {"timeout", 0},
	    {",,timeout=7", 7000},
	    {"\ttimeout=7\t", 7000},
	};

	for (size_t i = 0; i < RP_NELEM(t); i++) {
		uint64_t got = http_keepalive_timeout_ms(t[i].in);

		ck_assert_msg(got == t[i].want_ms,
		    "row %zu \"%s\": want %llu, got %llu", i,
		    t[i].in != NULL ? t[i].in : "(null)",
		    (unsigned long long)t[i].want_ms, (unsigned long long)got);
	}
}
END_TEST

START_TEST(test_parse_retry_after)
{
	static const struct {
		const char *in;
		uint64_t now_ms;
		int rc;
		uint64_t want_ms;
	} t[] = {
	    {"120", DATE_MS, 0, 120000},
	    {"0", DATE_MS, 0, 0},
	    {" 5 ", DATE_MS, 0, 5000},
	    {"86400", DATE_MS, 0, 86400000},
	    {"-1", DATE_MS, -1, 0},
	    {"abc", DATE_MS, -1, 0},
	    {"1.5", DATE_MS, -1, 0},
	    {"", DATE_MS, -1, 0},
	    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS - 30000, 0, 30000},
	    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS - 500, 0, 500},
	    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS, 0, 0},
	    {"Wed, 21 Oct 2015 07:28:00 GMT", DATE_MS + 10000, 0, 0},
	    {"Wednesday, 21-Oct-15 07:28:00 GMT", DATE_MS - 30000, 0, 30000},
	    {"Wed Oct 21 07:28:00 2015", DATE_MS - 30000, 0, 30000},
	    {"Wed, 32 Oct 2015 07:28:00 GMT", DATE_MS - 30000, -1, 0},
	    {"Wed, 21 Foo 2015 07:28:00 GMT", DATE_MS - 30000, -1, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t ms = 424242;
		int rc;

		rc = http_parse_retry_after(t[i].in, t[i].now_ms, &ms);
		ck_assert_msg(rc == t[i].rc,
		    "row %zu \"%s\": want rc %d, got %d", i, t[i].in, t[i].rc,
		    rc);
		if (rc != 0)
			continue;
		ck_assert_msg(ms == t[i].want_ms,
		    "row %zu \"%s\": want %" PRIu64 " ms, got %" PRIu64, i,
		    t[i].in, t[i].want_ms, ms);
	}
}
END_TEST

/*
 * delay-seconds is 1*DIGIT: a value too large to hold is still a valid
 * Retry-After, and must exceed any max_retry_after so the response is
 * returned rather than retried on the ordinary schedule.
 */
START_TEST(test_parse_retry_after_huge)
{
	static const char *const t[] = {
	    "99999999999999999999",
	    "18446744073709551616",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t ms = 0;
		int rc;

		rc = http_parse_retry_after(t[i], DATE_MS, &ms);
		ck_assert_msg(
		    rc == 0, "row %zu \"%s\": want rc 0, got %d", i, t[i], rc);
		ck_assert_msg(ms >= UINT64_C(1000) * 86400 * 365 * 100,
		    "row %zu \"%s\": want a saturated delay, got %" PRIu64, i,
		    t[i], ms);
	}
}
END_TEST

/* X-RateLimit-Reset / RateLimit-Reset: delta seconds, or a Unix time. */
START_TEST(test_parse_rate_limit_reset)
{
	/* 2026-01-01T00:00:00Z */
	static const uint64_t now = UINT64_C(1767225600000);
	static const struct {
		const char *in;
		int rc;
		uint64_t want_ms;
	} t[] = {
	    {"2", 0, 2000},
	    {" 60\t", 0, 60000},
	    {"0", 0, 0},
	    {"999999999", 0, UINT64_C(999999999000)},
	    /* from 10^9 up: a Unix time (GitHub's X-RateLimit-Reset) */
	    {"1767225630", 0, 30000},
	    {"1767225600", 0, 0},
	    {"1767225000", 0, 0},
	    {"1000000000", 0, 0},
	    /* saturates far in the future, never wraps (found by fuzz_http) */
	    {"99999999999999999999999999999999", 0,
		UINT64_C(10000000000000000) - UINT64_C(1767225600000)},
	    {"", -1, 0},
	    {"-2", -1, 0},
	    {"1.5", -1, 0},
	    {"2s", -1, 0},
	    {"Wed, 21 Oct 2015 07:28:00 GMT", -1, 0},
	};

	for (size_t i = 0; i < RP_NELEM(t); i++) {
		uint64_t ms = 424242;
		int rc = http_parse_rate_limit_reset(t[i].in, now, &ms);

		ck_assert_msg(rc == t[i].rc,
		    "row %zu \"%s\": want rc %d, got %d", i, t[i].in, t[i].rc,
		    rc);
		if (rc == 0)
			ck_assert_msg(ms == t[i].want_ms,
			    "row %zu \"%s\": want %" PRIu64 " ms, got %" PRIu64,
			    i, t[i].in, t[i].want_ms, ms);
	}
}
END_TEST

START_TEST(test_parse_date)
{
	static const struct {
		const char *in;
		int rc;
		int64_t want;
	} t[] = {
	    {"Wed, 21 Oct 2015 07:28:00 GMT", 0, DATE_S},
	    {"Wednesday, 21-Oct-15 07:28:00 GMT", 0, DATE_S},
	    {"Wed Oct 21 07:28:00 2015", 0, DATE_S},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 784111777},
	    {"Sunday, 06-Nov-94 08:49:37 GMT", 0, 784111777},
	    {"Sun Nov  6 08:49:37 1994", 0, 784111777},
	    {"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
	    {"Tue, 29 Feb 2000 12:00:00 GMT", 0, 951825600},
	    {"Wed, 32 Oct 2015 07:28:00 GMT", -1, 0},
	    {"Wed, 21 Foo 2015 07:28:00 GMT", -1, 0},
	    {"Wed, 21 Oct 2015 25:28:00 GMT", -1, 0},
	    {"Tue, 31 Nov 2015 07:28:00 GMT", -1, 0},
	    {"Sun, 29 Feb 2015 07:28:00 GMT", -1, 0},
	    {"Mon, 29 Feb 2100 07:28:00 GMT", -1, 0},
	    {"Tue, 29 Feb 2000 07:28:00 GMT", 0, 951809280},
	    {"Wed, 21 Oct 2015", -1, 0},
	    {"garbage", -1, 0},
	    {"", -1, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		int64_t s = -424242;
		int rc;

		rc = http_parse_date(t[i].in, &s);
		ck_assert_msg(rc == t[i].rc,
		    "row %zu \"%s\": want rc %d, got %d", i, t[i].in, t[i].rc,
		    rc);
		if (rc != 0)
			continue;
		ck_assert_msg(s == t[i].want,
		    "row %zu \"%s\": want %" PRId64 ", got %" PRId64, i,
		    t[i].in, t[i].want, s);
	}
}
END_TEST

START_TEST(test_method_is_valid)
{
	static const struct pred_row t[] = {
	    {"GET", true},
	    {"PROPFIND", true},
	    {"POST", true},
	    {"M-SEARCH", true},
	    {"", false},
	    {"G ET", false},
	    {"GET\r", false},
	    {"GE:T", false},
	    {"GET/", false},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool got = http_method_is_valid(t[i].in);

		ck_assert_msg(got == t[i].want,
		    "row %zu \"%s\": want %d, got %d", i, t[i].in, t[i].want,
		    got);
	}
}
END_TEST

/*
 * What the proxy forwards must be an origin-form target: a URL without a
 * path gets "/", or, when a query follows the host, path_add_slash.
 */
START_TEST(test_url_path_is_origin_form)
{
	static const char *const t[] = {
	    "http://h",
	    "http://h?q=1",
	    "http://h#f",
	    "http://h:8080?q",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct http_url u;
		const char *cause = NULL;

		if (http_url_parse(t[i], &u, &cause) != 0)
			continue;
		ck_assert_msg(u.path_len > 0 &&
			(u.path[0] == '/' ||
			    (u.path[0] == '?' && u.path_add_slash)),
		    "row %zu \"%s\": target \"%.*s\" is not origin-form", i,
		    t[i], (int)u.path_len, u.path);
	}
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("http");
	tc = tcase_create("core");
	tcase_add_test(tc, test_url_parse_ok);
	tcase_add_test(tc, test_url_parse_bad);
	tcase_add_test(tc, test_url_path_is_origin_form);
	tcase_add_test(tc, test_authority_parse);
	tcase_add_test(tc, test_is_token);
	tcase_add_test(tc, test_method_evhttp_knows);
	tcase_add_test(tc, test_value_is_valid);
	tcase_add_test(tc, test_is_hop_by_hop);
	tcase_add_test(tc, test_list_has_token);
	tcase_add_test(tc, test_keepalive_timeout);
	tcase_add_test(tc, test_parse_retry_after);
	tcase_add_test(tc, test_parse_retry_after_huge);
	tcase_add_test(tc, test_parse_date);
	tcase_add_test(tc, test_parse_rate_limit_reset);
	tcase_add_test(tc, test_method_is_valid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(http_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
