/* Changing a qcow2 image's virtual size. Growing may need a larger L1 table: the new table is
 * written and flushed in fresh clusters before one header write switches to it (size, L1 size
 * and L1 offset share a sector), and only then is the old table freed. */
#include "block/qcow2.h"
#include "block/qcow2_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t clusters_for(const struct qcow2 *q, uint64_t bytes)
{
	return (bytes + q->cluster_size - 1) >> q->h.cluster_bits;
}

/* Allocates n clusters that follow each other in the file. */
static int alloc_run(struct qcow2 *q, uint64_t n, uint64_t *first)
{
	uint64_t got = 0;
	while (got < n) {
		uint64_t c;
		int ret = qcow2_alloc_cluster(q, &c);
		if (ret < 0)
			return ret;
		if (got && c != *first + got * q->cluster_size) {
			ret = qcow2_release(q, *first, got * q->cluster_size);
			if (ret < 0)
				return ret;
			q->free_hint = (c >> q->h.cluster_bits) + 1;
			got = 0;
		}
		if (got == 0)
			*first = c;
		got++;
	}
	return 0;
}

/* Size, L1 size and L1 offset: header bytes 24..47, written at once. */
static int write_geometry(struct qcow2 *q, uint64_t size, uint32_t l1_size, uint64_t l1_offset)
{
	uint8_t field[24];
	put_be64(field, size);
	put_be32(field + 8, q->h.crypt_method);
	put_be32(field + 12, l1_size);
	put_be64(field + 16, l1_offset);
	int ret = qcow2_pwrite(q, 24, field, sizeof(field));
	if (!ret)
		ret = qcow2_order_flush(q);
	if (!ret) {
		q->h.size = size;
		q->h.l1_size = l1_size;
		q->h.l1_table_offset = l1_offset;
	}
	return ret;
}

static int write_l1(struct qcow2 *q, uint64_t offset, const uint64_t *l1, uint64_t entries,
		    uint64_t bytes)
{
	uint8_t *buf = calloc(1, bytes);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < entries; i++)
		put_be64(buf + 8 * i, l1[i]);
	int ret = qcow2_pwrite(q, offset, buf, bytes);
	free(buf);
	return ret ? ret : qcow2_order_flush(q);
}

static int grow(struct qcow2 *q, uint64_t new_size)
{
	uint64_t entries = qcow2_l1_entries_needed(&q->h, new_size);
	if (entries <= q->h.l1_size)
		return write_geometry(q, new_size, q->h.l1_size, q->h.l1_table_offset);
	if (entries * 8 > QCOW2_MAX_L1_BYTES)
		return -EFBIG;
	uint64_t *l1 = calloc(entries, 8);
	if (!l1)
		return -ENOMEM;
	memcpy(l1, q->l1, (uint64_t)q->h.l1_size * 8);
	uint64_t old_offset = q->h.l1_table_offset;
	uint64_t old_clusters = clusters_for(q, (uint64_t)q->h.l1_size * 8);
	uint64_t new_clusters = clusters_for(q, entries * 8);
	bool move = new_clusters > old_clusters;
	uint64_t offset = old_offset;
	int ret = move ? alloc_run(q, new_clusters, &offset) : 0;
	if (!ret)
		ret = write_l1(q, offset, l1, entries, new_clusters * q->cluster_size);
	if (!ret)
		ret = write_geometry(q, new_size, entries, offset);
	if (ret < 0) {
		free(l1);
		return ret;
	}
	free(q->l1);
	q->l1 = l1;
	return move ? qcow2_release(q, old_offset, old_clusters * q->cluster_size) : 0;
}

static int shrink(struct block_device *dev, struct qcow2 *q, uint64_t new_size)
{
	uint64_t boundary = (new_size + q->cluster_size - 1) & ~(q->cluster_size - 1);
	/* Zero the cut-off part of the last cluster, so growing again shows zeroes there. */
	uint64_t tail_end = boundary < dev->size ? boundary : dev->size;
	int ret = tail_end > new_size ? block_write_zeroes(dev, new_size, tail_end - new_size) : 0;
	if (!ret && boundary < dev->size)
		ret = qcow2_deallocate(dev, boundary, dev->size - boundary);
	if (!ret)
		ret = block_flush(dev);
	return ret ? ret : write_geometry(q, new_size, q->h.l1_size, q->h.l1_table_offset);
}

int qcow2_resize(struct block_device *dev, uint64_t new_size, bool allow_shrink,
		 struct block_error *err)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	const char *problem = NULL;
	if (!q)
		problem = "not a qcow2 image";
	else if (dev->read_only)
		problem = "opened read-only";
	else if (new_size % 512 || new_size > QCOW2_MAX_VIRTUAL_SIZE)
		problem = "new size must be a multiple of 512 bytes and at most 2 EiB";
	else if (new_size < dev->size && !allow_shrink)
		problem = "shrinking loses the data past the new end; use --shrink to confirm";
	else if (new_size < dev->size && q->h.nb_snapshots)
		problem = "cannot shrink an image with internal snapshots";
	if (problem) {
		block_error_set(err, "%s: %s", dev->filename, problem);
		return -EINVAL;
	}
	/* The geometry changes write the header and L1 table directly: the cached metadata that
	 * they may point at goes first. */
	int ret = qcow2_flush_all(q);
	if (!ret)
		ret = new_size < dev->size ? shrink(dev, q, new_size) : grow(q, new_size);
	if (ret < 0) {
		block_error_set(err, "%s: cannot resize: %s", dev->filename,
				ret == -EFBIG ? "L1 table would exceed 32 MiB" : strerror(-ret));
		return ret;
	}
	dev->size = new_size;
	return 0;
}
