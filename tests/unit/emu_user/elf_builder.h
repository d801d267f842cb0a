/* Synthetic ELF64 x86-64 files for the loader tests. */
#ifndef GUREUM_TESTS_EMU_USER_ELF_BUILDER_H
#define GUREUM_TESTS_EMU_USER_ELF_BUILDER_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

struct test_elf {
	uint16_t type; /* ET_EXEC or ET_DYN */
	uint64_t entry;
	int phnum;
	Elf64_Phdr ph[8];
	size_t file_size; /* the file is zero-filled to this size; data goes in with pwrite */
};

/* A two-segment static program: text (R+X) at 0x400000 from offset 0, data (RW) at 0x402000
 * from offset 0x2000 with 0x100 file bytes and 0x3000 bytes in memory (bss). */
struct test_elf test_elf_default(void);
/* Writes the file to an unlinked temporary and returns its read/write fd. */
int test_elf_write(const struct test_elf *elf);

#endif
