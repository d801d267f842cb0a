#include "machine/elf_image.h"

#include "machine/boot_common.h"
#include "machine/layout.h"

#include <elf.h>
#include <string.h>

bool elf_image_is_elf(const uint8_t *data, size_t size)
{
	return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* True when [offset, offset+len) lies inside a file of `size` bytes, without overflowing. */
static bool in_file(uint64_t offset, uint64_t len, size_t size)
{
	return offset <= size && len <= size - offset;
}

static int check_ident(const uint8_t *data, size_t size, char *err, size_t err_len)
{
	if (!elf_image_is_elf(data, size) || size < EI_NIDENT)
		return boot_fail(err, err_len, "not an ELF file");
	if (data[EI_CLASS] != ELFCLASS32 && data[EI_CLASS] != ELFCLASS64)
		return boot_fail(err, err_len, "ELF file of unknown class %u", data[EI_CLASS]);
	if (data[EI_DATA] != ELFDATA2LSB)
		return boot_fail(err, err_len, "ELF file is not little-endian");
	size_t header = data[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (size < header)
		return boot_fail(err, err_len, "ELF header truncated (%zu bytes)", size);
	return 0;
}

static void read_phdr64(const uint8_t *p, struct elf_segment *seg)
{
	Elf64_Phdr ph;
	memcpy(&ph, p, sizeof(ph));
	*seg = (struct elf_segment){ph.p_type,	 ph.p_offset, ph.p_vaddr, ph.p_paddr,
				    ph.p_filesz, ph.p_memsz,  ph.p_align};
}

static void read_phdr32(const uint8_t *p, struct elf_segment *seg)
{
	Elf32_Phdr ph;
	memcpy(&ph, p, sizeof(ph));
	*seg = (struct elf_segment){ph.p_type,	 ph.p_offset, ph.p_vaddr, ph.p_paddr,
				    ph.p_filesz, ph.p_memsz,  ph.p_align};
}

int elf_image_parse(const uint8_t *data, size_t size, struct elf_image *elf, char *err,
		    size_t err_len)
{
	if (check_ident(data, size, err, err_len) < 0)
		return -1;
	memset(elf, 0, sizeof(*elf));
	elf->is64 = data[EI_CLASS] == ELFCLASS64;
	uint16_t machine, phentsize, phnum, type;
	uint64_t phoff;
	if (elf->is64) {
		Elf64_Ehdr eh;
		memcpy(&eh, data, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, elf->entry = eh.e_entry;
		phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
	} else {
		Elf32_Ehdr eh;
		memcpy(&eh, data, sizeof(eh));
		type = eh.e_type, machine = eh.e_machine, elf->entry = eh.e_entry;
		phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
	}
	if (type != ET_EXEC)
		return boot_fail(err, err_len, "ELF file is not an executable (e_type %u)", type);
	if (machine != EM_X86_64 && machine != EM_386)
		return boot_fail(err, err_len, "ELF file is not for x86 (e_machine %u)", machine);
	size_t min_entsize = elf->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (phnum == 0 || phnum == PN_XNUM || phnum > ELF_IMAGE_MAX_SEGMENTS)
		return boot_fail(err, err_len, "ELF file has %u program headers (1..%d supported)",
				 phnum, ELF_IMAGE_MAX_SEGMENTS);
	if (phentsize < min_entsize || !in_file(phoff, (uint64_t)phentsize * phnum, size))
		return boot_fail(err, err_len, "ELF program headers lie outside the file");
	for (uint16_t i = 0; i < phnum; i++) {
		const uint8_t *p = data + phoff + (uint64_t)i * phentsize;
		if (elf->is64)
			read_phdr64(p, &elf->segments[i]);
		else
			read_phdr32(p, &elf->segments[i]);
	}
	elf->nr_segments = phnum;
	return 0;
}

static uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) & ~(align - 1);
}

/* Walks one PT_NOTE segment. Notes are 4-byte aligned unless the segment says 8. */
static int scan_notes(const struct elf_segment *seg, const uint8_t *data, const char *name,
		      uint32_t type, const uint8_t **desc, uint32_t *desc_size)
{
	uint64_t align = seg->align == 8 ? 8 : 4;
	uint64_t pos = 0;
	size_t name_len = strlen(name) + 1;
	while (seg->filesz - pos >= sizeof(Elf32_Nhdr)) {
		Elf32_Nhdr nh;
		memcpy(&nh, data + seg->offset + pos, sizeof(nh));
		uint64_t name_at = pos + sizeof(nh);
		uint64_t desc_at = name_at + align_up(nh.n_namesz, align);
		uint64_t next = desc_at + align_up(nh.n_descsz, align);
		if (desc_at > seg->filesz || nh.n_descsz > seg->filesz - desc_at)
			return -1;
		if (nh.n_type == type && nh.n_namesz == name_len &&
		    memcmp(data + seg->offset + name_at, name, name_len) == 0) {
			*desc = data + seg->offset + desc_at;
			*desc_size = nh.n_descsz;
			return 1;
		}
		if (next >= seg->filesz)
			break;
		pos = next;
	}
	return 0;
}

int elf_image_find_note(const struct elf_image *elf, const uint8_t *data, size_t size,
			const char *name, uint32_t type, const uint8_t **desc, uint32_t *desc_size,
			char *err, size_t err_len)
{
	for (size_t i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];
		if (seg->type != PT_NOTE)
			continue;
		if (!in_file(seg->offset, seg->filesz, size))
			return boot_fail(err, err_len, "ELF note segment %zu lies outside the file",
					 i);
		int found = scan_notes(seg, data, name, type, desc, desc_size);
		if (found < 0)
			return boot_fail(err, err_len, "ELF note segment %zu is malformed", i);
		if (found)
			return 1;
	}
	return 0;
}

static int check_segment(const struct guest_memory *mem, const struct elf_segment *seg, size_t i,
			 size_t size, char *err, size_t err_len)
{
	if (seg->filesz > seg->memsz)
		return boot_fail(err, err_len, "ELF segment %zu: p_filesz is larger than p_memsz",
				 i);
	if (!in_file(seg->offset, seg->filesz, size))
		return boot_fail(err, err_len,
				 "ELF segment %zu: file data (offset 0x%llx, %llu bytes) lies "
				 "outside the file (%zu bytes)",
				 i, (unsigned long long)seg->offset,
				 (unsigned long long)seg->filesz, size);
	if (seg->paddr + seg->memsz < seg->paddr)
		return boot_fail(err, err_len, "ELF segment %zu: address range overflows", i);
	if (seg->paddr < LAYOUT_HIGH_MEMORY)
		return boot_fail(err, err_len,
				 "ELF segment %zu at 0x%llx is below 1 MiB, where the boot "
				 "structures live",
				 i, (unsigned long long)seg->paddr);
	if (!guest_memory_ptr(mem, seg->paddr, seg->memsz))
		return boot_fail(
		    err, err_len, "ELF segment %zu (0x%llx..0x%llx) lies outside guest RAM", i,
		    (unsigned long long)seg->paddr, (unsigned long long)(seg->paddr + seg->memsz));
	return 0;
}

static bool overlaps(const struct elf_segment *a, const struct elf_segment *b)
{
	return a->paddr < b->paddr + b->memsz && b->paddr < a->paddr + a->memsz;
}

static bool loadable(const struct elf_segment *seg)
{
	return seg->type == PT_LOAD && seg->memsz > 0;
}

static int check_all_segments(const struct guest_memory *mem, const struct elf_image *elf,
			      size_t size, char *err, size_t err_len)
{
	size_t count = 0;
	for (size_t i = 0; i < elf->nr_segments; i++) {
		if (!loadable(&elf->segments[i]))
			continue;
		count++;
		if (check_segment(mem, &elf->segments[i], i, size, err, err_len) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (loadable(&elf->segments[j]) &&
			    overlaps(&elf->segments[i], &elf->segments[j]))
				return boot_fail(err, err_len, "ELF segments %zu and %zu overlap",
						 j, i);
	}
	if (count == 0)
		return boot_fail(err, err_len, "ELF file has no loadable segments");
	return 0;
}

int elf_image_load(const struct guest_memory *mem, const struct elf_image *elf, const uint8_t *data,
		   size_t size, uint64_t *end, char *err, size_t err_len)
{
	/* Check everything first so that a bad file leaves guest RAM untouched. */
	if (check_all_segments(mem, elf, size, err, err_len) < 0)
		return -1;
	*end = 0;
	for (size_t i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];
		if (!loadable(seg))
			continue;
		uint8_t *dst = guest_memory_ptr(mem, seg->paddr, seg->memsz);
		memcpy(dst, data + seg->offset, seg->filesz);
		memset(dst + seg->filesz, 0, seg->memsz - seg->filesz);
		if (seg->paddr + seg->memsz > *end)
			*end = seg->paddr + seg->memsz;
	}
	return 0;
}

uint64_t elf_image_virt_to_phys(const struct elf_image *elf, uint64_t vaddr)
{
	for (size_t i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *seg = &elf->segments[i];
		if (loadable(seg) && vaddr >= seg->vaddr && vaddr - seg->vaddr < seg->memsz)
			return seg->paddr + (vaddr - seg->vaddr);
	}
	return vaddr;
}
