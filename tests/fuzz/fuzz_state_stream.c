/* libFuzzer target: the saved-VM stream reader (lib/state_stream.c), which a snapshot file or
 * a migration socket feeds. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so section
 * checksums are not enforced and mutations reach the section parsers. A stream the check
 * accepts is walked, its records parsed, its memory sections loaded and walked page by page
 * (as post-copy places them) and its pending sections read bit by bit: nothing may read or
 * write outside the input and the section's own range. */
#include "lib/state_stream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A post-copy placement that reads the whole page it is given. */
static int touch_page(void *opaque, uint64_t gpa, const uint8_t *page)
{
	(void)gpa;
	if (page)
		memcpy(opaque, page, 4096);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_stream stream;
	char err[256];
	if (state_stream_check(data, size, &stream, err, sizeof(err)) < 0)
		return 0;
	struct state_section section;
	while (state_stream_next(&stream, &section)) {
		if (section.kind == STREAM_RECORDS) {
			struct state_record rec;
			for (size_t pos = 0; pos < section.length &&
					     state_record_parse(section.payload, section.length,
								&pos, &rec, err, sizeof(err)) == 0;)
				;
			continue;
		}
		uint64_t gpa, bytes;
		if (section.kind == STREAM_PENDING) {
			state_stream_memory_range(&section, &gpa, &bytes);
			for (uint32_t i = 0; i <= bytes / 4096; i++)
				state_stream_pending_page(&section, i);
			continue;
		}
		if (section.kind != STREAM_MEMORY && section.kind != STREAM_PAGES)
			continue; /* a configuration: JSON, parsed by jansson */
		static uint8_t page[4096];
		state_stream_each_page(&section, touch_page, page, err, sizeof(err));
		state_stream_memory_range(&section, &gpa, &bytes);
		uint8_t *ram = malloc(bytes);
		if (ram)
			state_stream_load_memory(&section, ram, bytes, err, sizeof(err));
		free(ram);
	}
	return 0;
}
