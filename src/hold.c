/*
 * hold: origins that asked for a pause (see hold.h).
 */
#include <stdio.h>
#include <string.h>

#include "hold.h"
#include "http.h"
#include "util.h"

void
hold_init(struct hold_table *t)
{
	memset(t, 0, sizeof *t);
}

bool
hold_for_response(int status, const char *retry_after, uint64_t wall_now_ms,
    uint64_t max_ms, uint64_t *ms)
{
	uint64_t ra;

	if ((status != 429 && status != 503) || retry_after == NULL ||
	    http_parse_retry_after(retry_after, wall_now_ms, &ra) != 0 ||
	    ra == 0 || max_ms == 0)
		return false;
	*ms = ra < max_ms ? ra : max_ms;
	return true;
}

static void
key_of(char *key, const char *host, unsigned port)
{
	/* (a longer name cannot be a host: it never matches a real one) */
	snprintf(key, HOLD_KEY_MAX, "%s:%u", host, port);
}

/* (host names are case-insensitive: RFC 9110 section 4.2.3) */
static const struct hold_slot *
find(const struct hold_table *t, const char *key)
{
	for (unsigned i = 0; i < HOLD_SLOTS; i++)
		if (t->s[i].origin[0] != '\0' &&
		    util_strcasecmp(t->s[i].origin, key) == 0)
			return &t->s[i];
	return NULL;
}

bool
hold_note(struct hold_table *t, const char *host, unsigned port, int status,
    uint64_t now_ms, uint64_t until_ms)
{
	char key[HOLD_KEY_MAX];
	struct hold_slot *s;
	bool fresh;

	key_of(key, host, port);
	s = (struct hold_slot *)find(t, key);
	if (s == NULL) {
		/* a free or ended slot, else the hold that ends soonest */
		s = &t->s[0];
		for (unsigned i = 0; i < HOLD_SLOTS; i++) {
			if (t->s[i].origin[0] == '\0' ||
			    t->s[i].until_ms <= now_ms) {
				s = &t->s[i];
				break;
			}
			if (t->s[i].until_ms < s->until_ms)
				s = &t->s[i];
		}
		memset(s, 0, sizeof *s);
		strcpy(s->origin, key);
	}
	fresh = s->until_ms <= now_ms;
	if (fresh || until_ms > s->until_ms) {
		s->until_ms = until_ms;
		s->status = status;
	}
	return fresh;
}

uint64_t
hold_left(const struct hold_table *t, const char *host, unsigned port,
    uint64_t now_ms, int *status)
{
	char key[HOLD_KEY_MAX];
	const struct hold_slot *s;

	key_of(key, host, port);
	s = find(t, key);
	if (s == NULL || s->until_ms <= now_ms)
		return 0;
	*status = s->status;
	return s->until_ms - now_ms;
}

uint64_t
hold_latest(const struct hold_table *t)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < HOLD_SLOTS; i++)
		if (t->s[i].origin[0] != '\0' && t->s[i].until_ms > m)
			m = t->s[i].until_ms;
	return m;
}
