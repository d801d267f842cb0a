/* The Linux x86 boot protocol's "zero page" (struct boot_params) and the setup header inside it,
 * written from Documentation/arch/x86/boot.rst and zero-page.rst. Only the fields a direct-boot
 * loader touches are named; the rest is padding, and the offsets are checked below so that a
 * typo cannot shift a field. */
#ifndef GUREUM_MACHINE_BOOTPARAM_H
#define GUREUM_MACHINE_BOOTPARAM_H

#include "machine/e820.h"

#include <stddef.h>
#include <stdint.h>

#define BOOTPARAM_HDRS_MAGIC	   0x53726448 /* "HdrS" at 0x202 */
#define BOOTPARAM_BOOT_FLAG	   0xaa55     /* at 0x1fe */
#define BOOTPARAM_SETUP_OFFSET	   0x1f1      /* the setup header's offset in file and zero page */
#define BOOTPARAM_HEADER_END_BASE  0x202      /* header ends at 0x202 + the byte at 0x201 */
#define BOOTPARAM_DEFAULT_SECTS	   4	      /* setup_sects == 0 means 4 */
#define BOOTPARAM_SECTOR_SIZE	   512
#define BOOTPARAM_ENTRY64_OFFSET   0x200 /* 64-bit entry: protected-mode kernel start + 0x200 */
#define BOOTPARAM_E820_MAX	   128
#define BOOTPARAM_LOADER_UNDEFINED 0xff

/* loadflags */
#define BOOTPARAM_LOADED_HIGH  0x01
#define BOOTPARAM_CAN_USE_HEAP 0x80

/* xloadflags (protocol 2.12+) */
#define BOOTPARAM_XLF_KERNEL_64		     0x01
#define BOOTPARAM_XLF_CAN_BE_LOADED_ABOVE_4G 0x02

/* Protocol versions at which fields appeared. */
#define BOOTPARAM_VERSION_MIN	     0x0206 /* cmdline_size */
#define BOOTPARAM_VERSION_PREF_ADDR  0x020a /* pref_address, init_size */
#define BOOTPARAM_VERSION_XLOADFLAGS 0x020c
#define BOOTPARAM_VERSION_ACPI_RSDP  0x020e

struct bootparam_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4 */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202 */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238 */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));

struct bootparam_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* screen_info (include/uapi/linux/screen_info.h, zero-page.rst: 0x000, 0x40 bytes): what the
 * firmware's video mode is. Only the linear framebuffer's fields are named. */
#define BOOTPARAM_VIDEO_TYPE_EFI	0x70 /* orig_video_isVGA: an EFI GOP framebuffer */
#define BOOTPARAM_VIDEO_CAP_SKIP_QUIRKS 0x1  /* the values are exact: no DMI fix-ups */
#define BOOTPARAM_VIDEO_CAP_64BIT_BASE	0x2  /* ext_lfb_base holds bits 63:32 */

struct bootparam_screen_info {
	uint8_t pad_00[0x0f];	      /* 0x00: text-mode cursor, page, mode, columns... */
	uint8_t orig_video_isVGA;     /* 0x0f: the kind of display (VIDEO_TYPE_*) */
	uint16_t orig_video_points;   /* 0x10 */
	uint16_t lfb_width;	      /* 0x12: pixels */
	uint16_t lfb_height;	      /* 0x14 */
	uint16_t lfb_depth;	      /* 0x16: bits per pixel */
	uint32_t lfb_base;	      /* 0x18: bits 31:0 of the guest-physical address */
	uint32_t lfb_size;	      /* 0x1c: bytes (for VIDEO_TYPE_EFI) */
	uint16_t cl_magic, cl_offset; /* 0x20 */
	uint16_t lfb_linelength;      /* 0x24: bytes per line */
	uint8_t red_size, red_pos, green_size, green_pos, blue_size, blue_pos, rsvd_size,
	    rsvd_pos;			 /* 0x26 */
	uint16_t vesapm_seg, vesapm_off; /* 0x2e */
	uint16_t pages;			 /* 0x32 */
	uint16_t vesa_attributes;	 /* 0x34 */
	uint32_t capabilities;		 /* 0x36: VIDEO_CAP_* */
	uint32_t ext_lfb_base;		 /* 0x3a: bits 63:32 with VIDEO_CAP_64BIT_BASE */
	uint8_t pad_3e[2];		 /* 0x3e */
} __attribute__((packed));

_Static_assert(sizeof(struct bootparam_screen_info) == 0x40, "screen_info is 0x40 bytes");
_Static_assert(offsetof(struct bootparam_screen_info, orig_video_isVGA) == 0x0f, "screen_info");
_Static_assert(offsetof(struct bootparam_screen_info, lfb_base) == 0x18, "screen_info");
_Static_assert(offsetof(struct bootparam_screen_info, lfb_linelength) == 0x24, "screen_info");
_Static_assert(offsetof(struct bootparam_screen_info, rsvd_pos) == 0x2d, "screen_info");
_Static_assert(offsetof(struct bootparam_screen_info, capabilities) == 0x36, "screen_info");
_Static_assert(offsetof(struct bootparam_screen_info, ext_lfb_base) == 0x3a, "screen_info");

struct boot_params {
	struct bootparam_screen_info screen_info; /* 0x000 */
	uint8_t apm_bios_info[0x14];		  /* 0x040 */
	uint8_t pad_054[4];			  /* 0x054 */
	uint64_t tboot_addr;			  /* 0x058 */
	uint8_t ist_info[0x10];			  /* 0x060 */
	uint64_t acpi_rsdp_addr;		  /* 0x070 */
	uint8_t pad_078[8];			  /* 0x078 */
	uint8_t hd0_info[0x10];			  /* 0x080 */
	uint8_t hd1_info[0x10];			  /* 0x090 */
	uint8_t sys_desc_table[0x10];		  /* 0x0a0 */
	uint8_t olpc_ofw_header[0x10];		  /* 0x0b0 */
	uint32_t ext_ramdisk_image;		  /* 0x0c0 */
	uint32_t ext_ramdisk_size;		  /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;		  /* 0x0c8 */
	uint8_t pad_0cc[0x1e8 - 0xcc];		  /* 0x0cc: edid, efi info, alt_mem_k... */
	uint8_t e820_entries;			  /* 0x1e8 */
	uint8_t pad_1e9[0x1f1 - 0x1e9];		  /* 0x1e9 */
	struct bootparam_setup_header hdr;	  /* 0x1f1 */
	uint8_t pad_26c[0x2d0 - 0x26c];		  /* 0x26c */
	struct bootparam_e820_entry e820_table[BOOTPARAM_E820_MAX]; /* 0x2d0 */
	uint8_t pad_cd0[0x1000 - 0xcd0];			    /* 0xcd0 */
} __attribute__((packed));

_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "zero page layout");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "zero page layout");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr) == BOOTPARAM_SETUP_OFFSET, "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr.header) == 0x202, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.code32_start) == 0x214, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.cmd_line_ptr) == 0x228, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.xloadflags) == 0x236, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.pref_address) == 0x258, "setup header layout");
_Static_assert(offsetof(struct boot_params, hdr.kernel_info_offset) == 0x268, "setup header");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "zero page layout");
_Static_assert(sizeof(struct boot_params) == 0x1000, "the zero page is one page");
_Static_assert(sizeof(struct bootparam_e820_entry) == sizeof(struct e820_entry), "e820 entry");

#endif
