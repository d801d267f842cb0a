/* gureum img map: where each range of the disk comes from, through the whole backing chain, in
 * the formats of qemu-img map (human: data extents and their files; --output=json: every
 * extent with depth, present, zero, data and offset). */
#include "block/block.h"
#include "cmd/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct extent {
	uint64_t start, length;
	int depth;
	bool present, zero, data, has_offset;
	uint64_t offset;
	const char *file;
};

/* Describes the extent at offset: the first image of the chain that stores it decides. */
static int describe_at(struct block_device *top, uint64_t offset, struct extent *e)
{
	uint64_t length = top->size - offset;
	struct block_device *dev = top;
	struct block_status st;
	for (int depth = 0;; depth++) {
		int ret = block_get_status(dev, offset, length, &st);
		if (ret < 0)
			return ret;
		length = st.length;
		struct block_device *next = block_backing(dev);
		bool last = !next || offset >= next->size;
		if (st.kind != BLOCK_STATUS_UNALLOCATED || last) {
			*e = (struct extent){.start = offset,
					     .length = length,
					     .depth = depth,
					     .file = dev->filename};
			e->present = st.kind != BLOCK_STATUS_UNALLOCATED;
			e->data = st.kind == BLOCK_STATUS_DATA;
			e->zero = !e->data;
			e->has_offset = st.has_offset;
			e->offset = st.host_offset;
			return 0;
		}
		if (length > next->size - offset)
			length = next->size - offset;
		dev = next;
	}
}

static bool mergeable(const struct extent *a, const struct extent *b)
{
	return a->depth == b->depth && a->present == b->present && a->zero == b->zero &&
	       a->data == b->data && a->has_offset == b->has_offset &&
	       (!a->has_offset || a->offset + a->length == b->offset) &&
	       strcmp(a->file, b->file) == 0;
}

static void print_json(const struct extent *e, bool first)
{
	printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, "
	       "\"present\": %s, \"zero\": %s, \"data\": %s",
	       first ? "[" : ",\n", e->start, e->length, e->depth, e->present ? "true" : "false",
	       e->zero ? "true" : "false", e->data ? "true" : "false");
	if (e->has_offset)
		printf(", \"offset\": %" PRIu64, e->offset);
	printf("}");
}

/* Human output lists only data stored uncompressed in some file; like qemu-img, it gives up on
 * compressed data, which has no offset to show. */
static int print_human(const struct extent *e, bool first)
{
	if (first)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	if (e->data && !e->has_offset) {
		fprintf(stderr,
			"gureum img map: %s: compressed clusters have no offset to show "
			"(use --output=json)\n",
			e->file);
		return -1;
	}
	if (e->data)
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length,
		       e->offset, e->file);
	return 0;
}

static int emit(const struct extent *e, bool json, bool first)
{
	if (json) {
		print_json(e, first);
		return 0;
	}
	return print_human(e, first);
}

static int map_image(struct block_device *dev, bool json)
{
	struct extent pending = {0}, next;
	bool have = false, first = true;
	for (uint64_t offset = 0; offset < dev->size; offset += next.length) {
		int ret = describe_at(dev, offset, &next);
		if (ret < 0) {
			fprintf(stderr, "gureum img map: %s: %s\n", dev->filename, strerror(-ret));
			return 1;
		}
		if (have && mergeable(&pending, &next)) {
			pending.length += next.length;
			continue;
		}
		if (have && emit(&pending, json, first) < 0)
			return 1;
		first = first && !have;
		pending = next;
		have = true;
	}
	if (have && emit(&pending, json, first) < 0)
		return 1;
	if (json)
		printf(have ? "]\n" : "[]\n");
	else if (!have)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	return 0;
}

int img_map(int argc, char **argv)
{
	const char *format = NULL;
	bool json = false;
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+f:", longopts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'j' || (c == 'o' && strcmp(optarg, "json") == 0))
			json = true;
		else if (!(c == 'o' && strcmp(optarg, "human") == 0))
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gureum img map [-f fmt] [--output=human|json] FILE\n");
		return 2;
	}
	struct block_device *dev;
	struct block_error err;
	if (block_open(argv[optind], format, BLOCK_OPEN_READ_ONLY, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	int status = map_image(dev, json);
	block_close(dev);
	return status;
}
