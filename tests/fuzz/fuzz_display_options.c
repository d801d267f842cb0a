/* libFuzzer target: --display's text (display_options.c), which users and VM configuration
 * files (vm.json, a snapshot's config.json, a migration's configuration) feed. Beyond not
 * crashing: what is accepted must come back the same from the text it is written as, since a
 * snapshot or a migration records the display that way and builds it again from it. */
#include "display/display_options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct display_options o, back;
	char err[512], written[1024];
	display_options_init(&o);
	if (display_options_parse(&o, text, err, sizeof(err)) == 0) {
		if (display_options_format(&o, written, sizeof(written)) < 0)
			abort(); /* every accepted text fits: its fields are bounded */
		display_options_init(&back);
		if (display_options_parse(&back, written, err, sizeof(err)) < 0 ||
		    memcmp(&o, &back, sizeof(o)) != 0)
			abort();
	}
	free(text);
	return 0;
}
