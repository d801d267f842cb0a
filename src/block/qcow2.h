/* qcow2 images: what callers outside the driver may ask about an open image. */
#ifndef GUREUM_BLOCK_QCOW2_H
#define GUREUM_BLOCK_QCOW2_H

#include "block/block.h"
#include "block/qcow2_format.h"

/* The parsed header of dev, or NULL if dev is not a qcow2 image. */
const struct qcow2_header *qcow2_header_of(struct block_device *dev);

/* The open backing image of dev, or NULL if it has none (or is not qcow2). */
struct block_device *qcow2_backing_of(struct block_device *dev);

#endif
