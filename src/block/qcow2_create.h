/* Creating empty qcow2 images. */
#ifndef GUREUM_BLOCK_QCOW2_CREATE_H
#define GUREUM_BLOCK_QCOW2_CREATE_H

#include "block/block.h"

#include <stdint.h>

struct qcow2_create_options {
	uint64_t size;		    /* virtual size in bytes, a multiple of 512 */
	unsigned cluster_bits;	    /* 9..21; 16 (64 KiB) is the usual choice */
	unsigned version;	    /* 2 (QEMU's compat=0.10) or 3 (compat=1.1) */
	unsigned refcount_order;    /* refcount width is 1 << order bits; 4 in version 2 */
	const char *backing_file;   /* NULL: none; stored as given (relative to the image) */
	const char *backing_format; /* NULL: not recorded */
	bool lazy_refcounts;	    /* version 3 only: refcounts may lag, the dirty bit covers it */
};

/* Default options for size: version 3, 64 KiB clusters, 16-bit refcounts. */
struct qcow2_create_options qcow2_default_options(uint64_t size);

/* Creates (or truncates) filename as an empty qcow2 image. The refcount table is sized to cover
 * the fully allocated image, so writes never need to grow it. */
int qcow2_create(const char *filename, const struct qcow2_create_options *opt,
		 struct block_error *err);

#endif
