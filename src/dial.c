/*
 * dial: the shared attempt loop (see dial.h).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "accesslog.h"
#include "config.h"
#include "dial.h"
#include "eject.h"
#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "nodelay.h"
#include "origins.h"
#include "parent.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

static void origin_again(struct dial *);

enum {
	DIAL_ARMED_TIMER = 1,
	DIAL_ARMED_BACKOFF = 2,
	DIAL_ARMED_DNS = 4,
};

static void
fail_soon(struct dial *d, enum fail_kind kind)
{
	d->timer_kind = kind;
	event_del(&d->timer);
	d->armed |= DIAL_ARMED_TIMER;
	event_active(&d->timer, EV_TIMEOUT, 1);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	enum fail_kind kind = d->timer_kind;

	if (d->dnsreq != NULL && kind == FK_CONNECTION_TIMEOUT)
		kind = FK_DNS_TIMEOUT; /* still resolving */
	dial_stop(d);
	origin_again(d);
	d->failed_cb(d, kind);
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;

	d->retry_cb(d);
}

void
dial_arm(struct dial *d, uint64_t ms, enum fail_kind kind)
{
	uint64_t now = util_now_ms();
	struct timeval tv;

	d->timer_kind = kind;
	if (d->pol->deadline_ms > 0) {
		uint64_t end = d->start_ms + d->pol->deadline_ms;
		uint64_t left = end > now ? end - now : 0;
		if (left <= ms) {
			ms = left;
			if (kind == FK_CONNECTION_TIMEOUT)
				d->timer_kind = FK_DEADLINE_CONNECTING;
		}
	}
	tv = rp_tv(ms);
	d->armed |= DIAL_ARMED_TIMER;
	evtimer_add(&d->timer, &tv);
}

void
dial_disarm(struct dial *d)
{
	d->armed &= (unsigned char)~DIAL_ARMED_TIMER;
	event_del(&d->timer);
}

void
dial_stop(struct dial *d)
{
	if (d->armed & DIAL_ARMED_TIMER)
		event_del(&d->timer);
	if (d->armed & DIAL_ARMED_BACKOFF)
		event_del(&d->backoff);
	if (d->armed & DIAL_ARMED_DNS)
		event_del(&d->dns_ev);
	d->armed = 0;
	if (d->dnsreq != NULL) {
		struct evdns_getaddrinfo_request *r = d->dnsreq;
		d->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	if (d->bev != NULL) {
		bufferevent_free(d->bev);
		d->bev = NULL;
	}
}

enum fail_kind
dial_connect_failure(struct dial *d, struct bufferevent *bev)
{
	unsigned long err;

	if (!d->tls)
		return FK_CONNECTION_REFUSED;
	if (d->tls_verify_err != 0) {
		log_warnx("%s:%u: certificate not accepted: %s", d->host,
		    d->port, tls_verify_error_string(d->tls_verify_err));
		return FK_TLS_CERTIFICATE_ERROR;
	}
	/*
	 * bufferevent_openssl records a TCP failure during the handshake as
	 * the bare SSL_ERROR_SYSCALL (no library code): TCP failed, not TLS.
	 */
	err = bufferevent_get_openssl_error(bev);
	return err != 0 && ERR_GET_LIB(err) != 0 ? FK_TLS_PROTOCOL_ERROR
						 : FK_CONNECTION_REFUSED;
}

/* Where an attempt through a parent proxy is. */
enum dial_parent_phase {
	PARENT_NONE = 0, /* direct, or plain http to the parent */
	PARENT_TCP = 1, /* connecting to the parent */
	PARENT_CONNECT = 2, /* our CONNECT sent, its answer awaited */
	PARENT_TLS = 3, /* the TLS handshake with the origin, through it */
};

/* The longest answer head to a CONNECT we read from a parent. */
#define PARENT_HEAD_MAX 16384

static void event_cb(struct bufferevent *, short, void *);

/* The attempt's host and port are the origin's again (not the parent's). */
static void
origin_again(struct dial *d)
{
	if (d->origin_host != NULL) {
		d->host = d->origin_host;
		d->port = d->origin_port;
	}
}

static void
parent_fail(struct dial *d, enum fail_kind kind)
{
	dial_stop(d);
	origin_again(d);
	d->failed_cb(d, kind);
}

/* Through the tunnel the parent opened: TLS with the origin. */
static void
parent_tls(struct dial *d, struct bufferevent *bev)
{
	SSL_CTX *ctx = worker_tls_ctx(d->w, d->verify);
	SSL *ssl = ctx == NULL
	    ? NULL
	    : tls_client_ssl(ctx, d->origin_host, d->origin_port, d->verify,
		  &d->tls_verify_err);
	struct bufferevent *f;

	if (ssl == NULL) {
		parent_fail(d, FK_TLS_PROTOCOL_ERROR);
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	f = bufferevent_openssl_filter_new(
	    d->w->base, bev, ssl, BUFFEREVENT_SSL_CONNECTING, TLS_BEV_OPTIONS);
	if (f == NULL) {
		SSL_free(ssl);
		parent_fail(d, FK_TLS_PROTOCOL_ERROR);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	d->bev = f; /* (freeing it frees bev) */
	d->parent_phase = PARENT_TLS;
	bufferevent_setcb(f, NULL, NULL, event_cb, d);
	bufferevent_enable(f, EV_READ | EV_WRITE);
}

/*
 * The parent's answer to our CONNECT: 2xx opens the tunnel; its own
 * 5xx (it could not reach the origin, or failed) is a failed connect
 * that moves the retry to the next parent; anything else (407: wrong
 * parent_auth) is final.
 */
static void
parent_read_cb(struct bufferevent *bev, void *arg)
{
	struct dial *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char line[64];
	size_t n;
	int status = 0;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > PARENT_HEAD_MAX)
			parent_fail(d, FK_HTTP_PROTOCOL_ERROR);
		return;
	}
	n = evbuffer_copyout(in, line, sizeof line - 1);
	line[n] = '\0';
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
	    sscanf(line + 9, "%3d", &status) != 1 || status < 100) {
		parent_fail(d, FK_HTTP_PROTOCOL_ERROR);
		return;
	}
	evbuffer_drain(in, (size_t)end.pos + 4);
	if (status >= 200 && status < 300) {
		if (d->tls) {
			parent_tls(d, bev);
			return;
		}
		event_del(&d->timer);
		origin_again(d);
		d->bev = NULL; /* the owner's now */
		d->parent_phase = PARENT_NONE;
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		d->connected_cb(d, bev);
		return;
	}
	log_info("parent %s answered %d to CONNECT %s:%u", d->parent->text,
	    status, d->origin_host, d->origin_port);
	if (status >= 500) {
		dial_parent_failed(d);
		parent_fail(d, FK_DESTINATION_UNREACHABLE);
	} else
		parent_fail(d, FK_PARENT_REFUSED);
}

/* Connected to the parent: ask it for a tunnel to the origin. */
static void
parent_connect(struct dial *d, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	char auth[300];
	const char *h = d->origin_host;
	bool v6 = strchr(h, ':') != NULL;

	auth[0] = '\0';
	if (d->pol->parent_auth[0] != '\0')
		snprintf(auth, sizeof auth, "Proxy-Authorization: %s\r\n",
		    d->pol->parent_auth);
	evbuffer_add_printf(out,
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%s\r\n",
	    v6 ? "[" : "", h, v6 ? "]" : "", d->origin_port, v6 ? "[" : "", h,
	    v6 ? "]" : "", d->origin_port, auth);
	d->parent_phase = PARENT_CONNECT;
	bufferevent_setcb(bev, parent_read_cb, NULL, event_cb, d);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct dial *d = arg;

	if ((what & BEV_EVENT_CONNECTED) && d->parent_phase == PARENT_TCP) {
		dial_connected(d);
		parent_connect(d, bev);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		event_del(&d->timer);
		origin_again(d);
		d->parent_phase = PARENT_NONE;
		dial_connected(d);
		d->bev = NULL; /* the owner's now */
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		d->connected_cb(d, bev);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		enum fail_kind kind = d->parent_phase == PARENT_CONNECT
		    ? FK_CONNECTION_TERMINATED /* the parent closed */
		    : dial_connect_failure(d, bev);
		dial_stop(d);
		origin_again(d);
		d->failed_cb(d, kind);
	}
}

static bool
denied(const struct dial *d, const struct sockaddr *sa)
{
	return d->cfg->proxy.deny.n > 0 &&
	    cidr_set_contains(&d->cfg->proxy.deny, sa);
}

static void
connect_to(struct dial *d, struct sockaddr_storage *ss)
{
	struct event_base *base = d->w->base;
	struct sockaddr *sa = (struct sockaddr *)ss;
	socklen_t len;

	/* (the DNS cache keeps addresses without a port) */
	if (sa->sa_family == AF_INET6) {
		((struct sockaddr_in6 *)ss)->sin6_port =
		    htons((uint16_t)d->port);
		len = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)d->port);
		len = sizeof(struct sockaddr_in);
	}

	if (d->tls && d->parent_phase == PARENT_NONE) {
		SSL_CTX *ctx = worker_tls_ctx(d->w, d->verify);
		SSL *ssl = ctx == NULL ? NULL
				       : tls_client_ssl(ctx, d->host, d->port,
					     d->verify, &d->tls_verify_err);
		if (ssl == NULL) {
			fail_soon(d, FK_TLS_PROTOCOL_ERROR);
			return;
		}
		d->bev = bufferevent_openssl_socket_new(
		    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, TLS_BEV_OPTIONS);
		if (d->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(d->bev, 1);
	} else
		d->bev =
		    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (d->bev == NULL) {
		/* (out of memory here, not a refusal by the address) */
		dial_using(d, NULL);
		fail_soon(d, FK_CONNECTION_REFUSED);
		return;
	}
	bufferevent_setcb(d->bev, NULL, NULL, event_cb, d);
	if (bufferevent_socket_connect(d->bev, sa, (int)len) != 0) {
		fail_soon(d, FK_CONNECTION_REFUSED);
		return;
	}
	/*
	 * (as evhttp's lane has: a streamed upload's second piece waited
	 * 40 ms for the origin's delayed ACK of the first without it)
	 */
	(void)nodelay_set(bufferevent_getfd(d->bev));
}

static bool address_ejected(struct dial *, const struct avoid_addr *);
static bool addresses_may_be_ejected(const struct dial *);

/*
 * avoid_pick's choice among the addresses, passing over one that is
 * ejected on its own (eject_after, eject_percent) while another is left.
 */
static unsigned
pick_address(struct dial *d, const struct avoid_addr *keys, bool *passed_over)
{
	struct avoid_addr sub[DNSCACHE_ADDRS];
	unsigned map[DNSCACHE_ADDRS], n = d->naddrs, i, j;
	uint64_t now = util_now_ms();

	for (i = 0; i < n; i++) {
		sub[i] = keys[i];
		map[i] = i;
	}
	for (;;) {
		j = avoid_pick(
		    d->w->avoid, &d->tried, sub, n, now, passed_over);
		if (n == 1 || !addresses_may_be_ejected(d) ||
		    !address_ejected(d, &sub[j]))
			return map[j];
		metrics_ejected_request();
		for (i = j; i + 1 < n; i++) {
			sub[i] = sub[i + 1];
			map[i] = map[i + 1];
		}
		n--;
	}
}

/* (avoid_pick weighs as many addresses as a request remembers) */
_Static_assert(DNSCACHE_ADDRS <= AVOID_TRIED, "a name's addresses fit");

/*
 * Each attempt takes the address avoid_pick chooses: one this request
 * has not tried, and not one that failed a connect a moment ago.
 */
static void
use_addresses(struct dial *d)
{
	struct avoid_addr keys[DNSCACHE_ADDRS];
	unsigned i;
	bool passed_over;

	for (i = 0; i < d->naddrs; i++)
		if (denied(d, (const struct sockaddr *)&d->addrs[i])) {
			event_del(&d->timer);
			d->denied_cb(d);
			return;
		}
	for (i = 0; i < d->naddrs; i++)
		avoid_addr_set(
		    &keys[i], (const struct sockaddr *)&d->addrs[i], d->port);
	i = pick_address(d, keys, &passed_over);
	d->addr = keys[i];
	if (passed_over)
		metrics_address_avoided();
	if (d->resolved_cb != NULL) {
		d->resolved_cb(d, (const struct sockaddr *)&d->addrs[i]);
		return;
	}
	connect_to(d, &d->addrs[i]);
}

/* The resolver's answer, from the loop (it may answer inside the call). */
static void
dns_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	int r = d->dns_result;

	if (r != 0 || d->naddrs == 0) {
		dial_stop(d);
		origin_again(d);
		d->failed_cb(d,
		    r == EVUTIL_EAI_NONAME	? FK_DNS_NXDOMAIN
			: r == EVUTIL_EAI_AGAIN ? FK_DNS_TIMEOUT
						: FK_DNS_ERROR);
		return;
	}
	dnscache_put(d->w->dnscache, d->host, d->addrs, d->naddrs,
	    util_now_ms(), DNSCACHE_TTL_MS);
	use_addresses(d);
}

static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dial *d = arg;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	d->dnsreq = NULL;
	d->dns_result = result;
	d->naddrs = 0;
	for (struct evutil_addrinfo *x = res; x != NULL; x = x->ai_next)
		if (d->naddrs < DNSCACHE_ADDRS &&
		    x->ai_addrlen <= sizeof d->addrs[0]) {
			memset(&d->addrs[d->naddrs], 0, sizeof d->addrs[0]);
			memcpy(
			    &d->addrs[d->naddrs++], x->ai_addr, x->ai_addrlen);
		}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	d->armed |= DIAL_ARMED_DNS;
	event_active(&d->dns_ev, EV_TIMEOUT, 1);
}

/* host:port as an address when host is an IP address literal. */
static bool
numeric(const char *host, unsigned port, struct sockaddr_storage *ss)
{
	char tmp[300];
	int len = sizeof *ss;

	memset(ss, 0, sizeof *ss); /* (all of it is copied, compared) */
	snprintf(tmp, sizeof tmp, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
	    port);
	return evutil_parse_sockaddr_port(tmp, (struct sockaddr *)ss, &len) ==
	    0;
}

/*
 * How many addresses the host of this attempt has, as far as the worker
 * knows without asking DNS: 1 for an IP address, the cached answer's
 * count for a name, 0 when it does not know.
 */
static unsigned
known_addresses(struct dial *d)
{
	struct sockaddr_storage ss[DNSCACHE_ADDRS];

	if (d->host == NULL)
		return 0;
	if (numeric(d->host, d->port, &ss[0]))
		return 1;
	return dnscache_get(
	    d->w->dnscache, d->host, util_now_ms(), ss, DNSCACHE_ADDRS);
}

void
dial_begin(struct dial *d)
{
	d->attempt++;
	d->attempt_start_ms = util_now_ms();
	memset(&d->addr, 0, sizeof d->addr);
	d->addr_logged = false;
	d->addr_noted = false;
}

void
dial_using(struct dial *d, const struct sockaddr *sa)
{
	avoid_addr_set(&d->addr, sa, d->port);
}

bool
dial_may_reuse(struct dial *d, const struct sockaddr *sa, bool connected)
{
	struct avoid_addr k;

	if (!avoid_addr_set(&k, sa, d->port))
		return true;
	/*
	 * A retry after a failure at this address goes to another address,
	 * over a new connection, when the host has another one (or we do not
	 * know: the resolver will tell).  With a single address a pooled
	 * connection is as good as a new one to it, and cheaper.
	 */
	if (avoid_tried_failed(&d->tried, &k) && known_addresses(d) != 1)
		return false;
	/* an address ejected on its own, while the name has others */
	if (addresses_may_be_ejected(d) && known_addresses(d) > 1 &&
	    address_ejected(d, &k))
		return false;
	/*
	 * A live connection is used whatever the marks say (they are about
	 * connecting); one the origin closed would connect to the address
	 * again.
	 */
	return connected || avoid_until(d->w->avoid, &k, util_now_ms()) == 0;
}

bool
dial_pool_usable(const struct sockaddr *sa, bool connected, void *d)
{
	return dial_may_reuse(d, sa, connected);
}

void
dial_connected(struct dial *d)
{
	if (d->addr.family != 0)
		avoid_forget(d->w->avoid, &d->addr);
}

/* Add the address addr to addrs_text. */
static void
log_one_addr(struct dial *d, const struct avoid_addr *addr)
{
	char a[AVOID_ADDR_TEXT];
	size_t n = strlen(d->addrs_text);
	/* (room kept for ",..." once the addresses no longer fit) */
	size_t room = sizeof d->addrs_text - 5;

	avoid_addr_format(addr, a, sizeof a);
	if (addr->family != 0)
		d->any_addr = true;
	if (n + strlen(a) + 1 < room)
		snprintf(d->addrs_text + n, sizeof d->addrs_text - n, "%s%s",
		    n ? "," : "", a);
	else if (n < 3 || strcmp(d->addrs_text + n - 3, "...") != 0)
		snprintf(d->addrs_text + n, sizeof d->addrs_text - n, "%s...",
		    n ? "," : "");
}

/* Add this attempt's address to addrs_text (once). */
static void
log_addr(struct dial *d)
{
	/* (formatting costs time that nothing needs without an access log) */
	if (d->addr_logged || d->attempt == 0 || !log_access_enabled())
		return;
	d->addr_logged = true;
	log_one_addr(d, &d->addr);
}

const struct parent *
dial_pick_parent(struct dial *d)
{
	bool passed_over;
	size_t i;

	d->parent_noted = false;
	if (d->pol->nparents == 0)
		return d->parent = NULL;
	i = origins_parent_pick(d->pol->parents, d->pol->nparents,
	    d->parents_failed, util_now_ms(), &passed_over);
	return d->parent = &d->pol->parents[i];
}

void
dial_parent_failed(struct dial *d)
{
	uint64_t ms = d->cfg->proxy.avoid_failed_address_ms;
	size_t i;

	if (d->parent == NULL || d->parent_noted)
		return;
	d->parent_noted = true;
	i = (size_t)(d->parent - d->pol->parents);
	if (i < 32)
		d->parents_failed |= 1u << i;
	metrics_parent_failure(d->parent->text);
	if (ms > 0)
		origins_parent_mark(d->parent->text, util_now_ms(), ms);
	log_info("parent %s failed (attempt %u to %s:%u): tried last for "
		 "%llums",
	    d->parent->text, d->attempt, d->host ? d->host : "-", d->port,
	    (unsigned long long)ms);
}

void
dial_log_fields(struct dial *d, struct access_entry *e)
{
	e->parent = d->parent != NULL ? d->parent->text : NULL;
	e->attempts = d->attempt;
	e->retries = d->retries;
	e->addrs = dial_addrs(d);
	e->held_ms = d->held_ms;
	e->duration_ms = util_now_ms() - d->start_ms;
	e->route = d->route->name;
}

const char *
dial_addrs(struct dial *d)
{
	log_addr(d);
	return d->any_addr ? d->addrs_text : "";
}

/*
 * An attempt ended (o): the request has now tried its address, and a
 * connect that failed marks the address for the worker's new attempts
 * (avoid_fail_marks says which failures, and why).
 */
static void
note_attempt(struct dial *d, const struct outcome *o)
{
	uint64_t ms = d->cfg->proxy.avoid_failed_address_ms;
	char a[AVOID_ADDR_TEXT];

	log_addr(d);
	if (d->addr_noted || d->addr.family == 0)
		return;
	d->addr_noted = true;
	avoid_tried_note(&d->tried, &d->addr, o->status == 0);
	if (o->status > 0 || !avoid_fail_marks(o->fail) || ms == 0)
		return;
	avoid_mark(d->w->avoid, &d->addr, util_now_ms(), ms);
	metrics_address_marked();
	if (log_debug_enabled())
		log_debug("%s: %s: avoided for %llums",
		    avoid_addr_format(&d->addr, a, sizeof a),
		    fail_kind_token(o->fail), (unsigned long long)ms);
}

static void
eject_rules_of(const struct dial *d, struct eject_rules *r)
{
	const struct policy *p = d->pol;

	r->after = p->eject_after;
	r->percent = p->eject_percent;
	r->min_attempts = p->eject_min_attempts;
	r->time_ms = p->eject_time_ms;
	r->max_ms = p->eject_max_time_ms;
	/* one probe at a time, for as long as an attempt may take */
	r->probe_ms = p->connect_timeout_ms + p->per_try_timeout_ms;
}

/* Either eject rule is on for the dial's policy. */
static bool
eject_on(const struct dial *d)
{
	return d->pol->eject_after > 0 || d->pol->eject_percent > 0;
}

/*
 * The address a, without its port, as an ejection key's host: an
 * address of a name with several is ejected on its own (the key is the
 * same as for a URL naming that address, which goes to the same place).
 */
static const char *
addr_host(const struct avoid_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family, a->a, buf, (socklen_t)len) == NULL)
		return NULL;
	return buf;
}

/*
 * An attempt's outcome counts for its origin's ejection: a connect,
 * reset or timeout failure, or a 5xx, against it; any other response
 * for it (a dns failure says nothing of the origin).  When the origin's
 * name has several addresses, it counts for the attempt's address
 * instead (Envoy ejects hosts, not clusters): an address is ejected on
 * its own, its traffic goes to the others, and the name is out only
 * while all of them are (dial_gate).
 */
static void
note_eject(struct dial *d, const struct outcome *o)
{
	struct sockaddr_storage ss;
	struct eject_rules r;
	char a[INET6_ADDRSTRLEN];
	bool failed;

	if (!eject_on(d) || d->host == NULL)
		return;
	if (o->status > 0)
		failed = o->status >= 500;
	else {
		enum fail_class c = fail_kind_class(o->fail);
		if (c != FAIL_CONNECT && c != FAIL_RESET && c != FAIL_TIMEOUT)
			return;
		failed = true;
	}
	eject_rules_of(d, &r);
	if (d->addr.family != 0 && !numeric(d->host, d->port, &ss) &&
	    known_addresses(d) > 1 && addr_host(&d->addr, a, sizeof a))
		origins_eject_note(a, d->port, failed, d->host, &r);
	else
		origins_eject_note(d->host, d->port, failed, NULL, &r);
}

/*
 * Is every address of host (a name with several, as this worker's DNS
 * cache knows it) ejected on its own?  *left_ms: until the first may be
 * probed.  Only looks: the probe goes to the address the attempt picks.
 */
static bool
every_address_out(struct dial *d, const char *host, unsigned port,
    const struct eject_rules *r, uint64_t now, uint64_t *left_ms)
{
	struct sockaddr_storage ss[DNSCACHE_ADDRS];
	struct avoid_addr k;
	struct eject_news n;
	char a[INET6_ADDRSTRLEN];
	unsigned na;
	uint64_t least = UINT64_MAX;

	if (numeric(host, port, &ss[0]))
		return false;
	na = dnscache_get(d->w->dnscache, host, now, ss, DNSCACHE_ADDRS);
	if (na < 2)
		return false;
	for (unsigned i = 0; i < na; i++) {
		memset(&n, 0, sizeof n);
		if (!avoid_addr_set(
			&k, (const struct sockaddr *)&ss[i], port) ||
		    !addr_host(&k, a, sizeof a))
			return false;
		if (origins_eject_peek(a, port, now, r, &n) != EJECT_OUT)
			return false;
		if (n.ms < least)
			least = n.ms;
	}
	*left_ms = least;
	return true;
}

/*
 * Is the address k (of the attempt's host, which has several) ejected on
 * its own?  (A probe it may take is handed to this attempt.)
 */
static bool
address_ejected(struct dial *d, const struct avoid_addr *k)
{
	struct eject_rules r;
	struct eject_news n = {0};
	enum eject_verdict v;
	char a[INET6_ADDRSTRLEN];

	if (!addr_host(k, a, sizeof a))
		return false;
	eject_rules_of(d, &r);
	v = origins_eject_check(a, d->port, util_now_ms(), &r, &n);
	return v == EJECT_OUT;
}

/* Are any addresses ejected, on this policy? */
static bool
addresses_may_be_ejected(const struct dial *d)
{
	return eject_on(d) && origins_ejected() > 0;
}

void
dial_note(struct dial *d, const struct outcome *o)
{
	note_attempt(d, o);
	note_eject(d, o);
}

void
dial_log_unfinished(struct dial *d)
{
	log_addr(d);
}

void
dial_add_addr(struct dial *d, struct dial *other)
{
	if (d->attempt > 0 && log_access_enabled())
		log_one_addr(d, &other->addr);
}

void
dial_prefer_other(struct dial *h, const struct dial *d)
{
	if (d->addr.family != 0)
		avoid_tried_note(&h->tried, &d->addr, false);
}

void
dial_take_over(struct dial *d, const struct dial *h)
{
	d->host = h->host;
	d->port = h->port;
	d->addr = h->addr;
	d->attempt_start_ms = h->attempt_start_ms;
	d->addr_logged = false;
	d->addr_noted = false;
	d->parent = NULL;
	d->origin_host = NULL;
}

void
dial_skip(struct dial *d)
{
	size_t n = strlen(d->retries);

	dial_begin(d);
	log_addr(d);
	if (n + 10 < sizeof d->retries)
		snprintf(d->retries + n, sizeof d->retries - n, "%sejected",
		    n ? "," : "");
}

unsigned
dial_ejected_origins(void)
{
	return origins_ejected();
}

void
dial_resolve(struct dial *d, const char *host, unsigned port)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *r;
	char tmp[300];

	d->host = host;
	d->port = port;
	/* numeric hosts skip the resolver entirely */
	if (numeric(host, port, &d->addrs[0])) {
		d->naddrs = 1;
		use_addresses(d);
		return;
	}
	/* resolved a moment ago (by this worker) */
	d->naddrs = dnscache_get(
	    d->w->dnscache, host, util_now_ms(), d->addrs, DNSCACHE_ADDRS);
	if (d->naddrs > 0) {
		use_addresses(d);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(tmp, sizeof tmp, "%u", port);
	/* (NULL when it answered inside the call: dns_ev then runs) */
	r = evdns_getaddrinfo(d->w->dns, host, tmp, &hints, dns_cb, d);
	if (r != NULL)
		d->dnsreq = r;
}

void
dial_attempt(
    struct dial *d, const char *host, unsigned port, bool tls, bool verify)
{
	const struct parent *parent;

	dial_begin(d);
	d->tls = tls;
	d->verify = verify;
	d->tls_verify_err = 0;
	d->origin_host = NULL;
	d->parent_phase = PARENT_NONE;
	dial_arm(d, d->pol->connect_timeout_ms, FK_CONNECTION_TIMEOUT);
	if ((parent = dial_pick_parent(d)) != NULL) {
		d->origin_host = host;
		d->origin_port = port;
		if (tls || d->tunnel)
			d->parent_phase = PARENT_TCP;
		dial_resolve(d, parent->host, parent->port);
		return;
	}
	dial_resolve(d, host, port);
}

bool
dial_decide(
    struct dial *d, const struct outcome *o, bool resend, uint64_t *delay_ms)
{
	struct retry_ctx c;
	struct decision dec;
	struct policy pol = *d->pol;
	size_t n;
	char a[AVOID_ADDR_TEXT];

	note_attempt(d, o);
	note_eject(d, o);
	if (d->parent != NULL && o->status == 0 &&
	    (fail_kind_class(o->fail) == FAIL_CONNECT ||
		fail_kind_class(o->fail) == FAIL_RESET))
		dial_parent_failed(d);
	if (!resend) {
		/* only what failed before anything was sent may go again */
		pol.errors &= FAIL_MASK(FAIL_DNS) | FAIL_MASK(FAIL_CONNECT);
		if (o->status > 0)
			return false;
	}
	c.attempt = d->attempt;
	c.max_attempts = d->max_attempts;
	c.method = d->method;
	c.has_idempotency_key = d->has_idem;
	c.now_ms = util_now_ms();
	c.start_ms = d->start_ms;
	c.wall_now_ms = util_wall_ms();
	c.rnd = worker_random(d->w);
	c.budget = &((struct route *)d->route)->budget;
	policy_decide(&pol, o, &c, &dec);
	if (log_debug_enabled())
		log_debug("%s: attempt %u to %s:%u (%s): %s; %s", d->method,
		    d->attempt, d->host ? d->host : "-", d->port,
		    avoid_addr_format(&d->addr, a, sizeof a),
		    o->status > 0 ? "a response" : fail_kind_token(o->fail),
		    decision_why_name(dec.why));
	if (dec.retry)
		metrics_retry(d->route->metrics, o->status, o->fail);
	else if (dec.why >= WHY_METHOD)
		metrics_suppressed(d->route->metrics, dec.why);
	if (!dec.retry)
		return false;
	n = strlen(d->retries);
	if (n + strlen(dec.reason) + 2 < sizeof d->retries)
		snprintf(d->retries + n, sizeof d->retries - n, "%s%s",
		    n ? "," : "", dec.reason);
	*delay_ms = dec.delay_ms;
	return true;
}

void
dial_backoff(struct dial *d, uint64_t delay_ms)
{
	struct timeval tv = rp_tv(delay_ms);

	d->armed |= DIAL_ARMED_BACKOFF;
	if (delay_ms == 0)
		/* at once: later in this loop turn, not after another wait */
		event_active(&d->backoff, EV_TIMEOUT, 1);
	else
		evtimer_add(&d->backoff, &tv);
}

bool
dial_retry(struct dial *d, const struct outcome *o, bool resend)
{
	uint64_t delay;

	dial_stop(d);
	if (!dial_decide(d, o, resend, &delay))
		return false;
	dial_backoff(d, delay);
	return true;
}

unsigned
dial_retry_after_s(uint64_t left_ms)
{
	/* (a hold ends 1 ms late on purpose: dial_note_response) */
	unsigned s = (unsigned)((left_ms + 998) / 1000);

	return s > 0 ? s : 1;
}

enum dial_gate
dial_gate(struct dial *d, const char *host, unsigned port, int *status,
    uint64_t *left_ms)
{
	uint64_t now = util_now_ms(), left;

	if (eject_on(d) && origins_ejected() > 0) {
		struct eject_rules r;
		struct eject_news n = {0};
		enum eject_verdict v;
		eject_rules_of(d, &r);
		v = origins_eject_check(host, port, now, &r, &n);
		if (v == EJECT_OUT) {
			metrics_ejected_request();
			*left_ms = n.ms;
			origins_ejected_why(&n, d->ejected_why,
			    sizeof d->ejected_why, &d->ejected_key);
			return DIAL_EJECTED;
		}
		if (v == EJECT_ADMIT &&
		    every_address_out(d, host, port, &r, now, left_ms)) {
			metrics_ejected_request();
			snprintf(d->ejected_why, sizeof d->ejected_why,
			    "has every address ejected");
			d->ejected_key = d->pol->eject_after > 0
			    ? "eject_after"
			    : "eject_percent";
			return DIAL_EJECTED;
		}
		if (v == EJECT_PROBE)
			log_info("%s:%u: ejection over: one request probes it",
			    host, port);
	}
	if (d->pol->hold == HOLD_OFF)
		return DIAL_GO;
	left = origins_hold_left(host, port, now, status);
	if (left == 0)
		return DIAL_GO;
	*left_ms = left;
	if (d->pol->hold == HOLD_FAIL ||
	    (d->pol->deadline_ms > 0 &&
		now + left > d->start_ms + d->pol->deadline_ms)) {
		metrics_held(false);
		return DIAL_HELD;
	}
	if (d->held_ms == 0)
		metrics_held(true); /* (a request that waits, counted once) */
	d->held_ms += left;
	return DIAL_WAIT;
}

void
dial_note_response(struct dial *d, int status, const char *retry_after)
{
	uint64_t ms, now, until;
	bool fresh;

	if (d->pol->hold == HOLD_OFF || d->host == NULL ||
	    !hold_for_response(status, retry_after, util_wall_ms(),
		d->pol->max_retry_after_ms, &ms))
		return;
	/*
	 * (+1: the clock reads whole milliseconds, cut down; without it a
	 * hold could end up to 1 ms before the time the origin named)
	 */
	now = util_now_ms();
	until = now + ms + 1;
	fresh = origins_hold_note(d->host, d->port, status, now, until);
	if (fresh) {
		metrics_hold_started();
		log_info("%s:%u answered %d with Retry-After: new requests to "
			 "it %s for %llums (hold = %s)",
		    d->host, d->port, status,
		    d->pol->hold == HOLD_WAIT ? "wait" : "get that answer",
		    (unsigned long long)ms,
		    d->pol->hold == HOLD_WAIT ? "wait" : "fail");
	}
}

void
dial_init(struct dial *d, struct worker *w, const struct config *cfg,
    const struct route *route, const char *method, void *arg)
{
	memset(d, 0, offsetof(struct dial, retries));
	d->retries[0] = '\0';
	d->addrs_text[0] = '\0';
	d->ejected_why[0] = '\0';
	d->w = w;
	d->cfg = cfg;
	d->route = route;
	d->pol = &route->policy;
	d->method = method;
	d->arg = arg;
	d->start_ms = util_now_ms();
	d->max_attempts = 1;
	evtimer_assign(&d->timer, w->base, timer_cb, d);
	evtimer_assign(&d->backoff, w->base, backoff_cb, d);
	evtimer_assign(&d->dns_ev, w->base, dns_done_cb, d);
}
