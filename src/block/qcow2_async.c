/* Asynchronous allocating writes. The engine (block/aio.c) asks plan_write for each write that
 * cannot go in place: new host clusters are allocated (in the refcount cache), a partial cluster
 * is completed in a bounce buffer with the old contents (copy-on-write), and the engine writes
 * the data asynchronously. Only when that write has finished does finish_write point the L2
 * entries at the new clusters, so the metadata never names data that is not yet written, and the
 * writeback order (qcow2_writeback.c) makes the data durable before the entries reach the file.
 *
 * While a cluster's allocation is in flight, another write to it must wait (-EBUSY): it would
 * otherwise allocate the cluster twice, or be overwritten by the copy-on-write data. */
#include "block/bounce_pool.h"
#include "block/qcow2_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct qcow2_inflight {
	struct qcow2_inflight *next;
	uint64_t guest_offset; /* first guest cluster, cluster aligned */
	uint64_t clusters;
	uint64_t host_offset;
	uint8_t *bounce; /* copy-on-write buffer, or NULL */
};

bool qcow2_inflight_covers(struct qcow2 *q, uint64_t guest_offset)
{
	for (struct qcow2_inflight *f = q->inflight; f; f = f->next)
		if (guest_offset >= f->guest_offset &&
		    guest_offset - f->guest_offset < f->clusters * q->cluster_size)
			return true;
	return false;
}

/* Whole clusters from offset on (at most max) that can share one run of new host clusters:
 * same L2 table, not written in place, no allocation in flight. */
static int count_whole_clusters(struct qcow2 *q, uint64_t offset, uint64_t max, uint64_t *count)
{
	uint64_t l2_index = (offset >> q->h.cluster_bits) & (q->l2_entries - 1);
	uint64_t n = 1;
	while (n < max && l2_index + n < q->l2_entries) {
		uint64_t at = offset + n * q->cluster_size;
		struct qcow2_mapping m;
		int ret = qcow2_lookup(q, at, &m);
		if (ret < 0)
			return ret;
		if ((m.kind == QCOW2_NORMAL && m.copied) || qcow2_inflight_covers(q, at))
			break;
		n++;
	}
	*count = n;
	return 0;
}

/* Whether the old contents of the cluster that m maps read as zeroes. */
static bool reads_as_zeroes(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t cluster_start)
{
	if (m->kind == QCOW2_ZERO)
		return true;
	return m->kind == QCOW2_UNALLOCATED && (!q->backing || cluster_start >= q->backing->size);
}

/* A partial write into a cluster that reads as zeroes, placed in new space past the end of the
 * file: the space is allocated zeroed (fallocate, as QEMU does) and only the new bytes written,
 * instead of a whole cluster of mostly zeroes. Returns 1 when done so, 0 when not possible. */
static int plan_in_fresh_space(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t offset,
			       struct qcow2_inflight *f)
{
	uint64_t in_cluster = offset & (q->cluster_size - 1);
	if (!reads_as_zeroes(q, m, offset - in_cluster))
		return 0;
	uint64_t got;
	int ret = qcow2_alloc_run(q, 1, &f->host_offset, &got);
	if (ret < 0)
		return ret;
	/* Space past the end of the file has never held anything: it reads as zeroes once the
	 * file covers it. Mode 0 never shrinks the file that other writes may be extending. */
	if (f->host_offset < q->file_size ||
	    fallocate(q->fd, 0, (off_t)f->host_offset, (off_t)q->cluster_size) < 0)
		return -EAGAIN; /* the allocated cluster is used with a bounce buffer instead */
	q->file_size = f->host_offset + q->cluster_size;
	return 1;
}

/* Whether the old contents of the whole cluster at cluster_start lie in one piece of a file
 * (ours, or a backing image's), so the engine can read them asynchronously: *old says where. */
static bool old_contents_direct(struct block_device *dev, struct qcow2 *q, uint64_t cluster_start,
				struct block_extent *old)
{
	if (cluster_start + q->cluster_size > dev->size)
		return false;
	return dev->driver->map_direct(dev, BLOCK_OP_READ, cluster_start, q->cluster_size, old) ==
		   1 &&
	       old->length == q->cluster_size;
}

/* The first (partial) cluster: old contents around the new bytes, in a bounce buffer aligned
 * for O_DIRECT. Old contents that a file holds in one piece are left for the engine to read
 * (plan->old); the rest (zeroes, compressed or mixed clusters) is filled in here. */
static int plan_partial(struct block_device *dev, struct qcow2 *q, const struct qcow2_mapping *m,
			uint64_t offset, const void *buf, uint64_t n, struct qcow2_inflight *f,
			struct block_write_plan *plan)
{
	uint64_t in_cluster = offset & (q->cluster_size - 1);
	f->bounce = bounce_get(dev, q->cluster_size);
	if (!f->bounce)
		return -ENOMEM;
	if (old_contents_direct(dev, q, offset - in_cluster, &plan->old)) {
		plan->new_data = buf;
		plan->new_at = in_cluster;
		plan->new_length = n;
	} else {
		plan->old.length = 0;
		int ret = qcow2_read_cluster(q, m, offset - in_cluster, f->bounce);
		if (ret < 0)
			return ret;
		memcpy(f->bounce + in_cluster, buf, n);
	}
	uint64_t got;
	return f->host_offset ? 0 : qcow2_alloc_run(q, 1, &f->host_offset, &got);
}

int qcow2_plan_write(struct block_device *dev, uint64_t offset, uint64_t length, const void *buf,
		     struct block_write_plan *plan)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	uint64_t in_cluster = offset & (q->cluster_size - 1);
	uint64_t n = q->cluster_size - in_cluster < length ? q->cluster_size - in_cluster : length;
	if (qcow2_inflight_covers(q, offset))
		return -EBUSY;
	struct qcow2_mapping m;
	int ret = qcow2_lookup(q, offset, &m);
	if (ret < 0)
		return ret;
	if (m.kind == QCOW2_NORMAL && m.copied) {
		plan->mapped = n; /* in place, but beyond what map_direct trusts: synchronously */
		return 0;
	}
	ret = qcow2_ensure_l2(q, offset, &m);
	struct qcow2_inflight *f = calloc(1, sizeof(*f));
	if (!ret && !f)
		ret = -ENOMEM;
	if (ret < 0) {
		free(f);
		return ret;
	}
	f->guest_offset = offset - in_cluster;
	bool fresh = false;
	if (n < q->cluster_size) {
		ret = plan_in_fresh_space(q, &m, offset, f);
		fresh = ret == 1;
		if (ret == 0 || ret == -EAGAIN)
			ret = plan_partial(dev, q, &m, offset, buf, n, f, plan);
		f->clusters = 1;
		plan->mapped = n;
	} else {
		uint64_t whole;
		ret = count_whole_clusters(q, offset, length >> q->h.cluster_bits, &whole);
		if (!ret)
			ret = qcow2_alloc_run(q, whole, &f->host_offset, &f->clusters);
		plan->mapped = f->clusters * q->cluster_size;
	}
	if (ret < 0) {
		bounce_put(dev, f->bounce, q->cluster_size);
		free(f);
		return ret;
	}
	plan->host_offset = fresh ? f->host_offset + in_cluster : f->host_offset;
	plan->length = fresh ? n : f->clusters * q->cluster_size;
	plan->buffer = f->bounce ? f->bounce : buf;
	plan->token = f;
	f->next = q->inflight;
	q->inflight = f;
	return 1;
}

static void unlink_inflight(struct qcow2 *q, struct qcow2_inflight *f)
{
	struct qcow2_inflight **link = &q->inflight;
	while (*link && *link != f)
		link = &(*link)->next;
	if (*link)
		*link = f->next;
}

/* The data is written: the L2 entries now point at it (looked up afresh, since other requests
 * may have changed them meanwhile). After a failed write the clusters stay counted but
 * unreferenced: leaked, never exposed. */
int qcow2_finish_write(struct block_device *dev, void *token, int result)
{
	struct qcow2 *q = qcow2_internal_of(dev);
	struct qcow2_inflight *f = token;
	unlink_inflight(q, f);
	int ret = result;
	if (!ret) {
		uint64_t end = f->host_offset + f->clusters * q->cluster_size;
		if (end > q->file_size)
			q->file_size = end;
		q->unsynced = true;
	}
	for (uint64_t i = 0; i < f->clusters && !ret; i++) {
		uint64_t at = f->guest_offset + i * q->cluster_size;
		struct qcow2_mapping m;
		ret = qcow2_lookup(q, at, &m);
		if (!ret)
			ret = qcow2_ensure_l2(q, at, &m);
		if (!ret)
			ret = qcow2_set_l2_entry(
			    q, &m, (f->host_offset + i * q->cluster_size) | QCOW2_OFLAG_COPIED);
	}
	bounce_put(dev, f->bounce, q->cluster_size);
	free(f);
	return ret;
}
