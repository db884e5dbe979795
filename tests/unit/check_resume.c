/*
 * check_resume: which broken responses may be resumed (strong validators
 * only), which answers to "Range: bytes=N-" are the rest of the same
 * object, and the Content-Range parser underneath (RFC 9110 sections
 * 8.8, 13.1.5, 14.4).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "resume.h"

#define LM "Tue, 01 Dec 2026 10:00:00 GMT"
#define LM_1S "Tue, 01 Dec 2026 10:00:01 GMT"
#define LATER "Sun, 06 Dec 2026 06:00:00 GMT"

static const struct {
	struct resume_head h;
	const char *why; /* NULL: eligible */
	const char *validator;
	bool by_etag;
} eligible[] = {
    {{200, "\"v1\"", NULL, NULL, NULL, "100"}, NULL, "\"v1\"", true},
    /* an ETag wins over a date, even when both are there */
    {{200, "\"abc-123\"", LM, LATER, "bytes", NULL}, NULL, "\"abc-123\"", true},
    {{200, "\"\"", NULL, NULL, NULL, "1"}, NULL, "\"\"", true},
    {{200, NULL, LM, LATER, NULL, "100"}, NULL, LM, false},
    /* exactly 1 s older than Date is strong (RFC 9110 section 8.8.2.2) */
    {{200, NULL, LM, LM_1S, NULL, "100"}, NULL, LM, false},
    {{200, NULL, LM, LM, NULL, "100"},
	"Last-Modified is not a strong "
	"validator",
	NULL, false},
    {{200, NULL, LM_1S, LM, NULL, "100"},
	"Last-Modified is not a strong "
	"validator",
	NULL, false},
    {{200, NULL, LM, NULL, NULL, "100"},
	"Last-Modified is not a strong "
	"validator",
	NULL, false},
    {{200, NULL, "yesterday", LATER, NULL, "100"},
	"Last-Modified is not a "
	"strong validator",
	NULL, false},
    {{200, NULL, NULL, LATER, NULL, "100"},
	"no validator (ETag or "
	"Last-Modified)",
	NULL, false},
    /* weak: If-Range may carry neither it nor the date (section 13.1.5) */
    {{200, "W/\"v1\"", LM, LATER, NULL, "100"}, "a weak ETag", NULL, false},
    {{200, "v1", NULL, NULL, NULL, "100"}, "a malformed ETag", NULL, false},
    {{200, "\"a\"b\"", NULL, NULL, NULL, "100"}, "a malformed ETag", NULL,
	false},
    {{200, "\"a b\"", NULL, NULL, NULL, "100"}, "a malformed ETag", NULL,
	false},
    {{200, "\"", NULL, NULL, NULL, "100"}, "a malformed ETag", NULL, false},
    {{200, "\"v1\"", NULL, NULL, "none", "100"}, "Accept-Ranges: none", NULL,
	false},
    {{200, "\"v1\"", NULL, NULL, "None", "100"}, "Accept-Ranges: none", NULL,
	false},
    {{200, "\"v1\"", NULL, NULL, "bytes", "100"}, NULL, "\"v1\"", true},
    {{206, "\"v1\"", NULL, NULL, NULL, "100"}, "not a 200", NULL, false},
    {{203, "\"v1\"", NULL, NULL, NULL, "100"}, "not a 200", NULL, false},
};

START_TEST(test_eligible)
{
	const char *v = NULL, *why;
	bool by_etag = !eligible[_i].by_etag;

	why = resume_eligible(&eligible[_i].h, &v, &by_etag);
	if (eligible[_i].why == NULL) {
		ck_assert_msg(why == NULL, "row %d: %s", _i, why);
		ck_assert_str_eq(v, eligible[_i].validator);
		ck_assert(by_etag == eligible[_i].by_etag);
	} else {
		ck_assert_msg(why != NULL, "row %d: eligible", _i);
		ck_assert_str_eq(why, eligible[_i].why);
	}
}
END_TEST

#define T 1000u /* the original's length in the rows below */

static const struct {
	bool by_etag;
	uint64_t total; /* 0: unknown (a chunked original) */
	uint64_t offset;
	struct resume_head a;
	const char *content_range;
	const char *why; /* NULL: accepted */
} answers[] = {
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"},
	"bytes 400-999/1000", NULL},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, NULL},
	"bytes 400-999/1000", NULL},
    {true, T, 999, {206, "\"v1\"", NULL, NULL, NULL, "1"}, "bytes 999-999/1000",
	NULL},
    {true, 0, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"},
	"bytes 400-999/1000", NULL},
    {false, T, 400, {206, NULL, LM, NULL, NULL, "600"}, "bytes 400-999/1000",
	NULL},
    /* the same date in another of the three forms */
    {false, T, 400,
	{206, NULL, "Tuesday, 01-Dec-26 10:00:00 GMT", NULL, NULL, "600"},
	"bytes 400-999/1000", NULL},
    {true, T, 400, {200, "\"v1\"", NULL, NULL, NULL, "1000"}, NULL,
	"the range was answered 200 (ignored, or the object changed)"},
    {true, T, 400, {416, "\"v1\"", NULL, NULL, NULL, "0"}, "bytes */1000",
	"the range was answered 416"},
    {true, T, 400, {503, "\"v1\"", NULL, NULL, NULL, "0"}, NULL,
	"the range was not answered 206"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"}, NULL,
	"a 206 without a valid Content-Range"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"}, "bytes 400-999",
	"a 206 without a valid Content-Range"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"},
	"bytes 401-999/1000", "a 206 that starts at another byte"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"}, "bytes 0-999/1000",
	"a 206 that starts at another byte"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "600"}, "bytes 400-999/*",
	"a 206 without the complete length"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "700"},
	"bytes 400-1099/1100", "a 206 of another length"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "100"},
	"bytes 400-499/1000", "a 206 that ends before the last byte"},
    {true, 0, 400, {206, "\"v1\"", NULL, NULL, NULL, "100"},
	"bytes 400-499/1000", "a 206 that ends before the last byte"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "599"},
	"bytes 400-999/1000", "a 206 whose Content-Length is not its range"},
    {true, T, 400, {206, "\"v1\"", NULL, NULL, NULL, "6x0"},
	"bytes 400-999/1000", "a 206 whose Content-Length is not its range"},
    {true, T, 400, {206, "\"v2\"", NULL, NULL, NULL, "600"},
	"bytes 400-999/1000", "a 206 with another ETag"},
    {true, T, 400, {206, "W/\"v1\"", NULL, NULL, NULL, "600"},
	"bytes 400-999/1000", "a 206 with another ETag"},
    {true, T, 400, {206, NULL, LM, NULL, NULL, "600"}, "bytes 400-999/1000",
	"a 206 with another ETag"},
    {false, T, 400, {206, NULL, LM_1S, NULL, NULL, "600"}, "bytes 400-999/1000",
	"a 206 with another Last-Modified"},
    {false, T, 400, {206, NULL, NULL, NULL, NULL, "600"}, "bytes 400-999/1000",
	"a 206 with another Last-Modified"},
};

START_TEST(test_accept)
{
	struct resume r = {0};
	uint64_t total = 0;
	const char *why;

	r.by_etag = answers[_i].by_etag;
	r.validator = (char *)(r.by_etag ? "\"v1\"" : LM);
	r.total = answers[_i].total ? answers[_i].total : RESUME_LENGTH_UNKNOWN;
	why = resume_accept(&r, answers[_i].offset, &answers[_i].a,
	    answers[_i].content_range, &total);
	if (answers[_i].why == NULL) {
		ck_assert_msg(why == NULL, "row %d: %s", _i, why);
		ck_assert_uint_eq(total, 1000);
	} else {
		ck_assert_msg(why != NULL, "row %d: accepted", _i);
		ck_assert_str_eq(why, answers[_i].why);
	}
}
END_TEST

static const struct {
	const char *in;
	int rc;
	uint64_t first, last, complete;
} ranges[] = {
    {"bytes 0-0/1", 0, 0, 0, 1},
    {"bytes 10485760-52428799/52428800", 0, 10485760, 52428799, 52428800},
    {"BYTES 1-2/3", 0, 1, 2, 3},
    {"  bytes  5-9/10 ", 0, 5, 9, 10},
    {"bytes 5-9/*", 0, 5, 9, HTTP_LENGTH_UNKNOWN},
    {"bytes 18446744073709551613-18446744073709551613/18446744073709551614", 0,
	18446744073709551613ULL, 18446744073709551613ULL,
	18446744073709551614ULL},
    /* 2^64 - 1 is "unknown": never a length read from the wire */
    {"bytes 0-1/18446744073709551615", -1, 0, 0, 0},
    {"bytes 0-1/99999999999999999999999", -1, 0, 0, 0},
    {"bytes */1000", -1, 0, 0, 0},
    {"bytes 9-5/10", -1, 0, 0, 0},
    {"bytes 5-10/10", -1, 0, 0, 0},
    {"bytes 5-9/10x", -1, 0, 0, 0},
    {"bytes 5-9 /10", -1, 0, 0, 0},
    {"bytes -5/10", -1, 0, 0, 0},
    {"bytes 5-/10", -1, 0, 0, 0},
    {"bytes=5-9/10", -1, 0, 0, 0},
    {"items 5-9/10", -1, 0, 0, 0},
    {"bytes", -1, 0, 0, 0},
    {"", -1, 0, 0, 0},
    {"bytes +5-9/10", -1, 0, 0, 0},
};

START_TEST(test_content_range)
{
	uint64_t f = 7, l = 7, c = 7;
	int rc = http_parse_content_range(ranges[_i].in, &f, &l, &c);

	ck_assert_msg(rc == ranges[_i].rc, "'%s': %d", ranges[_i].in, rc);
	if (rc == 0) {
		ck_assert_uint_eq(f, ranges[_i].first);
		ck_assert_uint_eq(l, ranges[_i].last);
		ck_assert_uint_eq(c, ranges[_i].complete);
	}
}
END_TEST

/* resume_begin: the eligible table again, taking what the verdict gives. */
START_TEST(test_begin)
{
	for (size_t i = 0; i < sizeof eligible / sizeof eligible[0]; i++) {
		struct resume r = {0};
		const char *why = resume_begin(&r, &eligible[i].h);

		if (eligible[i].why == NULL) {
			ck_assert_msg(why == NULL, "case %zu", i);
			ck_assert_str_eq(r.validator, eligible[i].validator);
			ck_assert(r.by_etag == eligible[i].by_etag);
			ck_assert_uint_eq(r.total,
			    eligible[i].h.content_length != NULL
				? strtoull(
				      eligible[i].h.content_length, NULL, 10)
				: RESUME_LENGTH_UNKNOWN);
		} else {
			ck_assert_msg(why != NULL, "case %zu", i);
			ck_assert_ptr_null(r.validator);
		}
		resume_clear(&r);
	}
}
END_TEST

START_TEST(test_clear)
{
	struct resume r = {0};

	r.validator = strdup("\"v1\"");
	r.by_etag = true;
	r.count = 2;
	resume_clear(&r);
	ck_assert_ptr_null(r.validator);
	ck_assert_uint_eq(r.count, 0);
	resume_clear(&r); /* twice is harmless */
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("resume");
	TCase *tc = tcase_create("resume");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(
	    tc, test_eligible, 0, (int)(sizeof eligible / sizeof eligible[0]));
	tcase_add_loop_test(
	    tc, test_accept, 0, (int)(sizeof answers / sizeof answers[0]));
	tcase_add_loop_test(
	    tc, test_content_range, 0, (int)(sizeof ranges / sizeof ranges[0]));
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_begin);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
