/* A linear framebuffer's memory on the host side: 32 bits per pixel, XRGB8888 in little-endian
 * words (blue in the lowest byte), what efifb draws into and the VNC server reads. The board
 * maps it into the guest as memory of its own, outside RAM. */
#ifndef GUREUM_DISPLAY_FRAMEBUFFER_H
#define GUREUM_DISPLAY_FRAMEBUFFER_H

#include <stdint.h>

#define FRAMEBUFFER_BYTES_PER_PIXEL 4
#define FRAMEBUFFER_PAGE_SIZE	    4096

struct framebuffer {
	uint8_t *pixels;
	uint32_t width, height;
	uint32_t stride; /* bytes from one line to the next */
	uint64_t size;	 /* of the mapping: the lines rounded up to whole pages */
	/* A view (the visible part of a display adapter's memory): where pixels[0] is in the
	 * memory the write log covers, whose page p is bit p of a dirty bitmap. 0 otherwise. */
	uint64_t log_offset;
};

/* 0, or -errno (out of memory). */
int framebuffer_create(struct framebuffer *fb, uint32_t width, uint32_t height);
/* The same with at least `size` bytes of memory (a display adapter's: more than one picture). */
int framebuffer_create_sized(struct framebuffer *fb, uint32_t width, uint32_t height,
			     uint64_t size);
void framebuffer_destroy(struct framebuffer *fb);
/* Black, as at power-on. */
void framebuffer_clear(struct framebuffer *fb);
/* Pages in the mapping, and the 64-bit words a bitmap of them takes. */
uint64_t framebuffer_pages(const struct framebuffer *fb);
uint64_t framebuffer_bitmap_words(const struct framebuffer *fb);

#endif
