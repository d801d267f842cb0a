/* libFuzzer target: the saved-VM stream reader (lib/state_stream.c), which a snapshot file or
 * a migration socket feeds. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so section
 * checksums are not enforced and mutations reach the section parsers. A stream the check
 * accepts is walked, its records parsed and its memory sections loaded: nothing may read or
 * write outside the input and the section's own range. */
#include "lib/state_stream.h"

#include <stdint.h>
#include <stdlib.h>

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
		if (section.kind != STREAM_MEMORY && section.kind != STREAM_PAGES)
			continue; /* a configuration: JSON, parsed by jansson */
		uint64_t gpa, bytes;
		state_stream_memory_range(&section, &gpa, &bytes);
		uint8_t *ram = malloc(bytes);
		if (ram)
			state_stream_load_memory(&section, ram, bytes, err, sizeof(err));
		free(ram);
	}
	return 0;
}
