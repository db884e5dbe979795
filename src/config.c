/*
 * config: read the INI file through inih into an immutable, refcounted
 * snapshot.  Debian's libinih is built with 200-byte lines and no line
 * numbers for the handler, so our reader feeds inih one physical line at a
 * time, counts lines itself, tracks sections itself (so an empty
 * [route] and brackets inside an IPv6 pattern work) and stashes any line
 * too long for inih, handing it a short placeholder instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "config-keys.h"
#include "config.h"
#include "gateway.h"
#include "http.h"
#include "parent.h"
#include "units.h"
#include "util.h"

#define LONG_MARK "\x01"

enum section_kind {
	SEC_PROXY = 0,
	SEC_TLS = 1,
	SEC_DEFAULT = 2,
	SEC_ROUTE = 3,
	SEC_UNKNOWN = 4,
	SEC_GATEWAY = 5,
};

struct section {
	char *name;
	unsigned line;
	enum section_kind kind;
	int route; /* index into routes (SEC_ROUTE) or gateways */
};

struct entry {
	int section;
	char *key;
	char *value;
	unsigned line;
};

struct parser {
	struct config *cfg;
	const char *name;
	const char *text;
	size_t len, pos;
	unsigned lineno;
	char *stash; /* the value of a line too long for inih */
	struct section *sections;
	size_t nsections;
	int cur;
	struct entry *entries;
	size_t nentries;
	struct config_errors *errs;
};

static void add_error(struct config_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add_error(struct config_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	e->v = xrealloc(e->v, (e->n + 1) * sizeof *e->v);
	e->v[e->n++] = s;
}

void
config_errors_free(struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

void *
config_own(struct config *c, void *p)
{
	if (c->nowned == c->capowned) {
		c->capowned = c->capowned ? c->capowned * 2 : 64;
		c->owned = xrealloc(c->owned, c->capowned * sizeof *c->owned);
	}
	c->owned[c->nowned++] = p;
	return p;
}

static void
add_warning(struct config *c, char *msg)
{
	c->warnings =
	    xrealloc(c->warnings, (c->nwarnings + 1) * sizeof *c->warnings);
	c->warnings[c->nwarnings++] = config_own(c, msg);
}

/* inih's inline-comment rule: ';' after white space starts a comment. */
static void
strip_inline_comment(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
}

static void
start_section(struct parser *ps, char *line)
{
	char *rb, *after, *name;
	struct section *s;

	/*
	 * The header ends at the first ']' followed only by white space or
	 * a comment: "[route [::1]:80] ; see [x]" is [route [::1]:80].
	 */
	for (rb = strchr(line, ']'); rb != NULL; rb = strchr(rb + 1, ']')) {
		const char *t = rb + 1;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '\0' || *t == ';' || *t == '#')
			break;
	}
	if (rb == NULL)
		rb = strrchr(line, ']');

	if (rb == NULL) {
		add_error(ps->errs, "%s:%u: section header without ']'",
		    ps->name, ps->lineno);
		ps->cur = -1;
		return;
	}
	after = util_trim(rb + 1);
	if (*after != '\0' && *after != ';' && *after != '#')
		add_error(ps->errs, "%s:%u: text after the section header",
		    ps->name, ps->lineno);
	*rb = '\0';
	name = util_trim(line + 1);
	ps->sections =
	    xrealloc(ps->sections, (ps->nsections + 1) * sizeof *ps->sections);
	s = &ps->sections[ps->nsections];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->line = ps->lineno;
	s->route = -1;
	ps->cur = (int)ps->nsections++;
}

/*
 * inih's reader: one physical line per call.  Sections, comments and
 * malformed lines are handled here; inih sees only "key = value" lines.
 */
static char *
reader(char *buf, int num, void *stream)
{
	struct parser *ps = stream;
	const char *nl, *start;
	char *line, *t;
	size_t n;

	if (ps->pos >= ps->len)
		return NULL;
	start = ps->text + ps->pos;
	nl = memchr(start, '\n', ps->len - ps->pos);
	n = nl ? (size_t)(nl - start) : ps->len - ps->pos;
	ps->pos += n + (nl ? 1 : 0);
	ps->lineno++;
	line = xstrndup(start, n);
	t = line;
	if (ps->lineno == 1 && strncmp(t, "\xef\xbb\xbf", 3) == 0)
		t += 3;
	t = util_trim(t);
	buf[0] = '\0';
	if (memchr(start, '\0', n) != NULL) {
		add_error(
		    ps->errs, "%s:%u: NUL byte in line", ps->name, ps->lineno);
	} else if (*t == '\0' || *t == ';' || *t == '#') {
		/* blank or comment */
	} else if (*t == '[') {
		start_section(ps, t);
	} else if (strpbrk(t, "=:") == NULL) {
		add_error(ps->errs,
		    "%s:%u: expected 'key = value', got '%.40s'", ps->name,
		    ps->lineno, t);
	} else if (strlen(t) + 2 <= (size_t)num) {
		strcpy(buf, t);
	} else {
		char *sep = strpbrk(t, "=:");
		size_t klen = (size_t)(sep - t);
		free(ps->stash);
		ps->stash = xstrdup(sep + 1);
		strip_inline_comment(ps->stash);
		if (klen + 3 > (size_t)num)
			add_error(ps->errs, "%s:%u: key too long", ps->name,
			    ps->lineno);
		else
			snprintf(
			    buf, (size_t)num, "%.*s=" LONG_MARK, (int)klen, t);
	}
	free(line);
	return buf;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *ps = user;
	struct entry *e;

	(void)section;
	if (strcmp(value, LONG_MARK) == 0 && ps->stash != NULL)
		value = util_trim(ps->stash);
	if (ps->cur < 0) {
		if (ps->nsections == 0)
			add_error(ps->errs,
			    "%s:%u: %s: key outside any section (start with "
			    "[proxy], [default] or [route HOST])",
			    ps->name, ps->lineno, name);
		return 1;
	}
	ps->entries =
	    xrealloc(ps->entries, (ps->nentries + 1) * sizeof *ps->entries);
	e = &ps->entries[ps->nentries++];
	e->section = ps->cur;
	e->key = xstrdup(name);
	e->value = xstrdup(value);
	e->line = ps->lineno;
	return 1;
}

static struct config *
config_new(void)
{
	struct config *c = xcalloc(1, sizeof *c);

	atomic_init(&c->refs, 1);
	c->defaults.name = "default";
	budget_init(&c->defaults.budget);
	tail_init(&c->defaults.tail);
	return c;
}

static void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nroutes; i++) {
		route_pattern_free(&c->routes[i]->pattern);
		free(c->routes[i]->name);
		free(c->routes[i]);
	}
	free(c->routes);
	free(c->patterns);
	for (i = 0; i < c->nregexes; i++) {
		regfree(c->regexes[i]);
		free(c->regexes[i]);
	}
	free(c->regexes);
	cidr_set_free(&c->proxy.allow);
	cidr_set_free(&c->proxy.deny);
	port_set_free(&c->proxy.connect_ports);
	free(c->gateways);
	if (c->proxy.users != NULL) {
		auth_users_free(c->proxy.users);
		free(c->proxy.users);
	}
	for (i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->warnings);
	free(c->file);
	free(c);
}

struct config *
config_ref(struct config *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void
config_unref(struct config *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		config_free(c);
}

static void *
scope_base(struct config *c, enum key_scope s, void *p)
{
	if (s == SCOPE_PROXY)
		return &c->proxy;
	if (s == SCOPE_TLS)
		return &c->tls;
	return p;
}

static void
apply_defaults(struct config *c)
{
	for (size_t i = 0; i < config_nkeys_; i++) {
		const struct key_def *k = &config_keys[i];
		char *cause = NULL;
		if (k->scope == SCOPE_GATEWAY)
			continue; /* (each gateway's, in gateway_defaults) */
		if (k->parse(c, k, scope_base(c, k->scope, &c->defaults.policy),
			k->def, &cause) != 0) {
			fprintf(stderr, "built-in default of %s: %s\n", k->name,
			    cause);
			abort();
		}
	}
}

static const char *const section_names[] = {
    "proxy", "tls", "default", "route", "gateway"};

static enum section_kind
classify_section(struct section *s, const char **pattern)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s->name, section_names[i]) == 0)
			return (enum section_kind)i;
	if (strncmp(s->name, "route", 5) == 0 &&
	    (s->name[5] == ' ' || s->name[5] == '\t' || s->name[5] == '\0')) {
		*pattern = util_trim(s->name + 5);
		return SEC_ROUTE;
	}
	if (strncmp(s->name, "gateway", 7) == 0 &&
	    (s->name[7] == ' ' || s->name[7] == '\t' || s->name[7] == '\0')) {
		*pattern = util_trim(s->name + 7);
		return SEC_GATEWAY;
	}
	return SEC_UNKNOWN;
}

static const char *
closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t bestd = (size_t)-1;

	for (size_t i = 0; i < n; i++) {
		size_t d = util_edit_distance(word, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	return bestd <= 2 || (bestd <= 3 && strlen(word) >= 8) ? best : NULL;
}

static void
unknown_key(struct parser *ps, const struct section *s, enum key_scope scope,
    const struct entry *e)
{
	const char *cands[128];
	size_t n = 0;
	const char *hint;

	for (int other = SCOPE_PROXY; other <= SCOPE_GATEWAY; other++)
		if ((enum key_scope)other != scope &&
		    config_key_find((enum key_scope)other, e->key) != NULL) {
			add_error(ps->errs,
			    "%s:%u: [%s] %s: this key belongs in [%s]%s",
			    ps->name, e->line, s->name, e->key,
			    config_scope_name((enum key_scope)other),
			    other == SCOPE_POLICY ? " or a [route]" : "");
			return;
		}
	for (size_t i = 0; i < config_nkeys_ && n < RP_NELEM(cands); i++)
		if (config_keys[i].scope == scope)
			cands[n++] = config_keys[i].name;
	hint = closest(e->key, cands, n);
	if (hint != NULL)
		add_error(ps->errs,
		    "%s:%u: [%s] %s: unknown key (did you mean '%s'?)",
		    ps->name, e->line, s->name, e->key, hint);
	else
		add_error(ps->errs, "%s:%u: [%s] %s: unknown key", ps->name,
		    e->line, s->name, e->key);
}

/* Apply the entries of every section of kind/route to base. */
static bool
apply_entries(struct parser *ps, enum section_kind kind, int route,
    enum key_scope scope, void *p, bool *set_attempts, bool *set_timeouts)
{
	bool ok = true;

	for (size_t i = 0; i < ps->nentries; i++) {
		struct entry *e = &ps->entries[i];
		struct section *s = &ps->sections[e->section];
		const struct key_def *k;
		char *cause = NULL;

		if (s->kind != kind ||
		    ((kind == SEC_ROUTE || kind == SEC_GATEWAY) &&
			s->route != route))
			continue;
		/* a key set twice in one section is a mistake */
		for (size_t j = 0; j < i; j++) {
			struct entry *f = &ps->entries[j];
			struct section *fs = &ps->sections[f->section];
			if (fs->kind == kind && fs->route == s->route &&
			    strcmp(f->key, e->key) == 0) {
				add_error(ps->errs,
				    "%s:%u: [%s] %s: set twice (first at "
				    "line %u)",
				    ps->name, e->line, s->name, e->key,
				    f->line);
				ok = false;
				goto next;
			}
		}
		k = config_key_find(scope, e->key);
		if (k == NULL) {
			unknown_key(ps, s, scope, e);
			ok = false;
			continue;
		}
		if (k->parse(ps->cfg, k, scope_base(ps->cfg, scope, p),
			e->value, &cause) != 0) {
			add_error(ps->errs, "%s:%u: [%s] %s: %s", ps->name,
			    e->line, s->name, e->key, cause);
			free(cause);
			ok = false;
			continue;
		}
		if (strcmp(e->key, "attempts") == 0 && set_attempts)
			*set_attempts = true;
		if (strcmp(e->key, "timeouts") == 0 && set_timeouts)
			*set_timeouts = true;
	next:;
	}
	return ok;
}

/*
 * The line where key is set in the sections of this kind (and route), or
 * 0 when it is not set there.
 */
static unsigned
key_line(struct parser *ps, enum section_kind kind, int route, const char *key)
{
	for (size_t i = 0; i < ps->nentries; i++) {
		struct entry *e = &ps->entries[i];
		struct section *s = &ps->sections[e->section];
		if (s->kind == kind &&
		    ((kind != SEC_ROUTE && kind != SEC_GATEWAY) ||
			s->route == route) &&
		    strcmp(e->key, key) == 0)
			return e->line;
	}
	return 0;
}

/*
 * Cross-checks between keys of one section.  An error names the line of
 * the first key involved that this section sets; a route reports only
 * what it sets itself (an inherited mistake is reported at [default]).
 */
static void
check_policy(struct parser *ps, enum section_kind kind, int route,
    const char *sname, unsigned line, struct policy *p, bool set_attempts,
    bool set_timeouts)
{
	struct config *c = ps->cfg;
	unsigned l1, l2;

	if (set_timeouts && !set_attempts) {
		size_t n = p->ntimeouts + 1;
		p->attempts = n > 100 ? 100 : (unsigned)n;
	}
	/* report at the first involved key this section sets */
	l1 = key_line(ps, kind, route, "backoff");
	l2 = key_line(ps, kind, route, "timeouts");
	if (p->backoff == BACKOFF_LIST && p->ntimeouts == 0 &&
	    (l1 || l2 || kind == SEC_DEFAULT))
		add_error(ps->errs,
		    "%s:%u: [%s] backoff: 'list' needs 'timeouts'", ps->name,
		    l1	     ? l1
			: l2 ? l2
			     : line,
		    sname);
	l1 = key_line(ps, kind, route, "min_timeout");
	if (l1 == 0)
		l1 = key_line(ps, kind, route, "max_timeout");
	if (l1 == 0)
		l1 = key_line(ps, kind, route, "backoff");
	if (p->backoff == BACKOFF_RANDOM &&
	    p->min_timeout_ms > p->max_timeout_ms &&
	    (l1 || kind == SEC_DEFAULT))
		add_error(ps->errs,
		    "%s:%u: [%s] min_timeout: larger than max_timeout",
		    ps->name, l1 ? l1 : line, sname);
	l1 = key_line(ps, kind, route, "intercept");
	if (p->intercept && (c->tls.ca_cert == NULL || c->tls.ca_key == NULL) &&
	    (l1 || kind == SEC_DEFAULT))
		add_error(ps->errs,
		    "%s:%u: [%s] intercept: needs [tls] ca_cert and ca_key",
		    ps->name, l1 ? l1 : line, sname);
	if (p->intercept)
		c->any_intercept = true;
	if (p->nparents > 0)
		c->any_parent = true;
	if (p->verify && (p->tls || p->intercept))
		c->tls_verifies = true;
	for (size_t i = 0; i < p->nfallbacks; i++)
		if (p->verify && p->fallbacks[i].scheme == HTTP_SCHEME_HTTPS)
			c->tls_verifies = true;
	if (policy_needs_evhttp_lane(p))
		c->needs_evhttp_lane = true;
	if (policy_has_zero_delay(p))
		add_warning(c,
		    xasprintf("%s:%u: [%s]: some retries have zero "
			      "delay: they would all happen at once",
			ps->name, line, sname));
	if (!p->verify)
		add_warning(c,
		    xasprintf("%s:%u: [%s] verify = no: upstream "
			      "certificates are not checked",
			ps->name, line, sname));
}

static int
route_cmp_qsort(const void *a, const void *b)
{
	const struct route *ra = *(const struct route *const *)a;
	const struct route *rb = *(const struct route *const *)b;
	int d = route_pattern_cmp(&ra->pattern, &rb->pattern);

	if (d != 0)
		return d;
	return ra->line < rb->line ? -1 : ra->line > rb->line;
}

static void
check_file(struct parser *ps, const char *what, const char *path, bool secret)
{
	struct stat st;
	FILE *f;

	unsigned line = key_line(ps, SEC_TLS, -1, what);

	if (path == NULL)
		return;
	f = fopen(path, "r");
	if (f == NULL) {
		add_error(ps->errs, "%s:%u: [tls] %s: cannot read %s: %s",
		    ps->name, line, what, path, strerror(errno));
		return;
	}
	if (secret && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		add_error(ps->errs,
		    "%s:%u: [tls] %s: %s is readable by group or others "
		    "(chmod 600 it)",
		    ps->name, line, what, path);
	fclose(f);
}

/* auth = basic: read auth_file (re-read on every load: reload). */
static void
load_users(struct parser *ps)
{
	struct config *c = ps->cfg;
	const char *path = c->proxy.auth_file;
	unsigned line = key_line(ps, SEC_PROXY, -1, "auth");
	struct stat st;
	char *text, *err = NULL;
	FILE *f;
	size_t n = 0, cap = 4096, got;

	if (c->proxy.auth != AUTH_BASIC)
		return;
	if (path == NULL || *path == '\0') {
		add_error(ps->errs,
		    "%s:%u: [proxy] auth: basic needs auth_file", ps->name,
		    line);
		return;
	}
	line = key_line(ps, SEC_PROXY, -1, "auth_file");
	f = fopen(path, "r");
	if (f == NULL) {
		add_error(ps->errs,
		    "%s:%u: [proxy] auth_file: cannot read %s: %s", ps->name,
		    line, path, strerror(errno));
		return;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 022) != 0) {
		add_error(ps->errs,
		    "%s:%u: [proxy] auth_file: %s is writable by group or "
		    "others (chmod go-w it)",
		    ps->name, line, path);
		fclose(f);
		return;
	}
	text = xmalloc(cap);
	while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap)
			text = xrealloc(text, cap *= 2);
	}
	fclose(f);
	text[n] = '\0';
	c->proxy.users = xcalloc(1, sizeof *c->proxy.users);
	if (auth_users_parse(path, text, c->proxy.users, &err) != 0) {
		add_error(ps->errs, "%s", err);
		free(err);
	} else if (c->proxy.users->n == 0)
		add_error(ps->errs, "%s:%u: [proxy] auth_file: %s has no users",
		    ps->name, line, path);
	OPENSSL_cleanse(text, cap);
	free(text);
}

/* A [gateway ADDR] header: its address, and its keys' defaults. */
static bool
new_gateway(struct parser *ps, struct section *s, const char *addr)
{
	struct config *c = ps->cfg;
	struct gateway *g;
	char *cause = NULL;

	c->gateways =
	    xrealloc(c->gateways, (c->ngateways + 1) * sizeof *c->gateways);
	g = &c->gateways[c->ngateways];
	memset(g, 0, sizeof *g);
	if (*addr == '\0') {
		add_error(ps->errs,
		    "%s:%u: [gateway] needs an address: [gateway "
		    "127.0.0.1:8081]",
		    ps->name, s->line);
		return false;
	}
	if (config_listen_addr_parse(addr, &g->addr, &cause) != 0) {
		add_error(ps->errs, "%s:%u: [%s]: %s", ps->name, s->line,
		    s->name, cause);
		free(cause);
		return false;
	}
	g->line = s->line;
	for (size_t i = 0; i < config_nkeys_; i++) {
		const struct key_def *k = &config_keys[i];
		if (k->scope == SCOPE_GATEWAY &&
		    k->parse(c, k, g, k->def, &cause) != 0)
			abort(); /* (a broken built-in default) */
	}
	s->route = (int)c->ngateways++;
	return true;
}

/* Where two listeners meet: the message's end, or NULL. */
static const char *
gateway_clash(const struct config *c, size_t gi, unsigned *line)
{
	const struct gateway *g = &c->gateways[gi];

	*line = 0;
	for (size_t j = 0; j < gi; j++)
		if (gateway_addr_overlaps(&g->addr, &c->gateways[j].addr)) {
			*line = c->gateways[j].line;
			return "the address of another gateway";
		}
	for (size_t j = 0; j < c->proxy.nlisten; j++)
		if (gateway_addr_overlaps(&g->addr, &c->proxy.listen[j]))
			return "the address of [proxy] listen (a gateway "
			       "needs a listener of its own)";
	if (c->proxy.admin_on &&
	    gateway_addr_overlaps(&g->addr, &c->proxy.admin))
		return "the address of [proxy] admin";
	return NULL;
}

/* The keys of every [gateway], and the listeners they must not share. */
static bool
resolve_gateways(struct parser *ps)
{
	struct config *c = ps->cfg;
	bool ok = true;

	for (size_t i = 0; i < ps->nsections; i++) {
		struct section *s = &ps->sections[i];
		struct gateway *g;
		const char *clash;
		unsigned other;
		bool parsed;
		if (s->kind != SEC_GATEWAY || s->route < 0)
			continue;
		g = &c->gateways[s->route];
		parsed = apply_entries(
		    ps, SEC_GATEWAY, s->route, SCOPE_GATEWAY, g, NULL, NULL);
		ok &= parsed;
		if (g->origin == NULL &&
		    key_line(ps, SEC_GATEWAY, s->route, "origin") == 0) {
			add_error(ps->errs,
			    "%s:%u: [%s]: needs origin = URL (where its "
			    "requests go: https://api.example.com)",
			    ps->name, s->line, s->name);
			ok = false;
		} else if (g->origin == NULL && parsed) {
			add_error(ps->errs,
			    "%s:%u: [%s] origin: empty (expected "
			    "http(s)://host[:port][/path])",
			    ps->name,
			    key_line(ps, SEC_GATEWAY, s->route, "origin"),
			    s->name);
			ok = false;
		}
		clash = gateway_clash(c, (size_t)s->route, &other);
		if (clash != NULL && other != 0) {
			add_error(ps->errs, "%s:%u: [%s]: %s (line %u)",
			    ps->name, s->line, s->name, clash, other);
			ok = false;
		} else if (clash != NULL) {
			add_error(ps->errs, "%s:%u: [%s]: %s", ps->name,
			    s->line, s->name, clash);
			ok = false;
		}
	}
	return ok;
}

static bool
resolve(struct parser *ps, const struct config_options *opts)
{
	struct config *c = ps->cfg;
	bool ok = true, da = false, dt = false;
	size_t i, nroutes = 0;

	for (i = 0; i < ps->nsections; i++) {
		struct section *s = &ps->sections[i];
		const char *pattern = NULL, *why;
		struct route *r;
		s->kind = classify_section(s, &pattern);
		if (s->kind == SEC_UNKNOWN) {
			const char *hint = closest(s->name, section_names, 5);
			if (hint == NULL && strchr(s->name, ' ') != NULL) {
				char *w =
				    xstrndup(s->name, strcspn(s->name, " \t"));
				hint = closest(w, section_names, 5);
				free(w);
			}
			add_error(ps->errs, "%s:%u: unknown section [%s]%s%s%s",
			    ps->name, s->line, s->name,
			    hint ? " (did you mean [" : "", hint ? hint : "",
			    hint ? (strcmp(hint, "route") == 0 ? " PATTERN]?)"
					   : strcmp(hint, "gateway") == 0
					   ? " ADDR]?)"
					   : "]?)")
				 : "");
			ok = false;
			continue;
		}
		if (s->kind == SEC_GATEWAY) {
			ok &= new_gateway(ps, s, pattern);
			continue;
		}
		if (s->kind != SEC_ROUTE)
			continue;
		if (*pattern == '\0') {
			add_error(ps->errs,
			    "%s:%u: [route] needs a pattern: [route HOST], "
			    "[route *.DOMAIN], [route HOST:PORT/PATH]",
			    ps->name, s->line);
			ok = false;
			continue;
		}
		r = xcalloc(1, sizeof *r);
		if (route_pattern_parse(pattern, &r->pattern, &why) != 0) {
			add_error(ps->errs, "%s:%u: [%s]: %s", ps->name,
			    s->line, s->name, why);
			free(r);
			ok = false;
			continue;
		}
		for (size_t j = 0; j < nroutes; j++)
			if (route_pattern_equal(
				&c->routes[j]->pattern, &r->pattern)) {
				add_error(ps->errs,
				    "%s:%u: [%s]: duplicate route (first at "
				    "line %u)",
				    ps->name, s->line, s->name,
				    c->routes[j]->line);
				ok = false;
			}
		r->name = xstrdup(pattern);
		r->line = s->line;
		budget_init(&r->budget);
		tail_init(&r->tail);
		s->route = (int)nroutes;
		c->routes =
		    xrealloc(c->routes, (nroutes + 1) * sizeof *c->routes);
		c->routes[nroutes++] = r;
		c->nroutes = nroutes;
	}
	ok &= apply_entries(ps, SEC_PROXY, -1, SCOPE_PROXY, NULL, NULL, NULL);
	ok &= apply_entries(ps, SEC_TLS, -1, SCOPE_TLS, NULL, NULL, NULL);
	load_users(ps);
	if (opts != NULL && opts->listen_override != NULL) {
		const struct key_def *k =
		    config_key_find(SCOPE_PROXY, "listen");
		char *cause = NULL;
		if (k->parse(c, k, &c->proxy, opts->listen_override, &cause) !=
		    0) {
			add_error(ps->errs, "-l %s: %s", opts->listen_override,
			    cause);
			free(cause);
			ok = false;
		}
	}
	ok &= resolve_gateways(ps);
	ok &= apply_entries(
	    ps, SEC_DEFAULT, -1, SCOPE_POLICY, &c->defaults.policy, &da, &dt);
	for (i = 0; i < ps->nsections; i++)
		if (ps->sections[i].kind == SEC_DEFAULT) {
			c->defaults.line = ps->sections[i].line;
			break;
		}
	check_policy(ps, SEC_DEFAULT, -1, "default", c->defaults.line,
	    &c->defaults.policy, da, dt);
	for (i = 0; i < ps->nsections; i++) {
		struct section *s = &ps->sections[i];
		bool ra = false, rt = false;
		struct route *r;
		if (s->kind != SEC_ROUTE || s->route < 0)
			continue;
		r = c->routes[s->route];
		if (r->line != s->line)
			continue; /* a duplicate header: already reported */
		r->policy = c->defaults.policy;
		ok &= apply_entries(ps, SEC_ROUTE, s->route, SCOPE_POLICY,
		    &r->policy, &ra, &rt);
		check_policy(ps, SEC_ROUTE, s->route, s->name, s->line,
		    &r->policy, ra, rt);
	}
	/* (a gateway's requests take its route's verify: not known here) */
	for (size_t g = 0; g < c->ngateways; g++)
		if (c->gateways[g].base != NULL &&
		    strncmp(c->gateways[g].base, "https://", 8) == 0)
			c->tls_verifies = true;
	check_file(ps, "trust",
	    c->tls.trust && strcmp(c->tls.trust, "system") != 0 ? c->tls.trust
								: NULL,
	    false);
	check_file(ps, "ca_cert", c->tls.ca_cert, false);
	check_file(ps, "ca_key", c->tls.ca_key, true);
	if ((c->tls.ca_cert == NULL) != (c->tls.ca_key == NULL))
		add_error(ps->errs,
		    "%s:%u: [tls] %s: ca_cert and ca_key go "
		    "together",
		    ps->name,
		    key_line(
			ps, SEC_TLS, -1, c->tls.ca_cert ? "ca_cert" : "ca_key"),
		    c->tls.ca_cert ? "ca_cert" : "ca_key");
	if (c->nroutes > 1)
		qsort(
		    c->routes, c->nroutes, sizeof *c->routes, route_cmp_qsort);
	c->patterns = xcalloc(c->nroutes ? c->nroutes : 1, sizeof *c->patterns);
	for (i = 0; i < c->nroutes; i++)
		c->patterns[i] = &c->routes[i]->pattern;
	return ok && ps->errs->n == 0;
}

static struct config *
load_text(const char *name, const char *text, size_t len,
    const struct config_options *opts, struct config_errors *errs)
{
	struct parser ps;
	struct config *c = config_new();
	size_t before = errs->n;
	int rc;
	bool ok;

	apply_defaults(c);
	memset(&ps, 0, sizeof ps);
	ps.cfg = c;
	ps.name = name;
	ps.text = text;
	ps.len = len;
	ps.cur = -1;
	ps.errs = errs;
	rc = ini_parse_stream(reader, &ps, handler, &ps);
	if (rc > 0 && errs->n == before)
		add_error(errs, "%s:%d: syntax error", name, rc);
	ok = resolve(&ps, opts) && errs->n == before;
	for (size_t i = 0; i < ps.nsections; i++)
		free(ps.sections[i].name);
	free(ps.sections);
	for (size_t i = 0; i < ps.nentries; i++) {
		free(ps.entries[i].key);
		free(ps.entries[i].value);
	}
	free(ps.entries);
	free(ps.stash);
	if (!ok) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *
config_load_string(const char *name, const char *text,
    const struct config_options *opts, struct config_errors *errs)
{
	struct config *c = load_text(name, text, strlen(text), opts, errs);

	if (c != NULL)
		c->file = xstrdup(name);
	return c;
}

struct config *
config_load(const char *path, const struct config_options *opts,
    struct config_errors *errs)
{
	struct sbuf text = {0};
	struct config *c;
	char buf[8192];
	size_t n;
	FILE *f;

	if (path == NULL)
		return load_text("(built-in defaults)", "", 0, opts, errs);
	f = fopen(path, "r");
	if (f == NULL) {
		add_error(errs, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sbuf_add(&text, buf, n);
	if (ferror(f)) {
		add_error(errs, "%s: read error: %s", path, strerror(errno));
		fclose(f);
		sbuf_free(&text);
		return NULL;
	}
	fclose(f);
	c = load_text(path, text.s ? text.s : "", text.len, opts, errs);
	sbuf_free(&text);
	if (c != NULL)
		c->file = xstrdup(path);
	return c;
}

const struct route *
config_match(
    const struct config *c, const char *host, unsigned port, const char *path)
{
	int i = route_select(c->patterns, c->nroutes, host, port, path);

	return i < 0 ? &c->defaults : c->routes[i];
}

static void
dump_scope(const struct config *c, enum key_scope scope, const void *base,
    struct sbuf *s)
{
	for (size_t i = 0; i < config_nkeys_; i++) {
		const struct key_def *k = &config_keys[i];
		if (k->scope != scope)
			continue;
		sbuf_printf(s, "%s = ", k->name);
		k->print(k, base, s);
		sbuf_puts(s, "\n");
	}
}

void
config_dump_policy(const struct policy *p, struct sbuf *s)
{
	dump_scope(NULL, SCOPE_POLICY, p, s);
}

/* "direct", or the parents in order ("via http://a:3128, then ..."). */
static void
dump_parents(const struct policy *p, struct sbuf *s)
{
	if (p->nparents == 0) {
		sbuf_puts(s, "direct");
		return;
	}
	for (size_t i = 0; i < p->nparents; i++)
		sbuf_printf(s, "%shttp://%s", i == 0 ? "via " : ", then ",
		    p->parents[i].text);
}

static bool
same_parents(const struct policy *a, const struct policy *b)
{
	if (a->nparents != b->nparents)
		return false;
	for (size_t i = 0; i < a->nparents; i++)
		if (strcmp(a->parents[i].text, b->parents[i].text) != 0)
			return false;
	return true;
}

void
config_dump(const struct config *c, struct sbuf *s)
{
	/* the first line says where requests go (parent proxies, retryproxy.ini(5)) */
	sbuf_printf(s, "; effective configuration of %s; requests go ",
	    c->file ? c->file : "(built-in defaults)");
	dump_parents(&c->defaults.policy, s);
	for (size_t i = 0; i < c->nroutes; i++) {
		char pat[600];
		if (same_parents(&c->routes[i]->policy, &c->defaults.policy))
			continue;
		route_pattern_format(&c->routes[i]->pattern, pat, sizeof pat);
		sbuf_printf(s, "; [route %s] ", pat);
		dump_parents(&c->routes[i]->policy, s);
	}
	sbuf_puts(s, "\n");
	sbuf_puts(s, "[proxy]\n");
	dump_scope(c, SCOPE_PROXY, &c->proxy, s);
	sbuf_puts(s, "\n[tls]\n");
	dump_scope(c, SCOPE_TLS, &c->tls, s);
	sbuf_puts(s, "\n[default]\n");
	dump_scope(c, SCOPE_POLICY, &c->defaults.policy, s);
	for (size_t i = 0; i < c->nroutes; i++) {
		char pat[600];
		route_pattern_format(&c->routes[i]->pattern, pat, sizeof pat);
		sbuf_printf(s, "\n; line %u, precedence %zu\n[route %s]\n",
		    c->routes[i]->line, i + 1, pat);
		dump_scope(c, SCOPE_POLICY, &c->routes[i]->policy, s);
	}
	for (size_t i = 0; i < c->ngateways; i++) {
		const struct gateway *g = &c->gateways[i];
		sbuf_printf(s,
		    "\n; line %u: origin-form requests to %s go to %s/...\n"
		    "[gateway %s]\n",
		    g->line, g->addr.text, g->base, g->addr.text);
		dump_scope(c, SCOPE_GATEWAY, g, s);
	}
}
