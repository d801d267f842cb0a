#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TB_MAX_TEMPS 32

static char temp_paths[TB_MAX_TEMPS][64];
static bool temp_is_dir[TB_MAX_TEMPS];
static int nr_temps;

static char *new_temp_name(bool dir)
{
	cr_assert_lt(nr_temps, TB_MAX_TEMPS, "too many temporary files in one test");
	temp_is_dir[nr_temps] = dir;
	char *path = temp_paths[nr_temps++];
	snprintf(path, sizeof(temp_paths[0]), "/tmp/gureum-boot-test-XXXXXX");
	return path;
}

const char *tb_temp_file(const void *data, size_t len)
{
	char *path = new_temp_name(false);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp failed");
	cr_assert_eq(write(fd, data, len), (ssize_t)len, "short write to %s", path);
	close(fd);
	return path;
}

const char *tb_sparse_file(uint64_t len)
{
	char *path = new_temp_name(false);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp failed");
	cr_assert_eq(ftruncate(fd, (off_t)len), 0);
	close(fd);
	return path;
}

const char *tb_temp_dir(void)
{
	char *path = new_temp_name(true);
	cr_assert_not_null(mkdtemp(path), "mkdtemp failed");
	return path;
}

void tb_cleanup(void)
{
	for (int i = 0; i < nr_temps; i++)
		temp_is_dir[i] ? rmdir(temp_paths[i]) : unlink(temp_paths[i]);
	nr_temps = 0;
}

void tb_guest(struct guest_memory *mem, uint64_t ram_size)
{
	cr_assert_eq(guest_memory_create(mem, ram_size), 0, "cannot map guest RAM");
}

const uint8_t *tb_at(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_memory_ptr(mem, gpa, len);
	cr_assert_not_null(p, "0x%llx+%llu is not guest RAM", (unsigned long long)gpa,
			   (unsigned long long)len);
	return p;
}

void tb_put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

void tb_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

void tb_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

uint16_t tb_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

uint32_t tb_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

uint64_t tb_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void tb_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

static void write_phdr(uint8_t *p, bool is64, const struct tb_segment *s, size_t offset)
{
	if (is64) {
		Elf64_Phdr ph = {s->type,  PF_R | PF_X, offset,	  s->vaddr,
				 s->paddr, s->filesz,	s->memsz, s->align};
		memcpy(p, &ph, sizeof(ph));
	} else {
		Elf32_Phdr ph = {s->type,
				 (uint32_t)offset,
				 (uint32_t)s->vaddr,
				 (uint32_t)s->paddr,
				 (uint32_t)s->filesz,
				 (uint32_t)s->memsz,
				 PF_R | PF_X,
				 (uint32_t)s->align};
		memcpy(p, &ph, sizeof(ph));
	}
}

static void write_ehdr(uint8_t *p, bool is64, uint64_t entry, size_t n)
{
	unsigned char ident[EI_NIDENT] = {
	    ELFMAG0,	 ELFMAG1,   ELFMAG2, ELFMAG3, is64 ? ELFCLASS64 : ELFCLASS32,
	    ELFDATA2LSB, EV_CURRENT};
	if (is64) {
		Elf64_Ehdr eh = {.e_type = ET_EXEC,
				 .e_machine = EM_X86_64,
				 .e_version = EV_CURRENT,
				 .e_entry = entry,
				 .e_phoff = sizeof(Elf64_Ehdr),
				 .e_ehsize = sizeof(Elf64_Ehdr),
				 .e_phentsize = sizeof(Elf64_Phdr),
				 .e_phnum = (uint16_t)n};
		memcpy(eh.e_ident, ident, EI_NIDENT);
		memcpy(p, &eh, sizeof(eh));
	} else {
		Elf32_Ehdr eh = {.e_type = ET_EXEC,
				 .e_machine = EM_386,
				 .e_version = EV_CURRENT,
				 .e_entry = (uint32_t)entry,
				 .e_phoff = sizeof(Elf32_Ehdr),
				 .e_ehsize = sizeof(Elf32_Ehdr),
				 .e_phentsize = sizeof(Elf32_Phdr),
				 .e_phnum = (uint16_t)n};
		memcpy(eh.e_ident, ident, EI_NIDENT);
		memcpy(p, &eh, sizeof(eh));
	}
}

uint8_t *tb_build_elf(bool is64, uint64_t entry, const struct tb_segment *segs, size_t n,
		      size_t *size, size_t *data_offsets)
{
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	size_t total = align16(ehsize + n * phsize);
	for (size_t i = 0; i < n; i++)
		total = align16(total + segs[i].filesz);
	uint8_t *image = calloc(1, total);
	cr_assert_not_null(image);
	write_ehdr(image, is64, entry, n);
	size_t offset = align16(ehsize + n * phsize);
	for (size_t i = 0; i < n; i++) {
		write_phdr(image + ehsize + i * phsize, is64, &segs[i], offset);
		if (segs[i].filesz)
			memcpy(image + offset, segs[i].data, segs[i].filesz);
		if (data_offsets)
			data_offsets[i] = offset;
		offset = align16(offset + segs[i].filesz);
	}
	*size = total;
	return image;
}

size_t tb_phdr_filesz_offset(bool is64, size_t i)
{
	if (is64)
		return sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_filesz);
	return sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr) + offsetof(Elf32_Phdr, p_filesz);
}

size_t tb_note(uint8_t *buf, const char *name, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t name_padded = (namesz + 3) & ~3U, desc_padded = (descsz + 3) & ~3U;
	memset(buf, 0, 12 + name_padded + desc_padded);
	tb_put32(buf, namesz);
	tb_put32(buf + 4, descsz);
	tb_put32(buf + 8, type);
	memcpy(buf + 12, name, namesz);
	memcpy(buf + 12 + name_padded, desc, descsz);
	return 12 + name_padded + desc_padded;
}
