/* The page sets a migration keeps (dirty pages, post-copy's pages still to come): a full set
 * has exactly one bit per page of each region (none past a region's end, where a bitmap word
 * runs over), and adding, removing and counting agree. */
#include "vmm/page_set.h"

#include "machine/layout.h"

#include <criterion/criterion.h>

/* RAM that ends inside a bitmap word: 100 MiB + 12 KiB, all below 4 GiB. */
#define RAM_BYTES ((100ULL << 20) + 3 * 4096)

Test(page_set, full_set_counts_each_page_once)
{
	struct guest_memory mem;
	guest_memory_plan(&mem, RAM_BYTES);
	struct page_set set;
	cr_assert_eq(page_set_alloc(&set, &mem), 0);
	cr_assert_eq(page_set_count(&set, &mem), 0);
	page_set_fill(&set, &mem);
	cr_assert_eq(page_set_count(&set, &mem), RAM_BYTES / 4096);
	uint64_t last = RAM_BYTES / 4096 - 1;
	cr_assert(page_set_has(&set, 0, last));
	cr_assert_not(page_set_has(&set, 0, last + 1), "a bit past the region's last page");
	page_set_remove(&set, 0, 7);
	page_set_remove(&set, 0, last);
	cr_assert_eq(page_set_count(&set, &mem), RAM_BYTES / 4096 - 2);
	page_set_clear(&set, &mem);
	page_set_add(&set, 0, 64);
	cr_assert_eq(page_set_count(&set, &mem), 1);
	cr_assert(page_set_has(&set, 0, 64));
	cr_assert_not(page_set_has(&set, 0, 63));
	page_set_free(&set);
}

/* RAM above 4 GiB is a second region with a bitmap of its own. */
Test(page_set, regions_have_their_own_bits)
{
	struct guest_memory mem;
	guest_memory_plan(&mem, LAYOUT_LOW_RAM_END + (8ULL << 20));
	cr_assert_eq(mem.nr_regions, 2);
	struct page_set set;
	cr_assert_eq(page_set_alloc(&set, &mem), 0);
	page_set_add(&set, 1, 5);
	cr_assert(page_set_has(&set, 1, 5));
	cr_assert_not(page_set_has(&set, 0, 5));
	page_set_fill(&set, &mem);
	cr_assert_eq(page_set_count(&set, &mem), (LAYOUT_LOW_RAM_END + (8ULL << 20)) / 4096);
	page_set_free(&set);
}
