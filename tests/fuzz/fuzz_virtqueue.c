/* libFuzzer target: the device side of a split virtqueue on arbitrary guest memory. A guest
 * controls every byte of its rings, so whatever the input, virtq_* must give chains whose
 * buffers all lie inside guest RAM, or break the queue with a reason: never crash, overrun or
 * hang. Build and run with tests/fuzz/run_fuzz_virtqueue.sh SECONDS.
 *
 * Input: a 16-byte header, then the guest memory image (two adjacent 8 KiB RAM regions with
 * separate host buffers, so that a buffer spanning both must be refused).
 *   [0] log2 of the queue size (mod 9: 1 .. 256), or with bit 7 set the size itself (0 .. 127)
 *   [1] bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 ring addresses taken as is (else aligned)
 *   [2..7] desc, avail and used ring addresses (16 bits each)
 *   [8..9] the device's starting last_avail_idx / used_idx (wrap-around)
 *   [10..15] the operation script, repeated */
#include "virtio/virtqueue.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REGION_SIZE 8192u
#define HEADER_SIZE 16u
#define SCRIPT_LEN  6u
#define MAX_STEPS   96u		/* bounds the work per input */
#define COPY_MAX    (64u << 10) /* bytes read/written per chain */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_memory mem;
static struct virtq_chain chain;
static uint8_t copy_buf[COPY_MAX];

static void check(int ok)
{
	if (!ok)
		abort();
}

static uint16_t u16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void memory_from_input(const uint8_t *image, size_t len)
{
	mem.nr_regions = 2;
	mem.ram_size = 2 * REGION_SIZE;
	for (unsigned i = 0; i < 2; i++) {
		struct guest_region *r = &mem.regions[i];
		r->gpa = i * REGION_SIZE;
		r->size = REGION_SIZE;
		/* Exactly the region's size: ASan catches any access past it. */
		r->host = calloc(1, REGION_SIZE);
		check(r->host != NULL);
		size_t start = i * REGION_SIZE;
		if (len > start)
			memcpy(r->host, image + start,
			       len - start < REGION_SIZE ? len - start : REGION_SIZE);
	}
}

/* True when [base, base+len) lies inside one region's host buffer. */
static int inside_ram(const void *base, size_t len)
{
	const uint8_t *p = base;
	for (unsigned i = 0; i < mem.nr_regions; i++) {
		const uint8_t *h = mem.regions[i].host;
		if (p >= h && p < h + REGION_SIZE && len <= (size_t)(h + REGION_SIZE - p))
			return 1;
	}
	return 0;
}

static void check_chain(const struct virtqueue *vq, const struct virtq_chain *c)
{
	check(c->head < vq->size);
	check(c->nr_out + c->nr_in <= VIRTQ_MAX_CHAIN);
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < c->nr_out + c->nr_in; i++) {
		check(c->iov[i].iov_len > 0);
		check(inside_ram(c->iov[i].iov_base, c->iov[i].iov_len));
		if (i < c->nr_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	check(out == c->out_bytes && in == c->in_bytes);
	check(out <= UINT32_MAX && in <= UINT32_MAX);
}

/* Bytes a copy of up to `len` bytes from `offset` into a part of `part_bytes` must give. */
static size_t expected_copy(uint64_t part_bytes, size_t offset, size_t len)
{
	uint64_t left = part_bytes > offset ? part_bytes - offset : 0;
	return left < len ? (size_t)left : len;
}

/* Reads and writes the chain as a device would; the counts must match the parts' sizes. */
static uint32_t use_chain(const struct virtq_chain *c, uint8_t op)
{
	size_t offset = op & 7;
	size_t len = (op & 0x10) ? 5 : COPY_MAX;
	check(virtq_chain_read(c, offset, copy_buf, len) ==
	      expected_copy(c->out_bytes, offset, len));
	size_t written = expected_copy(c->in_bytes, offset, len);
	check(virtq_chain_write(c, offset, copy_buf, len) == written);
	return (uint32_t)written;
}

static void configure(struct virtqueue *vq, const uint8_t *h)
{
	vq->max_size = 256;
	/* Mostly powers of two; with bit 7 set any size, to reach the size check too. */
	vq->size = (h[0] & 0x80) ? h[0] & 0x7f : (uint16_t)(1u << (h[0] % 9));
	uint16_t mask = (h[1] & 4) ? 0xffff : 0xfff0;
	vq->desc_addr = u16_at(h + 2) & mask;
	vq->avail_addr = u16_at(h + 4) & mask;
	vq->used_addr = u16_at(h + 6) & mask;
}

/* One script step. Returns 0 to stop (queue broken, or nothing left to do). */
static int step(struct virtqueue *vq, uint8_t op, uint16_t *held, unsigned *nr_held)
{
	switch (op >> 5) {
	case 0:
	case 1:
	case 2: { /* pop, use, and either push now or hold for later */
		int r = virtq_pop(vq, &chain);
		if (r < 0) {
			check(r == -EINVAL && vq->broken && vq->error[0]);
			check(virtq_pop(vq, &chain) == -EINVAL);
			return 0;
		}
		if (r == 0)
			return *nr_held > 0;
		check(r == 1);
		check_chain(vq, &chain);
		uint32_t written = use_chain(&chain, op);
		if ((op & 8) && *nr_held < 256)
			held[(*nr_held)++] = chain.head;
		else
			virtq_push(vq, chain.head, written);
		return 1;
	}
	case 3: /* complete the held chains */
		while (*nr_held)
			virtq_push(vq, held[--*nr_held], 0);
		virtq_needs_interrupt(vq);
		return 1;
	case 4:
		virtq_needs_interrupt(vq);
		return 1;
	case 5:
		virtq_disable_kicks(vq);
		return 1;
	case 6:
		virtq_enable_kicks(vq);
		return 1;
	default:
		virtq_has_work(vq);
		return 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HEADER_SIZE)
		return 0;
	memory_from_input(data + HEADER_SIZE, size - HEADER_SIZE);
	struct virtqueue vq;
	memset(&vq, 0, sizeof(vq));
	configure(&vq, data);
	vq.last_avail_idx = vq.used_idx = u16_at(data + 8);
	if (virtq_start(&vq, &mem, data[1] & 1, data[1] & 2) == 0) {
		check(!vq.broken);
		uint16_t held[256];
		unsigned nr_held = 0;
		for (unsigned i = 0; i < MAX_STEPS; i++)
			if (!step(&vq, data[10 + i % SCRIPT_LEN], held, &nr_held))
				break;
		check(nr_held <= 256);
		if (vq.broken)
			check(!virtq_enable_kicks(&vq) && !virtq_has_work(&vq));
	} else {
		check(vq.broken && vq.error[0]);
		check(virtq_pop(&vq, &chain) == -EINVAL);
	}
	/* After a reset the queue is usable again (or refused for its configuration again). */
	virtq_reset(&vq);
	check(!vq.broken && vq.max_size == 256);
	for (unsigned i = 0; i < mem.nr_regions; i++)
		free(mem.regions[i].host);
	return 0;
}
