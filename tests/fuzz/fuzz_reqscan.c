/*
 * fuzz_reqscan: the request front end -- bytes in, the proxy's decision
 * out.  The first byte picks a chunk size; the verdict must not depend on
 * how the bytes are split, nor on the fast path over runs of ordinary
 * bytes (the bytewise path must agree), and a refusal must be sticky with
 * a status of 400, 431 or 501.
 */
#include <stdint.h>
#include <stdlib.h>

#include "reqscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run(const uint8_t *data, size_t size, size_t step, struct reqscan *s)
{
	reqscan_init(s, 4096);
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (reqscan_feed(s, (const char *)data + off, n) != 0)
			return s->status;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reqscan a, b, c;
	size_t step;
	int va, vb, vc;

	if (size == 0)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	va = run(data + 1, size - 1, size, &a);
	vb = run(data + 1, size - 1, step, &b);
	reqscan_fast_path(false);
	vc = run(data + 1, size - 1, size, &c);
	reqscan_fast_path(true);
	if (va != vb || va != vc)
		abort();
	if (va == 0 &&
	    (a.state != c.state || a.head_bytes != c.head_bytes ||
		a.llen != c.llen || a.colon != c.colon))
		abort();
	/* what the last head decided: its framing, Host, Upgrade */
	if (va == 0 &&
	    (a.has_cl != c.has_cl || a.chunked != c.chunked ||
		a.nhost != c.nhost || a.upgrade != c.upgrade ||
		a.conn_upgrade != c.conn_upgrade ||
		reqscan_body_left(&a) != reqscan_body_left(&c) ||
		reqscan_body_left(&a) != reqscan_body_left(&b)))
		abort();
	if (va != 0 && va != 400 && va != 431 && va != 501)
		abort();
	if (va != 0 && reqscan_feed(&a, "GET / HTTP/1.1\r\n\r\n", 18) != -1)
		abort();
	return 0;
}
