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

enum eject_outcome
eject_note(struct eject_table *t, const char *host, unsigned port, bool failed,
    uint64_t now_ms, const struct eject_rules *r, uint64_t *ms)
{
	char key[EJECT_KEY_MAX];
	struct eject_slot *s;
	uint64_t len;

	if (r->after == 0)
		return EJECT_NOTHING;
	key_of(key, host, port);
	s = find(t, key);
	if (!failed) {
		if (s == NULL)
			return EJECT_NOTHING;
		s->seen_ms = now_ms;
		s->fails = 0;
		if (s->until_ms == 0)
			return EJECT_NOTHING;
		/* the probe (or a request already under way) got through */
		s->until_ms = 0;
		s->probe_until_ms = 0;
		s->ejections = 0;
		return EJECT_READMITTED;
	}
	if (s == NULL && (s = take(t, key)) == NULL)
		return EJECT_NOTHING;
	s->seen_ms = now_ms;
	if (s->fails < UINT32_MAX)
		s->fails++;
	if (s->until_ms > now_ms)
		return EJECT_NOTHING; /* (already out: a request under way) */
	if (s->until_ms == 0 && s->fails < r->after)
		return EJECT_NOTHING;
	/* the threshold, or a failed probe: out, longer each time */
	if (s->ejections < 1000)
		s->ejections++;
	len = r->time_ms * s->ejections;
	if (len > r->max_ms || len / s->ejections != r->time_ms)
		len = r->max_ms;
	s->until_ms = now_ms + len;
	s->probe_until_ms = 0;
	*ms = len;
	return EJECT_EJECTED;
}

enum eject_verdict
eject_check(struct eject_table *t, const char *host, unsigned port,
    uint64_t now_ms, const struct eject_rules *r, uint64_t *left_ms)
{
	char key[EJECT_KEY_MAX];
	struct eject_slot *s;

	if (r->after == 0)
		return EJECT_ADMIT;
	key_of(key, host, port);
	s = find(t, key);
	if (s == NULL || s->until_ms == 0)
		return EJECT_ADMIT;
	if (now_ms < s->until_ms) {
		*left_ms = s->until_ms - now_ms;
		return EJECT_OUT;
	}
	if (now_ms < s->probe_until_ms) {
		*left_ms = s->probe_until_ms - now_ms;
		return EJECT_OUT;
	}
	s->probe_until_ms = now_ms + r->probe_ms;
	return EJECT_PROBE;
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
