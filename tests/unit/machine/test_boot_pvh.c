/* PVH loading of ELF vmlinux images: segments, start_info, memory map, initrd module, entry. */
#include "machine/boot.h"
#include "machine/e820.h"
#include "machine/layout.h"
#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>

TestSuite(boot_pvh, .fini = tb_cleanup);

#define KERNEL_PADDR 0x1000000ULL
#define PVH_ENTRY    0x1000040U

struct pvh_kernel {
	uint8_t code[0x2000];
	uint8_t note[64];
	struct tb_segment segs[3];
	size_t nr_segs;
	bool is64;
	uint64_t code_memsz;
};

/* A kernel with one PT_LOAD (code + bss) and one PT_NOTE holding the PVH entry. */
static void default_kernel(struct pvh_kernel *k)
{
	memset(k, 0, sizeof(*k));
	tb_pattern(k->code, sizeof(k->code), 0x42);
	uint32_t entry = PVH_ENTRY;
	size_t note_len = tb_note(k->note, "Xen", 18, &entry, 4);
	k->is64 = true;
	k->code_memsz = 0x3000; /* 4 KiB of bss */
	k->segs[0] = (struct tb_segment){PT_LOAD, KERNEL_PADDR,	   0xffffffff81000000ULL,
					 k->code, sizeof(k->code), k->code_memsz,
					 0x1000};
	k->segs[1] = (struct tb_segment){PT_NOTE, 0, 0, k->note, note_len, note_len, 4};
	k->nr_segs = 2;
}

static const char *write_kernel(const struct pvh_kernel *k)
{
	size_t size;
	uint8_t *image =
	    tb_build_elf(k->is64, 0xffffffff81000000ULL, k->segs, k->nr_segs, &size, NULL);
	const char *path = tb_temp_file(image, size);
	free(image);
	return path;
}

static int load(struct guest_memory *mem, const char *kernel, const char *initrd,
		const char *cmdline, struct boot_entry *entry, char *err)
{
	struct boot_request req = {
	    .kernel_path = kernel, .initrd_path = initrd, .cmdline = cmdline};
	return boot_load(mem, &req, entry, err, TB_ERR_LEN);
}

static void check_loads(const struct pvh_kernel *k)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	/* Dirty the bss first: the loader must clear it. */
	memset((void *)tb_at(&mem, KERNEL_PADDR, k->code_memsz), 0xcc, k->code_memsz);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_kernel(k), NULL, "console=hvc0", &entry, err), 0, "%s", err);
	cr_assert_eq(entry.format, BOOT_FORMAT_PVH_ELF);
	cr_assert_eq(entry.mode, BOOT_MODE_FLAT32);
	cr_assert_eq(entry.rip, PVH_ENTRY);
	cr_assert_eq(entry.ebx, LAYOUT_ZERO_PAGE);
	cr_assert_arr_eq(tb_at(&mem, KERNEL_PADDR, sizeof(k->code)), k->code, sizeof(k->code));
	const uint8_t *bss = tb_at(&mem, KERNEL_PADDR + sizeof(k->code), 0x1000);
	for (size_t i = 0; i < 0x1000; i++)
		cr_assert_eq(bss[i], 0, "bss byte %zu not cleared", i);
	guest_memory_destroy(&mem);
}

Test(boot_pvh, elf64_segments_load_at_paddr_and_entry_comes_from_the_note)
{
	struct pvh_kernel k;
	default_kernel(&k);
	check_loads(&k);
}

Test(boot_pvh, elf32_kernels_load_too)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.is64 = false;
	k.segs[0].vaddr = KERNEL_PADDR;
	check_loads(&k);
}

Test(boot_pvh, start_info_has_cmdline_rsdp_memmap_and_initrd_module)
{
	struct pvh_kernel k;
	default_kernel(&k);
	uint8_t initrd[5000];
	tb_pattern(initrd, sizeof(initrd), 9);
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_kernel(&k), tb_temp_file(initrd, sizeof(initrd)),
			  "root=/dev/vda", &entry, err),
		     0, "%s", err);
	const uint8_t *si = tb_at(&mem, LAYOUT_ZERO_PAGE, 56);
	cr_assert_eq(tb_get32(si + 0), 0x336ec578, "magic");
	cr_assert_eq(tb_get32(si + 4), 1, "version");
	cr_assert_eq(tb_get32(si + 12), 1, "nr_modules");
	uint64_t cmdline = tb_get64(si + 24);
	cr_assert_str_eq((const char *)tb_at(&mem, cmdline, 14), "root=/dev/vda");
	cr_assert_eq(tb_get64(si + 32), LAYOUT_ACPI_START, "rsdp_paddr");

	const uint8_t *mod = tb_at(&mem, tb_get64(si + 16), 32);
	uint64_t addr = tb_get64(mod), size = tb_get64(mod + 8);
	cr_assert_eq(size, sizeof(initrd));
	cr_assert_eq(addr % 4096, 0);
	cr_assert_geq(addr, KERNEL_PADDR + k.code_memsz, "initrd overlaps the kernel");
	cr_assert_leq(addr + size, TB_RAM_SIZE);
	cr_assert_gt(addr + size + 4096, TB_RAM_SIZE, "initrd should sit at the top of RAM");
	cr_assert_arr_eq(tb_at(&mem, addr, size), initrd, size);

	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, map, E820_MAX_ENTRIES);
	cr_assert_eq(tb_get32(si + 48), n, "memmap_entries");
	const uint8_t *mm = tb_at(&mem, tb_get64(si + 40), n * 24);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(tb_get64(mm + i * 24), map[i].addr);
		cr_assert_eq(tb_get64(mm + i * 24 + 8), map[i].size);
		cr_assert_eq(tb_get32(mm + i * 24 + 16), map[i].type);
	}
	guest_memory_destroy(&mem);
}

Test(boot_pvh, no_initrd_means_no_modules)
{
	struct pvh_kernel k;
	default_kernel(&k);
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_kernel(&k), NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_eq(tb_get32(tb_at(&mem, LAYOUT_ZERO_PAGE + 12, 4)), 0);
	guest_memory_destroy(&mem);
}

static void expect_refusal(const struct pvh_kernel *k, const char *needle)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	struct boot_request req = {.kernel_path = write_kernel(k)};
	cr_assert_eq(boot_load_pvh(&mem, &req, &entry, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
	guest_memory_destroy(&mem);
}

Test(boot_pvh, segment_outside_ram_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.segs[0].paddr = TB_RAM_SIZE - 0x1000; /* runs 8 KiB past the end of RAM */
	expect_refusal(&k, "outside guest RAM");
}

Test(boot_pvh, segment_over_the_boot_structures_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.segs[0].paddr = LAYOUT_ZERO_PAGE;
	expect_refusal(&k, "below 1 MiB");
}

Test(boot_pvh, memsz_smaller_than_filesz_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.segs[0].memsz = 0x100;
	expect_refusal(&k, "p_filesz");
}

Test(boot_pvh, overflowing_segment_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.segs[0].paddr = 0xfffffffffffff000ULL;
	expect_refusal(&k, "overflows");
}

Test(boot_pvh, overlapping_segments_are_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.segs[2] = k.segs[0];
	k.segs[2].paddr = KERNEL_PADDR + 0x1000;
	k.nr_segs = 3;
	expect_refusal(&k, "overlap");
}

Test(boot_pvh, filesz_beyond_the_file_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	size_t size;
	uint8_t *image = tb_build_elf(true, 0, k.segs, k.nr_segs, &size, NULL);
	tb_put64(image + tb_phdr_filesz_offset(true, 0), 0x100000); /* memsz stays 0x3000 */
	tb_put64(image + tb_phdr_filesz_offset(true, 0) + 8, 0x100000);
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	struct boot_request req = {.kernel_path = tb_temp_file(image, size)};
	free(image);
	cr_assert_eq(boot_load_pvh(&mem, &req, &entry, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "outside the file"), "%s", err);
	guest_memory_destroy(&mem);
}

Test(boot_pvh, elf_without_note_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	k.nr_segs = 1;
	expect_refusal(&k, "without a PVH entry note");
}

Test(boot_pvh, malformed_note_is_refused)
{
	struct pvh_kernel k;
	default_kernel(&k);
	tb_put32(k.note + 4, 0x1000); /* descsz past the segment */
	expect_refusal(&k, "malformed");
}

Test(boot_pvh, eight_byte_entry_note_is_accepted)
{
	struct pvh_kernel k;
	default_kernel(&k);
	uint64_t entry64 = PVH_ENTRY;
	size_t len = tb_note(k.note, "Xen", 18, &entry64, 8);
	k.segs[1].filesz = k.segs[1].memsz = len;
	check_loads(&k);
}

Test(boot_pvh, truncated_elf_header_is_refused)
{
	uint8_t image[40] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	struct boot_request req = {.kernel_path = tb_temp_file(image, sizeof(image))};
	cr_assert_eq(boot_load_pvh(&mem, &req, &entry, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "truncated"), "%s", err);
	guest_memory_destroy(&mem);
}
