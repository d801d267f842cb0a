#include "machine/e820.h"

#include "machine/layout.h"

static size_t add_entry(struct e820_entry *out, size_t count, size_t max, uint64_t addr,
			uint64_t size, uint32_t type)
{
	if (size == 0 || count >= max)
		return count;
	out[count] = (struct e820_entry){.addr = addr, .size = size, .type = type};
	return count + 1;
}

size_t e820_build(const struct guest_memory *mem, struct e820_entry *out, size_t max)
{
	size_t n = 0;
	const struct guest_region *low = &mem->regions[0];
	uint64_t low_end = low->gpa + low->size;
	/* Below 1 MiB: conventional memory up to the EBDA, then the legacy hole holding the
	 * ACPI tables. Guests scan 0xe0000..0xfffff for the RSDP, so it must not be RAM. */
	uint64_t conventional_end = low_end < LAYOUT_EBDA_START ? low_end : LAYOUT_EBDA_START;
	n = add_entry(out, n, max, 0, conventional_end, E820_RAM);
	if (low_end > LAYOUT_EBDA_START)
		n = add_entry(out, n, max, LAYOUT_EBDA_START,
			      LAYOUT_HIGH_MEMORY - LAYOUT_EBDA_START, E820_RESERVED);
	if (low_end > LAYOUT_HIGH_MEMORY)
		n = add_entry(out, n, max, LAYOUT_HIGH_MEMORY, low_end - LAYOUT_HIGH_MEMORY,
			      E820_RAM);
	/* The ECAM window must be reserved in e820 or Linux refuses MMCONFIG ("not reserved"). */
	n = add_entry(out, n, max, LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE, E820_RESERVED);
	for (unsigned i = 1; i < mem->nr_regions; i++)
		if (!mem->regions[i].device) /* the guest hears of that from virtio-mem */
			n = add_entry(out, n, max, mem->regions[i].gpa, mem->regions[i].size,
				      E820_RAM);
	return n;
}
