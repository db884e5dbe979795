/*
 * eject: origins left alone after repeated failures (see eject.h).
 */
#include <stdio.h>
#include <string.h>

#include "eject.h"
#include "util.h"

void
eject_init(struct eject_table *t)
{
	memset(t, 0, sizeof *t);
}

static void
key_of(char *key, const char *host, unsigned port)
{
	snprintf(key, EJECT_KEY_MAX, "%s:%u", host, port);
}

/* (host names are case-insensitive: RFC 9110 section 4.2.3) */
static struct eject_slot *
find(struct eject_table *t, const char *key)
{
	for (unsigned i = 0; i < EJECT_SLOTS; i++)
		if (t->s[i].origin[0] != '\0' &&
		    util_strcasecmp(t->s[i].origin, key) == 0)
			return &t->s[i];
	return NULL;
}

/* A slot for a new origin: a free one, else the admitted one seen last. */
static struct eject_slot *
take(struct eject_table *t, const char *key)
{
	struct eject_slot *s = NULL;

	for (unsigned i = 0; i < EJECT_SLOTS; i++) {
		struct eject_slot *c = &t->s[i];
		if (c->origin[0] == '\0') {
			s = c;
			break;
		}
		if (c->until_ms != 0)
			continue; /* (an ejection, or its probe, is kept) */
		if (s == NULL || c->seen_ms < s->seen_ms)
			s = c;
	}
	if (s == NULL)
		return NULL; /* every slot ejected: this one is not tracked */
	memset(s, 0, sizeof *s);
	strcpy(s->origin, key);
	return s;
}

bool
eject_rules_on(const struct eject_rules *r)
{
	return r->after > 0 || r->percent > 0;
}

/* This second's bucket of s's window (a bucket of an older one is reused). */
static struct eject_bucket *
bucket(struct eject_slot *s, uint64_t now_ms)
{
	uint64_t sec = now_ms / 1000;
	struct eject_bucket *b = &s->win[sec % EJECT_WINDOW_S];

	/* (seconds are stored + 1: 0 is unused; a newer one is kept) */
	if (b->second < sec + 1) {
		b->second = sec + 1;
		b->attempts = 0;
		b->fails = 0;
	}
	return b;
}

/* The window's sums: the buckets of the last EJECT_WINDOW_S seconds. */
static void
sums(const struct eject_slot *s, uint64_t now_ms, uint64_t *attempts,
    uint64_t *fails)
{
	uint64_t sec = now_ms / 1000;

	*attempts = 0;
	*fails = 0;
	for (unsigned i = 0; i < EJECT_WINDOW_S; i++) {
		const struct eject_bucket *b = &s->win[i];
		if (b->second == 0 || b->second - 1 + EJECT_WINDOW_S <= sec)
			continue;
		*attempts += b->attempts;
		*fails += b->fails;
	}
}

static void
count(struct eject_slot *s, uint64_t now_ms, bool failed)
{
	struct eject_bucket *b = bucket(s, now_ms);

	if (b->attempts < UINT32_MAX) {
		b->attempts++;
		if (failed)
			b->fails++;
	}
}

static void
news_of(const struct eject_slot *s, uint64_t ms, struct eject_news *n)
{
	n->ms = ms;
	n->rule = s->rule;
	n->fails = s->rule_fails;
	n->attempts = s->rule_attempts;
	n->ejections = s->ejections;
}

/* Which rule this failure of an admitted origin meets, if any. */
static enum eject_rule
judge(struct eject_slot *s, uint64_t now_ms, const struct eject_rules *r)
{
	uint64_t attempts, fails;

	if (r->after > 0 && s->fails >= r->after) {
		s->rule_fails = s->fails;
		s->rule_attempts = 0;
		return EJECT_BY_AFTER;
	}
	if (r->percent == 0)
		return EJECT_BY_NONE;
	sums(s, now_ms, &attempts, &fails);
	if (attempts < r->min_attempts || fails * 100 < attempts * r->percent)
		return EJECT_BY_NONE;
	s->rule_fails = (unsigned)fails;
	s->rule_attempts = (unsigned)attempts;
	return EJECT_BY_PERCENT;
}

enum eject_outcome
eject_note(struct eject_table *t, const char *host, unsigned port, bool failed,
    uint64_t now_ms, const struct eject_rules *r, struct eject_news *n)
{
	char key[EJECT_KEY_MAX];
	struct eject_slot *s;
	enum eject_rule why;
	uint64_t len;

	if (!eject_rules_on(r))
		return EJECT_NOTHING;
	key_of(key, host, port);
	s = find(t, key);
	/* (a success counts only for the share: else no slot for it) */
	if (s == NULL && (failed || r->percent > 0))
		s = take(t, key);
	if (s == NULL)
		return EJECT_NOTHING;
	s->seen_ms = now_ms;
	if (!failed) {
		s->fails = 0;
		if (s->until_ms == 0) {
			count(s, now_ms, false);
			return EJECT_NOTHING;
		}
		/* a request under way that a share ejection left going */
		if (s->by_percent && now_ms < s->until_ms)
			return EJECT_NOTHING;
		/* the probe (or a request already under way) got through */
		s->until_ms = 0;
		s->probe_until_ms = 0;
		s->ejections = 0;
		s->by_percent = false;
		s->rule = EJECT_BY_NONE;
		memset(s->win, 0, sizeof s->win);
		return EJECT_READMITTED;
	}
	if (s->fails < UINT32_MAX)
		s->fails++;
	if (s->until_ms > now_ms)
		return EJECT_NOTHING; /* (already out: a request under way) */
	if (s->until_ms != 0)
		why = EJECT_BY_PROBE; /* (its counts are the first's) */
	else {
		count(s, now_ms, true);
		if ((why = judge(s, now_ms, r)) == EJECT_BY_NONE)
			return EJECT_NOTHING;
		s->by_percent = why == EJECT_BY_PERCENT;
	}
	/* out, longer each time in a row */
	s->rule = why;
	if (s->ejections < 1000)
		s->ejections++;
	len = r->time_ms * s->ejections;
	if (len > r->max_ms || len / s->ejections != r->time_ms)
		len = r->max_ms;
	s->until_ms = now_ms + len;
	s->probe_until_ms = 0;
	memset(s->win, 0, sizeof s->win);
	news_of(s, len, n);
	return EJECT_EJECTED;
}

/* eject_check and eject_peek: take (hand the probe out) or only look. */
static enum eject_verdict
check(struct eject_table *t, const char *host, unsigned port, uint64_t now_ms,
    const struct eject_rules *r, struct eject_news *n, bool take)
{
	char key[EJECT_KEY_MAX];
	struct eject_slot *s;

	if (!eject_rules_on(r))
		return EJECT_ADMIT;
	key_of(key, host, port);
	s = find(t, key);
	if (s == NULL || s->until_ms == 0)
		return EJECT_ADMIT;
	if (now_ms < s->until_ms) {
		news_of(s, s->until_ms - now_ms, n);
		return EJECT_OUT;
	}
	if (now_ms < s->probe_until_ms) {
		news_of(s, s->probe_until_ms - now_ms, n);
		return EJECT_OUT;
	}
	if (take)
		s->probe_until_ms = now_ms + r->probe_ms;
	return EJECT_PROBE;
}

enum eject_verdict
eject_check(struct eject_table *t, const char *host, unsigned port,
    uint64_t now_ms, const struct eject_rules *r, struct eject_news *n)
{
	return check(t, host, port, now_ms, r, n, true);
}

enum eject_verdict
eject_peek(struct eject_table *t, const char *host, unsigned port,
    uint64_t now_ms, const struct eject_rules *r, struct eject_news *n)
{
	return check(t, host, port, now_ms, r, n, false);
}

unsigned
eject_count(const struct eject_table *t)
{
	unsigned n = 0;

	for (unsigned i = 0; i < EJECT_SLOTS; i++)
		if (t->s[i].origin[0] != '\0' && t->s[i].until_ms != 0)
			n++;
	return n;
}

void
eject_window(struct eject_table *t, const char *host, unsigned port,
    uint64_t now_ms, unsigned *attempts, unsigned *fails)
{
	char key[EJECT_KEY_MAX];
	struct eject_slot *s;
	uint64_t a = 0, f = 0;

	key_of(key, host, port);
	if ((s = find(t, key)) != NULL)
		sums(s, now_ms, &a, &f);
	*attempts = (unsigned)a;
	*fails = (unsigned)f;
}
