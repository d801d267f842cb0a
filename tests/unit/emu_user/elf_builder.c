#include "elf_builder.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_elf test_elf_default(void)
{
	struct test_elf elf = {.type = ET_EXEC, .entry = 0x400100, .phnum = 2, .file_size = 0x3000};
	elf.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_flags = PF_R | PF_X,
				 .p_offset = 0,
				 .p_vaddr = 0x400000,
				 .p_filesz = 0x1000,
				 .p_memsz = 0x1000,
				 .p_align = 0x1000};
	elf.ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_flags = PF_R | PF_W,
				 .p_offset = 0x2000,
				 .p_vaddr = 0x402000,
				 .p_filesz = 0x100,
				 .p_memsz = 0x3000,
				 .p_align = 0x1000};
	return elf;
}

int test_elf_write(const struct test_elf *elf)
{
	char path[] = "/tmp/gureum-elf-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(ftruncate(fd, (off_t)elf->file_size), 0);
	Elf64_Ehdr eh = {
	    .e_type = elf->type,
	    .e_machine = EM_X86_64,
	    .e_version = EV_CURRENT,
	    .e_entry = elf->entry,
	    .e_phoff = sizeof(Elf64_Ehdr),
	    .e_ehsize = sizeof(Elf64_Ehdr),
	    .e_phentsize = sizeof(Elf64_Phdr),
	    .e_phnum = (uint16_t)elf->phnum,
	};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	cr_assert_eq(pwrite(fd, &eh, sizeof(eh), 0), (ssize_t)sizeof(eh));
	size_t ph_bytes = (size_t)elf->phnum * sizeof(Elf64_Phdr);
	cr_assert_eq(pwrite(fd, elf->ph, ph_bytes, sizeof(eh)), (ssize_t)ph_bytes);
	return fd;
}
