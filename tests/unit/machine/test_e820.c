#include "machine/e820.h"
#include "machine/layout.h"

#include <criterion/criterion.h>

static uint64_t ram_total(const struct e820_entry *e, size_t n)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			total += e[i].size;
	return total;
}

static void assert_sorted_disjoint(const struct e820_entry *e, size_t n)
{
	for (size_t i = 1; i < n; i++)
		cr_assert_leq(e[i - 1].addr + e[i - 1].size, e[i].addr, "entry %zu overlaps", i);
}

Test(e820, small_guest_has_low_ram_and_reserved_legacy_hole)
{
	struct guest_memory mem;
	guest_memory_plan(&mem, 256ULL << 20);
	struct e820_entry e[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, e, E820_MAX_ENTRIES);
	assert_sorted_disjoint(e, n);
	cr_assert_eq(e[0].addr, 0);
	cr_assert_eq(e[0].type, E820_RAM);
	cr_assert_eq(e[1].type, E820_RESERVED);
	cr_assert_leq(e[1].addr, LAYOUT_ACPI_START);
	cr_assert_geq(e[1].addr + e[1].size, LAYOUT_ACPI_END);
	/* Only the legacy hole is lost from RAM. */
	cr_assert_eq(ram_total(e, n), (256ULL << 20) - (LAYOUT_HIGH_MEMORY - LAYOUT_EBDA_START));
}

Test(e820, large_guest_continues_above_4g_and_skips_the_pci_hole)
{
	struct guest_memory mem;
	guest_memory_plan(&mem, 6ULL << 30);
	struct e820_entry e[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, e, E820_MAX_ENTRIES);
	assert_sorted_disjoint(e, n);
	const struct e820_entry *last = &e[n - 1];
	cr_assert_eq(last->addr, LAYOUT_RAM_ABOVE_4G);
	cr_assert_eq(last->size, (6ULL << 30) - LAYOUT_LOW_RAM_END);
	for (size_t i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			cr_assert(e[i].addr + e[i].size <= LAYOUT_PCI_MMIO_START ||
				  e[i].addr >= LAYOUT_RAM_ABOVE_4G);
}

Test(e820, ecam_is_reserved)
{
	struct guest_memory mem;
	guest_memory_plan(&mem, 128ULL << 20);
	struct e820_entry e[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, e, E820_MAX_ENTRIES);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= e[i].type == E820_RESERVED && e[i].addr == LAYOUT_PCI_ECAM_START;
	cr_assert(found);
}
