/* External overlays (block/overlay.h). */
#include "block/overlay.h"

#include "block/qcow2_create.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More overlays of one image than this in one directory is a leak somebody should look at. */
#define MAX_OVERLAY_NUMBER 9999

/* The image's name without the extension that says its format, so that the overlays of
 * disk.qcow2 are disk.ovl1.qcow2, ... rather than disk.qcow2.ovl1.qcow2. */
static size_t stem_length(const char *name)
{
	static const char *const extensions[] = {".qcow2", ".img", ".raw"};
	size_t len = strlen(name);
	for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
		size_t ext = strlen(extensions[i]);
		if (len > ext && strcmp(name + len - ext, extensions[i]) == 0)
			return len - ext;
	}
	return len;
}

/* Claims the first free overlay name beside `image` (an absolute path) by creating the file
 * exclusively, so two snapshots at once never pick the same one. */
static int claim_name(const char *image, char *overlay, size_t overlay_len, struct block_error *err)
{
	const char *name = strrchr(image, '/') + 1;
	int dir_len = (int)(name - image);
	int stem = (int)stem_length(name);
	for (unsigned n = 1; n <= MAX_OVERLAY_NUMBER; n++) {
		int len = snprintf(overlay, overlay_len, "%.*s%.*s.ovl%u.qcow2", dir_len, image,
				   stem, name, n);
		if (len < 0 || (size_t)len >= overlay_len) {
			block_error_set(err, "%s: the overlay's path would be too long", image);
			return -ENAMETOOLONG;
		}
		int fd = open(overlay, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST) {
			int e = errno;
			block_error_set(
			    err,
			    "cannot create the overlay '%s': %s; the overlay goes in the "
			    "image's directory, which must be writable",
			    overlay, strerror(e));
			return -e;
		}
	}
	block_error_set(err, "%s: overlays 1 to %d exist already; remove the unused ones", image,
			MAX_OVERLAY_NUMBER);
	return -EEXIST;
}

/* The image's size and format, read through a read-only open of it. */
static int describe_image(const char *image, const char *format, uint64_t *size, char *format_name,
			  size_t format_len, struct block_error *err)
{
	struct block_device *dev;
	int ret = block_open(image, format, BLOCK_OPEN_READ_ONLY, &dev, err);
	if (ret < 0)
		return ret;
	*size = dev->size;
	snprintf(format_name, format_len, "%s", dev->driver->format_name);
	block_close(dev);
	return 0;
}

int block_overlay_create(const char *image, const char *format, char *overlay, size_t overlay_len,
			 struct block_error *err)
{
	char absolute[PATH_MAX];
	if (!realpath(image, absolute)) {
		int e = errno;
		block_error_set(err, "%s: %s", image, strerror(e));
		return -e;
	}
	uint64_t size;
	char format_name[16];
	int ret = describe_image(absolute, format, &size, format_name, sizeof(format_name), err);
	if (ret < 0)
		return ret;
	if (size % 512) {
		block_error_set(err, "%s: a qcow2 overlay needs a size in whole 512-byte sectors",
				image);
		return -EINVAL;
	}
	if ((ret = claim_name(absolute, overlay, overlay_len, err)) < 0)
		return ret;
	struct qcow2_create_options opt = qcow2_default_options(size);
	opt.backing_file = strrchr(absolute, '/') + 1;
	opt.backing_format = format_name;
	if ((ret = qcow2_create(overlay, &opt, err)) < 0)
		unlink(overlay);
	return ret;
}

void block_overlay_discard(const char *overlay)
{
	unlink(overlay);
}
