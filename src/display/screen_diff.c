/* Changed rectangles from written pages and a shadow copy (screen_diff.h). */
#include "display/screen_diff.h"

#include <stdbool.h>
#include <string.h>

size_t screen_diff_max_rects(const struct framebuffer *fb)
{
	return (fb->height + SCREEN_DIFF_BAND - 1) / SCREEN_DIFF_BAND;
}

/* Is any page from `first` to `last` set? */
static bool any_page(const uint64_t *dirty, uint64_t first, uint64_t last)
{
	for (uint64_t p = first; p <= last; p++) {
		if (!(p % 64) && last - p >= 63 && !dirty[p / 64]) {
			p += 63; /* a whole clean word */
			continue;
		}
		if (dirty[p / 64] & (1ULL << (p % 64)))
			return true;
	}
	return false;
}

/* Compares one line; on a difference, copies the differing pixels into the shadow and widens
 * [*x0, *x1) to cover them. Returns whether it differed. */
static bool diff_line(const uint32_t *live, uint32_t *shadow, uint32_t width, uint32_t *x0,
		      uint32_t *x1)
{
	if (memcmp(live, shadow, (size_t)width * sizeof(*live)) == 0)
		return false;
	/* Bounded: the guest may have written the line back meanwhile. */
	uint32_t first = 0, last = width;
	while (first < width && live[first] == shadow[first])
		first++;
	while (last > first && live[last - 1] == shadow[last - 1])
		last--;
	if (first == last)
		return false;
	memcpy(shadow + first, live + first, (size_t)(last - first) * sizeof(*live));
	*x0 = first < *x0 ? first : *x0;
	*x1 = last > *x1 ? last : *x1;
	return true;
}

/* One band (lines y .. y + n - 1): its rectangle, or false when nothing in it changed. */
static bool diff_band(const struct framebuffer *fb, uint8_t *shadow, uint32_t y, uint32_t n,
		      struct screen_rect *rect)
{
	uint32_t x0 = fb->width, x1 = 0, y0 = 0, y1 = 0;
	bool changed = false;
	for (uint32_t line = y; line < y + n; line++) {
		uint64_t off = (uint64_t)line * fb->stride;
		/* The guest may write meanwhile: what it writes after the fetch that named
		 * these pages is named by the next one. */
		if (!diff_line((const uint32_t *)(const void *)(fb->pixels + off),
			       (uint32_t *)(void *)(shadow + off), fb->width, &x0, &x1))
			continue;
		if (!changed)
			y0 = line;
		y1 = line + 1;
		changed = true;
	}
	if (changed)
		*rect = (struct screen_rect){.x = x0, .y = y0, .w = x1 - x0, .h = y1 - y0};
	return changed;
}

size_t screen_diff(const struct framebuffer *fb, uint8_t *shadow, const uint64_t *dirty,
		   struct screen_rect *rects)
{
	size_t n = 0;
	for (uint32_t y = 0; y < fb->height; y += SCREEN_DIFF_BAND) {
		uint32_t lines =
		    fb->height - y < SCREEN_DIFF_BAND ? fb->height - y : SCREEN_DIFF_BAND;
		uint64_t start = fb->log_offset + (uint64_t)y * fb->stride,
			 end = start + (uint64_t)lines * fb->stride;
		if (!any_page(dirty, start / FRAMEBUFFER_PAGE_SIZE,
			      (end - 1) / FRAMEBUFFER_PAGE_SIZE))
			continue;
		if (diff_band(fb, shadow, y, lines, &rects[n]))
			n++;
	}
	return n;
}
