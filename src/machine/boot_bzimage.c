/* Linux bzImage through the 64-bit boot protocol: the real-mode setup code is never run; we load
 * only the protected-mode kernel, fill the zero page the setup code would have built, and enter
 * at startup_64 (load address + 0x200) in long mode. */
#include "machine/boot.h"

#include "machine/boot_common.h"
#include "machine/bootparam.h"
#include "machine/e820.h"
#include "machine/file_image.h"
#include "machine/layout.h"

#include <string.h>

/* The setup code's heap ends at this offset (minus 0x200) inside its 64 KiB segment; the value
 * every loader uses for a setup segment with a full 64 KiB. */
#define BZIMAGE_HEAP_END 0xfe00
/* initrd_addr_max before protocol 2.03 filled it in; still the safe default. */
#define BZIMAGE_DEFAULT_INITRD_MAX 0x37ffffffULL

struct bzimage {
	struct bootparam_setup_header hdr;
	const uint8_t *kernel; /* the protected-mode part */
	uint64_t kernel_size;
	uint64_t footprint; /* bytes the kernel occupies once running (init_size) */
	uint64_t load_addr;
};

static int read_setup_header(const struct file_image *image, struct bzimage *bz, char *err,
			     size_t err_len)
{
	const uint8_t *d = image->data;
	if (image->size < BOOTPARAM_HEADER_END_BASE + 4 || memcmp(d + 0x202, "HdrS", 4) != 0 ||
	    d[0x1fe] != 0x55 || d[0x1ff] != 0xaa)
		return boot_fail(err, err_len, "not a bzImage: no \"HdrS\" setup header signature");
	uint64_t end = BOOTPARAM_HEADER_END_BASE + d[0x201];
	if (end > image->size)
		return boot_fail(err, err_len,
				 "bzImage truncated: file ends inside the setup header (%zu bytes)",
				 image->size);
	uint64_t copy = end - BOOTPARAM_SETUP_OFFSET;
	if (copy > sizeof(bz->hdr))
		copy = sizeof(bz->hdr); /* newer fields than we know: keep the ones we know */
	memset(&bz->hdr, 0, sizeof(bz->hdr));
	memcpy(&bz->hdr, d + BOOTPARAM_SETUP_OFFSET, copy);
	return 0;
}

static int check_protocol(const struct bootparam_setup_header *hdr, char *err, size_t err_len)
{
	if (hdr->version < BOOTPARAM_VERSION_MIN)
		return boot_fail(err, err_len,
				 "bzImage uses boot protocol %u.%02u; 2.06 or newer is required",
				 hdr->version >> 8, hdr->version & 0xff);
	if (!(hdr->loadflags & BOOTPARAM_LOADED_HIGH))
		return boot_fail(
		    err, err_len,
		    "kernel is a zImage (loads below 1 MiB); only bzImage is supported");
	if (hdr->version < BOOTPARAM_VERSION_XLOADFLAGS ||
	    !(hdr->xloadflags & BOOTPARAM_XLF_KERNEL_64))
		return boot_fail(err, err_len,
				 "bzImage has no 64-bit entry point (XLF_KERNEL_64 not set, "
				 "protocol %u.%02u); a 64-bit kernel is required",
				 hdr->version >> 8, hdr->version & 0xff);
	return 0;
}

static int locate_kernel(const struct file_image *image, struct bzimage *bz, char *err,
			 size_t err_len)
{
	uint64_t sects = bz->hdr.setup_sects ? bz->hdr.setup_sects : BOOTPARAM_DEFAULT_SECTS;
	uint64_t offset = (sects + 1) * BOOTPARAM_SECTOR_SIZE;
	if (offset >= image->size)
		return boot_fail(err, err_len,
				 "bzImage setup_sects (%u) points past the end of the file "
				 "(%zu bytes): truncated or corrupt",
				 bz->hdr.setup_sects, image->size);
	bz->kernel = image->data + offset;
	bz->kernel_size = image->size - offset;
	bz->footprint = bz->kernel_size;
	if (bz->hdr.version >= BOOTPARAM_VERSION_PREF_ADDR && bz->hdr.init_size > bz->footprint)
		bz->footprint = bz->hdr.init_size;
	return 0;
}

static bool fits_at(uint64_t addr, uint64_t size, uint64_t ram_end)
{
	return addr >= LAYOUT_HIGH_MEMORY && addr <= ram_end && size <= ram_end - addr;
}

/* The kernel's preferred address avoids a relocation in the decompressor; 1 MiB is where
 * every bzImage can start. */
static int choose_load_addr(const struct guest_memory *mem, struct bzimage *bz, char *err,
			    size_t err_len)
{
	uint64_t ram_end = boot_low_ram_end(mem);
	uint64_t pref = bz->hdr.pref_address;
	if (bz->hdr.relocatable_kernel && bz->hdr.version >= BOOTPARAM_VERSION_PREF_ADDR &&
	    fits_at(pref, bz->footprint, ram_end) && pref <= UINT32_MAX) {
		bz->load_addr = pref;
		return 0;
	}
	if (!fits_at(LAYOUT_HIGH_MEMORY, bz->footprint, ram_end))
		return boot_fail(err, err_len,
				 "guest RAM too small: the kernel needs %llu KiB from 1 MiB "
				 "(init_size) but low RAM ends at 0x%llx",
				 (unsigned long long)(bz->footprint >> 10),
				 (unsigned long long)ram_end);
	bz->load_addr = LAYOUT_HIGH_MEMORY;
	return 0;
}

static int load_initrd(const struct guest_memory *mem, const struct boot_request *req,
		       const struct bzimage *bz, struct boot_params *bp, char *err, size_t err_len)
{
	if (!req->initrd_path)
		return 0;
	uint64_t max =
	    bz->hdr.initrd_addr_max ? bz->hdr.initrd_addr_max : BZIMAGE_DEFAULT_INITRD_MAX;
	uint64_t ceiling = boot_low_ram_end(mem);
	if (max + 1 < ceiling)
		ceiling = max + 1; /* initrd_addr_max is the last byte the initrd may use */
	uint64_t gpa, size;
	if (boot_load_file_high(mem, req->initrd_path, LAYOUT_HIGH_MEMORY, ceiling, bz->load_addr,
				bz->load_addr + bz->footprint, &gpa, &size, err, err_len) < 0)
		return -1;
	bp->hdr.ramdisk_image = (uint32_t)gpa;
	bp->hdr.ramdisk_size = (uint32_t)size;
	bp->ext_ramdisk_image = (uint32_t)(gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(size >> 32);
	return 0;
}

static void fill_memory_info(const struct guest_memory *mem, const struct bzimage *bz,
			     struct boot_params *bp)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(mem, map, E820_MAX_ENTRIES);
	for (size_t i = 0; i < n && i < BOOTPARAM_E820_MAX; i++)
		memcpy(&bp->e820_table[i], &map[i], sizeof(map[i]));
	bp->e820_entries = (uint8_t)n;
	if (bz->hdr.version >= BOOTPARAM_VERSION_ACPI_RSDP)
		bp->acpi_rsdp_addr = LAYOUT_ACPI_START;
}

static int build_zero_page(const struct guest_memory *mem, const struct boot_request *req,
			   const struct bzimage *bz, char *err, size_t err_len)
{
	struct boot_params bp;
	memset(&bp, 0, sizeof(bp));
	bp.hdr = bz->hdr;
	bp.hdr.type_of_loader = BOOTPARAM_LOADER_UNDEFINED;
	bp.hdr.loadflags |= BOOTPARAM_LOADED_HIGH | BOOTPARAM_CAN_USE_HEAP;
	bp.hdr.heap_end_ptr = BZIMAGE_HEAP_END;
	bp.hdr.code32_start = (uint32_t)bz->load_addr;
	bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	bp.ext_cmd_line_ptr = (uint32_t)(LAYOUT_CMDLINE >> 32);
	uint64_t cmdline_max = bz->hdr.cmdline_size ? bz->hdr.cmdline_size : 255;
	if (boot_write_cmdline(mem, req->cmdline, cmdline_max, err, err_len) < 0)
		return -1;
	if (load_initrd(mem, req, bz, &bp, err, err_len) < 0)
		return -1;
	fill_memory_info(mem, bz, &bp);
	boot_fill_screen_info(&bp.screen_info, req->framebuffer);
	if (!guest_memory_write(mem, LAYOUT_ZERO_PAGE, &bp, sizeof(bp)))
		return boot_fail(err, err_len, "guest RAM too small for the zero page");
	return 0;
}

static int load_image(const struct guest_memory *mem, const struct boot_request *req,
		      const struct file_image *image, struct boot_entry *entry, char *err,
		      size_t err_len)
{
	struct bzimage bz;
	if (read_setup_header(image, &bz, err, err_len) < 0 ||
	    check_protocol(&bz.hdr, err, err_len) < 0 ||
	    locate_kernel(image, &bz, err, err_len) < 0 ||
	    choose_load_addr(mem, &bz, err, err_len) < 0)
		return -1;
	if (!guest_memory_write(mem, bz.load_addr, bz.kernel, bz.kernel_size))
		return boot_fail(err, err_len, "kernel does not fit in guest RAM");
	if (build_zero_page(mem, req, &bz, err, err_len) < 0)
		return -1;
	*entry = (struct boot_entry){
	    .format = BOOT_FORMAT_BZIMAGE,
	    .mode = BOOT_MODE_LONG64,
	    .rip = bz.load_addr + BOOTPARAM_ENTRY64_OFFSET,
	    .rsi = LAYOUT_ZERO_PAGE,
	};
	return 0;
}

int boot_load_bzimage(const struct guest_memory *mem, const struct boot_request *req,
		      struct boot_entry *entry, char *err, size_t err_len)
{
	return boot_load_kernel_file(mem, req, load_image, entry, err, err_len);
}
