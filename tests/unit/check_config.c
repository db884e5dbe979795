/*
 * Unit tests for config.c and config-keys.c: the built-in defaults of
 * retryproxy.ini(5), value parsing through the key table, [default] to
 * [route] inheritance, cross-key validation, route precedence, the INI
 * syntax our line reader accepts (long lines, BOM, CRLF, comments), error
 * messages with their line numbers, warnings and the -t dump round trip.
 * Everything goes through config_load_string(); no file is read except
 * the temporary CA files of the interception tests.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "parent.h"
#include "util.h"

#define NAME "t.ini"
#define MAXERR 6

/* Load text that must be valid; the test fails with the errors if not. */
static struct config *
load_ok(const char *text)
{
	struct config_errors errs = {0};
	struct config *c;

	c = config_load_string(NAME, text, NULL, &errs);
	ck_assert_msg(c != NULL && errs.n == 0,
	    "config should load:\n%s\n-- got %zu errors, first: %s", text,
	    errs.n, errs.n > 0 ? errs.v[0] : "(none)");
	config_errors_free(&errs);
	return c;
}

/* Describe every error, for failure messages. */
static char *
errs_text(const struct config_errors *e)
{
	struct sbuf s = {0};

	sbuf_puts(&s, "");
	for (size_t i = 0; i < e->n; i++)
		sbuf_printf(&s, "\n  [%zu] %s", i, e->v[i]);
	return s.s;
}

/*
 * A wanted message ending in '*' is a prefix (for text that names a
 * temporary file); otherwise the whole message must be equal.
 */
static int
msg_matches(const char *got, const char *want)
{
	size_t n = strlen(want);

	if (n > 0 && want[n - 1] == '*')
		return strncmp(got, want, n - 1) == 0;
	return strcmp(got, want) == 0;
}

/*
 * Check that loading text failed with exactly the wanted errors, in any
 * order (each wanted message matched once); frees errs.
 */
static void
check_errors(const char *text, struct config *c, struct config_errors *errs,
    const char *const *want, size_t nwant)
{
	int used[16] = {0};
	char *all = errs_text(errs);

	ck_assert_msg(c == NULL, "config should fail:\n%s", text);
	ck_assert_msg(errs->n == nwant,
	    "config:\n%s\n-- want %zu errors, got %zu:%s", text, nwant, errs->n,
	    all);
	for (size_t i = 0; i < nwant; i++) {
		size_t j;
		for (j = 0; j < errs->n; j++)
			if (!used[j] && msg_matches(errs->v[j], want[i]))
				break;
		ck_assert_msg(j < errs->n,
		    "config:\n%s\n-- missing error \"%s\"; got:%s", text,
		    want[i], all);
		used[j] = 1;
	}
	free(all);
	config_errors_free(errs);
}

/* Load text that must fail with exactly the wanted errors. */
static void
expect_errors(const char *text, const char *const *want, size_t nwant)
{
	struct config_errors errs = {0};
	struct config *c = config_load_string(NAME, text, NULL, &errs);

	check_errors(text, c, &errs, want, nwant);
}

static const struct route *
match(const struct config *c, const char *host)
{
	return config_match(c, host, 80, "/");
}

/* ---- defaults ---- */

START_TEST(test_defaults_proxy)
{
	struct config *c = load_ok("");
	const struct proxy_config *px = &c->proxy;
	const struct sockaddr_in *sin;
	uint8_t lo[4] = {127, 0, 0, 0}, v6one[16] = {0};

	ck_assert_str_eq(c->file, NAME);
	ck_assert_uint_eq(px->nlisten, 1);
	ck_assert_str_eq(px->listen[0].text, "127.0.0.1:3128");
	sin = (const struct sockaddr_in *)&px->listen[0].ss;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 3128);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	ck_assert_uint_eq(px->listen[0].sslen, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(px->workers, 0);
	ck_assert_uint_eq(px->allow.n, 2);
	ck_assert_int_eq(px->allow.v[0].family, AF_INET);
	ck_assert_uint_eq(px->allow.v[0].prefix, 8);
	ck_assert_mem_eq(px->allow.v[0].addr, lo, 4);
	v6one[15] = 1;
	ck_assert_int_eq(px->allow.v[1].family, AF_INET6);
	ck_assert_uint_eq(px->allow.v[1].prefix, 128);
	ck_assert_mem_eq(px->allow.v[1].addr, v6one, 16);
	ck_assert(!px->connect_ports.any);
	ck_assert_uint_eq(px->connect_ports.n, 1);
	ck_assert_uint_eq(px->connect_ports.v[0].lo, 443);
	ck_assert_uint_eq(px->connect_ports.v[0].hi, 443);
	ck_assert_uint_eq(px->deny.n, 0);
	ck_assert_uint_eq(px->avoid_failed_address_ms, 10000);
	ck_assert_uint_eq(px->max_request_body, 16ULL * 1024 * 1024);
	ck_assert_uint_eq(px->max_header_size, 64 * 1024);
	ck_assert_uint_eq(px->max_connections, 4096);
	ck_assert_uint_eq(px->client_timeout_ms, 60000);
	ck_assert_uint_eq(px->shutdown_timeout_ms, 30000);
	ck_assert_str_eq(px->access_log, "stderr");
	ck_assert_int_eq(px->access_log_format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(px->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(px->cpu_affinity, CPU_AFFINITY_OFF);
	ck_assert(!px->admin_on);
	ck_assert(px->via);

	ck_assert_str_eq(c->tls.trust, "system");
	ck_assert_ptr_null(c->tls.ca_cert);
	ck_assert_ptr_null(c->tls.ca_key);

	ck_assert_uint_eq(c->nroutes, 0);
	ck_assert(!c->any_intercept);
	ck_assert_uint_eq(c->nwarnings, 0);
	ck_assert_str_eq(c->defaults.name, "default");
	ck_assert_uint_eq(c->defaults.line, 0);
	config_unref(c);
}
END_TEST

START_TEST(test_defaults_policy)
{
	static const char *const methods[] = {
	    "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
	struct config *c = load_ok("");
	const struct policy *p = &c->defaults.policy;
	size_t i;

	ck_assert_uint_eq(p->attempts, 3);
	ck_assert_int_eq(p->backoff, BACKOFF_EXPONENTIAL);
	ck_assert_int_eq(p->hold, HOLD_OFF);
	ck_assert_uint_eq(p->nreset_headers, 0);
	ck_assert_uint_eq(p->start_timeout_ms, 100);
	ck_assert(p->factor == 2.0);
	ck_assert_uint_eq(p->max_timeout_ms, 30000);
	ck_assert_uint_eq(p->min_timeout_ms, 100);
	ck_assert_uint_eq(p->ntimeouts, 0);
	ck_assert_uint_eq(p->multiplier_ms, 1000);
	ck_assert_uint_eq(p->random_interval_ms, 2000);
	for (i = 0; i < sizeof p->statuses; i++)
		ck_assert_msg(p->statuses[i] == 0, "statuses byte %zu is %u", i,
		    p->statuses[i]);
	ck_assert(p->retry_all_server_errors);
	ck_assert(!p->methods_all);
	ck_assert_uint_eq(p->nmethods, RP_NELEM(methods));
	for (i = 0; i < RP_NELEM(methods); i++)
		ck_assert_str_eq(p->methods[i], methods[i]);
	ck_assert_uint_eq(p->errors,
	    FAIL_MASK(FAIL_CONNECT) | FAIL_MASK(FAIL_DNS) |
		FAIL_MASK(FAIL_RESET) | FAIL_MASK(FAIL_TIMEOUT));
	ck_assert_str_eq(p->idempotency_header, "Idempotency-Key");
	ck_assert_uint_eq(p->nretry_if_header, 0);
	ck_assert_str_eq(p->retry_if_body_src, "");
	ck_assert_ptr_null(p->retry_if_body);
	ck_assert_uint_eq(p->connect_timeout_ms, 5000);
	ck_assert_uint_eq(p->per_try_timeout_ms, 30000);
	ck_assert_uint_eq(p->deadline_ms, 0);
	ck_assert(p->retry_after);
	ck_assert_uint_eq(p->max_retry_after_ms, 60000);
	ck_assert(p->retry_budget_percent == 20.0);
	ck_assert_uint_eq(p->retry_budget_min, 10);
	ck_assert_uint_eq(p->nfallbacks, 0);
	ck_assert(!p->tls);
	ck_assert(p->verify);
	ck_assert(!p->intercept);
	ck_assert(p->client_overrides);
	ck_assert_uint_eq(p->attempts_limit, 10);
	ck_assert(!p->report_attempts);
	ck_assert_str_eq(p->attempt_header, "");
	ck_assert(p->warm_reuse);
	ck_assert(p->resume);
	ck_assert_uint_eq(p->resume_max, 3);
	ck_assert_uint_eq(p->body_timeout_ms, 30000);
	ck_assert_uint_eq(p->eject_after, 0);
	ck_assert_uint_eq(p->eject_percent, 0);
	ck_assert_uint_eq(p->eject_min_attempts, 10);
	ck_assert_uint_eq(p->eject_time_ms, 30000);
	ck_assert_uint_eq(p->eject_max_time_ms, 300000);
	ck_assert_uint_eq(p->hedge_after.ms, 0);
	ck_assert_uint_eq(p->hedge_after.pct, 0);
	ck_assert_uint_eq(p->hedge_max, 1);
	config_unref(c);
	c = load_ok("[default]\nhedge_after = P90\n[route a.test]\n"
		    "hedge_after = 150ms\nhedge_max = 3\n[route b.test]\n"
		    "hedge_after = off\n");
	ck_assert_uint_eq(c->defaults.policy.hedge_after.pct, 90);
	ck_assert_uint_eq(c->routes[0]->policy.hedge_after.ms, 150);
	ck_assert_uint_eq(c->routes[0]->policy.hedge_after.pct, 0);
	ck_assert_uint_eq(c->routes[0]->policy.hedge_max, 3);
	ck_assert_uint_eq(c->routes[1]->policy.hedge_after.pct, 0);
	ck_assert_uint_eq(c->routes[1]->policy.hedge_after.ms, 0);
	config_unref(c);
	c = load_ok("[default]\neject_percent = 50%\n[route a.test]\n"
		    "eject_percent = 25\neject_min_attempts = 40\n"
		    "[route b.test]\neject_percent = 0\neject_after = 3\n");
	ck_assert_uint_eq(c->defaults.policy.eject_percent, 50);
	ck_assert_uint_eq(c->defaults.policy.eject_min_attempts, 10);
	ck_assert_uint_eq(c->routes[0]->policy.eject_percent, 25);
	ck_assert_uint_eq(c->routes[0]->policy.eject_min_attempts, 40);
	ck_assert_uint_eq(c->routes[1]->policy.eject_percent, 0);
	ck_assert_uint_eq(c->routes[1]->policy.eject_after, 3);
	{
		struct sbuf d = {0};
		config_dump(c, &d);
		ck_assert_ptr_nonnull(strstr(d.s, "\neject_percent = 50%\n"));
		ck_assert_ptr_nonnull(strstr(d.s, "\neject_percent = 25%\n"));
		ck_assert_ptr_nonnull(
		    strstr(d.s, "\neject_min_attempts = 40\n"));
		sbuf_free(&d);
	}
	config_unref(c);
	c = load_ok("[default]\nresume_max = 0\n[route a.test]\nresume = no\n"
		    "body_timeout = 250ms\n");
	ck_assert_uint_eq(c->defaults.policy.resume_max, 0);
	ck_assert(c->defaults.policy.resume);
	ck_assert(!c->routes[0]->policy.resume);
	ck_assert_uint_eq(c->routes[0]->policy.resume_max, 0);
	ck_assert_uint_eq(c->routes[0]->policy.body_timeout_ms, 250);
	config_unref(c);
	c = load_ok("[default]\nretry_after_headers = X-RateLimit-Reset,"
		    " ,RateLimit-Reset \n");
	p = &c->defaults.policy;
	ck_assert_uint_eq(p->nreset_headers, 2);
	ck_assert_str_eq(p->reset_headers[0], "X-RateLimit-Reset");
	ck_assert_str_eq(p->reset_headers[1], "RateLimit-Reset");
	config_unref(c);
}
END_TEST

/* ---- values through keys ---- */

enum field {
	F_ATTEMPTS,
	F_START,
	F_MAX_TIMEOUT,
	F_MIN_TIMEOUT,
	F_MULTIPLIER,
	F_RANDOM_INTERVAL,
	F_DEADLINE,
	F_CONNECT_TIMEOUT,
	F_MAX_RETRY_AFTER,
	F_FACTOR_MICRO,
	F_BUDGET_MICRO,
	F_BUDGET_MIN,
	F_ATTEMPTS_LIMIT,
	F_BACKOFF,
	F_HOLD,
	F_ERRORS,
	F_NMETHODS,
	F_MAX_BODY,
	F_MAX_HEADER,
	F_WORKERS,
	F_MAX_CONN,
	F_CLIENT_TIMEOUT,
	F_SHUTDOWN_TIMEOUT,
	F_AVOID,
	F_LOG_LEVEL,
	F_LOG_FORMAT,
	F_CPU_AFFINITY,
	F_NLISTEN,
	F_NALLOW,
	F_NDENY,
	F_NPORTS,
};

static uint64_t
micro(double v)
{
	return (uint64_t)(v * 1e6 + 0.5);
}

static uint64_t
field_value(const struct config *c, enum field f)
{
	const struct policy *p = &c->defaults.policy;
	const struct proxy_config *px = &c->proxy;

	switch (f) {
	case F_ATTEMPTS:
		return p->attempts;
	case F_START:
		return p->start_timeout_ms;
	case F_MAX_TIMEOUT:
		return p->max_timeout_ms;
	case F_MIN_TIMEOUT:
		return p->min_timeout_ms;
	case F_MULTIPLIER:
		return p->multiplier_ms;
	case F_RANDOM_INTERVAL:
		return p->random_interval_ms;
	case F_DEADLINE:
		return p->deadline_ms;
	case F_CONNECT_TIMEOUT:
		return p->connect_timeout_ms;
	case F_MAX_RETRY_AFTER:
		return p->max_retry_after_ms;
	case F_FACTOR_MICRO:
		return micro(p->factor);
	case F_BUDGET_MICRO:
		return micro(p->retry_budget_percent);
	case F_BUDGET_MIN:
		return p->retry_budget_min;
	case F_ATTEMPTS_LIMIT:
		return p->attempts_limit;
	case F_BACKOFF:
		return (uint64_t)p->backoff;
	case F_HOLD:
		return (uint64_t)p->hold;
	case F_ERRORS:
		return p->errors;
	case F_NMETHODS:
		return p->nmethods;
	case F_MAX_BODY:
		return px->max_request_body;
	case F_MAX_HEADER:
		return px->max_header_size;
	case F_WORKERS:
		return px->workers;
	case F_MAX_CONN:
		return px->max_connections;
	case F_CLIENT_TIMEOUT:
		return px->client_timeout_ms;
	case F_SHUTDOWN_TIMEOUT:
		return px->shutdown_timeout_ms;
	case F_AVOID:
		return px->avoid_failed_address_ms;
	case F_LOG_LEVEL:
		return (uint64_t)px->log_level;
	case F_LOG_FORMAT:
		return (uint64_t)px->access_log_format;
	case F_CPU_AFFINITY:
		return (uint64_t)px->cpu_affinity;
	case F_NLISTEN:
		return px->nlisten;
	case F_NALLOW:
		return px->allow.n;
	case F_NDENY:
		return px->deny.n;
	case F_NPORTS:
		return px->connect_ports.n;
	}
	return UINT64_MAX;
}

struct value_row {
	const char *text;
	enum field field;
	uint64_t want;
};

static const struct value_row value_rows[] = {
    {"[default]\nstart_timeout = 0.1\n", F_START, 100},
    {"[default]\nstart_timeout = 1.5\n", F_START, 1500},
    {"[default]\nstart_timeout = 2\n", F_START, 2000},
    {"[default]\nstart_timeout = 250ms\n", F_START, 250},
    {"[default]\nstart_timeout = 0\n", F_START, 0},
    {"[default]\nmax_timeout = 2m\n", F_MAX_TIMEOUT, 120000},
    {"[default]\nmax_timeout = 1h\n", F_MAX_TIMEOUT, 3600000},
    {"[default]\nmin_timeout = 0.5s\n", F_MIN_TIMEOUT, 500},
    {"[default]\nmultiplier = 300ms\n", F_MULTIPLIER, 300},
    {"[default]\nrandom_interval_size = 0\n", F_RANDOM_INTERVAL, 0},
    {"[default]\ndeadline = 10s\n", F_DEADLINE, 10000},
    {"[default]\nconnect_timeout = 1\n", F_CONNECT_TIMEOUT, 1000},
    {"[default]\nmax_retry_after = 5m\n", F_MAX_RETRY_AFTER, 300000},
    {"[default]\nfactor = 1.5\n", F_FACTOR_MICRO, 1500000},
    {"[default]\nfactor = 3\n", F_FACTOR_MICRO, 3000000},
    {"[default]\nretry_budget = 0%\n", F_BUDGET_MICRO, 0},
    {"[default]\nretry_budget = 100%\n", F_BUDGET_MICRO, 100000000},
    {"[default]\nretry_budget = 12.5%\n", F_BUDGET_MICRO, 12500000},
    {"[default]\nretry_budget_min = 0\n", F_BUDGET_MIN, 0},
    {"[default]\nattempts = 1\n", F_ATTEMPTS, 1},
    {"[default]\nattempts = 100\n", F_ATTEMPTS, 100},
    {"[default]\nattempts_limit = 100\n", F_ATTEMPTS_LIMIT, 100},
    {"[default]\nbackoff = fibonacci\n", F_BACKOFF, BACKOFF_FIBONACCI},
    {"[default]\nbackoff = JITTER\n", F_BACKOFF, BACKOFF_JITTER},
    {"[default]\nhold = wait\n", F_HOLD, HOLD_WAIT},
    {"[default]\nhold = Fail\n", F_HOLD, HOLD_FAIL},
    {"[default]\nhold = off\n", F_HOLD, HOLD_OFF},
    {"[default]\nerrors = reset, timeout\n", F_ERRORS,
	FAIL_MASK(FAIL_RESET) | FAIL_MASK(FAIL_TIMEOUT)},
    {"[default]\nerrors =\n", F_ERRORS, 0},
    {"[default]\nmethods = get, post\n", F_NMETHODS, 2},
    {"[proxy]\nmax_request_body = 1K\n", F_MAX_BODY, 1024},
    {"[proxy]\nmax_request_body = 1M\n", F_MAX_BODY, 1048576},
    {"[proxy]\nmax_request_body = 2G\n", F_MAX_BODY, 2147483648ULL},
    {"[proxy]\nmax_request_body = 1000\n", F_MAX_BODY, 1000},
    {"[proxy]\nmax_request_body = 0\n", F_MAX_BODY, 0},
    {"[proxy]\nmax_header_size = 8k\n", F_MAX_HEADER, 8192},
    {"[proxy]\nworkers = 4\n", F_WORKERS, 4},
    {"[proxy]\nworkers = auto\n", F_WORKERS, 0},
    {"[proxy]\nmax_connections = 10\n", F_MAX_CONN, 10},
    {"[proxy]\nclient_timeout = 90\n", F_CLIENT_TIMEOUT, 90000},
    {"[proxy]\nshutdown_timeout = 0\n", F_SHUTDOWN_TIMEOUT, 0},
    {"[proxy]\navoid_failed_address = 0\n", F_AVOID, 0},
    {"[proxy]\navoid_failed_address = 1.5s\n", F_AVOID, 1500},
    {"[proxy]\navoid_failed_address = 2m\n", F_AVOID, 120000},
    {"[proxy]\nlog_level = debug\n", F_LOG_LEVEL, LOG_LEVEL_DEBUG},
    {"[proxy]\naccess_log_format = json\n", F_LOG_FORMAT, LOG_FORMAT_JSON},
    {"[proxy]\ncpu_affinity = auto\n", F_CPU_AFFINITY, CPU_AFFINITY_AUTO},
    {"[proxy]\ncpu_affinity = OFF\n", F_CPU_AFFINITY, CPU_AFFINITY_OFF},
    {"[proxy]\nlisten = 127.0.0.1:1, [::1]:2\n", F_NLISTEN, 2},
    {"[proxy]\nallow =\n", F_NALLOW, 0},
    {"[proxy]\ndeny = 10.0.0.0/8, fd00::/8, 192.168.1.1\n", F_NDENY, 3},
    {"[proxy]\nconnect_ports = 443, 8000-8100\n", F_NPORTS, 2},
};

START_TEST(test_values)
{
	const struct value_row *r = &value_rows[_i];
	struct config *c = load_ok(r->text);
	uint64_t got = field_value(c, r->field);

	ck_assert_msg(got == r->want, "%s-- want %llu, got %llu", r->text,
	    (unsigned long long)r->want, (unsigned long long)got);
	config_unref(c);
}
END_TEST

/* Values that need more than one number to check. */
START_TEST(test_value_lists)
{
	struct config *c = load_ok("[proxy]\n"
				   "listen = 127.0.0.1:8080, [::1]:8081\n"
				   "connect_ports = *\n"
				   "admin = 127.0.0.1:9100\n"
				   "access_log = /var/log/rp.log\n"
				   "[default]\n"
				   "timeouts = 100ms, 1.5, 2m\n"
				   "statuses = 429, 408-409\n"
				   "methods = get, Post, *\n"
				   "retry_if_header = X-Retry: yes, X-Busy: *\n"
				   "fallbacks = https://b.example:8443, "
				   "http://c.example\n"
				   "attempt_header = X-Retry-Attempt\n"
				   "idempotency_header =\n");
	const struct policy *p = &c->defaults.policy;
	const struct sockaddr_in6 *sin6;

	ck_assert_str_eq(c->proxy.listen[0].text, "127.0.0.1:8080");
	ck_assert_str_eq(c->proxy.listen[1].text, "[::1]:8081");
	sin6 = (const struct sockaddr_in6 *)&c->proxy.listen[1].ss;
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 8081);
	ck_assert(c->proxy.connect_ports.any);
	ck_assert(c->proxy.admin_on);
	ck_assert_str_eq(c->proxy.admin.text, "127.0.0.1:9100");
	ck_assert_str_eq(c->proxy.access_log, "/var/log/rp.log");

	ck_assert_uint_eq(p->ntimeouts, 3);
	ck_assert_uint_eq(p->timeouts_ms[0], 100);
	ck_assert_uint_eq(p->timeouts_ms[1], 1500);
	ck_assert_uint_eq(p->timeouts_ms[2], 120000);
	for (int st = 100; st < 600; st++)
		ck_assert_msg(policy_status_is_listed(p, st) ==
			(st == 429 || st == 408 || st == 409),
		    "status %d", st);
	ck_assert(p->methods_all);
	ck_assert(policy_method_is_listed(p, "PATCH"));
	ck_assert_str_eq(p->methods[0], "GET");
	ck_assert_str_eq(p->methods[1], "POST");
	ck_assert_uint_eq(p->nretry_if_header, 2);
	ck_assert_str_eq(p->retry_if_header[0].name, "X-Retry");
	ck_assert_str_eq(p->retry_if_header[0].value, "yes");
	ck_assert_str_eq(p->retry_if_header[1].name, "X-Busy");
	ck_assert_str_eq(p->retry_if_header[1].value, "*");
	ck_assert_uint_eq(p->nfallbacks, 2);
	ck_assert_str_eq(p->fallbacks[0].host, "b.example");
	ck_assert_uint_eq(p->fallbacks[0].port, 8443);
	ck_assert_str_eq(p->fallbacks[0].text, "https://b.example:8443");
	ck_assert_str_eq(p->fallbacks[1].host, "c.example");
	ck_assert_uint_eq(p->fallbacks[1].port, 80);
	ck_assert_str_eq(p->attempt_header, "X-Retry-Attempt");
	ck_assert_str_eq(p->idempotency_header, "");
	/* timeouts without attempts in [default]: len + 1 */
	ck_assert_uint_eq(p->attempts, 4);
	config_unref(c);
}
END_TEST

/* ---- booleans ---- */

struct bool_row {
	const char *spelling;
	int want;
};

static const struct bool_row bool_rows[] = {
    {"yes", 1},
    {"no", 0},
    {"true", 1},
    {"false", 0},
    {"on", 1},
    {"off", 0},
    {"1", 1},
    {"0", 0},
    {"YES", 1},
    {"False", 0},
    {"On", 1},
    {"OFF", 0},
};

START_TEST(test_bools)
{
	const struct bool_row *r = &bool_rows[_i];
	char text[256];
	struct config *c;
	const struct route *rt;

	snprintf(text, sizeof text,
	    "[proxy]\nvia = %s\n[default]\nreport_attempts = %s\n"
	    "retry_all_server_errors = %s\n[route a.example]\ntls = %s\n"
	    "warm_reuse = %s\n",
	    r->spelling, r->spelling, r->spelling, r->spelling, r->spelling);
	c = load_ok(text);
	ck_assert_msg(c->proxy.via == (r->want != 0), "via = %s", r->spelling);
	ck_assert_msg(c->defaults.policy.report_attempts == (r->want != 0),
	    "report_attempts = %s", r->spelling);
	ck_assert_msg(
	    c->defaults.policy.retry_all_server_errors == (r->want != 0),
	    "retry_all_server_errors = %s", r->spelling);
	rt = match(c, "a.example");
	ck_assert_str_eq(rt->name, "a.example");
	ck_assert_msg(
	    rt->policy.tls == (r->want != 0), "tls = %s", r->spelling);
	ck_assert_msg(rt->policy.warm_reuse == (r->want != 0),
	    "warm_reuse = %s", r->spelling);
	ck_assert_msg(!c->defaults.policy.tls, "tls leaked into [default]");
	config_unref(c);
}
END_TEST

/* ---- inheritance ---- */

START_TEST(test_inherit_before_and_after)
{
	static const char *const texts[] = {
	    /* [default] before the route */
	    "[default]\nattempts = 5\nstart_timeout = 250ms\n"
	    "statuses = 429\n\n[route a.example]\nfactor = 3\n",
	    /* [default] after the route */
	    "[route a.example]\nfactor = 3\n\n[default]\nattempts = 5\n"
	    "start_timeout = 250ms\nstatuses = 429\n",
	    /* [default] split around the route */
	    "[default]\nattempts = 5\n[route a.example]\nfactor = 3\n"
	    "[default]\nstart_timeout = 250ms\nstatuses = 429\n",
	};

	for (size_t i = 0; i < RP_NELEM(texts); i++) {
		struct config *c = load_ok(texts[i]);
		const struct route *r = match(c, "a.example");
		ck_assert_msg(strcmp(r->name, "a.example") == 0, "text %zu", i);
		ck_assert_msg(r->policy.attempts == 5, "text %zu: attempts %u",
		    i, r->policy.attempts);
		ck_assert_msg(r->policy.start_timeout_ms == 250,
		    "text %zu: start_timeout %llu", i,
		    (unsigned long long)r->policy.start_timeout_ms);
		ck_assert_msg(policy_status_is_listed(&r->policy, 429),
		    "text %zu: statuses", i);
		ck_assert_msg(r->policy.factor == 3.0, "text %zu: factor", i);
		ck_assert_msg(c->defaults.policy.factor == 2.0,
		    "text %zu: the route's factor leaked into [default]", i);
		config_unref(c);
	}
}
END_TEST

START_TEST(test_route_override_keeps_rest)
{
	struct config *c = load_ok("[default]\n"
				   "attempts = 5\n"
				   "methods = GET\n"
				   "deadline = 20s\n"
				   "retry_if_body = busy\n"
				   "[route a.example]\n"
				   "attempts = 7\n"
				   "[route b.example]\n"
				   "methods = POST, put, PROPFIND, fooBar\n");
	const struct route *a = match(c, "a.example");
	const struct route *b = match(c, "b.example");

	ck_assert_uint_eq(a->policy.attempts, 7);
	ck_assert_uint_eq(a->policy.nmethods, 1);
	ck_assert_str_eq(a->policy.methods[0], "GET");
	ck_assert_uint_eq(a->policy.deadline_ms, 20000);
	ck_assert_str_eq(a->policy.retry_if_body_src, "busy");
	ck_assert_ptr_nonnull(a->policy.retry_if_body);
	ck_assert_uint_eq(b->policy.attempts, 5);
	ck_assert_uint_eq(b->policy.nmethods, 4);
	ck_assert_str_eq(b->policy.methods[0], "POST");
	/* a standard method in any case; other tokens as written */
	ck_assert_str_eq(b->policy.methods[1], "PUT");
	ck_assert_str_eq(b->policy.methods[2], "PROPFIND");
	ck_assert_str_eq(b->policy.methods[3], "fooBar");
	ck_assert(policy_method_is_listed(&b->policy, "fooBar"));
	ck_assert(!policy_method_is_listed(&b->policy, "FOOBAR"));
	ck_assert(!policy_method_is_listed(&b->policy, "propfind"));
	ck_assert_uint_eq(b->policy.deadline_ms, 20000);
	ck_assert_uint_eq(c->defaults.policy.attempts, 5);
	ck_assert_uint_eq(c->defaults.policy.nmethods, 1);
	config_unref(c);
}
END_TEST

/* timeouts without attempts: len + 1 attempts, in that section only. */
struct timeouts_row {
	const char *text;
	const char *host; /* NULL: the default */
	unsigned attempts;
	size_t ntimeouts;
};

static const struct timeouts_row timeouts_rows[] = {
    {"[default]\ntimeouts = 1s, 2s, 3s\n", NULL, 4, 3},
    {"[default]\ntimeouts = 1s\n", NULL, 2, 1},
    {"[default]\nattempts = 2\ntimeouts = 1s, 2s, 3s\n", NULL, 2, 3},
    {"[default]\ntimeouts = 1s, 2s, 3s\nattempts = 9\n", NULL, 9, 3},
    {"[default]\ntimeouts = 1s, 2s\n[route a.example]\n", "a.example", 3, 2},
    {"[default]\nattempts = 6\n[route a.example]\ntimeouts = 1s\n", "a.example",
	2, 1},
    {"[default]\nattempts = 6\n[route a.example]\ntimeouts = 1s\n", NULL, 6, 0},
    {"[default]\ntimeouts = 1s, 2s, 3s\n[route a.example]\nattempts = 2\n",
	"a.example", 2, 3},
    {"[default]\ntimeouts = 1s\n[route a.example]\ntimeouts = 1s, 2s, 3s, "
     "4s\n",
	"a.example", 5, 4},
    {"[default]\ntimeouts = 1s\n[route a.example]\ntimeouts = 1s, 2s, 3s, "
     "4s\n",
	NULL, 2, 1},
    {"[route a.example]\nbackoff = list\ntimeouts = 1s, 2s\n", "a.example", 3,
	2},
    {"[default]\ntimeouts = 1s, 2s\n[route a.example]\nbackoff = list\n",
	"a.example", 3, 2},
    {"[route a.example]\nbackoff = list\n[default]\ntimeouts = 5s\n",
	"a.example", 2, 1},
};

START_TEST(test_timeouts_attempts)
{
	const struct timeouts_row *r = &timeouts_rows[_i];
	struct config *c = load_ok(r->text);
	const struct route *rt = r->host ? match(c, r->host) : &c->defaults;

	ck_assert_msg(strcmp(rt->name, r->host ? r->host : "default") == 0,
	    "%s-- matched %s", r->text, rt->name);
	ck_assert_msg(rt->policy.attempts == r->attempts,
	    "%s-- %s: want %u attempts, got %u", r->text, rt->name, r->attempts,
	    rt->policy.attempts);
	ck_assert_msg(rt->policy.ntimeouts == r->ntimeouts,
	    "%s-- %s: want %zu timeouts, got %zu", r->text, rt->name,
	    r->ntimeouts, rt->policy.ntimeouts);
	config_unref(c);
}
END_TEST

/* ---- route precedence ---- */

static const char precedence_text[] = "[route api.example.com]\n"
				      "attempts = 1\n"
				      "[route *.example.com]\n"
				      "attempts = 2\n"
				      "[route *.api.example.com]\n"
				      "attempts = 3\n"
				      "[route api.example.com/v1/]\n"
				      "attempts = 4\n"
				      "[route api.example.com/v1/users/]\n"
				      "attempts = 5\n"
				      "[route api.example.com:8443]\n"
				      "attempts = 6\n"
				      "[route *.example.com/v1/]\n"
				      "attempts = 7\n"
				      "[route [::1]:8080]\n"
				      "attempts = 8\n"
				      "[route example.com]\n"
				      "attempts = 9\n"
				      "[route *.example.com:8080]\n"
				      "attempts = 10\n"
				      "[default]\n"
				      "attempts = 11\n";

struct match_row {
	const char *host;
	unsigned port;
	const char *path;
	const char *route; /* name, "default" when none */
	unsigned attempts;
};

static const struct match_row match_rows[] = {
    {"api.example.com", 80, "/", "api.example.com", 1},
    {"API.Example.COM", 80, "/", "api.example.com", 1},
    {"api.example.com", 443, "/x", "api.example.com", 1},
    {"api.example.com", 8443, "/", "api.example.com:8443", 6},
    {"api.example.com", 8443, "/v1/x", "api.example.com/v1/", 4},
    {"api.example.com", 80, "/v1/users/1", "api.example.com/v1/users/", 5},
    {"api.example.com", 80, "/v1", "api.example.com", 1},
    {"api.example.com", 80, "/V1/x", "api.example.com", 1},
    {"www.example.com", 80, "/", "*.example.com", 2},
    {"WWW.EXAMPLE.COM", 80, "/", "*.example.com", 2},
    {"www.example.com", 80, "/v1/x", "*.example.com/v1/", 7},
    {"www.example.com", 8080, "/", "*.example.com:8080", 10},
    {"www.example.com", 8080, "/v1/", "*.example.com/v1/", 7},
    {"x.api.example.com", 80, "/", "*.api.example.com", 3},
    {"X.Api.Example.Com", 80, "/v1/", "*.example.com/v1/", 7},
    {"example.com", 80, "/", "example.com", 9},
    {"example.com", 8080, "/v1/", "example.com", 9},
    {"notexample.com", 80, "/", "default", 11},
    {"other.org", 80, "/", "default", 11},
    {"::1", 8080, "/", "[::1]:8080", 8},
    {"::1", 80, "/", "default", 11},
};

START_TEST(test_match)
{
	const struct match_row *r = &match_rows[_i];
	struct config *c = load_ok(precedence_text);
	const struct route *rt;

	ck_assert_uint_eq(c->nroutes, 10);
	rt = config_match(c, r->host, r->port, r->path);
	ck_assert_ptr_nonnull(rt);
	ck_assert_msg(strcmp(rt->name, r->route) == 0,
	    "%s:%u%s: want route %s, got %s", r->host, r->port, r->path,
	    r->route, rt->name);
	ck_assert_msg(rt->policy.attempts == r->attempts,
	    "%s:%u%s: want %u attempts, got %u", r->host, r->port, r->path,
	    r->attempts, rt->policy.attempts);
	if (strcmp(r->route, "default") == 0) {
		ck_assert_ptr_eq(rt, &c->defaults);
		ck_assert_uint_eq(rt->line, 21);
	}
	config_unref(c);
}
END_TEST

START_TEST(test_route_lines)
{
	struct config *c = load_ok(precedence_text);

	ck_assert_uint_eq(match(c, "api.example.com")->line, 1);
	ck_assert_uint_eq(match(c, "example.com")->line, 17);
	ck_assert_uint_eq(config_match(c, "::1", 8080, "/")->line, 15);
	config_unref(c);
}
END_TEST

/* ---- syntax our reader accepts ---- */

struct syntax_row {
	const char *what;
	const char *text;
	const char *host; /* NULL: the default */
	unsigned port;
	unsigned attempts;
	uint64_t start_ms;
	const char *path; /* NULL: "/" */
};

static const struct syntax_row syntax_rows[] = {
    {"plain", "[default]\nattempts = 4\nstart_timeout = 250ms\n", NULL, 80, 4,
	250, NULL},
    {"BOM", "\xef\xbb\xbf[default]\nattempts = 4\nstart_timeout = 250ms\n",
	NULL, 80, 4, 250, NULL},
    {"BOM then a comment", "\xef\xbb\xbf; c\n[default]\nattempts = 4\n", NULL,
	80, 4, 100, NULL},
    {"CRLF",
	"[default]\r\nattempts = 4\r\nstart_timeout = 250ms\r\n"
	"[route a.example]\r\nattempts = 6\r\n",
	"a.example", 80, 6, 250, NULL},
    {"BOM and CRLF", "\xef\xbb\xbf[default]\r\nattempts = 4\r\n", NULL, 80, 4,
	100, NULL},
    {"indented keys", "[default]\n  attempts = 4\n\tstart_timeout = 250ms\n",
	NULL, 80, 4, 250, NULL},
    {"indented key after a key",
	"[default]\nstart_timeout = 250ms\n    attempts = 4\n", NULL, 80, 4,
	250, NULL},
    {"indented header", "  [default]\nattempts = 4\n", NULL, 80, 4, 100, NULL},
    {"colon syntax", "[default]\nattempts: 4\nstart_timeout:250ms\n", NULL, 80,
	4, 250, NULL},
    {"no spaces", "[default]\nattempts=4\nstart_timeout=250ms\n", NULL, 80, 4,
	250, NULL},
    {"inline comment",
	"[default]\nattempts = 4 ; four\nstart_timeout = 250ms\t; quarter\n",
	NULL, 80, 4, 250, NULL},
    {"comment lines",
	"; top\n# hash\n[default]\n; attempts = 9\n# attempts = 8\n"
	"attempts = 4\n",
	NULL, 80, 4, 100, NULL},
    {"blank lines with spaces", "\n  \n[default]\n\t\nattempts = 4\n\n", NULL,
	80, 4, 100, NULL},
    {"no final newline", "[default]\nattempts = 4", NULL, 80, 4, 100, NULL},
    {"comment after header", "[default] ; the policy\nattempts = 4\n", NULL, 80,
	4, 100, NULL},
    {"comment with ] after header",
	"[route a.example] ; see [docs]\nattempts = 4\n", "a.example", 80, 4,
	100, NULL},
    {"empty route", "[route a.example]\n", "a.example", 80, 3, 100, NULL},
    {"empty route then default", "[route a.example]\n[default]\nattempts = 7\n",
	"a.example", 80, 7, 100, NULL},
    {"IPv6 route", "[route [::1]:8080]\nattempts = 5\n", "::1", 8080, 5, 100,
	NULL},
    {"IPv6 route without port", "[route [2001:db8::1]]\nattempts = 5\n",
	"2001:db8::1", 443, 5, 100, NULL},
    {"IPv6 route with path", "[route [::1]:8080/p/]\nattempts = 5\n", "::1",
	8080, 5, 100, "/p/x"},
};

START_TEST(test_syntax)
{
	const struct syntax_row *r = &syntax_rows[_i];
	struct config *c = load_ok(r->text);
	const struct route *rt;

	if (r->host != NULL) {
		rt = config_match(
		    c, r->host, r->port, r->path != NULL ? r->path : "/");
		ck_assert_msg(
		    rt->line != 0, "%s: no route for %s", r->what, r->host);
	} else
		rt = &c->defaults;
	ck_assert_msg(rt->policy.attempts == r->attempts,
	    "%s: want %u attempts, got %u", r->what, r->attempts,
	    rt->policy.attempts);
	ck_assert_msg(rt->policy.start_timeout_ms == r->start_ms,
	    "%s: want start_timeout %llu, got %llu", r->what,
	    (unsigned long long)r->start_ms,
	    (unsigned long long)rt->policy.start_timeout_ms);
	config_unref(c);
}
END_TEST

/* ---- long lines (Debian's inih reads 200 bytes) ---- */

struct long_row {
	size_t n; /* length of the value */
	int crlf;
	int comment; /* an inline comment after the value */
	int colon; /* "key: value" */
};

static const struct long_row long_rows[] = {
    {100, 0, 0, 0},
    {180, 0, 0, 0},
    {181, 0, 0, 0},
    {182, 0, 0, 0},
    {183, 0, 0, 0},
    {184, 0, 0, 0},
    {185, 0, 0, 0},
    {186, 0, 0, 0},
    {250, 0, 0, 0},
    {1000, 0, 0, 0},
    {1000, 1, 0, 0},
    {1000, 0, 1, 0},
    {1000, 1, 1, 0},
    {1000, 0, 0, 1},
    {183, 0, 1, 0},
    {4000, 0, 0, 0},
};

/* A regex of n characters that only matches itself. */
static char *
long_value(size_t n)
{
	char *v = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		v[i] = (char)('a' + i % 26);
	v[n] = '\0';
	return v;
}

START_TEST(test_long_line)
{
	const struct long_row *r = &long_rows[_i];
	const char *nl = r->crlf ? "\r\n" : "\n";
	char *v = long_value(r->n), *text;
	struct config_errors errs = {0};
	struct config *c;

	text = xasprintf("[default]%sretry_if_body%s %s%s%sattempts = 5%s", nl,
	    r->colon ? ":" : " =", v, r->comment ? " ; a comment" : "", nl, nl);
	c = load_ok(text);
	ck_assert_msg(strcmp(c->defaults.policy.retry_if_body_src, v) == 0,
	    "value of %zu bytes (crlf %d comment %d colon %d): got %zu bytes",
	    r->n, r->crlf, r->comment, r->colon,
	    strlen(c->defaults.policy.retry_if_body_src));
	ck_assert_ptr_nonnull(c->defaults.policy.retry_if_body);
	ck_assert_uint_eq(c->defaults.policy.attempts, 5);
	config_unref(c);
	free(text);

	/* an error on the line after it names line 3 */
	text = xasprintf("[default]%sretry_if_body%s %s%s%sattemps = 5%s", nl,
	    r->colon ? ":" : " =", v, r->comment ? " ; a comment" : "", nl, nl);
	c = config_load_string(NAME, text, NULL, &errs);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.v[0],
	    "t.ini:3: [default] attemps: unknown key (did you mean "
	    "'attempts'?)");
	config_errors_free(&errs);
	free(text);
	free(v);
}
END_TEST

START_TEST(test_long_lines_elsewhere)
{
	char *v = long_value(1000), *text;
	struct config *c;

	/* a long comment line, with what looks like syntax in it */
	text = xasprintf("[default]\n; x = [y] %s\n# %s\nattempts = 6\n", v, v);
	c = load_ok(text);
	ck_assert_uint_eq(c->defaults.policy.attempts, 6);
	config_unref(c);
	free(text);
	{
		static const char *const want[] = {
		    "t.ini:4: [default] attemps: unknown key (did you mean "
		    "'attempts'?)",
		};
		text = xasprintf(
		    "[default]\n; x = [y] %s\n# %s\nattemps = 6\n", v, v);
		expect_errors(text, want, 1);
		free(text);
	}
	/* two long lines in a row, each keeps its own value */
	text = xasprintf("[default]\nretry_if_body = %s\n[route a.example]\n"
			 "retry_if_body = x%s\n",
	    v, v);
	c = load_ok(text);
	ck_assert_str_eq(c->defaults.policy.retry_if_body_src, v);
	ck_assert_uint_eq(
	    strlen(match(c, "a.example")->policy.retry_if_body_src), 1001);
	config_unref(c);
	free(text);
	/* a long bad value is reported on its own line */
	{
		static const char *const want[] = {
		    "t.ini:3: [default] retry_if_header: '*",
		    "t.ini:5: [default] attemps: unknown key (did you mean "
		    "'attempts'?)",
		};
		text = xasprintf("; c\n[default]\nretry_if_header = %s\n"
				 "attempts = 4\nattemps = 3\n",
		    v);
		expect_errors(text, want, 2);
		free(text);
	}
	free(v);
}
END_TEST

/* ---- errors ---- */

struct error_row {
	const char *text;
	size_t n;
	const char *want[MAXERR];
};

static const struct error_row error_rows[] = {
    /* unknown keys and sections, with hints */
    {"[default]\nattemps = 3\n", 1,
	{"t.ini:2: [default] attemps: unknown key (did you mean "
	 "'attempts'?)"}},
    {"[route a.example]\nstart_timout = 1s\n", 1,
	{"t.ini:2: [route a.example] start_timout: unknown key (did you "
	 "mean 'start_timeout'?)"}},
    {"[default]\nretry_if_bdy = x\n", 1,
	{"t.ini:2: [default] retry_if_bdy: unknown key (did you mean "
	 "'retry_if_body'?)"}},
    {"[proxy]\nlistn = 127.0.0.1:1\n", 1,
	{"t.ini:2: [proxy] listn: unknown key (did you mean 'listen'?)"}},
    {"[default]\nzzz = 1\n", 1, {"t.ini:2: [default] zzz: unknown key"}},
    {"[rout x]\n", 1,
	{"t.ini:1: unknown section [rout x] (did you mean [route "
	 "PATTERN]?)"}},
    {"[proxi]\nlisten = 127.0.0.1:1\n", 1,
	{"t.ini:1: unknown section [proxi] (did you mean [proxy]?)"}},
    {"; c\n\n[defualt]\n", 1,
	{"t.ini:3: unknown section [defualt] (did you mean [default]?)"}},
    {"[something]\n", 1, {"t.ini:1: unknown section [something]"}},
    {"attempts = 3\n[default]\n", 1,
	{"t.ini:1: attempts: key outside any section (start with [proxy], "
	 "[default] or [route HOST])"}},
    /* bad values */
    {"[default]\nstart_timeout = 10x\n", 1,
	{"t.ini:2: [default] start_timeout: unknown duration unit (use ms, "
	 "s, m or h)"}},
    {"[default]\nstart_timeout = fast\n", 1,
	{"t.ini:2: [default] start_timeout: expected a duration such as "
	 "100ms, 2s, 5m or 1h"}},
    {"[proxy]\nmax_request_body = 1T\n", 1,
	{"t.ini:2: [proxy] max_request_body: unknown size unit (use K, M or "
	 "G)"}},
    {"[proxy]\nmax_header_size = 100\n", 1,
	{"t.ini:2: [proxy] max_header_size: must be between 1K and 16M"}},
    {"[default]\nverify = maybe\n", 1,
	{"t.ini:2: [default] verify: expected yes/no, true/false, on/off or "
	 "1/0"}},
    {"[default]\nattempts = 0\n", 1,
	{"t.ini:2: [default] attempts: must be between 1 and 100"}},
    {"[default]\nattempts = 101\n", 1,
	{"t.ini:2: [default] attempts: must be between 1 and 100"}},
    {"[proxy]\navoid_failed_address = soon\n", 1,
	{"t.ini:2: [proxy] avoid_failed_address: expected a duration such "
	 "as 100ms, 2s, 5m or 1h"}},
    {"[route a.example]\navoid_failed_address = 1s\n", 1,
	{"t.ini:2: [route a.example] avoid_failed_address: this key belongs "
	 "in [proxy]"}},
    {"[default]\nattempts = three\n", 1,
	{"t.ini:2: [default] attempts: expected a whole number"}},
    {"[default]\nfactor = 0\n", 1,
	{"t.ini:2: [default] factor: must be greater than 0"}},
    {"[default]\nretry_budget = 120%\n", 1,
	{"t.ini:2: [default] retry_budget: a percentage must be between 0% "
	 "and 100%"}},
    {"[default]\nretry_budget = lots\n", 1,
	{"t.ini:2: [default] retry_budget: expected a percentage such as "
	 "20%"}},
    {"[default]\nstatuses = 99\n", 1,
	{"t.ini:2: [default] statuses: '99' is not a status 100-599"}},
    {"[default]\nstatuses = 429, 600\n", 1,
	{"t.ini:2: [default] statuses: '600' is not a status 100-599"}},
    {"[default]\nmethods = GET, B@D\n", 1,
	{"t.ini:2: [default] methods: 'B@D' is not a method"}},
    {"[default]\nerrors = connect, eof\n", 1,
	{"t.ini:2: [default] errors: 'eof' is not one of connect, dns, "
	 "reset, timeout"}},
    {"[default]\nbackoff = linear\n", 1,
	{"t.ini:2: [default] backoff: expected one of: exponential, random, "
	 "list, fibonacci, jitter"}},
    {"[default]\nretry_after_headers = X-RateLimit-Reset, Bad Name\n", 1,
	{"t.ini:2: [default] retry_after_headers: 'Bad Name' is not a valid "
	 "header name"}},
    {"[default]\neject_after = 1001\n", 1,
	{"t.ini:2: [default] eject_after: must be between 0 and 1000"}},
    {"[default]\neject_percent = 101%\n", 1,
	{"t.ini:2: [default] eject_percent: a percentage must be between 0% "
	 "and 100%"}},
    {"[default]\neject_percent = 12.5%\n", 1,
	{"t.ini:2: [default] eject_percent: expected a whole percentage such "
	 "as 50%"}},
    {"[default]\neject_percent = half\n", 1,
	{"t.ini:2: [default] eject_percent: expected a percentage such as "
	 "20%"}},
    {"[default]\neject_percent = -5\n", 1,
	{"t.ini:2: [default] eject_percent: expected a percentage such as "
	 "20%"}},
    {"[default]\neject_min_attempts = 0\n", 1,
	{"t.ini:2: [default] eject_min_attempts: must be between 1 and "
	 "100000"}},
    {"; r\n[route a.test]\neject_min_attempts = 100001\n", 1,
	{"t.ini:3: [route a.test] eject_min_attempts: must be between 1 and "
	 "100000"}},
    {"[proxy]\neject_percent = 50%\n", 1,
	{"t.ini:2: [proxy] eject_percent: this key belongs in [default] or a "
	 "[route]"}},
    {"[default]\neject_time = 0\n", 1,
	{"t.ini:2: [default] eject_time: must be between 1ms and 720h"}},
    {"[default]\nhedge_after = p100\n", 1,
	{"t.ini:2: [default] hedge_after: 'p100': a percentile is p1 to p99 "
	 "(number out of range)"}},
    {"[default]\nhedge_after = 0\n", 1,
	{"t.ini:2: [default] hedge_after: must be more than 0 (or off)"}},
    {"[default]\nhedge_max = 4\n", 1,
	{"t.ini:2: [default] hedge_max: must be between 0 and 3"}},
    {"[default]\nresume_max = 101\n", 1,
	{"t.ini:2: [default] resume_max: must be between 0 and 100"}},
    {"[default]\nbody_timeout = 0\n", 1,
	{"t.ini:2: [default] body_timeout: must be between 1ms and 720h"}},
    {"[default]\nparent = https://proxy.corp:8080\n", 1,
	{"t.ini:2: [default] parent: 'https://proxy.corp:8080': an https:// "
	 "parent is not supported (TLS to the parent): use http://; https "
	 "targets still go end to end through CONNECT"}},
    {"[default]\nparent = http://proxy.corp\n", 1,
	{"t.ini:2: [default] parent: 'http://proxy.corp': a parent needs its "
	 "port (http://host:port)"}},
    {"[default]\nparent = http://proxy.corp:8080/x\n", 1,
	{"t.ini:2: [default] parent: 'http://proxy.corp:8080/x': a parent is "
	 "http://host:port, without a path"}},
    {"[default]\nparent = proxy.corp:8080\n", 1,
	{"t.ini:2: [default] parent: 'proxy.corp:8080': a parent is "
	 "http://host:port, or the list is 'direct'"}},
    {"[route a]\nparent = http://p:1, direct\n", 1,
	{"t.ini:2: [route a] parent: 'direct' stands alone: a list of "
	 "parents, or direct"}},
    {"[default]\nparent = http://p:1, http://P:1\n", 1,
	{"t.ini:2: [default] parent: 'http://P:1': listed twice"}},
    {"[default]\nparent = ,\n", 1,
	{"t.ini:2: [default] parent: empty: write 'direct' for no parent"}},
    {"[default]\nparent_auth = justapassword\n", 1,
	{"t.ini:2: [default] parent_auth: not user:password, nor an "
	 "absolute file path"}},
    {"[default]\nparent_auth = :pw\n", 1,
	{"t.ini:2: [default] parent_auth: not user:password, nor an "
	 "absolute file path"}},
    {"[default]\nparent_auth = /nonexistent/pa\n", 1,
	{"t.ini:2: [default] parent_auth: cannot read /nonexistent/pa: No "
	 "such file or directory"}},
    {"[default]\nresume = maybe\n", 1,
	{"t.ini:2: [default] resume: expected yes/no, true/false, on/off or "
	 "1/0"}},
    {"[route a.example]\nhold = yes\n", 1,
	{"t.ini:2: [route a.example] hold: expected one of: off, wait, "
	 "fail"}},
    {"[default]\nattempt_header = X Bad\n", 1,
	{"t.ini:2: [default] attempt_header: 'X Bad' is not a valid header "
	 "name"}},
    {"[default]\nretry_if_header = X-Foo\n", 1,
	{"t.ini:2: [default] retry_if_header: 'X-Foo' is not 'Name: value'"}},
    {"[default]\nretry_if_body = (unclosed\n", 1,
	{"t.ini:2: [default] retry_if_body: bad regular expression: *"}},
    {"[default]\nfallbacks = http://a.example/path\n", 1,
	{"t.ini:2: [default] fallbacks: 'http://a.example/path': a fallback "
	 "is scheme://host[:port], without a path"}},
    {"[default]\nfallbacks = ftp://a.example\n", 1,
	{"t.ini:2: [default] fallbacks: 'ftp://a.example': not an absolute "
	 "http:// URL"}},
    {"[proxy]\nlisten = 127.0.0.1\n", 1,
	{"t.ini:2: [proxy] listen: '127.0.0.1' is not ADDR:PORT (an IPv4 "
	 "address, or an IPv6 one in brackets, and a port 1-65535)"}},
    {"[proxy]\nlisten = localhost:3128\n", 1,
	{"t.ini:2: [proxy] listen: 'localhost:3128' is not ADDR:PORT (an "
	 "IPv4 address, or an IPv6 one in brackets, and a port 1-65535)"}},
    {"[proxy]\nlisten = [::zz]:3128\n", 1,
	{"t.ini:2: [proxy] listen: '[::zz]:3128' is not ADDR:PORT (an IPv4 "
	 "address, or an IPv6 one in brackets, and a port 1-65535)"}},
    {"[proxy]\nallow = 10.0.0.0/33\n", 1,
	{"t.ini:2: [proxy] allow: '10.0.0.0/33': bad prefix length"}},
    {"[proxy]\nconnect_ports = 0\n", 1,
	{"t.ini:2: [proxy] connect_ports: '0': not a port (1-65535)"}},
    /* duplicates and misplaced keys */
    {"[route a.example]\n[route a.example]\n", 1,
	{"t.ini:2: [route a.example]: duplicate route (first at line 1)"}},
    {"[route api.example.com]\nattempts = 2\n\n[route API.Example.COM]\n", 1,
	{"t.ini:4: [route API.Example.COM]: duplicate route (first at line "
	 "1)"}},
    {"[route *.Example.com/v1/]\n[route *.example.COM/v1/]\n", 1,
	{"t.ini:2: [route *.example.COM/v1/]: duplicate route (first at "
	 "line 1)"}},
    {"[default]\nattempts = 3\nfactor = 3\nattempts = 4\n", 1,
	{"t.ini:4: [default] attempts: set twice (first at line 2)"}},
    {"[route a.example]\nfactor = 3\nfactor: 4\n", 1,
	{"t.ini:3: [route a.example] factor: set twice (first at line 2)"}},
    {"[proxy]\nattempts = 3\n", 1,
	{"t.ini:2: [proxy] attempts: this key belongs in [default] or a "
	 "[route]"}},
    {"[route a.example]\nlisten = 127.0.0.1:1\n", 1,
	{"t.ini:2: [route a.example] listen: this key belongs in [proxy]"}},
    {"[default]\ntrust = system\n", 1,
	{"t.ini:2: [default] trust: this key belongs in [tls]"}},
    /* checks across keys: the line of the key the message names */
    {"[default]\nattempts = 3\nbackoff = list\n", 1,
	{"t.ini:3: [default] backoff: 'list' needs 'timeouts'"}},
    {"[route a.example]\nbackoff = list\n", 1,
	{"t.ini:2: [route a.example] backoff: 'list' needs 'timeouts'"}},
    {"[default]\nbackoff = random\nmin_timeout = 5s\nmax_timeout = 1s\n", 1,
	{"t.ini:3: [default] min_timeout: larger than max_timeout"}},
    {"[route a.example]\nattempts = 2\nintercept = yes\n", 1,
	{"t.ini:3: [route a.example] intercept: needs [tls] ca_cert and "
	 "ca_key"}},
    /* malformed lines and patterns */
    {"[proxy\n", 1, {"t.ini:1: section header without ']'"}},
    {"[proxy] junk\n", 1, {"t.ini:1: text after the section header"}},
    {"[default]\nattempts\n", 1,
	{"t.ini:2: expected 'key = value', got 'attempts'"}},
    {"[route]\n", 1,
	{"t.ini:1: [route] needs a pattern: [route HOST], [route *.DOMAIN], "
	 "[route HOST:PORT/PATH]"}},
    {"[route a*b.example]\n", 1,
	{"t.ini:1: [route a*b.example]: '*' is only allowed as a leading "
	 "'*.' label"}},
    {"[route /x]\n", 1,
	{"t.ini:1: [route /x]: a route pattern starts with a host"}},
    {"[route a.example:0]\n", 1, {"t.ini:1: [route a.example:0]: bad port"}},
    {"[route a b]\n", 1,
	{"t.ini:1: [route a b]: spaces and control characters are not "
	 "allowed in a route pattern"}},
    /* several mistakes: every one is reported */
    {"[proxy]\n"
     "listn = 127.0.0.1:1\n"
     "[default]\n"
     "attempts = 0\n"
     "factor = x\n"
     "[rout x]\n"
     "[route a.example]\n"
     "verify = maybe\n"
     "[route A.EXAMPLE]\n",
	6,
	{"t.ini:2: [proxy] listn: unknown key (did you mean 'listen'?)",
	    "t.ini:4: [default] attempts: must be between 1 and 100",
	    "t.ini:5: [default] factor: expected a number such as 2 or 1.5",
	    "t.ini:6: unknown section [rout x] (did you mean [route "
	    "PATTERN]?)",
	    "t.ini:8: [route a.example] verify: expected yes/no, "
	    "true/false, on/off or 1/0",
	    "t.ini:9: [route A.EXAMPLE]: duplicate route (first at line "
	    "7)"}},
    {"[default]\nattemps = 3\nstart_timout = 1s\nfactr = 2\n", 3,
	{"t.ini:2: [default] attemps: unknown key (did you mean "
	 "'attempts'?)",
	    "t.ini:3: [default] start_timout: unknown key (did you mean "
	    "'start_timeout'?)",
	    "t.ini:4: [default] factr: unknown key (did you mean "
	    "'factor'?)"}},
};

START_TEST(test_errors)
{
	const struct error_row *r = &error_rows[_i];
	size_t n = 0;

	while (n < MAXERR && r->want[n] != NULL)
		n++;
	ck_assert_msg(
	    n == r->n, "row %d lists %zu messages for %zu", _i, n, r->n);
	expect_errors(r->text, r->want, r->n);
}
END_TEST

/* Errors after a long line keep counting physical lines. */
START_TEST(test_error_lines_crlf)
{
	static const char *const want[] = {
	    "t.ini:4: [default] attemps: unknown key (did you mean "
	    "'attempts'?)",
	    "t.ini:6: unknown section [rout x] (did you mean [route "
	    "PATTERN]?)",
	};

	expect_errors("\xef\xbb\xbf; c\r\n[default]\r\n\r\nattemps = 3\r\n"
		      "\r\n[rout x]\r\n",
	    want, RP_NELEM(want));
}
END_TEST

/* ---- interception and the CA files ---- */

static char *
temp_file(const char *content, mode_t mode)
{
	char *path = xstrdup("/tmp/check_config.XXXXXX");
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
	    write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(test_intercept_with_ca)
{
	char *cert = temp_file("cert\n", 0644), *key = temp_file("key\n", 0600);
	char *text = xasprintf("[tls]\nca_cert = %s\nca_key = %s\n"
			       "[route a.example]\nintercept = yes\n",
	    cert, key);
	struct config_errors errs = {0};
	struct config *c = config_load_string(NAME, text, NULL, &errs);

	unlink(cert);
	unlink(key);
	ck_assert_msg(c != NULL && errs.n == 0, "%s-- %zu errors, first: %s",
	    text, errs.n, errs.n ? errs.v[0] : "");
	ck_assert(c->any_intercept);
	ck_assert_str_eq(c->tls.ca_cert, cert);
	ck_assert_str_eq(c->tls.ca_key, key);
	ck_assert(match(c, "a.example")->policy.intercept);
	ck_assert(!c->defaults.policy.intercept);
	config_unref(c);
	free(text);
	free(cert);
	free(key);
}
END_TEST

struct ca_row {
	const char *what;
	int cert; /* a ca_cert line */
	int key_mode; /* a ca_key line with a file of this mode, 0: none */
	const char *trust;
	const char *want; /* "@KEY@" stands for the ca_key path */
};

static const struct ca_row ca_rows[] = {
    {"key readable by others", 1, 0644, NULL,
	"t.ini:3: [tls] ca_key: @KEY@ is readable by group or others (chmod "
	"600 it)"},
    {"ca_cert without ca_key", 1, 0, NULL, "t.ini:2: [tls] ca_cert: *"},
    {"ca_key without ca_cert", 0, 0600, NULL, "t.ini:2: [tls] ca_key: *"},
    {"trust file missing", 0, 0, "/nonexistent/ca.pem",
	"t.ini:2: [tls] trust: cannot read /nonexistent/ca.pem*"},
};

START_TEST(test_ca_errors)
{
	const struct ca_row *r = &ca_rows[_i];
	char *cert = r->cert ? temp_file("cert\n", 0644) : NULL;
	char *key =
	    r->key_mode ? temp_file("key\n", (mode_t)r->key_mode) : NULL;
	struct config_errors errs = {0};
	struct sbuf text = {0}, want = {0};
	const char *at = strstr(r->want, "@KEY@"), *w;
	struct config *c;

	sbuf_puts(&text, "[tls]\n");
	if (cert != NULL)
		sbuf_printf(&text, "ca_cert = %s\n", cert);
	if (key != NULL)
		sbuf_printf(&text, "ca_key = %s\n", key);
	if (r->trust != NULL)
		sbuf_printf(&text, "trust = %s\n", r->trust);
	if (at != NULL) {
		sbuf_add(&want, r->want, (size_t)(at - r->want));
		sbuf_printf(&want, "%s%s", key, at + 5);
	} else
		sbuf_puts(&want, r->want);
	c = config_load_string(NAME, text.s, NULL, &errs);
	if (cert != NULL)
		unlink(cert);
	if (key != NULL)
		unlink(key);
	w = want.s;
	check_errors(text.s, c, &errs, &w, 1);
	sbuf_free(&text);
	sbuf_free(&want);
	free(cert);
	free(key);
}
END_TEST

/* ---- warnings ---- */

struct warning_row {
	const char *text;
	size_t n;
	const char *want[2];
};

static const struct warning_row warning_rows[] = {
    {"", 0, {NULL}},
    {"[default]\nstart_timeout = 0\n", 1,
	{"t.ini:1: [default]: some retries have zero delay: they would all "
	 "happen at once"}},
    {"[default]\nattempts = 1\nclient_overrides = no\nstart_timeout = 0\n", 0,
	{NULL}},
    /* X-Retry-Attempts can still ask for retries */
    {"[default]\nattempts = 1\nstart_timeout = 0\n", 1,
	{"t.ini:1: [default]: some retries have zero delay: they would all "
	 "happen at once"}},
    {"[default]\nbackoff = list\ntimeouts = 1s, 0\n", 1,
	{"t.ini:1: [default]: some retries have zero delay: they would all "
	 "happen at once"}},
    {"[default]\nverify = no\n", 1,
	{"t.ini:1: [default] verify = no: upstream certificates are not "
	 "checked"}},
    {"; c\n[route a.example]\nverify = no\n", 1,
	{"t.ini:2: [route a.example] verify = no: upstream certificates are "
	 "not checked"}},
    {"[route a.example]\nstart_timeout = 0\n[route b.example]\nverify = "
     "off\n",
	2,
	{"t.ini:1: [route a.example]: some retries have zero delay: they "
	 "would all happen at once",
	    "t.ini:3: [route b.example] verify = no: upstream certificates "
	    "are not checked"}},
};

START_TEST(test_warnings)
{
	const struct warning_row *r = &warning_rows[_i];
	struct config *c = load_ok(r->text);

	ck_assert_msg(c->nwarnings == r->n,
	    "%s-- want %zu warnings, got %zu%s%s", r->text, r->n, c->nwarnings,
	    c->nwarnings ? ": " : "", c->nwarnings ? c->warnings[0] : "");
	for (size_t i = 0; i < r->n; i++)
		ck_assert_str_eq(c->warnings[i], r->want[i]);
	config_unref(c);
}
END_TEST

/* ---- the -t dump loads back to the same config ---- */

static const char *const dump_texts[] = {
    "",
    "[proxy]\n"
    "listen = 127.0.0.1:8080, [::1]:8081\n"
    "workers = 2\n"
    "allow = 10.0.0.0/8, 192.168.1.7, fd00::/8\n"
    "connect_ports = 443, 8443, 9000-9100\n"
    "deny = 169.254.0.0/16, ::ffff:10.0.0.0/104\n"
    "avoid_failed_address = 2500ms\n"
    "max_request_body = 1536\n"
    "max_header_size = 32K\n"
    "max_connections = 100\n"
    "client_timeout = 90s\n"
    "shutdown_timeout = 0\n"
    "access_log = off\n"
    "access_log_format = json\n"
    "log_level = debug\n"
    "admin = [::1]:9100\n"
    "via = no\n"
    "[tls]\n"
    "trust = system\n"
    "[default]\n"
    "attempts = 4\n"
    "backoff = jitter\n"
    "start_timeout = 0.25\n"
    "factor = 1.5\n"
    "max_timeout = 10m\n"
    "min_timeout = 50ms\n"
    "multiplier = 2s\n"
    "random_interval_size = 1500ms\n"
    "statuses = 429, 408, 420-422\n"
    "retry_all_server_errors = no\n"
    "methods = get, post\n"
    "errors = dns, timeout\n"
    "idempotency_header = X-Idem\n"
    "retry_if_header = X-Retry: yes, X-Busy: *\n"
    "retry_if_body = \"status\": *\"busy\"\n"
    "connect_timeout = 2s\n"
    "per_try_timeout = 1m\n"
    "deadline = 1h\n"
    "retry_after = no\n"
    "max_retry_after = 90s\n"
    "retry_budget = 12.5%\n"
    "retry_budget_min = 0\n"
    "fallbacks = https://b.example:8443, http://c.example\n"
    "tls = yes\n"
    "verify = no\n"
    "intercept = no\n"
    "client_overrides = no\n"
    "attempts_limit = 20\n"
    "report_attempts = yes\n"
    "attempt_header = X-Retry-Attempt\n",
    "[default]\n"
    "timeouts = 1s, 2s\n"
    "[route api.example.com]\n"
    "attempts = 5\n"
    "[route *.example.com]\n"
    "backoff = list\n"
    "timeouts = 100ms, 1s\n"
    "[route API.example.com/v1/]\n"
    "methods = *\n"
    "[route [::1]:8080/p]\n"
    "backoff = fibonacci\n"
    "[route *.Deep.Example.com:8443/x/y/]\n"
    "statuses = 409\n"
    "[route 10.0.0.1:81]\n"
    "[route b.example]\n"
    "backoff = random\n"
    "min_timeout = 0\n"
    "max_timeout = 0\n",
};

/* Drop comment lines: they name the source lines, which a dump moves. */
static char *
strip_comments(const char *s)
{
	struct sbuf out = {0};

	sbuf_puts(&out, "");
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s + 1) : strlen(s);
		if (*s != ';')
			sbuf_add(&out, s, n);
		s += n;
	}
	return out.s;
}

/* parent and parent_auth: parsed, inherited, overridden, never shown. */
START_TEST(test_parent)
{
	const char *text =
	    "[default]\nparent = http://proxy.corp:8080, HTTP://[::1]:3128\n"
	    "parent_auth = Aladdin:open sesame\n"
	    "[route intranet.example]\nparent = direct\n";
	struct config_errors errs = {0};
	struct config *c = config_load_string("t.ini", text, NULL, &errs);
	const struct route *r;
	struct sbuf s = {0};

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->defaults.policy.nparents, 2);
	ck_assert_str_eq(c->defaults.policy.parents[0].host, "proxy.corp");
	ck_assert_uint_eq(c->defaults.policy.parents[0].port, 8080);
	ck_assert_str_eq(c->defaults.policy.parents[1].text, "[::1]:3128");
	/* RFC 7617 section 2's example */
	ck_assert_str_eq(c->defaults.policy.parent_auth,
	    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	r = config_match(c, "intranet.example", 80, "/");
	ck_assert_uint_eq(r->policy.nparents, 0);
	r = config_match(c, "other.example", 80, "/");
	ck_assert_uint_eq(r->policy.nparents, 2);
	config_dump(c, &s);
	ck_assert_ptr_nonnull(strstr(s.s,
	    "parent = http://proxy.corp:8080, http://[::1]:3128\n"
	    "parent_auth = (set)\n"));
	ck_assert_ptr_nonnull(strstr(s.s, "parent = direct\n"));
	ck_assert_ptr_null(strstr(s.s, "sesame"));
	sbuf_free(&s);
	config_unref(c);
}
END_TEST

/* A parent_auth file: its first line; refused when others may read it. */
START_TEST(test_parent_auth_file)
{
	char path[] = "/tmp/check_config_paXXXXXX", text[128];
	struct config_errors errs = {0};
	struct config *c;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "u:p\nignored\n", 12), 12);
	close(fd);
	snprintf(text, sizeof text,
	    "[default]\nparent = http://p:3128\n"
	    "parent_auth = %s\n",
	    path);
	c = config_load_string("t.ini", text, NULL, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->defaults.policy.parent_auth, "Basic dTpw");
	ck_assert_str_eq(c->defaults.policy.parent_auth_src, path);
	config_unref(c);
	chmod(path, 0640);
	c = config_load_string("t.ini", text, NULL, &errs);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.v[0], "readable by group or others"));
	config_errors_free(&errs);
	unlink(path);
}
END_TEST

START_TEST(test_dump_round_trip)
{
	struct sbuf d1 = {0}, d2 = {0}, d3 = {0};
	struct config *c1, *c2, *c3;
	char *s1, *s2;

	c1 = load_ok(dump_texts[_i]);
	config_dump(c1, &d1);
	c2 = load_ok(d1.s);
	config_dump(c2, &d2);
	s1 = strip_comments(d1.s);
	s2 = strip_comments(d2.s);
	ck_assert_msg(strcmp(s1, s2) == 0,
	    "dump:\n%s\n-- dump of the dump:\n%s", d1.s, d2.s);
	/* and once more: the dump of a dump is a fixed point */
	c3 = load_ok(d2.s);
	config_dump(c3, &d3);
	ck_assert_str_eq(d2.s, d3.s);
	ck_assert_uint_eq(c1->nroutes, c2->nroutes);
	ck_assert_uint_eq(c1->nwarnings, c2->nwarnings);
	free(s1);
	free(s2);
	sbuf_free(&d1);
	sbuf_free(&d2);
	sbuf_free(&d3);
	config_unref(c1);
	config_unref(c2);
	config_unref(c3);
}
END_TEST

/* The dump keeps every value the parser kept, not a rounded one. */
START_TEST(test_dump_precision)
{
	struct sbuf d = {0};
	struct config *c1, *c2;

	c1 = load_ok(
	    "[default]\nfactor = 1.234567\nretry_budget = 12.345678%\n");
	config_dump(c1, &d);
	c2 = load_ok(d.s);
	ck_assert_msg(c2->defaults.policy.factor == c1->defaults.policy.factor,
	    "factor %.9g dumped, loads as %.9g", c1->defaults.policy.factor,
	    c2->defaults.policy.factor);
	ck_assert_msg(c2->defaults.policy.retry_budget_percent ==
		c1->defaults.policy.retry_budget_percent,
	    "retry_budget %.9g dumped, loads as %.9g",
	    c1->defaults.policy.retry_budget_percent,
	    c2->defaults.policy.retry_budget_percent);
	sbuf_free(&d);
	config_unref(c1);
	config_unref(c2);
}
END_TEST

/* -l replaces [proxy] listen, and a bad -l is an error. */
START_TEST(test_listen_override)
{
	struct config_options o = {.listen_override = "[::1]:9999"};
	struct config_errors errs = {0};
	struct config *c;

	c = config_load_string(
	    NAME, "[proxy]\nlisten = 127.0.0.1:1\n", &o, &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->proxy.nlisten, 1);
	ck_assert_str_eq(c->proxy.listen[0].text, "[::1]:9999");
	config_unref(c);
	o.listen_override = "garbage";
	c = config_load_string(NAME, "", &o, &errs);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.v[0],
	    "-l garbage: 'garbage' is not ADDR:PORT (an IPv4 address, or an "
	    "IPv6 one in brackets, and a port 1-65535)");
	config_errors_free(&errs);
}
END_TEST

/*
 * needs_evhttp_lane: some route asks for what evhttp's lane alone does,
 * so front.c looks up each request's route before choosing its lane.
 */
START_TEST(test_lane_needs_evhttp)
{
	static const struct {
		const char *text;
		int lane;
		bool needs;
	} cases[] = {
	    {"", LANE_RAW, false},
	    {"[proxy]\nlane = evhttp\n", LANE_EVHTTP, false},
	    {"[default]\nhedge_after = 50ms\n", LANE_RAW, true},
	    {"[route a.example]\nhedge_after = p90\n", LANE_RAW, true},
	    {"[route a.example]\nhedge_after = off\n", LANE_RAW, false},
	    {"[route a.example]\nretry_if_body = busy\n", LANE_RAW, true},
	    {"[default]\nparent = http://127.0.0.1:1\n", LANE_RAW, true},
	    {"[route a.example]\nresume = no\nattempts = 5\n", LANE_RAW, false},
	};

	for (size_t i = 0; i < RP_NELEM(cases); i++) {
		struct config *c = load_ok(cases[i].text);
		ck_assert_msg(
		    (int)c->proxy.lane == cases[i].lane, "case %zu", i);
		ck_assert_msg(
		    c->needs_evhttp_lane == cases[i].needs, "case %zu", i);
		config_unref(c);
	}
}
END_TEST

/*
 * tls_verifies: a route or a gateway reaches origins over TLS and verifies
 * them, so the server loads [tls] trust before it serves (or reloads),
 * not a worker at its first TLS request; verify = no loads no trust.
 */
START_TEST(test_tls_verifies)
{
	static const struct {
		const char *text;
		bool verifies;
	} cases[] = {
	    {"", false},
	    {"[default]\ntls = yes\n", true},
	    {"[route a.example]\ntls = yes\n", true},
	    {"[route a.example]\ntls = yes\nverify = no\n", false},
	    {"[default]\nverify = no\n[route a.example]\ntls = yes\n", false},
	    {"[route a.example]\ntls = no\n", false},
	    {"[route a.example]\nfallbacks = http://b.example\n", false},
	    {"[route a.example]\nfallbacks = http://b.example, "
	     "https://c.example\n",
		true},
	    {"[route a.example]\nfallbacks = https://c.example\n"
	     "verify = no\n",
		false},
	    {"[gateway 127.0.0.1:1]\norigin = http://a.example\n", false},
	    {"[gateway 127.0.0.1:1]\norigin = https://a.example\n", true},
	    {"[default]\nparent = http://127.0.0.1:1\n", false},
	};

	for (size_t i = 0; i < RP_NELEM(cases); i++) {
		struct config *c = load_ok(cases[i].text);
		ck_assert_msg(
		    c->tls_verifies == cases[i].verifies, "case %zu", i);
		config_unref(c);
	}
}
END_TEST

/* Every key in the table has a default that the dump prints. */
START_TEST(test_key_table)
{
	struct config *c =
	    load_ok("[gateway 127.0.0.1:1]\norigin = http://a.example\n");
	struct sbuf d = {0};

	config_dump(c, &d);
	ck_assert_uint_eq(config_nkeys(), 73);
	for (size_t i = 0; i < config_nkeys(); i++) {
		char *needle = xasprintf("\n%s = ", config_key_name(i));
		ck_assert_msg(strstr(d.s, needle) != NULL, "key %s not dumped",
		    config_key_name(i));
		ck_assert_ptr_nonnull(config_key_default(i));
		ck_assert_msg(
		    config_key_help(i) != NULL && config_key_help(i)[0] != '\0',
		    "key %s has no help", config_key_name(i));
		free(needle);
	}
	sbuf_free(&d);
	config_unref(c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults_proxy);
	tcase_add_test(tc, test_defaults_policy);
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_lane_needs_evhttp);
	tcase_add_test(tc, test_tls_verifies);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_values, 0, RP_NELEM(value_rows));
	tcase_add_test(tc, test_value_lists);
	tcase_add_loop_test(tc, test_bools, 0, RP_NELEM(bool_rows));
	tcase_add_test(tc, test_listen_override);
	suite_add_tcase(s, tc);

	tc = tcase_create("inherit");
	tcase_add_test(tc, test_inherit_before_and_after);
	tcase_add_test(tc, test_route_override_keeps_rest);
	tcase_add_loop_test(
	    tc, test_timeouts_attempts, 0, RP_NELEM(timeouts_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_loop_test(tc, test_match, 0, RP_NELEM(match_rows));
	tcase_add_test(tc, test_route_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("syntax");
	tcase_add_loop_test(tc, test_syntax, 0, RP_NELEM(syntax_rows));
	tcase_add_loop_test(tc, test_long_line, 0, RP_NELEM(long_rows));
	tcase_add_test(tc, test_long_lines_elsewhere);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0, RP_NELEM(error_rows));
	tcase_add_test(tc, test_error_lines_crlf);
	tcase_add_test(tc, test_intercept_with_ca);
	tcase_add_loop_test(tc, test_ca_errors, 0, RP_NELEM(ca_rows));
	tcase_add_loop_test(tc, test_warnings, 0, RP_NELEM(warning_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("dump");
	tcase_add_loop_test(tc, test_dump_round_trip, 0, RP_NELEM(dump_texts));
	tcase_add_test(tc, test_parent);
	tcase_add_test(tc, test_parent_auth_file);
	tcase_add_test(tc, test_dump_precision);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
