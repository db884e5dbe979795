/*
 * fuzz_config: any bytes as a config file.  The parser must return a
 * config or errors, never crash, leak or hang; a config it accepts must
 * dump to text that loads again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = {0};
	char *text = malloc(size + 1);
	struct config *c;

	memcpy(text, data, size);
	text[size] = '\0';
	c = config_load_string("fuzz.ini", text, NULL, &errs);
	if (c != NULL) {
		struct sbuf dump = {0};
		struct config *again;
		config_dump(c, &dump);
		again = config_load_string("dump.ini", dump.s, NULL, &errs);
		if (again == NULL)
			abort(); /* -t output must load */
		config_unref(again);
		sbuf_free(&dump);
		config_unref(c);
	}
	config_errors_free(&errs);
	free(text);
	return 0;
}
