/*
 * resphold: the holding buffer in front of evhttp's response parser (see
 * resphold.h).  Runs as an evbuffer callback on the connection's input,
 * so it sees each read before the bufferevent's read callback (evhttp)
 * does.  Moving bytes between the two buffers re-enters the callback;
 * those calls are ours and are ignored.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "resphold.h"
#include "scanbuf.h"

static void
verdict_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resphold *h = arg;

	if (h->refused_cb != NULL)
		h->refused_cb(&h->scan, h->arg);
}

/* Feed the scan the last n bytes of held; returns -1 when refused. */
static int
scan_tail(struct resphold *h, size_t n)
{
	struct evbuffer_cb_info info = {.n_added = n};

	return scanbuf_feed_added(&h->scan, h->held, &info);
}

/*
 * The scan refused the head: swallow it and whatever follows, and tell
 * the owner from the loop (not from inside the read).
 */
static void
refuse(struct resphold *h)
{
	h->refused = true;
	h->waiting = false;
	evbuffer_drain(h->held, evbuffer_get_length(h->held));
	event_active(&h->verdict_ev, EV_TIMEOUT, 1);
}

/*
 * Heads in held are complete from the front: drop the interim ones, stop
 * at a final one (handing everything back to evhttp) or at an incomplete
 * one (wait for more).
 */
static void
settle(struct resphold *h)
{
	while (reqscan_is_tunnel(&h->scan)) {
		int status = h->scan.resp_status;
		uint64_t len = h->scan.head_bytes;

		if (status >= 200 || status == 101) {
			/* final (101 is the owner's to judge): evhttp's now */
			h->waiting = false;
			h->moving = true;
			evbuffer_prepend_buffer(h->input, h->held);
			h->moving = false;
			return;
		}
		/* 100, 102, 103 or another 1xx: not the response */
		h->interim++;
		evbuffer_drain(h->held, (size_t)len);
		reqscan_init_response(&h->scan, h->scan.max_head);
		if (scan_tail(h, evbuffer_get_length(h->held)) != 0) {
			refuse(h);
			return;
		}
	}
}

static void
input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct resphold *h = arg;
	size_t n = info->n_added;

	if (h->moving || n == 0)
		return;
	if (h->refused) {
		/* (the owner ends the exchange at the next loop turn) */
		h->moving = true;
		evbuffer_drain(buf, evbuffer_get_length(buf));
		h->moving = false;
		return;
	}
	if (!h->waiting)
		return;
	/*
	 * Everything in the input is this response's: nothing is left
	 * between exchanges (resphold_is_clean), and held bytes were all
	 * taken from the front of it.
	 */
	h->moving = true;
	n = evbuffer_get_length(buf);
	evbuffer_add_buffer(h->held, buf);
	h->moving = false;
	if (scan_tail(h, n) != 0)
		refuse(h);
	else
		settle(h);
}

void
resphold_attach(
    struct resphold *h, struct event_base *base, struct evbuffer *input)
{
	memset(h, 0, sizeof *h);
	h->input = input;
	if ((h->held = evbuffer_new()) == NULL)
		abort(); /* (out of memory, as util's allocators) */
	event_assign(&h->verdict_ev, base, -1, 0, verdict_cb, h);
	h->cbe = evbuffer_add_cb(input, input_cb, h);
}

void
resphold_detach(struct resphold *h)
{
	if (h->held == NULL)
		return;
	event_del(&h->verdict_ev);
	if (h->cbe != NULL)
		evbuffer_remove_cb_entry(h->input, h->cbe);
	evbuffer_free(h->held);
	h->held = NULL;
	h->cbe = NULL;
}

void
resphold_expect(struct resphold *h, uint64_t max_head,
    void (*refused_cb)(const struct reqscan *, void *), void *arg)
{
	reqscan_init_response(&h->scan, max_head);
	h->waiting = true;
	h->refused = false;
	h->interim = 0;
	h->refused_cb = refused_cb;
	h->arg = arg;
}

void
resphold_owner(struct resphold *h,
    void (*refused_cb)(const struct reqscan *, void *), void *arg)
{
	h->refused_cb = refused_cb;
	h->arg = arg;
}

void
resphold_cancel(struct resphold *h)
{
	event_del(&h->verdict_ev);
	h->refused_cb = NULL;
	h->arg = NULL;
}

bool
resphold_is_clean(const struct resphold *h)
{
	return !h->waiting && !h->refused &&
	    evbuffer_get_length(h->held) == 0 &&
	    evbuffer_get_length(h->input) == 0;
}
