/* Screendump to PNG with libpng's simplified API (screendump.h). */
#include "display/screendump.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* XRGB8888 little-endian (B, G, R, X in memory) to RGB bytes: PNG has no "ignore this byte"
 * format, and the X byte is whatever the guest left there. */
static uint8_t *to_rgb(const struct framebuffer *fb)
{
	uint8_t *rgb = malloc((size_t)fb->width * fb->height * 3);
	if (!rgb)
		return NULL;
	uint8_t *out = rgb;
	for (uint32_t y = 0; y < fb->height; y++) {
		const uint8_t *in = fb->pixels + (size_t)y * fb->stride;
		for (uint32_t x = 0; x < fb->width; x++, in += 4, out += 3) {
			out[0] = in[2];
			out[1] = in[1];
			out[2] = in[0];
		}
	}
	return rgb;
}

static int write_png(const uint8_t *rgb, uint32_t width, uint32_t height, const char *path,
		     char *err, size_t err_len)
{
	png_image image;
	memset(&image, 0, sizeof(image));
	image.version = PNG_IMAGE_VERSION;
	image.width = width;
	image.height = height;
	image.format = PNG_FORMAT_RGB;
	if (png_image_write_to_file(&image, path, 0, rgb, 0, NULL))
		return 0;
	snprintf(err, err_len, "screendump: cannot write %s: %s", path, image.message);
	png_image_free(&image);
	return -1;
}

int screendump_png(const struct framebuffer *fb, const char *path, char *err, size_t err_len)
{
	uint8_t *rgb = to_rgb(fb);
	if (!rgb) {
		snprintf(err, err_len, "screendump: out of memory for a %ux%u picture", fb->width,
			 fb->height);
		return -1;
	}
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	int rc = -1;
	if (!tmp)
		snprintf(err, err_len, "screendump: out of memory");
	else {
		snprintf(tmp, n, "%s.tmp", path);
		rc = write_png(rgb, fb->width, fb->height, tmp, err, err_len);
		if (rc < 0)
			unlink(tmp);
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		snprintf(err, err_len, "screendump: cannot create %s: %s", path, strerror(errno));
		unlink(tmp);
		rc = -1;
	}
	free(tmp);
	free(rgb);
	return rc;
}
