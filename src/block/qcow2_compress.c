/* Compressed cluster writes (convert -c): each guest cluster is deflated (raw zlib stream, as
 * QEMU writes it) and packed, sector aligned, after the previous one; a host cluster holding
 * pieces of several compressed clusters has one reference per piece. */
#include "block/qcow2.h"
#include "block/qcow2_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

/* Deflates cluster into out; returns the compressed size, or 0 when it would not be smaller
 * than a cluster (the caller then writes it plainly). */
static size_t deflate_cluster(struct qcow2 *q, const void *cluster, uint8_t *out)
{
	z_stream z = {0};
	/* 4 KiB window and raw stream: what QEMU's qcow2 driver writes and reads. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (Bytef *)cluster;
	z.avail_in = q->cluster_size;
	z.next_out = out;
	z.avail_out = q->cluster_size - 1;
	int ret = deflate(&z, Z_FINISH);
	size_t size = ret == Z_STREAM_END ? z.total_out : 0;
	deflateEnd(&z);
	return size;
}

/* Adds a reference to each already allocated cluster that [offset, offset + size) touches. */
static int reference_clusters(struct qcow2 *q, uint64_t offset, uint64_t size)
{
	for (uint64_t c = offset >> q->h.cluster_bits;
	     c <= (offset + size - 1) >> q->h.cluster_bits; c++) {
		uint64_t refcount;
		int ret = qcow2_get_refcount(q, c, &refcount);
		if (!ret)
			ret = qcow2_set_refcount(q, c, refcount + 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Finds size bytes for compressed data: after the previous piece when it fits (spilling into a
 * freshly allocated cluster if that one happens to follow), else at a new cluster. */
static int alloc_compressed(struct qcow2 *q, uint64_t size, uint64_t *offset)
{
	int ret;
	if (q->compressed_next && q->compressed_next + size <= q->compressed_end) {
		*offset = q->compressed_next;
		ret = reference_clusters(q, *offset, size);
	} else {
		uint64_t fresh;
		ret = qcow2_alloc_cluster(q, &fresh);
		if (ret < 0)
			return ret;
		if (q->compressed_next && fresh == q->compressed_end &&
		    q->compressed_next < q->compressed_end) {
			*offset = q->compressed_next; /* spans the old and the new cluster */
			ret = reference_clusters(q, *offset, q->compressed_end - *offset);
		} else {
			*offset = fresh;
		}
		q->compressed_end = fresh + q->cluster_size;
	}
	q->compressed_next = (*offset + size + 511) & ~511ull;
	return ret;
}

static uint64_t compressed_entry(const struct qcow2 *q, uint64_t offset, uint64_t size)
{
	unsigned shift = 62 - (q->h.cluster_bits - 8);
	uint64_t extra_sectors = ((offset + size - 1) >> 9) - (offset >> 9);
	return offset | QCOW2_OFLAG_COMPRESSED | (extra_sectors << shift);
}

int qcow2_write_compressed(struct block_device *dev, uint64_t offset, const void *cluster)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	if (!q || offset & (q->cluster_size - 1) || offset >= dev->size)
		return -EINVAL;
	if (dev->read_only)
		return -EROFS;
	struct qcow2_mapping m;
	int ret = qcow2_lookup(q, offset, &m);
	if (ret < 0)
		return ret;
	uint64_t length =
	    dev->size - offset < q->cluster_size ? dev->size - offset : q->cluster_size;
	size_t size = deflate_cluster(q, cluster, q->compressed_buf);
	if (size == 0 || m.kind != QCOW2_UNALLOCATED)
		return block_write(dev, offset, cluster, length);
	uint64_t host = 0;
	ret = qcow2_ensure_l2(q, offset, &m);
	if (!ret)
		ret = alloc_compressed(q, size, &host);
	if (!ret)
		ret = qcow2_pwrite(q, host, q->compressed_buf, size);
	/* The writeback order makes the data durable before the entry that points at it. */
	return ret < 0 ? ret : qcow2_set_l2_entry(q, &m, compressed_entry(q, host, size));
}
