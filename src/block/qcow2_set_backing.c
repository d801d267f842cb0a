/* Rewriting the backing file name and format of a qcow2 image (rebase). The whole header
 * cluster is rebuilt in memory (keeping the other extensions) and written at once. */
#include "block/qcow2.h"
#include "block/qcow2_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the extensions of the header in old (other than the backing format) to new; returns
 * the position after them, or 0 if they are malformed or do not fit. */
static size_t copy_other_extensions(const struct qcow2 *q, const uint8_t *old, uint8_t *new)
{
	size_t pos = q->h.version >= 3 ? q->h.header_length : QCOW2_V2_HEADER_LENGTH, out = pos;
	while (pos + 8 <= q->cluster_size) {
		uint32_t type = be32_at(old + pos), length = be32_at(old + pos + 4);
		size_t span = 8 + (((size_t)length + 7) & ~(size_t)7);
		if (type == QCOW2_EXT_END)
			return out;
		if (span > q->cluster_size - pos)
			return 0;
		if (type != QCOW2_EXT_BACKING_FORMAT) {
			memcpy(new + out, old + pos, span);
			out += span;
		}
		pos += span;
	}
	return 0;
}

static int rebuild_header(struct qcow2 *q, const char *name, const char *format, uint8_t *old,
			  uint8_t *new)
{
	size_t fixed = q->h.version >= 3 ? q->h.header_length : QCOW2_V2_HEADER_LENGTH;
	memcpy(new, old, fixed);
	size_t pos = copy_other_extensions(q, old, new);
	size_t name_len = name ? strlen(name) : 0, format_len = format ? strlen(format) : 0;
	if (pos == 0 || name_len > QCOW2_MAX_BACKING_NAME || format_len > 16 ||
	    pos + 16 + 16 + 8 + name_len > q->cluster_size)
		return -EINVAL;
	if (format_len) {
		put_be32(new + pos, QCOW2_EXT_BACKING_FORMAT);
		put_be32(new + pos + 4, format_len);
		memcpy(new + pos + 8, format, format_len);
		pos += 8 + ((format_len + 7) & ~(size_t)7);
	}
	pos += 8; /* end of extensions */
	put_be64(new + 8, name_len ? pos : 0);
	put_be32(new + 16, name_len);
	memcpy(new + pos, name, name_len);
	return 0;
}

int qcow2_set_backing(struct block_device *dev, const char *name, const char *format,
		      struct block_error *err)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	if (!q || dev->read_only) {
		block_error_set(err, "%s: not a qcow2 image open for writing", dev->filename);
		return -EINVAL;
	}
	uint8_t *old = malloc(q->cluster_size), *new = calloc(1, q->cluster_size);
	int ret = old && new ? qcow2_pread(q, 0, old, q->cluster_size) : -ENOMEM;
	if (!ret && rebuild_header(q, name, format, old, new) < 0) {
		block_error_set(err, "%s: backing file name or format too long for the header",
				dev->filename);
		ret = -EINVAL;
	} else if (!ret) {
		ret = qcow2_pwrite(q, 0, new, q->cluster_size);
		if (!ret)
			ret = qcow2_order_flush(q);
		if (ret < 0)
			block_error_set(err, "%s: cannot write the header: %s", dev->filename,
					strerror(-ret));
	}
	if (!ret) {
		snprintf(q->h.backing_file, sizeof(q->h.backing_file), "%s", name ? name : "");
		snprintf(q->h.backing_format, sizeof(q->h.backing_format), "%s",
			 format ? format : "");
	}
	free(old);
	free(new);
	return ret;
}
