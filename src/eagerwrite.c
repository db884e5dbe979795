/*
 * eagerwrite: write a bufferevent's output without waiting for EPOLLOUT
 * (see eagerwrite.h).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "eagerwrite.h"

bool
eagerwrite_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd < 0)
		return false;
	/* (the bufferevent keeps the start of its output frozen) */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, fd);
	evbuffer_freeze(out, 1);
	return evbuffer_get_length(out) == 0;
}

bool
eagerwrite_tls_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	ev_ssize_t max = bufferevent_get_max_single_write(bev);

	if (ssl == NULL || !SSL_is_init_finished(ssl) ||
	    SSL_want(ssl) == SSL_WRITING || max <= 0)
		return false;
	/* (a bufferevent_openssl's output is not frozen: a socket one's is) */
	while (evbuffer_get_length(out) > 0) {
		struct evbuffer_iovec v;
		int n;

		/* (the first chain, as do_write's evbuffer_peek sees it) */
		if (evbuffer_peek(out, max, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		ERR_clear_error();
		n = SSL_write(ssl, v.iov_base, (int)v.iov_len);
		if (n <= 0)
			break; /* (left for libevent: it sees the same) */
		evbuffer_drain(out, (size_t)n);
	}
	if (evbuffer_get_length(out) > 0)
		return false;
	/* (the write event queueing added, off again in the same turn) */
	bufferevent_disable(bev, EV_WRITE);
	return true;
}

static void
flush_cb(evutil_socket_t unused, short what, void *arg)
{
	struct eagerwrite *ew = arg;
	struct bufferevent *bev = ew->bev;

	ew->scheduled = false;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		return;
	/*
	 * All of it went: tell the owner, as the bufferevent would have.
	 * Anything else (a partial write, EAGAIN, an error) is left to the
	 * bufferevent's write event, which is on while output is queued.
	 */
	if (eagerwrite_now(bev))
		bufferevent_trigger(bev, EV_WRITE, 0);
}

/* Bytes queued: write them once the callbacks running now are done. */
static void
added_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct eagerwrite *ew = arg;

	if (info->n_added > 0 && !ew->scheduled) {
		ew->scheduled = true;
		event_active(&ew->ev, EV_WRITE, 1);
	}
}

void
eagerwrite_hold(struct eagerwrite *ew)
{
	if (ew == NULL || ew->cbe == NULL || ew->held)
		return;
	ew->held = true;
	evbuffer_cb_clear_flags(
	    bufferevent_get_output(ew->bev), ew->cbe, EVBUFFER_CB_ENABLED);
}

void
eagerwrite_release(struct eagerwrite *ew)
{
	struct evbuffer *out;

	if (ew == NULL || ew->cbe == NULL || !ew->held)
		return;
	ew->held = false;
	out = bufferevent_get_output(ew->bev);
	evbuffer_cb_set_flags(out, ew->cbe, EVBUFFER_CB_ENABLED);
	if (evbuffer_get_length(out) > 0 && !ew->scheduled) {
		ew->scheduled = true;
		event_active(&ew->ev, EV_WRITE, 1);
	}
}

void
eagerwrite_attach(struct eagerwrite *ew, struct bufferevent *bev)
{
	if (ew->cbe != NULL)
		return;
	ew->bev = bev;
	ew->scheduled = ew->held = false;
	event_assign(&ew->ev, bufferevent_get_base(bev), -1, 0, flush_cb, ew);
	ew->cbe = evbuffer_add_cb(bufferevent_get_output(bev), added_cb, ew);
}

void
eagerwrite_detach(struct eagerwrite *ew)
{
	if (ew->cbe == NULL)
		return;
	evbuffer_remove_cb_entry(bufferevent_get_output(ew->bev), ew->cbe);
	ew->cbe = NULL;
	event_del(&ew->ev);
	ew->scheduled = ew->held = false;
}
