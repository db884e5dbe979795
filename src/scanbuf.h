/*
 * scanbuf: run reqscan over the bytes just added to an evbuffer, from the
 * buffer's own callback (before whatever reads the buffer sees them).
 */
#ifndef RP_SCANBUF_H
#define RP_SCANBUF_H

#include "reqscan.h"

struct evbuffer;
struct evbuffer_cb_info;

/*
 * Feed s the info->n_added bytes at the end of buf, stopping early once it
 * refuses them or stops scanning (reqscan_is_tunnel).  Returns -1 when
 * refused (s->status and s->why say how), else 0.
 */
int scanbuf_feed_added(
    struct reqscan *s, struct evbuffer *buf, const struct evbuffer_cb_info *);

#endif
