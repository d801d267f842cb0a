/* qcow2 images: what callers outside the driver may ask about an open image. */
#ifndef GUREUM_BLOCK_QCOW2_H
#define GUREUM_BLOCK_QCOW2_H

#include "block/block.h"
#include "block/qcow2_format.h"

/* The parsed header of dev, or NULL if dev is not a qcow2 image. */
const struct qcow2_header *qcow2_header_of(struct block_device *dev);

/* The open backing image of dev, or NULL if it has none (or is not qcow2). */
struct block_device *qcow2_backing_of(struct block_device *dev);

/* Makes whole clusters of [offset, offset + length) unallocated, so that the backing file shows
 * through again (partial clusters are left alone). For commit, which empties the overlay. */
int qcow2_deallocate(struct block_device *dev, uint64_t offset, uint64_t length);

/* Writes one whole guest cluster at offset (cluster aligned) compressed with zlib, or plainly
 * when it does not shrink. The cluster must be unallocated (images being converted). */
int qcow2_write_compressed(struct block_device *dev, uint64_t offset, const void *cluster);

/* Changes the virtual size. Growing extends the L1 table (moving it if needed); shrinking is
 * refused unless allow_shrink, and then drops the clusters past the new end. */
int qcow2_resize(struct block_device *dev, uint64_t new_size, bool allow_shrink,
		 struct block_error *err);

/* Records a new backing file name (NULL: none) and format in the header, which is rewritten
 * in one write; other header extensions are kept. Does not reopen the backing chain. */
int qcow2_set_backing(struct block_device *dev, const char *name, const char *format,
		      struct block_error *err);

enum qcow2_prealloc {
	QCOW2_PREALLOC_OFF,
	QCOW2_PREALLOC_METADATA,
	QCOW2_PREALLOC_FALLOC,
	QCOW2_PREALLOC_FULL
};

/* Allocates every L2 table and data cluster of a fresh image (opened read-write, unsafe); falloc
 * also reserves the space, full also writes the zeroes. */
int qcow2_preallocate(struct block_device *dev, enum qcow2_prealloc mode, struct block_error *err);

#endif
