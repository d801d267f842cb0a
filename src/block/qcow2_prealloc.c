/* Preallocation of new qcow2 images (create -o preallocation=...): every guest cluster gets an
 * L2 entry pointing at its own data cluster up front, so later writes never allocate. The data
 * clusters read as zeroes because the file is extended past them (metadata), with the space
 * also reserved (falloc) or written (full). */
#include "block/qcow2.h"
#include "block/qcow2_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int map_new_cluster(struct qcow2 *q, uint64_t guest_offset, const uint8_t *zeroes,
			   uint64_t *end)
{
	struct qcow2_mapping m;
	int ret = qcow2_lookup(q, guest_offset, &m);
	if (ret < 0 || m.kind != QCOW2_UNALLOCATED)
		return ret;
	uint64_t host = 0;
	ret = qcow2_ensure_l2(q, guest_offset, &m);
	if (!ret)
		ret = qcow2_alloc_cluster(q, &host);
	if (!ret && zeroes)
		ret = qcow2_pwrite(q, host, zeroes, q->cluster_size);
	if (ret < 0)
		return ret;
	if (host + q->cluster_size > *end)
		*end = host + q->cluster_size;
	return qcow2_set_l2_entry(q, &m, host | QCOW2_OFLAG_COPIED);
}

static int extend_file(struct qcow2 *q, uint64_t end, enum qcow2_prealloc mode)
{
	if (end > q->file_size && ftruncate(q->fd, (off_t)end) < 0)
		return -errno;
	if (end > q->file_size)
		q->file_size = end;
	if (mode == QCOW2_PREALLOC_FALLOC && fallocate(q->fd, 0, 0, (off_t)q->file_size) < 0)
		return -errno;
	return qcow2_flush_all(q);
}

int qcow2_preallocate(struct block_device *dev, enum qcow2_prealloc mode, struct block_error *err)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	if (mode == QCOW2_PREALLOC_OFF)
		return 0;
	if (!q || dev->read_only) {
		block_error_set(err, "%s: not a qcow2 image open for writing", dev->filename);
		return -EINVAL;
	}
	uint8_t *zeroes = mode == QCOW2_PREALLOC_FULL ? calloc(1, q->cluster_size) : NULL;
	int ret = mode == QCOW2_PREALLOC_FULL && !zeroes ? -ENOMEM : 0;
	uint64_t end = q->file_size;
	for (uint64_t offset = 0; offset < dev->size && !ret; offset += q->cluster_size)
		ret = map_new_cluster(q, offset, zeroes, &end);
	free(zeroes);
	if (!ret)
		ret = extend_file(q, end, mode);
	if (ret < 0)
		block_error_set(err, "%s: cannot preallocate: %s", dev->filename, strerror(-ret));
	return ret;
}
