/*
 * resume: may a broken response be finished, and is an answer its rest
 * (see resume.h).
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "resume.h"
#include "util.h"

/* A strong entity-tag: "opaque" (RFC 9110 section 8.8.3), not W/"..." */
static bool
etag_is_strong(const char *t)
{
	size_t n = strlen(t);

	if (n < 2 || t[0] != '"' || t[n - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (t[i] == '"' || (unsigned char)t[i] < 0x21 ||
		    (unsigned char)t[i] == 0x7f)
			return false;
	return true;
}

/* A Content-Length value: digits only (one value; evhttp checked it). */
static int
parse_length(const char *s, uint64_t *n)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' ||
		    v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*n = v;
	return 0;
}

const char *
resume_eligible(
    const struct resume_head *h, const char **validator, bool *by_etag)
{
	int64_t lm, date;

	if (h->status != 200)
		return "not a 200";
	if (h->accept_ranges != NULL &&
	    http_list_has_token(h->accept_ranges, "none"))
		return "Accept-Ranges: none";
	if (h->etag != NULL) {
		/*
		 * With an ETag, If-Range may not carry a date instead (RFC
		 * 9110 section 13.1.5): a weak one ends it here.
		 */
		if (!etag_is_strong(h->etag))
			return h->etag[0] == 'W' && h->etag[1] == '/'
			    ? "a weak ETag"
			    : "a malformed ETag";
		*validator = h->etag;
		*by_etag = true;
		return NULL;
	}
	if (h->last_modified == NULL)
		return "no validator (ETag or Last-Modified)";
	/* strong only when at least 1 s older than Date (section 8.8.2.2) */
	if (h->date == NULL || http_parse_date(h->last_modified, &lm) != 0 ||
	    http_parse_date(h->date, &date) != 0 || lm + 1 > date)
		return "Last-Modified is not a strong validator";
	*validator = h->last_modified;
	*by_etag = false;
	return NULL;
}

const char *
resume_accept(const struct resume *r, uint64_t offset,
    const struct resume_head *a, const char *content_range, uint64_t *total)
{
	uint64_t first, last, complete, len;
	int64_t t1, t2;

	if (a->status == 200)
		return "the range was answered 200 (ignored, or the object "
		       "changed)";
	if (a->status == 416)
		return "the range was answered 416";
	if (a->status != 206)
		return "the range was not answered 206";
	if (content_range == NULL ||
	    http_parse_content_range(content_range, &first, &last, &complete) !=
		0)
		return "a 206 without a valid Content-Range";
	if (first != offset)
		return "a 206 that starts at another byte";
	if (complete == HTTP_LENGTH_UNKNOWN)
		return "a 206 without the complete length";
	if (r->total != RESUME_LENGTH_UNKNOWN && complete != r->total)
		return "a 206 of another length";
	if (last != complete - 1)
		return "a 206 that ends before the last byte";
	if (a->content_length != NULL &&
	    (parse_length(a->content_length, &len) != 0 ||
		len != last - first + 1))
		return "a 206 whose Content-Length is not its range";
	if (r->by_etag) {
		/* strong comparison (RFC 9110 section 8.8.3.2) */
		if (a->etag == NULL || strcmp(a->etag, r->validator) != 0)
			return "a 206 with another ETag";
	} else if (a->last_modified == NULL ||
	    http_parse_date(a->last_modified, &t1) != 0 ||
	    http_parse_date(r->validator, &t2) != 0 || t1 != t2)
		return "a 206 with another Last-Modified";
	*total = complete;
	return NULL;
}

const char *
resume_begin(struct resume *r, const struct resume_head *h)
{
	const char *v, *why;
	bool by_etag;

	if ((why = resume_eligible(h, &v, &by_etag)) != NULL)
		return why;
	r->validator = xstrdup(v);
	r->by_etag = by_etag;
	r->total = h->content_length != NULL
	    ? strtoull(h->content_length, NULL, 10)
	    : RESUME_LENGTH_UNKNOWN;
	return NULL;
}

void
resume_clear(struct resume *r)
{
	free(r->validator);
	memset(r, 0, sizeof *r);
}
