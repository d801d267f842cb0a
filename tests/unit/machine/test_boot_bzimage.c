/* Linux bzImage loading: what lands in guest RAM and in the zero page, and the refusals. Field
 * offsets are spelled out from the boot protocol document rather than taken from bootparam.h,
 * so a wrong struct layout is caught here. */
#include "machine/boot.h"
#include "machine/e820.h"
#include "machine/layout.h"
#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(boot_bzimage, .fini = tb_cleanup);

struct bz_spec {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	size_t kernel_size;
};

static struct bz_spec default_spec(void)
{
	return (struct bz_spec){
	    .version = 0x020f,
	    .setup_sects = 3,
	    .loadflags = 0x01,	/* LOADED_HIGH */
	    .xloadflags = 0x01, /* XLF_KERNEL_64 */
	    .relocatable = 1,
	    .pref_address = 0x200000,
	    .init_size = 0x40000,
	    .cmdline_size = 2047,
	    .initrd_addr_max = 0x7fffffff,
	    .kernel_size = 0x3000,
	};
}

static size_t kernel_offset(const struct bz_spec *s)
{
	return ((size_t)(s->setup_sects ? s->setup_sects : 4) + 1) * 512;
}

static uint8_t *build_bzimage(const struct bz_spec *s, size_t *size)
{
	*size = kernel_offset(s) + s->kernel_size;
	uint8_t *f = calloc(1, *size);
	cr_assert_not_null(f);
	f[0x1f1] = s->setup_sects;
	tb_put16(f + 0x1fe, 0xaa55);
	f[0x200] = 0xeb;	  /* jmp short */
	f[0x201] = 0x26c - 0x202; /* header ends after kernel_info_offset */
	memcpy(f + 0x202, "HdrS", 4);
	tb_put16(f + 0x206, s->version);
	tb_put16(f + 0x20e, 0x1234); /* kernel_version: must be copied through */
	f[0x211] = s->loadflags;
	tb_put32(f + 0x214, 0x100000);
	tb_put32(f + 0x22c, s->initrd_addr_max);
	tb_put32(f + 0x230, 0x200000);
	f[0x234] = s->relocatable;
	tb_put16(f + 0x236, s->xloadflags);
	tb_put32(f + 0x238, s->cmdline_size);
	tb_put64(f + 0x258, s->pref_address);
	tb_put32(f + 0x260, s->init_size);
	tb_pattern(f + kernel_offset(s), s->kernel_size, 0x5a);
	return f;
}

static const char *write_bzimage(const struct bz_spec *s)
{
	size_t size;
	uint8_t *f = build_bzimage(s, &size);
	const char *path = tb_temp_file(f, size);
	free(f);
	return path;
}

static int load(struct guest_memory *mem, const char *kernel, const char *initrd,
		const char *cmdline, struct boot_entry *entry, char *err)
{
	struct boot_request req = {
	    .kernel_path = kernel, .initrd_path = initrd, .cmdline = cmdline};
	return boot_load(mem, &req, entry, err, TB_ERR_LEN);
}

Test(boot_bzimage, kernel_goes_to_pref_address_and_entry_is_startup_64)
{
	struct bz_spec spec = default_spec();
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), NULL, "console=ttyS0", &entry, err), 0, "%s",
		     err);
	cr_assert_eq(entry.format, BOOT_FORMAT_BZIMAGE);
	cr_assert_eq(entry.mode, BOOT_MODE_LONG64);
	cr_assert_eq(entry.rip, 0x200000 + 0x200);
	cr_assert_eq(entry.rsi, LAYOUT_ZERO_PAGE);
	uint8_t expected[0x3000];
	tb_pattern(expected, sizeof(expected), 0x5a);
	cr_assert_arr_eq(tb_at(&mem, 0x200000, sizeof(expected)), expected, sizeof(expected));
	const uint8_t *bp = tb_at(&mem, LAYOUT_ZERO_PAGE, 4096);
	cr_assert_eq(tb_get32(bp + 0x214), 0x200000, "code32_start must name the load address");
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, zero_page_carries_header_cmdline_e820_and_rsdp)
{
	struct bz_spec spec = default_spec();
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), NULL, "console=ttyS0 quiet", &entry, err), 0,
		     "%s", err);
	const uint8_t *bp = tb_at(&mem, LAYOUT_ZERO_PAGE, 4096);
	cr_assert_eq(memcmp(bp + 0x202, "HdrS", 4), 0, "setup header copied");
	cr_assert_eq(tb_get16(bp + 0x20e), 0x1234, "setup header copied");
	cr_assert_eq(bp[0x210], 0xff, "type_of_loader");
	cr_assert_eq(bp[0x211] & 0x81, 0x81, "loadflags LOADED_HIGH|CAN_USE_HEAP");
	cr_assert_eq(tb_get16(bp + 0x224), 0xfe00, "heap_end_ptr");
	cr_assert_eq(tb_get32(bp + 0x228), LAYOUT_CMDLINE, "cmd_line_ptr");
	cr_assert_str_eq((const char *)tb_at(&mem, LAYOUT_CMDLINE, 20), "console=ttyS0 quiet");
	cr_assert_eq(tb_get64(bp + 0x070), LAYOUT_ACPI_START, "acpi_rsdp_addr (protocol 2.15)");
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(&mem, map, E820_MAX_ENTRIES);
	cr_assert_eq(bp[0x1e8], n, "e820_entries");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = bp + 0x2d0 + i * 20;
		cr_assert_eq(tb_get64(e), map[i].addr);
		cr_assert_eq(tb_get64(e + 8), map[i].size);
		cr_assert_eq(tb_get32(e + 16), map[i].type);
	}
	cr_assert_eq(tb_get32(bp + 0x218), 0, "no initrd given");
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, rsdp_is_left_zero_before_protocol_2_14)
{
	struct bz_spec spec = default_spec();
	spec.version = 0x020d;
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_eq(tb_get64(tb_at(&mem, LAYOUT_ZERO_PAGE + 0x70, 8)), 0);
	cr_assert_str_eq((const char *)tb_at(&mem, LAYOUT_CMDLINE, 1), "");
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, initrd_lands_high_page_aligned_and_below_initrd_addr_max)
{
	struct bz_spec spec = default_spec();
	spec.initrd_addr_max = 0x2ffffff; /* 48 MiB - 1, below the 64 MiB of RAM */
	uint8_t initrd[10000];
	tb_pattern(initrd, sizeof(initrd), 0x11);
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), tb_temp_file(initrd, sizeof(initrd)), NULL,
			  &entry, err),
		     0, "%s", err);
	const uint8_t *bp = tb_at(&mem, LAYOUT_ZERO_PAGE, 4096);
	uint32_t addr = tb_get32(bp + 0x218), size = tb_get32(bp + 0x21c);
	cr_assert_eq(size, sizeof(initrd));
	cr_assert_eq(addr % 4096, 0, "initrd at 0x%x is not page aligned", addr);
	cr_assert_leq(addr + size, 0x3000000);
	cr_assert_gt(addr + size + 4096, 0x3000000, "initrd at 0x%x is not as high as possible",
		     addr);
	cr_assert_eq(tb_get32(bp + 0x0c0), 0, "ext_ramdisk_image");
	cr_assert_arr_eq(tb_at(&mem, addr, size), initrd, size);
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, initrd_never_overlaps_the_kernels_init_size)
{
	/* 60 MiB of init_size leaves room for a 1 MiB initrd only below the kernel... and there
	 * is none (the kernel sits at 1 MiB), or above it, in the last 3 MiB. */
	struct bz_spec spec = default_spec();
	spec.pref_address = 0x1000000;
	spec.init_size = 60 << 20;
	static uint8_t initrd[1 << 20];
	tb_pattern(initrd, sizeof(initrd), 3);
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), tb_temp_file(initrd, sizeof(initrd)), NULL,
			  &entry, err),
		     0, "%s", err);
	cr_assert_eq(entry.rip, 0x100000 + 0x200, "16 MiB + 60 MiB does not fit: load at 1 MiB");
	uint32_t addr = tb_get32(tb_at(&mem, LAYOUT_ZERO_PAGE + 0x218, 4));
	cr_assert_geq(addr, 0x100000 + (60 << 20));
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, non_relocatable_kernel_loads_at_1mib)
{
	struct bz_spec spec = default_spec();
	spec.relocatable = 0;
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), NULL, NULL, &entry, err), 0, "%s", err);
	cr_assert_eq(entry.rip, LAYOUT_HIGH_MEMORY + 0x200);
	guest_memory_destroy(&mem);
}

/* Loads `spec` (optionally with a command line / initrd) and expects a refusal whose message
 * contains `needle`. */
static void expect_refusal(const char *kernel, const char *initrd, const char *cmdline,
			   const char *needle)
{
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	struct boot_request req = {
	    .kernel_path = kernel, .initrd_path = initrd, .cmdline = cmdline};
	cr_assert_eq(boot_load_bzimage(&mem, &req, &entry, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, old_protocol_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.version = 0x0205;
	expect_refusal(write_bzimage(&spec), NULL, NULL, "2.06 or newer");
}

Test(boot_bzimage, kernel_without_64bit_entry_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.xloadflags = 0x02;
	expect_refusal(write_bzimage(&spec), NULL, NULL, "64-bit");
	spec.xloadflags = 0x01;
	spec.version = 0x020a; /* no xloadflags field at all */
	expect_refusal(write_bzimage(&spec), NULL, NULL, "64-bit");
}

Test(boot_bzimage, zimage_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.loadflags = 0;
	expect_refusal(write_bzimage(&spec), NULL, NULL, "zImage");
}

Test(boot_bzimage, truncated_header_is_refused)
{
	struct bz_spec spec = default_spec();
	size_t size;
	uint8_t *f = build_bzimage(&spec, &size);
	expect_refusal(tb_temp_file(f, 0x230), NULL, NULL, "truncated");
	free(f);
}

Test(boot_bzimage, huge_setup_sects_is_refused)
{
	struct bz_spec spec = default_spec();
	size_t size;
	uint8_t *f = build_bzimage(&spec, &size);
	f[0x1f1] = 255; /* 128 KiB of setup code in a 5 KiB file */
	expect_refusal(tb_temp_file(f, size), NULL, NULL, "setup_sects");
	free(f);
}

Test(boot_bzimage, command_line_longer_than_cmdline_size_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.cmdline_size = 16;
	const char *kernel = write_bzimage(&spec);
	expect_refusal(kernel, NULL, "0123456789abcdefX", "command line");
	/* Exactly cmdline_size characters is fine. */
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, kernel, NULL, "0123456789abcdef", &entry, err), 0, "%s", err);
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, initrd_bigger_than_ram_is_refused)
{
	struct bz_spec spec = default_spec();
	expect_refusal(write_bzimage(&spec), tb_sparse_file(128ULL << 20), NULL, "too large");
}

Test(boot_bzimage, initrd_that_fits_nowhere_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.initrd_addr_max = 0x3fffff; /* 4 MiB, but the kernel occupies 2 MiB..2.25 MiB */
	expect_refusal(write_bzimage(&spec), tb_sparse_file(3ULL << 20), NULL, "does not fit");
}

Test(boot_bzimage, missing_initrd_names_the_file)
{
	struct bz_spec spec = default_spec();
	expect_refusal(write_bzimage(&spec), "/nonexistent/initrd.img", NULL,
		       "/nonexistent/initrd.img");
}

Test(boot_bzimage, kernel_needing_more_than_ram_is_refused)
{
	struct bz_spec spec = default_spec();
	spec.init_size = 100 << 20;
	expect_refusal(write_bzimage(&spec), NULL, NULL, "too small");
}

/* The Debian cloud kernel the guest-image script fetches, when it is around. */
static const char *find_real_kernel(void)
{
	static char path[PATH_MAX + 32];
	const char *env = getenv("GUREUM_GUEST_KERNEL");
	if (env && access(env, R_OK) == 0)
		return env;
	char dir[PATH_MAX];
	if (!getcwd(dir, sizeof(dir)))
		return NULL;
	/* The tests run somewhere inside the checkout (the build directory): walk up. */
	for (int depth = 0; depth < 6; depth++) {
		snprintf(path, sizeof(path), "%s/out/guest/vmlinuz", dir);
		if (access(path, R_OK) == 0)
			return path;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	if (access("/var/cache/gureum/vmlinuz", R_OK) == 0)
		return "/var/cache/gureum/vmlinuz";
	return NULL;
}

static void check_real_kernel(const char *path, uint64_t ram, uint64_t expected_load)
{
	struct guest_memory mem;
	tb_guest(&mem, ram);
	uint8_t initrd[4096] = "initrd";
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(
	    load(&mem, path, tb_temp_file(initrd, sizeof(initrd)), "console=ttyS0", &entry, err), 0,
	    "%s", err);
	cr_assert_eq(entry.rip, expected_load + 0x200);
	const uint8_t *bp = tb_at(&mem, LAYOUT_ZERO_PAGE, 4096);
	cr_assert_eq(memcmp(bp + 0x202, "HdrS", 4), 0);
	cr_assert_eq(tb_get64(bp + 0x70), LAYOUT_ACPI_START);
	uint32_t initrd_addr = tb_get32(bp + 0x218);
	cr_assert_geq(initrd_addr, expected_load + tb_get32(bp + 0x260), "initrd above init_size");
	cr_assert_arr_eq(tb_at(&mem, initrd_addr, sizeof(initrd)), initrd, sizeof(initrd));
	/* The protected-mode kernel's first bytes are where the entry expects them. */
	size_t setup = ((size_t)(bp[0x1f1] ? bp[0x1f1] : 4) + 1) * 512;
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	uint8_t head[4096];
	cr_assert_eq(fseek(f, (long)setup, SEEK_SET), 0);
	cr_assert_eq(fread(head, 1, sizeof(head), f), sizeof(head));
	fclose(f);
	cr_assert_arr_eq(tb_at(&mem, expected_load, sizeof(head)), head, sizeof(head));
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, real_debian_cloud_kernel)
{
	const char *path = find_real_kernel();
	if (!path)
		cr_skip_test(
		    "no Debian cloud kernel: run scripts/guest-image.sh (out/guest/vmlinuz) "
		    "or set GUREUM_GUEST_KERNEL");
	/* 64 MiB: 16 MiB + init_size does not fit, so the kernel goes to 1 MiB. */
	check_real_kernel(path, TB_RAM_SIZE, LAYOUT_HIGH_MEMORY);
	/* 256 MiB: at its preferred address. */
	uint8_t hdr[0x270];
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	fclose(f);
	check_real_kernel(path, 256ULL << 20, tb_get64(hdr + 0x258));
}

Test(boot_bzimage, empty_initrd_is_accepted_with_zero_size)
{
	struct bz_spec spec = default_spec();
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(load(&mem, write_bzimage(&spec), tb_temp_file("", 0), NULL, &entry, err), 0,
		     "%s", err);
	cr_assert_eq(tb_get32(tb_at(&mem, LAYOUT_ZERO_PAGE + 0x21c, 4)), 0, "ramdisk_size");
	guest_memory_destroy(&mem);
}

/* --display: screen_info at the start of the zero page, offsets from screen_info.h's layout
 * (zero-page.rst), as Linux's sysfb and efifb read them. */
static const uint8_t *load_with_framebuffer(struct guest_memory *mem,
					    const struct boot_framebuffer *fb)
{
	struct bz_spec spec = default_spec();
	tb_guest(mem, TB_RAM_SIZE);
	struct boot_request req = {
	    .kernel_path = write_bzimage(&spec), .cmdline = "console=tty0", .framebuffer = fb};
	struct boot_entry entry;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(boot_load(mem, &req, &entry, err, TB_ERR_LEN), 0, "%s", err);
	return tb_at(mem, LAYOUT_ZERO_PAGE, 0x40);
}

Test(boot_bzimage, screen_info_describes_an_efi_framebuffer)
{
	struct boot_framebuffer fb = {
	    .base = LAYOUT_FRAMEBUFFER, .width = 1024, .height = 768, .stride = 4096};
	struct guest_memory mem;
	const uint8_t *si = load_with_framebuffer(&mem, &fb);
	cr_assert_eq(si[0x0f], 0x70, "orig_video_isVGA = VIDEO_TYPE_EFI");
	cr_assert_eq(tb_get16(si + 0x12), 1024, "lfb_width");
	cr_assert_eq(tb_get16(si + 0x14), 768, "lfb_height");
	cr_assert_eq(tb_get16(si + 0x16), 32, "lfb_depth");
	cr_assert_eq(tb_get32(si + 0x18), 0xd0000000, "lfb_base");
	cr_assert_eq(tb_get32(si + 0x1c), 4096 * 768, "lfb_size: bytes of the visible lines");
	cr_assert_eq(tb_get16(si + 0x24), 4096, "lfb_linelength");
	const uint8_t masks[8] = {8, 16, 8, 8, 8, 0, 8, 24}; /* red, green, blue, reserved */
	cr_assert_arr_eq(si + 0x26, masks, sizeof(masks), "XRGB8888 size/position pairs");
	cr_assert_eq(tb_get16(si + 0x32), 1, "pages");
	cr_assert_eq(tb_get32(si + 0x36), 0x1, "capabilities: SKIP_QUIRKS, no 64-bit base");
	cr_assert_eq(tb_get32(si + 0x3a), 0, "ext_lfb_base");
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, screen_info_carries_a_base_above_4g_in_ext_lfb_base)
{
	struct boot_framebuffer fb = {
	    .base = 0x12345600000ULL, .width = 640, .height = 480, .stride = 2560};
	struct guest_memory mem;
	const uint8_t *si = load_with_framebuffer(&mem, &fb);
	cr_assert_eq(tb_get32(si + 0x18), 0x45600000, "lfb_base: the low half");
	cr_assert_eq(tb_get32(si + 0x3a), 0x123, "ext_lfb_base: the high half");
	cr_assert_eq(tb_get32(si + 0x36), 0x3, "capabilities: SKIP_QUIRKS | 64BIT_BASE");
	cr_assert_eq(tb_get32(si + 0x1c), 2560 * 480);
	guest_memory_destroy(&mem);
}

Test(boot_bzimage, no_display_leaves_screen_info_zero)
{
	struct guest_memory mem;
	const uint8_t *si = load_with_framebuffer(&mem, NULL);
	uint8_t zero[0x40] = {0};
	cr_assert_arr_eq(si, zero, sizeof(zero), "screen_info stays zero: vgacon finds no VGA");
	guest_memory_destroy(&mem);
}
