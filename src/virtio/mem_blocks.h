/* virtio-mem's block accounting (virtio 1.2, 5.15.6): which blocks of the device memory region
 * are plugged, and the answer to each request the driver sends, checked against the region
 * and the requested size. No I/O: virtio_mem.c moves requests and answers through the queue
 * and drops the memory of blocks that leave; this file is fuzzed on its own. */
#ifndef GUREUM_VIRTIO_MEM_BLOCKS_H
#define GUREUM_VIRTIO_MEM_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

/* Request and response types, states (spec 5.15.6). */
enum { MEM_REQ_PLUG, MEM_REQ_UNPLUG, MEM_REQ_UNPLUG_ALL, MEM_REQ_STATE };
enum { MEM_RESP_ACK, MEM_RESP_NACK, MEM_RESP_BUSY, MEM_RESP_ERROR };
enum { MEM_STATE_PLUGGED, MEM_STATE_UNPLUGGED, MEM_STATE_MIXED };

/* A request as it sits in guest memory (little-endian, the x86 host's own order). */
struct virtio_mem_req {
	uint16_t type;
	uint16_t padding[3];
	uint64_t addr;
	uint16_t nb_blocks;
	uint16_t padding2[3];
} __attribute__((packed));

struct virtio_mem_resp {
	uint16_t type;
	uint16_t padding[3];
	uint16_t state;
} __attribute__((packed));

struct mem_blocks {
	uint64_t addr, block_size, region_size; /* the region */
	uint64_t requested, plugged;		/* bytes */
	uint64_t count;				/* region_size / block_size */
	uint64_t *bitmap;			/* a bit per block: plugged */
	/* Called for each run of blocks that leaves (UNPLUG, UNPLUG_ALL): its memory goes. */
	void (*discard)(void *opaque, uint64_t first, uint64_t count);
	void *opaque;
};

/* A region of `region_size` bytes at `addr` in blocks of `block_size` (a power of two that
 * divides both), nothing plugged or requested. 0, or -1 without memory. */
int mem_blocks_init(struct mem_blocks *m, uint64_t addr, uint64_t region_size, uint64_t block_size);
void mem_blocks_destroy(struct mem_blocks *m);
/* The answer to `req`, the blocks changed as it says. */
struct virtio_mem_resp mem_blocks_answer(struct mem_blocks *m, const struct virtio_mem_req *req);
/* The bitmap's bytes (for saved state), and plugged recounted after it is replaced. */
uint64_t mem_blocks_bitmap_bytes(const struct mem_blocks *m);
void mem_blocks_recount(struct mem_blocks *m);

#endif
