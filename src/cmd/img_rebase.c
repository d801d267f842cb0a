/* gureum img rebase: puts an image on a different backing file. In the default (safe) mode,
 * wherever the image does not store a cluster and the old and new backing files differ, the old
 * contents are copied into the image first, so what the guest sees does not change. With -u
 * only the name in the header changes (for renamed or moved backing files). */
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

struct rebase {
	struct block_device *top;
	struct block_device *new_base; /* NULL: no backing file (zeroes) */
	uint64_t cluster_size;
	uint8_t *old_view, *new_view;
};

static int read_new_view(struct rebase *r, uint64_t offset, size_t length)
{
	size_t available = 0;
	if (r->new_base && offset < r->new_base->size)
		available =
		    r->new_base->size - offset < length ? r->new_base->size - offset : length;
	memset(r->new_view + available, 0, length - available);
	return available ? block_read(r->new_base, offset, r->new_view, available) : 0;
}

/* Copies into the image every cluster of an unallocated extent whose contents would change. */
static int preserve_extent(struct rebase *r, uint64_t offset, uint64_t length)
{
	for (uint64_t at = offset; at < offset + length; at += CHUNK) {
		size_t n = offset + length - at < CHUNK ? offset + length - at : CHUNK;
		int ret = block_read(r->top, at, r->old_view, n);
		if (!ret)
			ret = read_new_view(r, at, n);
		for (size_t c = 0; c < n && !ret; c += r->cluster_size) {
			size_t piece = n - c < r->cluster_size ? n - c : r->cluster_size;
			if (memcmp(r->old_view + c, r->new_view + c, piece) != 0)
				ret = block_write(r->top, at + c, r->old_view + c, piece);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int preserve_contents(struct rebase *r, struct img_progress *progress)
{
	struct block_status st;
	for (uint64_t offset = 0; offset < r->top->size; offset += st.length) {
		img_progress_update(progress, offset, r->top->size);
		int ret = block_get_status(r->top, offset, r->top->size - offset, &st);
		if (!ret && st.kind == BLOCK_STATUS_UNALLOCATED)
			ret = preserve_extent(r, offset, st.length);
		if (ret < 0)
			return ret;
	}
	img_progress_end(progress);
	return block_flush(r->top);
}

/* The new backing file, named relative to the image's directory as the header will store it. */
static int open_new_base(const char *image, const char *name, const char *format,
			 struct block_device **out)
{
	char path[8192];
	const char *slash = strrchr(image, '/');
	if (name[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%.*s%s", (int)(slash - image + 1), image, name);
	struct block_error err;
	if (block_open(path, format, BLOCK_OPEN_READ_ONLY, out, &err) < 0) {
		fprintf(stderr, "gureum img rebase: cannot open the new backing file: %s\n",
			err.message);
		return -1;
	}
	return 0;
}

static int rebase_open_image(struct rebase *r, const char *name, const char *format, bool unsafe,
			     struct img_progress *progress)
{
	r->cluster_size = qcow2_cluster_size(qcow2_header_of(r->top));
	if (unsafe)
		return 0;
	r->old_view = malloc(CHUNK);
	r->new_view = malloc(CHUNK);
	int ret = r->old_view && r->new_view ? 0 : -ENOMEM;
	if (!ret && name[0] && open_new_base(r->top->filename, name, format, &r->new_base) < 0)
		ret = -ENOENT;
	if (!ret)
		ret = preserve_contents(r, progress);
	block_close(r->new_base);
	free(r->old_view);
	free(r->new_view);
	if (ret < 0 && ret != -ENOENT)
		fprintf(stderr, "gureum img rebase: %s: %s\n", r->top->filename, strerror(-ret));
	return ret;
}

/* The format to record: given, or probed from the new backing file. */
static void backing_format(const char *image, const char *name, const char *given, char *out,
			   size_t size)
{
	out[0] = '\0';
	if (given) {
		snprintf(out, size, "%s", given);
		return;
	}
	struct block_device *dev;
	if (name[0] && open_new_base(image, name, NULL, &dev) == 0) {
		snprintf(out, size, "%s", dev->driver->format_name);
		block_close(dev);
	}
}

int img_rebase(int argc, char **argv)
{
	const char *format = NULL, *name = NULL, *new_format = NULL;
	bool unsafe = false, force_progress = false;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "+f:b:F:up")) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'b')
			name = optarg;
		else if (c == 'F')
			new_format = optarg;
		else if (c == 'u')
			unsafe = true;
		else if (c == 'p')
			force_progress = true;
		else
			return 2;
	}
	if (optind != argc - 1 || !name) {
		fprintf(stderr,
			"usage: gureum img rebase [-f fmt] [-u] [-p] -b BACKING [-F fmt] FILE "
			"(-b \"\": no backing file)\n");
		return 2;
	}
	struct rebase r = {0};
	struct block_error err;
	/* -u: the old backing file may be gone, so do not open it. */
	if (block_open(argv[optind], format, unsafe ? BLOCK_OPEN_NO_BACKING : 0, &r.top, &err) <
	    0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	if (!qcow2_header_of(r.top)) {
		fprintf(stderr, "gureum img rebase: %s is not a qcow2 image\n", r.top->filename);
		block_close(r.top);
		return 1;
	}
	char fmt[32];
	backing_format(r.top->filename, name, new_format, fmt, sizeof(fmt));
	struct img_progress progress;
	img_progress_start(&progress, force_progress);
	int ret = rebase_open_image(&r, name, new_format, unsafe, &progress);
	if (!ret &&
	    qcow2_set_backing(r.top, name[0] ? name : NULL, fmt[0] ? fmt : NULL, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		ret = -1;
	}
	block_close(r.top);
	return ret < 0;
}
