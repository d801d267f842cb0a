/* The framebuffer's host memory (framebuffer.h). */
#include "display/framebuffer.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int framebuffer_create(struct framebuffer *fb, uint32_t width, uint32_t height)
{
	return framebuffer_create_sized(fb, width, height, 0);
}

int framebuffer_create_sized(struct framebuffer *fb, uint32_t width, uint32_t height, uint64_t size)
{
	memset(fb, 0, sizeof(*fb));
	fb->width = width;
	fb->height = height;
	fb->stride = width * FRAMEBUFFER_BYTES_PER_PIXEL;
	uint64_t bytes = (uint64_t)fb->stride * height;
	bytes = bytes > size ? bytes : size;
	fb->size = (bytes + FRAMEBUFFER_PAGE_SIZE - 1) & ~(uint64_t)(FRAMEBUFFER_PAGE_SIZE - 1);
	/* Page-aligned, zero-filled (black), and given to the guest as a memory slot. */
	void *p = mmap(NULL, fb->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		memset(fb, 0, sizeof(*fb));
		return -ENOMEM;
	}
	fb->pixels = p;
	return 0;
}

void framebuffer_destroy(struct framebuffer *fb)
{
	if (fb->pixels)
		munmap(fb->pixels, fb->size);
	memset(fb, 0, sizeof(*fb));
}

void framebuffer_clear(struct framebuffer *fb)
{
	memset(fb->pixels, 0, fb->size);
}

uint64_t framebuffer_pages(const struct framebuffer *fb)
{
	return fb->size / FRAMEBUFFER_PAGE_SIZE;
}

uint64_t framebuffer_bitmap_words(const struct framebuffer *fb)
{
	return (framebuffer_pages(fb) + 63) / 64;
}
