/*
 * check_idlelearn: what origins showed of their idle timeouts -- the
 * limit from Keep-Alive: timeout=, from closes seen (the shortest wins,
 * forgotten after ten minutes), the assumed 2 s, warm under half, and a
 * full table -- table by table.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "idlelearn.h"
#include "util.h"

#define T0 1000000 /* a start time, ms */

struct limit_row {
	uint64_t keepalive_ms; /* the connection's Keep-Alive: timeout= */
	uint64_t closes[3]; /* idle closes seen at T0 (0: none) */
	uint64_t at; /* asked at T0 + at */
	uint64_t want;
};

static const struct limit_row limit_rows[] = {
    /* nothing said, nothing seen: assumed */
    {0, {0}, 0, IDLELEARN_ASSUMED_MS},
    /* said: what it said */
    {5000, {0}, 0, 5000},
    {300, {0}, 0, 300},
    /* seen, nothing said: the shortest seen */
    {0, {4000, 0}, 10, 4000},
    {0, {4000, 1500, 0}, 10, 1500},
    {0, {1500, 4000, 0}, 10, 1500},
    /* a close seen at 0 ms idle still counts */
    {0, {1, 0}, 10, 1},
    /* said, and seen closing sooner: the sooner */
    {5000, {800, 0}, 10, 800},
    /* said, and seen closing later: what it said */
    {5000, {9000, 0}, 10, 5000},
    /* seen long ago: forgotten */
    {0, {700, 0}, IDLELEARN_FOR_MS, IDLELEARN_ASSUMED_MS},
    {5000, {700, 0}, IDLELEARN_FOR_MS + 1, 5000},
    {0, {700, 0}, IDLELEARN_FOR_MS - 1, 700},
};

START_TEST(test_limit)
{
	const struct limit_row *r = &limit_rows[_i];
	struct idlelearn *t = idlelearn_new();

	for (size_t i = 0; i < RP_NELEM(r->closes) && r->closes[i]; i++)
		idlelearn_close(t, "pn:a.test:80:", r->closes[i], T0);
	ck_assert_uint_eq(
	    idlelearn_limit_ms(t, "pn:a.test:80:", r->keepalive_ms, T0 + r->at),
	    r->want);
	/* another origin knows nothing of it */
	ck_assert_uint_eq(
	    idlelearn_limit_ms(t, "pn:a.test:81:", r->keepalive_ms, T0 + r->at),
	    r->keepalive_ms ? r->keepalive_ms : IDLELEARN_ASSUMED_MS);
	idlelearn_free(t);
}
END_TEST

START_TEST(test_warm)
{
	struct idlelearn *t = idlelearn_new();

	/* under half of the limit only */
	ck_assert(idlelearn_is_warm(t, "k", 0, 0, T0));
	ck_assert(idlelearn_is_warm(t, "k", 0, 999, T0));
	ck_assert(!idlelearn_is_warm(t, "k", 0, 1000, T0));
	ck_assert(idlelearn_is_warm(t, "k", 1000, 499, T0));
	ck_assert(!idlelearn_is_warm(t, "k", 1000, 500, T0));
	/* a close seen at 0 ms: nothing is warm any more (for ten minutes) */
	idlelearn_close(t, "k", 0, T0);
	ck_assert(!idlelearn_is_warm(t, "k", 0, 0, T0 + 1));
	ck_assert(idlelearn_is_warm(t, "k", 0, 0, T0 + IDLELEARN_FOR_MS));
	/* an old observation is replaced by a new one, even a longer one */
	idlelearn_close(t, "k", 6000, T0 + IDLELEARN_FOR_MS);
	ck_assert_uint_eq(
	    idlelearn_limit_ms(t, "k", 0, T0 + IDLELEARN_FOR_MS + 1), 6000);
	idlelearn_free(t);
}
END_TEST

START_TEST(test_full_table)
{
	struct idlelearn *t = idlelearn_new();
	char key[64];

	for (unsigned i = 0; i < IDLELEARN_MAX; i++) {
		snprintf(key, sizeof key, "pn:h%u.test:80:", i);
		idlelearn_close(t, key, 100, T0);
	}
	ck_assert_uint_eq(idlelearn_limit_ms(t, "pn:h0.test:80:", 0, T0), 100);
	ck_assert_uint_eq(
	    idlelearn_limit_ms(t, "pn:h4095.test:80:", 0, T0), 100);
	/* one more: all are forgotten, the new one kept */
	idlelearn_close(t, "pn:new.test:80:", 300, T0);
	ck_assert_uint_eq(idlelearn_limit_ms(t, "pn:h0.test:80:", 0, T0),
	    IDLELEARN_ASSUMED_MS);
	ck_assert_uint_eq(idlelearn_limit_ms(t, "pn:new.test:80:", 0, T0), 300);
	idlelearn_free(t);
	idlelearn_free(NULL);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("idlelearn");
	TCase *tc = tcase_create("idlelearn");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_limit, 0, (int)RP_NELEM(limit_rows));
	tcase_add_test(tc, test_warm);
	tcase_add_test(tc, test_full_table);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
