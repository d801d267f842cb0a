/* gureum img resize: grows an image (or shrinks it with --shrink). SIZE may be absolute or
 * relative (+10G, -1G) as in qemu-img. */
#include "block/block.h"
#include "block/qcow2.h"
#include "cmd/img.h"
#include "lib/size.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool parse_new_size(const char *text, uint64_t current, uint64_t *size)
{
	uint64_t delta;
	if (text[0] == '+')
		return parse_size(text + 1, false, &delta) && (*size = current + delta) >= current;
	if (text[0] == '-')
		return parse_size(text + 1, false, &delta) && delta <= current &&
		       ((*size = current - delta), true);
	return parse_size(text, false, size);
}

static int resize_raw(struct block_device *dev, uint64_t size, bool shrink)
{
	if (size < dev->size && !shrink) {
		fprintf(stderr,
			"gureum img resize: %s: shrinking loses the data past the new end; "
			"use --shrink to confirm\n",
			dev->filename);
		return 1;
	}
	if (truncate(dev->filename, (off_t)size) < 0) {
		fprintf(stderr, "gureum img resize: %s: %s\n", dev->filename, strerror(errno));
		return 1;
	}
	return 0;
}

int img_resize(int argc, char **argv)
{
	const char *format = NULL;
	bool shrink = false;
	static const struct option longopts[] = {{"shrink", no_argument, NULL, 's'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+f:", longopts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 's')
			shrink = true;
		else
			return 2;
	}
	if (optind != argc - 2) {
		fprintf(stderr, "usage: gureum img resize [-f fmt] [--shrink] FILE [+|-]SIZE\n");
		return 2;
	}
	struct block_device *dev;
	struct block_error err;
	if (block_open(argv[optind], format, 0, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	uint64_t size;
	int status = 0;
	if (!parse_new_size(argv[optind + 1], dev->size, &size)) {
		fprintf(stderr, "gureum img resize: bad size '%s'\n", argv[optind + 1]);
		status = 2;
	} else if (qcow2_header_of(dev)) {
		status = qcow2_resize(dev, size, shrink, &err) < 0 || block_flush(dev) < 0;
		if (status)
			fprintf(stderr, "gureum img: %s\n", err.message);
	} else {
		status = resize_raw(dev, size, shrink);
	}
	block_close(dev);
	if (status == 0)
		printf("Image resized.\n");
	return status;
}
