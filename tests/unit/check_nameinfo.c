/*
 * check_nameinfo: nameinfo.c's getnameinfo() answers libevent's question
 * (an IPv4 peer, NI_NUMERICHOST | NI_NUMERICSERV) as the C library does,
 * and passes every other question to it.  The C library's own is reached
 * the way nameinfo.c reaches it (dlsym RTLD_NEXT).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*getnameinfo_fn)(const struct sockaddr *, socklen_t, char *,
    socklen_t, char *, socklen_t, int);

static getnameinfo_fn
libc_getnameinfo(void)
{
	return (getnameinfo_fn)dlsym(RTLD_NEXT, "getnameinfo");
}

/* Both answers to one question, with buffers of these sizes. */
static void
same(const struct sockaddr *sa, socklen_t salen, socklen_t hl, socklen_t sl,
    int flags)
{
	char h1[128], s1[64], h2[128], s2[64];
	int r1, r2;

	memset(h1, 'x', sizeof h1);
	memset(h2, 'x', sizeof h2);
	memset(s1, 'x', sizeof s1);
	memset(s2, 'x', sizeof s2);
	r1 = getnameinfo(sa, salen, h1, hl, s1, sl, flags);
	r2 = libc_getnameinfo()(sa, salen, h2, hl, s2, sl, flags);
	ck_assert_int_eq(r1, r2);
	if (r1 == 0) {
		ck_assert_str_eq(h1, h2);
		ck_assert_str_eq(s1, s2);
	}
}

START_TEST(test_ipv4_numeric_as_libc)
{
	static const char *const addrs[] = {"0.0.0.0", "127.0.0.1",
	    "10.20.30.40", "192.168.1.255", "255.255.255.255", "1.2.3.4",
	    "100.0.99.9"};
	static const unsigned ports[] = {
	    0, 1, 9, 10, 80, 99, 443, 8080, 28901, 65535};
	const int num = NI_NUMERICHOST | NI_NUMERICSERV;

	ck_assert_ptr_nonnull(libc_getnameinfo());
	for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++)
		for (size_t j = 0; j < sizeof ports / sizeof *ports; j++) {
			struct sockaddr_in sin = {.sin_family = AF_INET};
			const struct sockaddr *sa = (struct sockaddr *)&sin;
			sin.sin_port = htons((uint16_t)ports[j]);
			ck_assert_int_eq(
			    inet_pton(AF_INET, addrs[i], &sin.sin_addr), 1);
			same(sa, sizeof sin, 128, 64, num);
			/* short buffers, other flags: the C library's */
			same(sa, sizeof sin, INET_ADDRSTRLEN, 6, num);
			same(sa, sizeof sin, 8, 64, num);
			same(sa, sizeof sin, 128, 3, num);
			same(sa, sizeof sin, 128, 64, NI_NUMERICHOST);
			same(sa, sizeof sin, 128, 64, num | NI_DGRAM);
			same(sa, sizeof sin - 1, 128, 64, num);
		}
	/* every byte value, in every place */
	for (unsigned b = 0; b < 256; b++)
		for (int place = 0; place < 4; place++) {
			struct sockaddr_in sin = {.sin_family = AF_INET};
			unsigned char *a = (unsigned char *)&sin.sin_addr;
			a[place] = (unsigned char)b;
			sin.sin_port = htons((uint16_t)(b * 257));
			same((struct sockaddr *)&sin, sizeof sin, 128, 64, num);
		}
}
END_TEST

START_TEST(test_ipv6_passed_on)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	sin6.sin6_port = htons(8080);
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", &sin6.sin6_addr), 1);
	same((struct sockaddr *)&sin6, sizeof sin6, 128, 64,
	    NI_NUMERICHOST | NI_NUMERICSERV);
	ck_assert_int_eq(
	    inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr), 1);
	same((struct sockaddr *)&sin6, sizeof sin6, 128, 64,
	    NI_NUMERICHOST | NI_NUMERICSERV);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("nameinfo");
	TCase *tc = tcase_create("nameinfo");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_ipv4_numeric_as_libc);
	tcase_add_test(tc, test_ipv6_passed_on);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
