/*
 * server: the running daemon.  The main thread owns signals (sigwait) and
 * the config snapshot; each worker thread runs its own event loop with its
 * own evhttp, resolver and upstream pool on SO_REUSEPORT listeners.  A
 * reload swaps the snapshot; workers pick it up at their next request.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avoid.h"
#include "dnscache.h"
#include "evmem.h"
#include "front.h"
#include "gateway.h"
#include "intercept.h"
#include "listeners.h"
#include "admin.h"
#include "auth.h"
#include "dial.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "replaymem.h"
#include "sdnotify.h"
#include "server.h"
#include "tls.h"
#include "tlsctx.h"
#include "idlelearn.h"
#include "rawpool.h"
#include "relay.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"
#include "zsplice.h"

#define UPSTREAM_MAX_IDLE 1024
#define UPSTREAM_IDLE_TIMEOUT_MS 30000

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *g_workers;
static unsigned g_nworkers;
static struct config *g_cfg;
static _Atomic unsigned g_gen = 1;
static _Atomic int g_stopping;
/* pipes each worker's splice pool may hold (fd_limit, at start) */
static unsigned g_zpipes;

struct config *
worker_config(struct worker *w)
{
	unsigned gen = atomic_load_explicit(&g_gen, memory_order_acquire);
	struct config *c, *old;

	if (gen == w->cfg_gen)
		return w->cfg;
	pthread_mutex_lock(&cfg_lock);
	c = config_ref(g_cfg);
	w->cfg_gen = atomic_load(&g_gen);
	pthread_mutex_unlock(&cfg_lock);
	old = w->cfg;
	w->cfg = c;
	config_unref(old);
	return c;
}

/*
 * This worker's reference to the process's upstream TLS context for its
 * configuration's generation (tlsctx.h), taken once a generation.
 */
struct ssl_ctx_st *
worker_tls_ctx(struct worker *w, bool verify)
{
	struct config *c = worker_config(w);

	if (w->tls_gen[verify] == w->cfg_gen)
		return w->tls_ctx[verify];
	tls_ctx_free(w->tls_ctx[verify]);
	w->tls_ctx[verify] = tlsctx_get(w->cfg_gen, c, verify);
	w->tls_gen[verify] = w->cfg_gen;
	return w->tls_ctx[verify];
}

double
worker_random(struct worker *w)
{
	/* xorshift64*: plenty for backoff jitter, no locks, no syscalls */
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return (double)((x * 2685821657736338717ULL) >> 11) /
	    9007199254740992.0;
}

void
worker_request_done(struct worker *w)
{
	/* a stopping worker exits from drain_timer_cb, once replies left */
	w->active--;
}

static void
drain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if ((w->active == 0 && !front_output_pending(w)) ||
	    util_now_ms() >= w->stop_deadline_ms) {
		if (w->active > 0)
			log_warnx("worker %u: %u request(s) still in flight at "
				  "shutdown_timeout: cut",
			    w->id, w->active);
		event_base_loopexit(w->base, NULL);
	}
}

static void worker_apply_limits(struct worker *, const struct config *);

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->heartbeat_ms, util_now_ms());
}

/*
 * Each client connection may hold an upstream one: max_connections needs
 * about twice as many descriptors.  A tunnel spliced in the kernel also
 * borrows pipes, two descriptors each, from its worker's pool (zsplice.h):
 * those come on top, up to ZSPLICE_MAX_PIPES a worker.  Raise the soft
 * limit that far (Debian's shells start at 1024); say so if the hard limit
 * stops short.  Returns the pipes a worker may hold: what the limit leaves
 * once the connections have their share, so that a pipe never takes a
 * descriptor a connection was promised (retryproxy.ini(5),
 * max_connections) -- at the limit a tunnel copies, it is not refused.
 */
static unsigned
fd_limit(const struct config *c, unsigned nworkers)
{
	struct rlimit rl;
	rlim_t conns = (rlim_t)c->proxy.max_connections * 2 + 256;
	rlim_t want = conns + (rlim_t)ZSPLICE_MAX_PIPES * 2 * nworkers;
	unsigned pipes;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0; /* (not known: copy) */
	if (rl.rlim_cur >= want)
		return ZSPLICE_MAX_PIPES;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want
	    ? rl.rlim_max
	    : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur >= want)
		return ZSPLICE_MAX_PIPES;
	pipes = rl.rlim_cur > conns
	    ? (unsigned)((rl.rlim_cur - conns) / 2 / nworkers)
	    : 0;
	if (rl.rlim_cur < conns)
		log_warnx("max_connections = %u wants about %llu file "
			  "descriptors, but the limit is %llu (LimitNOFILE=, "
			  "ulimit -n): accepting pauses when they run out, "
			  "and tunnels copy their bytes (no splice(2) pipes)",
		    c->proxy.max_connections, (unsigned long long)conns,
		    (unsigned long long)rl.rlim_cur);
	else
		log_warnx("max_connections = %u and %u worker%s want about "
			  "%llu file descriptors with the pipes of spliced "
			  "tunnels, but the limit is %llu (LimitNOFILE=, "
			  "ulimit -n): at most %u pipe%s a worker, tunnels "
			  "copy beyond them",
		    c->proxy.max_connections, nworkers,
		    nworkers == 1 ? "" : "s", (unsigned long long)want,
		    (unsigned long long)rl.rlim_cur, pipes,
		    pipes == 1 ? "" : "s");
	return pipes;
}

/* From the main thread: have the worker look at the config and g_stopping. */
static void
wake_worker(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof one) < 0)
		log_warn("cannot wake a worker");
}

/* The main thread asks: stop accepting, finish, exit the loop. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = {0, 50000};
	uint64_t n;

	if (read(w->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_warn("worker wake-up");
	if (w->stopping)
		return;
	if (!atomic_load(&g_stopping)) {
		/* a reload: take the new snapshot's limits and listeners */
		struct config *c = worker_config(w);
		worker_apply_limits(w, c);
		listeners_bind(w, c);
		return;
	}
	w->stopping = true;
	listeners_unbind(w);
	w->stop_deadline_ms =
	    util_now_ms() + worker_config(w)->proxy.shutdown_timeout_ms;
	if (w->active == 0 && !front_output_pending(w)) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->drain_timer = event_new(w->base, -1, EV_PERSIST, drain_timer_cb, w);
	event_add(w->drain_timer, &tv);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof name, "rp-worker-%u", w->id);
	pthread_setname_np(pthread_self(), name); /* (top -H, ps -L) */
	front_thread_init(w);
	/* (the loop's only wait is its epoll_wait: loopclock.c) */
	util_clock_per_turn(true);
	event_base_dispatch(w->base);
	util_clock_per_turn(false);
	sbuf_scratch_free(); /* (this thread's: relay*.c's heads) */
	evmem_thread_free(); /* (libevent's blocks it kept) */
	return NULL;
}

/*
 * cpu_affinity = auto: worker i runs only on the (i mod n)-th of the n
 * CPUs this process may use (so a cpuset or systemd's CPUAffinity= is
 * respected).  Two busy workers then never share a CPU while another
 * one runs something else; that sharing, rare as it is (a migration now
 * and then), stalls all of a worker's connections for milliseconds and
 * was most of the latency tail under load (README, Performance).  A
 * failure is a warning: the worker runs unpinned.  Writes "0,1" (the
 * CPUs used, in worker order) to text.
 */
static void
pin_workers(struct worker *workers, unsigned started, char *text, size_t len)
{
	cpu_set_t allowed, one;
	int cpus[CPU_SETSIZE], n = 0;
	size_t off = 0;

	text[0] = '\0';
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
		log_warn("cpu_affinity: cannot read the allowed CPUs");
		return;
	}
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[n++] = c;
	for (unsigned i = 0; n > 0 && i < started; i++) {
		int cpu = cpus[i % (unsigned)n], e;

		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		e = pthread_setaffinity_np(workers[i].thread, sizeof one, &one);
		if (e != 0) {
			errno = e;
			log_warn("cpu_affinity: cannot pin worker %u to CPU %d",
			    i, cpu);
			continue;
		}
		if (off < len)
			off += (size_t)snprintf(
			    text + off, len - off, "%s%d", off ? "," : "", cpu);
	}
}

/* The evhttp limits that come from [proxy] (at start and on reload). */
static void
worker_apply_limits(struct worker *w, const struct config *c)
{
	struct timeval tv = rp_tv(c->proxy.client_timeout_ms);

	/* reqscan enforces max_header_size (431); evhttp's is a backstop */
	evhttp_set_max_headers_size(
	    w->http, (ev_ssize_t)c->proxy.max_header_size * 2 + 4096);
	evhttp_set_max_body_size(
	    w->http, (ev_ssize_t)c->proxy.max_request_body);
	evhttp_set_timeout_tv(w->http, &tv);
}

static int
worker_setup(struct worker *w, const struct config *c, unsigned nworkers)
{
	uint64_t seed;
	const char *resolv;

	{
		/*
		 * evhttp turns reading and writing on and off several times
		 * a request; the changelist folds those into one epoll_ctl
		 * per fd and loop turn.  Only this worker's thread touches
		 * its base (the main thread writes wake_fd): no base lock.
		 * Timers on CLOCK_MONOTONIC, not libevent's default coarse
		 * clock (a tick, 1-4 ms, behind): a retry waiting out a
		 * Retry-After of 1 s went 6 ms early under load.
		 */
		struct event_config *ec = event_config_new();
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
		event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
		w->base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (w->base == NULL)
		return -1;
	/*
	 * RETRYPROXY_RESOLV_CONF names another resolv.conf (the tests point
	 * it at their own DNS server on loopback).
	 */
	if ((resolv = getenv("RETRYPROXY_RESOLV_CONF")) != NULL) {
		w->dns =
		    evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (w->dns != NULL &&
		    evdns_base_resolv_conf_parse(
			w->dns, DNS_OPTIONS_ALL, resolv) != 0)
			log_warnx("cannot use %s as resolv.conf", resolv);
	} else
		w->dns = evdns_base_new(w->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
			EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) {
		log_warnx("no usable /etc/resolv.conf: only numeric hosts and "
			  "/etc/hosts will resolve");
		w->dns =
		    evdns_base_new(w->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (w->dns == NULL)
		return -1;
	evdns_base_set_option(w->dns, "randomize-case:", "0");
	w->intercept_request = proxy_request_intercepted;
	intercept_init(w, c);
	w->http = evhttp_new(w->base);
	if (w->http == NULL)
		return -1;
	evhttp_set_allowed_methods(w->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH | EVHTTP_REQ_CONNECT);
	evhttp_set_default_content_type(w->http, NULL);
	worker_apply_limits(w, c);
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(w->http, proxy_request_cb, w);
	front_init(w, (c->proxy.max_connections + nworkers - 1) / nworkers);
	w->dnscache = xcalloc(1, sizeof *w->dnscache);
	w->avoid = xcalloc(1, sizeof *w->avoid);
	avoid_init(w->avoid);
	w->learn = idlelearn_new();
	w->pool = upstream_pool_new(
	    w->base, w->learn, UPSTREAM_MAX_IDLE, UPSTREAM_IDLE_TIMEOUT_MS);
	w->rawpool = rawpool_new(
	    w->base, w->learn, UPSTREAM_MAX_IDLE, UPSTREAM_IDLE_TIMEOUT_MS);
	w->zpool = xcalloc(1, sizeof *w->zpool);
	zsplice_pool_init(w->zpool, g_zpipes);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		log_warn("eventfd");
		return -1;
	}
	w->wake =
	    event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, wake_cb, w);
	event_add(w->wake, NULL);
	atomic_store(&w->heartbeat_ms, util_now_ms());
	if (sdnotify_watchdog_ms() > 0) {
		struct timeval hb = rp_tv(sdnotify_watchdog_ms() / 4);
		w->heartbeat =
		    event_new(w->base, -1, EV_PERSIST, heartbeat_cb, w);
		event_add(w->heartbeat, &hb);
	}
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = util_now_ms() ^ (uint64_t)(uintptr_t)w;
	w->rng = seed | 1;
	w->cfg = config_ref(g_cfg);
	w->cfg_gen = atomic_load(&g_gen);
	return listeners_bind(w, c);
}

static void
worker_teardown(struct worker *w)
{
	if (w->http != NULL)
		evhttp_free(w->http); /* ends requests still in flight */
	intercept_free(w);
	if (w->base != NULL)
		event_base_loop(w->base, EVLOOP_NONBLOCK); /* deferred frees */
	if (w->front != NULL)
		front_free(w); /* (after the loop: attach_cb uses it) */
	relay_spares_free(w);
	if (w->zpool != NULL) {
		/* (the tunnels gave their pipes back in evhttp_free) */
		zsplice_pool_clear(w->zpool);
		free(w->zpool);
		w->zpool = NULL;
	}
	upstream_pool_free(w->pool);
	rawpool_free(w->rawpool);
	idlelearn_free(w->learn);
	free(w->dnscache);
	free(w->avoid);
	if (w->auth_cache != NULL) {
		OPENSSL_cleanse(w->auth_cache, sizeof *w->auth_cache);
		free(w->auth_cache);
	}
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->wake != NULL)
		event_free(w->wake);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->heartbeat != NULL)
		event_free(w->heartbeat);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->base != NULL)
		event_base_free(w->base);
	config_unref(w->cfg);
	tls_ctx_free(w->tls_ctx[0]);
	tls_ctx_free(w->tls_ctx[1]);
	sbuf_free(&w->line);
	listeners_worker_free(w);
}

/* Point every route of a new snapshot at its (lasting) counters. */
static void
attach_metrics(struct config *c)
{
	c->defaults.metrics = metrics_route(c->defaults.name);
	for (size_t i = 0; i < c->nroutes; i++)
		c->routes[i]->metrics = metrics_route(c->routes[i]->name);
	for (size_t i = 0; i < c->ngateways; i++)
		c->gateways[i].metrics =
		    metrics_gateway(c->gateways[i].addr.text);
}

/* What the admin endpoints show (admin.h): the gauges, from every worker. */
static void
server_gauges(struct metrics_gauges *g)
{
	g->replay_buffer_bytes = replaymem_held();
	g->ejected_origins = dial_ejected_origins();
	for (unsigned i = 0; i < g_nworkers; i++) {
		struct worker *w = &g_workers[i];
		g->requests_in_flight += atomic_load(&w->active);
		if (w->front != NULL)
			g->client_connections += front_connections(w);
		if (w->pool != NULL) {
			g->upstream_connections +=
			    upstream_pool_count(w->pool) +
			    rawpool_count(w->rawpool);
			g->upstream_connections_created +=
			    upstream_pool_created(w->pool);
		}
	}
}

static bool
server_stopping(void)
{
	return atomic_load(&g_stopping);
}

static void
server_dump_config(struct sbuf *out)
{
	pthread_mutex_lock(&cfg_lock);
	config_dump(g_cfg, out);
	pthread_mutex_unlock(&cfg_lock);
}

static const struct admin_ops admin_ops = {
    .gauges = server_gauges,
    .stopping = server_stopping,
    .dump_config = server_dump_config,
};

static void
reload(const char *path, const struct config_options *opts)
{
	struct config_errors errs = {0};
	struct config *c, *old;
	char *cause = NULL;

	c = config_load(path, opts, &errs);
	if (c == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_warnx("reload: %s", errs.v[i]);
		log_warnx("reload failed: keeping the running configuration");
		config_errors_free(&errs);
		metrics_reload(0);
		return;
	}
	if (log_configure(c, &cause) != 0) {
		log_warnx(
		    "reload: %s: keeping the running configuration", cause);
		free(cause);
		config_unref(c);
		metrics_reload(0);
		return;
	}
	if (listeners_probe(c, g_cfg) != 0) {
		config_unref(c);
		metrics_reload(0);
		return;
	}
	for (size_t i = 0; i < c->nwarnings; i++)
		log_warnx("%s", c->warnings[i]);
	/* (the pipe budget stays: workers and max_connections do too) */
	fd_limit(c, g_nworkers);
	/* (its trust loaded before it is live: no worker waits for it) */
	if (c->tls_verifies)
		tlsctx_prepare(atomic_load(&g_gen) + 1, c);
	attach_metrics(c);
	pthread_mutex_lock(&cfg_lock);
	old = g_cfg;
	g_cfg = c;
	atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
	pthread_mutex_unlock(&cfg_lock);
	/*
	 * Counted once live: a request sent after the count is seen (as
	 * the tests do) meets the new configuration, never the old one
	 * while the trust above loads.
	 */
	metrics_reload(1);
	config_unref(old);
	for (unsigned i = 0; i < g_nworkers; i++)
		wake_worker(&g_workers[i]);
	log_info("configuration reloaded from %s", path ? path : "defaults");
}

/* Are all workers' loops turning (for the systemd watchdog)? */
static bool
workers_alive(uint64_t limit_ms)
{
	uint64_t now = util_now_ms();

	for (unsigned i = 0; i < g_nworkers; i++)
		if (now - atomic_load(&g_workers[i].heartbeat_ms) > limit_ms)
			return false;
	return true;
}

/* The main thread: signals, and the watchdog when systemd wants one. */
static void
main_loop(sigset_t *set, const char *path, const struct config_options *opts)
{
	uint64_t wd = sdnotify_watchdog_ms();
	struct timespec ts;
	int sig;

	ts.tv_sec = (time_t)(wd / 2 / 1000);
	ts.tv_nsec = (long)(wd / 2 % 1000) * 1000000;
	for (;;) {
		if (wd > 0) {
			sig = sigtimedwait(set, NULL, &ts);
			if (workers_alive(wd / 2))
				sdnotify("WATCHDOG=1");
			if (sig < 0)
				continue;
		} else if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sdnotify("RELOADING=1");
			reload(path, opts);
			sdnotify("READY=1");
		} else if (sig == SIGUSR1)
			log_reopen();
		else
			return;
	}
}

int
server_run(struct config *c, const char *path,
    const struct config_options *opts, int verbose)
{
	struct worker *workers;
	unsigned nworkers, started = 0;
	char pinned[256] = "";
	sigset_t set;
	char *cause = NULL;
	int rc = 0;

	log_init(verbose);
	if (log_configure(c, &cause) != 0) {
		log_errorx("%s", cause);
		free(cause);
		return 1;
	}
	for (size_t i = 0; i < c->nwarnings; i++)
		log_warnx("%s", c->warnings[i]);
	if (listeners_start(c) != 0)
		return 1;
	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	nworkers = c->proxy.workers;
	if (nworkers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nworkers = n > 0 ? (unsigned)n : 1;
	}
	g_zpipes = fd_limit(c, nworkers);
	attach_metrics(c);
	if (c->tls_verifies)
		tlsctx_prepare(atomic_load(&g_gen), c);
	g_cfg = config_ref(c);
	workers = xcalloc(nworkers, sizeof *workers);
	g_workers = workers;
	g_nworkers = nworkers;
	for (unsigned i = 0; i < nworkers; i++) {
		workers[i].id = i;
		workers[i].wake_fd = -1;
		if (worker_setup(&workers[i], c, nworkers) != 0) {
			rc = 1;
			break;
		}
	}
	if (rc == 0 && c->proxy.admin_on &&
	    admin_start(workers[0].base, &c->proxy.admin, &admin_ops) != 0)
		rc = 1;
	for (unsigned i = 0; rc == 0 && i < nworkers; i++) {
		if (pthread_create(&workers[i].thread, NULL, worker_main,
			&workers[i]) != 0) {
			log_warn("cannot start worker thread");
			rc = 1;
			break;
		}
		started++;
	}
	listeners_close_activated(); /* every worker holds its own dup */
	if (rc == 0 && c->proxy.cpu_affinity == CPU_AFFINITY_AUTO)
		pin_workers(workers, started, pinned, sizeof pinned);
	if (rc == 0) {
		char on[sizeof pinned + 16] = "";

		if (pinned[0] != '\0')
			snprintf(on, sizeof on, ", on CPU%s %s",
			    strchr(pinned, ',') ? "s" : "", pinned);
		if (listeners_activated() > 0)
			log_info("listening on %d socket%s from systemd (%u "
				 "worker%s%s)",
			    listeners_activated(),
			    listeners_activated() == 1 ? "" : "s", nworkers,
			    nworkers == 1 ? "" : "s", on);
		else
			log_info("listening on %s%s (%u worker%s%s)",
			    c->proxy.listen[0].text,
			    c->proxy.nlisten > 1 ? ", ..." : "", nworkers,
			    nworkers == 1 ? "" : "s", on);
		for (size_t i = 0; i < c->ngateways; i++)
			log_info("gateway on %s: requests go to %s",
			    c->gateways[i].addr.text, c->gateways[i].base);
		sdnotify("READY=1\nSTATUS=serving");
		main_loop(&set, path, opts);
		log_info("stopping: finishing requests in flight");
		sdnotify("STOPPING=1");
	}
	atomic_store(&g_stopping, 1);
	for (unsigned i = 0; i < started; i++)
		wake_worker(&workers[i]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	admin_stop();
	for (unsigned i = 0; i < nworkers; i++)
		worker_teardown(&workers[i]);
	sbuf_scratch_free(); /* (what the teardowns ended, in this thread) */
	free(workers);
	tlsctx_free_all();
	tls_sessions_free();
	config_unref(g_cfg);
	g_cfg = NULL;
	g_workers = NULL;
	listeners_free();
	metrics_free();
	log_close();
	libevent_global_shutdown();
	evmem_thread_free(); /* (last: libevent's frees come here) */
	return rc;
}
