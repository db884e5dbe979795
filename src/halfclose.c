/*
 * halfclose: suspend reading on a half-closed client for good (see
 * halfclose.h).
 */
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdint.h>

#include "halfclose.h"

/* libevent 2.1's bufferevent-internal.h (the symbol is exported). */
void bufferevent_suspend_read_(struct bufferevent *, uint16_t what);

void bufferevent_unsuspend_read_(struct bufferevent *, uint16_t what);
/* Our own reasons to suspend, beside libevent's 0x01-0x10. */
#define SUSPEND_HALFCLOSED 0x4000
#define SUSPEND_REPLYING 0x2000

void
halfclose_client(struct evhttp_request *req, struct bufferevent *bev)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);

	bufferevent_suspend_read_(bev, SUSPEND_HALFCLOSED);
	evhttp_remove_header(in, "Connection");
	evhttp_add_header(in, "Connection", "close");
}

static void
reply_complete_cb(struct evhttp_request *req, void *arg)
{
	bufferevent_unsuspend_read_(arg, SUSPEND_REPLYING);
}

void
halfclose_guard_reply(struct evhttp_request *req, struct bufferevent *bev)
{
	bufferevent_suspend_read_(bev, SUSPEND_REPLYING);
	evhttp_request_set_on_complete_cb(req, reply_complete_cb, bev);
}
