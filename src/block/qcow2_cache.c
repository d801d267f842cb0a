#include "block/qcow2_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qcow2_cache_init(struct qcow2_cache *cache, size_t nslots, size_t table_size)
{
	memset(cache, 0, sizeof(*cache));
	cache->slots = calloc(nslots, sizeof(*cache->slots));
	if (!cache->slots)
		return -ENOMEM;
	cache->nslots = nslots;
	cache->table_size = table_size;
	for (size_t i = 0; i < nslots; i++) {
		cache->slots[i].data = malloc(table_size);
		if (!cache->slots[i].data) {
			qcow2_cache_destroy(cache);
			return -ENOMEM;
		}
	}
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *cache)
{
	for (size_t i = 0; cache->slots && i < cache->nslots; i++)
		free(cache->slots[i].data);
	free(cache->slots);
	memset(cache, 0, sizeof(*cache));
}

static struct qcow2_cache_slot *find(struct qcow2_cache *cache, uint64_t offset)
{
	for (size_t i = 0; i < cache->nslots; i++)
		if (cache->slots[i].offset == offset)
			return &cache->slots[i];
	return NULL;
}

static struct qcow2_cache_slot *least_recently_used(struct qcow2_cache *cache)
{
	struct qcow2_cache_slot *victim = &cache->slots[0];
	for (size_t i = 1; i < cache->nslots; i++)
		if (cache->slots[i].last_use < victim->last_use)
			victim = &cache->slots[i];
	return victim;
}

static int read_exact(int fd, void *buf, size_t length, uint64_t offset)
{
	char *p = buf;
	while (length > 0) {
		ssize_t n = pread(fd, p, length, (off_t)offset);
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

int qcow2_cache_get(struct qcow2_cache *cache, int fd, uint64_t offset, uint8_t **table)
{
	struct qcow2_cache_slot *slot = find(cache, offset);
	if (!slot) {
		slot = least_recently_used(cache);
		slot->offset = 0;
		int ret = read_exact(fd, slot->data, cache->table_size, offset);
		if (ret < 0)
			return ret;
		slot->offset = offset;
	}
	slot->last_use = ++cache->clock;
	*table = slot->data;
	return 0;
}

int qcow2_cache_write(struct qcow2_cache *cache, int fd, uint64_t offset, size_t at,
		      const void *bytes, size_t length)
{
	const char *p = bytes;
	uint64_t pos = offset + at;
	size_t left = length;
	while (left > 0) {
		ssize_t n = pwrite(fd, p, left, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			qcow2_cache_forget(cache, offset); /* the file may hold either version */
			return -errno;
		}
		p += n;
		pos += n;
		left -= n;
	}
	struct qcow2_cache_slot *slot = find(cache, offset);
	if (slot)
		memcpy(slot->data + at, bytes, length);
	return 0;
}

void qcow2_cache_forget(struct qcow2_cache *cache, uint64_t offset)
{
	struct qcow2_cache_slot *slot = find(cache, offset);
	if (slot)
		slot->offset = 0;
}
