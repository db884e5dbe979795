/*
 * resume: finishing a broken download.  When the body of a GET's 200
 * breaks after some of it reached the client, the rest may be asked for
 * with "Range: bytes=N-" and "If-Range: <validator>" (RFC 9110 sections
 * 14.2 and 13.1.5) and spliced into the client's response -- but only
 * when the answer is provably the rest of the same bytes: a 206 whose
 * Content-Range starts at N and ends at the original's last byte, under
 * the same strong validator (section 8.8.1).  Anything else leaves the
 * client's response truncated, as it would be without resume.  Pure:
 * header values in, a verdict (NULL, or why not) out; attempt.c does the
 * I/O (retryproxy.ini(5), resume).
 */
#ifndef RP_RESUME_H
#define RP_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#define RESUME_LENGTH_UNKNOWN UINT64_MAX

/* What a broken response needs to be resumed. */
struct resume {
	char *validator; /* the strong ETag, or the Last-Modified (owned) */
	bool by_etag;
	uint64_t total; /* the complete length, or RESUME_LENGTH_UNKNOWN */
	unsigned count; /* continuations spliced in */
};

/*
 * The response head fields (NULL: absent) a resume depends on, as the
 * client received them.
 */
struct resume_head {
	int status;
	const char *etag, *last_modified, *date, *accept_ranges;
	const char *content_length; /* NULL for a chunked body */
};

/*
 * May this response be resumed if its body breaks (the request was a
 * GET, without a Range of its own)?  NULL when it may, with *validator
 * pointing at the field to send in If-Range and *by_etag saying which;
 * else why not ("no strong validator", ...).
 */
const char *resume_eligible(
    const struct resume_head *, const char **validator, bool *by_etag);

/*
 * Is the answer to "Range: bytes=offset-" the rest of the same object
 * (r: the original's validator and length)?  NULL when it is, with
 * *total the complete length it gives; else why not.
 */
const char *resume_accept(const struct resume *r, uint64_t offset,
    const struct resume_head *answer, const char *content_range,
    uint64_t *total);

/*
 * resume_eligible for h, and when it may be resumed, r takes the
 * validator (a copy), which one it is, and the complete length (from
 * h's Content-Length, else RESUME_LENGTH_UNKNOWN).  NULL, or why not.
 */
const char *resume_begin(struct resume *r, const struct resume_head *h);

/* Free what r owns and clear it. */
void resume_clear(struct resume *r);

#endif
