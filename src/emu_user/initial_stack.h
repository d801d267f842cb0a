/* The initial process stack exactly as Linux's create_elf_tables() builds it for x86-64:
 *
 *   top of space - 8      a NULL word
 *   strings               argv[0..], envp[0..], the executable's name (AT_EXECFN)
 *   (16-byte aligned)     "x86_64" (AT_PLATFORM), 16 random bytes (AT_RANDOM)
 *   auxv                  AT_* pairs ending with AT_NULL
 *   envp[], NULL
 *   argv[], NULL
 *   rsp ->  argc          16-byte aligned
 *
 * The stack is mapped read/write below the top of the guest space. */
#ifndef GUREUM_EMU_USER_INITIAL_STACK_H
#define GUREUM_EMU_USER_INITIAL_STACK_H

#include "emu_user/address_space.h"
#include "emu_user/elf_loader.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define INITIAL_STACK_SIZE (8ULL << 20)
/* Like the kernel's limit on argument and environment strings (a quarter of the stack). */
#define INITIAL_STACK_MAX_ARGS (INITIAL_STACK_SIZE / 4)

struct initial_stack_params {
	char *const *argv; /* NULL-terminated */
	char *const *envp; /* NULL-terminated */
	const char *execfn;
	uint64_t hwcap; /* AT_HWCAP: CPUID.01H:EDX of the emulated CPU */
	uid_t uid, euid;
	gid_t gid, egid;
};

/* False when argv, envp and execfn would not fit (execve checks this before dropping the old
 * program, as the kernel does). */
bool initial_stack_fits(const struct initial_stack_params *params);
/* Maps the stack and writes argc/argv/envp/auxv; *rsp receives the initial stack pointer.
 * Returns 0 or -errno (-E2BIG when the arguments do not fit). */
int initial_stack_build(struct guest_as *as, const struct elf_user_image *image,
			const struct initial_stack_params *params, uint64_t *rsp);

#endif
