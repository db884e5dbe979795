/*
 * fuzz_http: request targets, authorities, Retry-After values, HTTP-dates,
 * header lists, X-Retry-Attempts values, Content-Range and the resume
 * verdicts, Proxy-Authorization: Basic.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "policy.h"
#include "resume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct http_url u;
	const char *cause;
	uint64_t ms;
	int64_t t;
	struct policy pol;

	memcpy(s, data, size);
	s[size] = '\0';
	if (http_url_parse(s, &u, &cause) == 0) {
		/* the target stays inside the input and is visible ASCII */
		bool root = u.path_len == 1 && u.path[0] == '/';
		if (!root && (u.path < s || u.path + u.path_len > s + size))
			abort();
		for (size_t i = 0; i < u.path_len; i++)
			if ((unsigned char)u.path[i] <= 0x20 ||
			    (unsigned char)u.path[i] >= 0x7f)
				abort();
		if (u.port == 0 || u.port > 65535 || u.host[0] == '\0')
			abort();
	}
	if (http_authority_parse(s, &u, &cause) == 0 && u.port == 0)
		abort();
	(void)http_parse_retry_after(s, 1700000000000ULL, &ms);
	if (http_parse_rate_limit_reset(s, 1700000000000ULL, &ms) == 0 &&
	    ms > UINT64_MAX / 2)
		abort(); /* (saturates far below the top: no wrap) */
	(void)http_parse_date(s, &t);
	{
		/* Proxy-Authorization: Basic, decoded into small buffers */
		char u[AUTH_USER_MAX], pw[64];
		if (auth_basic_decode(s, u, sizeof u, pw, sizeof pw) == 0 &&
		    (strlen(u) >= sizeof u || strlen(pw) >= sizeof pw ||
			strchr(u, ':') != NULL))
			abort();
	}
	{
		uint64_t a, b, c;
		if (http_parse_content_range(s, &a, &b, &c) == 0 &&
		    (a > b || (c != HTTP_LENGTH_UNKNOWN && b >= c)))
			abort();
	}
	{
		/* every field of an answer from the input */
		struct resume r = {.validator = (char *)"\"v1\"",
		    .by_etag = true,
		    .total = 1000};
		struct resume_head h = {206, s, s, s, s, s};
		const char *v;
		bool by_etag;
		(void)resume_accept(&r, 400, &h, s, &ms);
		h.status = 200;
		if (resume_eligible(&h, &v, &by_etag) == NULL && v != s)
			abort();
	}
	(void)http_is_hop_by_hop("X-Foo", s);
	(void)http_list_has_token(s, "close");
	(void)http_is_token(s);
	(void)http_value_is_valid(s);
	memset(&pol, 0, sizeof pol);
	pol.attempts = 3;
	pol.client_overrides = true;
	pol.attempts_limit = 10;
	unsigned n = policy_effective_attempts(&pol, s);
	if (n < 1 || n > 10)
		abort();
	free(s);
	return 0;
}
