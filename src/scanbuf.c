/*
 * scanbuf: reqscan over an evbuffer's newly added bytes (see scanbuf.h).
 */
#include <event2/buffer.h>
#include <stdlib.h>

#include "scanbuf.h"
#include "util.h"

int
scanbuf_feed_added(struct reqscan *s, struct evbuffer *buf,
    const struct evbuffer_cb_info *info)
{
	struct evbuffer_iovec vec[8];
	struct evbuffer_ptr ptr;
	size_t left = info->n_added;

	if (left == 0 ||
	    evbuffer_ptr_set(buf, &ptr, evbuffer_get_length(buf) - left,
		EVBUFFER_PTR_SET) != 0)
		return 0;
	while (left > 0 && !reqscan_is_tunnel(s)) {
		int n = evbuffer_peek(buf, (ev_ssize_t)left, &ptr, vec, 8);
		if (n <= 0)
			break;
		for (int i = 0; i < n && i < 8 && left > 0; i++) {
			size_t k =
			    vec[i].iov_len < left ? vec[i].iov_len : left;
			if (reqscan_feed(s, vec[i].iov_base, k) != 0)
				return -1;
			left -= k;
			evbuffer_ptr_set(buf, &ptr, k, EVBUFFER_PTR_ADD);
		}
	}
	return 0;
}

int
scanbuf_feed_strip(struct reqscan *s, struct evbuffer *buf,
    struct evbuffer_cb_entry *cbe, size_t n)
{
	struct reqscan before = *s;
	struct evbuffer_cb_info info = {.n_added = n};
	struct evbuffer *keep;
	char *tail, *out;
	ssize_t m;

	if (scanbuf_feed_added(s, buf, &info) != 0)
		return -1;
	if (s->nexts == before.nexts)
		return 0;
	/* (rare) take the new bytes off the end and put them back stripped */
	tail = xmalloc(n);
	out = xmalloc(n);
	keep = evbuffer_new();
	if (cbe != NULL)
		evbuffer_cb_clear_flags(buf, cbe, EVBUFFER_CB_ENABLED);
	evbuffer_remove_buffer(buf, keep, evbuffer_get_length(buf) - n);
	evbuffer_remove(buf, tail, n);
	evbuffer_add_buffer(buf, keep);
	*s = before;
	m = reqscan_strip_ext(s, tail, n, out);
	if (m > 0)
		evbuffer_add(buf, out, (size_t)m);
	if (cbe != NULL)
		evbuffer_cb_set_flags(buf, cbe, EVBUFFER_CB_ENABLED);
	evbuffer_free(keep);
	free(tail);
	free(out);
	return m < 0 ? -1 : 0;
}
