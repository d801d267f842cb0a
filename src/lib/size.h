/* Parsing of human-written sizes ("512M", "2G") and numbers ("0xf4") from command lines and
 * config files. */
#ifndef GUREUM_LIB_SIZE_H
#define GUREUM_LIB_SIZE_H

#include <stdbool.h>
#include <stdint.h>

/* Parses a byte count with an optional K/M/G/T suffix (binary multiples, case-insensitive,
 * optional trailing "iB" or "B"). A plain number means MiB when default_unit_mib is set, as
 * in QEMU's -m. Returns false on garbage, negative values or overflow. */
bool parse_size(const char *text, bool default_unit_mib, uint64_t *bytes);

/* Parses an unsigned integer in decimal or 0x-hex within [min, max]. */
bool parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *value);

#endif
