/* A picture of the screen: the framebuffer as it is now, written as a PNG file (RGB, 8 bits
 * per channel). */
#ifndef GUREUM_DISPLAY_SCREENDUMP_H
#define GUREUM_DISPLAY_SCREENDUMP_H

#include "display/framebuffer.h"

#include <stddef.h>

/* Writes `fb` to `path` (a new file, then renamed over `path`, so a reader never sees half a
 * picture). 0, or -1 with one sentence in `err`. */
int screendump_png(const struct framebuffer *fb, const char *path, char *err, size_t err_len);

#endif
