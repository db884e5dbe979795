/*
 * check_units: the config value syntaxes -- durations, sizes, booleans,
 * percentages, bounded integers and factors -- parsed and printed.  Every
 * table row is checked for the exact value or for a -1 with a cause.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "units.h"
#include "util.h"

struct u64_ok {
	const char *in;
	uint64_t want;
};

START_TEST(test_parse_duration_ok)
{
	static const struct u64_ok t[] = {
	    {"100ms", 100},
	    {"2s", 2000},
	    {"0.1", 100},
	    {"1.5s", 1500},
	    {"2m", 120000},
	    {"1h", 3600000},
	    {"0", 0},
	    {"0ms", 0},
	    {"30s", 30000},
	    {"100 ms", 100},
	    {"2S", 2000},
	    {"100MS", 100},
	    {"2H", 7200000},
	    {"0.5m", 30000},
	    {"0.25", 250},
	    {"5", 5000},
	    {"0.0004", 0},
	    {"0.0006", 1},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t ms = 12345;
		const char *cause = NULL;
		int rc;

		rc = units_parse_duration(t[i].in, &ms, &cause);
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		ck_assert_msg(ms == t[i].want,
		    "row %zu \"%s\": want %" PRIu64 " ms, got %" PRIu64, i,
		    t[i].in, t[i].want, ms);
	}
}
END_TEST

START_TEST(test_parse_duration_bad)
{
	static const char *const t[] = {
	    "",
	    "abc",
	    "-1s",
	    "5x",
	    "1.2.3",
	    "ms",
	    "1e3",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t ms = 0;
		const char *cause = NULL;
		int rc;

		rc = units_parse_duration(t[i], &ms, &cause);
		ck_assert_msg(
		    rc == -1, "row %zu \"%s\": want -1, got %d", i, t[i], rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i]);
	}
}
END_TEST

START_TEST(test_parse_size_ok)
{
	static const struct u64_ok t[] = {
	    {"100", 100},
	    {"0", 0},
	    {"64K", 65536},
	    {"64k", 65536},
	    {"16M", 16777216},
	    {"16m", 16777216},
	    {"1G", 1073741824},
	    {"4G", UINT64_C(4294967296)},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t bytes = 12345;
		const char *cause = NULL;
		int rc;

		rc = units_parse_size(t[i].in, &bytes, &cause);
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		ck_assert_msg(bytes == t[i].want,
		    "row %zu \"%s\": want %" PRIu64 ", got %" PRIu64, i,
		    t[i].in, t[i].want, bytes);
	}
}
END_TEST

START_TEST(test_parse_size_bad)
{
	static const char *const t[] = {
	    "",
	    "-1",
	    "16X",
	    "M",
	    "1.5M",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t bytes = 0;
		const char *cause = NULL;
		int rc;

		rc = units_parse_size(t[i], &bytes, &cause);
		ck_assert_msg(
		    rc == -1, "row %zu \"%s\": want -1, got %d", i, t[i], rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i]);
	}
}
END_TEST

START_TEST(test_parse_bool)
{
	static const struct {
		const char *in;
		int want; /* 1 true, 0 false, -1 error */
	} t[] = {
	    {"yes", 1},
	    {"no", 0},
	    {"true", 1},
	    {"false", 0},
	    {"on", 1},
	    {"off", 0},
	    {"1", 1},
	    {"0", 0},
	    {"YES", 1},
	    {"No", 0},
	    {"True", 1},
	    {"FALSE", 0},
	    {"On", 1},
	    {"oFF", 0},
	    {"maybe", -1},
	    {"", -1},
	    {"2", -1},
	    {"yess", -1},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		bool v = t[i].want != 1;
		const char *cause = NULL;
		int rc;

		rc = units_parse_bool(t[i].in, &v, &cause);
		if (t[i].want == -1) {
			ck_assert_msg(rc == -1,
			    "row %zu \"%s\": want -1, got %d", i, t[i].in, rc);
			ck_assert_msg(cause != NULL, "row %zu \"%s\": no cause",
			    i, t[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d", i, t[i].in, rc);
		ck_assert_msg(v == (t[i].want == 1), "row %zu \"%s\": want %d",
		    i, t[i].in, t[i].want);
	}
}
END_TEST

START_TEST(test_parse_percent)
{
	static const struct {
		const char *in;
		int ok;
		double want;
	} t[] = {
	    {"20%", 1, 20.0},
	    {"0%", 1, 0.0},
	    {"100", 1, 100.0},
	    {"100%", 1, 100.0},
	    {"12.5%", 1, 12.5},
	    {"0", 1, 0.0},
	    {"101%", 0, 0},
	    {"100.5", 0, 0},
	    {"-1%", 0, 0},
	    {"x%", 0, 0},
	    {"%", 0, 0},
	    {"", 0, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		double v = -42.0;
		const char *cause = NULL;
		int rc;

		rc = units_parse_percent(t[i].in, &v, &cause);
		if (!t[i].ok) {
			ck_assert_msg(rc == -1,
			    "row %zu \"%s\": want -1, got %d", i, t[i].in, rc);
			ck_assert_msg(cause != NULL, "row %zu \"%s\": no cause",
			    i, t[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d", i, t[i].in, rc);
		ck_assert_msg(v == t[i].want, "row %zu \"%s\": want %g, got %g",
		    i, t[i].in, t[i].want, v);
	}
}
END_TEST

START_TEST(test_parse_uint)
{
	static const struct {
		const char *in;
		uint64_t min, max;
		int ok;
		uint64_t want;
	} t[] = {
	    {"0", 0, 10, 1, 0},
	    {"10", 0, 10, 1, 10},
	    {"5", 1, 100, 1, 5},
	    {"1", 1, 100, 1, 1},
	    {"100", 1, 100, 1, 100},
	    {"18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX},
	    {"0", 1, 100, 0, 0},
	    {"101", 1, 100, 0, 0},
	    {"11", 0, 10, 0, 0},
	    {"18446744073709551616", 0, UINT64_MAX, 0, 0},
	    {"0x10", 0, 1000, 0, 0},
	    {"1a", 0, 1000, 0, 0},
	    {"", 0, 1000, 0, 0},
	    {"-1", 0, 1000, 0, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		uint64_t v = 424242;
		const char *cause = NULL;
		int rc;

		rc = units_parse_uint(t[i].in, t[i].min, t[i].max, &v, &cause);
		if (!t[i].ok) {
			ck_assert_msg(rc == -1,
			    "row %zu \"%s\": want -1, got %d", i, t[i].in, rc);
			ck_assert_msg(cause != NULL, "row %zu \"%s\": no cause",
			    i, t[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		ck_assert_msg(v == t[i].want,
		    "row %zu \"%s\": want %" PRIu64 ", got %" PRIu64, i,
		    t[i].in, t[i].want, v);
	}
}
END_TEST

START_TEST(test_parse_double)
{
	static const struct {
		const char *in;
		int ok;
		double want;
	} t[] = {
	    {"2", 1, 2.0},
	    {"1.5", 1, 1.5},
	    {"0.5", 1, 0.5},
	    {"0", 0, 0},
	    {"-1", 0, 0},
	    {"x", 0, 0},
	    {"", 0, 0},
	    {"2x", 0, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		double v = -42.0;
		const char *cause = NULL;
		int rc;

		rc = units_parse_double(t[i].in, &v, &cause);
		if (!t[i].ok) {
			ck_assert_msg(rc == -1,
			    "row %zu \"%s\": want -1, got %d", i, t[i].in, rc);
			ck_assert_msg(cause != NULL, "row %zu \"%s\": no cause",
			    i, t[i].in);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d", i, t[i].in, rc);
		ck_assert_msg(v == t[i].want, "row %zu \"%s\": want %g, got %g",
		    i, t[i].in, t[i].want, v);
	}
}
END_TEST

struct fmt_row {
	uint64_t in;
	const char *want;
};

START_TEST(test_format_duration)
{
	static const struct fmt_row t[] = {
	    {0, "0ms"},
	    {1, "1ms"},
	    {100, "100ms"},
	    {1000, "1s"},
	    {1500, "1500ms"},
	    {30000, "30s"},
	    {60000, "1m"},
	    {90000, "90s"},
	    {120000, "2m"},
	    {3600000, "1h"},
	    {5400000, "90m"},
	    {7200000, "2h"},
	    {3601000, "3601s"},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		char buf[32];
		char *ret;

		memset(buf, 'Z', sizeof buf);
		ret = units_format_duration(t[i].in, buf, sizeof buf);
		ck_assert_msg(ret == buf, "row %zu: did not return buf", i);
		ck_assert_msg(strcmp(buf, t[i].want) == 0,
		    "row %zu %" PRIu64 ": want \"%s\", got \"%.31s\"", i,
		    t[i].in, t[i].want, buf);
	}
}
END_TEST

START_TEST(test_format_size)
{
	static const struct fmt_row t[] = {
	    {0, "0"},
	    {1, "1"},
	    {1000, "1000"},
	    {1024, "1K"},
	    {1025, "1025"},
	    {1536, "1536"},
	    {3072, "3K"},
	    {65536, "64K"},
	    {1048576, "1M"},
	    {16777216, "16M"},
	    {1073741824, "1G"},
	    {UINT64_C(4294967296), "4G"},
	    {UINT64_C(1610612736), "1536M"},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		char buf[32];
		char *ret;

		memset(buf, 'Z', sizeof buf);
		ret = units_format_size(t[i].in, buf, sizeof buf);
		ck_assert_msg(ret == buf, "row %zu: did not return buf", i);
		ck_assert_msg(strcmp(buf, t[i].want) == 0,
		    "row %zu %" PRIu64 ": want \"%s\", got \"%.31s\"", i,
		    t[i].in, t[i].want, buf);
	}
}
END_TEST

/* What -t prints must parse back to the same value. */
START_TEST(test_format_round_trip)
{
	static const uint64_t t[] = {
	    0,
	    1,
	    100,
	    999,
	    1000,
	    1500,
	    30000,
	    60000,
	    61000,
	    3600000,
	    5400000,
	    86400000,
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		char buf[32];
		uint64_t back = 12345;
		const char *cause = NULL;

		units_format_duration(t[i], buf, sizeof buf);
		ck_assert_msg(units_parse_duration(buf, &back, &cause) == 0,
		    "row %zu: \"%s\" does not parse", i, buf);
		ck_assert_msg(back == t[i],
		    "row %zu: duration %" PRIu64 " -> \"%s\" -> %" PRIu64, i,
		    t[i], buf, back);

		units_format_size(t[i], buf, sizeof buf);
		back = 12345;
		ck_assert_msg(units_parse_size(buf, &back, &cause) == 0,
		    "row %zu: \"%s\" does not parse", i, buf);
		ck_assert_msg(back == t[i],
		    "row %zu: size %" PRIu64 " -> \"%s\" -> %" PRIu64, i, t[i],
		    buf, back);
	}
}
END_TEST

START_TEST(test_sbuf)
{
	struct sbuf b = {0};
	char big[1000];

	/* printf into nothing, into room, across a growth, with adds between */
	sbuf_printf(&b, "%s", "");
	ck_assert_ptr_nonnull(b.s);
	ck_assert_str_eq(b.s, "");
	sbuf_printf(&b, "HTTP/1.1 %03d %s\r\n", 7, "OK");
	ck_assert_str_eq(b.s, "HTTP/1.1 007 OK\r\n");
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sbuf_add(&b, "a", 1);
	sbuf_printf(&b, "%s|%llu", big, 18446744073709551615ULL);
	ck_assert_uint_eq(b.len, 17 + 1 + 999 + 1 + 20);
	ck_assert_uint_eq(strlen(b.s), b.len);
	ck_assert(memcmp(b.s + 18, big, 999) == 0);
	ck_assert_str_eq(b.s + 18 + 999, "|18446744073709551615");
	/* exactly filling the room */
	sbuf_free(&b);
	sbuf_printf(&b, "%s", "x");
	while (b.len + 1 < b.cap)
		sbuf_printf(&b, "%c", 'y');
	ck_assert_uint_eq(strlen(b.s), b.len);
	sbuf_printf(&b, "%d", 42);
	ck_assert_uint_eq(strlen(b.s), b.len);
	ck_assert_str_eq(b.s + b.len - 2, "42");
	sbuf_free(&b);
	ck_assert_ptr_null(b.s);
}
END_TEST

/* Digits by hand: what %llu writes; appends cut short as snprintf. */
START_TEST(test_utoa_append)
{
	static const struct {
		uint64_t v;
		const char *s;
	} nums[] = {{0, "0"}, {7, "7"}, {10, "10"}, {443, "443"},
	    {65535, "65535"}, {4294967296ULL, "4294967296"},
	    {18446744073709551615ULL, "18446744073709551615"}};
	struct sbuf b = {0};
	char d[UTIL_UTOA_LEN], buf[8];
	size_t at;

	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		size_t n = util_utoa(d, nums[i].v);
		ck_assert_uint_eq(n, strlen(nums[i].s));
		ck_assert(memcmp(d, nums[i].s, n) == 0);
		sbuf_free(&b);
		sbuf_puts(&b, "L=");
		sbuf_putu(&b, nums[i].v);
		ck_assert_str_eq(b.s + 2, nums[i].s);
	}
	sbuf_free(&b);
	/* into 8 bytes: 7 characters and the terminator, no more */
	at = 0;
	util_append(buf, sizeof buf, &at, "ab");
	ck_assert_str_eq(buf, "ab");
	util_append_u(buf, sizeof buf, &at, 1234);
	ck_assert_str_eq(buf, "ab1234");
	util_append(buf, sizeof buf, &at, "xyz");
	ck_assert_str_eq(buf, "ab1234x");
	ck_assert_uint_eq(at, 7);
	util_append(buf, sizeof buf, &at, "more");
	ck_assert_str_eq(buf, "ab1234x");
	at = 0;
	util_append(buf, sizeof buf, &at, "");
	ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *
units_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("units");
	tc = tcase_create("core");
	tcase_add_test(tc, test_parse_duration_ok);
	tcase_add_test(tc, test_utoa_append);
	tcase_add_test(tc, test_parse_duration_bad);
	tcase_add_test(tc, test_parse_size_ok);
	tcase_add_test(tc, test_parse_size_bad);
	tcase_add_test(tc, test_parse_bool);
	tcase_add_test(tc, test_parse_percent);
	tcase_add_test(tc, test_parse_uint);
	tcase_add_test(tc, test_parse_double);
	tcase_add_test(tc, test_format_duration);
	tcase_add_test(tc, test_format_size);
	tcase_add_test(tc, test_format_round_trip);
	tcase_add_test(tc, test_sbuf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(units_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
