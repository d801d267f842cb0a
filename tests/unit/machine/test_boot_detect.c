/* Format detection and the messages for files that are not kernels. */
#include "machine/boot.h"
#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>

TestSuite(boot_detect, .fini = tb_cleanup);

static void expect_format(const void *data, size_t len, enum boot_format wanted)
{
	enum boot_format format;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(boot_detect_format(tb_temp_file(data, len), &format, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(format, wanted);
}

static void expect_error(const char *path, const char *needle)
{
	enum boot_format format;
	char err[TB_ERR_LEN] = "";
	cr_assert_eq(boot_detect_format(path, &format, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
	/* boot_load reports the same problem. */
	struct guest_memory mem;
	tb_guest(&mem, TB_RAM_SIZE);
	struct boot_entry entry;
	struct boot_request req = {.kernel_path = path};
	char load_err[TB_ERR_LEN] = "";
	cr_assert_eq(boot_load(&mem, &req, &entry, load_err, sizeof(load_err)), -1);
	cr_assert_not_null(strstr(load_err, needle), "boot_load said \"%s\"", load_err);
	guest_memory_destroy(&mem);
}

static void put_multiboot_header(uint8_t *p)
{
	tb_put32(p, 0x1badb002);
	tb_put32(p + 4, 0);
	tb_put32(p + 8, (uint32_t)-0x1badb002);
}

Test(boot_detect, bzimage_signature)
{
	static uint8_t image[0x1000];
	tb_put16(image + 0x1fe, 0xaa55);
	memcpy(image + 0x202, "HdrS", 4);
	expect_format(image, sizeof(image), BOOT_FORMAT_BZIMAGE);
}

Test(boot_detect, elf_with_pvh_note)
{
	uint8_t note[32];
	uint32_t entry = 0x1000000;
	size_t len = tb_note(note, "Xen", 18, &entry, 4);
	uint8_t code[16] = {0};
	struct tb_segment segs[] = {{PT_LOAD, 0x1000000, 0x1000000, code, sizeof(code), 16, 16},
				    {PT_NOTE, 0, 0, note, len, len, 4}};
	size_t size;
	uint8_t *image = tb_build_elf(true, 0x1000000, segs, 2, &size, NULL);
	expect_format(image, size, BOOT_FORMAT_PVH_ELF);
	free(image);
}

Test(boot_detect, elf_with_other_notes_but_multiboot_header)
{
	uint8_t note[32];
	uint32_t value = 1;
	size_t len = tb_note(note, "GNU", 3, &value, 4);
	uint8_t code[64] = {0};
	put_multiboot_header(code);
	struct tb_segment segs[] = {{PT_NOTE, 0, 0, note, len, len, 4},
				    {PT_LOAD, 0x100000, 0x100000, code, sizeof(code), 64, 16}};
	size_t size;
	uint8_t *image = tb_build_elf(false, 0x100000, segs, 2, &size, NULL);
	expect_format(image, size, BOOT_FORMAT_MULTIBOOT);
	free(image);
}

Test(boot_detect, raw_multiboot_header)
{
	static uint8_t image[0x1000];
	put_multiboot_header(image + 0x800);
	expect_format(image, sizeof(image), BOOT_FORMAT_MULTIBOOT);
}

Test(boot_detect, elf_without_pvh_note)
{
	uint8_t code[16] = {0};
	struct tb_segment seg = {PT_LOAD, 0x100000, 0x100000, code, sizeof(code), 16, 16};
	size_t size;
	uint8_t *image = tb_build_elf(true, 0x100000, &seg, 1, &size, NULL);
	expect_error(tb_temp_file(image, size), "ELF without PVH entry note");
	free(image);
}

Test(boot_detect, empty_file)
{
	expect_error(tb_temp_file("", 0), "file is empty");
}

Test(boot_detect, random_bytes)
{
	uint8_t junk[4096];
	tb_pattern(junk, sizeof(junk), 0);
	expect_error(tb_temp_file(junk, sizeof(junk)), "no kernel signature found");
}

Test(boot_detect, gzip_data)
{
	uint8_t gz[64] = {0x1f, 0x8b, 8};
	expect_error(tb_temp_file(gz, sizeof(gz)), "gzip");
}

Test(boot_detect, multiboot_header_with_bad_checksum)
{
	static uint8_t image[0x1000];
	put_multiboot_header(image + 0x100);
	image[0x108] ^= 0x80;
	expect_error(tb_temp_file(image, sizeof(image)), "bad checksum");
}

Test(boot_detect, multiboot_header_beyond_8k)
{
	static uint8_t image[0x4000];
	put_multiboot_header(image + 0x2004);
	expect_error(tb_temp_file(image, sizeof(image)), "beyond the first 8192 bytes");
}

Test(boot_detect, directory_given_as_kernel)
{
	const char *dir = tb_temp_dir();
	expect_error(dir, "is a directory");
	expect_error(dir, dir);
}

Test(boot_detect, nonexistent_path)
{
	expect_error("/nonexistent/vmlinuz", "/nonexistent/vmlinuz");
	expect_error("/nonexistent/vmlinuz", "No such file or directory");
}

Test(boot_detect, truncated_elf_header)
{
	uint8_t image[20] = {0x7f, 'E', 'L', 'F', 1, 1, 1};
	expect_error(tb_temp_file(image, sizeof(image)), "truncated");
}
