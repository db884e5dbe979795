/*
 * config: the INI file (through inih) parsed into an immutable snapshot.
 * One key table (config-keys.c) drives parsing, defaults, bounds, the -t
 * dump and the documentation check.  A snapshot is reference-counted so a
 * reload can swap in a new one while requests in flight keep theirs.
 *
 * It reads the files it names but opens no socket.
 */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"
#include "budget.h"
#include "policy.h"
#include "route.h"
#include "tail.h"
#include "util.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON = 1,
};

struct listen_addr {
	char text[80]; /* "127.0.0.1:3128", "[::1]:3128" */
	struct sockaddr_storage ss;
	socklen_t sslen;
};

/*
 * Which lane carries a client's requests ([proxy] lane; README, "Two
 * lanes"): retryproxy's own (relay.c) every one but CONNECT, or evhttp's
 * all that libevent can carry.
 */
enum request_lane {
	LANE_RAW = 0,
	LANE_EVHTTP = 1,
};

enum cpu_affinity {
	CPU_AFFINITY_OFF = 0, /* the kernel places the workers */
	CPU_AFFINITY_AUTO = 1, /* worker i on the i-th CPU we may use */
};

enum auth_mode {
	AUTH_OFF = 0,
	AUTH_BASIC = 1, /* Proxy-Authorization: Basic, against auth_file */
};

struct auth_users;

/* [gateway ADDR] forwarded: which fields name the client to the origin. */
enum forwarded_mode {
	FORWARDED_NONE = 0,
	FORWARDED_XFF = 1, /* X-Forwarded-For */
	FORWARDED_RFC7239 = 2, /* Forwarded (RFC 7239) */
	FORWARDED_BOTH = 3,
};

/*
 * A gateway listener: origin-form requests on addr go to origin (the
 * README, "Programs that ignore HTTP_PROXY"; gateway.h).
 */
struct gateway {
	struct listen_addr addr;
	unsigned line; /* of its [gateway] header */
	char *origin; /* as written; NULL until set */
	/* "scheme://host[:port]" and the path prefix, without a final '/' */
	char *base;
	enum forwarded_mode forwarded;
	struct gateway_metrics *metrics; /* set by the server before use */
};

struct gateway_metrics;

struct proxy_config {
	struct listen_addr *listen;
	size_t nlisten;
	unsigned workers; /* 0 = auto */
	enum cpu_affinity cpu_affinity;
	enum request_lane lane;
	struct cidr_set allow;
	struct port_set connect_ports;
	struct cidr_set deny;
	uint64_t avoid_failed_address_ms; /* 0: no address is avoided */
	uint64_t max_request_body;
	uint64_t max_upload; /* 0: no limit */
	uint64_t max_buffered; /* all held request bodies, process-wide */
	uint64_t max_header_size;
	unsigned max_connections;
	uint64_t client_timeout_ms;
	uint64_t shutdown_timeout_ms;
	char *access_log; /* "stderr", "off" or a path */
	enum log_format access_log_format;
	enum log_level log_level;
	bool admin_on;
	struct listen_addr admin;
	bool via;
	enum auth_mode auth; /* [proxy] auth */
	char *auth_file;
	struct auth_users *users; /* read from auth_file (auth = basic) */
};

struct tls_config {
	char *trust; /* "system" or a PEM path */
	char *ca_cert;
	char *ca_key;
};

/* A route: its pattern and the policy it resolves to. */
struct route {
	char *name; /* the pattern as written, or "default" */
	unsigned line; /* of its [route] header; 0 for the default */
	struct route_pattern pattern;
	struct policy policy;
	struct budget budget; /* mutable: atomic counters */
	struct tail tail; /* mutable: recent time-to-first-byte (hedge) */
	struct route_metrics *metrics; /* set by the server before use */
};

struct route_metrics;

struct config {
	char *file; /* as given, or NULL for the built-in defaults */
	struct proxy_config proxy;
	struct tls_config tls;
	struct route defaults; /* [default] */
	struct route **routes; /* most specific first */
	size_t nroutes;
	const struct route_pattern **patterns; /* parallel to routes */
	struct gateway *gateways; /* [gateway ADDR], in file order */
	size_t ngateways;
	bool any_intercept;
	bool any_parent; /* a route (or [default]) has a parent proxy */
	/*
	 * A route (or [default]) or a gateway reaches origins over TLS and
	 * verifies them (tls = yes, an https fallback, intercept, an https
	 * gateway origin; with verify = yes): [tls] trust is needed.  (A
	 * request for an https:// URL may need it with any configuration.)
	 */
	bool tls_verifies;
	/*
	 * A route (or [default]) asks for what only evhttp's lane does:
	 * hedge_after, retry_if_body, a parent proxy
	 * (policy_needs_evhttp_lane).  Then lane = raw looks up each
	 * request's route before choosing its lane.
	 */
	bool needs_evhttp_lane;
	char **warnings;
	size_t nwarnings;
	/* Everything the snapshot owns, freed with it. */
	void **owned;
	size_t nowned, capowned;
	regex_t **regexes;
	size_t nregexes;
	_Atomic unsigned refs;
};

/* Errors of one parse, each "file:line: [section] key: message". */
struct config_errors {
	char **v;
	size_t n;
};
void config_errors_free(struct config_errors *);

struct config_options {
	const char *listen_override; /* -l, or NULL */
};

/*
 * Load and validate a file; NULL path means the built-in defaults.  On
 * error returns NULL with every error in errs.
 */
struct config *config_load(const char *path, const struct config_options *,
    struct config_errors *errs);
/* The same from a string (for tests); name is used in messages. */
struct config *config_load_string(const char *name, const char *text,
    const struct config_options *, struct config_errors *errs);
struct config *config_ref(struct config *);
void config_unref(struct config *);

/* The route for a request (never NULL: the default when none matches). */
const struct route *config_match(
    const struct config *, const char *host, unsigned port, const char *path);

/* The effective settings, as an INI text that loads to the same config. */
void config_dump(const struct config *, struct sbuf *);
/* The policy keys of one route, resolved. */
void config_dump_policy(const struct policy *, struct sbuf *);

/* The key table, for documentation checks: name and section of key i. */
size_t config_nkeys(void);
const char *config_key_name(size_t i);
const char *config_key_section(size_t i);
const char *config_key_default(size_t i);
const char *config_key_help(size_t i);

#endif
