/* ELF32/ELF64 kernels (vmlinux for PVH, multiboot ELF kernels): header and program header
 * parsing with every offset and size checked against the file, note lookup, and loading of
 * PT_LOAD segments at their physical addresses. */
#ifndef GUREUM_MACHINE_ELF_IMAGE_H
#define GUREUM_MACHINE_ELF_IMAGE_H

#include "machine/guest_memory.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_IMAGE_MAX_SEGMENTS 64

struct elf_segment {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct elf_image {
	bool is64;
	uint64_t entry;
	size_t nr_segments;
	struct elf_segment segments[ELF_IMAGE_MAX_SEGMENTS];
};

/* True when `data` starts with the ELF magic (whatever else is wrong with it). */
bool elf_image_is_elf(const uint8_t *data, size_t size);

/* Parses a little-endian x86 ELF executable's headers; -1 with `err` set when malformed. */
int elf_image_parse(const uint8_t *data, size_t size, struct elf_image *elf, char *err,
		    size_t err_len);

/* Looks for note (`name`, `type`) in the PT_NOTE segments: 1 and its descriptor when found,
 * 0 when absent, -1 when a note segment is malformed. */
int elf_image_find_note(const struct elf_image *elf, const uint8_t *data, size_t size,
			const char *name, uint32_t type, const uint8_t **desc, uint32_t *desc_size,
			char *err, size_t err_len);

/* Copies the PT_LOAD segments to their p_paddr (zero-filling up to p_memsz) after checking all
 * of them: inside the file, inside guest RAM, at or above 1 MiB (below it live the boot
 * structures), not overlapping one another. `end` gets the highest loaded address + 1. */
int elf_image_load(const struct guest_memory *mem, const struct elf_image *elf, const uint8_t *data,
		   size_t size, uint64_t *end, char *err, size_t err_len);

/* Physical address of virtual address `vaddr` through the PT_LOAD segment containing it (ELF
 * entry points are virtual); `vaddr` itself when no segment contains it. */
uint64_t elf_image_virt_to_phys(const struct elf_image *elf, uint64_t vaddr);

#endif
