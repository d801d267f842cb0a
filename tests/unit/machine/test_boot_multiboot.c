/* Multiboot v1: ELF and a.out-kludge kernels, the info structure, memory map and modules. */
#include "machine/boot.h"
#include "machine/e820.h"
#include "machine/layout.h"
#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(boot_multiboot, .fini = tb_cleanup);

#define MB_MAGIC    0x1badb002U
#define MB_AOUT	    (1U << 16)
#define MB_BASIC    0x3U /* page-aligned modules, memory info */
#define ELF_PADDR   0x100000U
#define ELF_VADDR   0xc0100000U
#define ELF_MEMSZ   0x5000U
#define AOUT_LOAD   0x200000U
#define AOUT_HEADER 0x40U

static void put_header(uint8_t *p, uint32_t flags)
{
	tb_put32(p, MB_MAGIC);
	tb_put32(p + 4, flags);
	tb_put32(p + 8, (uint32_t) - (MB_MAGIC + flags));
}

/* An ELF32 kernel whose only segment starts with a multiboot header. */
static const char *write_elf_kernel(uint32_t flags)
{
	uint8_t code[0x1800];
	tb_pattern(code, sizeof(code), 0x77);
	put_header(code, flags);
	struct tb_segment seg = {PT_LOAD,      ELF_PADDR, ELF_VADDR, code,
				 sizeof(code), ELF_MEMSZ, 4096};
	size_t size;
	uint8_t *image = tb_build_elf(false, ELF_VADDR + 0x10, &seg, 1, &size, NULL);
	const char *path = tb_temp_file(image, size);
	free(image);
	return path;
}

struct aout {
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

static struct aout default_aout(void)
{
	return (struct aout){AOUT_LOAD + AOUT_HEADER, AOUT_LOAD, 0, AOUT_LOAD + 0x4000,
			     AOUT_LOAD + 0x100};
}

/* A raw binary (not ELF) with the load addresses in its header. */
static const char *write_aout_kernel(const struct aout *a, uint32_t flags, uint8_t *image,
				     size_t size)
{
	tb_pattern(image, size, 0x33);
	put_header(image + AOUT_HEADER, flags | MB_AOUT);
	tb_put32(image + AOUT_HEADER + 12, a->header_addr);
	tb_put32(image + AOUT_HEADER + 16, a->load_addr);
	tb_put32(image + AOUT_HEADER + 20, a->load_end_addr);
	tb_put32(image + AOUT_HEADER + 24, a->bss_end_addr);
	tb_put32(image + AOUT_HEADER + 28, a->entry_addr);
	return tb_temp_file(image, size);
}

static int load(struct guest_memory *mem, const char *kernel, const char *modules,
		const char *cmdline, struct boot_entry *entry, char *err)
{
	struct boot_request req = {
	    .kernel_path = kernel, .initrd_path = modules, .cmdline = cmdline};
	return boot_load(mem, &req, entry, err, TB_ERR_LEN);
}

static const char *guest_string(const struct guest_memory *mem, uint32_t gpa)
{
	const char *s = (const char *)tb_at(mem, gpa, 1);
	cr_assert_not_null(memchr(s, 0, 4096), "unterminated string at 0x%x", gpa);
	return s;
}

Test(boot_multiboot, elf_kernel_loads_at_paddr_and_enters_at_physical_entry)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_elf_kernel(MB_BASIC), NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_eq(entry.format, BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(entry.mode, BOOT_MODE_FLAT32);
	cr_assert_eq(entry.rip, ELF_PADDR + 0x10, "virtual entry translated to physical");
	cr_assert_eq(entry.eax, 0x2badb002);
	cr_assert_eq(entry.ebx, LAYOUT_ZERO_PAGE);
	cr_assert_eq(tb_get32(tb_at(&mem, ELF_PADDR, 4)), MB_MAGIC);
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, info_has_memory_cmdline_mmap_and_loader_name)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	const char *kernel = write_elf_kernel(MB_BASIC);
	cr_assert_eq(load(&mem, kernel, NULL, "debug=1", &entry, err), 0, "%s", err);
	const uint8_t *info = tb_at(&mem, LAYOUT_ZERO_PAGE, 88);
	uint32_t flags = tb_get32(info);
	uint32_t wanted = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9);
	cr_assert_eq(flags & wanted, wanted, "flags 0x%x", flags);
	cr_assert_eq(tb_get32(info + 4), LAYOUT_EBDA_START >> 10, "mem_lower (KiB)");
	cr_assert_eq(tb_get32(info + 8), (TB_RAM_SIZE - LAYOUT_HIGH_MEMORY) >> 10, "mem_upper");
	char expected_cmdline[256];
	snprintf(expected_cmdline, sizeof(expected_cmdline), "%s debug=1", kernel);
	cr_assert_str_eq(guest_string(&mem, tb_get32(info + 16)), expected_cmdline);
	cr_assert_eq(tb_get32(info + 20), 0, "mods_count");
	cr_assert_str_eq(guest_string(&mem, tb_get32(info + 64)), "gureum");

	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, map, E820_MAX_ENTRIES);
	uint32_t length = tb_get32(info + 44);
	cr_assert_eq(length, n * 24, "mmap_length");
	/* Walk it the way a kernel does: by each entry's size field. */
	const uint8_t *mm = tb_at(&mem, tb_get32(info + 48), length);
	size_t i = 0;
	for (uint32_t pos = 0; pos < length; pos += tb_get32(mm + pos) + 4, i++) {
		cr_assert_eq(tb_get32(mm + pos), 20);
		cr_assert_eq(tb_get64(mm + pos + 4), map[i].addr);
		cr_assert_eq(tb_get64(mm + pos + 12), map[i].size);
		cr_assert_eq(tb_get32(mm + pos + 20), map[i].type);
	}
	cr_assert_eq(i, n);
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, modules_are_page_aligned_after_the_kernel_with_their_strings)
{
	uint8_t m1[3000], m2[100];
	tb_pattern(m1, sizeof(m1), 1);
	tb_pattern(m2, sizeof(m2), 2);
	const char *p1 = tb_temp_file(m1, sizeof(m1)), *p2 = tb_temp_file(m2, sizeof(m2));
	char list[512], s1[256];
	snprintf(list, sizeof(list), "%s root=x,,y,%s", p1, p2);
	snprintf(s1, sizeof(s1), "%s root=x,y", p1); /* ",," is a literal comma */
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_elf_kernel(MB_BASIC), list, NULL, &entry, err), 0, "%s", err);
	const uint8_t *info = tb_at(&mem, LAYOUT_ZERO_PAGE, 88);
	cr_assert_eq(tb_get32(info + 20), 2, "mods_count");
	const uint8_t *mods = tb_at(&mem, tb_get32(info + 24), 32);
	uint32_t start1 = tb_get32(mods), end1 = tb_get32(mods + 4);
	uint32_t start2 = tb_get32(mods + 16), end2 = tb_get32(mods + 20);
	cr_assert_eq(start1 % 4096, 0);
	cr_assert_eq(start2 % 4096, 0);
	cr_assert_geq(start1, ELF_PADDR + ELF_MEMSZ, "module 1 overlaps the kernel");
	cr_assert_geq(start2, end1, "module 2 overlaps module 1");
	cr_assert_eq(end1 - start1, sizeof(m1));
	cr_assert_eq(end2 - start2, sizeof(m2));
	cr_assert_arr_eq(tb_at(&mem, start1, sizeof(m1)), m1, sizeof(m1));
	cr_assert_arr_eq(tb_at(&mem, start2, sizeof(m2)), m2, sizeof(m2));
	cr_assert_str_eq(guest_string(&mem, tb_get32(mods + 8)), s1);
	cr_assert_str_eq(guest_string(&mem, tb_get32(mods + 24)), p2);
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, aout_kludge_kernel_loads_by_header_addresses)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	const char *kernel = write_aout_kernel(&a, MB_BASIC, image, sizeof(image));
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	memset((void *)tb_at(&mem, AOUT_LOAD, 0x4000), 0xcc, 0x4000);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, kernel, NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_eq(entry.format, BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(entry.rip, AOUT_LOAD + 0x100);
	cr_assert_eq(entry.eax, 0x2badb002);
	cr_assert_arr_eq(tb_at(&mem, AOUT_LOAD, sizeof(image)), image, sizeof(image));
	const uint8_t *bss = tb_at(&mem, AOUT_LOAD + sizeof(image), 0x2000);
	for (size_t i = 0; i < 0x2000; i++)
		cr_assert_eq(bss[i], 0, "bss byte %zu not cleared", i);
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, aout_kludge_load_end_addr_limits_what_is_copied)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	a.load_end_addr = AOUT_LOAD + 0x1000;
	const char *kernel = write_aout_kernel(&a, MB_BASIC, image, sizeof(image));
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, kernel, NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_arr_eq(tb_at(&mem, AOUT_LOAD, 0x1000), image, 0x1000);
	cr_assert_eq(*tb_at(&mem, AOUT_LOAD + 0x1000, 1), 0, "past load_end_addr is bss");
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, video_mode_request_is_ignored_not_fatal)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_elf_kernel(MB_BASIC | 0x4), NULL, NULL, &entry, err), 0, "%s",
		     err);
	cr_assert_eq(tb_get32(tb_at(&mem, LAYOUT_ZERO_PAGE, 4)) & (1 << 11), 0,
		     "no VBE info is claimed");
	guest_memory_destroy(&mem);
}

static void expect_refusal(const char *kernel, const char *modules, const char *needle)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	struct boot_request req = {.kernel_path = kernel, .initrd_path = modules};
	cr_assert_eq(boot_load_multiboot(&mem, &req, &entry, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
	guest_memory_destroy(&mem);
}

Test(boot_multiboot, unknown_required_flag_is_refused)
{
	expect_refusal(write_elf_kernel(MB_BASIC | (1 << 5)), NULL, "features");
}

Test(boot_multiboot, bad_checksum_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	const char *path = write_aout_kernel(&a, MB_BASIC, image, sizeof(image));
	image[AOUT_HEADER + 8] ^= 1;
	path = tb_temp_file(image, sizeof(image));
	expect_refusal(path, NULL, "checksum");
}

Test(boot_multiboot, header_beyond_8k_is_refused)
{
	static uint8_t image[0x3000];
	memset(image, 0x90, sizeof(image));
	put_header(image + 0x2000, MB_BASIC);
	expect_refusal(tb_temp_file(image, sizeof(image)), NULL, "beyond the first 8192");
}

Test(boot_multiboot, aout_load_end_beyond_the_file_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	a.load_end_addr = AOUT_LOAD + 0x3000;
	expect_refusal(write_aout_kernel(&a, MB_BASIC, image, sizeof(image)), NULL,
		       "load_end_addr");
}

Test(boot_multiboot, aout_header_addr_inconsistent_with_file_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	a.load_addr = AOUT_LOAD - 0x1000; /* would need the header 4 KiB into the file */
	expect_refusal(write_aout_kernel(&a, MB_BASIC, image, sizeof(image)), NULL, "header_addr");
}

Test(boot_multiboot, aout_kernel_below_1mib_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = {0x8040, 0x8000, 0, 0, 0x8100};
	expect_refusal(write_aout_kernel(&a, MB_BASIC, image, sizeof(image)), NULL, "above 1 MiB");
}

Test(boot_multiboot, aout_kernel_past_ram_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	a.bss_end_addr = (uint32_t)TB_RAM_SIZE + 0x1000;
	expect_refusal(write_aout_kernel(&a, MB_BASIC, image, sizeof(image)), NULL, "guest RAM");
}

Test(boot_multiboot, aout_entry_outside_image_is_refused)
{
	static uint8_t image[0x2000];
	struct aout a = default_aout();
	a.entry_addr = 0x10;
	expect_refusal(write_aout_kernel(&a, MB_BASIC, image, sizeof(image)), NULL, "entry_addr");
}

Test(boot_multiboot, raw_image_without_addresses_is_refused)
{
	static uint8_t image[0x1000];
	put_header(image + 0x100, MB_BASIC);
	expect_refusal(tb_temp_file(image, sizeof(image)), NULL, "not ELF");
}

Test(boot_multiboot, missing_module_names_the_file)
{
	expect_refusal(write_elf_kernel(MB_BASIC), "/nonexistent/module.bin args",
		       "/nonexistent/module.bin");
}

Test(boot_multiboot, empty_module_entry_is_refused)
{
	uint8_t m[16] = {0};
	char list[256];
	snprintf(list, sizeof(list), ",%s", tb_temp_file(m, sizeof(m)));
	expect_refusal(write_elf_kernel(MB_BASIC), list, "without a path");
}

Test(boot_multiboot, module_bigger_than_ram_is_refused)
{
	expect_refusal(write_elf_kernel(MB_BASIC), tb_sparse_file(100ULL << 20), "too large");
}

Test(boot_multiboot, empty_module_is_listed_with_zero_length)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_elf_kernel(MB_BASIC), tb_temp_file("", 0), NULL, &entry, err),
		     0, "%s", err);
	const uint8_t *info = tb_at(&mem, LAYOUT_ZERO_PAGE, 88);
	cr_assert_eq(tb_get32(info + 20), 1);
	const uint8_t *mod = tb_at(&mem, tb_get32(info + 24), 16);
	cr_assert_eq(tb_get32(mod), tb_get32(mod + 4), "mod_start == mod_end");
	guest_memory_destroy(&mem);
}
