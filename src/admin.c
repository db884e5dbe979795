/*
 * admin: GET /metrics, /healthz and /config (see admin.h).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "metrics.h"

static struct evhttp *g_admin;
static const struct admin_ops *g_ops;

static void
admin_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct sbuf *body)
{
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(buf, body->s ? body->s : "", body->len);
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
}

static void
admin_cb(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct sbuf body = {0};
	size_t n = strcspn(uri, "?");

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		sbuf_puts(&body, "only GET\n");
		admin_reply(
		    req, 405, "Method Not Allowed", "text/plain", &body);
	} else if (n == 8 && strncmp(uri, "/metrics", n) == 0) {
		struct metrics_gauges g = {0};
		g_ops->gauges(&g);
		metrics_render(&g, &body);
		admin_reply(req, 200, "OK", "text/plain; version=0.0.4", &body);
	} else if (n == 8 && strncmp(uri, "/healthz", n) == 0) {
		bool stopping = g_ops->stopping();
		sbuf_puts(&body, stopping ? "stopping\n" : "ok\n");
		admin_reply(req, stopping ? 503 : 200,
		    stopping ? "Service Unavailable" : "OK", "text/plain",
		    &body);
	} else if (n == 7 && strncmp(uri, "/config", n) == 0) {
		g_ops->dump_config(&body);
		admin_reply(req, 200, "OK", "text/plain", &body);
	} else {
		sbuf_puts(&body,
		    "retryproxy admin: /metrics, /healthz, "
		    "/config\n");
		admin_reply(req, 404, "Not Found", "text/plain", &body);
	}
	sbuf_free(&body);
}

int
admin_start(struct event_base *base, const struct listen_addr *la,
    const struct admin_ops *ops)
{
	struct evconnlistener *l;

	g_ops = ops;
	g_admin = evhttp_new(base);
	evhttp_set_gencb(g_admin, admin_cb, NULL);
	/* (other methods reach admin_cb, for its 405, not evhttp's) */
	evhttp_set_allowed_methods(g_admin,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	l = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    64, (const struct sockaddr *)&la->ss, (int)la->sslen);
	if (l == NULL) {
		log_warn("cannot listen on admin address %s", la->text);
		return -1;
	}
	evhttp_bind_listener(g_admin, l);
	log_info("admin endpoints on http://%s/ (metrics, healthz, config)",
	    la->text);
	return 0;
}

void
admin_stop(void)
{
	if (g_admin != NULL)
		evhttp_free(g_admin);
	g_admin = NULL;
}
