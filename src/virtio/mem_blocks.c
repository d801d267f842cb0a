#include "virtio/mem_blocks.h"

#include <stdlib.h>
#include <string.h>

int mem_blocks_init(struct mem_blocks *m, uint64_t addr, uint64_t region_size, uint64_t block_size)
{
	memset(m, 0, sizeof(*m));
	m->addr = addr;
	m->region_size = region_size;
	m->block_size = block_size;
	m->count = region_size / block_size;
	m->bitmap = calloc((m->count + 63) / 64 ? (m->count + 63) / 64 : 1, sizeof(uint64_t));
	return m->bitmap ? 0 : -1;
}

void mem_blocks_destroy(struct mem_blocks *m)
{
	free(m->bitmap);
	m->bitmap = NULL;
}

uint64_t mem_blocks_bitmap_bytes(const struct mem_blocks *m)
{
	return (m->count + 63) / 64 * sizeof(uint64_t);
}

static bool plugged(const struct mem_blocks *m, uint64_t b)
{
	return m->bitmap[b / 64] & (1ULL << (b % 64));
}

void mem_blocks_recount(struct mem_blocks *m)
{
	m->plugged = 0;
	for (uint64_t b = 0; b < m->count; b++)
		m->plugged += plugged(m, b) ? m->block_size : 0;
}

static void set_blocks(struct mem_blocks *m, uint64_t first, uint64_t count, bool on)
{
	for (uint64_t b = first; b < first + count; b++) {
		if (on)
			m->bitmap[b / 64] |= 1ULL << (b % 64);
		else
			m->bitmap[b / 64] &= ~(1ULL << (b % 64));
	}
}

/* MEM_STATE_* of [first, first + count). */
static uint16_t range_state(const struct mem_blocks *m, uint64_t first, uint64_t count)
{
	uint64_t n = 0;
	for (uint64_t b = first; b < first + count; b++)
		n += plugged(m, b);
	return n == count ? MEM_STATE_PLUGGED : n == 0 ? MEM_STATE_UNPLUGGED : MEM_STATE_MIXED;
}

/* The blocks a request names, or false when they are not a range of the region (aligned,
 * at least one block, inside it). */
static bool request_range(const struct mem_blocks *m, const struct virtio_mem_req *req,
			  uint64_t *first, uint64_t *count)
{
	*count = req->nb_blocks;
	if (*count == 0 || req->addr < m->addr || (req->addr - m->addr) % m->block_size)
		return false;
	*first = (req->addr - m->addr) / m->block_size;
	return *first < m->count && *count <= m->count - *first;
}

static uint16_t plug(struct mem_blocks *m, uint64_t first, uint64_t count)
{
	if (range_state(m, first, count) != MEM_STATE_UNPLUGGED)
		return MEM_RESP_ERROR;
	uint64_t bytes = count * m->block_size;
	if (m->plugged + bytes > m->requested)
		return MEM_RESP_NACK;
	set_blocks(m, first, count, true);
	m->plugged += bytes;
	return MEM_RESP_ACK;
}

static uint16_t unplug(struct mem_blocks *m, uint64_t first, uint64_t count)
{
	if (range_state(m, first, count) != MEM_STATE_PLUGGED)
		return MEM_RESP_ERROR;
	if (m->discard)
		m->discard(m->opaque, first, count);
	set_blocks(m, first, count, false);
	m->plugged -= count * m->block_size;
	return MEM_RESP_ACK;
}

static void unplug_all(struct mem_blocks *m)
{
	for (uint64_t b = 0; b < m->count; b++) {
		uint64_t run = 0;
		while (b + run < m->count && plugged(m, b + run))
			run++;
		if (run && m->discard)
			m->discard(m->opaque, b, run);
		b += run;
	}
	memset(m->bitmap, 0, mem_blocks_bitmap_bytes(m));
	m->plugged = 0;
}

struct virtio_mem_resp mem_blocks_answer(struct mem_blocks *m, const struct virtio_mem_req *req)
{
	struct virtio_mem_resp resp = {.type = MEM_RESP_ERROR};
	uint64_t first, count;
	if (req->type == MEM_REQ_UNPLUG_ALL) {
		unplug_all(m);
		resp.type = MEM_RESP_ACK;
	} else if (req->type <= MEM_REQ_STATE && request_range(m, req, &first, &count)) {
		if (req->type == MEM_REQ_PLUG) {
			resp.type = plug(m, first, count);
		} else if (req->type == MEM_REQ_UNPLUG) {
			resp.type = unplug(m, first, count);
		} else {
			resp.type = MEM_RESP_ACK;
			resp.state = range_state(m, first, count);
		}
	}
	return resp;
}
