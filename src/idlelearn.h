/*
 * idlelearn: what origins showed of how long they keep an idle keep-alive
 * connection open -- the shortest idle time at which one of them closed a
 * pooled connection, remembered for ten minutes -- so that a request that
 * may not be re-sent rides only a connection well inside that time (the
 * README, "Retry semantics": warm_reuse).  One table per worker, shared by
 * its two pools (upstream.c for evhttp's lane, rawpool.c for the raw
 * lane), keyed by their common origin key ("sv:host:port:trust").
 * Pure: the caller passes the time.
 */
#ifndef RP_IDLELEARN_H
#define RP_IDLELEARN_H

#include <stdint.h>

struct idlelearn;

/* Assumed when an origin neither says nor was seen closing. */
#define IDLELEARN_ASSUMED_MS 2000
/* An observation is kept this long. */
#define IDLELEARN_FOR_MS (10 * 60 * 1000)
/* Origins remembered; past it, all are forgotten at once. */
#define IDLELEARN_MAX 4096
/*
 * A reused connection that broke under a request teaches only when it had
 * idled at least this long: one that had idled moments cannot tell an
 * idle close from a close the request itself caused.
 */
#define IDLELEARN_STALE_TEACHES_MS 250

struct idlelearn *idlelearn_new(void);
void idlelearn_free(struct idlelearn *);
/* The origin of key closed a connection that had idled idle_ms. */
void idlelearn_close(
    struct idlelearn *, const char *key, uint64_t idle_ms, uint64_t now_ms);
/*
 * How long the origin of key keeps an idle connection, as far as known:
 * keepalive_ms (its Keep-Alive: timeout=; 0: it did not say), or the
 * shortest close seen within IDLELEARN_FOR_MS when shorter or when it
 * did not say, else IDLELEARN_ASSUMED_MS.
 */
uint64_t idlelearn_limit_ms(const struct idlelearn *, const char *key,
    uint64_t keepalive_ms, uint64_t now_ms);
/* Is a connection that idled idle_ms warm (under half the limit)? */
int idlelearn_is_warm(const struct idlelearn *, const char *key,
    uint64_t keepalive_ms, uint64_t idle_ms, uint64_t now_ms);

#endif
