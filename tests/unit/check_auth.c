/*
 * check_auth: the users file (comments, bad lines, repeated users, hashes
 * the system's crypt does not take), Proxy-Authorization: Basic decoding,
 * and checks against bcrypt and SHA-crypt hashes made here with libcrypt,
 * through the cache.
 */
#include <check.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static char *
hash_of(const char *prefix, const char *pw)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof cd);
	ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, prefix[1] == '2' ? 5 : 0,
	    NULL, 0, setting, sizeof setting));
	return strdup(crypt_r(pw, setting, &cd));
}

START_TEST(test_parse)
{
	struct auth_users a;
	char *err = NULL, *text;
	char *b = hash_of("$2b$", "s3cret"), *s5 = hash_of("$5$", "pw5"),
	     *s6 = hash_of("$6$", "pw6");

	text = NULL;
	ck_assert_int_ne(
	    asprintf(&text, "# users\n\nalice:%s\n  bob:%s  \ncarol:%s\n", b,
		s5, s6),
	    -1);
	ck_assert_int_eq(auth_users_parse("u", text, &a, &err), 0);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_str_eq(a.u[1].name, "bob");
	ck_assert(auth_check(&a, "alice", "s3cret"));
	ck_assert(!auth_check(&a, "alice", "s3cret "));
	ck_assert(!auth_check(&a, "alice", ""));
	ck_assert(auth_check(&a, "bob", "pw5"));
	ck_assert(auth_check(&a, "carol", "pw6"));
	ck_assert(!auth_check(&a, "carol", "pw5"));
	/* unknown: checked against a hash all the same, never accepted */
	ck_assert(!auth_check(&a, "mallory", "s3cret"));
	ck_assert(!auth_check(&a, "Alice", "s3cret"));
	ck_assert_uint_gt(a.gen, 0);
	auth_users_free(&a);
	free(text);
	free(b);
	free(s5);
	free(s6);
}
END_TEST

static const struct {
	const char *text;
	const char *err;
} bad[] = {
    {"alice\n", "f:1: expected user:hash"},
    {"# x\n:$6$abc$def\n", "f:2: expected user:hash"},
    /* htpasswd's default, Apache's own MD5: libcrypt does not take it */
    {"a:$apr1$salt$hash\n",
	"f:1: user 'a': a hash the system's crypt does "
	"not take (write it with htpasswd -B, -2 or -5)"},
    {"a:plaintext\n",
	"f:1: user 'a': a hash the system's crypt does not "
	"take (write it with htpasswd -B, -2 or -5)"},
    {"a:$6$x$y\na:$6$x$y\n", "f:2: user 'a' again"},
};

START_TEST(test_parse_errors)
{
	struct auth_users a;
	char *err = NULL;

	ck_assert_int_eq(auth_users_parse("f", bad[_i].text, &a, &err), -1);
	ck_assert_str_eq(err, bad[_i].err);
	ck_assert_uint_eq(a.n, 0);
	free(err);
}
END_TEST

static const struct {
	const char *value;
	int rc;
	const char *user, *pass;
} dec[] = {
    {"Basic YWxpY2U6czNjcmV0", 0, "alice", "s3cret"},
    {"basic   YWxpY2U6czNjcmV0  ", 0, "alice", "s3cret"},
    /* a password may hold colons; the user may not */
    {"Basic YTpiOmM=", 0, "a", "b:c"},
    {"Basic YTo=", 0, "a", ""},
    {"Basic OnB3", 0, "", "pw"},
    {"Bearer YWxpY2U6czNjcmV0", -1, NULL, NULL},
    {"Basic", -1, NULL, NULL},
    {"Basic ", -1, NULL, NULL},
    {"BasicYWxpY2U6czNjcmV0", -1, NULL, NULL},
    {"Basic YWxpY2U", -1, NULL, NULL}, /* not a multiple of 4 */
    {"Basic YWxp*2U6", -1, NULL, NULL},
    {"Basic YWxpY2U=", -1, NULL, NULL}, /* "alice": no colon */
    {"Basic YQBiOmM=", -1, NULL, NULL}, /* a NUL inside */
    {"Basic YWxpY2U6czNjcmV0 extra", -1, NULL, NULL},
};

START_TEST(test_decode)
{
	char u[16], p[16];
	int rc = auth_basic_decode(dec[_i].value, u, sizeof u, p, sizeof p);

	ck_assert_msg(rc == dec[_i].rc, "'%s': %d", dec[_i].value, rc);
	if (rc == 0) {
		ck_assert_str_eq(u, dec[_i].user);
		ck_assert_str_eq(p, dec[_i].pass);
	}
}
END_TEST

START_TEST(test_decode_too_long)
{
	char u[4], p[4];

	/* "alice:s3cret" does not fit 4-byte buffers */
	ck_assert_int_eq(auth_basic_decode("Basic YWxpY2U6czNjcmV0", u,
			     sizeof u, p, sizeof p),
	    -1);
}
END_TEST

START_TEST(test_verify_and_cache)
{
	struct auth_users a, a2;
	struct auth_cache *c = calloc(1, sizeof *c);
	char *err = NULL, *text = NULL, user[64];
	char *b = hash_of("$2b$", "s3cret");

	ck_assert_int_ne(asprintf(&text, "alice:%s\n", b), -1);
	ck_assert_int_eq(auth_users_parse("u", text, &a, &err), 0);
	ck_assert(!auth_verify(&a, c, NULL, 0, user, sizeof user));
	ck_assert(!auth_verify(
	    &a, c, "Basic YWxpY2U6d3Jvbmc=", 0, user, sizeof user));
	ck_assert(
	    auth_verify(&a, c, "Basic YWxpY2U6czNjcmV0", 0, user, sizeof user));
	ck_assert_str_eq(user, "alice");
	/* cached: the same value is accepted without the hash ... */
	a.u[0].hash[7] ^= 1;
	ck_assert(auth_verify(
	    &a, c, "Basic YWxpY2U6czNjcmV0", 1000, user, sizeof user));
	/* ... until it expires, or the users are read again */
	ck_assert(!auth_verify(&a, c, "Basic YWxpY2U6czNjcmV0",
	    AUTH_CACHE_MS + 1, user, sizeof user));
	a.u[0].hash[7] ^= 1;
	ck_assert_int_eq(auth_users_parse("u", text, &a2, &err), 0);
	ck_assert_uint_ne(a2.gen, a.gen);
	a2.u[0].hash[7] ^= 1;
	ck_assert(!auth_verify(
	    &a2, c, "Basic YWxpY2U6czNjcmV0", 1000, user, sizeof user));
	auth_users_free(&a);
	auth_users_free(&a2);
	free(text);
	free(b);
	free(c);
}
END_TEST

/* The parts a caller with two caches uses (each worker's, the process's). */
START_TEST(test_cache_parts)
{
	struct auth_users a = {0};
	struct auth_cache *c = calloc(1, sizeof *c);
	unsigned char k1[AUTH_KEY_LEN], k2[AUTH_KEY_LEN];
	char user[8];

	a.gen = 7;
	auth_key("Basic YWxpY2U6czNjcmV0", k1);
	auth_key("Basic YWxpY2U6czNjcmV1", k2);
	ck_assert(memcmp(k1, k2, sizeof k1) != 0);
	ck_assert(!auth_cache_find(c, &a, k1, 0, user, sizeof user));
	auth_cache_put(c, &a, k1, 100, "alice-the-long");
	/* found until it expires; the name cut to the caller's buffer */
	ck_assert(auth_cache_find(
	    c, &a, k1, 100 + AUTH_CACHE_MS - 1, user, sizeof user));
	ck_assert_str_eq(user, "alice-t");
	ck_assert(!auth_cache_find(
	    c, &a, k1, 100 + AUTH_CACHE_MS, user, sizeof user));
	ck_assert(!auth_cache_find(c, &a, k2, 100, user, sizeof user));
	/* another load of the users: nothing cached counts */
	a.gen = 8;
	ck_assert(!auth_cache_find(c, &a, k1, 100, user, sizeof user));
	/* the slots are reused in turn: the oldest goes first */
	for (unsigned i = 0; i < AUTH_CACHE_SLOTS; i++) {
		unsigned char k[AUTH_KEY_LEN] = {(unsigned char)i, 1};
		auth_cache_put(c, &a, k, 100, "x");
	}
	auth_cache_put(c, &a, k2, 100, "bob");
	ck_assert(auth_cache_find(c, &a, k2, 100, user, sizeof user));
	ck_assert_str_eq(user, "bob");
	free(c);
}
END_TEST

int
main(void)
{

	Suite *su = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse);
	tcase_add_loop_test(
	    tc, test_parse_errors, 0, (int)(sizeof bad / sizeof bad[0]));
	tcase_add_loop_test(
	    tc, test_decode, 0, (int)(sizeof dec / sizeof dec[0]));
	tcase_add_test(tc, test_decode_too_long);
	tcase_add_test(tc, test_verify_and_cache);
	tcase_add_test(tc, test_cache_parts);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
