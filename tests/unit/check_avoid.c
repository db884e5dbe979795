/*
 * check_avoid: the address of each attempt -- keys and their text, which
 * failures mark, marks (expiry, extension, forgetting, a full table),
 * what a request tried, and the pick, table by table.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "avoid.h"
#include "util.h"

static struct avoid v;

static struct avoid_addr
key(const char *text, unsigned port)
{
	struct sockaddr_storage ss;
	struct avoid_addr k;

	memset(&ss, 0, sizeof ss);
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	ck_assert(avoid_addr_set(&k, (const struct sockaddr *)&ss, port));
	return k;
}

START_TEST(test_keys)
{
	struct sockaddr_in sin;
	struct sockaddr_storage un;
	struct avoid_addr a = key("192.0.2.1", 80), b = key("192.0.2.1", 81);
	struct avoid_addr c = key("2001:db8::1", 443), none;
	char buf[AVOID_ADDR_TEXT];

	ck_assert(avoid_addr_eq(&a, &a));
	ck_assert(!avoid_addr_eq(&a, &b)); /* the port counts */
	ck_assert_str_eq(
	    avoid_addr_format(&a, buf, sizeof buf), "192.0.2.1:80");
	ck_assert_str_eq(
	    avoid_addr_format(&c, buf, sizeof buf), "[2001:db8::1]:443");
	c = key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	ck_assert_str_eq(avoid_addr_format(&c, buf, sizeof buf),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	/* port 0: the sockaddr's own */
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8080);
	inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
	ck_assert(avoid_addr_set(&a, (const struct sockaddr *)&sin, 0));
	ck_assert_str_eq(
	    avoid_addr_format(&a, buf, sizeof buf), "127.0.0.2:8080");
	/* back to a sockaddr, and to the same key (the pools use it) */
	{
		struct sockaddr_storage back;
		struct avoid_addr again;
		struct avoid_addr six = key("2001:db8::7", 8443);

		avoid_addr_sockaddr(&a, &back);
		ck_assert_uint_eq(back.ss_family, AF_INET);
		ck_assert_uint_eq(
		    ntohs(((struct sockaddr_in *)&back)->sin_port), 8080);
		ck_assert(
		    avoid_addr_set(&again, (const struct sockaddr *)&back, 0));
		ck_assert(avoid_addr_eq(&again, &a));
		avoid_addr_sockaddr(&six, &back);
		ck_assert_uint_eq(back.ss_family, AF_INET6);
		ck_assert(
		    avoid_addr_set(&again, (const struct sockaddr *)&back, 0));
		ck_assert(avoid_addr_eq(&again, &six));
		memset(&again, 0, sizeof again);
		avoid_addr_sockaddr(&again, &back);
		ck_assert_uint_eq(back.ss_family, 0);
	}
	/* no address: NULL, or another family */
	ck_assert(!avoid_addr_set(&none, NULL, 80));
	ck_assert_str_eq(avoid_addr_format(&none, buf, sizeof buf), "-");
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	ck_assert(!avoid_addr_set(&none, (const struct sockaddr *)&un, 80));
	ck_assert_uint_eq(none.family, 0);
}
END_TEST

START_TEST(test_which_failures_mark)
{
	/* the connect failed: the address */
	ck_assert(avoid_fail_marks(FK_CONNECTION_REFUSED));
	ck_assert(avoid_fail_marks(FK_CONNECTION_TIMEOUT));
	ck_assert(avoid_fail_marks(FK_DESTINATION_UNREACHABLE));
	/* after the request went out, or not the address's doing */
	ck_assert(!avoid_fail_marks(FK_CONNECTION_TERMINATED));
	ck_assert(!avoid_fail_marks(FK_RESPONSE_TIMEOUT));
	ck_assert(!avoid_fail_marks(FK_HTTP_PROTOCOL_ERROR));
	ck_assert(!avoid_fail_marks(FK_TLS_PROTOCOL_ERROR));
	ck_assert(!avoid_fail_marks(FK_TLS_CERTIFICATE_ERROR));
	ck_assert(!avoid_fail_marks(FK_DEADLINE_CONNECTING));
	ck_assert(!avoid_fail_marks(FK_DNS_TIMEOUT));
	ck_assert(!avoid_fail_marks(FK_DNS_ERROR));
	ck_assert(!avoid_fail_marks(FK_DNS_NXDOMAIN));
	ck_assert(!avoid_fail_marks(FK_RESPONSE_HEADER_TOO_BIG));
	ck_assert(!avoid_fail_marks(FK_NONE));
}
END_TEST

START_TEST(test_marks)
{
	struct avoid_addr a = key("192.0.2.1", 80), b = key("192.0.2.2", 80);
	struct avoid_addr none;

	memset(&none, 0, sizeof none);
	avoid_init(&v);
	ck_assert_uint_eq(avoid_until(&v, &a, 0), 0);
	avoid_mark(&v, &a, 1000, 10000);
	ck_assert_uint_eq(avoid_until(&v, &a, 1000), 11000);
	ck_assert_uint_eq(avoid_until(&v, &a, 10999), 11000);
	ck_assert_uint_eq(avoid_until(&v, &a, 11000), 0); /* over */
	ck_assert_uint_eq(avoid_until(&v, &b, 1000), 0);
	/* a later mark extends it */
	avoid_mark(&v, &a, 5000, 10000);
	ck_assert_uint_eq(avoid_until(&v, &a, 12000), 15000);
	/* a connection made: forgotten */
	avoid_forget(&v, &a);
	ck_assert_uint_eq(avoid_until(&v, &a, 5000), 0);
	avoid_forget(&v, &b); /* (not marked: nothing happens) */
	/* nothing marked: no time, no address */
	avoid_mark(&v, &a, 0, 0);
	avoid_mark(&v, &none, 0, 1000);
	ck_assert_uint_eq(avoid_until(&v, &a, 0), 0);
	ck_assert_uint_eq(avoid_until(&v, &none, 0), 0);
}
END_TEST

START_TEST(test_full_table)
{
	struct avoid_addr k[AVOID_ENTRIES + 2];
	char text[32];

	avoid_init(&v);
	for (unsigned i = 0; i < AVOID_ENTRIES + 2; i++) {
		snprintf(text, sizeof text, "10.0.%u.%u", i / 250, i % 250 + 1);
		k[i] = key(text, 80);
	}
	/* mark i ends at 1000 + i, except mark 7, which ends first */
	for (unsigned i = 0; i < AVOID_ENTRIES; i++)
		avoid_mark(&v, &k[i], 0, i == 7 ? 10 : 1000 + i);
	avoid_mark(&v, &k[AVOID_ENTRIES], 5, 1000);
	ck_assert_uint_eq(avoid_until(&v, &k[AVOID_ENTRIES], 6), 1005);
	ck_assert_uint_eq(avoid_until(&v, &k[7], 6), 0);
	for (unsigned i = 0; i < AVOID_ENTRIES; i++)
		if (i != 7)
			ck_assert_msg(avoid_until(&v, &k[i], 6) == 1000 + i,
			    "mark %u was replaced", i);
	/* a lapsed mark gives way before a live one that ends sooner */
	avoid_mark(&v, &k[AVOID_ENTRIES + 1], 1001, 5000);
	ck_assert_uint_eq(avoid_until(&v, &k[AVOID_ENTRIES + 1], 1001), 6001);
	ck_assert_uint_eq(avoid_until(&v, &k[AVOID_ENTRIES], 1001), 1005);
	ck_assert_uint_eq(avoid_until(&v, &k[2], 1001), 1002);
}
END_TEST

START_TEST(test_tried)
{
	struct avoid_tried t = {0};
	struct avoid_addr a = key("192.0.2.1", 80), b = key("192.0.2.2", 80);
	struct avoid_addr none;
	char text[32];

	memset(&none, 0, sizeof none);
	ck_assert_uint_eq(avoid_tried_count(&t, &a), 0);
	ck_assert(!avoid_tried_failed(&t, &a));
	avoid_tried_note(&t, &a, false); /* a response */
	ck_assert_uint_eq(avoid_tried_count(&t, &a), 1);
	ck_assert(!avoid_tried_failed(&t, &a));
	avoid_tried_note(&t, &a, true);
	avoid_tried_note(&t, &a, false); /* (a failure is not forgotten) */
	ck_assert_uint_eq(avoid_tried_count(&t, &a), 3);
	ck_assert(avoid_tried_failed(&t, &a));
	ck_assert_uint_eq(avoid_tried_count(&t, &b), 0);
	avoid_tried_note(&t, &none, true);
	ck_assert_uint_eq(t.n, 1);
	/* past AVOID_TRIED addresses, the others are not remembered */
	for (unsigned i = 0; i < AVOID_TRIED + 2; i++) {
		snprintf(text, sizeof text, "10.0.0.%u", i + 1);
		struct avoid_addr k = key(text, 80);
		avoid_tried_note(&t, &k, true);
	}
	ck_assert_uint_eq(t.n, AVOID_TRIED);
}
END_TEST

/*
 * The pick.  Addresses A, B, C (in the resolver's order); each row sets
 * which are marked until when, how often the request tried each, and
 * the index and passed_over it wants.
 */
struct pick_row {
	const char *what;
	unsigned n;
	uint64_t until[3]; /* 0: not marked (the clock is at 100) */
	unsigned count[3];
	unsigned want;
	bool passed_over;
};

static const struct pick_row pick_rows[] = {
    {"one address", 1, {0}, {0}, 0, false},
    {"one address, marked: still it", 1, {500}, {0}, 0, false},
    {"one address, tried: again", 1, {0}, {3}, 0, false},
    {"the first attempt: the resolver's first", 3, {0}, {0}, 0, false},
    {"a retry: the next not yet tried", 3, {0}, {1, 0, 0}, 1, false},
    {"the third: the last not tried", 3, {0}, {1, 1, 0}, 2, false},
    {"all tried once: round again", 3, {0}, {1, 1, 1}, 0, false},
    {"round again, from the least tried", 3, {0}, {2, 1, 2}, 1, false},
    {"the first marked: passed over", 3, {500, 0, 0}, {0}, 1, true},
    {"the first two marked", 3, {500, 400, 0}, {0}, 2, true},
    {"a lapsed mark is no mark", 3, {100, 0, 0}, {0}, 0, false},
    {"marked, but not first anyway", 3, {0, 0, 500}, {0}, 0, false},
    {"all marked: the mark that ends first", 3, {500, 300, 400}, {0}, 1, true},
    {"all marked alike: the resolver's order", 3, {500, 500, 500}, {0}, 0,
	false},
    {"all marked: the least tried before the sooner end", 3, {500, 300, 400},
	{0, 1, 0}, 2, true},
    {"unmarked but tried before marked and untried", 2, {500, 0}, {0, 1}, 1,
	true},
    {"unmarked, tried twice, before marked", 2, {500, 0}, {0, 2}, 1, true},
    {"refused, then the other: it answered, both tried", 2, {500, 0}, {1, 1}, 1,
	true},
};

START_TEST(test_pick)
{
	const struct pick_row *r = &pick_rows[_i];
	struct avoid_addr k[3] = {
	    key("192.0.2.1", 80), key("192.0.2.2", 80), key("2001:db8::3", 80)};
	struct avoid_tried t = {0};
	bool passed_over = !r->passed_over;
	unsigned got;

	avoid_init(&v);
	for (unsigned i = 0; i < r->n; i++) {
		if (r->until[i] != 0)
			avoid_mark(&v, &k[i], 0, r->until[i]);
		for (unsigned j = 0; j < r->count[i]; j++)
			avoid_tried_note(&t, &k[i], j % 2 == 0);
	}
	got = avoid_pick(&v, &t, k, r->n, 100, &passed_over);
	ck_assert_msg(
	    got == r->want, "%s: want %u, got %u", r->what, r->want, got);
	ck_assert_msg(passed_over == r->passed_over, "%s: passed_over %d",
	    r->what, passed_over);
}
END_TEST

/* What a request with two addresses, one refusing, goes through. */
START_TEST(test_story)
{
	struct avoid_addr k[2] = {
	    key("127.0.0.1", 8080), key("127.0.0.2", 8080)};
	struct avoid_tried t1 = {0}, t2 = {0}, t3 = {0};
	bool po;

	avoid_init(&v);
	/* request 1: the first address refuses; the retry goes to the next */
	ck_assert_uint_eq(avoid_pick(&v, &t1, k, 2, 0, &po), 0);
	ck_assert(!po);
	avoid_tried_note(&t1, &k[0], true);
	avoid_mark(&v, &k[0], 5, 10000);
	ck_assert_uint_eq(avoid_pick(&v, &t1, k, 2, 105, &po), 1);
	ck_assert(!po); /* (not tried beats tried anyway) */
	/* request 2, while the mark holds: straight to the second */
	ck_assert_uint_eq(avoid_pick(&v, &t2, k, 2, 9000, &po), 1);
	ck_assert(po);
	/* request 3, once it is over: the first again */
	ck_assert_uint_eq(avoid_pick(&v, &t3, k, 2, 10005, &po), 0);
	ck_assert(!po);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("avoid");
	TCase *tc = tcase_create("avoid");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_which_failures_mark);
	tcase_add_test(tc, test_marks);
	tcase_add_test(tc, test_full_table);
	tcase_add_test(tc, test_tried);
	tcase_add_loop_test(tc, test_pick, 0, (int)RP_NELEM(pick_rows));
	tcase_add_test(tc, test_story);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
