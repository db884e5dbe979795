/*
 * replaymem: the process-wide count of request-body bytes held for
 * re-sending, bounded by [proxy] max_buffered.  A body that does not fit
 * streams instead (the raw lane) and may be sent again only when nothing
 * of it left.  Shared by every worker: atomic.
 */
#ifndef RP_REPLAYMEM_H
#define RP_REPLAYMEM_H

#include <stdbool.h>
#include <stdint.h>

/* Take n bytes of the bound limit; false (nothing taken) if they do not fit. */
bool replaymem_reserve(uint64_t n, uint64_t limit);
/* Give n bytes back. */
void replaymem_release(uint64_t n);
/* Bytes held now (for the metrics). */
uint64_t replaymem_held(void);
/*
 * Say, at most once every 10 s, that bodies stream because the bound is
 * reached.
 */
void replaymem_warn(uint64_t limit);

#endif
