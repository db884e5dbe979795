/*
 * scanbuf: reqscan over an evbuffer's newly added bytes (see scanbuf.h).
 */
#include <event2/buffer.h>

#include "scanbuf.h"

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
