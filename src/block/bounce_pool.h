/* Reusable bounce buffers for a block device's asynchronous requests (internal to src/block).
 *
 * A request bounces when its data cannot go between the guest's buffers and the file as they
 * are: a copy-on-write cluster, a vectored request the driver cannot map in place. Allocating
 * such a buffer per request from the heap cost more than the I/O: the heap grew and shrank
 * (brk) and every fresh page faulted during the copy. The pool keeps them, carved from huge
 * pages. Submitting thread only, like the rest of the asynchronous path. */
#ifndef GUREUM_BLOCK_BOUNCE_POOL_H
#define GUREUM_BLOCK_BOUNCE_POOL_H

#include "block/block.h"

#include <stddef.h>

/* A 4 KiB aligned buffer of at least size bytes, or NULL when out of memory. */
void *bounce_get(struct block_device *dev, size_t size);
/* Gives back a buffer from bounce_get(dev, size) (the same size); NULL is ignored. */
void bounce_put(struct block_device *dev, void *buffer, size_t size);
/* Frees the device's pool (block_close). */
void bounce_pool_destroy(struct block_device *dev);

#endif
