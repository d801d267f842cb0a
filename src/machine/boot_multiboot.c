/* Multiboot v1 kernels: ELF images or the "a.out kludge" (load addresses in the header), with
 * modules, in 32-bit flat protected mode with the multiboot magic in %eax. */
#include "machine/boot.h"

#include "lib/log.h"
#include "machine/boot_common.h"
#include "machine/e820.h"
#include "machine/elf_image.h"
#include "machine/file_image.h"
#include "machine/layout.h"
#include "machine/multiboot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MULTIBOOT_MAX_MODULES 64
#define MULTIBOOT_LOADER_NAME "gureum"

/* Where the kernel landed. */
struct mb_kernel {
	uint64_t entry;
	uint64_t end;
};

static int check_flags(uint32_t flags, char *err, size_t err_len)
{
	uint32_t known = MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_VIDEO_MODE;
	uint32_t unknown = flags & MULTIBOOT_REQUIRED_MASK & ~known;
	if (unknown)
		return boot_fail(err, err_len,
				 "multiboot kernel requires features gureum does not provide "
				 "(header flags 0x%x)",
				 unknown);
	/* A video mode is a request, not a requirement: the kernel gets no framebuffer info
	 * and keeps the text console. */
	if (flags & MULTIBOOT_VIDEO_MODE)
		log_warn(
		    "multiboot kernel asks for a video mode; ignored, no framebuffer is set up");
	return 0;
}

/* The a.out kludge: the header says where its own bytes go, which places the whole image. */
static int load_aout_kludge(const struct guest_memory *mem, const struct file_image *image,
			    size_t header_offset, const struct multiboot_header *h,
			    struct mb_kernel *kernel, char *err, size_t err_len)
{
	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > header_offset)
		return boot_fail(err, err_len,
				 "multiboot header_addr 0x%x and load_addr 0x%x do not match the "
				 "header's place in the file",
				 h->header_addr, h->load_addr);
	uint64_t file_start = header_offset - (h->header_addr - h->load_addr);
	uint64_t available = image->size - file_start;
	uint64_t load_size =
	    h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : available;
	if (h->load_end_addr && (h->load_end_addr <= h->load_addr || load_size > available))
		return boot_fail(err, err_len,
				 "multiboot load_end_addr 0x%x is outside the file's data",
				 h->load_end_addr);
	uint64_t mem_end = (uint64_t)h->load_addr + load_size;
	if (h->bss_end_addr && h->bss_end_addr < mem_end)
		return boot_fail(err, err_len, "multiboot bss_end_addr 0x%x is below load_end_addr",
				 h->bss_end_addr);
	if (h->bss_end_addr)
		mem_end = h->bss_end_addr;
	if (h->load_addr < LAYOUT_HIGH_MEMORY ||
	    !guest_memory_ptr(mem, h->load_addr, mem_end - h->load_addr))
		return boot_fail(
		    err, err_len,
		    "multiboot kernel (0x%x..0x%llx) must lie in guest RAM above 1 MiB",
		    h->load_addr, (unsigned long long)mem_end);
	if (h->entry_addr < h->load_addr || h->entry_addr >= h->load_addr + load_size)
		return boot_fail(err, err_len,
				 "multiboot entry_addr 0x%x is outside the loaded image",
				 h->entry_addr);
	uint8_t *dst = guest_memory_ptr(mem, h->load_addr, mem_end - h->load_addr);
	memcpy(dst, image->data + file_start, load_size);
	memset(dst + load_size, 0, mem_end - h->load_addr - load_size);
	*kernel = (struct mb_kernel){.entry = h->entry_addr, .end = mem_end};
	return 0;
}

static int load_elf(const struct guest_memory *mem, const struct file_image *image,
		    struct mb_kernel *kernel, char *err, size_t err_len)
{
	if (!elf_image_is_elf(image->data, image->size))
		return boot_fail(err, err_len,
				 "multiboot kernel is not ELF and its header has no load "
				 "addresses (flag bit 16)");
	struct elf_image elf;
	if (elf_image_parse(image->data, image->size, &elf, err, err_len) < 0 ||
	    elf_image_load(mem, &elf, image->data, image->size, &kernel->end, err, err_len) < 0)
		return -1;
	/* The ELF entry is virtual; like GRUB, enter at its physical alias. */
	kernel->entry = elf_image_virt_to_phys(&elf, elf.entry);
	if (kernel->entry > UINT32_MAX)
		return boot_fail(err, err_len, "multiboot entry point 0x%llx is above 4 GiB",
				 (unsigned long long)kernel->entry);
	return 0;
}

/* Splits the next module out of a QEMU-style list ("path args,path2,,x args2": ",," is a
 * literal comma) into `item`; returns the rest of the list, or NULL at the end. */
static const char *next_module(const char *list, char *item)
{
	size_t n = 0;
	for (; *list; list++) {
		if (*list == ',' && list[1] == ',') {
			item[n++] = ',';
			list++;
		} else if (*list == ',') {
			item[n] = '\0';
			return list + 1;
		} else {
			item[n++] = *list;
		}
	}
	item[n] = '\0';
	return list;
}

static uint64_t page_align(uint64_t value)
{
	return (value + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
}

/* Loads one module ("path args"); the module's string is the whole item, path included, as
 * GRUB and QEMU pass it. */
static int load_module(const struct guest_memory *mem, char *item, uint64_t *next_free,
		       struct boot_scratch *scratch, struct multiboot_module *module, char *err,
		       size_t err_len)
{
	if (item[0] == '\0' || item[0] == ' ')
		return boot_fail(err, err_len, "multiboot module list has an entry without a path");
	uint64_t string;
	if (!boot_scratch_put(mem, scratch, item, strlen(item) + 1, 1, &string))
		return boot_fail(err, err_len,
				 "multiboot module strings do not fit in the boot area");
	char *space = strchr(item, ' ');
	if (space)
		*space = '\0';
	uint64_t start = page_align(*next_free), size;
	if (boot_load_file_at(mem, item, start, boot_low_ram_end(mem), &size, err, err_len) < 0)
		return -1;
	*module = (struct multiboot_module){(uint32_t)start, (uint32_t)(start + size),
					    (uint32_t)string, 0};
	*next_free = start + size;
	return 0;
}

static int load_modules(const struct guest_memory *mem, const char *list, uint64_t kernel_end,
			struct boot_scratch *scratch, struct multiboot_info *info, char *err,
			size_t err_len)
{
	if (!list)
		return 0;
	struct multiboot_module modules[MULTIBOOT_MAX_MODULES];
	char *item = malloc(strlen(list) + 1);
	if (!item)
		return boot_fail(err, err_len, "out of memory parsing the module list");
	uint64_t next_free = kernel_end;
	uint32_t count = 0;
	int ret = 0;
	for (const char *rest = list; ret == 0 && *rest;) {
		rest = next_module(rest, item);
		if (count == MULTIBOOT_MAX_MODULES)
			ret = boot_fail(err, err_len, "more than %d multiboot modules",
					MULTIBOOT_MAX_MODULES);
		else
			ret = load_module(mem, item, &next_free, scratch, &modules[count++], err,
					  err_len);
	}
	free(item);
	if (ret < 0 || count == 0)
		return ret;
	uint64_t table;
	if (!boot_scratch_put(mem, scratch, modules, count * sizeof(modules[0]), 4, &table))
		return boot_fail(err, err_len,
				 "multiboot module table does not fit in the boot area");
	info->mods_addr = (uint32_t)table;
	info->mods_count = count;
	return 0;
}

static int add_memory_map(const struct guest_memory *mem, struct boot_scratch *scratch,
			  struct multiboot_info *info, char *err, size_t err_len)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct multiboot_mmap_entry table[E820_MAX_ENTRIES];
	size_t n = e820_build(mem, map, E820_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++)
		table[i] = (struct multiboot_mmap_entry){
		    .size = sizeof(table[i]) - sizeof(table[i].size),
		    .addr = map[i].addr,
		    .len = map[i].size,
		    .type = map[i].type,
		};
	uint64_t gpa;
	if (!boot_scratch_put(mem, scratch, table, n * sizeof(table[0]), 4, &gpa))
		return boot_fail(err, err_len,
				 "multiboot memory map does not fit in the boot area");
	info->mmap_addr = (uint32_t)gpa;
	info->mmap_length = (uint32_t)(n * sizeof(table[0]));
	/* mem_lower: conventional memory below 640 KiB; mem_upper: from 1 MiB to the first
	 * hole, both in KiB. */
	info->mem_lower = n > 0 && map[0].addr == 0 ? (uint32_t)(map[0].size >> 10) : 0;
	info->mem_upper = (uint32_t)((boot_low_ram_end(mem) - LAYOUT_HIGH_MEMORY) >> 10);
	return 0;
}

/* Like GRUB and QEMU, the command line starts with the kernel's name: kernels such as Xen
 * skip the first word. */
static int write_cmdline(const struct guest_memory *mem, const struct boot_request *req, char *err,
			 size_t err_len)
{
	char *line;
	const char *args = req->cmdline ? req->cmdline : "";
	if (asprintf(&line, "%s%s%s", req->kernel_path, *args ? " " : "", args) < 0)
		return boot_fail(err, err_len, "out of memory building the command line");
	int ret = boot_write_cmdline(mem, line, LAYOUT_CMDLINE_MAX - 1, err, err_len);
	free(line);
	return ret;
}

static int build_info(const struct guest_memory *mem, const struct boot_request *req,
		      uint64_t kernel_end, char *err, size_t err_len)
{
	struct multiboot_info info = {
	    .flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
		     MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME,
	    .cmdline = (uint32_t)LAYOUT_CMDLINE,
	};
	struct boot_scratch scratch;
	boot_scratch_init(&scratch);
	uint64_t name;
	if (write_cmdline(mem, req, err, err_len) < 0 ||
	    add_memory_map(mem, &scratch, &info, err, err_len) < 0 ||
	    load_modules(mem, req->initrd_path, kernel_end, &scratch, &info, err, err_len) < 0)
		return -1;
	if (!boot_scratch_put(mem, &scratch, MULTIBOOT_LOADER_NAME, sizeof(MULTIBOOT_LOADER_NAME),
			      1, &name))
		return boot_fail(err, err_len, "boot loader name does not fit in the boot area");
	info.boot_loader_name = (uint32_t)name;
	if (!guest_memory_write(mem, LAYOUT_ZERO_PAGE, &info, sizeof(info)))
		return boot_fail(err, err_len, "guest RAM too small for the multiboot info");
	return 0;
}

static int load_image(const struct guest_memory *mem, const struct boot_request *req,
		      const struct file_image *image, struct boot_entry *entry, char *err,
		      size_t err_len)
{
	size_t offset;
	struct multiboot_header header;
	int found = multiboot_find_header(image->data, image->size, &offset, &header, err, err_len);
	if (found < 0)
		return -1;
	if (found == 0)
		return boot_fail(err, err_len, "%s has no multiboot header in its first %d bytes",
				 req->kernel_path, MULTIBOOT_SEARCH_LIMIT);
	struct mb_kernel kernel;
	if (check_flags(header.flags, err, err_len) < 0)
		return -1;
	if (header.flags & MULTIBOOT_AOUT_KLUDGE
		? load_aout_kludge(mem, image, offset, &header, &kernel, err, err_len)
		: load_elf(mem, image, &kernel, err, err_len))
		return -1;
	if (build_info(mem, req, kernel.end, err, err_len) < 0)
		return -1;
	*entry = (struct boot_entry){
	    .format = BOOT_FORMAT_MULTIBOOT,
	    .mode = BOOT_MODE_FLAT32,
	    .rip = kernel.entry,
	    .eax = MULTIBOOT_BOOTLOADER_MAGIC,
	    .ebx = (uint32_t)LAYOUT_ZERO_PAGE,
	};
	return 0;
}

int boot_load_multiboot(const struct guest_memory *mem, const struct boot_request *req,
			struct boot_entry *entry, char *err, size_t err_len)
{
	return boot_load_kernel_file(mem, req, load_image, entry, err, err_len);
}
