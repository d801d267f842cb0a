/* gureum img convert: copies what a guest sees of one image (its whole backing chain,
 * flattened) into a new image of any format. Blocks of zeroes are skipped, so the new image
 * stays sparse. With -c, every cluster of a qcow2 target is written compressed. */
#include "block/block.h"
#include "block/qcow2.h"
#include "cmd/img.h"
#include "cmd/img_progress.h"

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

/* Writes the non-zero clusters of buf (chunk at offset, zero padded to whole clusters)
 * compressed. */
static int write_compressed(struct block_device *dst, uint64_t offset, const uint8_t *buf,
			    size_t length, uint64_t cluster_size)
{
	for (size_t at = 0; at < length; at += cluster_size) {
		if (all_zero(buf + at, cluster_size))
			continue;
		int ret = qcow2_write_compressed(dst, offset + at, buf + at);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Copies chunk by chunk, skipping granules of zeroes (the new image reads zeroes there). */
static int copy_image(struct block_device *src, struct block_device *dst, bool compress,
		      struct img_progress *progress)
{
	const struct qcow2_header *h = qcow2_header_of(dst);
	uint64_t cluster_size = h ? qcow2_cluster_size(h) : 512;
	size_t chunk = cluster_size > CHUNK ? cluster_size : CHUNK;
	uint8_t *buf = calloc(1, chunk);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	for (uint64_t offset = 0; offset < src->size && !ret; offset += chunk) {
		img_progress_update(progress, offset, src->size);
		size_t length = src->size - offset < chunk ? src->size - offset : chunk;
		memset(buf + length, 0, chunk - length);
		ret = block_read(src, offset, buf, length);
		if (!ret && compress) {
			ret = write_compressed(dst, offset, buf, length, cluster_size);
			continue;
		}
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
	if (!ret)
		img_progress_end(progress);
	return ret ? ret : block_flush(dst);
}

int img_convert(int argc, char **argv)
{
	const char *in_format = NULL, *out_format = "raw", *options = NULL;
	bool compress = false, force_progress = false;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "+f:O:o:cp")) != -1) {
		if (c == 'c')
			compress = true;
		else if (c == 'p')
			force_progress = true;
		else if (c == 'f')
			in_format = optarg;
		else if (c == 'O')
			out_format = optarg;
		else if (c == 'o')
			options = optarg;
		else
			return 2;
	}
	if (optind != argc - 2) {
		fprintf(
		    stderr,
		    "usage: gureum img convert [-c] [-p] [-f fmt] [-O fmt] [-o opts] SRC DST\n");
		return 2;
	}
	if (compress && strcmp(out_format, "qcow2") != 0) {
		fprintf(stderr, "gureum img convert: -c needs -O qcow2\n");
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
	struct img_progress progress;
	img_progress_start(&progress, force_progress);
	int ret = copy_image(src, dst, compress, &progress);
	if (ret < 0)
		fprintf(stderr, "gureum img convert: %s -> %s: %s\n", argv[optind],
			argv[optind + 1], strerror(-ret));
	block_close(dst);
	block_close(src);
	return ret < 0 ? 1 : 0;
}
