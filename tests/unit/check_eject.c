/*
 * check_eject: outlier ejection -- the threshold of consecutive failures,
 * a success in between resets it, ejections grow up to the maximum, one
 * probe at a time after the ejection, a probe that succeeds readmits and
 * one that fails ejects for longer, separate ports and case, a full table;
 * the failure share (eject_percent): a table of outcome sequences (the
 * minimum, the share at the boundary, either rule first), the window
 * sliding by whole seconds, readmission starting the window again,
 * requests under way, growth after a share ejection.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "eject.h"

static struct eject_table t;
static const struct eject_rules R = {
    .after = 3, .time_ms = 1000, .max_ms = 2500, .probe_ms = 500};
/* the share alone: 50% of at least 10 attempts */
static const struct eject_rules P = {.percent = 50,
    .min_attempts = 10,
    .time_ms = 1000,
    .max_ms = 2500,
    .probe_ms = 500};

static enum eject_outcome
note_fail(const char *host, uint64_t now)
{
	struct eject_news n;
	return eject_note(&t, host, 80, true, now, &R, &n);
}

static enum eject_outcome
note_ok(const char *host, uint64_t now)
{
	struct eject_news n;
	return eject_note(&t, host, 80, false, now, &R, &n);
}

static enum eject_verdict
verdict(const char *host, uint64_t now, uint64_t *left)
{
	struct eject_news n = {0};
	enum eject_verdict v = eject_check(&t, host, 80, now, &R, &n);

	*left = n.ms;
	return v;
}

START_TEST(test_threshold_and_reset)
{
	struct eject_news n;
	uint64_t left;

	eject_init(&t);
	ck_assert_int_eq(note_fail("a.test", 10), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 20), EJECT_NOTHING);
	/* a success in between: consecutive failures start again */
	ck_assert_int_eq(note_ok("a.test", 30), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 40), EJECT_NOTHING);
	ck_assert_int_eq(note_fail("a.test", 50), EJECT_NOTHING);
	ck_assert_int_eq(verdict("a.test", 55, &left), EJECT_ADMIT);
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 60, &R, &n), EJECT_EJECTED);
	ck_assert_uint_eq(n.ms, 1000);
	ck_assert_int_eq(n.rule, EJECT_BY_AFTER);
	ck_assert_uint_eq(n.fails, 3);
	ck_assert_uint_eq(n.ejections, 1);
	ck_assert_int_eq(verdict("a.test", 61, &left), EJECT_OUT);
	ck_assert_uint_eq(left, 999);
	/* the same host in another case; another port is another origin */
	ck_assert_int_eq(verdict("A.TEST", 61, &left), EJECT_OUT);
	ck_assert_int_eq(
	    eject_check(&t, "a.test", 81, 61, &R, &n), EJECT_ADMIT);
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
	/* the time is up: a peek says a probe may go, and hands none out */
	{
		struct eject_news n = {0};
		ck_assert_int_eq(
		    eject_peek(&t, "a.test", 80, 999, &R, &n), EJECT_OUT);
		ck_assert_uint_eq(n.ms, 1);
		ck_assert_int_eq(
		    eject_peek(&t, "a.test", 80, 1000, &R, &n), EJECT_PROBE);
		ck_assert_int_eq(
		    eject_peek(&t, "a.test", 80, 1000, &R, &n), EJECT_PROBE);
		ck_assert_int_eq(
		    eject_peek(&t, "b.test", 80, 1000, &R, &n), EJECT_ADMIT);
	}
	/* one probe, then the others wait for it */
	ck_assert_int_eq(verdict("a.test", 1000, &left), EJECT_PROBE);
	{
		struct eject_news n = {0};
		ck_assert_int_eq(
		    eject_peek(&t, "a.test", 80, 1001, &R, &n), EJECT_OUT);
	}
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
	struct eject_news n;
	uint64_t left;

	eject_init(&t);
	note_fail("a.test", 0);
	note_fail("a.test", 0);
	note_fail("a.test", 0);
	ck_assert_int_eq(verdict("a.test", 1000, &left), EJECT_PROBE);
	/* the probe failed: out again at once, for 2 x eject_time */
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 1100, &R, &n), EJECT_EJECTED);
	ck_assert_uint_eq(n.ms, 2000);
	ck_assert_int_eq(n.rule, EJECT_BY_PROBE);
	ck_assert_uint_eq(n.ejections, 2);
	ck_assert_int_eq(verdict("a.test", 3099, &left), EJECT_OUT);
	ck_assert_int_eq(verdict("a.test", 3100, &left), EJECT_PROBE);
	/* 3 x 1000 is past eject_max_time (2500) */
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 3200, &R, &n), EJECT_EJECTED);
	ck_assert_uint_eq(n.ms, 2500);
	ck_assert_int_eq(verdict("a.test", 5699, &left), EJECT_OUT);
}
END_TEST

START_TEST(test_off_and_full_table)
{
	struct eject_rules off = R;
	struct eject_news n;
	char name[32];
	unsigned a, f;
	uint64_t left;

	eject_init(&t);
	off.after = 0;
	off.min_attempts = 1;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(
		    eject_note(&t, "a.test", 80, true, 0, &off, &n),
		    EJECT_NOTHING);
	ck_assert_int_eq(
	    eject_check(&t, "a.test", 80, 0, &off, &n), EJECT_ADMIT);
	/* both rules off: nothing is even tracked */
	eject_window(&t, "a.test", 80, 0, &a, &f);
	ck_assert_uint_eq(a, 0);
	/* eject_after alone: a success of an untracked origin takes no slot */
	ck_assert_int_eq(note_ok("a.test", 0), EJECT_NOTHING);
	eject_window(&t, "a.test", 80, 0, &a, &f);
	ck_assert_uint_eq(a, 0);
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

/*
 * The share (eject_percent), as a table: outcomes ('f' failed, 'o' not)
 * noted one after another at the same moment; at: the index of the one
 * that ejects (-1: none), with the rule and its counts.
 */
static const struct {
	unsigned after, percent, min;
	const char *seq;
	int at;
	enum eject_rule rule;
	unsigned fails, attempts;
} seqs[] = {
    /* below the minimum, whatever the share */
    {0, 50, 10, "fofofofof", -1, EJECT_BY_NONE, 0, 0},
    {0, 50, 10, "fffffffff", -1, EJECT_BY_NONE, 0, 0},
    /* the 10th is a success: judged at the next failure only */
    {0, 50, 10, "fofofofofof", 10, EJECT_BY_PERCENT, 6, 11},
    {0, 50, 10, "fffffffffof", 10, EJECT_BY_PERCENT, 10, 11},
    /* exactly the share at exactly the minimum: ejected (at least) */
    {0, 50, 10, "ofofofofof", 9, EJECT_BY_PERCENT, 5, 10},
    {0, 51, 10, "ofofofofofof", -1, EJECT_BY_NONE, 0, 0},
    {0, 50, 10, "oooooooooofffffffff", -1, EJECT_BY_NONE, 0, 0},
    {0, 50, 10, "oooooooooofffffffffff", 19, EJECT_BY_PERCENT, 10, 20},
    /* 100%: every attempt of the window failed */
    {0, 100, 3, "fff", 2, EJECT_BY_PERCENT, 3, 3},
    {0, 100, 3, "offfffffff", -1, EJECT_BY_NONE, 0, 0},
    {0, 100, 1, "f", 0, EJECT_BY_PERCENT, 1, 1},
    /* either rule: the one met first, eject_after when both are */
    {2, 0, 10, "fofofofofofofofofofof", -1, EJECT_BY_NONE, 0, 0},
    {2, 40, 10, "fofofofofofofofofofof", 10, EJECT_BY_PERCENT, 6, 11},
    {3, 50, 10, "ffoffoffof", 9, EJECT_BY_PERCENT, 7, 10},
    {3, 50, 10, "offf", 3, EJECT_BY_AFTER, 3, 0},
    {3, 50, 3, "fff", 2, EJECT_BY_AFTER, 3, 0},
    {3, 50, 2, "ff", 1, EJECT_BY_PERCENT, 2, 2},
    /* a success starts the row again, not the window */
    {5, 50, 10, "ffffoffffof", 10, EJECT_BY_PERCENT, 9, 11},
    {5, 0, 10, "ffffoffffoffff", -1, EJECT_BY_NONE, 0, 0},
};

START_TEST(test_share_table)
{
	struct eject_rules r = P;
	const char *seq = seqs[_i].seq;
	struct eject_news n;

	eject_init(&t);
	r.after = seqs[_i].after;
	r.percent = seqs[_i].percent;
	r.min_attempts = seqs[_i].min;
	for (int k = 0; seq[k] != '\0'; k++) {
		enum eject_outcome e;
		memset(&n, 0, sizeof n);
		e = eject_note(&t, "a.test", 80, seq[k] == 'f', 5000, &r, &n);
		if (k != seqs[_i].at) {
			ck_assert_msg(e == EJECT_NOTHING,
			    "row %d: %s: outcome %d at %d", _i, seq, e, k);
			continue;
		}
		ck_assert_msg(
		    e == EJECT_EJECTED, "row %d: %s: not at %d", _i, seq, k);
		ck_assert_int_eq(n.rule, seqs[_i].rule);
		ck_assert_uint_eq(n.fails, seqs[_i].fails);
		ck_assert_uint_eq(n.attempts, seqs[_i].attempts);
		ck_assert_uint_eq(n.ms, 1000);
		ck_assert_uint_eq(n.ejections, 1);
		ck_assert_uint_eq(eject_count(&t), 1);
		return;
	}
	ck_assert_int_eq(seqs[_i].at, -1);
	ck_assert_uint_eq(eject_count(&t), 0);
}
END_TEST

/* 1%: one failure in 100 attempts ejects, one in 101 does not. */
START_TEST(test_share_one_percent)
{
	struct eject_rules r = P;
	struct eject_news n;

	r.percent = 1;
	for (unsigned oks = 99; oks <= 100; oks++) {
		eject_init(&t);
		for (unsigned k = 0; k < oks; k++)
			ck_assert_int_eq(
			    eject_note(&t, "a.test", 80, false, k * 10, &r, &n),
			    EJECT_NOTHING);
		ck_assert_int_eq(
		    eject_note(&t, "a.test", 80, true, 2000, &r, &n),
		    oks == 99 ? EJECT_EJECTED : EJECT_NOTHING);
	}
	ck_assert_uint_eq(n.fails, 1);
	ck_assert_uint_eq(n.attempts, 100);
}
END_TEST

static enum eject_outcome
share_note(const char *host, bool failed, uint64_t now)
{
	struct eject_news n;
	return eject_note(&t, host, 80, failed, now, &P, &n);
}

/* The window: the last 10 s, by whole seconds; a bucket reused. */
START_TEST(test_window_slides)
{
	unsigned a, f;

	eject_init(&t);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(
		    share_note("a.test", true, 999), EJECT_NOTHING);
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(
		    share_note("a.test", false, 9000), EJECT_NOTHING);
	eject_window(&t, "a.test", 80, 9999, &a, &f);
	ck_assert_uint_eq(a, 9);
	ck_assert_uint_eq(f, 5);
	/* second 0 is 10 s old at 10000: gone (its bucket is second 10's) */
	eject_window(&t, "a.test", 80, 10000, &a, &f);
	ck_assert_uint_eq(a, 4);
	ck_assert_uint_eq(f, 0);
	/* so a failure at 9999 ejects (6 of 10), at 10000 it does not */
	ck_assert_int_eq(share_note("a.test", true, 10000), EJECT_NOTHING);
	eject_window(&t, "a.test", 80, 10000, &a, &f);
	ck_assert_uint_eq(a, 5);
	ck_assert_uint_eq(f, 1);

	eject_init(&t);
	for (int k = 0; k < 5; k++)
		share_note("a.test", true, 999);
	for (int k = 0; k < 4; k++)
		share_note("a.test", false, 9000);
	ck_assert_int_eq(share_note("a.test", true, 9999), EJECT_EJECTED);

	/* two successes a second: the window holds the last 20 */
	eject_init(&t);
	for (uint64_t ms = 0; ms < 30000; ms += 1000) {
		ck_assert_int_eq(
		    share_note("b.test", false, ms), EJECT_NOTHING);
		ck_assert_int_eq(
		    share_note("b.test", false, ms + 500), EJECT_NOTHING);
		eject_window(&t, "b.test", 80, ms + 500, &a, &f);
		ck_assert_uint_eq(a, ms < 10000 ? ms / 1000 * 2 + 2 : 20);
	}
	/* then one of the two fails: the share grows by 5% a second, and
	 * the 10th such second (10 of 20) ejects */
	for (uint64_t ms = 30000;; ms += 1000) {
		enum eject_outcome e;
		ck_assert_int_eq(
		    share_note("b.test", false, ms), EJECT_NOTHING);
		e = share_note("b.test", true, ms + 500);
		if (ms < 39000) {
			ck_assert_int_eq(e, EJECT_NOTHING);
			eject_window(&t, "b.test", 80, ms + 500, &a, &f);
			ck_assert_uint_eq(a, 20);
			ck_assert_uint_eq(f, (ms - 30000) / 1000 + 1);
			continue;
		}
		ck_assert_int_eq(e, EJECT_EJECTED);
		break;
	}
}
END_TEST

/* Ten failures at now: P's ejection. */
static void
share_eject(const char *host, uint64_t now)
{
	for (int k = 0; k < 9; k++)
		ck_assert_int_eq(share_note(host, true, now), EJECT_NOTHING);
	ck_assert_int_eq(share_note(host, true, now), EJECT_EJECTED);
}

static enum eject_verdict
share_check(const char *host, uint64_t now, struct eject_news *n)
{
	memset(n, 0, sizeof *n);
	return eject_check(&t, host, 80, now, &P, n);
}

/*
 * A share ejection: requests under way count for nothing (a success does
 * not readmit it, unlike after eject_after), the probe readmits it, and
 * the window starts again then.
 */
START_TEST(test_share_readmission)
{
	struct eject_news n;
	unsigned a, f;
	uint64_t left;

	eject_init(&t);
	for (int k = 0; k < 5; k++) {
		share_note("a.test", false, 0);
		share_note("a.test", true, 0);
	}
	ck_assert_uint_eq(eject_count(&t), 1);
	ck_assert_int_eq(share_check("a.test", 400, &n), EJECT_OUT);
	ck_assert_uint_eq(n.ms, 600);
	ck_assert_int_eq(n.rule, EJECT_BY_PERCENT);
	ck_assert_uint_eq(n.fails, 5);
	ck_assert_uint_eq(n.attempts, 10);
	/* under way: neither readmits nor counts */
	ck_assert_int_eq(share_note("a.test", false, 500), EJECT_NOTHING);
	ck_assert_int_eq(share_note("a.test", true, 600), EJECT_NOTHING);
	ck_assert_int_eq(share_note("a.test", false, 700), EJECT_NOTHING);
	eject_window(&t, "a.test", 80, 700, &a, &f);
	ck_assert_uint_eq(a, 0);
	ck_assert_int_eq(share_check("a.test", 999, &n), EJECT_OUT);
	/* the probe readmits it; the window starts again */
	ck_assert_int_eq(share_check("a.test", 1000, &n), EJECT_PROBE);
	ck_assert_int_eq(share_check("a.test", 1001, &n), EJECT_OUT);
	ck_assert_int_eq(share_note("a.test", false, 1100), EJECT_READMITTED);
	ck_assert_uint_eq(eject_count(&t), 0);
	ck_assert_int_eq(share_check("a.test", 1101, &n), EJECT_ADMIT);
	eject_window(&t, "a.test", 80, 1100, &a, &f);
	ck_assert_uint_eq(a, 0);
	ck_assert_int_eq(share_note("a.test", true, 1200), EJECT_NOTHING);
	eject_window(&t, "a.test", 80, 1200, &a, &f);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(f, 1);
	/* ... and so does the length: 10 failures, 1000 ms again */
	for (int k = 0; k < 8; k++)
		ck_assert_int_eq(
		    share_note("a.test", true, 1300), EJECT_NOTHING);
	ck_assert_int_eq(share_note("a.test", true, 1300), EJECT_EJECTED);
	ck_assert_int_eq(share_check("a.test", 2299, &n), EJECT_OUT);
	ck_assert_uint_eq(n.ejections, 1);

	/* a success after the ejection's time readmits, probe or not */
	ck_assert_int_eq(share_note("a.test", false, 2300), EJECT_READMITTED);

	/* after eject_after, a success under way readmits (as before) */
	eject_init(&t);
	note_fail("b.test", 0);
	note_fail("b.test", 0);
	ck_assert_int_eq(note_fail("b.test", 0), EJECT_EJECTED);
	ck_assert_int_eq(verdict("b.test", 10, &left), EJECT_OUT);
	ck_assert_int_eq(note_ok("b.test", 20), EJECT_READMITTED);
	ck_assert_int_eq(verdict("b.test", 30, &left), EJECT_ADMIT);
}
END_TEST

/* After a share ejection, failed probes eject for longer, up to max. */
START_TEST(test_share_growth)
{
	struct eject_news n;

	eject_init(&t);
	share_eject("a.test", 0);
	ck_assert_int_eq(share_check("a.test", 1000, &n), EJECT_PROBE);
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 1100, &P, &n), EJECT_EJECTED);
	ck_assert_int_eq(n.rule, EJECT_BY_PROBE);
	ck_assert_uint_eq(n.ms, 2000);
	ck_assert_uint_eq(n.ejections, 2);
	/* (the counts stay those of the ejection that began the row) */
	ck_assert_uint_eq(n.fails, 10);
	ck_assert_uint_eq(n.attempts, 10);
	/* still a share ejection: a success under way does not readmit */
	ck_assert_int_eq(share_note("a.test", false, 1200), EJECT_NOTHING);
	ck_assert_int_eq(share_check("a.test", 3099, &n), EJECT_OUT);
	ck_assert_int_eq(n.rule, EJECT_BY_PROBE);
	ck_assert_uint_eq(n.ms, 1);
	ck_assert_int_eq(share_check("a.test", 3100, &n), EJECT_PROBE);
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 3200, &P, &n), EJECT_EJECTED);
	ck_assert_uint_eq(n.ms, 2500);
	ck_assert_uint_eq(n.ejections, 3);
	ck_assert_int_eq(share_check("a.test", 5699, &n), EJECT_OUT);
	ck_assert_int_eq(share_check("a.test", 5700, &n), EJECT_PROBE);
	ck_assert_int_eq(share_note("a.test", false, 5800), EJECT_READMITTED);
	/* readmitted: the next ejection is the first again */
	for (int k = 0; k < 9; k++)
		share_note("a.test", true, 6000);
	ck_assert_int_eq(
	    eject_note(&t, "a.test", 80, true, 6000, &P, &n), EJECT_EJECTED);
	ck_assert_int_eq(n.rule, EJECT_BY_PERCENT);
	ck_assert_uint_eq(n.ms, 1000);
	ck_assert_uint_eq(n.ejections, 1);
}
END_TEST

/*
 * With eject_percent a success takes a slot too; a new origin then takes
 * the slot of the admitted one seen last, never an ejected one's.
 */
START_TEST(test_share_slots)
{
	char name[32];
	unsigned a, f;

	eject_init(&t);
	share_eject("out.test", 0);
	for (unsigned i = 1; i < EJECT_SLOTS; i++) {
		snprintf(name, sizeof name, "n%u.test", i);
		share_note(name, false, 100 + i);
	}
	eject_window(&t, "n1.test", 80, 500, &a, &f);
	ck_assert_uint_eq(a, 1);
	share_note("new.test", false, 500);
	eject_window(&t, "new.test", 80, 500, &a, &f);
	ck_assert_uint_eq(a, 1);
	eject_window(&t, "n1.test", 80, 500, &a, &f);
	ck_assert_uint_eq(a, 0);
	eject_window(&t, "n2.test", 80, 500, &a, &f);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(eject_count(&t), 1);
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
	tcase_add_loop_test(
	    tc, test_share_table, 0, sizeof seqs / sizeof seqs[0]);
	tcase_add_test(tc, test_share_one_percent);
	tcase_add_test(tc, test_window_slides);
	tcase_add_test(tc, test_share_readmission);
	tcase_add_test(tc, test_share_growth);
	tcase_add_test(tc, test_share_slots);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
