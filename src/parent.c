/*
 * parent: parent proxy choice, marks and error recognition (parent.h).
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "parent.h"
#include "util.h"

int
parent_parse(const char *item, char *host, size_t hostlen, unsigned *port,
    const char **why)
{
	struct http_url u;

	if (util_strncasecmp(item, "https://", 8) == 0) {
		*why = "an https:// parent is not supported (TLS to the "
		       "parent): use http://; https targets still go "
		       "end to end through CONNECT";
		return -1;
	}
	if (util_strncasecmp(item, "http://", 7) != 0) {
		*why = "a parent is http://host:port, or the list is "
		       "'direct'";
		return -1;
	}
	if (http_url_parse(item, &u, why) != 0)
		return -1;
	if (!u.port_given) {
		*why = "a parent needs its port (http://host:port)";
		return -1;
	}
	if (u.path_len != 1 || u.path[0] != '/' || u.has_fragment ||
	    item[strlen(item) - 1] == '/') {
		*why = "a parent is http://host:port, without a path";
		return -1;
	}
	if (strlen(u.host) >= hostlen) {
		*why = "host name too long";
		return -1;
	}
	memcpy(host, u.host, strlen(u.host) + 1);
	*port = u.port;
	return 0;
}

static int
find(const struct parent_marks *m, const char *text)
{
	for (int i = 0; i < PARENT_MARKS; i++)
		if (m->e[i].key[0] != '\0' && strcmp(m->e[i].key, text) == 0)
			return i;
	return -1;
}

void
parent_mark(
    struct parent_marks *m, const char *text, uint64_t now_ms, uint64_t for_ms)
{
	uint64_t until = now_ms + for_ms;
	int i = find(m, text), j;

	if (i < 0) {
		/* a free or expired slot, else the one that ends first */
		for (i = 0, j = 0; j < PARENT_MARKS; j++) {
			if (m->e[j].key[0] == '\0' ||
			    m->e[j].until_ms <= now_ms) {
				i = j;
				break;
			}
			if (m->e[j].until_ms < m->e[i].until_ms)
				i = j;
		}
		snprintf(m->e[i].key, sizeof m->e[i].key, "%s", text);
		m->e[i].until_ms = 0;
	}
	if (until > m->e[i].until_ms)
		m->e[i].until_ms = until;
	if (until > m->latest_ms)
		m->latest_ms = until;
}

void
parent_forget(struct parent_marks *m, const char *text)
{
	int i = find(m, text);

	if (i >= 0)
		m->e[i].key[0] = '\0';
}

uint64_t
parent_until(const struct parent_marks *m, const char *text, uint64_t now_ms)
{
	int i;

	if (m == NULL || m->latest_ms <= now_ms)
		return 0;
	i = find(m, text);
	return i >= 0 && m->e[i].until_ms > now_ms ? m->e[i].until_ms : 0;
}

size_t
parent_pick(const struct parent *v, size_t n, uint32_t failed,
    const struct parent_marks *m, uint64_t now_ms, bool *passed_over)
{
	uint64_t until[PARENT_MAX];
	size_t i, best = 0;

	if (n > PARENT_MAX)
		n = PARENT_MAX;
	for (i = 0; i < n; i++)
		until[i] = parent_until(m, v[i].text, now_ms);
	*passed_over = false;
	for (i = 0; i < n; i++)
		if (!(failed & (1u << i)) && until[i] == 0)
			goto found;
	for (i = 0; i < n; i++)
		if (until[i] == 0)
			goto found;
	for (i = 1; i < n; i++)
		if (until[i] < until[best])
			best = i;
	i = best;
found:
	*passed_over = i > 0;
	return i;
}

/* Does a Proxy-Status value carry an error parameter (RFC 9209)? */
static bool
proxy_status_has_error(const char *v)
{
	const char *s;

	for (s = v; (s = strstr(s, "error")) != NULL; s += 5) {
		const char *e = s + 5;
		/* a parameter name: after ';' and optional white space */
		const char *b = s;
		while (b > v && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		while (*e == ' ' || *e == '\t')
			e++;
		if (b > v && b[-1] == ';' && *e == '=')
			return true;
	}
	return false;
}

bool
parent_response_is_own(
    int status, const char *(*get)(const char *name, void *arg), void *arg)
{
	const char *ps;

	if (status != 500 && status != 502 && status != 503 && status != 504)
		return false;
	ps = get("Proxy-Status", arg);
	if (ps != NULL && proxy_status_has_error(ps))
		return true;
	if (get("X-Squid-Error", arg) != NULL)
		return true;
	return get("Via", arg) == NULL;
}
