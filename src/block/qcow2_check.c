/* Rebuilds the refcounts an image should have by walking its metadata, then compares them with
 * the stored ones, cluster by cluster. */
#include "block/qcow2_check.h"
#include "block/qcow2_internal.h"
#include "block/qcow2_snapshot.h"

#include "lib/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counter {
	struct qcow2 *q;
	struct qcow2_check_result *res;
	uint64_t nclusters; /* clusters in the file */
	uint32_t *refs;
	bool copied_pass; /* second walk: check OFLAG_COPIED against the counted references */
	bool in_snapshot; /* walking a snapshot's tables: its clusters are not the guest's */
	bool quiet;	  /* per-cluster lines only at the debug log level */
};

static void say(struct counter *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line about one cluster or entry: on stderr as qemu-img check prints them, or, for a
 * repair the caller summarises, only when debugging (a large image can have millions). */
static void say(struct counter *c, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!c->quiet)
		fprintf(stderr, "%s\n", line);
	else
		log_debug("%s: %s", c->q->filename, line);
}

static void problem(struct counter *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct counter *c, const char *fmt, ...)
{
	char detail[224];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	say(c, "ERROR %s", detail);
	c->res->corruptions++;
}

/* Counts one reference to every cluster in [offset, offset + length). */
static void reference(struct counter *c, uint64_t offset, uint64_t length, const char *what)
{
	if (length == 0 || c->copied_pass)
		return;
	uint64_t first = offset >> c->q->h.cluster_bits;
	uint64_t last = (offset + length - 1) >> c->q->h.cluster_bits;
	for (uint64_t i = first; i <= last; i++) {
		if (i >= c->nclusters) {
			problem(c, "%s at %#" PRIx64 " lies beyond the end of the file", what,
				offset);
			return;
		}
		if (c->refs[i] != UINT32_MAX)
			c->refs[i]++;
	}
}

/* OFLAG_COPIED must be set exactly when the cluster has one reference. */
static void check_copied(struct counter *c, uint64_t offset, bool copied, const char *what)
{
	uint64_t cluster = offset >> c->q->h.cluster_bits;
	if (!c->copied_pass || cluster >= c->nclusters)
		return;
	if (copied != (c->refs[cluster] == 1))
		problem(c, "OFLAG_COPIED %s at %#" PRIx64 ": references=%" PRIu32, what, offset,
			c->refs[cluster]);
}

static int walk_l2(struct counter *c, uint64_t l2_offset, uint8_t *table)
{
	struct qcow2 *q = c->q;
	int ret = qcow2_pread(q, l2_offset, table, q->cluster_size);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < q->l2_entries; i++) {
		struct qcow2_mapping m;
		const uint8_t *slot = table + q->l2_entry_size * i;
		if (qcow2_decode_l2_entry(q, be64_at(slot), &m) < 0) {
			c->res->corruptions += !c->copied_pass;
			continue;
		}
		/* A bad bitmap is counted, but the cluster it describes is still referenced (so
		 * it is not reported as leaked as well, as qemu-img check does). */
		m.bitmap = q->extended_l2 ? be64_at(slot + 8) : 0;
		if (!c->copied_pass && qcow2_check_subcluster_bitmap(q, &m) < 0)
			c->res->corruptions++;
		if (c->copied_pass) {
			if (m.kind != QCOW2_COMPRESSED && m.host_offset)
				check_copied(c, m.host_offset, m.copied, "data cluster");
			continue;
		}
		if (m.kind == QCOW2_COMPRESSED) {
			reference(c, m.host_offset, m.compressed_size, "compressed cluster");
			c->res->allocated_clusters += !c->in_snapshot;
		} else if (m.host_offset) {
			reference(c, m.host_offset, q->cluster_size, "data cluster");
			c->res->allocated_clusters += !c->in_snapshot;
		}
	}
	return 0;
}

/* The header, the L1 and refcount tables, and the refcount blocks. */
static void count_fixed_structures(struct counter *c)
{
	struct qcow2 *q = c->q;
	reference(c, 0, q->cluster_size, "header");
	reference(c, q->h.l1_table_offset, (uint64_t)q->h.l1_size * 8, "L1 table");
	reference(c, q->h.refcount_table_offset, q->reftable_entries * 8, "refcount table");
	for (uint64_t i = 0; i < q->reftable_entries; i++) {
		uint64_t entry = q->reftable[i];
		if (entry & ((q->cluster_size - 1) | ~QCOW2_OFFSET_MASK))
			problem(c, "refcount table entry %" PRIu64 " is invalid", i);
		else if (entry)
			reference(c, entry, q->cluster_size, "refcount block");
	}
}

/* Validates an L1 entry of any L1 table (active or snapshot); 0: no L2 table. */
static int l2_offset_of(struct counter *c, uint64_t entry, uint64_t *l2_offset)
{
	struct qcow2 *q = c->q;
	uint64_t offset = entry & QCOW2_OFFSET_MASK;
	if ((entry & QCOW2_L1_RESERVED) || (offset & (q->cluster_size - 1)) ||
	    (offset && (offset > q->file_size || q->cluster_size > q->file_size - offset)))
		return -EINVAL;
	*l2_offset = offset;
	return 0;
}

/* Counts an L1 table's L2 tables and, through them, its data clusters; in the second pass
 * (active table only) checks OFLAG_COPIED. */
static int walk_l1_table(struct counter *c, const uint64_t *l1, uint64_t entries)
{
	struct qcow2 *q = c->q;
	uint8_t *table = malloc(q->cluster_size);
	if (!table)
		return -ENOMEM;
	int ret = 0;
	for (uint64_t i = 0; i < entries && !ret; i++) {
		uint64_t l2_offset;
		if (l2_offset_of(c, l1[i], &l2_offset) < 0) {
			if (!c->copied_pass)
				problem(c, "L1 entry %" PRIu64 " is invalid", i);
			continue;
		}
		if (!l2_offset)
			continue;
		reference(c, l2_offset, q->cluster_size, "L2 table");
		check_copied(c, l2_offset, l1[i] & QCOW2_OFLAG_COPIED, "L2 table");
		ret = walk_l2(c, l2_offset, table);
	}
	free(table);
	return ret;
}

static int walk_l1(struct counter *c)
{
	return walk_l1_table(c, c->q->l1, c->q->h.l1_size);
}

/* The snapshot table, and each snapshot's L1 table with everything it references: a snapshot
 * holds one reference to each of them. */
static int count_snapshots(struct counter *c)
{
	struct qcow2 *q = c->q;
	struct qcow2_snapshot *snapshots;
	uint64_t table_bytes;
	if (q->h.nb_snapshots == 0)
		return 0;
	if (qcow2_read_snapshots(q, &snapshots, &table_bytes) < 0) {
		problem(c, "snapshot table is unreadable");
		return 0;
	}
	reference(c, q->h.snapshots_offset, table_bytes, "snapshot table");
	c->in_snapshot = true;
	int ret = 0;
	for (uint32_t i = 0; i < q->h.nb_snapshots && !ret; i++) {
		struct qcow2_snapshot *s = &snapshots[i];
		uint64_t *l1 = malloc(s->l1_size ? (uint64_t)s->l1_size * 8 : 8);
		ret = l1 ? qcow2_pread(q, s->l1_offset, l1, (uint64_t)s->l1_size * 8) : -ENOMEM;
		for (uint32_t e = 0; e < s->l1_size && !ret; e++)
			l1[e] = be64toh(l1[e]);
		if (!ret) {
			reference(c, s->l1_offset, (uint64_t)s->l1_size * 8, "snapshot L1 table");
			ret = walk_l1_table(c, l1, s->l1_size);
		}
		free(l1);
	}
	free(snapshots);
	c->in_snapshot = false;
	return ret;
}

/* Compares (and with repair, fixes) the stored refcount of one cluster. */
static int compare_cluster(struct counter *c, uint64_t cluster, uint64_t expected, bool repair)
{
	uint64_t stored;
	int ret = qcow2_get_refcount(c->q, cluster, &stored);
	if (ret < 0)
		return ret;
	if (stored == expected)
		return 0;
	bool leak = stored > expected;
	say(c, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64,
	    leak ? "Leaked" : "ERROR", cluster, stored, expected);
	if (leak)
		c->res->leaks++;
	else
		c->res->corruptions++;
	if (repair && qcow2_set_refcount(c->q, cluster, expected) == 0) {
		if (leak)
			c->res->leaks_fixed++;
		else
			c->res->corruptions_fixed++;
	}
	return 0;
}

static int compare_refcounts(struct counter *c, bool repair)
{
	struct qcow2 *q = c->q;
	for (uint64_t i = 0; i < c->nclusters; i++) {
		int ret = compare_cluster(c, i, c->refs[i], repair);
		if (ret < 0)
			return ret;
	}
	/* Clusters past the end of the file are referenced by nothing; they may still be counted
	 * (an allocation interrupted before its data was written). */
	uint64_t first_block = c->nclusters / q->refblock_entries;
	for (uint64_t b = first_block; b < q->reftable_entries; b++) {
		if (!q->reftable[b] || (q->reftable[b] & ~QCOW2_OFFSET_MASK))
			continue;
		uint64_t start = b * q->refblock_entries;
		for (uint64_t i = start < c->nclusters ? c->nclusters : start;
		     i < start + q->refblock_entries; i++) {
			int ret = compare_cluster(c, i, 0, repair);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int clear_dirty_bit(struct qcow2 *q)
{
	uint8_t field[8];
	put_be64(field, q->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY);
	int ret = qcow2_pwrite(q, 72, field, sizeof(field));
	if (!ret)
		q->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
	return ret;
}

static int check(struct block_device *dev, bool repair, bool quiet, struct qcow2_check_result *res,
		 struct block_error *err)
{
	memset(res, 0, sizeof(*res));
	struct qcow2 *q = qcow2_internal_of(dev);
	if (!q) {
		block_error_set(err, "%s: not a qcow2 image", dev->filename);
		return -EINVAL;
	}
	if (q->h.has_bitmaps) {
		block_error_set(err,
				"%s: checking images with persistent bitmaps is not supported yet",
				dev->filename);
		return -ENOTSUP;
	}
	/* The walk reads tables from the file: what the caches hold goes there first. */
	int ret = dev->read_only ? 0 : qcow2_flush_all(q);
	if (ret < 0) {
		block_error_set(err, "%s: cannot write cached metadata: %s", dev->filename,
				strerror(-ret));
		return ret;
	}
	struct counter c = {.q = q, .res = res, .quiet = quiet};
	c.nclusters = (q->file_size + q->cluster_size - 1) >> q->h.cluster_bits;
	c.refs = calloc(c.nclusters ? c.nclusters : 1, sizeof(*c.refs));
	if (!c.refs) {
		block_error_set(err, "%s: out of memory", dev->filename);
		return -ENOMEM;
	}
	res->total_clusters = (q->h.size + q->cluster_size - 1) >> q->h.cluster_bits;
	count_fixed_structures(&c);
	ret = walk_l1(&c);
	if (!ret)
		ret = count_snapshots(&c);
	if (!ret)
		ret = compare_refcounts(&c, repair);
	/* As qemu-img: the end of the last cluster anything references. */
	for (uint64_t i = c.nclusters; i > 0 && !res->image_end_offset; i--)
		if (c.refs[i - 1])
			res->image_end_offset = i << q->h.cluster_bits;
	c.copied_pass = true;
	if (!ret)
		ret = walk_l1(&c);
	free(c.refs);
	/* The repaired refcounts are durable before the dirty bit goes. */
	if (!ret && repair)
		ret = qcow2_flush_all(q);
	if (!ret && repair && res->corruptions == res->corruptions_fixed &&
	    res->leaks == res->leaks_fixed && (q->h.incompatible_features & QCOW2_INCOMPAT_DIRTY))
		ret = clear_dirty_bit(q);
	if (!ret && repair)
		ret = qcow2_flush_all(q);
	if (ret < 0)
		block_error_set(err, "%s: check failed: %s", dev->filename, strerror(-ret));
	return ret;
}

int qcow2_check(struct block_device *dev, bool repair, struct qcow2_check_result *res,
		struct block_error *err)
{
	return check(dev, repair, false, res, err);
}

int qcow2_check_quietly(struct block_device *dev, bool repair, struct qcow2_check_result *res,
			struct block_error *err)
{
	return check(dev, repair, true, res, err);
}
