/*
 * origins: what the whole process knows of origins and parent proxies,
 * shared by every worker's attempts (dial.c): the origins held after a
 * 429/503 with Retry-After (hold.h), the origins and addresses ejected
 * (eject.h), the parents that failed a moment ago (parent.h).  Each is
 * the pure table behind a lock of its own, with an atomic in front, so
 * that while nothing is held or ejected no request takes a lock.  What
 * the log and the metrics say when an ejection starts or ends is here
 * too; which origin or address an outcome counts for is dial.c's.
 */
#ifndef RP_ORIGINS_H
#define RP_ORIGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eject.h"

struct parent;

/*
 * How long host:port is still held at now_ms (0: not held), and the
 * status that started the hold (*status).
 */
uint64_t origins_hold_left(
    const char *host, unsigned port, uint64_t now_ms, int *status);
/*
 * host:port answered status with a Retry-After until until_ms: held
 * until then.  True when it was not held (a new hold).
 */
bool origins_hold_note(const char *host, unsigned port, int status,
    uint64_t now_ms, uint64_t until_ms);

/*
 * An attempt to host:port (of: NULL, or the name host is an address of,
 * for the log) failed or not, under rules: ejects or readmits it, and
 * says so in the log and the metrics.
 */
void origins_eject_note(const char *host, unsigned port, bool failed,
    const char *of, const struct eject_rules *rules);
/* eject_check and eject_peek, process-wide. */
enum eject_verdict origins_eject_check(const char *host, unsigned port,
    uint64_t now_ms, const struct eject_rules *, struct eject_news *);
enum eject_verdict origins_eject_peek(const char *host, unsigned port,
    uint64_t now_ms, const struct eject_rules *, struct eject_news *);
/* Origins (and addresses) ejected now: 0 lets attempts skip the lock. */
unsigned origins_ejected(void);
/*
 * Why an origin is ejected (n, from origins_eject_check), for the 503's
 * body, and the key of the rule that did it.
 */
void origins_ejected_why(
    const struct eject_news *n, char *why, size_t len, const char **key);

/* parent_pick over the process's marks. */
size_t origins_parent_pick(const struct parent *v, size_t n, uint32_t failed,
    uint64_t now_ms, bool *passed_over);
/* The parent named text failed: tried last for for_ms. */
void origins_parent_mark(const char *text, uint64_t now_ms, uint64_t for_ms);

#endif
