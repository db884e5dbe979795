/*
 * check_eject: outlier ejection -- the threshold of consecutive failures,
 * a success in between resets it, ejections grow up to the maximum, one
 * probe at a time after the ejection, a probe that succeeds readmits and
 * one that fails ejects for longer, separate ports and case, a full table.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "eject.h"

static struct eject_table t;
static const struct eject_rules R = {3, 1000, 2500, 500};

static enum eject_outcome
note_fail(const char *host, uint64_t now)
{
	uint64_t ms = 0;
	return eject_note(&t, host, 80, true, now, &R, &ms);
}

static enum eject_outcome
note_ok(const char *host, uint64_t now)
{
	uint64_t ms = 0;
	return eject_note(&t, host, 80, false, now, &R, &ms);
}

static enum eject_verdict
verdict(const char *host, uint64_t now, uint64_t *left)
{
	*left = 0;
	return eject_check(&t, host, 80, now, &R, left);
}

START_TEST(test_threshold_and_reset)
{
	uint64_t left, ms = 0;

	eject_init(&t);
	ck_assert_int_eq(note_fail("a.test", 10), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 20), EJECT_NOTHING);
	/* a success in between: consecutive failures start again */
	ck_assert_int_eq(note_ok("a.test", 30), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 40), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 50), EJECT_NOTHING);
	ck_assert_int_eq(verdict("a.test", 55, &left), EJECT_ADMIT);
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 60, &R, &ms), EJECT_EJECTED);
	ck_assert_uint_eq(ms, 1000);
	ck_assert_int_eq(verdict("a.test", 61, &left), EJECT_OUT);
	ck_assert_uint_eq(left, 999);
	/* the same host in another case; another port is another origin */
	ck_assert_int_eq(verdict("A.TEST", 61, &left), EJECT_OUT);
	ck_assert_int_eq(
	    eject_check(&t, "a.test", 81, 61, &R, &left), EJECT_ADMIT);
	ck_assert_int_eq(verdict("b.test", 61, &left), EJECT_ADMIT);
	ck_assert_uint_eq(eject_count(&t), 1);
	/* failures of requests already under way change nothing */
	ck_assert_int_eq(note_fail("a.test", 70), EJECT_NOTHING);
	ck_assert_int_eq(verdict("a.test", 1059, &left), EJECT_OUT);
	ck_assert_uint_eq(left, 1);
}
END_TEST

START_TEST(test_probe_readmits)
{
	uint64_t left;

	eject_init(&t);
	note_fail("a.test", 0);
	note_fail("a.test", 0);
	ck_assert_int_eq(note_fail("a.test", 0), EJECT_EJECTED);
	/* the time is up: one probe, then the others wait for it */
	ck_assert_int_eq(verdict("a.test", 1000, &left), EJECT_PROBE);
	ck_assert_int_eq(verdict("a.test", 1001, &left), EJECT_OUT);
	ck_assert_uint_eq(left, 499);
	/* a probe that never answers: another after probe_ms */
	ck_assert_int_eq(verdict("a.test", 1500, &left), EJECT_PROBE);
	ck_assert_int_eq(note_ok("a.test", 1600), EJECT_READMITTED);
	ck_assert_int_eq(verdict("a.test", 1601, &left), EJECT_ADMIT);
	ck_assert_uint_eq(eject_count(&t), 0);
	/* readmitted: the count starts again, and so does the length */
	note_fail("a.test", 1700);
	ck_assert_int_eq(note_fail("a.test", 1700), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 1700), EJECT_EJECTED);
	ck_assert_int_eq(verdict("a.test", 2699, &left), EJECT_OUT);
	ck_assert_int_eq(verdict("a.test", 2700, &left), EJECT_PROBE);
}
END_TEST

START_TEST(test_failed_probe_ejects_longer_up_to_max)
{
	uint64_t left, ms = 0;

	eject_init(&t);
	note_fail("a.test", 0);
	note_fail("a.test", 0);
	note_fail("a.test", 0);
	ck_assert_int_eq(verdict("a.test", 1000, &left), EJECT_PROBE);
	/* the probe failed: out again at once, for 2 x eject_time */
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 1100, &R, &ms), EJECT_EJECTED);
	ck_assert_uint_eq(ms, 2000);
	ck_assert_int_eq(verdict("a.test", 3099, &left), EJECT_OUT);
	ck_assert_int_eq(verdict("a.test", 3100, &left), EJECT_PROBE);
	/* 3 x 1000 is past eject_max_time (2500) */
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 3200, &R, &ms), EJECT_EJECTED);
	ck_assert_uint_eq(ms, 2500);
	ck_assert_int_eq(verdict("a.test", 5699, &left), EJECT_OUT);
}
END_TEST

START_TEST(test_off_and_full_table)
{
	struct eject_rules off = R;
	char name[32];
	uint64_t left, ms;

	eject_init(&t);
	off.after = 0;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(
		    eject_note(&t, "a.test", 80, true, 0, &off, &ms),
		    EJECT_NOTHING);
	ck_assert_int_eq(
	    eject_check(&t, "a.test", 80, 0, &off, &left), EJECT_ADMIT);
	/* every slot ejected: a new origin is not tracked, nothing breaks */
	for (unsigned i = 0; i < EJECT_SLOTS; i++) {
		snprintf(name, sizeof name, "n%u.test", i);
		for (int k = 0; k < 3; k++)
			note_fail(name, 5);
	}
	ck_assert_uint_eq(eject_count(&t), EJECT_SLOTS);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(note_fail("new.test", 6), EJECT_NOTHING);
	ck_assert_int_eq(verdict("new.test", 6, &left), EJECT_ADMIT);
	/* readmit one: its slot may then be taken by the new origin */
	verdict("n7.test", 2000, &left);
	ck_assert_int_eq(note_ok("n7.test", 2000), EJECT_READMITTED);
	note_fail("new.test", 2001);
	note_fail("new.test", 2001);
	ck_assert_int_eq(note_fail("new.test", 2001), EJECT_EJECTED);
	ck_assert_int_eq(verdict("n7.test", 2002, &left), EJECT_ADMIT);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("eject");
	TCase *tc = tcase_create("eject");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_threshold_and_reset);
	tcase_add_test(tc, test_probe_readmits);
	tcase_add_test(tc, test_failed_probe_ejects_longer_up_to_max);
	tcase_add_test(tc, test_off_and_full_table);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
