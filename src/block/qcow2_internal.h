/* State of an open qcow2 image, shared by the files that implement the driver (open/read/write,
 * cluster lookup, refcounts, check). Not for use outside src/block. */
#ifndef GUREUM_BLOCK_QCOW2_INTERNAL_H
#define GUREUM_BLOCK_QCOW2_INTERNAL_H

#include "block/block.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_format.h"

#include <stdbool.h>
#include <stdint.h>

struct qcow2 {
	int fd;
	const char *filename; /* the block_device's, for messages */
	struct qcow2_header h;
	uint64_t cluster_size;
	uint64_t l2_entries;
	uint64_t l2_entry_size;	  /* 8, or 16 with extended L2 entries */
	bool extended_l2;	  /* clusters split into QCOW2_SUBCLUSTERS subclusters */
	unsigned subcluster_bits; /* log2 of the subcluster size (cluster_bits when none) */
	uint64_t refblock_entries;
	uint64_t file_size; /* kept up to date as we write */
	uint64_t *l1;	    /* host byte order */
	uint64_t *reftable; /* host byte order */
	uint64_t reftable_entries;
	struct qcow2_cache l2_cache;
	struct qcow2_cache refblock_cache;
	struct block_device *backing;
	bool unsafe;	     /* no ordering flushes (image being created) */
	bool unsynced;	     /* written to since the last fdatasync */
	bool l1_dirty;	     /* l1 differs from the file (new L2 tables since the last flush) */
	bool lazy_refcounts; /* refcounts may lag behind the L2 tables; the dirty bit covers it */
	bool dirty_by_us;    /* we set the dirty bit (and clear it on a clean close) */
	struct qcow2_release *releases; /* references to drop once the next flush is done */
	size_t nreleases, releases_cap;
	struct qcow2_inflight *inflight; /* asynchronous allocating writes not yet finished */
	uint64_t free_hint;		 /* no free cluster below this index */
	uint8_t *cluster_buf;		 /* scratch for copy-on-write */
	uint8_t *compressed_buf;
	uint8_t *decompressed;	    /* last decompressed cluster ... */
	uint64_t decompressed_from; /* ... and the L2 entry it came from (0: none) */
	uint64_t compressed_next;   /* compressed writes: next free byte of ... */
	uint64_t compressed_end;    /* ... the cluster they are being packed into */
};

/* Clusters that an update stopped referencing: freed only after that update is durable. */
struct qcow2_release {
	uint64_t offset;
	uint64_t length;
};

/* What a guest cluster maps to. */
enum qcow2_cluster_kind {
	QCOW2_UNALLOCATED, /* read from the backing file, or zeroes */
	QCOW2_ZERO,	   /* reads as zeroes; host_offset may still hold a preallocation */
	QCOW2_NORMAL,	   /* data at host_offset */
	QCOW2_COMPRESSED,  /* compressed_size bytes at host_offset */
};

struct qcow2_mapping {
	enum qcow2_cluster_kind kind;
	uint64_t host_offset;
	uint64_t compressed_size;
	bool copied;	    /* refcount is exactly 1: may be written in place */
	uint64_t l2_offset; /* 0 when the L1 entry is empty */
	uint64_t l2_index;
	uint64_t l2_entry;
	uint64_t bitmap; /* subcluster bitmap of an extended L2 entry, else 0 */
};

/* The state of an open qcow2 image, or NULL if dev is not one. */
struct qcow2 *qcow2_internal_of(struct block_device *dev);

/* Logs a corruption found in image metadata and returns -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* File I/O that keeps file_size current. Short reads of metadata are errors. */
int qcow2_pread(struct qcow2 *q, uint64_t offset, void *buf, size_t length);
int qcow2_pwrite(struct qcow2 *q, uint64_t offset, const void *buf, size_t length);
/* fdatasync between dependency levels: unless the image is opened unsafe or nothing was written
 * since the last one. */
int qcow2_order_flush(struct qcow2 *q);

/* ---- writeback ordering (qcow2_writeback.c) ---- */

/* Sets up the caches' ordering hooks and sizes (l2_bytes of L2 tables). */
int qcow2_caches_init(struct qcow2 *q, uint64_t l2_bytes);
/* Points the L2 entry that m was looked up from at new_entry (in the cache), and arranges for
 * what the old entry referenced to be released after the next flush. */
int qcow2_set_l2_entry(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t new_entry);
/* Drops one reference to each cluster in [offset, offset + length) once the metadata that stops
 * referencing them is durable (at the end of the next qcow2_flush_all). */
int qcow2_release_later(struct qcow2 *q, uint64_t offset, uint64_t length);
/* Makes everything written so far durable: refcount blocks, fdatasync, L2 tables, fdatasync,
 * L1 table, fdatasync; then applies the deferred releases (in the cache only). */
int qcow2_flush_all(struct qcow2 *q);
/* Lazy refcounts: sets the dirty bit durably before the first metadata write after open. */
int qcow2_mark_dirty(struct qcow2 *q);
/* Clean close: flushes everything and clears the dirty bit. */
int qcow2_close_clean(struct qcow2 *q);

/* Validates an L1 entry and returns its L2 table offset (0: none). */
int qcow2_l2_offset(struct qcow2 *q, uint64_t l1_index, uint64_t *l2_offset);
/* Decodes and validates an L2 entry. */
int qcow2_decode_l2_entry(struct qcow2 *q, uint64_t entry, struct qcow2_mapping *m);
/* Validates the subcluster bitmap of an extended L2 entry decoded into m. */
int qcow2_check_subcluster_bitmap(struct qcow2 *q, const struct qcow2_mapping *m);
/* Looks up the cluster containing guest_offset (with extended L2 entries: and its bitmap). */
int qcow2_lookup(struct qcow2 *q, uint64_t guest_offset, struct qcow2_mapping *m);
/* What the subcluster containing guest_offset maps to: m->kind unless the image has extended L2
 * entries, where an allocated cluster may still have unallocated or zero subclusters. */
enum qcow2_cluster_kind qcow2_subcluster_kind(const struct qcow2 *q, const struct qcow2_mapping *m,
					      uint64_t guest_offset);

/* Makes sure the L2 table for guest_offset (looked up into m) exists and may be modified in
 * place, allocating it if needed; m->l2_offset is updated. */
int qcow2_ensure_l2(struct qcow2 *q, uint64_t guest_offset, struct qcow2_mapping *m);

/* Inflates a compressed cluster into out (cluster_size bytes). */
int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_mapping *m, uint8_t *out);

/* Refcounts of host clusters, by cluster index. */
int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *refcount);
int qcow2_set_refcount(struct qcow2 *q, uint64_t cluster, uint64_t refcount);
/* Finds a free cluster, marks it used (refcount 1) and returns its file offset. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *offset);
/* Allocates up to max clusters that follow each other in the file (at least one). */
int qcow2_alloc_run(struct qcow2 *q, uint64_t max, uint64_t *offset, uint64_t *count);
/* Drops one reference to each cluster in [offset, offset + length). */
int qcow2_release(struct qcow2 *q, uint64_t offset, uint64_t length);

/* Reads the whole guest cluster starting at cluster_start, which m maps, into dst. */
int qcow2_read_cluster(struct qcow2 *q, const struct qcow2_mapping *m, uint64_t cluster_start,
		       uint8_t *dst);

/* ---- asynchronous allocating writes (qcow2_async.c) ---- */

struct block_write_plan;
/* Whether an allocating write to the cluster containing guest_offset is in flight. */
bool qcow2_inflight_covers(struct qcow2 *q, uint64_t guest_offset);
int qcow2_plan_write(struct block_device *dev, uint64_t offset, uint64_t length, const void *buf,
		     struct block_write_plan *plan);
int qcow2_finish_write(struct block_device *dev, void *token, int result);

#endif
