#include "elf_builder.h"
#include "emu_user/initial_stack.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct guest_as as;
static struct elf_user_image image;

static void setup(void)
{
	cr_assert_eq(guest_as_init(&as, GUEST_AS_DEFAULT), 0);
	struct test_elf elf = test_elf_default();
	int fd = test_elf_write(&elf);
	char err[256];
	cr_assert_eq(elf_user_load(&as, fd, &image, err, sizeof(err)), 0, "%s", err);
	close(fd);
}

static void teardown(void)
{
	guest_as_destroy(&as);
}

TestSuite(initial_stack, .init = setup, .fini = teardown);

static uint64_t word(uint64_t addr)
{
	const uint64_t *p = guest_as_translate(&as, addr, 8, PROT_READ);
	cr_assert_not_null(p, "stack word at 0x%llx unreadable", (unsigned long long)addr);
	return *p;
}

static const char *string_at(uint64_t addr)
{
	int error;
	const char *s = guest_as_string(&as, addr, 4096, &error);
	cr_assert_not_null(s);
	return s;
}

/* Value of auxv entry `type` from the auxv at `auxv`, or `missing`. */
static uint64_t aux(uint64_t auxv, uint64_t type, uint64_t missing)
{
	for (;; auxv += 16) {
		uint64_t t = word(auxv);
		if (t == type)
			return word(auxv + 8);
		if (t == AT_NULL)
			return missing;
	}
}

static struct initial_stack_params default_params(char *const *argv, char *const *envp)
{
	return (struct initial_stack_params){.argv = argv,
					     .envp = envp,
					     .execfn = "/bin/prog",
					     .hwcap = 0x178bfbff,
					     .uid = 1000,
					     .euid = 1001,
					     .gid = 100,
					     .egid = 101};
}

Test(initial_stack, argc_argv_envp_auxv_in_kernel_layout)
{
	char *argv[] = {"prog", "-x", "an argument", NULL};
	char *envp[] = {"HOME=/root", "LANG=C", NULL};
	struct initial_stack_params params = default_params(argv, envp);
	uint64_t sp;
	cr_assert_eq(initial_stack_build(&as, &image, &params, &sp), 0);
	cr_assert_eq(sp % 16, 0, "rsp 0x%llx is not 16-byte aligned", (unsigned long long)sp);
	cr_assert_eq(word(sp), 3);
	cr_assert_str_eq(string_at(word(sp + 8)), "prog");
	cr_assert_str_eq(string_at(word(sp + 16)), "-x");
	cr_assert_str_eq(string_at(word(sp + 24)), "an argument");
	cr_assert_eq(word(sp + 32), 0);
	cr_assert_str_eq(string_at(word(sp + 40)), "HOME=/root");
	cr_assert_str_eq(string_at(word(sp + 48)), "LANG=C");
	cr_assert_eq(word(sp + 56), 0);
	uint64_t auxv = sp + 64;

	cr_assert_eq(aux(auxv, AT_PAGESZ, 0), 4096);
	cr_assert_eq(aux(auxv, AT_ENTRY, 0), image.entry);
	cr_assert_eq(aux(auxv, AT_PHDR, 0), image.phdr_addr);
	cr_assert_eq(aux(auxv, AT_PHENT, 0), sizeof(Elf64_Phdr));
	cr_assert_eq(aux(auxv, AT_PHNUM, 0), 2);
	cr_assert_eq(aux(auxv, AT_HWCAP, 0), 0x178bfbff);
	cr_assert_eq(aux(auxv, AT_CLKTCK, 0), (uint64_t)sysconf(_SC_CLK_TCK));
	cr_assert_eq(aux(auxv, AT_UID, 0), 1000);
	cr_assert_eq(aux(auxv, AT_EUID, 0), 1001);
	cr_assert_eq(aux(auxv, AT_GID, 0), 100);
	cr_assert_eq(aux(auxv, AT_EGID, 0), 101);
	cr_assert_eq(aux(auxv, AT_SECURE, 99), 0);
	cr_assert_eq(aux(auxv, AT_SYSINFO_EHDR, 77), 77, "no vDSO is offered");
	cr_assert_str_eq(string_at(aux(auxv, AT_EXECFN, 0)), "/bin/prog");
	cr_assert_str_eq(string_at(aux(auxv, AT_PLATFORM, 0)), "x86_64");
	uint64_t random = aux(auxv, AT_RANDOM, 0);
	cr_assert_not_null(guest_as_translate(&as, random, 16, PROT_READ));
}

Test(initial_stack, strings_sit_at_the_top_of_a_writable_stack)
{
	char *argv[] = {"a", NULL};
	char *envp[] = {NULL};
	struct initial_stack_params params = default_params(argv, envp);
	uint64_t sp;
	cr_assert_eq(initial_stack_build(&as, &image, &params, &sp), 0);
	uint64_t top = as.size;
	cr_assert_eq(word(top - 8), 0, "the top word is NULL, as the kernel leaves it");
	uint64_t execfn = aux(sp + 8 * 4, AT_EXECFN, 0);
	cr_assert_eq(execfn + strlen("/bin/prog") + 1, top - 8, "AT_EXECFN is the last string");
	cr_assert_eq(word(sp + 8) + 2, execfn, "argv strings come right before it");
	cr_assert_not_null(guest_as_translate(&as, top - INITIAL_STACK_SIZE, INITIAL_STACK_SIZE,
					      PROT_READ | PROT_WRITE));
}

Test(initial_stack, random_bytes_differ_between_processes)
{
	char *argv[] = {"a", NULL};
	char *envp[] = {NULL};
	struct initial_stack_params params = default_params(argv, envp);
	uint64_t sp;
	cr_assert_eq(initial_stack_build(&as, &image, &params, &sp), 0);
	uint8_t first[16];
	memcpy(first, guest_as_translate(&as, aux(sp + 32, AT_RANDOM, 0), 16, PROT_READ), 16);
	cr_assert_eq(initial_stack_build(&as, &image, &params, &sp), 0);
	cr_assert_neq(
	    memcmp(first, guest_as_translate(&as, aux(sp + 32, AT_RANDOM, 0), 16, PROT_READ), 16),
	    0);
}

Test(initial_stack, oversized_arguments_fail_with_e2big)
{
	size_t len = INITIAL_STACK_MAX_ARGS + 1;
	char *huge = malloc(len + 1);
	memset(huge, 'a', len);
	huge[len] = 0;
	char *argv[] = {"a", huge, NULL};
	char *envp[] = {NULL};
	struct initial_stack_params params = default_params(argv, envp);
	uint64_t sp;
	cr_assert_eq(initial_stack_build(&as, &image, &params, &sp), -E2BIG);
	free(huge);
}
