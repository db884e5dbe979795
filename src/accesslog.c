/*
 * accesslog: format an access-log line.  Text lines are space-separated
 * fields with key=value for the optional ones; JSON lines are one object.
 * URLs and other client-supplied strings are escaped so a line can never
 * be split or forged.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"

static void
put_time(uint64_t wall_ms, struct sbuf *out)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	sbuf_printf(out, "%s.%03uZ", buf, (unsigned)(wall_ms % 1000));
}

/* Text: escape space, quote, backslash and non-printables as \xHH. */
static void
put_text(const char *s, struct sbuf *out)
{
	if (s == NULL || *s == '\0') {
		sbuf_puts(out, "-");
		return;
	}
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			sbuf_printf(out, "\\x%02x", c);
		else
			sbuf_add(out, s, 1);
	}
}

static void
put_json(const char *s, struct sbuf *out)
{
	sbuf_puts(out, "\"");
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sbuf_printf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			sbuf_printf(out, "\\u%04x", c);
		else
			sbuf_add(out, s, 1);
	}
	sbuf_puts(out, "\"");
}

/* A comma-separated list as a JSON array of strings. */
static void
put_json_list(const char *r, struct sbuf *out)
{
	sbuf_puts(out, "[");
	while (r != NULL && *r != '\0') {
		const char *comma = strchr(r, ',');
		char item[64];
		size_t n = comma ? (size_t)(comma - r) : strlen(r);
		snprintf(item, sizeof item, "%.*s", (int)n, r);
		put_json(item, out);
		r += n;
		if (*r == ',') {
			r++;
			sbuf_puts(out, ",");
		}
	}
	sbuf_puts(out, "]");
}

void
accesslog_format(const struct access_entry *e, int json, struct sbuf *out)
{
	if (json) {
		sbuf_puts(out, "{\"time\":\"");
		put_time(e->wall_ms, out);
		sbuf_puts(out, "\",\"client\":");
		put_json(e->client, out);
		sbuf_puts(out, ",\"method\":");
		put_json(e->method, out);
		sbuf_puts(out, ",\"url\":");
		put_json(e->url, out);
		sbuf_printf(out,
		    ",\"status\":%d,\"attempts\":%u,\"retries\":", e->status,
		    e->attempts);
		put_json_list(e->retries, out);
		sbuf_printf(out,
		    ",\"duration_ms\":%llu,\"bytes\":%llu,"
		    "\"route\":",
		    (unsigned long long)e->duration_ms,
		    (unsigned long long)e->bytes);
		put_json(e->route, out);
		if (e->tunnel)
			sbuf_printf(out, ",\"bytes_in\":%llu",
			    (unsigned long long)e->bytes_in);
		if (e->error != NULL) {
			sbuf_puts(out, ",\"error\":");
			put_json(e->error, out);
		}
		if (e->conn != NULL) {
			sbuf_puts(out, ",\"conn\":");
			put_json(e->conn, out);
		}
		if (e->held_ms > 0)
			sbuf_printf(out, ",\"held_ms\":%llu",
			    (unsigned long long)e->held_ms);
		if (e->addrs != NULL && *e->addrs != '\0') {
			sbuf_puts(out, ",\"addrs\":");
			put_json_list(e->addrs, out);
		}
		if (e->resumes > 0)
			sbuf_printf(out, ",\"resumes\":%u", e->resumes);
		if (e->hedges > 0)
			sbuf_printf(out, ",\"hedges\":%u,\"hedge_won\":%s",
			    e->hedges, e->hedge_won ? "true" : "false");
		if (e->user != NULL && *e->user != '\0') {
			sbuf_puts(out, ",\"user\":");
			put_json(e->user, out);
		}
		if (e->parent != NULL) {
			sbuf_puts(out, ",\"parent\":");
			put_json(e->parent, out);
		}
		if (e->gateway != NULL) {
			sbuf_puts(out, ",\"gateway\":");
			put_json(e->gateway, out);
		}
		sbuf_puts(out, "}\n");
		return;
	}
	put_time(e->wall_ms, out);
	sbuf_puts(out, " ");
	put_text(e->client, out);
	sbuf_puts(out, " ");
	put_text(e->method, out);
	sbuf_puts(out, " ");
	put_text(e->url, out);
	sbuf_printf(out, " %d attempts=%u retries=", e->status, e->attempts);
	put_text(e->retries, out);
	sbuf_printf(out, " time=%llums bytes=%llu route=",
	    (unsigned long long)e->duration_ms, (unsigned long long)e->bytes);
	put_text(e->route, out);
	if (e->tunnel)
		sbuf_printf(
		    out, " bytes_in=%llu", (unsigned long long)e->bytes_in);
	if (e->error != NULL) {
		sbuf_puts(out, " error=");
		put_text(e->error, out);
	}
	if (e->conn != NULL) {
		sbuf_puts(out, " conn=");
		put_text(e->conn, out);
	}
	if (e->held_ms > 0)
		sbuf_printf(
		    out, " held=%llums", (unsigned long long)e->held_ms);
	if (e->addrs != NULL && *e->addrs != '\0') {
		sbuf_puts(out, " addrs=");
		put_text(e->addrs, out);
	}
	if (e->resumes > 0)
		sbuf_printf(out, " resumes=%u", e->resumes);
	if (e->hedges > 0)
		sbuf_printf(out, " hedges=%u%s", e->hedges,
		    e->hedge_won ? " hedge=won" : "");
	if (e->user != NULL && *e->user != '\0') {
		sbuf_puts(out, " user=");
		put_text(e->user, out);
	}
	if (e->parent != NULL) {
		sbuf_puts(out, " parent=");
		put_text(e->parent, out);
	}
	if (e->gateway != NULL) {
		sbuf_puts(out, " gateway=");
		put_text(e->gateway, out);
	}
	sbuf_puts(out, "\n");
}
