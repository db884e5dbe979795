/*
 * check_hold: origins held after a 429/503 with Retry-After -- which
 * responses hold and for how long, one hold per burst, expiry, case,
 * separate ports, replacement when the table is full.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "hold.h"

static struct hold_table t;

/* Thu, 01 Jan 2026 00:00:00 GMT, in ms (for HTTP-dates) */
#define WALL_2026 1767225600000ULL

static const struct {
	int status;
	const char *retry_after;
	uint64_t max_ms;
	bool holds;
	uint64_t ms;
} responses[] = {
    {429, "2", 60000, true, 2000},
    {503, "2", 60000, true, 2000},
    {503, " 7 ", 60000, true, 7000},
    /* bounded by max_retry_after */
    {429, "120", 60000, true, 60000},
    {429, "99999999999999999999", 60000, true, 60000},
    /* an HTTP-date (RFC 9110 section 5.6.7), 30 s ahead */
    {429, "Thu, 01 Jan 2026 00:00:30 GMT", 60000, true, 30000},
    /* ... or already past: nothing to wait for */
    {429, "Wed, 31 Dec 2025 23:59:00 GMT", 60000, false, 0},
    {429, "0", 60000, false, 0},
    /* only 429 and 503 ask the origin to be left alone */
    {500, "2", 60000, false, 0},
    {200, "2", 60000, false, 0},
    {301, "2", 60000, false, 0},
    {429, NULL, 60000, false, 0},
    {429, "soon", 60000, false, 0},
    {429, "2s", 60000, false, 0},
    {429, "-2", 60000, false, 0},
    {429, "", 60000, false, 0},
    /* max_retry_after = 0: the policy never waits, nor does a hold */
    {429, "2", 0, false, 0},
};

START_TEST(test_which_responses_hold)
{
	uint64_t ms = 12345;
	bool h = hold_for_response(responses[_i].status,
	    responses[_i].retry_after, WALL_2026, responses[_i].max_ms, &ms);

	ck_assert_msg(h == responses[_i].holds, "%d Retry-After %s: holds %d",
	    responses[_i].status,
	    responses[_i].retry_after ? responses[_i].retry_after : "(none)",
	    h);
	if (h)
		ck_assert_uint_eq(ms, responses[_i].ms);
}
END_TEST

START_TEST(test_hold_then_expiry)
{
	int st = 0;

	hold_init(&t);
	ck_assert_uint_eq(hold_latest(&t), 0);
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 1000, &st), 0);
	ck_assert(hold_note(&t, "a.test", 80, 429, 1000, 3000));
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 1000, &st), 2000);
	ck_assert_int_eq(st, 429);
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 2999, &st), 1);
	ck_assert_uint_eq(hold_latest(&t), 3000);
	/* names are case-insensitive; ports are other origins */
	ck_assert_uint_eq(hold_left(&t, "A.TEST", 80, 2000, &st), 1000);
	ck_assert_uint_eq(hold_left(&t, "a.test", 8080, 2000, &st), 0);
	ck_assert_uint_eq(hold_left(&t, "b.test", 80, 2000, &st), 0);
	/* at its end it is over */
	st = 0;
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 3000, &st), 0);
	ck_assert_int_eq(st, 0);
	/* and a new one is a new hold */
	ck_assert(hold_note(&t, "a.test", 80, 503, 3000, 4000));
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 3000, &st), 1000);
	ck_assert_int_eq(st, 503);
}
END_TEST

START_TEST(test_burst_is_one_hold)
{
	int st = 0;

	hold_init(&t);
	ck_assert(hold_note(&t, "a.test", 80, 429, 1000, 3000));
	/* the answers of requests already in flight: one hold */
	ck_assert(!hold_note(&t, "a.test", 80, 429, 1010, 3010));
	ck_assert(!hold_note(&t, "a.test", 80, 503, 1020, 2000));
	/* the latest end wins; an earlier one neither shortens nor
	 * changes the status */
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 1020, &st), 1990);
	ck_assert_int_eq(st, 429);
	ck_assert(!hold_note(&t, "a.test", 80, 503, 1030, 5000));
	ck_assert_uint_eq(hold_left(&t, "a.test", 80, 1030, &st), 3970);
	ck_assert_int_eq(st, 503);
}
END_TEST

START_TEST(test_full_replaces_ended_then_soonest)
{
	char name[32];
	int st;

	hold_init(&t);
	for (unsigned i = 0; i < HOLD_SLOTS; i++) {
		snprintf(name, sizeof name, "n%u.test", i);
		ck_assert(hold_note(&t, name, 80, 429, 0, 1000 + i));
	}
	/* full, none ended: the one ending soonest (n0) makes room */
	ck_assert(hold_note(&t, "new.test", 80, 429, 10, 9000));
	ck_assert_uint_eq(hold_left(&t, "n0.test", 80, 10, &st), 0);
	for (unsigned i = 1; i < HOLD_SLOTS; i++) {
		snprintf(name, sizeof name, "n%u.test", i);
		ck_assert_msg(hold_left(&t, name, 80, 10, &st) > 0,
		    "%s was replaced", name);
	}
	/* n1..n4 have ended at 1005: the first ended slot is taken */
	ck_assert(hold_note(&t, "later.test", 80, 503, 1005, 9000));
	ck_assert_uint_eq(hold_left(&t, "later.test", 80, 1005, &st), 7995);
	ck_assert_uint_eq(hold_left(&t, "new.test", 80, 1005, &st), 7995);
	ck_assert_uint_eq(hold_left(&t, "n63.test", 80, 1005, &st), 58);
}
END_TEST

START_TEST(test_long_name_is_its_own_origin)
{
	char name[400];
	int st;

	hold_init(&t);
	memset(name, 'x', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	ck_assert(hold_note(&t, name, 80, 429, 0, 100));
	/* cut to the key's size, still found by the same name */
	ck_assert_uint_eq(hold_left(&t, name, 80, 0, &st), 100);
	ck_assert_uint_eq(hold_left(&t, "x", 80, 0, &st), 0);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("hold");
	TCase *tc = tcase_create("hold");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_which_responses_hold, 0,
	    (int)(sizeof responses / sizeof responses[0]));
	tcase_add_test(tc, test_hold_then_expiry);
	tcase_add_test(tc, test_burst_is_one_hold);
	tcase_add_test(tc, test_full_replaces_ended_then_soonest);
	tcase_add_test(tc, test_long_name_is_its_own_origin);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
