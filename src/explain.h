/*
 * explain: the text of `retryproxy --explain METHOD URL`: which route
 * matches, its resolved policy and the delay schedule.  Pure.
 */
#ifndef RP_EXPLAIN_H
#define RP_EXPLAIN_H

#include "config.h"
#include "util.h"

/* Write the explanation into out; -1 with *cause for a bad URL. */
int explain_request(const struct config *, const char *method, const char *url,
    struct sbuf *out, const char **cause);
/* The delay schedule alone, one "attempt N after D" line per retry. */
void explain_schedule(
    const struct policy *, unsigned attempts, struct sbuf *out);

#endif
