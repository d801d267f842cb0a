/* A set of guest RAM pages (page_set.h). */
#include "vmm/page_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BYTES 4096u

int page_set_alloc(struct page_set *set, const struct guest_memory *mem)
{
	*set = (struct page_set){0};
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (!(set->bits[i] =
			  calloc(guest_region_bitmap_words(&mem->regions[i]), sizeof(uint64_t))))
			return -1;
	return 0;
}

void page_set_free(struct page_set *set)
{
	for (unsigned i = 0; i < GUEST_MEMORY_MAX_REGIONS; i++)
		free(set->bits[i]);
	*set = (struct page_set){0};
}

/* Every page of every region (bits past a region's last page stay clear). */
void page_set_fill(struct page_set *set, const struct guest_memory *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		uint64_t pages = mem->regions[i].size / 4096, words = pages / 64;
		memset(set->bits[i], 0xff, words * sizeof(uint64_t));
		if (pages % 64)
			set->bits[i][words] = (1ULL << (pages % 64)) - 1;
	}
}

void page_set_clear(struct page_set *set, const struct guest_memory *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		memset(set->bits[i], 0,
		       guest_region_bitmap_words(&mem->regions[i]) * sizeof(uint64_t));
}

uint64_t page_set_count(const struct page_set *set, const struct guest_memory *mem)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < mem->nr_regions; i++)
		for (uint64_t w = 0; w < guest_region_bitmap_words(&mem->regions[i]); w++)
			n += (uint64_t)__builtin_popcountll(set->bits[i][w]);
	return n;
}

int page_set_add_pending(struct page_set *set, const struct guest_memory *mem,
			 const struct state_section *section, char *err, size_t err_len)
{
	uint64_t gpa, size;
	state_stream_memory_range(section, &gpa, &size);
	for (unsigned r = 0; r < mem->nr_regions; r++) {
		const struct guest_region *reg = &mem->regions[r];
		if (gpa < reg->gpa || gpa - reg->gpa > reg->size ||
		    size > reg->size - (gpa - reg->gpa))
			continue;
		uint64_t first = (gpa - reg->gpa) / PAGE_BYTES;
		for (uint32_t i = 0; i < size / PAGE_BYTES; i++)
			if (state_stream_pending_page(section, i))
				page_set_add(set, r, first + i);
		return 0;
	}
	snprintf(err, err_len, "pending guest memory at 0x%llx is outside this VM's RAM",
		 (unsigned long long)gpa);
	return -1;
}

int page_set_write_pending(const struct page_set *set, const struct guest_memory *mem,
			   struct state_out *out, char *err, size_t err_len)
{
	int rc = 0;
	for (unsigned r = 0; rc == 0 && r < mem->nr_regions; r++)
		rc = state_stream_write_pending(out, mem->regions[r].gpa, mem->regions[r].size,
						set->bits[r], err, err_len);
	return rc;
}
