#include "block/qcow2_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NONE (-1)

int qcow2_cache_init(struct qcow2_cache *cache, int fd, size_t nslots, size_t table_size)
{
	memset(cache, 0, sizeof(*cache));
	if (nslots == 0 || nslots > INT32_MAX / 4)
		return -EINVAL;
	size_t nbuckets = 1;
	while (nbuckets < 2 * nslots)
		nbuckets <<= 1;
	cache->slots = calloc(nslots, sizeof(*cache->slots));
	cache->buckets = malloc(nbuckets * sizeof(*cache->buckets));
	if (!cache->slots || !cache->buckets) {
		qcow2_cache_destroy(cache);
		return -ENOMEM;
	}
	cache->fd = fd;
	cache->nslots = nslots;
	cache->table_size = table_size;
	cache->bucket_mask = nbuckets - 1;
	for (size_t b = 0; b < nbuckets; b++)
		cache->buckets[b] = NONE;
	/* Every slot starts on the LRU list, empty ones at the tail end in index order. */
	for (size_t i = 0; i < nslots; i++) {
		cache->slots[i].hash_next = NONE;
		cache->slots[i].lru_prev = i == 0 ? NONE : (int32_t)i - 1;
		cache->slots[i].lru_next = i + 1 == nslots ? NONE : (int32_t)i + 1;
	}
	cache->lru_head = 0;
	cache->lru_tail = nslots - 1;
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *cache)
{
	for (size_t i = 0; cache->slots && i < cache->nslots; i++)
		free(cache->slots[i].data);
	free(cache->slots);
	free(cache->buckets);
	memset(cache, 0, sizeof(*cache));
}

static uint32_t bucket_of(const struct qcow2_cache *cache, uint64_t offset)
{
	uint64_t h = (offset / cache->table_size) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & cache->bucket_mask;
}

static int32_t find(const struct qcow2_cache *cache, uint64_t offset)
{
	for (int32_t i = cache->buckets[bucket_of(cache, offset)]; i != NONE;
	     i = cache->slots[i].hash_next)
		if (cache->slots[i].offset == offset)
			return i;
	return NONE;
}

static void hash_insert(struct qcow2_cache *cache, int32_t i)
{
	uint32_t b = bucket_of(cache, cache->slots[i].offset);
	cache->slots[i].hash_next = cache->buckets[b];
	cache->buckets[b] = i;
}

static void hash_remove(struct qcow2_cache *cache, int32_t i)
{
	int32_t *link = &cache->buckets[bucket_of(cache, cache->slots[i].offset)];
	while (*link != NONE && *link != i)
		link = &cache->slots[*link].hash_next;
	if (*link == i)
		*link = cache->slots[i].hash_next;
	cache->slots[i].hash_next = NONE;
}

static void lru_unlink(struct qcow2_cache *cache, int32_t i)
{
	struct qcow2_cache_slot *s = &cache->slots[i];
	if (s->lru_prev != NONE)
		cache->slots[s->lru_prev].lru_next = s->lru_next;
	else
		cache->lru_head = s->lru_next;
	if (s->lru_next != NONE)
		cache->slots[s->lru_next].lru_prev = s->lru_prev;
	else
		cache->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NONE;
}

static void lru_push_head(struct qcow2_cache *cache, int32_t i)
{
	struct qcow2_cache_slot *s = &cache->slots[i];
	s->lru_prev = NONE;
	s->lru_next = cache->lru_head;
	if (cache->lru_head != NONE)
		cache->slots[cache->lru_head].lru_prev = i;
	cache->lru_head = i;
	if (cache->lru_tail == NONE)
		cache->lru_tail = i;
}

static void lru_push_tail(struct qcow2_cache *cache, int32_t i)
{
	struct qcow2_cache_slot *s = &cache->slots[i];
	s->lru_next = NONE;
	s->lru_prev = cache->lru_tail;
	if (cache->lru_tail != NONE)
		cache->slots[cache->lru_tail].lru_next = i;
	cache->lru_tail = i;
	if (cache->lru_head == NONE)
		cache->lru_head = i;
}

static void touch(struct qcow2_cache *cache, int32_t i)
{
	if (cache->lru_head == i)
		return;
	lru_unlink(cache, i);
	lru_push_head(cache, i);
}

static int io_exact(int fd, bool write, void *buf, size_t length, uint64_t offset)
{
	char *p = buf;
	while (length > 0) {
		ssize_t n = write ? pwrite(fd, p, length, (off_t)offset)
				  : pread(fd, p, length, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us */
		p += n;
		offset += n;
		length -= n;
	}
	return 0;
}

static int write_back(struct qcow2_cache *cache, int32_t i, bool hook)
{
	struct qcow2_cache_slot *s = &cache->slots[i];
	int ret = hook && cache->before_writeback ? cache->before_writeback(cache->opaque) : 0;
	if (!ret)
		ret = io_exact(cache->fd, true, s->data, cache->table_size, s->offset);
	if (ret < 0)
		return ret;
	if (cache->unsynced)
		*cache->unsynced = true;
	s->dirty = false;
	cache->ndirty--;
	cache->writebacks++;
	return 0;
}

/* Makes the least recently used slot free for offset; it becomes the most recently used. */
static int claim_slot(struct qcow2_cache *cache, uint64_t offset, int32_t *out)
{
	int32_t i = cache->lru_tail;
	struct qcow2_cache_slot *s = &cache->slots[i];
	if (s->dirty) {
		int ret = write_back(cache, i, true);
		if (ret < 0)
			return ret;
	}
	if (!s->data && !(s->data = malloc(cache->table_size)))
		return -ENOMEM;
	if (s->offset)
		hash_remove(cache, i);
	s->offset = offset;
	hash_insert(cache, i);
	touch(cache, i);
	*out = i;
	return 0;
}

/* Empties slot i and makes it the next victim. */
static void release_slot(struct qcow2_cache *cache, int32_t i)
{
	struct qcow2_cache_slot *s = &cache->slots[i];
	if (s->dirty)
		cache->ndirty--;
	s->dirty = false;
	hash_remove(cache, i);
	s->offset = 0;
	lru_unlink(cache, i);
	lru_push_tail(cache, i);
}

int qcow2_cache_get(struct qcow2_cache *cache, uint64_t offset, uint8_t **table)
{
	int32_t i = find(cache, offset);
	if (i != NONE) {
		cache->hits++;
		touch(cache, i);
		*table = cache->slots[i].data;
		return 0;
	}
	cache->misses++;
	int ret = claim_slot(cache, offset, &i);
	if (!ret)
		ret = io_exact(cache->fd, false, cache->slots[i].data, cache->table_size, offset);
	if (ret < 0) {
		if (i != NONE && cache->slots[i].offset == offset)
			release_slot(cache, i);
		return ret;
	}
	*table = cache->slots[i].data;
	return 0;
}

int qcow2_cache_install(struct qcow2_cache *cache, uint64_t offset, const void *contents)
{
	int32_t i = find(cache, offset);
	if (i != NONE)
		release_slot(cache, i);
	int ret = claim_slot(cache, offset, &i);
	if (ret < 0)
		return ret;
	memcpy(cache->slots[i].data, contents, cache->table_size);
	return 0;
}

int qcow2_cache_write(struct qcow2_cache *cache, uint64_t offset, size_t at, const void *bytes,
		      size_t length)
{
	uint8_t *table;
	int ret = qcow2_cache_get(cache, offset, &table);
	if (ret < 0)
		return ret;
	memcpy(table + at, bytes, length);
	struct qcow2_cache_slot *s = &cache->slots[cache->lru_head];
	if (!s->dirty) {
		s->dirty = true;
		cache->ndirty++;
	}
	return 0;
}

int qcow2_cache_flush(struct qcow2_cache *cache)
{
	if (cache->ndirty == 0)
		return 0;
	int ret = cache->before_writeback ? cache->before_writeback(cache->opaque) : 0;
	for (size_t i = 0; i < cache->nslots && !ret && cache->ndirty; i++)
		if (cache->slots[i].dirty)
			ret = write_back(cache, (int32_t)i, false);
	return ret;
}

bool qcow2_cache_is_dirty(const struct qcow2_cache *cache)
{
	return cache->ndirty != 0;
}

void qcow2_cache_forget(struct qcow2_cache *cache, uint64_t offset)
{
	int32_t i = find(cache, offset);
	if (i != NONE)
		release_slot(cache, i);
}
