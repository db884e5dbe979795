/*
 * rawbody: the raw lane's request body (see rawbody.h).  Its framing is
 * reqscan's, its large reads bodyread's, the bound on what all requests
 * hold replaymem's; what to do next is the owner's (enum rawbody_next).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>

#include "bodyread.h"
#include "config.h"
#include "log.h"
#include "msghead.h"
#include "rawbody.h"
#include "replaymem.h"
#include "util.h"
#include "worker.h"

int
rawbody_move(struct reqscan *s, struct evbuffer *in, struct evbuffer *out,
    bool chunk, size_t limit, uint64_t *count)
{
	while (
	    evbuffer_get_length(in) > 0 && evbuffer_get_length(out) < limit) {
		struct evbuffer_iovec v;
		bool data = reqscan_in_data(s);
		ssize_t n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = reqscan_feed_step(s, v.iov_base, v.iov_len);
		if (n < 0)
			return -1;
		if (data && n > 0) {
			if (chunk)
				evbuffer_add_printf(out, "%zx\r\n", (size_t)n);
			evbuffer_remove_buffer(in, out, (size_t)n);
			if (chunk)
				evbuffer_add(out, "\r\n", 2);
			*count += (uint64_t)n;
		} else
			evbuffer_drain(in, (size_t)n);
		if (s->msg_done) {
			if (chunk)
				evbuffer_add(out, "0\r\n\r\n", 5);
			return 1;
		}
	}
	return 0;
}

/*
 * The client sent all of its request.  Its read timeout stays (it is the
 * next request's, and the idle limit's): while the client waits quietly
 * for a slow response, the relay's client_event_cb lets it pass.  (Taking
 * it off here and putting it back at the end re-added both timers for
 * every request.)
 */
static void
rawbody_complete(struct rawbody *rb)
{
	rb->done = true;
	if (rb->read.on) {
		/* (what follows is the next request's: libevent's reads do) */
		bodyread_stop(&rb->read);
		if (!rb->eof)
			bufferevent_enable(rb->cbev, EV_READ);
	}
}

void
rawbody_start(struct rawbody *rb, struct bufferevent *cbev,
    const struct config *cfg, const struct msghead *req,
    const struct reqscan *scan)
{
	rb->cbev = cbev;
	rb->cfg = cfg;
	rb->req = req;
	rb->scan = *scan;
	if (scan->chunked) {
		/* held while it fits (it may end early), else streamed */
		rb->mode = RAWBODY_HELD;
	} else if (scan->has_cl && reqscan_body_left(scan) > 0) {
		rb->declared = reqscan_body_left(scan);
		rb->mode = RAWBODY_LENGTH;
		if (rb->declared <= cfg->proxy.max_request_body) {
			/* held whole, while all held bodies fit max_buffered */
			if (replaymem_reserve(
				rb->declared, cfg->proxy.max_buffered)) {
				rb->reserved = rb->declared;
				rb->mode = RAWBODY_HELD;
			} else
				replaymem_warn(cfg->proxy.max_buffered);
		}
	} else {
		rb->mode = RAWBODY_NONE;
		rawbody_complete(rb);
	}
	/* (none for a request without a body: most of them) */
	if (rb->mode != RAWBODY_NONE)
		rb->held = evbuffer_new();
	if (rb->mode != RAWBODY_NONE && req->minor != 0) {
		const char *ex = msghead_get(req, "Expect");
		if (ex != NULL && util_strcasecmp(ex, "100-continue") == 0)
			/* the body is ours to read (as on evhttp's lane) */
			bufferevent_write(
			    cbev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
}

enum rawbody_next
rawbody_begin(struct rawbody *rb)
{
	if (!rb->done && rb->mode == RAWBODY_HELD) {
		/*
		 * A body to hold is most likely here already (with its head,
		 * or in the socket): held from here, read here, without an
		 * event -- bodyread's, and the bufferevent's own reading off
		 * and on again, were ~1.5k instructions a POST (callgrind).
		 * What has not come yet, or a read that fails, is read (and
		 * met) as ever, below.
		 */
		enum rawbody_next next = rawbody_hold(rb);
		uint64_t left = reqscan_body_left(&rb->scan);

		if (next == RAWBODY_CONTINUE && !rb->eof &&
		    bodyread_now(rb->cbev,
			left > 0 && left < BODYREAD_MAX ? (size_t)left
							: BODYREAD_MAX) > 0)
			next = rawbody_hold(rb);
		/* (one outgrown, streamed: read by bodyread, below) */
		if (next == RAWBODY_REFUSED || rb->done)
			return next;
	}
	if (!rb->done) {
		struct timeval tv = rp_tv(rb->cfg->proxy.client_timeout_ms);
		bodyread_start(&rb->read, rb->cbev, &tv, NULL, NULL);
		/*
		 * (a body held whole is read at once; a streamed one as
		 * the origin takes it, spliced once it is connected)
		 */
		if (rb->mode == RAWBODY_HELD)
			bodyread_kick(&rb->read);
	}
	if (rb->mode == RAWBODY_HELD)
		return rawbody_hold(rb);
	if (rb->mode == RAWBODY_LENGTH && log_debug_enabled())
		log_debug("%s %s: body over max_request_body: streamed",
		    rb->req->method, rb->req->target);
	return RAWBODY_SEND;
}

/* Hold the body (dechunked) while it fits; send once it is whole. */
enum rawbody_next
rawbody_hold(struct rawbody *rb)
{
	struct evbuffer *in = bufferevent_get_input(rb->cbev);
	const struct config *cfg = rb->cfg;
	bool overflow = false;

	while (evbuffer_get_length(in) > 0 && !rb->done) {
		struct evbuffer_iovec v;
		bool data = reqscan_in_data(&rb->scan);
		ssize_t n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		n = reqscan_feed_step(&rb->scan, v.iov_base, v.iov_len);
		if (n < 0)
			return RAWBODY_REFUSED;
		if (data && rb->declared == 0) {
			/* a chunked body: taken from max_buffered as it grows */
			if (replaymem_reserve(
				(uint64_t)n, cfg->proxy.max_buffered))
				rb->reserved += (uint64_t)n;
			else
				overflow = true;
		}
		if (data)
			evbuffer_remove_buffer(in, rb->held, (size_t)n);
		else
			evbuffer_drain(in, (size_t)n);
		if (rb->scan.msg_done)
			rawbody_complete(rb);
		if (overflow ||
		    (!rb->done &&
			evbuffer_get_length(rb->held) >
			    cfg->proxy.max_request_body)) {
			/* it outgrows the replay buffer: stream the rest */
			if (overflow)
				replaymem_warn(cfg->proxy.max_buffered);
			if (log_debug_enabled())
				log_debug("%s %s: chunked body over "
					  "max_request_body or max_buffered: "
					  "streamed",
				    rb->req->method, rb->req->target);
			rb->mode = RAWBODY_CHUNKED;
			return RAWBODY_SEND;
		}
	}
	if (rb->done) {
		rb->mode = RAWBODY_HELD;
		return RAWBODY_SEND;
	}
	return RAWBODY_CONTINUE;
}

enum rawbody_next
rawbody_stream(struct rawbody *rb, struct evbuffer *out, size_t limit)
{
	int rc;

	if (rb->done || !rawbody_is_streamed(rb))
		return RAWBODY_CONTINUE;
	rc = rawbody_move(&rb->scan, bufferevent_get_input(rb->cbev), out,
	    rb->mode == RAWBODY_CHUNKED, limit, &rb->bytes_up);
	if (rc < 0)
		return RAWBODY_REFUSED;
	if (rc == 1)
		rawbody_complete(rb);
	else if (evbuffer_get_length(out) >= limit) {
		/* the origin reads slowly: stop reading the client */
		rb->paused = true;
		bodyread_reading(&rb->read, rb->cbev, false);
		return RAWBODY_FULL;
	}
	return RAWBODY_CONTINUE;
}

void
rawbody_resume(struct rawbody *rb)
{
	rb->paused = false;
	if (!rb->eof)
		bodyread_reading(&rb->read, rb->cbev, true);
}

void
rawbody_frame(const struct rawbody *rb, struct msghead_out *mo)
{
	switch (rb->mode) {
	case RAWBODY_NONE:
		mo->body = MSGHEAD_NO_BODY;
		break;
	case RAWBODY_HELD:
		mo->body = MSGHEAD_LENGTH;
		mo->length = evbuffer_get_length(rb->held);
		break;
	case RAWBODY_LENGTH:
		mo->body = MSGHEAD_LENGTH;
		mo->length = rb->declared;
		break;
	case RAWBODY_CHUNKED:
		mo->body = MSGHEAD_CHUNKED;
		break;
	}
}

void
rawbody_add_held(struct rawbody *rb, struct evbuffer *out)
{
	if (rb->mode == RAWBODY_HELD)
		/* a reference: the body stays for another attempt */
		evbuffer_add_buffer_reference(out, rb->held);
	else if (rb->held != NULL && evbuffer_get_length(rb->held) > 0) {
		/* what was held before the body outgrew the buffer */
		size_t n = evbuffer_get_length(rb->held);
		evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_add_buffer(out, rb->held);
		evbuffer_add(out, "\r\n", 2);
		rb->bytes_up += n;
		if (rb->done)
			evbuffer_add(out, "0\r\n\r\n", 5);
		/* (streamed from here on: nothing is held any more) */
		replaymem_release(rb->reserved);
		rb->reserved = 0;
	}
}

bool
rawbody_is_streamed(const struct rawbody *rb)
{
	return rb->mode == RAWBODY_LENGTH || rb->mode == RAWBODY_CHUNKED;
}

void
rawbody_eof(struct rawbody *rb)
{
	rb->eof = true;
	bodyread_stop(&rb->read);
	bufferevent_disable(rb->cbev, EV_READ);
}

bool
rawbody_is_cut(const struct rawbody *rb)
{
	return rb->eof && !rb->done &&
	    evbuffer_get_length(bufferevent_get_input(rb->cbev)) == 0;
}

void
rawbody_spliced(struct rawbody *rb, uint64_t n)
{
	if (n == 0)
		return; /* (none: nothing was spliced) */
	rb->bytes_up += n;
	reqscan_body_taken(&rb->scan, n);
	if (rb->scan.msg_done && !rb->done)
		rawbody_complete(rb);
}

void
rawbody_stop(struct rawbody *rb)
{
	bodyread_stop(&rb->read);
}

void
rawbody_free(struct rawbody *rb)
{
	bodyread_stop(&rb->read);
	if (rb->held != NULL) {
		evbuffer_free(rb->held);
		rb->held = NULL;
	}
	replaymem_release(rb->reserved);
	rb->reserved = 0;
}
