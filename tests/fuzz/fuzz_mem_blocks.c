/* libFuzzer target: the requests a guest's virtio-mem driver sends (mem_blocks.c), any type,
 * address and block count, between changes of the requested size. Beyond not crashing: the
 * plugged size is always the plugged blocks times the block size, an ACKed plug never takes
 * it past the requested size, an ERROR or NACK changes no block, and a block whose memory
 * the device dropped is no longer plugged. Build and run with tests/fuzz/run_fuzz_mem_blocks.sh.
 *
 * Input: records of 12 bytes: [0] what (0-4: a request of that type, 5+: set requested to
 * [4..7] blocks), [1] unused, [2..3] nb_blocks, [4..11] the block offset (in the region, or far
 * outside it: the address is the region's plus offset * 4 KiB, so unaligned ones come too). */
#include "virtio/mem_blocks.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BLOCK  (2ULL << 20)
#define BLOCKS 96 /* more than one bitmap word */
#define BASE   (4ULL << 30)

static uint8_t dropped[BLOCKS]; /* discard calls per block since it was last plugged */

static void check(int ok)
{
	if (!ok)
		abort();
}

static void on_discard(void *opaque, uint64_t first, uint64_t count)
{
	(void)opaque;
	check(first < BLOCKS && count <= BLOCKS - first && count > 0);
	for (uint64_t b = first; b < first + count; b++)
		dropped[b] = 1;
}

static uint64_t count_plugged(const struct mem_blocks *m)
{
	uint64_t n = 0;
	for (uint64_t b = 0; b < m->count; b++)
		n += (m->bitmap[b / 64] >> (b % 64)) & 1;
	return n;
}

static void one(struct mem_blocks *m, const uint8_t *r)
{
	uint16_t blocks;
	uint64_t offset;
	memcpy(&blocks, r + 2, 2);
	memcpy(&offset, r + 4, 8);
	if (r[0] >= 5) {
		m->requested = (offset % (BLOCKS + 1)) * BLOCK;
		return;
	}
	struct virtio_mem_req req = {
	    .type = r[0], .addr = BASE + offset * 4096, .nb_blocks = blocks};
	uint64_t *before = malloc(mem_blocks_bitmap_bytes(m));
	check(before != NULL);
	memcpy(before, m->bitmap, mem_blocks_bitmap_bytes(m));
	uint64_t plugged_before = m->plugged;
	memset(dropped, 0, sizeof(dropped));
	struct virtio_mem_resp resp = mem_blocks_answer(m, &req);
	check(resp.type <= MEM_RESP_ERROR);
	check(m->plugged == count_plugged(m) * BLOCK);
	if (resp.type != MEM_RESP_ACK)
		check(memcmp(before, m->bitmap, mem_blocks_bitmap_bytes(m)) == 0);
	if (req.type == MEM_REQ_PLUG && resp.type == MEM_RESP_ACK)
		check(m->plugged <= m->requested && m->plugged > plugged_before);
	for (uint64_t b = 0; b < BLOCKS; b++)
		if (dropped[b])
			check(!((m->bitmap[b / 64] >> (b % 64)) & 1));
	free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_blocks m;
	check(mem_blocks_init(&m, BASE, BLOCKS * BLOCK, BLOCK) == 0);
	m.discard = on_discard;
	for (size_t at = 0; at + 12 <= size; at += 12)
		one(&m, data + at);
	mem_blocks_destroy(&m);
	return 0;
}
