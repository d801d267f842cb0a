/* Pieces every kernel loader needs: error reporting, placing files in guest RAM, the scratch
 * area for boot tables and strings, and the command line. Internal to the loaders. */
#ifndef GUREUM_MACHINE_BOOT_COMMON_H
#define GUREUM_MACHINE_BOOT_COMMON_H

#include "machine/boot.h"
#include "machine/file_image.h"
#include "machine/guest_memory.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_PAGE_SIZE 4096ULL

/* Formats one sentence into `err` and returns -1, so loaders can `return boot_fail(...)`. */
int boot_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* End of the RAM region that starts at 0 (never above the PCI hole): where boot payloads that
 * 32-bit code must reach can go. */
uint64_t boot_low_ram_end(const struct guest_memory *mem);

/* Highest page-aligned start for `size` bytes inside [floor, ceiling) that does not overlap
 * [avoid_start, avoid_end); false when there is no such place. */
bool boot_place_high(uint64_t floor, uint64_t ceiling, uint64_t size, uint64_t avoid_start,
		     uint64_t avoid_end, uint64_t *gpa);

/* Reads file `path` (an initrd) into guest RAM as high as boot_place_high() allows. */
int boot_load_file_high(const struct guest_memory *mem, const char *path, uint64_t floor,
			uint64_t ceiling, uint64_t avoid_start, uint64_t avoid_end, uint64_t *gpa,
			uint64_t *size, char *err, size_t err_len);

/* Reads file `path` into guest RAM at `gpa`; the file must end at or below `ceiling`. */
int boot_load_file_at(const struct guest_memory *mem, const char *path, uint64_t gpa,
		      uint64_t ceiling, uint64_t *size, char *err, size_t err_len);

/* Bump allocator over LAYOUT_BOOT_SCRATCH..LAYOUT_CMDLINE for boot tables and strings. */
struct boot_scratch {
	uint64_t next, end;
};

void boot_scratch_init(struct boot_scratch *scratch);
/* Copies `len` bytes to the next `align`-aligned free spot; false when the area is full. */
bool boot_scratch_put(const struct guest_memory *mem, struct boot_scratch *scratch,
		      const void *data, size_t len, uint64_t align, uint64_t *gpa);

/* Writes `cmdline` (NULL means "") NUL-terminated at LAYOUT_CMDLINE; refuses one longer than
 * `max_len` characters or than the area holds. */
int boot_write_cmdline(const struct guest_memory *mem, const char *cmdline, uint64_t max_len,
		       char *err, size_t err_len);

/* A format's loader working on the kernel file already in memory. */
typedef int (*boot_image_loader)(const struct guest_memory *mem, const struct boot_request *req,
				 const struct file_image *image, struct boot_entry *entry,
				 char *err, size_t err_len);

/* Reads req->kernel_path (size-limited) and hands it to `loader`. */
int boot_load_kernel_file(const struct guest_memory *mem, const struct boot_request *req,
			  boot_image_loader loader, struct boot_entry *entry, char *err,
			  size_t err_len);

#endif
