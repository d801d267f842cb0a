/* A minimal virtio driver for device-model unit tests: guest RAM, split rings written the way
 * a guest driver writes them, and a transport that counts interrupts. Header-only; each test
 * includes it once. */
#ifndef GUREUM_TESTS_FAKE_DRIVER_H
#define GUREUM_TESTS_FAKE_DRIVER_H

#include "virtio/virtio_device.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#define FAKE_QUEUE_SIZE 16
#define FAKE_RINGS_GPA	0x10000ULL /* queue q: desc, avail, used at +q*0x4000 +0/+0x1000/+0x2000 */

struct fake_driver {
	struct guest_memory mem;
	struct virtio_device *dev;
	int queue_notifications[VIRTIO_MAX_QUEUES];
	int config_notifications;
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	uint16_t next_desc[VIRTIO_MAX_QUEUES];
};

/* One buffer of a chain: guest-physical address, length, device-writable or not. */
struct fake_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static void fake_notify_queue(void *opaque, unsigned index)
{
	struct fake_driver *fd = opaque;
	__atomic_add_fetch(&fd->queue_notifications[index], 1, __ATOMIC_RELEASE);
}

static void fake_notify_config(void *opaque)
{
	struct fake_driver *fd = opaque;
	__atomic_add_fetch(&fd->config_notifications, 1, __ATOMIC_RELEASE);
}

static inline uint64_t fake_ring(unsigned q, unsigned part)
{
	return FAKE_RINGS_GPA + q * 0x4000ULL + part * 0x1000ULL;
}

static inline void fake_driver_init(struct fake_driver *fd, uint64_t ram, struct virtio_device *d)
{
	memset(fd, 0, sizeof(*fd));
	cr_assert_eq(guest_memory_create(&fd->mem, ram), 0);
	fd->dev = d;
	struct virtio_transport t = {
	    .notify_queue = fake_notify_queue, .notify_config = fake_notify_config, .opaque = fd};
	cr_assert_eq(virtio_device_realize(d, &fd->mem, t), 0);
}

static inline void fake_driver_destroy(struct fake_driver *fd)
{
	virtio_device_destroy(fd->dev);
	guest_memory_destroy(&fd->mem);
}

/* Feature negotiation and the queues whose bit is set in `queue_mask` set up: a driver about
 * to set DRIVER_OK (buffers it makes available now are there when the device starts). */
static inline void fake_driver_setup_queues(struct fake_driver *fd, uint64_t features,
					    unsigned queue_mask)
{
	struct virtio_device *d = fd->dev;
	features |= VIRTIO_FEATURE(VIRTIO_F_VERSION_1);
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	virtio_device_write_status(d, status);
	virtio_device_write_features(d, 0, (uint32_t)features);
	virtio_device_write_features(d, 1, (uint32_t)(features >> 32));
	status |= VIRTIO_STATUS_FEATURES_OK;
	virtio_device_write_status(d, status);
	cr_assert(d->status & VIRTIO_STATUS_FEATURES_OK, "the device accepted the features");
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (!(queue_mask & (1u << q)))
			continue;
		d->queues[q].size = FAKE_QUEUE_SIZE;
		d->queues[q].desc_addr = fake_ring(q, 0);
		d->queues[q].avail_addr = fake_ring(q, 1);
		d->queues[q].used_addr = fake_ring(q, 2);
		virtio_device_enable_queue(d, q);
	}
}

/* DRIVER_OK after fake_driver_setup_queues. */
static inline void fake_driver_ok(struct fake_driver *fd)
{
	struct virtio_device *d = fd->dev;
	virtio_device_write_status(d, d->status | VIRTIO_STATUS_DRIVER_OK);
	cr_assert(d->started, "the device started");
}

/* Feature negotiation, the queues whose bit is set in `queue_mask` set up, DRIVER_OK. */
static inline void fake_driver_start_queues(struct fake_driver *fd, uint64_t features,
					    unsigned queue_mask)
{
	fake_driver_setup_queues(fd, features, queue_mask);
	fake_driver_ok(fd);
}

/* Feature negotiation, queues 0 .. nr_queues-1 set up, DRIVER_OK. */
static inline void fake_driver_start(struct fake_driver *fd, uint64_t features, unsigned nr_queues)
{
	fake_driver_start_queues(fd, features, (1u << nr_queues) - 1);
}

/* Makes a chain of `n` buffers available on queue q (no kick). Returns its head. */
static inline uint16_t fake_driver_add(struct fake_driver *fd, unsigned q,
				       const struct fake_buf *bufs, unsigned n)
{
	uint16_t head = fd->next_desc[q];
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % FAKE_QUEUE_SIZE);
		struct virtq_desc desc = {
		    .addr = bufs[i].gpa,
		    .len = bufs[i].len,
		    .flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
		    .next = (uint16_t)((idx + 1) % FAKE_QUEUE_SIZE),
		};
		cr_assert(guest_memory_write(&fd->mem, fake_ring(q, 0) + idx * sizeof(desc), &desc,
					     sizeof(desc)));
	}
	fd->next_desc[q] = (uint16_t)((head + n) % FAKE_QUEUE_SIZE);
	uint16_t slot = fd->avail_idx[q] % FAKE_QUEUE_SIZE;
	cr_assert(guest_memory_write(&fd->mem, fake_ring(q, 1) + 4 + slot * 2, &head, 2));
	fd->avail_idx[q]++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	cr_assert(guest_memory_write(&fd->mem, fake_ring(q, 1) + 2, &fd->avail_idx[q], 2));
	return head;
}

static inline uint16_t fake_used_idx(struct fake_driver *fd, unsigned q)
{
	uint16_t idx;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	cr_assert(guest_memory_read(&fd->mem, fake_ring(q, 2) + 2, &idx, 2));
	return idx;
}

static inline struct virtq_used_elem fake_used_elem(struct fake_driver *fd, unsigned q, uint16_t i)
{
	struct virtq_used_elem e;
	cr_assert(guest_memory_read(&fd->mem, fake_ring(q, 2) + 4 + (i % FAKE_QUEUE_SIZE) * 8, &e,
				    sizeof(e)));
	return e;
}

/* Waits up to `ms` for queue q's used index to reach `want`. */
static inline bool fake_wait_used(struct fake_driver *fd, unsigned q, uint16_t want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if ((uint16_t)(fake_used_idx(fd, q) - want) < 0x8000)
			return true;
		usleep(1000);
	}
	return false;
}

/* Waits up to `ms` for a condition re-evaluated each millisecond. */
#define fake_wait_until(cond, ms)                                                                  \
	({                                                                                         \
		bool ok_ = false;                                                                  \
		for (int i_ = 0; i_ < (ms) && !(ok_ = (cond)); i_++)                               \
			usleep(1000);                                                              \
		ok_;                                                                               \
	})

#endif
