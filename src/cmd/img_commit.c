/* gureum img commit: merges an overlay into its backing file. Everything the overlay stores is
 * copied down (data, and zeroes as zeroes), the backing file is flushed, and then the overlay
 * is emptied (unless -d) so that it shows the backing file again. */
#include "block/block.h"
#include "block/qcow2.h"
#include "cmd/img.h"
#include "cmd/img_progress.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)

/* Copies the extent [offset, offset + st->length) of top into base. */
static int copy_extent(struct block_device *top, struct block_device *base, uint64_t offset,
		       const struct block_status *st, uint8_t *buf)
{
	uint64_t end = offset + st->length;
	if (end > base->size)
		end = base->size; /* a larger overlay: the part past the base has nowhere to go */
	if (offset >= end || st->kind == BLOCK_STATUS_UNALLOCATED)
		return 0;
	if (st->kind == BLOCK_STATUS_ZERO)
		return block_write_zeroes(base, offset, end - offset);
	for (uint64_t at = offset; at < end; at += CHUNK) {
		size_t n = end - at < CHUNK ? end - at : CHUNK;
		int ret = block_read(top, at, buf, n);
		if (!ret)
			ret = block_write(base, at, buf, n);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int commit(struct block_device *top, struct block_device *base, bool empty,
		  struct img_progress *progress)
{
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	struct block_status st;
	for (uint64_t offset = 0; offset < top->size && !ret; offset += st.length) {
		img_progress_update(progress, offset, top->size);
		ret = block_get_status(top, offset, top->size - offset, &st);
		if (!ret)
			ret = copy_extent(top, base, offset, &st, buf);
	}
	free(buf);
	/* The base holds everything durably before the overlay forgets any of it. */
	if (!ret)
		ret = block_flush(base);
	if (!ret && empty)
		ret = qcow2_deallocate(top, 0, top->size);
	if (!ret)
		ret = block_flush(top);
	if (!ret)
		img_progress_end(progress);
	return ret;
}

int img_commit(int argc, char **argv)
{
	const char *format = NULL;
	bool keep = false, force_progress = false;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "+f:dp")) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'd')
			keep = true;
		else if (c == 'p')
			force_progress = true;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gureum img commit [-f fmt] [-d] [-p] OVERLAY\n");
		return 2;
	}
	struct block_device *top, *base;
	struct block_error err;
	if (block_open(argv[optind], format, keep ? BLOCK_OPEN_READ_ONLY : 0, &top, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	struct block_device *backing = block_backing(top);
	if (!backing) {
		fprintf(stderr, "gureum img commit: %s has no backing file\n", top->filename);
		block_close(top);
		return 1;
	}
	if (block_open(backing->filename, backing->driver->format_name, 0, &base, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		block_close(top);
		return 1;
	}
	struct img_progress progress;
	img_progress_start(&progress, force_progress);
	int ret = commit(top, base, !keep, &progress);
	if (ret < 0)
		fprintf(stderr, "gureum img commit: %s -> %s: %s\n", top->filename, base->filename,
			strerror(-ret));
	else
		printf("Image committed.\n");
	block_close(base);
	block_close(top);
	return ret < 0;
}
