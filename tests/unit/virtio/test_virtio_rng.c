/* virtio-rng as a driver sees it: writable buffers come back full of random bytes, the used
 * length says how many, and a greedy request is served only in part. */
#include "virtio/virtio_devices.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_SIZE 16
#define DESC_GPA   0x10000
#define AVAIL_GPA  0x11000
#define USED_GPA   0x12000
#define BUFFER_GPA 0x100000
#define RAM_SIZE   (4 << 20)

static struct guest_memory mem;
static struct virtio_device *rng;
static int notifications;

static void count_notification(void *opaque, unsigned index)
{
	(void)opaque;
	(void)index;
	__atomic_add_fetch(&notifications, 1, __ATOMIC_RELEASE);
}

static void setup(void)
{
	cr_assert_eq(guest_memory_create(&mem, RAM_SIZE), 0);
	char err[256];
	rng = virtio_rng_create(err, sizeof(err));
	cr_assert(rng, "%s", err);
	notifications = 0;
	struct virtio_transport t = {.notify_queue = count_notification};
	cr_assert_eq(virtio_device_realize(rng, &mem, t), 0);
	virtio_device_write_status(rng, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_write_features(rng, 1, 1); /* VERSION_1 */
	virtio_device_write_status(rng, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
	struct virtqueue *vq = &rng->queues[0];
	vq->size = QUEUE_SIZE;
	vq->desc_addr = DESC_GPA;
	vq->avail_addr = AVAIL_GPA;
	vq->used_addr = USED_GPA;
	virtio_device_enable_queue(rng, 0);
	virtio_device_write_status(rng, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	cr_assert(rng->started);
}

static void teardown(void)
{
	virtio_device_destroy(rng);
	guest_memory_destroy(&mem);
}

TestSuite(virtio_rng, .init = setup, .fini = teardown);

static uint16_t next_desc;

/* Makes a chain of (addr, len, flags) buffers available. */
static void add_chain(unsigned n, const struct virtq_desc *bufs)
{
	uint16_t head = next_desc;
	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc d = bufs[i];
		uint16_t index = (uint16_t)(next_desc++ % QUEUE_SIZE);
		if (i + 1 < n) {
			d.flags |= VIRTQ_DESC_F_NEXT;
			d.next = (uint16_t)(next_desc % QUEUE_SIZE);
		}
		cr_assert(guest_memory_write(&mem, DESC_GPA + index * sizeof(d), &d, sizeof(d)));
	}
	uint16_t idx;
	cr_assert(guest_memory_read(&mem, AVAIL_GPA + 2, &idx, 2));
	head %= QUEUE_SIZE;
	cr_assert(guest_memory_write(&mem, AVAIL_GPA + 4 + (idx % QUEUE_SIZE) * 2, &head, 2));
	idx++;
	cr_assert(guest_memory_write(&mem, AVAIL_GPA + 2, &idx, 2));
}

static struct virtq_used_elem used_elem(unsigned n)
{
	struct virtq_used_elem e;
	cr_assert(guest_memory_read(&mem, USED_GPA + 4 + n * sizeof(e), &e, sizeof(e)));
	return e;
}

static void kick_and_wait(uint16_t want_used)
{
	virtio_device_kick(rng, 0);
	uint16_t idx = 0;
	for (int i = 0; i < 2000; i++) {
		cr_assert(guest_memory_read(&mem, USED_GPA + 2, &idx, 2));
		if (idx == want_used)
			return;
		usleep(1000);
	}
	cr_assert_fail("used index %u, expected %u", idx, want_used);
}

static bool all_same(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

Test(virtio_rng, is_an_entropy_device_without_features)
{
	cr_assert_eq(rng->device_id, VIRTIO_ID_RNG);
	cr_assert_eq(rng->config_size, 0);
	cr_assert_eq(rng->num_queues, 1);
	cr_assert_eq(rng->host_features & 0xffffff, 0, "no device-type feature bits");
}

Test(virtio_rng, fills_a_writable_buffer_with_random_bytes)
{
	uint8_t *buf = guest_memory_ptr(&mem, BUFFER_GPA, 4096);
	cr_assert(buf);
	struct virtq_desc d = {.addr = BUFFER_GPA, .len = 4096, .flags = VIRTQ_DESC_F_WRITE};
	add_chain(1, &d);
	kick_and_wait(1);
	cr_assert_eq(used_elem(0).len, 4096);
	cr_assert_not(all_same(buf, 4096));
	/* A second request gets different bytes. */
	uint8_t first[64];
	memcpy(first, buf, sizeof(first));
	add_chain(1, &d);
	kick_and_wait(2);
	cr_assert_neq(memcmp(first, buf, sizeof(first)), 0);
	cr_assert_geq(__atomic_load_n(&notifications, __ATOMIC_ACQUIRE), 1);
}

Test(virtio_rng, fills_every_writable_buffer_of_a_chain_and_skips_readable_ones)
{
	uint8_t *out = guest_memory_ptr(&mem, BUFFER_GPA, 16);
	memset(out, 0, 16);
	struct virtq_desc chain[3] = {
	    {.addr = BUFFER_GPA, .len = 16},
	    {.addr = BUFFER_GPA + 0x1000, .len = 100, .flags = VIRTQ_DESC_F_WRITE},
	    {.addr = BUFFER_GPA + 0x2000, .len = 200, .flags = VIRTQ_DESC_F_WRITE},
	};
	add_chain(3, chain);
	kick_and_wait(1);
	cr_assert_eq(used_elem(0).len, 300);
	cr_assert(all_same(out, 16) && out[0] == 0, "the device-readable buffer is untouched");
	cr_assert_not(all_same(guest_memory_ptr(&mem, BUFFER_GPA + 0x2000, 200), 200));
}

Test(virtio_rng, a_greedy_request_is_served_in_part)
{
	struct virtq_desc d = {.addr = BUFFER_GPA, .len = 2 << 20, .flags = VIRTQ_DESC_F_WRITE};
	add_chain(1, &d);
	kick_and_wait(1);
	cr_assert_eq(used_elem(0).len, 64 * 1024);
}

Test(virtio_rng, a_request_without_writable_buffers_gets_nothing)
{
	struct virtq_desc d = {.addr = BUFFER_GPA, .len = 64};
	add_chain(1, &d);
	kick_and_wait(1);
	cr_assert_eq(used_elem(0).len, 0);
}

Test(virtio_rng, a_buffer_outside_ram_breaks_the_device_not_the_vmm)
{
	struct virtq_desc d = {.addr = RAM_SIZE - 8, .len = 64, .flags = VIRTQ_DESC_F_WRITE};
	add_chain(1, &d);
	virtio_device_kick(rng, 0);
	for (int i = 0; i < 2000 && !(rng->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
		usleep(1000);
	cr_assert(rng->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
