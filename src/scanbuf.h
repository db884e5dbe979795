/*
 * scanbuf: run reqscan over the bytes just added to an evbuffer, from the
 * buffer's own callback (before whatever reads the buffer sees them).
 */
#ifndef RP_SCANBUF_H
#define RP_SCANBUF_H

#include <stddef.h>

#include "reqscan.h"

struct evbuffer;
struct evbuffer_cb_entry;
struct evbuffer_cb_info;

/*
 * Feed s the info->n_added bytes at the end of buf, stopping early once it
 * refuses them or stops scanning (reqscan_is_tunnel).  Returns -1 when
 * refused (s->status and s->why say how), else 0.
 */
int scanbuf_feed_added(
    struct reqscan *s, struct evbuffer *buf, const struct evbuffer_cb_info *);
/*
 * The same over the last n bytes of buf, and then, if they held chunk
 * extensions, put them back without (reqscan_strip_ext): libevent would
 * refuse the body.  cbe, when not NULL, is buf's callback entry that
 * runs this (kept quiet while the bytes are put back).
 */
int scanbuf_feed_strip(struct reqscan *s, struct evbuffer *buf,
    struct evbuffer_cb_entry *cbe, size_t n);

#endif
