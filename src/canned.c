/*
 * canned: hand-written replies (see canned.h).
 */
#include <string.h>

#include "canned.h"

const char *
canned_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 508:
		return "Loop Detected";
	default:
		return "Error";
	}
}

void
canned_format(struct sbuf *out, int status, const char *token,
    unsigned attempts, int flags, const char *body)
{
	sbuf_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n",
	    status, canned_reason(status));
	if (token != NULL && attempts > 0)
		sbuf_printf(out,
		    "Proxy-Status: retryproxy; error=%s; details=\"%u "
		    "attempt%s\"\r\n",
		    token, attempts, attempts == 1 ? "" : "s");
	else if (token != NULL)
		sbuf_printf(
		    out, "Proxy-Status: retryproxy; error=%s\r\n", token);
	if (flags & CANNED_ATTEMPTS)
		sbuf_printf(out, "X-Retry-Attempts: %u\r\n", attempts);
	if (flags & CANNED_AUTH)
		sbuf_puts(out, "Proxy-Authenticate: " CANNED_CHALLENGE "\r\n");
	if (flags & CANNED_VIA)
		sbuf_puts(out, "Via: 1.1 retryproxy\r\n");
	sbuf_printf(out, "Content-Length: %zu\r\n%s\r\n%s", strlen(body),
	    flags & CANNED_CLOSE ? "Connection: close\r\n" : "", body);
}

void
canned_format_later(struct sbuf *out, int status, unsigned retry_after_s,
    const char *proxy_status, int flags, const char *body)
{
	sbuf_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Retry-After: %u\r\nProxy-Status: %s\r\n",
	    status, canned_reason(status), retry_after_s, proxy_status);
	if (flags & CANNED_VIA)
		sbuf_puts(out, "Via: 1.1 retryproxy\r\n");
	sbuf_printf(out, "Content-Length: %zu\r\n%s\r\n%s", strlen(body),
	    flags & CANNED_CLOSE ? "Connection: close\r\n" : "", body);
}
