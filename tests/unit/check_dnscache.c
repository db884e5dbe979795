/*
 * check_dnscache: the resolved-name cache -- freshness, expiry, case,
 * replacement when full, the address limit, forgetting.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dnscache.h"

static struct dnscache c;

static struct sockaddr_storage
v4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, a, &sin->sin_addr);
	return ss;
}

static const char *
addr_of(const struct sockaddr_storage *ss, char *buf)
{
	return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
	    buf, INET_ADDRSTRLEN);
}

START_TEST(test_fresh_then_expired)
{
	struct sockaddr_storage in[2] = {v4("192.0.2.1"), v4("192.0.2.2")};
	struct sockaddr_storage out[4];
	char b[INET_ADDRSTRLEN];

	dnscache_init(&c);
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 1000, out, 4), 0);
	dnscache_put(&c, "a.test", in, 2, 1000, 500);
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 1000, out, 4), 2);
	ck_assert_str_eq(addr_of(&out[0], b), "192.0.2.1");
	ck_assert_str_eq(addr_of(&out[1], b), "192.0.2.2");
	/* names are case-insensitive; the caller's limit holds */
	ck_assert_uint_eq(dnscache_get(&c, "A.Test", 1499, out, 1), 1);
	/* at the expiry it is gone, and stays gone */
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 1500, out, 4), 0);
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 1000, out, 4), 0);
	ck_assert_uint_eq(c.hits, 2);
	ck_assert_uint_eq(c.misses, 3);
}
END_TEST

START_TEST(test_put_refreshes_and_forget)
{
	struct sockaddr_storage a = v4("192.0.2.1"), b2 = v4("192.0.2.9");
	struct sockaddr_storage out[4];
	char b[INET_ADDRSTRLEN];

	dnscache_init(&c);
	dnscache_put(&c, "a.test", &a, 1, 0, 100);
	dnscache_put(&c, "a.test", &b2, 1, 50, 100); /* a new answer */
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 120, out, 4), 1);
	ck_assert_str_eq(addr_of(&out[0], b), "192.0.2.9");
	dnscache_forget(&c, "a.test");
	ck_assert_uint_eq(dnscache_get(&c, "a.test", 120, out, 4), 0);
	/* nothing kept: no addresses, no lifetime, a name too long */
	dnscache_put(&c, "b.test", &a, 0, 0, 100);
	dnscache_put(&c, "c.test", &a, 1, 0, 0);
	{
		char longname[DNSCACHE_NAME_MAX + 2];
		memset(longname, 'x', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		dnscache_put(&c, longname, &a, 1, 0, 100);
		ck_assert_uint_eq(dnscache_get(&c, longname, 1, out, 4), 0);
	}
	ck_assert_uint_eq(dnscache_get(&c, "b.test", 1, out, 4), 0);
	ck_assert_uint_eq(dnscache_get(&c, "c.test", 0, out, 4), 0);
}
END_TEST

START_TEST(test_address_limit)
{
	struct sockaddr_storage in[DNSCACHE_ADDRS + 3], out[DNSCACHE_ADDRS + 3];
	char name[32], b[INET_ADDRSTRLEN];

	dnscache_init(&c);
	for (unsigned i = 0; i < DNSCACHE_ADDRS + 3; i++) {
		snprintf(name, sizeof name, "192.0.2.%u", i + 1);
		in[i] = v4(name);
	}
	dnscache_put(&c, "many.test", in, DNSCACHE_ADDRS + 3, 0, 100);
	ck_assert_uint_eq(
	    dnscache_get(&c, "many.test", 1, out, DNSCACHE_ADDRS + 3),
	    DNSCACHE_ADDRS);
	ck_assert_str_eq(addr_of(&out[DNSCACHE_ADDRS - 1], b),
	    DNSCACHE_ADDRS == 4 ? "192.0.2.4" : "?");
}
END_TEST

START_TEST(test_full_replaces_soonest_expiry)
{
	struct sockaddr_storage a = v4("192.0.2.1"), out[4];
	char name[32];

	dnscache_init(&c);
	/* name i expires at 1000 + i, except name 7, which expires first */
	for (unsigned i = 0; i < DNSCACHE_ENTRIES; i++) {
		snprintf(name, sizeof name, "n%u.test", i);
		dnscache_put(&c, name, &a, 1, 0, i == 7 ? 10 : 1000 + i);
	}
	dnscache_put(&c, "new.test", &a, 1, 5, 1000);
	ck_assert_uint_eq(dnscache_get(&c, "new.test", 6, out, 4), 1);
	ck_assert_uint_eq(dnscache_get(&c, "n7.test", 6, out, 4), 0);
	for (unsigned i = 0; i < DNSCACHE_ENTRIES; i++) {
		if (i == 7)
			continue;
		snprintf(name, sizeof name, "n%u.test", i);
		ck_assert_msg(dnscache_get(&c, name, 6, out, 4) == 1,
		    "%s was replaced", name);
	}
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("dnscache");
	TCase *tc = tcase_create("dnscache");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_fresh_then_expired);
	tcase_add_test(tc, test_put_refreshes_and_forget);
	tcase_add_test(tc, test_address_limit);
	tcase_add_test(tc, test_full_replaces_soonest_expiry);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
