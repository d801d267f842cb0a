/* A set of guest RAM pages: a bit per 4 KiB page of each region (bit i of bits[r][i / 64] for
 * page i of region r), as KVM's dirty log and the device-write log hand them out. A migration
 * keeps what the guest wrote since the last round in one, and post-copy what the destination
 * still lacks. */
#ifndef GUREUM_VMM_PAGE_SET_H
#define GUREUM_VMM_PAGE_SET_H

#include "lib/state_stream.h"
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

/* A post-copy's PENDING section (lib/state_stream.h) into the set: its pages added. 0, or -1
 * with err when its range is not within one of mem's regions. */
int page_set_add_pending(struct page_set *set, const struct guest_memory *mem,
			 const struct state_section *section, char *err, size_t err_len);
/* The set as PENDING sections, one per region. 0, or -1 with err. */
int page_set_write_pending(const struct page_set *set, const struct guest_memory *mem,
			   struct state_out *out, char *err, size_t err_len);

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
