/* Whether a 4 KiB page holds only zeroes: snapshots leave such pages out of their memory file
 * and streams out of their sections. ORing the words (no early exit) lets the compiler
 * vectorise it; most pages that are not zero differ early, but those that are must be read
 * whole anyway. */
#ifndef GUREUM_LIB_ZERO_PAGE_H
#define GUREUM_LIB_ZERO_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#define ZERO_PAGE_BYTES 4096

static inline bool page_is_zero(const uint8_t *page)
{
	const uint64_t *words = (const uint64_t *)page;
	uint64_t any = 0;
	for (unsigned i = 0; i < ZERO_PAGE_BYTES / sizeof(*words); i++)
		any |= words[i];
	return any == 0;
}

#endif
