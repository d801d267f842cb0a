/* gureum img snapshot: an external snapshot. The current image becomes the read-only base of a
 * new qcow2 overlay that takes all later writes; point the VM at the overlay from then on. */
#include "block/block.h"
#include "cmd/img.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int img_snapshot(int argc, char **argv)
{
	const char *format = NULL;
	int c;
	optind = 0;
	while ((c = getopt(argc, argv, "+f:")) != -1) {
		if (c == 'f')
			format = optarg;
		else
			return 2;
	}
	if (optind != argc - 2) {
		fprintf(stderr, "usage: gureum img snapshot [-f fmt] IMAGE OVERLAY\n"
				"  (OVERLAY names IMAGE by the path given, relative to OVERLAY's "
				"directory unless absolute)\n");
		return 2;
	}
	const char *image = argv[optind], *overlay = argv[optind + 1];
	struct block_device *dev;
	struct block_error err;
	/* Open the image first: it must be readable, and its format and size recorded. */
	if (block_open(image, format, BLOCK_OPEN_READ_ONLY, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	char fmt[16];
	snprintf(fmt, sizeof(fmt), "%s", dev->driver->format_name);
	uint64_t size = (dev->size + 511) & ~511ull;
	block_close(dev);
	return img_create_image(overlay, "qcow2", size, image, fmt, NULL);
}
