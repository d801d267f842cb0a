#include "machine/boot_common.h"
#include "machine/multiboot.h"

#include <string.h>

/* How far past the 8 KiB limit we look, only to explain why a kernel is refused. */
#define MULTIBOOT_DIAGNOSE_LIMIT (64 * 1024)

static bool magic_at(const uint8_t *data, size_t pos)
{
	uint32_t magic;
	memcpy(&magic, data + pos, 4);
	return magic == MULTIBOOT_HEADER_MAGIC;
}

static bool checksum_ok(const uint8_t *data, size_t pos)
{
	uint32_t words[3];
	memcpy(words, data + pos, sizeof(words));
	return (uint32_t)(words[0] + words[1] + words[2]) == 0;
}

/* The header's fixed part is 12 bytes; with the a.out kludge 32. */
static size_t header_len(const uint8_t *data, size_t pos)
{
	uint32_t flags;
	memcpy(&flags, data + pos + 4, 4);
	return flags & MULTIBOOT_AOUT_KLUDGE ? sizeof(struct multiboot_header) : 12;
}

/* First 4-byte-aligned offset in [0, limit) with a checksummed header, or `limit`. */
static size_t scan(const uint8_t *data, size_t limit, size_t *bad_checksum_at)
{
	for (size_t pos = 0; pos + 12 <= limit; pos += MULTIBOOT_HEADER_ALIGN) {
		if (!magic_at(data, pos))
			continue;
		if (checksum_ok(data, pos))
			return pos;
		if (*bad_checksum_at == SIZE_MAX)
			*bad_checksum_at = pos;
	}
	return limit;
}

int multiboot_find_header(const uint8_t *data, size_t size, size_t *offset,
			  struct multiboot_header *header, char *err, size_t err_len)
{
	size_t limit = size < MULTIBOOT_SEARCH_LIMIT ? size : MULTIBOOT_SEARCH_LIMIT;
	size_t bad = SIZE_MAX;
	size_t pos = scan(data, limit, &bad);
	if (pos < limit) {
		if (pos + header_len(data, pos) > limit)
			return boot_fail(err, err_len,
					 "multiboot header at offset %zu runs past the first %d "
					 "bytes (or the end of the file)",
					 pos, MULTIBOOT_SEARCH_LIMIT);
		memset(header, 0, sizeof(*header));
		memcpy(header, data + pos, header_len(data, pos));
		*offset = pos;
		return 1;
	}
	if (bad != SIZE_MAX)
		return boot_fail(err, err_len, "multiboot header at offset %zu has a bad checksum",
				 bad);
	size_t far_limit = size < MULTIBOOT_DIAGNOSE_LIMIT ? size : MULTIBOOT_DIAGNOSE_LIMIT;
	size_t far =
	    limit >= far_limit ? far_limit : limit + scan(data + limit, far_limit - limit, &bad);
	if (far < far_limit)
		return boot_fail(err, err_len,
				 "multiboot header at offset %zu is beyond the first %d bytes, "
				 "where the specification requires it",
				 far, MULTIBOOT_SEARCH_LIMIT);
	return 0;
}
