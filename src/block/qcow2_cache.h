/* A small write-through cache of cluster-sized metadata tables (L2 tables, refcount blocks),
 * keyed by their offset in the image file. Being write-through, it never holds dirty data, so
 * the order of metadata writes is exactly the order of the calls that make them. */
#ifndef GUREUM_BLOCK_QCOW2_CACHE_H
#define GUREUM_BLOCK_QCOW2_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct qcow2_cache_slot {
	uint64_t offset; /* 0: empty (no table lives in the header cluster) */
	uint64_t last_use;
	uint8_t *data;
};

struct qcow2_cache {
	size_t nslots;
	size_t table_size;
	uint64_t clock;
	struct qcow2_cache_slot *slots;
};

int qcow2_cache_init(struct qcow2_cache *cache, size_t nslots, size_t table_size);
void qcow2_cache_destroy(struct qcow2_cache *cache);

/* Returns the table at offset, reading it from fd if needed. The pointer stays valid until the
 * next call on this cache. The caller has checked that the table lies inside the file. */
int qcow2_cache_get(struct qcow2_cache *cache, int fd, uint64_t offset, uint8_t **table);

/* Writes bytes [at, at + length) of the table at offset to the file and to the cache. */
int qcow2_cache_write(struct qcow2_cache *cache, int fd, uint64_t offset, size_t at,
		      const void *bytes, size_t length);

/* Drops a table (freed, or rewritten behind the cache's back). */
void qcow2_cache_forget(struct qcow2_cache *cache, uint64_t offset);

#endif
