/* virtio-mem as a guest's driver sees it: blocks plugged up to the requested size and no
 * further, unplugged blocks read as zeros again, STATE answers, and every malformed request
 * (unaligned, outside the region, a range not all in the state it must be) gets ERROR without
 * changing anything. The device's saved state brings the plugged blocks back. */
#include "lib/state_record.h"
#include "virtio/virtio_devices.h"

#include "fake_driver.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAM	 (8ULL << 20)
#define REGION	 (64ULL << 20)
#define BLOCK	 (2ULL << 20)
#define REQ_GPA	 0x200000ULL
#define RESP_GPA 0x201000ULL

enum { PLUG, UNPLUG, UNPLUG_ALL, STATE };
enum { ACK, NACK, BUSY, ERROR };
enum { PLUGGED, UNPLUGGED, MIXED };

struct mem_req {
	uint16_t type, pad[3];
	uint64_t addr;
	uint16_t nb_blocks, pad2[3];
} __attribute__((packed));

struct mem_resp {
	uint16_t type, pad[3];
	uint16_t state;
} __attribute__((packed));

static struct fake_driver drv;
static uint64_t base; /* the region's guest-physical address */
static uint16_t used;

static void setup(void)
{
	memset(&drv, 0, sizeof(drv));
	cr_assert_eq(guest_memory_create_hotplug(&drv.mem, RAM, REGION), 0);
	const struct guest_region *r = guest_memory_hotplug_region(&drv.mem);
	cr_assert_not_null(r);
	base = r->gpa;
	cr_assert_eq(base % GUEST_MEMORY_HOTPLUG_ALIGN, 0, "the region starts at 1 GiB");
	char err[256];
	drv.dev = virtio_mem_create(r, err, sizeof(err));
	cr_assert_not_null(drv.dev, "%s", err);
	struct virtio_transport t = {
	    .notify_queue = fake_notify_queue, .notify_config = fake_notify_config, .opaque = &drv};
	cr_assert_eq(virtio_device_realize(drv.dev, &drv.mem, t), 0);
	fake_driver_start(&drv, 0, 1);
	used = 0;
}

static void teardown(void)
{
	fake_driver_destroy(&drv);
}

TestSuite(virtio_mem, .init = setup, .fini = teardown);

static struct mem_resp ask(uint16_t type, uint64_t addr, uint16_t blocks)
{
	struct mem_req req = {.type = type, .addr = addr, .nb_blocks = blocks};
	struct mem_resp resp = {.type = 0xeeee};
	cr_assert(guest_memory_write(&drv.mem, REQ_GPA, &req, sizeof(req)));
	cr_assert(guest_memory_write(&drv.mem, RESP_GPA, &resp, sizeof(resp)));
	struct fake_buf bufs[] = {{REQ_GPA, sizeof(req), false}, {RESP_GPA, sizeof(resp), true}};
	fake_driver_add(&drv, 0, bufs, 2);
	virtio_device_kick(drv.dev, 0);
	cr_assert(fake_wait_used(&drv, 0, ++used, 2000), "no answer");
	cr_assert_eq(fake_used_elem(&drv, 0, (uint16_t)(used - 1)).len, sizeof(resp));
	cr_assert(guest_memory_read(&drv.mem, RESP_GPA, &resp, sizeof(resp)));
	return resp;
}

static struct virtio_mem_info info(void)
{
	struct virtio_mem_info i;
	virtio_mem_get_info(drv.dev, &i);
	return i;
}

Test(virtio_mem, plugs_up_to_the_requested_size_and_no_further)
{
	cr_assert_eq(info().region_size, REGION);
	cr_assert_eq(ask(PLUG, base, 1).type, NACK, "nothing requested yet");
	cr_assert_eq(virtio_mem_set_requested(drv.dev, 4 * BLOCK), 0);
	cr_assert_eq(drv.config_notifications, 1, "the driver hears of the new size");
	cr_assert_eq(ask(PLUG, base, 3).type, ACK);
	cr_assert_eq(ask(PLUG, base + 3 * BLOCK, 2).type, NACK, "5 blocks > 4 requested");
	cr_assert_eq(ask(PLUG, base + 3 * BLOCK, 1).type, ACK);
	cr_assert_eq(info().plugged, 4 * BLOCK);
	struct mem_resp s = ask(STATE, base, 4);
	cr_assert_eq(s.type, ACK);
	cr_assert_eq(s.state, PLUGGED);
	cr_assert_eq(ask(STATE, base + 2 * BLOCK, 4).state, MIXED);
	cr_assert_eq(ask(STATE, base + 8 * BLOCK, 4).state, UNPLUGGED);
}

Test(virtio_mem, unplugged_blocks_read_as_zeros)
{
	cr_assert_eq(virtio_mem_set_requested(drv.dev, 2 * BLOCK), 0);
	cr_assert_eq(ask(PLUG, base + BLOCK, 2).type, ACK);
	uint8_t *host = guest_memory_ptr(&drv.mem, base + BLOCK, 2 * BLOCK);
	memset(host, 0x5a, 2 * BLOCK);
	cr_assert_eq(ask(UNPLUG, base + BLOCK, 1).type, ACK);
	cr_assert_eq(host[0], 0, "the unplugged block's memory went back to the host");
	cr_assert_eq(host[BLOCK], 0x5a, "the other block kept its data");
	cr_assert_eq(info().plugged, BLOCK);
	cr_assert_eq(ask(UNPLUG_ALL, 0, 0).type, ACK);
	cr_assert_eq(info().plugged, 0);
	cr_assert_eq(host[BLOCK], 0);
}

Test(virtio_mem, malformed_requests_are_errors_that_change_nothing)
{
	cr_assert_eq(virtio_mem_set_requested(drv.dev, REGION), 0);
	cr_assert_eq(ask(PLUG, base, 1).type, ACK);
	const struct mem_req bad[] = {
	    {.type = PLUG, .addr = base + 4096, .nb_blocks = 1},	   /* unaligned */
	    {.type = PLUG, .addr = base - BLOCK, .nb_blocks = 1},	   /* before the region */
	    {.type = PLUG, .addr = base + REGION, .nb_blocks = 1},	   /* after it */
	    {.type = PLUG, .addr = base + REGION - BLOCK, .nb_blocks = 2}, /* across its end */
	    {.type = PLUG, .addr = base + BLOCK, .nb_blocks = 0},	   /* no blocks */
	    {.type = PLUG, .addr = base, .nb_blocks = 2},		   /* block 0 is plugged */
	    {.type = UNPLUG, .addr = base, .nb_blocks = 2},		   /* block 1 is not */
	    {.type = STATE, .addr = UINT64_MAX - BLOCK + 1, .nb_blocks = 0xffff},
	    {.type = 9, .addr = base, .nb_blocks = 1}, /* no such request */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ask(bad[i].type, bad[i].addr, bad[i].nb_blocks).type, ERROR,
			     "request %zu", i);
	cr_assert_eq(info().plugged, BLOCK);
	cr_assert_eq(ask(STATE, base, 1).state, PLUGGED);
	cr_assert_eq(virtio_mem_set_requested(drv.dev, REGION + BLOCK), -EINVAL);
	cr_assert_eq(virtio_mem_set_requested(drv.dev, BLOCK + 4096), -EINVAL);
}

Test(virtio_mem, a_short_request_is_an_error)
{
	uint16_t type = PLUG;
	struct mem_resp resp = {.type = 0xeeee};
	cr_assert(guest_memory_write(&drv.mem, REQ_GPA, &type, sizeof(type)));
	cr_assert(guest_memory_write(&drv.mem, RESP_GPA, &resp, sizeof(resp)));
	struct fake_buf bufs[] = {{REQ_GPA, 2, false}, {RESP_GPA, sizeof(resp), true}};
	fake_driver_add(&drv, 0, bufs, 2);
	virtio_device_kick(drv.dev, 0);
	cr_assert(fake_wait_used(&drv, 0, 1, 2000));
	cr_assert(guest_memory_read(&drv.mem, RESP_GPA, &resp, sizeof(resp)));
	cr_assert_eq(resp.type, ERROR);
}

Test(virtio_mem, saved_state_brings_the_plugged_blocks_back)
{
	cr_assert_eq(virtio_mem_set_requested(drv.dev, 6 * BLOCK), 0);
	cr_assert_eq(ask(PLUG, base + 10 * BLOCK, 3).type, ACK);
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_pause(drv.dev);
	drv.dev->ops->save_state(drv.dev, &w);
	virtio_device_resume(drv.dev);
	cr_assert_not(state_writer_failed(&w));
	cr_assert_eq(ask(UNPLUG_ALL, 0, 0).type, ACK);
	cr_assert_eq(virtio_mem_set_requested(drv.dev, 0), 0);
	struct state_record rec;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(drv.dev->ops->load_state(drv.dev, &rec, false, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(drv.dev->ops->load_state(drv.dev, &rec, true, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(info().plugged, 3 * BLOCK);
	cr_assert_eq(info().requested, 6 * BLOCK);
	cr_assert_eq(ask(STATE, base + 10 * BLOCK, 3).state, PLUGGED);
	state_writer_free(&w);
}
