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

/* Our own reason to suspend, beside libevent's 0x01-0x10. */
#define SUSPEND_HALFCLOSED 0x4000

void
halfclose_client(struct evhttp_request *req, struct bufferevent *bev)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);

	bufferevent_suspend_read_(bev, SUSPEND_HALFCLOSED);
	evhttp_remove_header(in, "Connection");
	evhttp_add_header(in, "Connection", "close");
}
