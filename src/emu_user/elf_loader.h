/* Loads a static x86-64 Linux executable (ET_EXEC, or static-pie ET_DYN) into a guest address
 * space, the way the kernel's binfmt_elf does for a program without an interpreter. Everything
 * read from the file is validated; dynamic executables (PT_INTERP) are refused. */
#ifndef GUREUM_EMU_USER_ELF_LOADER_H
#define GUREUM_EMU_USER_ELF_LOADER_H

#include "emu_user/address_space.h"

#include <stddef.h>
#include <stdint.h>

/* Where a static-pie executable is placed (its lowest segment); the kernel's ELF_ET_DYN_BASE
 * does not fit in the guest space, any page-aligned address well above 0x400000 does. */
#define ELF_USER_PIE_BASE  0x200000000ULL
#define ELF_USER_MAX_PHDRS 64

struct elf_user_image {
	uint64_t entry;	    /* guest address of the entry point (bias applied) */
	uint64_t phdr_addr; /* guest address of the program headers (AT_PHDR), 0 if not loaded */
	uint16_t phnum;
	uint64_t load_bias; /* 0 for ET_EXEC */
	uint64_t brk_start; /* page-aligned end of the highest segment */
};

/* Checks the headers of the ELF file open on `fd` without touching any address space, so that
 * execve can refuse a bad program while the old one is still intact. Returns 0 or -errno
 * (-ENOEXEC for a file that is not a loadable static x86-64 program), with a message in err. */
int elf_user_check(int fd, char *err, size_t err_len);

/* Maps the program's PT_LOAD segments (file data, zeroed bss, segment permissions) into `as`,
 * which should be empty, and sets the heap start. Returns 0 or -errno, with a message in err. */
int elf_user_load(struct guest_as *as, int fd, struct elf_user_image *image, char *err,
		  size_t err_len);

#endif
