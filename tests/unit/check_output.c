/*
 * check_output: the pure modules that produce text -- the access-log
 * line (text and JSON, escaping), the Prometheus exposition, and the
 * --explain schedule.  Each row pins exact output.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "config.h"
#include "explain.h"
#include "metrics.h"
#include "util.h"

START_TEST(test_accesslog_text)
{
	struct access_entry e = {0};
	struct sbuf s = {0};

	e.wall_ms = 1445412480123ULL; /* 2015-10-21T07:28:00.123Z */
	e.client = "127.0.0.1:5000";
	e.method = "GET";
	e.url = "http://h/a b\"c";
	e.status = 200;
	e.attempts = 3;
	e.retries = "503,reset";
	e.duration_ms = 42;
	e.bytes = 7;
	e.route = "api.example.com";
	accesslog_format(&e, 0, &s);
	ck_assert_str_eq(s.s,
	    "2015-10-21T07:28:00.123Z 127.0.0.1:5000 GET http://h/a\\x20b\\x22c "
	    "200 attempts=3 retries=503,reset time=42ms bytes=7 "
	    "route=api.example.com\n");
	sbuf_free(&s);
	e.retries = "";
	e.error = "connection_refused";
	e.status = 502;
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(s.s, " retries=- "));
	ck_assert_ptr_nonnull(strstr(s.s, " error=connection_refused\n"));
	sbuf_free(&s);
	e.conn = "warm";
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(
	    strstr(s.s, " error=connection_refused conn=warm\n"));
	sbuf_free(&s);
	e.held_ms = 1999;
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(s.s, " conn=warm held=1999ms\n"));
	sbuf_free(&s);
	/* the address of each attempt; none: not printed */
	e.addrs = "";
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_null(strstr(s.s, "addrs="));
	sbuf_free(&s);
	e.addrs = "127.0.0.1:8080,-,[2001:db8::1]:8080";
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(
	    s.s, " held=1999ms addrs=127.0.0.1:8080,-,[2001:db8::1]:8080\n"));
	sbuf_free(&s);
	/* the parent proxy of the final attempt */
	e.parent = "[::1]:3128";
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(s.s, ":8080 parent=[::1]:3128\n"));
	sbuf_free(&s);
	accesslog_format(&e, 1, &s);
	ck_assert_ptr_nonnull(strstr(s.s, ",\"parent\":\"[::1]:3128\"}\n"));
	sbuf_free(&s);
	/* hedges sent, and whether one answered (none: not printed) */
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_null(strstr(s.s, "hedge"));
	sbuf_free(&s);
	e.hedges = 2;
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(s.s, " hedges=2 "));
	ck_assert_ptr_null(strstr(s.s, "hedge=won"));
	sbuf_free(&s);
	e.hedge_won = true;
	accesslog_format(&e, 0, &s);
	ck_assert_ptr_nonnull(strstr(s.s, " hedges=2 hedge=won "));
	sbuf_free(&s);
	accesslog_format(&e, 1, &s);
	ck_assert_ptr_nonnull(strstr(s.s, ",\"hedges\":2,\"hedge_won\":true,"));
	sbuf_free(&s);
}
END_TEST

START_TEST(test_accesslog_json)
{
	struct access_entry e = {0};
	struct sbuf s = {0};

	e.wall_ms = 1445412480123ULL;
	e.client = "[::1]:5000";
	e.method = "CONNECT";
	e.url = "h:443\n\x01";
	e.status = 200;
	e.attempts = 2;
	e.retries = "refused";
	e.duration_ms = 5;
	e.bytes = 10;
	e.bytes_in = 20;
	e.tunnel = 1;
	e.route = "default";
	accesslog_format(&e, 1, &s);
	ck_assert_str_eq(s.s,
	    "{\"time\":\"2015-10-21T07:28:00.123Z\",\"client\":\"[::1]:5000\","
	    "\"method\":\"CONNECT\",\"url\":\"h:443\\u000a\\u0001\","
	    "\"status\":200,\"attempts\":2,\"retries\":[\"refused\"],"
	    "\"duration_ms\":5,\"bytes\":10,\"route\":\"default\","
	    "\"bytes_in\":20}\n");
	sbuf_free(&s);
	e.conn = "reused";
	accesslog_format(&e, 1, &s);
	ck_assert_ptr_nonnull(
	    strstr(s.s, ",\"bytes_in\":20,\"conn\":\"reused\"}\n"));
	sbuf_free(&s);
	e.held_ms = 20;
	accesslog_format(&e, 1, &s);
	ck_assert_ptr_nonnull(
	    strstr(s.s, ",\"conn\":\"reused\",\"held_ms\":20}\n"));
	sbuf_free(&s);
	e.addrs = "127.0.0.1:443,[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:443";
	accesslog_format(&e, 1, &s);
	ck_assert_ptr_nonnull(strstr(s.s,
	    ",\"held_ms\":20,\"addrs\":[\"127.0.0.1:443\","
	    "\"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:443\"]}\n"));
	sbuf_free(&s);
}
END_TEST

START_TEST(test_metrics_render)
{
	struct route_metrics *m = metrics_route("r\"1");
	struct metrics_gauges g = {3, 4, 5, 6, 7, 2};
	struct sbuf s = {0};

	ck_assert_ptr_eq(metrics_route("r\"1"), m); /* one per name */
	metrics_request(m, 200, 3, 7);
	metrics_request(m, 502, 1, 70000);
	metrics_retry(m, 503, FK_NONE);
	metrics_retry(m, 0, FK_CONNECTION_TERMINATED);
	metrics_suppressed(m, WHY_BUDGET);
	metrics_reload(1);
	metrics_ejection();
	metrics_broken_body(true);
	metrics_hedge(METRICS_HEDGE_WON);
	metrics_hedge(METRICS_HEDGE_NOT_SENT);
	metrics_hedge(METRICS_HEDGE_NOT_SENT);
	metrics_tunnel_bytes(1000, 3);
	metrics_tunnel_bytes(0, 4);
	metrics_render(&g, &s);
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_tunnel_bytes_total{path=\"splice\"} 1000\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_tunnel_bytes_total{path=\"copy\"} 7\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_hedges_total{outcome=\"won\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_hedges_total{outcome=\"lost\"} 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_hedges_total{outcome=\"not_sent\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(s.s, "retryproxy_origins_ejected 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_origin_ejections_total 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_broken_bodies_total{outcome=\"resumed\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_requests_total{route=\"r\\\"1\",code=\"200\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_attempts_total{route=\"r\\\"1\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_retries_total{route=\"r\\\"1\",reason=\"503\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_retries_total{route=\"r\\\"1\",reason=\"reset\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_retries_suppressed_total{route=\"r\\\"1\","
	    "why=\"budget\"} 1\n"));
	/* 7 ms falls in le=0.01, 70 s in le=120 */
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_request_duration_seconds_bucket{le=\"0.01\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_request_duration_seconds_bucket{le=\"60\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_request_duration_seconds_bucket{le=\"120\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_request_duration_seconds_count 2\n"));
	ck_assert_ptr_nonnull(strstr(s.s, "retryproxy_client_connections 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_replay_buffer_bytes 7\n"));
	metrics_raw_lane(true);
	metrics_raw_lane(false);
	metrics_warm_reuse(WARM_REUSED);
	metrics_warm_reuse(WARM_REUSED);
	metrics_warm_reuse(WARM_PROBE_FAILED);
	metrics_warm_reuse((enum warm_outcome)99); /* ignored */
	metrics_tls_handshake(false);
	metrics_tls_handshake(true);
	metrics_tls_handshake(true);
	metrics_hold_started();
	metrics_held(true);
	metrics_held(true);
	metrics_held(false);
	metrics_address_marked();
	metrics_parent_failure("proxy.corp:8080");
	metrics_parent_failure("proxy.corp:8080");
	metrics_parent_failure("[::1]:3128");
	metrics_address_avoided();
	metrics_address_avoided();
	sbuf_free(&s);
	metrics_render(&g, &s);
	ck_assert_ptr_nonnull(strstr(s.s, "retryproxy_origin_holds_total 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_held_requests_total{outcome=\"waited\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_held_requests_total{outcome=\"answered\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_warm_reuse_total{outcome=\"reused\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_warm_reuse_total{outcome=\"none_idle\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_warm_reuse_total{outcome=\"too_idle\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_warm_reuse_total{outcome=\"probe_failed\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_upstream_tls_handshakes_total{session=\"new\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_upstream_tls_handshakes_total{session=\"resumed\"} "
	    "2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_upstream_address_marks_total 1\n"));
	ck_assert_ptr_nonnull(strstr(s.s,
	    "retryproxy_parent_failures_total{parent=\"proxy.corp:8080\"} 2\n"
	    "retryproxy_parent_failures_total{parent=\"[::1]:3128\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_upstream_addresses_avoided_total 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_raw_lane_requests_total 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(s.s, "retryproxy_streamed_bodies_total 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "retryproxy_config_reloads_total{result=\"success\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    s.s, "# TYPE retryproxy_request_duration_seconds histogram\n"));
	sbuf_free(&s);
	metrics_free();
}
END_TEST

static struct config *
load(const char *text)
{
	struct config_errors errs = {0};
	struct config *c = config_load_string("t.ini", text, NULL, &errs);

	ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0] : "?");
	config_errors_free(&errs);
	return c;
}

START_TEST(test_explain)
{
	static const struct {
		const char *conf, *method, *url;
		const char *want[4]; /* substrings, in order */
	} t[] = {
	    {"[default]\nstart_timeout = 100ms\n", "GET", "http://a/x",
		{"route: [default]", "attempt 1 at once\n",
		    "attempt 2 after 100ms\nattempt 3 after 200ms\n",
		    "total delay 300ms"}},
	    {"[route a/v1/]\nbackoff = list\ntimeouts = 1s, 2s\n", "POST",
		"http://a/v1/x",
		{"route: [route a/v1/] (t.ini:1)",
		    "POST may be re-sent after a response or a reset: no",
		    "upstream connection: pooled only when warm",
		    "attempt 2 after 1s\nattempt 3 after 2s\n"}},
	    {"[default]\nwarm_reuse = no\n", "POST", "http://a/",
		{"POST may be re-sent after a response or a reset: no",
		    "upstream connection: always new (warm_reuse = no)",
		    "warm_reuse = no", ""}},
	    {"[route a]\nhold = wait\n", "GET", "http://a/",
		{"hold: after a 429 or 503 with Retry-After from a:80, new "
		 "requests to it wait (within the deadline; else they get that "
		 "status) until then (up to 1m)",
		    "hold = wait", "", ""}},
	    {"[default]\nhold = fail\n", "POST", "http://a:8080/",
		{"new requests to it get that status and the time left at once",
		    "hold = fail", "", ""}},
	    {"[default]\n", "GET", "http://a/", {"hold = off", "", "", ""}},
	    {"[default]\nwarm_reuse = no\n", "PUT", "http://a/",
		{"PUT may be re-sent after a response or a reset: yes",
		    "upstream connection: pooled, or new\n",
		    "addresses: each attempt goes to an address of the host the "
		    "request has not tried yet, in the resolver's order; one "
		    "that refused or timed out a connect is tried last by new "
		    "attempts for 10s (avoid_failed_address)\n",
		    ""}},
	    {"[proxy]\navoid_failed_address = 0\n", "GET", "http://a/",
		{"addresses: each attempt goes to an address of the host the "
		 "request has not tried yet, in the resolver's order; none is "
		 "avoided after a failed connect (avoid_failed_address = 0)\n",
		    "", "", ""}},
	    {"[default]\n", "put", "http://a/",
		{"put may be re-sent after a response or a reset: no", "", "",
		    ""}},
	    {"[default]\nbackoff = random\nmin_timeout = 1s\nmax_timeout = "
	     "3s\n",
		"GET", "http://a/",
		{"attempt 2 after 1s..3s (random)",
		    "attempt 3 after 1s..3s (random)", "total delay 2s..6s",
		    ""}},
	    {"[default]\nstart_timeout = 1s\ndeadline = 2s\nattempts = 4\n",
		"GET", "http://a/",
		{"attempt 2 after 1s\n",
		    "attempt 3 after 2s (not taken: past "
		    "the 2s deadline)",
		    "", ""}},
	};

	for (size_t i = 0; i < RP_NELEM(t); i++) {
		struct config *c = load(t[i].conf);
		struct sbuf out = {0};
		const char *cause, *at;

		ck_assert_int_eq(
		    explain_request(c, t[i].method, t[i].url, &out, &cause), 0);
		at = out.s;
		for (size_t j = 0; j < 4 && t[i].want[j][0] != '\0'; j++) {
			const char *hit = strstr(at, t[i].want[j]);
			ck_assert_msg(hit != NULL, "row %zu: no \"%s\" in:\n%s",
			    i, t[i].want[j], out.s);
			at = hit;
		}
		sbuf_free(&out);
		config_unref(c);
	}
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("output");
	TCase *tc = tcase_create("output");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_accesslog_text);
	tcase_add_test(tc, test_accesslog_json);
	tcase_add_test(tc, test_metrics_render);
	tcase_add_test(tc, test_explain);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
