/* gureum img convert: copies what a guest sees of one image (its whole backing chain,
 * flattened) into a new image of any format. Blocks of zeroes are skipped, so the new image
 * stays sparse. */
#include "block/block.h"
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK		   (1u << 20)
#define ZERO_CHECK_GRANULE 4096

static bool all_zero(const uint8_t *buf, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (buf[i])
			return false;
	return true;
}

/* Copies chunk by chunk, skipping granules of zeroes (the new image reads zeroes there). */
static int copy_image(struct block_device *src, struct block_device *dst)
{
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	for (uint64_t offset = 0; offset < src->size && !ret; offset += CHUNK) {
		size_t length = src->size - offset < CHUNK ? src->size - offset : CHUNK;
		ret = block_read(src, offset, buf, length);
		for (size_t at = 0; at < length && !ret; at += ZERO_CHECK_GRANULE) {
			size_t n =
			    length - at < ZERO_CHECK_GRANULE ? length - at : ZERO_CHECK_GRANULE;
			size_t run = n;
			if (all_zero(buf + at, n))
				continue;
			/* Extend over following non-zero granules to write in large pieces. */
			while (at + run < length) {
				size_t next = length - at - run < ZERO_CHECK_GRANULE
						  ? length - at - run
						  : ZERO_CHECK_GRANULE;
				if (all_zero(buf + at + run, next))
					break;
				run += next;
			}
			ret = block_write(dst, offset + at, buf + at, run);
			at += run - n;
		}
	}
	free(buf);
	return ret ? ret : block_flush(dst);
}

int img_convert(int argc, char **argv)
{
	const char *in_format = NULL, *out_format = "raw", *options = NULL;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "+f:O:o:")) != -1) {
		if (c == 'f')
			in_format = optarg;
		else if (c == 'O')
			out_format = optarg;
		else if (c == 'o')
			options = optarg;
		else
			return 2;
	}
	if (optind != argc - 2) {
		fprintf(stderr, "usage: gureum img convert [-f fmt] [-O fmt] [-o opts] SRC DST\n");
		return 2;
	}
	struct block_device *src, *dst;
	struct block_error err;
	if (block_open(argv[optind], in_format, BLOCK_OPEN_READ_ONLY, &src, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	uint64_t size = src->size;
	if (strcmp(out_format, "qcow2") == 0)
		size = (size + 511) & ~511ull;
	if (img_create_image(argv[optind + 1], out_format, size, NULL, NULL, options) != 0) {
		block_close(src);
		return 1;
	}
	/* Nobody uses the new image before we are done: skip the ordering flushes. */
	if (block_open(argv[optind + 1], out_format, BLOCK_OPEN_UNSAFE, &dst, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		block_close(src);
		return 1;
	}
	int ret = copy_image(src, dst);
	if (ret < 0)
		fprintf(stderr, "gureum img convert: %s -> %s: %s\n", argv[optind],
			argv[optind + 1], strerror(-ret));
	block_close(dst);
	block_close(src);
	return ret < 0 ? 1 : 0;
}
