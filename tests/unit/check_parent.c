/*
 * check_parent: parent proxies -- the list items that parse, which parent
 * an attempt takes (failed for the request, marked, all marked), marks
 * (expiry, extension, forgetting, a full table), and which responses are
 * a parent's own errors, table by table.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "parent.h"
#include "util.h"

static const struct {
	const char *item;
	int rc;
	const char *host;
	unsigned port;
	const char *why; /* a prefix of it */
} parse_rows[] = {
    {"http://proxy.corp:8080", 0, "proxy.corp", 8080, NULL},
    {"HTTP://Proxy.Corp:3128", 0, "proxy.corp", 3128, NULL},
    {"http://[::1]:3128", 0, "::1", 3128, NULL},
    {"http://10.0.0.1:80/", -1, NULL, 0, "a parent is http://host:port, w"},
    {"http://proxy.corp", -1, NULL, 0, "a parent needs its port"},
    {"https://proxy.corp:443", -1, NULL, 0, "an https:// parent"},
    {"socks5://proxy.corp:1080", -1, NULL, 0,
	"a parent is http://host:port, o"},
    {"proxy.corp:8080", -1, NULL, 0, "a parent is http://host:port, o"},
    {"http://user:pw@proxy.corp:8080", -1, NULL, 0, NULL},
    {"http://proxy.corp:0", -1, NULL, 0, NULL},
    {"http://proxy.corp:8080/x", -1, NULL, 0,
	"a parent is http://host:port, w"},
};

START_TEST(test_parse)
{
	char host[256];
	unsigned port = 0;
	const char *why = NULL;
	int rc =
	    parent_parse(parse_rows[_i].item, host, sizeof host, &port, &why);

	ck_assert_msg(
	    rc == parse_rows[_i].rc, "%s: rc %d", parse_rows[_i].item, rc);
	if (rc == 0) {
		ck_assert_str_eq(host, parse_rows[_i].host);
		ck_assert_uint_eq(port, parse_rows[_i].port);
	} else {
		ck_assert_ptr_nonnull(why);
		if (parse_rows[_i].why != NULL)
			ck_assert_msg(strncmp(why, parse_rows[_i].why,
					  strlen(parse_rows[_i].why)) == 0,
			    "%s: %s", parse_rows[_i].item, why);
	}
}
END_TEST

static struct parent three[] = {
    {"a", 1, "a:1"}, {"b", 2, "b:2"}, {"c", 3, "c:3"}};

static const struct {
	const char *desc;
	uint32_t failed;
	uint64_t until[3]; /* marks, from now = 1000 (0: none) */
	size_t want;
	bool passed_over;
} pick_rows[] = {
    {"none failed, none marked: the first", 0, {0, 0, 0}, 0, false},
    {"the first failed for this request", 0x1, {0, 0, 0}, 1, true},
    {"the first two failed", 0x3, {0, 0, 0}, 2, true},
    {"all failed: the round again", 0x7, {0, 0, 0}, 0, false},
    {"the first marked", 0, {5000, 0, 0}, 1, true},
    {"a mark that ended", 0, {900, 0, 0}, 0, false},
    {"marked or failed: the first unmarked", 0x2, {5000, 0, 0}, 2, true},
    {"all failed, one marked: the first unmarked", 0x7, {5000, 0, 0}, 1, true},
    {"all marked: the one that ends first", 0, {5000, 3000, 4000}, 1, true},
};

START_TEST(test_pick)
{
	struct parent_marks m;
	bool passed;
	size_t i;

	memset(&m, 0, sizeof m);
	for (i = 0; i < 3; i++)
		if (pick_rows[_i].until[i] > 0)
			parent_mark(
			    &m, three[i].text, 0, pick_rows[_i].until[i]);
	i = parent_pick(three, 3, pick_rows[_i].failed, &m, 1000, &passed);
	ck_assert_msg(
	    i == pick_rows[_i].want, "%s: %zu", pick_rows[_i].desc, i);
	ck_assert_msg(passed == pick_rows[_i].passed_over, "%s: passed over",
	    pick_rows[_i].desc);
	/* no marks table at all */
	i = parent_pick(three, 3, 0, NULL, 1000, &passed);
	ck_assert_uint_eq(i, 0);
}
END_TEST

START_TEST(test_marks)
{
	static struct parent_marks m;
	char k[16];

	memset(&m, 0, sizeof m);
	ck_assert_uint_eq(parent_until(&m, "a:1", 100), 0);
	parent_mark(&m, "a:1", 100, 1000);
	ck_assert_uint_eq(parent_until(&m, "a:1", 100), 1100);
	ck_assert_uint_eq(parent_until(&m, "a:1", 1100), 0); /* ended */
	parent_mark(&m, "a:1", 500, 1000); /* extends */
	ck_assert_uint_eq(parent_until(&m, "a:1", 600), 1500);
	parent_mark(&m, "a:1", 500, 10); /* never shortens */
	ck_assert_uint_eq(parent_until(&m, "a:1", 600), 1500);
	parent_forget(&m, "a:1");
	ck_assert_uint_eq(parent_until(&m, "a:1", 600), 0);
	/* a full table: the mark that ends first gives way */
	for (int i = 0; i < PARENT_MARKS; i++) {
		snprintf(k, sizeof k, "p%d:1", i);
		parent_mark(&m, k, 0, 10000 + (uint64_t)i);
	}
	parent_mark(&m, "new:1", 0, 20000);
	ck_assert_uint_eq(parent_until(&m, "new:1", 1), 20000);
	ck_assert_uint_eq(parent_until(&m, "p0:1", 1), 0);
	ck_assert_uint_eq(parent_until(&m, "p1:1", 1), 10001);
}
END_TEST

/* A response's fields, "Name: value" lines, for parent_response_is_own. */
static const char *
get(const char *name, void *arg)
{
	static char v[128];
	const char *const *f = arg;

	for (; *f != NULL; f++) {
		size_t n = strlen(name);
		if (util_strncasecmp(*f, name, n) == 0 && (*f)[n] == ':') {
			snprintf(v, sizeof v, "%s", *f + n + 2);
			return v;
		}
	}
	return NULL;
}

static const char *const squid_own[] = {"Server: squid/5.7",
    "X-Squid-Error: ERR_CONNECT_FAIL 111", "Via: 1.1 parent-test (squid/5.7)",
    NULL};
static const char *const squid_relayed[] = {
    "Server: origin", "Via: 1.1 parent-test (squid/5.7)", NULL};
static const char *const tinyproxy_own[] = {"Server: tinyproxy/1.11.1", NULL};
static const char *const proxy_status_error[] = {
    "Proxy-Status: corp; error=connection_refused", "Via: 1.1 corp", NULL};
static const char *const proxy_status_no_error[] = {
    "Proxy-Status: corp; received-status=503", "Via: 1.1 corp", NULL};
static const char *const proxy_status_errorish[] = {
    "Proxy-Status: corp; details=\"error=x\"", "Via: 1.1 corp", NULL};

static const struct {
	int status;
	const char *const *fields;
	bool own;
} own_rows[] = {
    {503, squid_own, true},
    {503, squid_relayed, false},
    {502, squid_relayed, false},
    {500, tinyproxy_own, true},
    {502, proxy_status_error, true},
    {504, proxy_status_error, true},
    {503, proxy_status_no_error, false},
    {503, proxy_status_errorish, false},
    {404, squid_own, false}, /* not a 5xx it could mean */
    {501, tinyproxy_own, false},
    {200, tinyproxy_own, false},
};

START_TEST(test_own)
{
	ck_assert_msg(parent_response_is_own(own_rows[_i].status, get,
			  (void *)own_rows[_i].fields) == own_rows[_i].own,
	    "row %d", _i);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("parent");
	TCase *tc = tcase_create("parent");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_parse, 0, (int)RP_NELEM(parse_rows));
	tcase_add_loop_test(tc, test_pick, 0, (int)RP_NELEM(pick_rows));
	tcase_add_test(tc, test_marks);
	tcase_add_loop_test(tc, test_own, 0, (int)RP_NELEM(own_rows));
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
