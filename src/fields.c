/*
 * fields: joining repeated header fields (see fields.h).  The common case,
 * a field given once, costs no allocation.
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "fields.h"
#include "util.h"

const char *
fields_list(const struct evkeyvalq *h, const char *name, char **owned)
{
	const struct evkeyval *kv, *first = NULL;
	size_t len = 0, n = 0;
	char *s;

	*owned = NULL;
	TAILQ_FOREACH(kv, h, next)
	{
		if (util_strcasecmp(kv->key, name) != 0)
			continue;
		if (first == NULL)
			first = kv;
		len += strlen(kv->value) + 2;
		n++;
	}
	if (n <= 1)
		return first != NULL ? first->value : NULL;
	s = xmalloc(len + 1);
	s[0] = '\0';
	TAILQ_FOREACH(kv, h, next)
	{
		if (util_strcasecmp(kv->key, name) != 0)
			continue;
		if (s[0] != '\0')
			strcat(s, ", ");
		strcat(s, kv->value);
	}
	*owned = s;
	return s;
}
