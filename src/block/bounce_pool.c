/* Bounce buffers of 4 KiB to 2 MiB, in power-of-two classes, carved from 2 MiB huge-page chunks
 * and kept on a free list per class once given back. Buffers larger than a chunk, and any
 * beyond the chunk budget, come from the heap and go back to it. */
#include "block/bounce_pool.h"

#include "lib/huge_pages.h"
#include "lib/sanitizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define CLASS_MIN_SHIFT 12
#define CHUNK_SHIFT	21
#define NR_CLASSES	(CHUNK_SHIFT - CLASS_MIN_SHIFT + 1)
#define CHUNK_SIZE	(1ul << CHUNK_SHIFT)
/* Chunks per device: 32 MiB, enough for 32 requests of 1 MiB in flight. */
#define MAX_CHUNKS 16

/* Under AddressSanitizer every buffer comes from the heap, where a use after bounce_put is
 * caught; a pooled buffer stays valid memory. */
#define POOLING (!SANITIZER_BUILD)

struct free_buffer {
	struct free_buffer *next;
};

struct bounce_pool {
	struct free_buffer *free[NR_CLASSES];
	uint8_t *chunks[MAX_CHUNKS];
	unsigned nr_chunks;
};

static unsigned class_of(size_t size)
{
	unsigned shift = CLASS_MIN_SHIFT;
	while ((1ul << shift) < size)
		shift++;
	return shift - CLASS_MIN_SHIFT;
}

static struct bounce_pool *pool_of(struct block_device *dev)
{
	if (!dev->bounce_pool)
		dev->bounce_pool = calloc(1, sizeof(struct bounce_pool));
	return dev->bounce_pool;
}

static void push(struct bounce_pool *pool, unsigned class, void *buffer)
{
	struct free_buffer *b = buffer;
	b->next = pool->free[class];
	pool->free[class] = b;
}

/* Cuts a new chunk into buffers of the class; false when the budget is spent or mmap fails. */
static bool add_chunk(struct bounce_pool *pool, unsigned class)
{
	if (pool->nr_chunks == MAX_CHUNKS)
		return false;
	uint8_t *chunk = huge_pages_map(CHUNK_SIZE);
	if (chunk == MAP_FAILED)
		return false;
	pool->chunks[pool->nr_chunks++] = chunk;
	size_t size = 1ul << (class + CLASS_MIN_SHIFT);
	for (size_t at = CHUNK_SIZE; at > 0; at -= size)
		push(pool, class, chunk + at - size);
	return true;
}

static bool from_chunk(const struct bounce_pool *pool, const void *buffer)
{
	for (unsigned i = 0; i < pool->nr_chunks; i++)
		if ((const uint8_t *)buffer >= pool->chunks[i] &&
		    (const uint8_t *)buffer < pool->chunks[i] + CHUNK_SIZE)
			return true;
	return false;
}

static void *from_heap(size_t size)
{
	return aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
}

void *bounce_get(struct block_device *dev, size_t size)
{
	struct bounce_pool *pool = POOLING ? pool_of(dev) : NULL;
	if (!pool || size > CHUNK_SIZE)
		return from_heap(size);
	unsigned class = class_of(size);
	if (!pool->free[class] && !add_chunk(pool, class))
		return from_heap(size);
	struct free_buffer *b = pool->free[class];
	pool->free[class] = b->next;
	return b;
}

void bounce_put(struct block_device *dev, void *buffer, size_t size)
{
	struct bounce_pool *pool = dev->bounce_pool;
	if (!buffer)
		return;
	if (!pool || size > CHUNK_SIZE || !from_chunk(pool, buffer)) {
		free(buffer);
		return;
	}
	push(pool, class_of(size), buffer);
}

void bounce_pool_destroy(struct block_device *dev)
{
	struct bounce_pool *pool = dev->bounce_pool;
	if (!pool)
		return;
	for (unsigned i = 0; i < pool->nr_chunks; i++)
		munmap(pool->chunks[i], CHUNK_SIZE);
	free(pool);
	dev->bounce_pool = NULL;
}
