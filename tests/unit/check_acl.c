/*
 * check_acl: CIDR parsing and matching (IPv4, IPv6, IPv4-mapped IPv6 against
 * IPv4 entries, raw bytes and sockaddrs) and port sets for connect_ports.
 * Addresses in the tables are text, converted with inet_pton.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "acl.h"
#include "util.h"

/* An address as family + raw bytes, from its text form. */
static int
addr_from_text(const char *s, uint8_t *addr)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return AF_INET6;
	ck_abort_msg("bad address in test table: %s", s);
	return -1;
}

START_TEST(test_cidr_parse_ok)
{
	static const struct {
		const char *in;
		int family; /* 0: the representation is not pinned */
		const char *addr;
		unsigned prefix;
	} t[] = {
	    {"127.0.0.0/8", AF_INET, "127.0.0.0", 8},
	    {"10.1.2.3", AF_INET, "10.1.2.3", 32},
	    {"0.0.0.0/0", AF_INET, "0.0.0.0", 0},
	    {"192.168.0.0/16", AF_INET, "192.168.0.0", 16},
	    {"::1", AF_INET6, "::1", 128},
	    {"[::1]", AF_INET6, "::1", 128},
	    {"fe80::/10", AF_INET6, "fe80::", 10},
	    {"::/0", AF_INET6, "::", 0},
	    {"2001:db8::/32", AF_INET6, "2001:db8::", 32},
	    {"::ffff:10.0.0.0/104", 0, NULL, 0},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct cidr c;
		uint8_t want[16];
		const char *cause = NULL;
		int rc;

		memset(&c, 0xa5, sizeof c);
		rc = cidr_parse(t[i].in, &c, &cause);
		ck_assert_msg(rc == 0, "row %zu \"%s\": rc %d (%s)", i, t[i].in,
		    rc, cause != NULL ? cause : "no cause");
		if (t[i].family == 0)
			continue;
		ck_assert_msg(c.family == t[i].family,
		    "row %zu \"%s\": want family %d, got %d", i, t[i].in,
		    t[i].family, c.family);
		ck_assert_msg(c.prefix == t[i].prefix,
		    "row %zu \"%s\": want prefix %u, got %u", i, t[i].in,
		    t[i].prefix, c.prefix);
		addr_from_text(t[i].addr, want);
		ck_assert_msg(
		    memcmp(c.addr, want, t[i].family == AF_INET ? 4 : 16) == 0,
		    "row %zu \"%s\": wrong address bytes", i, t[i].in);
	}
}
END_TEST

START_TEST(test_cidr_parse_bad)
{
	static const char *const t[] = {
	    "300.1.1.1",
	    "1.2.3.4/33",
	    "::1/129",
	    "",
	    "abc",
	    "1.2.3.4/",
	    "1.2.3",
	    "1.2.3.4/8x",
	    "[::1",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct cidr c;
		const char *cause = NULL;
		int rc;

		rc = cidr_parse(t[i], &c, &cause);
		ck_assert_msg(
		    rc == -1, "row %zu \"%s\": want -1, got %d", i, t[i], rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i]);
	}
}
END_TEST

START_TEST(test_cidr_format)
{
	static const struct {
		const char *in;
		const char *want;
	} t[] = {
	    {"127.0.0.0/8", "127.0.0.0/8"},
	    {"10.1.2.3", "10.1.2.3"},
	    {"::1", "::1"},
	    {"[::1]", "::1"},
	    {"fe80::/10", "fe80::/10"},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct cidr c;
		char buf[128];
		const char *cause = NULL;

		ck_assert_msg(cidr_parse(t[i].in, &c, &cause) == 0,
		    "row %zu \"%s\": does not parse", i, t[i].in);
		memset(buf, 0, sizeof buf);
		cidr_format(&c, buf, sizeof buf);
		ck_assert_msg(strcmp(buf, t[i].want) == 0,
		    "row %zu \"%s\": want \"%s\", got \"%s\"", i, t[i].in,
		    t[i].want, buf);
	}
}
END_TEST

/* Set spec, address, expected: checked via _raw and via a sockaddr. */
static const struct {
	const char *set;
	const char *addr;
	bool want;
} contains_rows[] = {
    {"127.0.0.0/8, ::1", "127.0.0.1", true},
    {"127.0.0.0/8, ::1", "127.255.255.255", true},
    {"127.0.0.0/8, ::1", "128.0.0.1", false},
    {"127.0.0.0/8, ::1", "126.255.255.255", false},
    {"127.0.0.0/8, ::1", "10.0.0.1", false},
    {"127.0.0.0/8, ::1", "::1", true},
    {"127.0.0.0/8, ::1", "::2", false},
    {"127.0.0.0/8, ::1", "::ffff:127.0.0.1", true},
    {"127.0.0.0/8, ::1", "::ffff:127.1.2.3", true},
    {"127.0.0.0/8, ::1", "::ffff:128.0.0.1", false},
    /* IPv4-compatible (not mapped) must not match an IPv4 entry. */
    {"127.0.0.0/8, ::1", "::127.0.0.1", false},
    {"10.1.2.3", "10.1.2.3", true},
    {"10.1.2.3", "10.1.2.4", false},
    {"10.0.0.0/8,192.168.0.0/16", "192.168.44.1", true},
    {"10.0.0.0/8,192.168.0.0/16", "192.169.0.1", false},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"fe80::/10", "fe80::1", true},
    {"fe80::/10", "febf:ffff::1", true},
    {"fe80::/10", "fec0::1", false},
    {"fe80::/10", "fe7f::1", false},
    {"2001:db8::/32", "2001:db8:ffff::1", true},
    {"2001:db8::/32", "2001:db9::1", false},
    {"::ffff:10.0.0.0/104", "::ffff:10.200.0.1", true},
    {"::ffff:10.0.0.0/104", "::ffff:11.0.0.1", false},
    {"[::1]", "::1", true},
};

START_TEST(test_cidr_set_contains_raw)
{
	size_t i;

	for (i = 0; i < RP_NELEM(contains_rows); i++) {
		struct cidr_set set = {NULL, 0};
		uint8_t addr[16];
		char *cause = NULL;
		int family;
		bool got;

		ck_assert_msg(
		    cidr_set_parse(contains_rows[i].set, &set, &cause) == 0,
		    "row %zu \"%s\": does not parse (%s)", i,
		    contains_rows[i].set, cause != NULL ? cause : "no cause");
		family = addr_from_text(contains_rows[i].addr, addr);
		got = cidr_set_contains_raw(&set, family, addr);
		ck_assert_msg(got == contains_rows[i].want,
		    "row %zu: %s in {%s}: want %d, got %d", i,
		    contains_rows[i].addr, contains_rows[i].set,
		    contains_rows[i].want, got);
		cidr_set_free(&set);
	}
}
END_TEST

START_TEST(test_cidr_set_contains_sockaddr)
{
	size_t i;

	for (i = 0; i < RP_NELEM(contains_rows); i++) {
		struct cidr_set set = {NULL, 0};
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		const struct sockaddr *sa;
		uint8_t addr[16];
		char *cause = NULL;
		bool got;

		ck_assert_msg(
		    cidr_set_parse(contains_rows[i].set, &set, &cause) == 0,
		    "row %zu \"%s\": does not parse", i, contains_rows[i].set);
		memset(&sin, 0, sizeof sin);
		memset(&sin6, 0, sizeof sin6);
		if (addr_from_text(contains_rows[i].addr, addr) == AF_INET) {
			sin.sin_family = AF_INET;
			sin.sin_port = htons(40000);
			memcpy(&sin.sin_addr, addr, 4);
			sa = (const struct sockaddr *)&sin;
		} else {
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons(40000);
			memcpy(&sin6.sin6_addr, addr, 16);
			sa = (const struct sockaddr *)&sin6;
		}
		got = cidr_set_contains(&set, sa);
		ck_assert_msg(got == contains_rows[i].want,
		    "row %zu: %s in {%s}: want %d, got %d", i,
		    contains_rows[i].addr, contains_rows[i].set,
		    contains_rows[i].want, got);
		cidr_set_free(&set);
	}
}
END_TEST

START_TEST(test_cidr_set_parse_appends)
{
	struct cidr_set set = {NULL, 0};
	uint8_t addr[16];
	char *cause = NULL;
	int family;

	ck_assert_int_eq(cidr_set_parse("127.0.0.0/8, ::1", &set, &cause), 0);
	ck_assert_msg(set.n == 2, "want 2 entries, got %zu", set.n);
	ck_assert_int_eq(cidr_set_parse("10.0.0.0/8", &set, &cause), 0);
	ck_assert_msg(
	    set.n == 3, "want 3 entries after append, got %zu", set.n);
	family = addr_from_text("127.0.0.1", addr);
	ck_assert_msg(cidr_set_contains_raw(&set, family, addr),
	    "127.0.0.1 lost by the append");
	family = addr_from_text("::1", addr);
	ck_assert_msg(cidr_set_contains_raw(&set, family, addr),
	    "::1 lost by the append");
	family = addr_from_text("10.9.8.7", addr);
	ck_assert_msg(cidr_set_contains_raw(&set, family, addr),
	    "10.9.8.7 not in the appended entry");
	cidr_set_free(&set);
}
END_TEST

START_TEST(test_cidr_set_parse_bad)
{
	static const struct {
		const char *in;
		const char *bad; /* must appear in *cause */
	} t[] = {
	    {"127.0.0.0/8, bogus", "bogus"},
	    {"10.0.0.0/8, 1.2.3.4/33", "1.2.3.4/33"},
	    {"300.1.1.1", "300.1.1.1"},
	    {"::1, ::1/129, 10.0.0.0/8", "::1/129"},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct cidr_set set = {NULL, 0};
		char *cause = NULL;
		int rc;

		rc = cidr_set_parse(t[i].in, &set, &cause);
		ck_assert_msg(rc == -1, "row %zu \"%s\": want -1, got %d", i,
		    t[i].in, rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i].in);
		ck_assert_msg(strstr(cause, t[i].bad) != NULL,
		    "row %zu \"%s\": cause \"%s\" does not name \"%s\"", i,
		    t[i].in, cause, t[i].bad);
		free(cause);
		cidr_set_free(&set);
	}
}
END_TEST

START_TEST(test_cidr_set_empty)
{
	static const char *const t[] = {
	    "127.0.0.1",
	    "0.0.0.0",
	    "::1",
	    "::ffff:127.0.0.1",
	};
	struct cidr_set set = {NULL, 0};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct sockaddr_in6 sin6;
		struct sockaddr_in sin;
		const struct sockaddr *sa;
		uint8_t addr[16];
		int family;

		family = addr_from_text(t[i], addr);
		ck_assert_msg(!cidr_set_contains_raw(&set, family, addr),
		    "row %zu: empty set contains %s (raw)", i, t[i]);
		memset(&sin, 0, sizeof sin);
		memset(&sin6, 0, sizeof sin6);
		if (family == AF_INET) {
			sin.sin_family = AF_INET;
			memcpy(&sin.sin_addr, addr, 4);
			sa = (const struct sockaddr *)&sin;
		} else {
			sin6.sin6_family = AF_INET6;
			memcpy(&sin6.sin6_addr, addr, 16);
			sa = (const struct sockaddr *)&sin6;
		}
		ck_assert_msg(!cidr_set_contains(&set, sa),
		    "row %zu: empty set contains %s (sockaddr)", i, t[i]);
	}
	cidr_set_free(&set);
}
END_TEST

START_TEST(test_port_set_contains)
{
	static const struct {
		const char *set;
		unsigned port;
		bool want;
	} t[] = {
	    {"443", 443, true},
	    {"443", 444, false},
	    {"443", 442, false},
	    {"443", 80, false},
	    {"443, 8000-8100", 443, true},
	    {"443, 8000-8100", 8000, true},
	    {"443, 8000-8100", 8050, true},
	    {"443, 8000-8100", 8100, true},
	    {"443, 8000-8100", 7999, false},
	    {"443, 8000-8100", 8101, false},
	    {"443, 8000-8100", 444, false},
	    {"80-80", 80, true},
	    {"80-80", 81, false},
	    {"1-65535", 1, true},
	    {"1-65535", 65535, true},
	    {"*", 1, true},
	    {"*", 80, true},
	    {"*", 443, true},
	    {"*", 65535, true},
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct port_set ps;
		char *cause = NULL;
		bool got;

		memset(&ps, 0, sizeof ps);
		ck_assert_msg(port_set_parse(t[i].set, &ps, &cause) == 0,
		    "row %zu \"%s\": does not parse (%s)", i, t[i].set,
		    cause != NULL ? cause : "no cause");
		got = port_set_contains(&ps, t[i].port);
		ck_assert_msg(got == t[i].want,
		    "row %zu: %u in {%s}: want %d, got %d", i, t[i].port,
		    t[i].set, t[i].want, got);
		port_set_free(&ps);
	}
}
END_TEST

START_TEST(test_port_set_any)
{
	struct port_set ps;
	char *cause = NULL;

	memset(&ps, 0, sizeof ps);
	ck_assert_int_eq(port_set_parse("*", &ps, &cause), 0);
	ck_assert_msg(ps.any, "\"*\" did not set any");
	port_set_free(&ps);

	memset(&ps, 0, sizeof ps);
	ck_assert_int_eq(port_set_parse("443", &ps, &cause), 0);
	ck_assert_msg(!ps.any, "\"443\" set any");
	port_set_free(&ps);
}
END_TEST

START_TEST(test_port_set_parse_bad)
{
	static const char *const t[] = {
	    "0",
	    "65536",
	    "10-5",
	    "abc",
	    "",
	    "443, 0",
	    "443-",
	};
	size_t i;

	for (i = 0; i < RP_NELEM(t); i++) {
		struct port_set ps;
		char *cause = NULL;
		int rc;

		memset(&ps, 0, sizeof ps);
		rc = port_set_parse(t[i], &ps, &cause);
		ck_assert_msg(
		    rc == -1, "row %zu \"%s\": want -1, got %d", i, t[i], rc);
		ck_assert_msg(
		    cause != NULL, "row %zu \"%s\": no cause", i, t[i]);
		free(cause);
		port_set_free(&ps);
	}
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("acl");
	tc = tcase_create("core");
	tcase_add_test(tc, test_cidr_parse_ok);
	tcase_add_test(tc, test_cidr_parse_bad);
	tcase_add_test(tc, test_cidr_format);
	tcase_add_test(tc, test_cidr_set_contains_raw);
	tcase_add_test(tc, test_cidr_set_contains_sockaddr);
	tcase_add_test(tc, test_cidr_set_parse_appends);
	tcase_add_test(tc, test_cidr_set_parse_bad);
	tcase_add_test(tc, test_cidr_set_empty);
	tcase_add_test(tc, test_port_set_contains);
	tcase_add_test(tc, test_port_set_any);
	tcase_add_test(tc, test_port_set_parse_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(acl_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
