/* Refcounts: how many references each host cluster has. A cluster with refcount 0 is free.
 *
 * Allocation marks a cluster used before anything points at it, so a crash in between only
 * leaks it. A refcount block that does not exist yet is placed in the first cluster of the range
 * it describes, so that it can count itself without a second allocation. When the refcount
 * table covers no free cluster any more, it is grown (see grow_reftable). */
#include "block/qcow2_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

#define REFTABLE_RESERVED 0x1ffull /* offsets must be cluster aligned */

static unsigned refcount_bits(const struct qcow2 *q)
{
	return 1u << q->h.refcount_order;
}

static uint64_t refcount_max(const struct qcow2 *q)
{
	unsigned bits = refcount_bits(q);
	return bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
}

/* Returns the offset of the refcount block covering cluster (0: none yet), validated. */
static int refblock_offset(struct qcow2 *q, uint64_t cluster, uint64_t *offset)
{
	uint64_t index = cluster / q->refblock_entries;
	if (index >= q->reftable_entries) {
		*offset = 0;
		return 0;
	}
	uint64_t entry = q->reftable[index];
	if (entry & ((q->cluster_size - 1) | ~QCOW2_OFFSET_MASK))
		return qcow2_corrupt(q, "refcount table entry %" PRIu64 " is misaligned", index);
	if (entry != 0 && (entry > q->file_size || q->cluster_size > q->file_size - entry))
		return qcow2_corrupt(q, "refcount block %" PRIu64 " lies outside the file", index);
	*offset = entry;
	return 0;
}

static uint64_t read_entry(const struct qcow2 *q, const uint8_t *block, uint64_t i)
{
	unsigned bits = refcount_bits(q);
	switch (bits) {
	case 8:
		return block[i];
	case 16:
		return be16_at(block + 2 * i);
	case 32:
		return be32_at(block + 4 * i);
	case 64:
		return be64_at(block + 8 * i);
	default: /* 1, 2 or 4 bits, first entry in the least significant bits */
		return (block[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
	}
}

/* Where entry i starts in a refcount block, and how many bytes hold it. */
static size_t entry_byte(const struct qcow2 *q, uint64_t i)
{
	return i * refcount_bits(q) / 8;
}

static size_t entry_span(const struct qcow2 *q)
{
	unsigned bits = refcount_bits(q);
	return bits < 8 ? 1 : bits / 8;
}

/* Stores value as entry i into bytes, which hold the entry's span (see entry_byte). */
static void encode_entry(const struct qcow2 *q, uint8_t *bytes, uint64_t i, uint64_t value)
{
	unsigned bits = refcount_bits(q);
	if (bits < 8) {
		unsigned shift = i * bits % 8;
		uint8_t mask = ((1u << bits) - 1) << shift;
		bytes[0] = (bytes[0] & ~mask) | ((value << shift) & mask);
		return;
	}
	size_t span = bits / 8;
	for (size_t b = 0; b < span; b++)
		bytes[b] = value >> (8 * (span - 1 - b));
}

int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *refcount)
{
	uint64_t offset;
	int ret = refblock_offset(q, cluster, &offset);
	if (ret < 0)
		return ret;
	if (offset == 0) {
		*refcount = 0;
		return 0;
	}
	uint8_t *block;
	ret = qcow2_cache_get(&q->refblock_cache, offset, &block);
	if (ret < 0)
		return ret;
	*refcount = read_entry(q, block, cluster % q->refblock_entries);
	return 0;
}

int qcow2_set_refcount(struct qcow2 *q, uint64_t cluster, uint64_t refcount)
{
	uint64_t offset;
	int ret = refblock_offset(q, cluster, &offset);
	if (ret < 0)
		return ret;
	if (offset == 0)
		return qcow2_corrupt(q, "no refcount block for cluster %" PRIu64, cluster);
	if (refcount > refcount_max(q))
		return qcow2_corrupt(q, "refcount of cluster %" PRIu64 " would overflow", cluster);
	uint8_t *block;
	ret = qcow2_cache_get(&q->refblock_cache, offset, &block);
	if (ret < 0)
		return ret;
	/* Work on a copy of the affected bytes so the cache changes only if the write does. */
	uint64_t i = cluster % q->refblock_entries;
	uint8_t bytes[8];
	memcpy(bytes, block + entry_byte(q, i), entry_span(q));
	encode_entry(q, bytes, i, refcount);
	return qcow2_cache_write(&q->refblock_cache, offset, entry_byte(q, i), bytes,
				 entry_span(q));
}

/* Creates the refcount block for the range containing cluster, in that range's first free
 * cluster, which is the cluster itself (the caller found it free). */
static int create_refblock(struct qcow2 *q, uint64_t cluster)
{
	uint64_t index = cluster / q->refblock_entries;
	uint64_t offset = cluster << q->h.cluster_bits;
	uint8_t *block = calloc(1, q->cluster_size);
	if (!block)
		return -ENOMEM;
	uint64_t i = cluster % q->refblock_entries;
	encode_entry(q, block + entry_byte(q, i), i, 1);
	int ret = qcow2_pwrite(q, offset, block, q->cluster_size);
	free(block);
	if (!ret)
		ret = qcow2_order_flush(q); /* the block must be on disk before the table says so */
	if (ret < 0)
		return ret;
	uint8_t entry[8];
	put_be64(entry, offset);
	ret = qcow2_pwrite(q, q->h.refcount_table_offset + index * 8, entry, sizeof(entry));
	if (ret < 0)
		return ret;
	q->reftable[index] = offset;
	return 0;
}

/* Marks clusters [first, first + count) used in a fresh refcount block image (block holds the
 * entries of the range starting at block_start). */
static void count_in_new_block(struct qcow2 *q, uint8_t *block, uint64_t block_start,
			       uint64_t first, uint64_t count)
{
	for (uint64_t c = first; c < first + count; c++) {
		if (c < block_start || c >= block_start + q->refblock_entries)
			continue;
		uint64_t i = c - block_start;
		encode_entry(q, block + entry_byte(q, i), i, 1);
	}
}

/* Writes the new refcount blocks (indices from first_block on) and the new table, all placed
 * at cluster start, each counting itself. */
static int write_grown_structures(struct qcow2 *q, uint64_t start, uint64_t nblocks,
				  uint64_t table_clusters, uint64_t new_entries)
{
	uint64_t first_block = q->reftable_entries;
	uint8_t *buf = calloc(1, table_clusters * q->cluster_size > q->cluster_size
				     ? table_clusters * q->cluster_size
				     : q->cluster_size);
	if (!buf)
		return -ENOMEM;
	int ret = 0;
	for (uint64_t b = 0; b < nblocks && !ret; b++) {
		memset(buf, 0, q->cluster_size);
		count_in_new_block(q, buf, (first_block + b) * q->refblock_entries, start,
				   nblocks + table_clusters);
		ret = qcow2_pwrite(q, (start + b) << q->h.cluster_bits, buf, q->cluster_size);
	}
	memset(buf, 0, table_clusters * q->cluster_size);
	for (uint64_t i = 0; i < new_entries; i++) {
		uint64_t entry = i < first_block ? q->reftable[i]
				 : i < first_block + nblocks
				     ? (start + i - first_block) << q->h.cluster_bits
				     : 0;
		put_be64(buf + 8 * i, entry);
	}
	if (!ret)
		ret = qcow2_pwrite(q, (start + nblocks) << q->h.cluster_bits, buf,
				   table_clusters * q->cluster_size);
	free(buf);
	return ret;
}

/* Switches the header to the new table in one write (offset and size share a sector). */
static int switch_reftable(struct qcow2 *q, uint64_t offset, uint64_t clusters)
{
	uint8_t field[12];
	put_be64(field, offset);
	put_be32(field + 8, clusters);
	int ret = qcow2_pwrite(q, 48, field, sizeof(field));
	return ret ? ret : qcow2_order_flush(q);
}

/* Grows the refcount table when every cluster it covers is in use, as QEMU does: new refcount
 * blocks and a larger table are written past the covered range, describing themselves; once
 * they are durable one header write switches to them, and then the old table is freed. A crash
 * in between leaves the old table in charge and the new clusters merely unreferenced. */
static int grow_reftable(struct qcow2 *q)
{
	uint64_t old_entries = q->reftable_entries;
	uint64_t table_clusters =
	    ((old_entries * 2 + 8) * 8 + q->cluster_size - 1) >> q->h.cluster_bits;
	if (table_clusters * q->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		return -ENOSPC;
	uint64_t new_entries = table_clusters * q->cluster_size / 8;
	uint64_t start = old_entries * q->refblock_entries; /* first uncovered cluster */
	uint64_t nblocks = 1;
	while (nblocks * q->refblock_entries < nblocks + table_clusters)
		nblocks++;
	int ret = write_grown_structures(q, start, nblocks, table_clusters, new_entries);
	if (!ret)
		ret = qcow2_order_flush(q);
	uint64_t table_offset = (start + nblocks) << q->h.cluster_bits;
	if (!ret)
		ret = switch_reftable(q, table_offset, table_clusters);
	uint64_t *table = ret ? NULL : calloc(new_entries, 8);
	if (ret || !table)
		return ret ? ret : -ENOMEM;
	memcpy(table, q->reftable, old_entries * 8);
	for (uint64_t b = 0; b < nblocks; b++)
		table[old_entries + b] = (start + b) << q->h.cluster_bits;
	uint64_t old_offset = q->h.refcount_table_offset;
	uint64_t old_clusters = q->h.refcount_table_clusters;
	free(q->reftable);
	q->reftable = table;
	q->reftable_entries = new_entries;
	q->h.refcount_table_offset = table_offset;
	q->h.refcount_table_clusters = table_clusters;
	return qcow2_release(q, old_offset, old_clusters << q->h.cluster_bits);
}

int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *offset)
{
	uint64_t max_cluster = (QCOW2_OFFSET_MASK >> q->h.cluster_bits) + 1;
	for (;;) {
		uint64_t limit = q->reftable_entries * q->refblock_entries;
		if (max_cluster < limit)
			limit = max_cluster;
		for (uint64_t cluster = q->free_hint; cluster < limit; cluster++) {
			uint64_t refcount, block;
			int ret = qcow2_get_refcount(q, cluster, &refcount);
			if (!ret)
				ret = refblock_offset(q, cluster, &block);
			if (ret < 0)
				return ret;
			if (refcount != 0)
				continue;
			if (block == 0) {
				ret = create_refblock(q, cluster);
				if (ret < 0)
					return ret;
				continue;
			}
			ret = qcow2_set_refcount(q, cluster, 1);
			if (ret < 0)
				return ret;
			q->free_hint = cluster + 1;
			*offset = cluster << q->h.cluster_bits;
			return 0;
		}
		q->free_hint = limit;
		int ret = limit < max_cluster ? grow_reftable(q) : -ENOSPC;
		if (ret < 0) {
			log_error("%s: image full: cannot grow the refcount table: %s", q->filename,
				  strerror(-ret));
			return ret;
		}
	}
}

int qcow2_alloc_run(struct qcow2 *q, uint64_t max, uint64_t *offset, uint64_t *count)
{
	int ret = qcow2_alloc_cluster(q, offset);
	if (ret < 0)
		return ret;
	uint64_t first = *offset >> q->h.cluster_bits, n = 1;
	uint64_t limit = q->reftable_entries * q->refblock_entries;
	/* Extends the run while the next clusters are free and already have a refcount block;
	 * anything unusual just ends the run (the next allocation looks at it properly). */
	for (; n < max && first + n < limit; n++) {
		uint64_t block, refcount;
		if (refblock_offset(q, first + n, &block) < 0 || block == 0 ||
		    qcow2_get_refcount(q, first + n, &refcount) < 0 || refcount != 0 ||
		    qcow2_set_refcount(q, first + n, 1) < 0)
			break;
	}
	if (q->free_hint < first + n)
		q->free_hint = first + n;
	*count = n;
	return 0;
}

int qcow2_release(struct qcow2 *q, uint64_t offset, uint64_t length)
{
	if (length == 0)
		return 0;
	uint64_t first = offset >> q->h.cluster_bits;
	uint64_t last = (offset + length - 1) >> q->h.cluster_bits;
	for (uint64_t cluster = first; cluster <= last; cluster++) {
		uint64_t refcount;
		int ret = qcow2_get_refcount(q, cluster, &refcount);
		if (ret < 0)
			return ret;
		if (refcount == 0)
			return qcow2_corrupt(q, "cluster %" PRIu64 " freed but not in use",
					     cluster);
		ret = qcow2_set_refcount(q, cluster, refcount - 1);
		if (ret < 0)
			return ret;
		if (refcount == 1 && cluster < q->free_hint)
			q->free_hint = cluster;
	}
	return 0;
}
