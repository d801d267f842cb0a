/* The PVH boot ABI (Xen's arch/x86/hvm/start_info.h, as used by Linux, QEMU and Firecracker):
 * the ELF note that names the 32-bit entry point and the start_info structure handed over in
 * %ebx. Written from the public Xen interface documentation. */
#ifndef GUREUM_MACHINE_PVH_H
#define GUREUM_MACHINE_PVH_H

#include "machine/elf_image.h"

#include <stddef.h>
#include <stdint.h>

#define PVH_NOTE_NAME	      "Xen"
#define PVH_NOTE_PHYS32_ENTRY 18 /* XEN_ELFNOTE_PHYS32_ENTRY */
#define PVH_START_MAGIC	      0x336ec578
#define PVH_START_VERSION     1 /* version 1 added the memory map */

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct pvh_start_info) == 56, "start_info v1 is 56 bytes");
_Static_assert(offsetof(struct pvh_start_info, memmap_paddr) == 40, "start_info layout");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "modlist entry is 32 bytes");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "memmap entry is 24 bytes");

/* Finds the PVH entry point of an ELF kernel (used by format detection and the loader): 1 and
 * the 32-bit entry when the note is there, 0 when it is not, -1 when it is malformed. */
int pvh_find_entry(const struct elf_image *elf, const uint8_t *data, size_t size, uint32_t *entry,
		   char *err, size_t err_len);

#endif
