/*
 * bevset: change a bufferevent's enabled events and watermarks only when
 * they differ.  libevent 2.1 does the whole work of a change every time
 * (an event_add or event_del each, and re-arming the timeouts), and a
 * connection handed from one owner to the next (the raw lane, evhttp, the
 * pools) is mostly set to what it already has: half a dozen such calls
 * per request were a tenth of a small request's instructions (callgrind).
 */
#ifndef RP_BEVSET_H
#define RP_BEVSET_H

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>

/* Turn events (EV_READ, EV_WRITE) on or off, where they are not yet. */
static inline void
bevset_events(struct bufferevent *bev, short events, bool on)
{
	short now = bufferevent_get_enabled(bev);

	if (on && (now & events) != events)
		bufferevent_enable(bev, (short)(events & ~now));
	else if (!on && (now & events) != 0)
		bufferevent_disable(bev, (short)(events & now));
}

/* Set one watermark pair (events: EV_READ or EV_WRITE), if it differs. */
static inline void
bevset_watermark(struct bufferevent *bev, short events, size_t low, size_t high)
{
	size_t l = 0, h = 0;

	if (bufferevent_getwatermark(bev, events, &l, &h) != 0 || l != low ||
	    h != high)
		bufferevent_setwatermark(bev, events, low, high);
}

#endif
