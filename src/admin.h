/*
 * admin: the [proxy] admin listener -- GET /metrics, /healthz, /config --
 * served by libevent's evhttp on one worker's event loop.  What it shows
 * comes from its owner (server.c) through struct admin_ops, so that this
 * file knows nothing of workers or the configuration's lock.
 */
#ifndef RP_ADMIN_H
#define RP_ADMIN_H

#include <stdbool.h>

#include "util.h"

struct event_base;
struct listen_addr;
struct metrics_gauges;

struct admin_ops {
	/* fill the gauges the metrics page shows beside the counters */
	void (*gauges)(struct metrics_gauges *);
	/* shutting down (/healthz answers 503) */
	bool (*stopping)(void);
	/* the running configuration, as -t prints it */
	void (*dump_config)(struct sbuf *);
};

/* Listen on la from base's loop; -1 (logged) when it cannot. */
int admin_start(struct event_base *base, const struct listen_addr *la,
    const struct admin_ops *ops);
/* Close the listener (before base goes). */
void admin_stop(void);

#endif
