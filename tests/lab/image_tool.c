/* Pictures for the display scenario (vdisplay), in L1 where there is no image library but the
 * ones gureum and vncsnapshot bring (libpng, libjpeg):
 *   image-tool compare A B          A and B (PNG or JPEG) decoded to pixels: the same size, and
 *                                   how much they differ (mean and largest per channel, pixels
 *                                   off by more than 48); exit 0 when the mean is under 2 and
 *                                   no more than 0.5% of the pixels are that far off (JPEG's
 *                                   loss around sharp glyph edges stays below that)
 *   image-tool ocr-prep IN OUT.png [W H]
 *                                   IN (its top-left W x H pixels) scaled up 3 times, grey,
 *                                   dark text on white: what tesseract reads 8x16 console
 *                                   glyphs best from
 *   image-tool lit IN               the share of pixels that are not black, in parts per
 *                                   million (a line of console text is a few hundred)
 * Exit status 2 on a file it cannot read. */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After stdio.h: jpeglib.h uses FILE and size_t without including their headers. */
#include <jpeglib.h>

struct picture {
	uint32_t width, height;
	uint8_t *rgb;
};

static int read_png(const char *path, struct picture *p)
{
	png_image image = {.version = PNG_IMAGE_VERSION};
	if (!png_image_begin_read_from_file(&image, path))
		return -1;
	image.format = PNG_FORMAT_RGB;
	p->width = image.width;
	p->height = image.height;
	p->rgb = malloc(PNG_IMAGE_SIZE(image));
	if (!p->rgb || !png_image_finish_read(&image, NULL, p->rgb, 0, NULL)) {
		png_image_free(&image);
		return -1;
	}
	return 0;
}

static int read_jpeg(FILE *f, struct picture *p)
{
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr e;
	d.err = jpeg_std_error(&e);
	jpeg_create_decompress(&d);
	jpeg_stdio_src(&d, f);
	jpeg_read_header(&d, TRUE);
	d.out_color_space = JCS_RGB;
	jpeg_start_decompress(&d);
	p->width = d.output_width;
	p->height = d.output_height;
	p->rgb = malloc((size_t)p->width * p->height * 3);
	while (p->rgb && d.output_scanline < d.output_height) {
		JSAMPROW row = p->rgb + (size_t)d.output_scanline * p->width * 3;
		jpeg_read_scanlines(&d, &row, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	return p->rgb ? 0 : -1;
}

static void load(const char *path, struct picture *p)
{
	FILE *f = fopen(path, "rb");
	uint8_t magic[2] = {0};
	if (!f || fread(magic, 1, 2, f) != 2) {
		fprintf(stderr, "image-tool: cannot read %s\n", path);
		exit(2);
	}
	rewind(f);
	int rc = magic[0] == 0xff && magic[1] == 0xd8 ? read_jpeg(f, p) : read_png(path, p);
	fclose(f);
	if (rc < 0) {
		fprintf(stderr, "image-tool: %s is neither a PNG nor a JPEG picture\n", path);
		exit(2);
	}
}

/* How far apart two pictures of the same size are; 0 when close enough. */
static int difference(const struct picture *a, const struct picture *b)
{
	uint64_t sum = 0, far = 0, n = (uint64_t)a->width * a->height;
	int largest = 0;
	for (uint64_t i = 0; i < n; i++) {
		int worst = 0;
		for (int c = 0; c < 3; c++) {
			int d = abs((int)a->rgb[i * 3 + c] - (int)b->rgb[i * 3 + c]);
			sum += (uint64_t)d;
			worst = d > worst ? d : worst;
		}
		largest = worst > largest ? worst : largest;
		far += worst > 48;
	}
	double mean = (double)sum / (double)(n * 3);
	printf("%ux%u mean %.3f largest %d far %llu of %llu\n", a->width, a->height, mean, largest,
	       (unsigned long long)far, (unsigned long long)n);
	return mean < 2.0 && far * 200 <= n ? 0 : 1;
}

static int compare(const char *a_path, const char *b_path)
{
	struct picture a, b;
	load(a_path, &a);
	load(b_path, &b);
	int rc = 1;
	if (a.width != b.width || a.height != b.height)
		printf("sizes differ: %ux%u and %ux%u\n", a.width, a.height, b.width, b.height);
	else
		rc = difference(&a, &b);
	free(a.rgb);
	free(b.rgb);
	return rc;
}

static int write_grey_png(const char *path, const uint8_t *grey, uint32_t w, uint32_t h)
{
	png_image image = {
	    .version = PNG_IMAGE_VERSION, .width = w, .height = h, .format = PNG_FORMAT_GRAY};
	if (png_image_write_to_file(&image, path, 0, grey, 0, NULL))
		return 0;
	fprintf(stderr, "image-tool: cannot write %s: %s\n", path, image.message);
	return 2;
}

#define SCALE 3

static int ocr_prep(const char *in, const char *out, uint32_t crop_w, uint32_t crop_h)
{
	struct picture p;
	load(in, &p);
	uint32_t cw = crop_w && crop_w < p.width ? crop_w : p.width;
	uint32_t ch = crop_h && crop_h < p.height ? crop_h : p.height;
	uint32_t w = cw * SCALE, h = ch * SCALE;
	uint8_t *grey = malloc((size_t)w * h);
	if (!grey)
		return 2;
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			const uint8_t *px = p.rgb + ((size_t)(y / SCALE) * p.width + x / SCALE) * 3;
			grey[(size_t)y * w + x] = (uint8_t)(255 - (px[0] + px[1] + px[2]) / 3);
		}
	free(p.rgb);
	int rc = write_grey_png(out, grey, w, h);
	free(grey);
	return rc;
}

static int lit(const char *in)
{
	struct picture p;
	load(in, &p);
	uint64_t n = (uint64_t)p.width * p.height, on = 0;
	for (uint64_t i = 0; i < n; i++)
		on += p.rgb[i * 3] + p.rgb[i * 3 + 1] + p.rgb[i * 3 + 2] > 96;
	free(p.rgb);
	printf("%llu\n", (unsigned long long)(on * 1000000 / n));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "compare") == 0)
		return compare(argv[2], argv[3]);
	if ((argc == 4 || argc == 6) && strcmp(argv[1], "ocr-prep") == 0)
		return ocr_prep(argv[2], argv[3], argc == 6 ? (uint32_t)atoi(argv[4]) : 0,
				argc == 6 ? (uint32_t)atoi(argv[5]) : 0);
	if (argc == 3 && strcmp(argv[1], "lit") == 0)
		return lit(argv[2]);
	fprintf(stderr, "usage: image-tool compare A B | ocr-prep IN OUT.png [W H] | lit IN\n");
	return 2;
}
