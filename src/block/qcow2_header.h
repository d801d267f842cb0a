/* Parsing and validating a qcow2 header: every offset and size is checked against the file size
 * and the format's limits before any other code trusts it. */
#ifndef GUREUM_BLOCK_QCOW2_HEADER_H
#define GUREUM_BLOCK_QCOW2_HEADER_H

#include "block/block.h"
#include "block/qcow2_format.h"

#include <stddef.h>

/* Parses the header in buf (the file's first bytes: at least the whole first cluster, or the
 * whole file when it is smaller). file_size is the image file's size. On failure returns
 * -EINVAL (malformed) or -ENOTSUP (valid but uses something this driver does not implement)
 * with err naming the problem; err->message does not include the file name.
 * The dirty and corrupt bits are accepted here (they are left in incompatible_features for the
 * caller to judge); any other incompatible feature this driver lacks is refused by name. */
int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       struct block_error *err);

#endif
