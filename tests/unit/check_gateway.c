/*
 * check_gateway: gateway listeners' pure rules -- origins (path prefix,
 * refused forms), the URL of an origin-form target, the forwarding
 * fields of each mode, listener address overlaps and matching, and the
 * [gateway ADDR] section's errors.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"

static const struct {
	const char *in, *base; /* base NULL: refused */
} origin_rows[] = {
    {"https://api.example.com", "https://api.example.com"},
    {"https://API.example.com/", "https://api.example.com"},
    {"http://h:8080/v2/", "http://h:8080/v2"},
    {"http://h/v2//", "http://h/v2"},
    {"HTTP://[::1]:81/a/b", "http://[::1]:81/a/b"},
    {"ftp://h", NULL},
    {"h:80", NULL},
    {"http://h/v1?x=1", NULL},
    {"http://h/#f", NULL},
    {"http://u@h/", NULL},
    {"http://h:0/", NULL},
};

START_TEST(test_origin)
{
	char *base = NULL;
	const char *why = NULL;
	int rc = gateway_origin_parse(origin_rows[_i].in, &base, &why);

	if (origin_rows[_i].base == NULL) {
		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_nonnull(why);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_str_eq(base, origin_rows[_i].base);
		free(base);
	}
}
END_TEST

START_TEST(test_url)
{
	struct gateway g = {.base = "https://a.example/v2"};
	char *u;

	u = gateway_url(&g, "/x?q=1");
	ck_assert_str_eq(u, "https://a.example/v2/x?q=1");
	free(u);
	u = gateway_url(&g, "/");
	ck_assert_str_eq(u, "https://a.example/v2/");
	free(u);
	ck_assert_ptr_null(gateway_url(&g, "http://b.example/x"));
	ck_assert_ptr_null(gateway_url(&g, "*"));
	ck_assert_ptr_null(gateway_url(&g, ""));
}
END_TEST

static const struct {
	enum forwarded_mode mode;
	const char *ip, *pxff, *pfwd, *host, *xff, *fwd;
} fwd_rows[] = {
    {FORWARDED_XFF, "127.0.0.1", NULL, NULL, "h:1", "127.0.0.1", NULL},
    {FORWARDED_XFF, "127.0.0.1", "10.0.0.1", "for=x", "h",
	"10.0.0.1, 127.0.0.1", NULL},
    {FORWARDED_NONE, "127.0.0.1", "10.0.0.1", NULL, "h", NULL, NULL},
    {FORWARDED_RFC7239, "127.0.0.1", "10.0.0.1", NULL, "h:1", NULL,
	"for=127.0.0.1;host=\"h:1\";proto=http"},
    {FORWARDED_BOTH, "::1", NULL, "for=a", NULL, "::1",
	"for=a, for=\"[::1]\";proto=http"},
    {FORWARDED_RFC7239, "127.0.0.1", NULL, NULL, "a\"b", NULL,
	"for=127.0.0.1;proto=http"},
};

START_TEST(test_forwarded)
{
	char *xff, *fwd;

	gateway_forwarded(fwd_rows[_i].mode, fwd_rows[_i].ip, fwd_rows[_i].pxff,
	    fwd_rows[_i].pfwd, fwd_rows[_i].host, &xff, &fwd);
	if (fwd_rows[_i].xff == NULL)
		ck_assert_ptr_null(xff);
	else
		ck_assert_str_eq(xff, fwd_rows[_i].xff);
	if (fwd_rows[_i].fwd == NULL)
		ck_assert_ptr_null(fwd);
	else
		ck_assert_str_eq(fwd, fwd_rows[_i].fwd);
	free(xff);
	free(fwd);
}
END_TEST

static struct config *
load(const char *text, struct config_errors *errs)
{
	return config_load_string("t.ini", text, NULL, errs);
}

START_TEST(test_overlaps_and_find)
{
	struct config_errors errs = {0};
	struct config *c = load("[gateway 127.0.0.1:8081]\n"
				"origin = https://a.example/v2/\n"
				"forwarded = both\n"
				"[gateway [::1]:8081]\n"
				"origin = http://b.example\n",
	    &errs);
	struct sockaddr_in sin = {0};
	const struct gateway *g;

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->ngateways, 2);
	ck_assert_str_eq(c->gateways[0].base, "https://a.example/v2");
	ck_assert_int_eq(c->gateways[0].forwarded, FORWARDED_BOTH);
	ck_assert_int_eq(c->gateways[1].forwarded, FORWARDED_XFF);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8081);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	g = gateway_find(c, (struct sockaddr *)&sin);
	ck_assert_ptr_eq(g, &c->gateways[0]);
	sin.sin_port = htons(3128);
	ck_assert_ptr_null(gateway_find(c, (struct sockaddr *)&sin));
	config_unref(c);
}
END_TEST

static const struct {
	const char *text, *error;
} err_rows[] = {
    {"[gateway]\norigin = http://a\n", "t.ini:1: [gateway] needs an address"},
    {"[gateway 127.0.0.1:1]\n",
	"t.ini:1: [gateway 127.0.0.1:1]: needs origin = URL"},
    {"[gateway 127.0.0.1:1]\norigin = ftp://a\n",
	"t.ini:2: [gateway 127.0.0.1:1] origin: 'ftp://a'"},
    {"[gateway 127.0.0.1:1]\norigin = http://a\nforwarded = x\n",
	"t.ini:3: [gateway 127.0.0.1:1] forwarded: expected one of"},
    {"[gateway 127.0.0.1:3128]\norigin = http://a\n",
	"t.ini:1: [gateway 127.0.0.1:3128]: the address of [proxy] listen"},
    {"[proxy]\nlisten = 0.0.0.0:9\n[gateway 127.0.0.1:9]\norigin = "
     "http://a\n",
	"t.ini:3: [gateway 127.0.0.1:9]: the address of [proxy] listen"},
    {"[gateway [::]:9]\norigin = http://a\n[gateway 127.0.0.1:9]\norigin = "
     "http://b\n",
	"t.ini:3: [gateway 127.0.0.1:9]: the address of another gateway (line "
	"1)"},
    {"[gateway 127.0.0.1:1]\norigin = http://a\nattempts = 2\n",
	"t.ini:3: [gateway 127.0.0.1:1] attempts: this key belongs in "
	"[default]"},
    {"[default]\norigin = http://a\n",
	"t.ini:2: [default] origin: this key belongs in [gateway ADDR]"},
    {"[gatway 127.0.0.1:1]\n", "(did you mean [gateway ADDR]?)"},
};

START_TEST(test_errors)
{
	struct config_errors errs = {0};
	struct config *c = load(err_rows[_i].text, &errs);

	ck_assert_ptr_null(c);
	ck_assert_uint_ge(errs.n, 1);
	ck_assert_msg(strstr(errs.v[0], err_rows[_i].error) != NULL,
	    "got '%s', want '%s'", errs.v[0], err_rows[_i].error);
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_overlap_rule)
{
	struct config_errors errs = {0};
	/* another port, or another address of one family: no clash */
	struct config *c = load("[proxy]\nlisten = 127.0.0.1:9, [::1]:9\n"
				"[gateway 127.0.0.2:9]\norigin = http://a\n"
				"[gateway 127.0.0.1:10]\norigin = http://a\n",
	    &errs);

	ck_assert_ptr_nonnull(c);
	ck_assert(
	    !gateway_addr_overlaps(&c->gateways[0].addr, &c->gateways[1].addr));
	ck_assert(
	    gateway_addr_overlaps(&c->gateways[0].addr, &c->gateways[0].addr));
	config_unref(c);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("gateway");
	TCase *tc = tcase_create("gateway");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_origin, 0,
	    (int)(sizeof origin_rows / sizeof origin_rows[0]));
	tcase_add_test(tc, test_url);
	tcase_add_loop_test(
	    tc, test_forwarded, 0, (int)(sizeof fwd_rows / sizeof fwd_rows[0]));
	tcase_add_test(tc, test_overlaps_and_find);
	tcase_add_loop_test(
	    tc, test_errors, 0, (int)(sizeof err_rows / sizeof err_rows[0]));
	tcase_add_test(tc, test_overlap_rule);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
