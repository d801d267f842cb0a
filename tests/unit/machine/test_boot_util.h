/* Shared by the loader tests: temporary files, a 64 MiB guest, little-endian field access and a
 * builder for small ELF images. */
#ifndef GUREUM_TESTS_BOOT_UTIL_H
#define GUREUM_TESTS_BOOT_UTIL_H

#include "machine/guest_memory.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TB_RAM_SIZE (64ULL << 20)
#define TB_ERR_LEN  512

/* Writes `len` bytes to a new temporary file and returns its path (removed by tb_cleanup). */
const char *tb_temp_file(const void *data, size_t len);
/* A sparse temporary file of `len` bytes. */
const char *tb_sparse_file(uint64_t len);
/* A temporary directory (removed by tb_cleanup). */
const char *tb_temp_dir(void);
void tb_cleanup(void);

void tb_guest(struct guest_memory *mem, uint64_t ram_size);
/* Host pointer to guest bytes; fails the test if the range is not RAM. */
const uint8_t *tb_at(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

void tb_put16(uint8_t *p, uint16_t v);
void tb_put32(uint8_t *p, uint32_t v);
void tb_put64(uint8_t *p, uint64_t v);
uint16_t tb_get16(const uint8_t *p);
uint32_t tb_get32(const uint8_t *p);
uint64_t tb_get64(const uint8_t *p);

/* Fills `buf` with a pattern that depends on `seed`, so misplaced copies are detected. */
void tb_pattern(uint8_t *buf, size_t len, uint8_t seed);

struct tb_segment {
	uint32_t type;
	uint64_t paddr, vaddr;
	const void *data;
	size_t filesz;
	uint64_t memsz;
	uint64_t align;
};

/* Builds an executable ELF (64-bit or 32-bit) whose segments' file data follow the program
 * headers, each 16-byte aligned. Returns a malloc'd image; `size` gets its length and
 * `data_offsets[i]` (if not NULL) segment i's file offset. */
uint8_t *tb_build_elf(bool is64, uint64_t entry, const struct tb_segment *segs, size_t n,
		      size_t *size, size_t *data_offsets);
/* Offset of program header `i`'s p_filesz field in an image built by tb_build_elf. */
size_t tb_phdr_filesz_offset(bool is64, size_t i);

/* Encodes one ELF note (4-byte aligned) into `buf`; returns its length. */
size_t tb_note(uint8_t *buf, const char *name, uint32_t type, const void *desc, uint32_t descsz);

#endif
