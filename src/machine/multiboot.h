/* Multiboot v1 (the GNU Multiboot Specification 0.6.96): the header a kernel embeds in its
 * first 8 KiB and the information structure the boot loader hands over in %ebx. */
#ifndef GUREUM_MACHINE_MULTIBOOT_H
#define GUREUM_MACHINE_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC	   0x1badb002
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002 /* in %eax at entry */
#define MULTIBOOT_SEARCH_LIMIT	   8192
#define MULTIBOOT_HEADER_ALIGN	   4

/* Header flags. Bits 0-15 are requirements: a loader must refuse ones it does not know. */
#define MULTIBOOT_PAGE_ALIGN	(1U << 0)
#define MULTIBOOT_MEMORY_INFO	(1U << 1)
#define MULTIBOOT_VIDEO_MODE	(1U << 2)
#define MULTIBOOT_REQUIRED_MASK 0xffffU
#define MULTIBOOT_AOUT_KLUDGE	(1U << 16)

/* Info flags. */
#define MULTIBOOT_INFO_MEMORY	   (1U << 0)
#define MULTIBOOT_INFO_CMDLINE	   (1U << 2)
#define MULTIBOOT_INFO_MODS	   (1U << 3)
#define MULTIBOOT_INFO_MEM_MAP	   (1U << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1U << 9)

struct multiboot_header {
	uint32_t magic, flags, checksum;
	/* valid with MULTIBOOT_AOUT_KLUDGE */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 640K, KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};

struct multiboot_module {
	uint32_t mod_start, mod_end; /* [start, end) */
	uint32_t string;
	uint32_t reserved;
};

/* `size` counts the bytes after itself, so that entries can grow. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct multiboot_header) == 32, "multiboot header layout");
_Static_assert(offsetof(struct multiboot_info, mmap_length) == 44, "multiboot info layout");
_Static_assert(offsetof(struct multiboot_info, boot_loader_name) == 64, "multiboot info layout");
_Static_assert(sizeof(struct multiboot_info) == 88, "multiboot info layout");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry layout");

/* Looks for a valid header in the first 8 KiB: 1 with its file offset and contents when found,
 * 0 when there is no trace of one, -1 with `err` set when there is one but it is unusable
 * (bad checksum, beyond the first 8 KiB). */
int multiboot_find_header(const uint8_t *data, size_t size, size_t *offset,
			  struct multiboot_header *header, char *err, size_t err_len);

#endif
