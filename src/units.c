/*
 * units: durations, sizes, booleans and percentages as the config file
 * writes them.  Numbers are parsed by hand, so the C locale never matters.
 */
#include <stdio.h>
#include <string.h>

#include "units.h"
#include "util.h"

/*
 * Parse "123" or "123.456" at *sp, advancing it.  Returns the value in
 * millionths (fixed point) so "0.1" is exact; -1 on syntax error.
 */
static int
parse_fixed(const char **sp, uint64_t *micro, bool allow_frac)
{
	const char *s = *sp;
	uint64_t ip = 0, fp = 0, scale = 1000000;
	bool digits = false;

	while (*s >= '0' && *s <= '9') {
		if (ip > UINT64_MAX / 10 / 1000000 - 10)
			return -1;
		ip = ip * 10 + (uint64_t)(*s - '0');
		s++;
		digits = true;
	}
	if (*s == '.' && allow_frac) {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return -1;
		while (*s >= '0' && *s <= '9') {
			if (scale > 1) {
				scale /= 10;
				fp += (uint64_t)(*s - '0') * scale;
			}
			s++;
		}
		digits = true;
	}
	if (!digits)
		return -1;
	*micro = ip * 1000000 + fp;
	*sp = s;
	return 0;
}

int
units_parse_duration(const char *s, uint64_t *ms, const char **cause)
{
	uint64_t micro, mult;

	if (parse_fixed(&s, &micro, true) != 0) {
		*cause = "expected a duration such as 100ms, 2s, 5m or 1h";
		return -1;
	}
	while (*s == ' ')
		s++;
	if (*s == '\0' || util_strcasecmp(s, "s") == 0)
		mult = 1000;
	else if (util_strcasecmp(s, "ms") == 0)
		mult = 1;
	else if (util_strcasecmp(s, "m") == 0)
		mult = 60000;
	else if (util_strcasecmp(s, "h") == 0)
		mult = 3600000;
	else {
		*cause = "unknown duration unit (use ms, s, m or h)";
		return -1;
	}
	if (micro > UINT64_MAX / mult) {
		*cause = "duration too large";
		return -1;
	}
	*ms = (micro * mult + 500000) / 1000000;
	return 0;
}

int
units_parse_size(const char *s, uint64_t *bytes, const char **cause)
{
	uint64_t micro, mult = 1;

	if (parse_fixed(&s, &micro, false) != 0) {
		*cause = "expected a size such as 1000, 64K, 16M or 1G";
		return -1;
	}
	while (*s == ' ')
		s++;
	if (*s != '\0') {
		if (s[1] != '\0')
			mult = 0;
		else if (*s == 'k' || *s == 'K')
			mult = 1024;
		else if (*s == 'm' || *s == 'M')
			mult = 1024 * 1024;
		else if (*s == 'g' || *s == 'G')
			mult = 1024 * 1024 * 1024;
		else
			mult = 0;
		if (mult == 0) {
			*cause = "unknown size unit (use K, M or G)";
			return -1;
		}
	}
	micro /= 1000000;
	if (micro > UINT64_MAX / mult) {
		*cause = "size too large";
		return -1;
	}
	*bytes = micro * mult;
	return 0;
}

int
units_parse_bool(const char *s, bool *v, const char **cause)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < RP_NELEM(yes); i++) {
		if (util_strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (util_strcasecmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	*cause = "expected yes/no, true/false, on/off or 1/0";
	return -1;
}

int
units_parse_percent(const char *s, double *v, const char **cause)
{
	uint64_t micro;

	if (parse_fixed(&s, &micro, true) != 0 ||
	    (*s != '\0' && strcmp(s, "%") != 0)) {
		*cause = "expected a percentage such as 20%";
		return -1;
	}
	if (micro > 100 * 1000000ULL) {
		*cause = "a percentage must be between 0% and 100%";
		return -1;
	}
	*v = (double)micro / 1e6;
	return 0;
}

int
units_parse_uint(
    const char *s, uint64_t min, uint64_t max, uint64_t *v, const char **cause)
{
	uint64_t n = 0;
	const char *p = s;

	if (*p == '\0') {
		*cause = "expected a number";
		return -1;
	}
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			*cause = "expected a whole number";
			return -1;
		}
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			*cause = "number too large";
			return -1;
		}
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (n < min || n > max) {
		*cause = "number out of range";
		return -1;
	}
	*v = n;
	return 0;
}

int
units_parse_double(const char *s, double *v, const char **cause)
{
	uint64_t micro;

	if (parse_fixed(&s, &micro, true) != 0 || *s != '\0') {
		*cause = "expected a number such as 2 or 1.5";
		return -1;
	}
	if (micro == 0) {
		*cause = "must be greater than 0";
		return -1;
	}
	*v = (double)micro / 1e6;
	return 0;
}

char *
units_format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}

char *
units_format_size(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "GMK";
	uint64_t div = 1024ULL * 1024 * 1024;
	size_t i;

	for (i = 0; i < 3 && n != 0; i++, div /= 1024) {
		if (n % div == 0) {
			snprintf(buf, len, "%llu%c",
			    (unsigned long long)(n / div), units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)n);
	return buf;
}
