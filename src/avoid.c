/*
 * avoid: the address of each attempt, and the addresses to avoid (see
 * avoid.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "avoid.h"

bool
avoid_addr_set(struct avoid_addr *k, const struct sockaddr *sa, unsigned port)
{
	memset(k, 0, sizeof *k);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(k->a, &sin->sin_addr, 4);
		k->port = port ? (uint16_t)port : ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(k->a, &s6->sin6_addr, 16);
		k->port = port ? (uint16_t)port : ntohs(s6->sin6_port);
	} else
		return false;
	k->family = sa->sa_family;
	return true;
}

void
avoid_addr_sockaddr(const struct avoid_addr *k, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (k->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(k->port);
		memcpy(&sin->sin_addr, k->a, 4);
	} else if (k->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(k->port);
		memcpy(&s6->sin6_addr, k->a, 16);
	}
}

bool
avoid_addr_eq(const struct avoid_addr *x, const struct avoid_addr *y)
{
	return x->family == y->family && x->port == y->port &&
	    memcmp(x->a, y->a, sizeof x->a) == 0;
}

const char *
avoid_addr_format(const struct avoid_addr *k, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (k->family == 0 || inet_ntop(k->family, k->a, a, sizeof a) == NULL)
		snprintf(buf, len, "-");
	else if (k->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, (unsigned)k->port);
	else
		snprintf(buf, len, "%s:%u", a, (unsigned)k->port);
	return buf;
}

/*
 * Only failures of the connect itself say something about the address:
 * refused (nothing listens there), unreachable, or no answer within
 * connect_timeout.  A reset or a timeout after the request was sent is
 * more likely the request's doing (or the application's) than the
 * machine's, and would mark a healthy address for every other request;
 * the request itself still moves on to another address.  A TLS failure
 * is the origin's configuration, the same at every address.
 */
bool
avoid_fail_marks(enum fail_kind kind)
{
	return kind == FK_CONNECTION_REFUSED || kind == FK_CONNECTION_TIMEOUT ||
	    kind == FK_DESTINATION_UNREACHABLE;
}

void
avoid_init(struct avoid *v)
{
	memset(v, 0, sizeof *v);
}

static int
find(const struct avoid *v, const struct avoid_addr *k)
{
	for (int i = 0; i < AVOID_ENTRIES; i++)
		if (v->e[i].addr.family != 0 && avoid_addr_eq(&v->e[i].addr, k))
			return i;
	return -1;
}

void
avoid_mark(struct avoid *v, const struct avoid_addr *k, uint64_t now_ms,
    uint64_t for_ms)
{
	int i;

	if (k->family == 0 || for_ms == 0)
		return;
	if ((i = find(v, k)) < 0) {
		/* a free or lapsed slot, else the mark that ends first */
		i = 0;
		for (int j = 0; j < AVOID_ENTRIES; j++) {
			if (v->e[j].addr.family == 0 ||
			    v->e[j].until_ms <= now_ms) {
				i = j;
				break;
			}
			if (v->e[j].until_ms < v->e[i].until_ms)
				i = j;
		}
		v->e[i].addr = *k;
	}
	v->e[i].until_ms = now_ms + for_ms;
}

void
avoid_forget(struct avoid *v, const struct avoid_addr *k)
{
	int i = find(v, k);

	if (i >= 0)
		v->e[i].addr.family = 0;
}

uint64_t
avoid_until(const struct avoid *v, const struct avoid_addr *k, uint64_t now_ms)
{
	int i = find(v, k);

	return i >= 0 && v->e[i].until_ms > now_ms ? v->e[i].until_ms : 0;
}

static int
tried_find(const struct avoid_tried *t, const struct avoid_addr *k)
{
	for (unsigned i = 0; i < t->n; i++)
		if (avoid_addr_eq(&t->e[i].addr, k))
			return (int)i;
	return -1;
}

void
avoid_tried_note(struct avoid_tried *t, const struct avoid_addr *k, bool failed)
{
	int i = tried_find(t, k);

	if (k->family == 0)
		return;
	if (i < 0) {
		if (t->n >= AVOID_TRIED)
			return; /* (more addresses than a request goes through) */
		i = (int)t->n++;
		t->e[i].addr = *k;
		t->e[i].count = 0;
		t->e[i].failed = false;
	}
	t->e[i].count++;
	if (failed)
		t->e[i].failed = true;
}

unsigned
avoid_tried_count(const struct avoid_tried *t, const struct avoid_addr *k)
{
	int i = tried_find(t, k);

	return i >= 0 ? t->e[i].count : 0;
}

bool
avoid_tried_failed(const struct avoid_tried *t, const struct avoid_addr *k)
{
	int i = tried_find(t, k);

	return i >= 0 && t->e[i].failed;
}

/* Does address i come before address j (avoid.h, avoid_pick)? */
static bool
before(const uint64_t *until, const unsigned *count, unsigned i, unsigned j,
    bool marks)
{
	bool mi = marks && until[i] != 0, mj = marks && until[j] != 0;

	if (mi != mj)
		return !mi;
	if (count[i] != count[j])
		return count[i] < count[j];
	if (mi && until[i] != until[j])
		return until[i] < until[j];
	return i < j;
}

unsigned
avoid_pick(const struct avoid *v, const struct avoid_tried *t,
    const struct avoid_addr *addrs, unsigned n, uint64_t now_ms,
    bool *passed_over)
{
	uint64_t until[AVOID_TRIED];
	unsigned count[AVOID_TRIED], best = 0, plain = 0;

	/* (a resolver answer is cut to DNSCACHE_ADDRS, fewer than this) */
	if (n > AVOID_TRIED)
		n = AVOID_TRIED;
	for (unsigned i = 0; i < n; i++) {
		until[i] = avoid_until(v, &addrs[i], now_ms);
		count[i] = avoid_tried_count(t, &addrs[i]);
	}
	for (unsigned i = 1; i < n; i++) {
		if (before(until, count, i, best, true))
			best = i;
		if (before(until, count, i, plain, false))
			plain = i;
	}
	*passed_over = best != plain;
	return best;
}
