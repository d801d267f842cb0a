/* The BIOS-style physical memory map handed to the guest (boot_params, PVH, multiboot). */
#ifndef GUREUM_MACHINE_E820_H
#define GUREUM_MACHINE_E820_H

#include "machine/guest_memory.h"

#include <stddef.h>
#include <stdint.h>

enum e820_type { E820_RAM = 1, E820_RESERVED = 2, E820_ACPI = 3, E820_NVS = 4 };

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_MAX_ENTRIES 8

/* Fills `out` (capacity `max`) with sorted, non-overlapping entries; returns the count. */
size_t e820_build(const struct guest_memory *mem, struct e820_entry *out, size_t max);

#endif
