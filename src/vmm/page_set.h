/* A set of guest RAM pages: a bit per 4 KiB page of each region (bit i of bits[r][i / 64] for
 * page i of region r), as KVM's dirty log and the device-write log hand them out. A migration
 * keeps what the guest wrote since the last round in one, and post-copy what the destination
 * still lacks. */
#ifndef GUREUM_VMM_PAGE_SET_H
#define GUREUM_VMM_PAGE_SET_H

#include "machine/guest_memory.h"

#include <stdbool.h>
#include <stdint.h>

struct page_set {
	uint64_t *bits[GUEST_MEMORY_MAX_REGIONS];
};

/* An empty set for mem's regions: 0, or -1 (out of memory; page_set_free still applies). */
int page_set_alloc(struct page_set *set, const struct guest_memory *mem);
void page_set_free(struct page_set *set);
void page_set_fill(struct page_set *set, const struct guest_memory *mem);
void page_set_clear(struct page_set *set, const struct guest_memory *mem);
uint64_t page_set_count(const struct page_set *set, const struct guest_memory *mem);

static inline bool page_set_has(const struct page_set *set, unsigned region, uint64_t page)
{
	return (set->bits[region][page / 64] >> (page % 64)) & 1;
}

static inline void page_set_add(struct page_set *set, unsigned region, uint64_t page)
{
	set->bits[region][page / 64] |= 1ULL << (page % 64);
}

static inline void page_set_remove(struct page_set *set, unsigned region, uint64_t page)
{
	set->bits[region][page / 64] &= ~(1ULL << (page % 64));
}

#endif
