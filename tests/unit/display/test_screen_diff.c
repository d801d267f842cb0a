/* Changed areas from written pages (screen_diff.h): one pixel changed is one 1x1 rectangle;
 * changes within one band of lines become their bounding box, changes in two bands two
 * rectangles; a written page whose pixels did not change, or pages not named, give nothing;
 * the shadow follows; a page holding parts of two lines, and the framebuffer's last, partial
 * page, are handled. */
#include "display/screen_diff.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct framebuffer fb;
static uint8_t *shadow;
static uint64_t *dirty;
static struct screen_rect *rects;

static void setup_size(uint32_t width, uint32_t height)
{
	cr_assert_eq(framebuffer_create(&fb, width, height), 0);
	shadow = calloc(1, fb.size);
	dirty = calloc(framebuffer_bitmap_words(&fb), sizeof(*dirty));
	rects = calloc(screen_diff_max_rects(&fb), sizeof(*rects));
	cr_assert(shadow && dirty && rects);
}

static void setup(void)
{
	setup_size(1024, 768); /* a line per page */
}

static void teardown(void)
{
	framebuffer_destroy(&fb);
	free(shadow);
	free(dirty);
	free(rects);
}

TestSuite(screen_diff, .init = setup, .fini = teardown);

/* Sets a pixel the way the guest would, and marks its page written. */
static void draw(uint32_t x, uint32_t y, uint32_t xrgb)
{
	uint64_t off = (uint64_t)y * fb.stride + x * 4;
	memcpy(fb.pixels + off, &xrgb, 4);
	dirty[off / 4096 / 64] |= 1ULL << (off / 4096 % 64);
}

static size_t diff(void)
{
	size_t n = screen_diff(&fb, shadow, dirty, rects);
	memset(dirty, 0, framebuffer_bitmap_words(&fb) * sizeof(*dirty));
	return n;
}

static void expect_rect(size_t i, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	cr_assert(rects[i].x == x && rects[i].y == y && rects[i].w == w && rects[i].h == h,
		  "rectangle %zu is %ux%u at %u,%u, expected %ux%u at %u,%u", i, rects[i].w,
		  rects[i].h, rects[i].x, rects[i].y, w, h, x, y);
}

Test(screen_diff, nothing_written_nothing_changed)
{
	cr_assert_eq(diff(), 0);
	cr_assert_leq(screen_diff_max_rects(&fb), 48);
}

Test(screen_diff, one_pixel)
{
	draw(100, 200, 0x00ff0000);
	cr_assert_eq(diff(), 1);
	expect_rect(0, 100, 200, 1, 1);
	cr_assert_eq(memcmp(shadow, fb.pixels, fb.size), 0, "the shadow follows");
	cr_assert_eq(diff(), 0, "reported once");
}

Test(screen_diff, changes_in_one_band_are_one_box)
{
	draw(10, 33, 0x123456);	 /* band 2: lines 32..47 */
	draw(500, 40, 0x654321); /* same band */
	draw(20, 64, 0xffffff);	 /* band 4 */
	cr_assert_eq(diff(), 2);
	expect_rect(0, 10, 33, 491, 8);
	expect_rect(1, 20, 64, 1, 1);
}

Test(screen_diff, a_page_written_with_the_same_pixels_is_no_change)
{
	draw(7, 7, 0x00abcdef);
	cr_assert_eq(diff(), 1);
	draw(7, 7, 0x00abcdef); /* fbcon redrawing the same glyph */
	cr_assert_eq(diff(), 0);
}

Test(screen_diff, pages_not_named_are_not_looked_at)
{
	uint32_t white = 0xffffff;
	memcpy(fb.pixels + 300 * fb.stride, &white, 4); /* no page marked */
	cr_assert_eq(diff(), 0);
	memset(dirty, 0xff, framebuffer_bitmap_words(&fb) * sizeof(*dirty)); /* compare all */
	cr_assert_eq(screen_diff(&fb, shadow, dirty, rects), 1);
	expect_rect(0, 0, 300, 1, 1);
}

Test(screen_diff, lines_sharing_a_page_and_the_last_page)
{
	teardown();
	setup_size(700, 301); /* 2800-byte lines: pages hold parts of two; 843,000 bytes */
	cr_assert_eq(fb.size % 4096, 0);
	cr_assert_gt(fb.size, (uint64_t)fb.stride * fb.height, "the last page is partial");
	draw(699, 1, 0x010203); /* bytes 5596..5599: page 1, which line 2 begins in too */
	draw(0, 300, 0x040506); /* the last line, in the last page */
	cr_assert_eq(diff(), 2);
	expect_rect(0, 699, 1, 1, 1);
	expect_rect(1, 0, 300, 1, 1);
	cr_assert_eq(screen_diff_max_rects(&fb), 19);
}
