/* The order in which cached qcow2 metadata reaches the file ("cache=writeback" semantics).
 *
 * Between flushes L2 tables and refcount blocks change only in memory. Whenever they are written
 * (on flush, or when the cache evicts a dirty table) the dependencies are honoured:
 *   1. a new cluster's refcount reaches the file before any L2 entry that points at it
 *      (refcount blocks are written, then fdatasync, before a dirty L2 table is written);
 *   2. data written into a new cluster is durable before the L2 entry that points at it (the same
 *      fdatasync: data writes precede the L2 update in memory);
 *   3. a new L2 table is durable before the L1 entry that points at it (L1 last, after a sync);
 *   4. clusters an update stops referencing are freed only after that update is durable
 *      (deferred releases, applied at the end of a flush).
 * A crash at any moment therefore leaves at worst leaked clusters, and a completed flush has made
 * every write before it durable. With lazy refcounts rule 1 is dropped: the dirty bit, set before
 * the first metadata write, makes the next read-write open rebuild the refcounts. */
#include "block/qcow2_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Releases deferred without a flush before one is forced, bounding the list. */
#define MAX_DEFERRED_RELEASES 4096

static int before_l2_writeback(void *opaque)
{
	struct qcow2 *q = opaque;
	int ret = q->lazy_refcounts ? 0 : qcow2_cache_flush(&q->refblock_cache);
	return ret ? ret : qcow2_order_flush(q);
}

int qcow2_caches_init(struct qcow2 *q, uint64_t l2_bytes)
{
	size_t l2_slots = l2_bytes / q->cluster_size;
	l2_slots = l2_slots < 16 ? 16 : l2_slots > (1u << 20) ? (1u << 20) : l2_slots;
	/* QEMU's ratio: a quarter as many refcount blocks as L2 tables. */
	size_t refblock_slots = l2_slots / 4 < 16 ? 16 : l2_slots / 4;
	int ret = qcow2_cache_init(&q->l2_cache, q->fd, l2_slots, q->cluster_size);
	if (!ret)
		ret = qcow2_cache_init(&q->refblock_cache, q->fd, refblock_slots, q->cluster_size);
	if (ret < 0)
		return ret;
	q->l2_cache.before_writeback = before_l2_writeback;
	q->l2_cache.opaque = q;
	q->l2_cache.unsynced = &q->unsynced;
	q->refblock_cache.unsynced = &q->unsynced;
	return 0;
}

int qcow2_release_later(struct qcow2 *q, uint64_t offset, uint64_t length)
{
	if (length == 0)
		return 0;
	if (q->nreleases == MAX_DEFERRED_RELEASES) {
		int ret = qcow2_flush_all(q);
		if (ret < 0)
			return ret;
	}
	if (q->nreleases == q->releases_cap) {
		size_t cap = q->releases_cap ? 2 * q->releases_cap : 64;
		struct qcow2_release *r = realloc(q->releases, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		q->releases = r;
		q->releases_cap = cap;
	}
	q->releases[q->nreleases++] = (struct qcow2_release){offset, length};
	return 0;
}

static uint64_t referenced_bytes(const struct qcow2 *q, const struct qcow2_mapping *m)
{
	if (m->kind == QCOW2_COMPRESSED)
		return m->compressed_size;
	if (m->kind == QCOW2_UNALLOCATED || m->host_offset == 0)
		return 0;
	return q->cluster_size;
}

int qcow2_set_l2_entry(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t new_entry)
{
	uint8_t entry[8];
	put_be64(entry, new_entry);
	int ret = qcow2_mark_dirty(q);
	if (!ret)
		ret = qcow2_cache_write(&q->l2_cache, m->l2_offset, 8 * m->l2_index, entry, 8);
	if (ret < 0)
		return ret;
	q->decompressed_from = 0;
	return qcow2_release_later(q, m->host_offset, referenced_bytes(q, m));
}

static int write_l1(struct qcow2 *q)
{
	size_t bytes = (size_t)q->h.l1_size * 8;
	uint8_t *buf = malloc(bytes ? bytes : 8);
	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < q->h.l1_size; i++)
		put_be64(buf + 8 * i, q->l1[i]);
	int ret = qcow2_pwrite(q, q->h.l1_table_offset, buf, bytes);
	free(buf);
	if (!ret)
		q->l1_dirty = false;
	return ret;
}

static int apply_releases(struct qcow2 *q)
{
	int ret = 0;
	size_t i = 0;
	for (; i < q->nreleases && !ret; i++)
		ret = qcow2_release(q, q->releases[i].offset, q->releases[i].length);
	/* A failed release leaks the rest: harmless, and never freed twice. */
	q->nreleases = 0;
	return ret;
}

int qcow2_flush_all(struct qcow2 *q)
{
	int ret = qcow2_cache_flush(&q->refblock_cache);
	if (!ret)
		ret = qcow2_cache_flush(&q->l2_cache);
	if (!ret && q->l1_dirty) {
		ret = qcow2_order_flush(q);
		if (!ret)
			ret = write_l1(q);
	}
	if (!ret && fdatasync(q->fd) < 0)
		ret = -errno;
	if (ret < 0)
		return ret;
	q->unsynced = false;
	return apply_releases(q);
}

static int write_incompatible(struct qcow2 *q, uint64_t features)
{
	uint8_t field[8];
	put_be64(field, features);
	int ret = qcow2_pwrite(q, 72, field, sizeof(field));
	if (!ret && fdatasync(q->fd) < 0)
		ret = -errno;
	if (!ret) {
		q->unsynced = false;
		q->h.incompatible_features = features;
	}
	return ret;
}

int qcow2_mark_dirty(struct qcow2 *q)
{
	if (!q->lazy_refcounts || (q->h.incompatible_features & QCOW2_INCOMPAT_DIRTY))
		return 0;
	int ret = write_incompatible(q, q->h.incompatible_features | QCOW2_INCOMPAT_DIRTY);
	q->dirty_by_us = ret == 0;
	return ret;
}

int qcow2_close_clean(struct qcow2 *q)
{
	/* Twice: the first flush's deferred releases dirty refcount blocks again. */
	int ret = qcow2_flush_all(q);
	if (!ret)
		ret = qcow2_flush_all(q);
	if (!ret && q->dirty_by_us)
		ret = write_incompatible(q, q->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY);
	if (!ret)
		q->dirty_by_us = false;
	return ret;
}
