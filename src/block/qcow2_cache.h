/* A writeback cache of cluster-sized metadata tables (L2 tables, refcount blocks), keyed by
 * their offset in the image file.
 *
 * Tables are changed in memory and marked dirty; they reach the file when the cache is flushed
 * or when a dirty table is evicted. Crash safety comes from ordering, not from writing through:
 * before any dirty table of a cache is written, its before_writeback hook makes durable whatever
 * that table may point at (for L2 tables: the refcount blocks that count new clusters and the
 * data written into them). Lookups are O(1): a hash index over the slots, and an LRU list for
 * eviction. Slot memory is allocated on first use, so a large cache costs nothing until the
 * image actually has that many tables in use. */
#ifndef GUREUM_BLOCK_QCOW2_CACHE_H
#define GUREUM_BLOCK_QCOW2_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qcow2_cache_slot {
	uint64_t offset; /* 0: empty (no table lives in the header cluster) */
	bool dirty;
	uint8_t *data;	   /* NULL until the slot is first used */
	int32_t hash_next; /* next slot in the same hash bucket, -1: none */
	int32_t lru_prev;  /* towards the most recently used, -1: none */
	int32_t lru_next;  /* towards the least recently used, -1: none */
};

struct qcow2_cache {
	int fd;
	size_t nslots;
	size_t table_size;
	struct qcow2_cache_slot *slots;
	int32_t *buckets; /* first slot of each hash chain, -1: empty */
	uint32_t bucket_mask;
	int32_t lru_head; /* most recently used */
	int32_t lru_tail; /* least recently used: the next victim */
	size_t ndirty;
	/* Called before a dirty table is written back; a negative errno stops the write. */
	int (*before_writeback)(void *opaque);
	void *opaque;
	/* Set whenever the cache writes to the file (the owner's "needs fdatasync" flag). */
	bool *unsynced;
	uint64_t hits, misses, writebacks;
};

int qcow2_cache_init(struct qcow2_cache *cache, int fd, size_t nslots, size_t table_size);
void qcow2_cache_destroy(struct qcow2_cache *cache);

/* Returns the table at offset, reading it from the file if needed (which may first write back
 * the least recently used dirty table). The pointer stays valid until the next call on this
 * cache. The caller has checked that the table lies inside the file. */
int qcow2_cache_get(struct qcow2_cache *cache, uint64_t offset, uint8_t **table);

/* Enters a table whose contents the caller knows (just written to the file: clean). */
int qcow2_cache_install(struct qcow2_cache *cache, uint64_t offset, const void *contents);

/* Changes bytes [at, at + length) of the table at offset in memory and marks it dirty. */
int qcow2_cache_write(struct qcow2_cache *cache, uint64_t offset, size_t at, const void *bytes,
		      size_t length);

/* Writes every dirty table back (after calling before_writeback once). */
int qcow2_cache_flush(struct qcow2_cache *cache);

bool qcow2_cache_is_dirty(const struct qcow2_cache *cache);

/* Drops a table without writing it (freed, or rewritten behind the cache's back). */
void qcow2_cache_forget(struct qcow2_cache *cache, uint64_t offset);

#endif
