/* Which areas of the screen changed: from the pages the guest wrote (the accelerator's log of
 * writes to the framebuffer) down to rectangles of pixels that really differ from what the
 * clients were last sent. A page is 4096 bytes, a line or part of one (1024 pixels at 32 bits),
 * and the guest often writes pixels with the values they had (fbcon redraws a line, a cursor
 * blinks back), so the written lines are compared with a shadow copy, and only differences go
 * out: cheap (only written pages are looked at) and exact. */
#ifndef GUREUM_DISPLAY_SCREEN_DIFF_H
#define GUREUM_DISPLAY_SCREEN_DIFF_H

#include "display/framebuffer.h"

#include <stddef.h>
#include <stdint.h>

/* Lines are grouped in bands (one line of an 8x16 console font): a band's changes become one
 * rectangle, from its first to its last changed line, leftmost to rightmost changed pixel. */
#define SCREEN_DIFF_BAND 16

struct screen_rect {
	uint32_t x, y, w, h;
};

/* The most rectangles screen_diff can return for `fb` (one per band). */
size_t screen_diff_max_rects(const struct framebuffer *fb);

/* Compares the lines of `fb` that the pages set in `dirty` touch (bit p of dirty[p / 64] for
 * the page at byte p * 4096 of the logged memory, fb->pixels being at fb->log_offset in it) with
 * `shadow` (fb->stride * fb->height bytes, the same layout), copies the pixels that differ into
 * `shadow`, and fills `rects` with the areas that changed. Returns how many. */
size_t screen_diff(const struct framebuffer *fb, uint8_t *shadow, const uint64_t *dirty,
		   struct screen_rect *rects);

#endif
