/*
 * upreq: the request sent upstream for a client request, attempt by
 * attempt: the target's Host, the end-to-end fields (hop-by-hop ones,
 * every Connection field's names included, left out), Via, the attempt
 * header and the replayed body; for a resume, the range of the rest.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fields.h"
#include "http.h"
#include "preq.h"
#include "upreq.h"
#include "util.h"

void
upreq_build(struct preq *p, struct evhttp_request *ureq, const char *host,
    unsigned port, bool https)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(p->creq);
	struct evkeyvalq *out = evhttp_request_get_output_headers(ureq);
	struct evbuffer *body = evhttp_request_get_input_buffer(p->creq);
	char *owned;
	const char *conn = fields_list(in, "Connection", &owned);
	const char *ah = p->pol->attempt_header;
	struct evkeyval *kv;
	char buf[320];
	size_t len = evbuffer_get_length(body);

	/* the target's authority wins over any Host the client sent */
	http_host_value(buf, sizeof buf, host, port, https);
	evhttp_add_header(out, "Host", buf);
	TAILQ_FOREACH(kv, in, next)
	{
		if (http_is_hop_by_hop(kv->key, conn) ||
		    util_strcasecmp(kv->key, "Host") == 0 ||
		    util_strcasecmp(kv->key, "Content-Length") == 0 ||
		    util_strcasecmp(kv->key, "Expect") == 0 ||
		    util_strcasecmp(kv->key, "X-Retry-Attempts") == 0 ||
		    (p->xff != NULL &&
			util_strcasecmp(kv->key, "X-Forwarded-For") == 0) ||
		    (p->fwd != NULL &&
			util_strcasecmp(kv->key, "Forwarded") == 0) ||
		    (*ah != '\0' && util_strcasecmp(kv->key, ah) == 0) ||
		    (p->resuming && util_strcasecmp(kv->key, "If-Range") == 0))
			continue;
		evhttp_add_header(out, kv->key, kv->value);
	}
	if (p->resuming) {
		/* the rest of the same object, or all of a changed one */
		snprintf(buf, sizeof buf, "bytes=%llu-",
		    (unsigned long long)p->bytes);
		evhttp_add_header(out, "Range", buf);
		evhttp_add_header(out, "If-Range", p->resume.validator);
	}
	if (p->xff != NULL)
		evhttp_add_header(out, "X-Forwarded-For", p->xff);
	if (p->fwd != NULL)
		evhttp_add_header(out, "Forwarded", p->fwd);
	if (p->cfg->proxy.via)
		evhttp_add_header(
		    out, "Via", http_via(p->creq->major, p->creq->minor));
	/* (the client's own Proxy-Authorization is hop-by-hop: dropped) */
	if (p->dial.parent != NULL && p->pol->parent_auth[0] != '\0')
		evhttp_add_header(
		    out, "Proxy-Authorization", p->pol->parent_auth);
	if (*ah != '\0') {
		snprintf(buf, sizeof buf, "%u", p->dial.attempt);
		evhttp_add_header(out, ah, buf);
	}
	if (len > 0 || p->cmd == EVHTTP_REQ_POST || p->cmd == EVHTTP_REQ_PUT ||
	    p->cmd == EVHTTP_REQ_PATCH) {
		snprintf(buf, sizeof buf, "%zu", len);
		evhttp_add_header(out, "Content-Length", buf);
	}
	if (len > 0)
		evbuffer_add_buffer_reference(
		    evhttp_request_get_output_buffer(ureq), body);
	free(owned);
}
