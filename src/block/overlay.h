/* External overlays: a new, empty qcow2 image on top of an existing image. From then on the
 * writes go to the overlay and the image below stays as it was at that instant, which is what a
 * disk snapshot and a throwaway copy of a golden image both need. */
#ifndef GUREUM_BLOCK_OVERLAY_H
#define GUREUM_BLOCK_OVERLAY_H

#include "block/block.h"

#include <stddef.h>

/* Creates an overlay of `image` (format "raw", "qcow2" or NULL to probe) in the image's own
 * directory, named after it with the first free number: disk.qcow2 -> disk.ovl1.qcow2. The
 * overlay names its backing file relatively (the image's file name) and records its format, so
 * the pair can move together. `overlay` receives the overlay's absolute path. The image may be
 * open elsewhere, for writing too, as long as its writer has flushed. Returns 0, or a negative
 * errno with err filled in (and no file left behind). */
int block_overlay_create(const char *image, const char *format, char *overlay, size_t overlay_len,
			 struct block_error *err);

/* Deletes an overlay made by block_overlay_create that nothing uses any more (undoing a step
 * that failed later). */
void block_overlay_discard(const char *overlay);

#endif
