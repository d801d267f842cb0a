/* Kernel loaders: put a kernel (and initrd/modules, command line, boot information) into guest
 * RAM and say how the boot vCPU must start. Formats: Linux bzImage (64-bit boot protocol),
 * ELF vmlinux with a PVH entry note, multiboot v1. Every field read from the file is validated;
 * a bad file yields -1 and one clear sentence in `err`. */
#ifndef GUREUM_MACHINE_BOOT_H
#define GUREUM_MACHINE_BOOT_H

#include "accel/vcpu_state.h"
#include "machine/guest_memory.h"

#include <stddef.h>
#include <stdint.h>

enum boot_format { BOOT_FORMAT_BZIMAGE, BOOT_FORMAT_PVH_ELF, BOOT_FORMAT_MULTIBOOT };

enum boot_mode {
	BOOT_MODE_LONG64, /* 64-bit mode, identity-mapped 4 GiB, flat segments (Linux 64-bit) */
	BOOT_MODE_FLAT32, /* 32-bit protected mode, paging off, flat segments (PVH, multiboot) */
};

struct boot_entry {
	enum boot_format format;
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi; /* LONG64: guest-physical address of boot_params */
	uint32_t eax; /* FLAT32: multiboot magic 0x2badb002 */
	uint32_t ebx; /* FLAT32: start_info (PVH) or multiboot info address */
};

/* A linear framebuffer as firmware leaves one set up: 32 bits per pixel, XRGB8888 (blue in the
 * lowest byte), `stride` bytes per line, at guest-physical `base` outside RAM. */
struct boot_framebuffer {
	uint64_t base;
	uint32_t width, height, stride;
};

struct boot_request {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none. For multiboot, a comma-separated module list
				  * (each "path[ args]"), as QEMU's -initrd. */
	const char *cmdline;	 /* NULL means "" */
	/* NULL: no display. Linux learns of it through boot_params' screen_info (bzImage only:
	 * PVH's start_info and multiboot v1 as loaded here carry no video information). */
	const struct boot_framebuffer *framebuffer;
};

/* Fills a zero page's screen_info so that Linux's sysfb creates an "efi-framebuffer" device
 * (efifb then binds, and fbcon with it); all zeroes without `fb` (no display). */
struct bootparam_screen_info;
void boot_fill_screen_info(struct bootparam_screen_info *si, const struct boot_framebuffer *fb);

/* Identifies the file's format; -1 with `err` set when it is none we boot. */
int boot_detect_format(const char *path, enum boot_format *format, char *err, size_t err_len);

/* Loads everything and fills `entry`. The e820 map and the ACPI RSDP address handed to the
 * kernel come from e820_build() and LAYOUT_ACPI_START. */
int boot_load(const struct guest_memory *mem, const struct boot_request *req,
	      struct boot_entry *entry, char *err, size_t err_len);

/* Per-format loaders (boot_load dispatches to these). */
int boot_load_bzimage(const struct guest_memory *mem, const struct boot_request *req,
		      struct boot_entry *entry, char *err, size_t err_len);
int boot_load_pvh(const struct guest_memory *mem, const struct boot_request *req,
		  struct boot_entry *entry, char *err, size_t err_len);
int boot_load_multiboot(const struct guest_memory *mem, const struct boot_request *req,
			struct boot_entry *entry, char *err, size_t err_len);

/* Builds the boot vCPU's register state for `entry`: writes the flat GDT (and for LONG64 the
 * identity page tables) into guest RAM and fills `state`, starting from vcpu_state_reset(). */
int boot_setup_vcpu(const struct guest_memory *mem, const struct boot_entry *entry,
		    struct vcpu_state *state);

#endif
