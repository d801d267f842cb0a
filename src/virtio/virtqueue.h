/* The device side of a split virtqueue (virtio 1.x, spec 2.7): taking descriptor chains the
 * driver made available, returning them as used, and deciding when the driver must be
 * interrupted (VIRTIO_F_RING_EVENT_IDX) or may skip kicking us.
 *
 * Everything in the ring is guest-controlled, so every value is checked before it is used: ring
 * addresses and every buffer lie entirely inside guest RAM, descriptor indices are below the
 * queue size, a chain visits at most `size` descriptors (no loops), indirect tables are
 * well-formed and not nested, device-readable buffers all come before device-writable ones, and
 * the avail index never runs more than `size` ahead. A violation marks the queue broken
 * (virtq_pop returns -EINVAL with a reason in vq->error); the device then asks the driver for a
 * reset (DEVICE_NEEDS_RESET) instead of guessing. Nothing here can crash the VMM.
 *
 * Concurrency: one thread at a time per queue (the device's, under the device lock). The guest
 * writes the rings concurrently; the acquire/release ordering here is what the spec's memory
 * barriers ask of the device. */
#ifndef GUREUM_VIRTIO_VIRTQUEUE_H
#define GUREUM_VIRTIO_VIRTQUEUE_H

#include "machine/guest_memory.h"
#include "virtio/virtio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Most buffers one chain may have (direct plus indirect descriptors). Linux's drivers stay far
 * below: virtio-blk uses seg_max + 2 (we offer seg_max 254), virtio-net at most 19. */
#define VIRTQ_MAX_CHAIN 256

struct virtqueue {
	/* Configured by the driver through the transport while the queue is disabled. */
	uint16_t max_size; /* what the device offers */
	uint16_t size;	   /* what the driver chose: a power of two <= max_size (0: unused) */
	bool enabled;
	uint64_t desc_addr, avail_addr, used_addr;

	/* Set by virtq_start() from the negotiated features and the addresses above. */
	const struct guest_memory *mem;
	bool event_idx, indirect;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;

	/* Device-side progress. */
	uint16_t last_avail_idx; /* next avail ring slot to take */
	uint16_t used_idx;	 /* next used ring slot to fill (published on push) */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool kicks_disabled;

	bool broken;
	char error[160]; /* why the queue broke, for the log */
};

/* One descriptor chain, resolved to host buffers: iov[0 .. nr_out) are device-readable (the
 * driver's request), iov[nr_out .. nr_out + nr_in) device-writable (our reply). */
struct virtq_chain {
	uint16_t head; /* give back to virtq_push */
	unsigned nr_out, nr_in;
	size_t out_bytes, in_bytes;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Resets the device-side state and the driver's configuration; max_size is kept. */
void virtq_reset(struct virtqueue *vq);

/* Called when the driver enables the queue (or at DRIVER_OK): validates size, alignment and
 * that the three rings lie in guest RAM, and maps them. Returns 0, or -EINVAL with vq->error
 * set and vq->broken. */
int virtq_start(struct virtqueue *vq, const struct guest_memory *mem, bool event_idx,
		bool indirect);

/* The checks of virtq_start (size, alignment, rings inside `mem`) without touching vq or guest
 * memory: for a saved queue that is about to be loaded. Returns 0, or -EINVAL with the reason
 * in err. */
int virtq_check(const struct virtqueue *vq, const struct guest_memory *mem, char *err,
		size_t err_len);

/* Someone else (vhost's kernel worker) pushed used chains while it owned the ring: takes its
 * used index from the ring, and forgets which index was last signalled (the next interrupt
 * decision errs towards interrupting). */
void virtq_sync_used_idx(struct virtqueue *vq);

/* Takes the next available chain. Returns 1 with `chain` filled, 0 when none is available, or
 * -EINVAL when the ring or the chain is malformed (the queue is then broken: every later call
 * returns -EINVAL until virtq_reset). */
int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain);

/* Returns chain `head` to the driver with `written` bytes written to its writable buffers, and
 * publishes the new used index. */
void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* After one or more pushes: true when the driver wants an interrupt now (honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool virtq_needs_interrupt(struct virtqueue *vq);

/* While a device drains a queue it tells the driver not to kick (VIRTQ_USED_F_NO_NOTIFY, or
 * avail_event with EVENT_IDX). virtq_enable_kicks() turns kicks back on and returns true when
 * more chains arrived meanwhile: the caller must then keep draining (avoids a lost wake-up). */
void virtq_disable_kicks(struct virtqueue *vq);
bool virtq_enable_kicks(struct virtqueue *vq);

/* True when chains are waiting (no side effects). */
bool virtq_has_work(struct virtqueue *vq);

/* Copies between a flat buffer and the chain's readable (out) or writable (in) part, starting
 * `offset` bytes into that part. Return the bytes copied (short when the part ends). */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *buf,
			 size_t len);

#endif
