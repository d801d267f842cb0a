/* ELF vmlinux through the PVH entry point: segments at their physical addresses, start_info in
 * the zero page, and a 32-bit flat protected-mode entry at the address the Xen note names. */
#include "machine/boot.h"

#include "machine/boot_common.h"
#include "machine/e820.h"
#include "machine/elf_image.h"
#include "machine/file_image.h"
#include "machine/layout.h"
#include "machine/pvh.h"

#include <string.h>

int pvh_find_entry(const struct elf_image *elf, const uint8_t *data, size_t size, uint32_t *entry,
		   char *err, size_t err_len)
{
	const uint8_t *desc;
	uint32_t desc_size;
	int found = elf_image_find_note(elf, data, size, PVH_NOTE_NAME, PVH_NOTE_PHYS32_ENTRY,
					&desc, &desc_size, err, err_len);
	if (found <= 0)
		return found;
	/* Linux emits a 4-byte value; an 8-byte one is accepted when it fits in 32 bits. */
	uint64_t value = 0;
	if (desc_size == 4) {
		uint32_t v32;
		memcpy(&v32, desc, 4);
		value = v32;
	} else if (desc_size == 8) {
		memcpy(&value, desc, 8);
	} else {
		return boot_fail(err, err_len,
				 "PVH entry note has a %u-byte value (4 or 8 expected)", desc_size);
	}
	if (value > UINT32_MAX)
		return boot_fail(err, err_len, "PVH entry point 0x%llx is above 4 GiB",
				 (unsigned long long)value);
	*entry = (uint32_t)value;
	return 1;
}

static int add_initrd_module(const struct guest_memory *mem, const struct boot_request *req,
			     uint64_t kernel_end, struct boot_scratch *scratch,
			     struct pvh_start_info *info, char *err, size_t err_len)
{
	if (!req->initrd_path)
		return 0;
	struct pvh_modlist_entry module = {0};
	if (boot_load_file_high(mem, req->initrd_path, LAYOUT_HIGH_MEMORY, boot_low_ram_end(mem),
				LAYOUT_HIGH_MEMORY, kernel_end, &module.paddr, &module.size, err,
				err_len) < 0)
		return -1;
	if (!boot_scratch_put(mem, scratch, &module, sizeof(module), 8, &info->modlist_paddr))
		return boot_fail(err, err_len, "no room for the PVH module list");
	info->nr_modules = 1;
	return 0;
}

static int add_memmap(const struct guest_memory *mem, struct boot_scratch *scratch,
		      struct pvh_start_info *info, char *err, size_t err_len)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct pvh_memmap_entry table[E820_MAX_ENTRIES];
	size_t n = e820_build(mem, map, E820_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++)
		table[i] = (struct pvh_memmap_entry){map[i].addr, map[i].size, map[i].type, 0};
	if (!boot_scratch_put(mem, scratch, table, n * sizeof(table[0]), 8, &info->memmap_paddr))
		return boot_fail(err, err_len, "no room for the PVH memory map");
	info->memmap_entries = (uint32_t)n;
	return 0;
}

static int build_start_info(const struct guest_memory *mem, const struct boot_request *req,
			    uint64_t kernel_end, char *err, size_t err_len)
{
	struct pvh_start_info info = {
	    .magic = PVH_START_MAGIC,
	    .version = PVH_START_VERSION,
	    .cmdline_paddr = LAYOUT_CMDLINE,
	    .rsdp_paddr = LAYOUT_ACPI_START,
	};
	struct boot_scratch scratch;
	boot_scratch_init(&scratch);
	if (boot_write_cmdline(mem, req->cmdline, LAYOUT_CMDLINE_MAX - 1, err, err_len) < 0 ||
	    add_initrd_module(mem, req, kernel_end, &scratch, &info, err, err_len) < 0 ||
	    add_memmap(mem, &scratch, &info, err, err_len) < 0)
		return -1;
	if (!guest_memory_write(mem, LAYOUT_ZERO_PAGE, &info, sizeof(info)))
		return boot_fail(err, err_len, "guest RAM too small for the PVH start_info");
	return 0;
}

static int load_image(const struct guest_memory *mem, const struct boot_request *req,
		      const struct file_image *image, struct boot_entry *entry, char *err,
		      size_t err_len)
{
	struct elf_image elf;
	if (elf_image_parse(image->data, image->size, &elf, err, err_len) < 0)
		return -1;
	uint32_t entry_point;
	int found = pvh_find_entry(&elf, image->data, image->size, &entry_point, err, err_len);
	if (found < 0)
		return -1;
	if (found == 0)
		return boot_fail(err, err_len, "%s is an ELF file without a PVH entry note",
				 req->kernel_path);
	uint64_t kernel_end;
	if (elf_image_load(mem, &elf, image->data, image->size, &kernel_end, err, err_len) < 0 ||
	    build_start_info(mem, req, kernel_end, err, err_len) < 0)
		return -1;
	*entry = (struct boot_entry){
	    .format = BOOT_FORMAT_PVH_ELF,
	    .mode = BOOT_MODE_FLAT32,
	    .rip = entry_point,
	    .ebx = (uint32_t)LAYOUT_ZERO_PAGE,
	};
	return 0;
}

int boot_load_pvh(const struct guest_memory *mem, const struct boot_request *req,
		  struct boot_entry *entry, char *err, size_t err_len)
{
	return boot_load_kernel_file(mem, req, load_image, entry, err, err_len);
}
