#include "elf_builder.h"
#include "emu_user/elf_loader.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static struct guest_as as;
static char err[512];

static void setup(void)
{
	cr_assert_eq(guest_as_init(&as, GUEST_AS_DEFAULT), 0);
	err[0] = 0;
}

static void teardown(void)
{
	guest_as_destroy(&as);
}

TestSuite(elf_loader, .init = setup, .fini = teardown);

static void fill(int fd, uint64_t offset, int byte, size_t len)
{
	uint8_t buf[4096];
	memset(buf, byte, len);
	cr_assert_eq(pwrite(fd, buf, len, (off_t)offset), (ssize_t)len);
}

static int load(const struct test_elf *elf, struct elf_user_image *image)
{
	int fd = test_elf_write(elf);
	int rc = elf_user_load(&as, fd, image, err, sizeof(err));
	close(fd);
	return rc;
}

/* Expects the file to be refused both by the check and by the load, with `words` in the
 * message, and the address space to stay empty. */
static void expect_refusal(const struct test_elf *elf, const char *words)
{
	int fd = test_elf_write(elf);
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC, "check accepted it");
	cr_assert(strstr(err, words), "message '%s' lacks '%s'", err, words);
	struct elf_user_image image;
	cr_assert_lt(elf_user_load(&as, fd, &image, err, sizeof(err)), 0);
	cr_assert_eq(as.count, 0, "a refused program left mappings behind");
	close(fd);
}

Test(elf_loader, segments_get_file_data_zeroed_bss_and_their_permissions)
{
	struct test_elf elf = test_elf_default();
	int fd = test_elf_write(&elf);
	cr_assert_eq(pwrite(fd, "CODE", 4, 0x100), 4);
	cr_assert_eq(pwrite(fd, "DATA", 4, 0x2000), 4);
	fill(fd, 0x2100, 0xff, 0xf00); /* file bytes past p_filesz must not leak into bss */
	struct elf_user_image image;
	cr_assert_eq(elf_user_load(&as, fd, &image, err, sizeof(err)), 0, "%s", err);
	close(fd);

	cr_assert_eq(image.entry, 0x400100);
	cr_assert_eq(image.load_bias, 0);
	cr_assert_eq(image.brk_start, 0x405000);
	cr_assert_eq(as.brk_start, 0x405000);
	cr_assert_eq(image.phdr_addr, 0x400040);
	cr_assert_eq(image.phnum, 2);

	const char *code = guest_as_translate(&as, 0x400100, 4, PROT_READ | PROT_EXEC);
	cr_assert_not_null(code);
	cr_assert_eq(memcmp(code, "CODE", 4), 0);
	cr_assert_null(guest_as_translate(&as, 0x400100, 1, PROT_WRITE), "text is read-only");
	cr_assert_null(guest_as_translate(&as, 0x401000, 1, PROT_READ), "gap stays unmapped");

	const uint8_t *data = guest_as_translate(&as, 0x402000, 0x3000, PROT_WRITE);
	cr_assert_not_null(data);
	cr_assert_null(guest_as_translate(&as, 0x402000, 1, PROT_EXEC), "data is not executable");
	cr_assert_eq(memcmp(data, "DATA", 4), 0);
	for (size_t i = 0x100; i < 0x3000; i++)
		cr_assert_eq(data[i], 0, "bss byte at +0x%zx is %u", i, data[i]);
}

Test(elf_loader, program_headers_are_visible_at_phdr_address)
{
	struct test_elf elf = test_elf_default();
	struct elf_user_image image;
	cr_assert_eq(load(&elf, &image), 0, "%s", err);
	const Elf64_Phdr *ph =
	    guest_as_translate(&as, image.phdr_addr, 2 * sizeof(Elf64_Phdr), PROT_READ);
	cr_assert_not_null(ph);
	cr_assert_eq(ph[1].p_vaddr, 0x402000);
	cr_assert_eq(ph[1].p_memsz, 0x3000);
}

Test(elf_loader, segments_sharing_a_page_get_both_permissions)
{
	struct test_elf elf = test_elf_default();
	elf.ph[0].p_filesz = elf.ph[0].p_memsz = 0x800;
	elf.ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_flags = PF_R | PF_W,
				 .p_offset = 0x800,
				 .p_vaddr = 0x400800,
				 .p_filesz = 0x10,
				 .p_memsz = 0x1000};
	int fd = test_elf_write(&elf);
	cr_assert_eq(pwrite(fd, "TEXT", 4, 0x700), 4);
	cr_assert_eq(pwrite(fd, "DATA", 4, 0x800), 4);
	struct elf_user_image image;
	cr_assert_eq(elf_user_load(&as, fd, &image, err, sizeof(err)), 0, "%s", err);
	close(fd);
	cr_assert_not_null(guest_as_translate(&as, 0x400000, 0x1000, PROT_WRITE | PROT_EXEC));
	cr_assert_null(guest_as_translate(&as, 0x401000, 1, PROT_EXEC));
	cr_assert_eq(memcmp(guest_as_translate(&as, 0x400700, 4, PROT_READ), "TEXT", 4), 0);
	cr_assert_eq(memcmp(guest_as_translate(&as, 0x400800, 4, PROT_READ), "DATA", 4), 0);
	cr_assert_eq(image.brk_start, 0x402000);
}

Test(elf_loader, static_pie_is_placed_at_the_pie_base)
{
	struct test_elf elf = test_elf_default();
	elf.type = ET_DYN;
	elf.entry = 0x100;
	elf.ph[0].p_vaddr = 0;
	elf.ph[1].p_vaddr = 0x2000;
	struct elf_user_image image;
	cr_assert_eq(load(&elf, &image), 0, "%s", err);
	cr_assert_eq(image.load_bias, ELF_USER_PIE_BASE);
	cr_assert_eq(image.entry, ELF_USER_PIE_BASE + 0x100);
	cr_assert_eq(image.phdr_addr, ELF_USER_PIE_BASE + 0x40);
	cr_assert_not_null(guest_as_translate(&as, ELF_USER_PIE_BASE + 0x2000, 0x3000, PROT_WRITE));
}

Test(elf_loader, dynamic_programs_are_refused_naming_the_interpreter)
{
	struct test_elf elf = test_elf_default();
	const char interp[] = "/lib64/ld-linux-x86-64.so.2";
	elf.ph[2] =
	    (Elf64_Phdr){.p_type = PT_INTERP, .p_offset = 0x200, .p_filesz = sizeof(interp)};
	elf.phnum = 3;
	int fd = test_elf_write(&elf);
	cr_assert_eq(pwrite(fd, interp, sizeof(interp), 0x200), (ssize_t)sizeof(interp));
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC);
	cr_assert(strstr(err, "dynamically linked"), "%s", err);
	cr_assert(strstr(err, interp), "%s", err);
	close(fd);
}

Test(elf_loader, malformed_headers_are_refused)
{
	struct test_elf elf = test_elf_default();
	elf.type = ET_REL;
	expect_refusal(&elf, "not an executable");

	elf = test_elf_default();
	elf.phnum = 0;
	expect_refusal(&elf, "program headers");

	elf = test_elf_default();
	elf.ph[1].p_filesz = 0x4000; /* more file bytes than memory */
	expect_refusal(&elf, "outside the file");

	elf = test_elf_default();
	elf.ph[1].p_offset = 0x10000; /* beyond the end of the file */
	expect_refusal(&elf, "outside the file");

	elf = test_elf_default();
	elf.ph[1].p_offset = 0x2800; /* not congruent with the address modulo the page size */
	expect_refusal(&elf, "page-congruent");

	elf = test_elf_default();
	elf.entry = 0x900000;
	expect_refusal(&elf, "entry point");

	elf = test_elf_default();
	elf.entry = 0x402010; /* inside the image, but in the data segment */
	expect_refusal(&elf, "not in an executable segment");

	elf = test_elf_default();
	elf.ph[0].p_type = elf.ph[1].p_type = PT_NOTE;
	expect_refusal(&elf, "no loadable segment");

	elf = test_elf_default();
	elf.ph[0].p_vaddr = 0x1000; /* the NULL area below GUEST_MIN_ADDR */
	elf.ph[1].p_vaddr = 0x3000;
	elf.entry = 0x1100;
	expect_refusal(&elf, "does not fit");

	elf = test_elf_default();
	elf.ph[1].p_memsz = 1ULL << 62;
	expect_refusal(&elf, "too large");
}

Test(elf_loader, files_that_are_not_x86_64_programs_are_refused)
{
	struct test_elf elf = test_elf_default();
	int fd = test_elf_write(&elf);
	uint8_t class32 = ELFCLASS32;
	cr_assert_eq(pwrite(fd, &class32, 1, EI_CLASS), 1);
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC);
	cr_assert(strstr(err, "x86-64"), "%s", err);
	close(fd);

	fd = test_elf_write(&elf);
	uint16_t arm = EM_AARCH64;
	cr_assert_eq(pwrite(fd, &arm, 2, offsetof(Elf64_Ehdr, e_machine)), 2);
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC);
	close(fd);

	fd = test_elf_write(&elf);
	cr_assert_eq(pwrite(fd, "#!/bin/sh\n", 10, 0), 10);
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC);
	cr_assert(strstr(err, "not an ELF"), "%s", err);
	cr_assert_eq(ftruncate(fd, 20), 0);
	cr_assert_eq(elf_user_check(fd, err, sizeof(err)), -ENOEXEC, "truncated header");
	close(fd);
}

Test(elf_loader, real_static_busybox_loads)
{
	int fd = open("/bin/busybox", O_RDONLY);
	if (fd < 0)
		cr_skip_test("/bin/busybox (busybox-static) is not installed");
	Elf64_Ehdr eh;
	cr_assert_eq(pread(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
	struct elf_user_image image;
	cr_assert_eq(elf_user_load(&as, fd, &image, err, sizeof(err)), 0, "%s", err);
	close(fd);
	cr_assert_eq(image.entry, eh.e_entry + image.load_bias);
	cr_assert_not_null(guest_as_translate(&as, image.entry, 16, PROT_EXEC));
	cr_assert_not_null(
	    guest_as_translate(&as, image.phdr_addr, image.phnum * sizeof(Elf64_Phdr), PROT_READ));
	cr_assert_eq(image.brk_start & GUEST_PAGE_MASK, 0);
}

/* Random corruption of the headers: every outcome is a load or a clear refusal, never a crash,
 * and a refused load leaves the address space as it was (empty). Fixed seed. */
Test(elf_loader, corrupted_headers_never_crash_the_loader)
{
	struct test_elf elf = test_elf_default();
	elf.ph[2] = (Elf64_Phdr){.p_type = PT_TLS,
				 .p_offset = 0x2000,
				 .p_vaddr = 0x402000,
				 .p_filesz = 0x10,
				 .p_memsz = 0x20};
	elf.phnum = 3;
	int fd = test_elf_write(&elf);
	uint8_t pristine[sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr)];
	cr_assert_eq(pread(fd, pristine, sizeof(pristine), 0), (ssize_t)sizeof(pristine));
	srand(99);
	int loaded = 0, refused = 0;
	for (int round = 0; round < 2000; round++) {
		uint8_t bytes[sizeof(pristine)];
		memcpy(bytes, pristine, sizeof(bytes));
		for (int flips = 1 + rand() % 4; flips > 0; flips--) {
			size_t at = (size_t)rand() % sizeof(bytes);
			bytes[at] = rand() % 3 ? (uint8_t)rand() : (uint8_t)(bytes[at] ^ 0x80);
		}
		cr_assert_eq(pwrite(fd, bytes, sizeof(bytes), 0), (ssize_t)sizeof(bytes));
		struct guest_as fresh;
		cr_assert_eq(guest_as_init(&fresh, GUEST_AS_DEFAULT), 0);
		struct elf_user_image image;
		err[0] = 0;
		int rc = elf_user_load(&fresh, fd, &image, err, sizeof(err));
		if (rc == 0) {
			loaded++;
			cr_assert_not_null(guest_as_translate(&fresh, image.entry, 1, PROT_EXEC),
					   "entry 0x%llx not executable (round %d)",
					   (unsigned long long)image.entry, round);
		} else {
			refused++;
			cr_assert_neq(err[0], 0, "refusal without a message (round %d)", round);
		}
		guest_as_destroy(&fresh);
	}
	cr_assert_gt(loaded, 0, "some mutations should still load");
	cr_assert_gt(refused, 0);
	close(fd);
}
