/* The split virtqueue, device side. Each test plays the DRIVER on rings built in a real guest
 * memory (no KVM needed): it writes descriptors, publishes chains in the available ring, and
 * checks what virtq_pop/virtq_push/... make of them and what they write back. */
#include "virtio/virtqueue.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Guest-physical layout used by every test (room for queues up to 1024 entries). */
#define DESC_GPA    0x10000ULL
#define AVAIL_GPA   0x20000ULL
#define USED_GPA    0x30000ULL
#define TABLES_GPA  0x80000ULL	/* indirect tables, 4 KiB each */
#define BUFFERS_GPA 0x100000ULL /* data buffers */
#define DEFAULT_RAM (16ULL << 20)
#define MAX_SIZE    1024

struct driver {
	struct guest_memory mem;
	bool own_regions; /* built by hand (two regions), not by guest_memory_create */
	struct virtqueue vq;
	uint16_t size;
	uint16_t avail_idx;  /* the driver's copy */
	uint16_t next_desc;  /* next free descriptor (tests never reuse one) */
	uint64_t next_buf;   /* next free data gpa */
	uint64_t next_table; /* next free indirect table gpa */
};

static struct driver *drv;
static struct virtq_chain *chain; /* 4 KiB: keep it off the stack */

static void *host(uint64_t gpa, uint64_t len)
{
	void *p = guest_memory_ptr(&drv->mem, gpa, len);
	cr_assert(p, "test bug: gpa 0x%llx+0x%llx not in RAM", (unsigned long long)gpa,
		  (unsigned long long)len);
	return p;
}

static void put16(uint64_t gpa, uint16_t v)
{
	memcpy(host(gpa, 2), &v, 2);
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, host(gpa, 2), 2);
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, host(gpa, 4), 4);
	return v;
}

/* Queue fields as the driver sees them. */
static uint16_t used_idx(void)
{
	return get16(USED_GPA + 2);
}

static uint16_t used_flags(void)
{
	return get16(USED_GPA);
}

static struct virtq_used_elem used_elem(uint16_t i)
{
	uint64_t at = USED_GPA + 4 + 8ULL * (i % drv->size);
	return (struct virtq_used_elem){.id = get32(at), .len = get32(at + 4)};
}

static uint16_t avail_event(void)
{
	return get16(USED_GPA + 4 + 8ULL * drv->size);
}

static void set_used_event(uint16_t v)
{
	put16(AVAIL_GPA + 4 + 2ULL * drv->size, v);
}

static void set_avail_flags(uint16_t v)
{
	put16(AVAIL_GPA, v);
}

static void set_avail_idx(uint16_t v)
{
	drv->avail_idx = v;
	put16(AVAIL_GPA + 2, v);
}

static void configure(uint16_t size)
{
	drv->size = size;
	drv->vq.max_size = MAX_SIZE;
	drv->vq.size = size;
	drv->vq.desc_addr = DESC_GPA;
	drv->vq.avail_addr = AVAIL_GPA;
	drv->vq.used_addr = USED_GPA;
}

static void start(uint16_t size, bool event_idx, bool indirect)
{
	configure(size);
	cr_assert_eq(virtq_start(&drv->vq, &drv->mem, event_idx, indirect), 0, "%s", drv->vq.error);
}

static void setup_ram(uint64_t ram)
{
	drv = calloc(1, sizeof(*drv));
	chain = calloc(1, sizeof(*chain));
	cr_assert(drv && chain);
	cr_assert_eq(guest_memory_create(&drv->mem, ram), 0);
	drv->next_buf = BUFFERS_GPA;
	drv->next_table = TABLES_GPA;
}

static void setup(void)
{
	setup_ram(DEFAULT_RAM);
}

static void teardown(void)
{
	if (drv->own_regions) {
		for (unsigned i = 0; i < drv->mem.nr_regions; i++)
			free(drv->mem.regions[i].host);
	} else {
		guest_memory_destroy(&drv->mem);
	}
	free(drv);
	free(chain);
}

/* Writes descriptor `i` of the table at `table` (the queue's own or an indirect one). */
static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
	memcpy(host(table + 16ULL * i, 16), &d, 16);
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc(DESC_GPA, i, addr, len, flags, next);
}

/* A fresh data buffer of `len` bytes filled with `fill`. */
static uint64_t buffer(uint32_t len, uint8_t fill)
{
	uint64_t gpa = drv->next_buf;
	drv->next_buf += (len + 63) & ~63ULL;
	memset(host(gpa, len ? len : 1), fill, len);
	return gpa;
}

/* Makes chain `head` available, as the driver does: ring entry first, then the index. */
static void publish(uint16_t head)
{
	put16(AVAIL_GPA + 4 + 2ULL * (drv->avail_idx % drv->size), head);
	set_avail_idx(drv->avail_idx + 1);
}

/* A chain of direct descriptors: n_out readable buffers then n_in writable ones. Returns the
 * head (not yet published). */
static uint16_t make_chain(unsigned n_out, const uint32_t *out_len, unsigned n_in,
			   const uint32_t *in_len)
{
	uint16_t head = drv->next_desc;
	unsigned n = n_out + n_in;
	for (unsigned k = 0; k < n; k++) {
		bool writable = k >= n_out;
		uint32_t len = writable ? in_len[k - n_out] : out_len[k];
		uint16_t flags =
		    (writable ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		uint16_t i = drv->next_desc++;
		desc(i, buffer(len, (uint8_t)(0x10 + k)), len, flags, i + 1);
	}
	return head;
}

/* One readable buffer of `len` bytes, published. */
static uint16_t add_simple(uint32_t len)
{
	uint16_t head = make_chain(1, &len, 0, NULL);
	publish(head);
	return head;
}

static void assert_broken(const char *reason)
{
	cr_assert_eq(virtq_pop(&drv->vq, chain), -EINVAL);
	cr_assert(drv->vq.broken);
	cr_assert(strstr(drv->vq.error, reason), "error \"%s\" should mention \"%s\"",
		  drv->vq.error, reason);
	/* Broken stays broken: later calls fail too, even with a valid chain waiting. */
	cr_assert_eq(virtq_pop(&drv->vq, chain), -EINVAL);
	cr_assert_not(virtq_has_work(&drv->vq));
}

TestSuite(virtqueue, .init = setup, .fini = teardown);

Test(virtqueue, simple_chain_is_popped_and_pushed)
{
	start(8, false, false);
	uint64_t gpa = buffer(5, 0);
	memcpy(host(gpa, 5), "hello", 5);
	desc(3, gpa, 5, 0, 0);
	publish(3);

	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_eq(chain->head, 3);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 0);
	cr_assert_eq(chain->out_bytes, 5);
	cr_assert_eq(chain->in_bytes, 0);
	cr_assert_eq(chain->iov[0].iov_base, host(gpa, 5));
	char text[8] = {0};
	cr_assert_eq(virtq_chain_read(chain, 0, text, sizeof(text)), 5);
	cr_assert_str_eq(text, "hello");
	cr_assert_eq(virtq_pop(&drv->vq, chain), 0, "one chain was made available");

	cr_assert_eq(used_idx(), 0, "nothing is used before the push");
	virtq_push(&drv->vq, 3, 0);
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(used_elem(0).id, 3);
	cr_assert_eq(used_elem(0).len, 0);
}

Test(virtqueue, readable_and_writable_parts_are_split)
{
	start(16, false, false);
	uint32_t out[] = {3, 4}, in[] = {5, 6};
	uint16_t head = make_chain(2, out, 2, in);
	publish(head);

	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_eq(chain->nr_out, 2);
	cr_assert_eq(chain->nr_in, 2);
	cr_assert_eq(chain->out_bytes, 7);
	cr_assert_eq(chain->in_bytes, 11);
	/* Reading across the two readable buffers, from an offset inside the first. */
	uint8_t got[7];
	cr_assert_eq(virtq_chain_read(chain, 2, got, sizeof(got)), 5, "short at the end");
	uint8_t want[] = {0x10, 0x11, 0x11, 0x11, 0x11};
	cr_assert_arr_eq(got, want, 5);
	cr_assert_eq(virtq_chain_read(chain, 7, got, 1), 0);

	/* Writing lands in the writable buffers, in order, and never past them. */
	uint8_t reply[12];
	for (unsigned i = 0; i < sizeof(reply); i++)
		reply[i] = (uint8_t)(0xa0 + i);
	cr_assert_eq(virtq_chain_write(chain, 1, reply, sizeof(reply)), 10);
	uint64_t in0 = BUFFERS_GPA + 64 * 2, in1 = BUFFERS_GPA + 64 * 3;
	uint8_t *b0 = host(in0, 5), *b1 = host(in1, 7);
	cr_assert_eq(b0[0], 0x12, "offset 1 skips the first byte");
	cr_assert_eq(b0[1], 0xa0);
	cr_assert_eq(b0[4], 0xa3);
	cr_assert_eq(b1[0], 0xa4);
	cr_assert_eq(b1[5], 0xa9);
	cr_assert_eq(b1[6], 0, "the byte after the chain is not written");

	virtq_push(&drv->vq, chain->head, 10);
	cr_assert_eq(used_elem(0).id, head);
	cr_assert_eq(used_elem(0).len, 10);
}

Test(virtqueue, zero_length_buffers_are_skipped)
{
	start(8, false, false);
	desc(0, 0xdeadbeef000ULL, 0, VIRTQ_DESC_F_NEXT, 1); /* not RAM, but empty */
	desc(1, buffer(4, 1), 4, VIRTQ_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
	cr_assert_eq(chain->nr_out, 0);
	cr_assert_eq(chain->nr_in, 1);
	cr_assert_eq(chain->in_bytes, 4);
}

Test(virtqueue, indirect_table_is_followed)
{
	start(8, false, true);
	uint64_t table = drv->next_table;
	put_desc(table, 0, buffer(8, 1), 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(table, 2, buffer(16, 2), 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(table, 1, buffer(32, 3), 32, VIRTQ_DESC_F_WRITE, 0);
	/* The WRITE flag of the descriptor pointing to the table is ignored (2.7.5.3.2). */
	desc(5, table, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	publish(5);

	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
	cr_assert_eq(chain->head, 5);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 2);
	cr_assert_eq(chain->out_bytes, 8);
	cr_assert_eq(chain->in_bytes, 48);
	cr_assert_eq(chain->iov[1].iov_len, 16);
	cr_assert_eq(((uint8_t *)chain->iov[2].iov_base)[0], 3);
}

Test(virtqueue, direct_descriptors_may_precede_an_indirect_one)
{
	start(8, false, true);
	uint64_t table = drv->next_table;
	put_desc(table, 0, buffer(100, 2), 100, VIRTQ_DESC_F_WRITE, 0);
	desc(0, buffer(10, 1), 10, VIRTQ_DESC_F_NEXT, 1);
	desc(1, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 1);
	cr_assert_eq(chain->out_bytes, 10);
	cr_assert_eq(chain->in_bytes, 100);
}

Test(virtqueue, empty_queue_has_no_work)
{
	start(4, false, false);
	cr_assert_not(virtq_has_work(&drv->vq));
	cr_assert_eq(virtq_pop(&drv->vq, chain), 0);
	add_simple(1);
	cr_assert(virtq_has_work(&drv->vq));
	cr_assert(virtq_has_work(&drv->vq), "has_work takes nothing");
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_not(virtq_has_work(&drv->vq));
	cr_assert_eq(virtq_pop(&drv->vq, chain), 0);
	cr_assert_not(drv->vq.broken);
}

Test(virtqueue, queue_not_started_gives_nothing)
{
	configure(4);
	add_simple(1);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 0);
	cr_assert_not(virtq_has_work(&drv->vq));
	virtq_push(&drv->vq, 0, 0); /* ignored, no crash */
	cr_assert_not(virtq_needs_interrupt(&drv->vq));
	cr_assert_not(drv->vq.broken);
}

Test(virtqueue, full_queue_can_be_popped_entirely)
{
	start(4, false, false);
	for (int i = 0; i < 4; i++)
		add_simple(1);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
		cr_assert_eq(chain->head, i);
	}
	cr_assert_eq(virtq_pop(&drv->vq, chain), 0);
}

Test(virtqueue, indices_wrap_around_65535)
{
	start(4, false, false);
	drv->vq.last_avail_idx = drv->vq.used_idx = 65534;
	set_avail_idx(65534);
	put16(USED_GPA + 2, 65534);
	for (unsigned round = 0; round < 3; round++) {
		uint16_t heads[3];
		drv->next_desc = 0;
		for (int i = 0; i < 3; i++)
			heads[i] = add_simple(1);
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
			cr_assert_eq(chain->head, heads[i]);
			uint16_t slot = drv->vq.used_idx;
			virtq_push(&drv->vq, chain->head, 100 + i);
			cr_assert_eq(used_elem(slot).id, heads[i]);
			cr_assert_eq(used_elem(slot).len, 100 + i);
		}
		cr_assert_eq(virtq_pop(&drv->vq, chain), 0);
		cr_assert_eq(used_idx(), (uint16_t)(65534 + 3 * (round + 1)));
	}
	cr_assert_eq(drv->vq.last_avail_idx, 7);
}

Test(virtqueue, no_interrupt_flag_is_honoured_without_event_idx)
{
	start(8, false, false);
	add_simple(1);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	virtq_push(&drv->vq, chain->head, 0);
	cr_assert(virtq_needs_interrupt(&drv->vq));
	set_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT);
	cr_assert_not(virtq_needs_interrupt(&drv->vq));
	set_avail_flags(0);
	cr_assert(virtq_needs_interrupt(&drv->vq));
}

/* Pushes one chain and asks whether to interrupt. */
static bool push_one(void)
{
	add_simple(1);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
	virtq_push(&drv->vq, chain->head, 0);
	return virtq_needs_interrupt(&drv->vq);
}

Test(virtqueue, event_idx_interrupts_exactly_when_used_event_is_crossed)
{
	start(64, true, false);
	set_avail_flags(VIRTQ_AVAIL_F_NO_INTERRUPT); /* ignored with EVENT_IDX */
	set_used_event(0);
	cr_assert(push_one(), "the first push after start always interrupts");
	/* used_idx is now 1; the driver wants an interrupt when entry 4 is used (idx 4 -> 5). */
	set_used_event(4);
	for (uint16_t idx = 2; idx <= 8; idx++) {
		bool irq = push_one();
		cr_assert_eq(irq, idx == 5, "used idx %u: interrupt %d", idx, irq);
	}
	/* Several pushes at once: an interrupt when the batch covers used_event. */
	set_used_event(9);
	for (int i = 0; i < 3; i++) {
		add_simple(1);
		cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
		virtq_push(&drv->vq, chain->head, 0);
	}
	cr_assert(virtq_needs_interrupt(&drv->vq), "batch 8 -> 11 covers entry 9");
	cr_assert_not(virtq_needs_interrupt(&drv->vq), "nothing new since");
	set_used_event(20);
	cr_assert_not(push_one());
}

Test(virtqueue, event_idx_comparison_wraps_around)
{
	start(8, true, false);
	drv->vq.last_avail_idx = drv->vq.used_idx = 65533;
	set_avail_idx(65533);
	cr_assert(push_one()); /* used idx 65534, first: always */
	set_used_event(0);     /* interrupt when entry 0 (after 65535) is used */
	drv->next_desc = 0;
	cr_assert_not(push_one()); /* 65535 */
	cr_assert_not(push_one()); /* 0 */
	cr_assert(push_one());	   /* 1: entry 0 used */
}

Test(virtqueue, many_pushes_without_interrupt_force_one)
{
	start(8, true, false);
	set_used_event(0);
	cr_assert(push_one());
	/* used_event stays behind while the device pushes half the index space silently: the
	 * comparison would become ambiguous, so the next check interrupts. */
	set_used_event(0);
	for (unsigned i = 0; i < 32768; i++)
		virtq_push(&drv->vq, 0, 0);
	cr_assert(virtq_needs_interrupt(&drv->vq));
}

Test(virtqueue, kicks_without_event_idx_use_the_no_notify_flag)
{
	start(8, false, false);
	cr_assert_eq(used_flags(), 0);
	virtq_disable_kicks(&drv->vq);
	cr_assert_eq(used_flags(), VIRTQ_USED_F_NO_NOTIFY);
	cr_assert_not(virtq_enable_kicks(&drv->vq), "nothing arrived meanwhile");
	cr_assert_eq(used_flags(), 0);

	virtq_disable_kicks(&drv->vq);
	add_simple(1); /* the driver adds work while kicks are off: no kick comes */
	cr_assert(virtq_enable_kicks(&drv->vq), "the caller must drain again");
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_not(virtq_enable_kicks(&drv->vq));
}

Test(virtqueue, kicks_with_event_idx_use_avail_event)
{
	start(8, true, false);
	cr_assert_eq(avail_event(), 0);
	add_simple(1);
	add_simple(1);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_eq(avail_event(), 1, "kick only for chains after the one taken");
	virtq_disable_kicks(&drv->vq);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_eq(avail_event(), 1, "disabled: avail_event no longer follows");
	cr_assert_eq(used_flags(), 0, "the flag is not used with EVENT_IDX");
	cr_assert_not(virtq_enable_kicks(&drv->vq));
	cr_assert_eq(avail_event(), 2);

	virtq_disable_kicks(&drv->vq);
	add_simple(1);
	cr_assert(virtq_enable_kicks(&drv->vq));
	cr_assert_eq(avail_event(), 2);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1);
	cr_assert_eq(avail_event(), 3);
}

/* ---- Validation: every rule breaks the queue with a reason. ---- */

Test(virtqueue, loop_in_chain_is_refused)
{
	start(8, false, false);
	desc(0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 1);
	desc(1, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 2);
	desc(2, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 0);
	publish(0);
	assert_broken("loops");
}

Test(virtqueue, next_index_out_of_range_is_refused)
{
	start(8, false, false);
	desc(0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 8);
	publish(0);
	assert_broken("next 8 is beyond the queue size 8");
}

Test(virtqueue, head_index_out_of_range_is_refused)
{
	start(8, false, false);
	publish(9);
	assert_broken("names chain 9, beyond the queue size 8");
}

Test(virtqueue, buffer_outside_ram_is_refused)
{
	start(8, false, false);
	desc(0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 1);
	desc(1, DEFAULT_RAM - 8, 16, 0, 0);
	publish(0);
	assert_broken("descriptor 1 of chain 0 points outside guest RAM (0xfffff8+0x10)");
}

Test(virtqueue, buffer_address_overflow_is_refused)
{
	start(8, false, false);
	desc(0, UINT64_MAX - 3, 8, 0, 0);
	publish(0);
	assert_broken("outside guest RAM");
}

/* Two adjacent RAM regions with separate host mappings: a buffer spanning both is not one
 * host range and must be refused even though every byte is RAM. */
Test(virtqueue, buffer_crossing_a_region_boundary_is_refused)
{
	teardown(); /* replace the suite's guest memory */
	drv = calloc(1, sizeof(*drv));
	chain = calloc(1, sizeof(*chain));
	cr_assert(drv && chain);
	drv->own_regions = true;
	drv->mem.nr_regions = 2;
	for (unsigned i = 0; i < 2; i++) {
		drv->mem.regions[i] = (struct guest_region){
		    .gpa = i * (8ULL << 20), .size = 8ULL << 20, .host = calloc(1, 8 << 20)};
		cr_assert(drv->mem.regions[i].host);
	}
	drv->mem.ram_size = 16ULL << 20;
	drv->next_buf = BUFFERS_GPA;
	start(8, false, false);
	desc(0, (8ULL << 20) - 4, 4, VIRTQ_DESC_F_NEXT, 1); /* ends at the boundary: fine */
	desc(1, 8ULL << 20, 4, VIRTQ_DESC_F_NEXT, 2);	    /* starts at it: fine */
	desc(2, (8ULL << 20) - 4, 8, 0, 0);		    /* spans it */
	publish(0);
	assert_broken("descriptor 2 of chain 0 points outside guest RAM (0x7ffffc+0x8)");
}

Test(virtqueue, nested_indirect_table_is_refused)
{
	start(8, false, true);
	uint64_t inner = TABLES_GPA + 0x1000, outer = TABLES_GPA;
	put_desc(inner, 0, buffer(1, 0), 1, 0, 0);
	put_desc(outer, 0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(outer, 1, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(0, outer, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("nested indirect");
}

Test(virtqueue, indirect_without_the_feature_is_refused)
{
	start(8, false, false);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, 0, 0);
	desc(0, TABLES_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("VIRTIO_F_RING_INDIRECT_DESC was not negotiated");
}

Test(virtqueue, indirect_table_length_not_a_multiple_of_16_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, 0, 0);
	desc(0, TABLES_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("indirect table length 24 is not a non-zero multiple of 16");
}

Test(virtqueue, empty_indirect_table_is_refused)
{
	start(8, false, true);
	desc(0, TABLES_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("indirect table length 0");
}

Test(virtqueue, indirect_with_next_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, 0, 0);
	desc(0, TABLES_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(1, buffer(1, 0), 1, 0, 0);
	publish(0);
	assert_broken("indirect and also has NEXT");
}

Test(virtqueue, indirect_table_outside_ram_is_refused)
{
	start(8, false, true);
	desc(0, DEFAULT_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("indirect table outside guest RAM (0xfffff0+0x20)");
}

Test(virtqueue, loop_in_indirect_table_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(TABLES_GPA, 1, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 0);
	desc(0, TABLES_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("loops in its indirect table");
}

Test(virtqueue, indirect_next_out_of_range_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, VIRTQ_DESC_F_NEXT, 2);
	desc(0, TABLES_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("next 2 is beyond the indirect table's 2 entries");
}

Test(virtqueue, buffer_in_indirect_table_outside_ram_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, DEFAULT_RAM, 1, 0, 0);
	desc(0, TABLES_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("descriptor 0 of the indirect table at 0x80000 of chain 0 points outside");
}

Test(virtqueue, readable_after_writable_is_refused)
{
	start(8, false, false);
	desc(0, buffer(1, 0), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(1, buffer(1, 0), 1, 0, 0);
	publish(0);
	assert_broken("descriptor 1 of chain 0 is device-readable but follows a device-writable");
}

Test(virtqueue, readable_after_writable_across_indirect_is_refused)
{
	start(8, false, true);
	put_desc(TABLES_GPA, 0, buffer(1, 0), 1, 0, 0);
	desc(0, buffer(1, 0), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(1, TABLES_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("device-readable but follows a device-writable");
}

Test(virtqueue, chain_of_max_length_is_accepted_and_one_more_is_refused)
{
	start(1024, false, false);
	uint32_t lens[VIRTQ_MAX_CHAIN + 1];
	for (unsigned i = 0; i <= VIRTQ_MAX_CHAIN; i++)
		lens[i] = 1;
	publish(make_chain(VIRTQ_MAX_CHAIN, lens, 0, NULL));
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
	cr_assert_eq(chain->nr_out, VIRTQ_MAX_CHAIN);
	publish(make_chain(VIRTQ_MAX_CHAIN / 2, lens, VIRTQ_MAX_CHAIN / 2 + 1, lens));
	assert_broken("more than 256 buffers");
}

Test(virtqueue, too_long_indirect_table_is_refused)
{
	start(8, false, true);
	unsigned n = VIRTQ_MAX_CHAIN + 1;
	uint64_t table = TABLES_GPA;
	for (unsigned i = 0; i < n; i++)
		put_desc(table, i, buffer(1, 0), 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	desc(0, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
	assert_broken("more than 256 buffers");
}

Test(virtqueue, avail_index_too_far_ahead_is_refused)
{
	start(8, false, false);
	add_simple(1);
	set_avail_idx(9);
	cr_assert_not(drv->vq.broken);
	assert_broken("available index 9 is 9 ahead of the device's 0 (queue size 8)");
}

Test(virtqueue, reset_clears_broken_and_the_queue_works_again)
{
	start(8, false, false);
	publish(9);
	assert_broken("beyond the queue size");
	drv->vq.max_size = 256;
	virtq_reset(&drv->vq);
	cr_assert_not(drv->vq.broken);
	cr_assert_eq(drv->vq.max_size, 256, "max_size is kept");
	cr_assert_eq(drv->vq.size, 0, "the driver's configuration is not");
	cr_assert_eq(drv->vq.last_avail_idx, 0);
	/* The driver sets the queue up again from scratch. */
	memset(host(AVAIL_GPA, 0x1000), 0, 0x1000);
	drv->avail_idx = 0;
	drv->next_desc = 0;
	start(8, false, false);
	add_simple(3);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "%s", drv->vq.error);
}

/* virtq_start's checks: each gives -EINVAL, broken and a reason. */
static void assert_start_fails(bool event_idx, const char *reason)
{
	cr_assert_eq(virtq_start(&drv->vq, &drv->mem, event_idx, false), -EINVAL);
	cr_assert(drv->vq.broken);
	cr_assert(strstr(drv->vq.error, reason), "error \"%s\" should mention \"%s\"",
		  drv->vq.error, reason);
	cr_assert_eq(virtq_pop(&drv->vq, chain), -EINVAL);
}

Test(virtqueue, size_not_a_power_of_two_is_refused)
{
	configure(12);
	assert_start_fails(false, "queue size 12 is not a power of two between 1 and 1024");
}

Test(virtqueue, size_zero_or_above_max_is_refused)
{
	configure(0);
	assert_start_fails(false, "queue size 0");
	virtq_reset(&drv->vq);
	configure(2048);
	assert_start_fails(false, "queue size 2048");
}

Test(virtqueue, misaligned_descriptor_table_is_refused)
{
	configure(8);
	drv->vq.desc_addr = DESC_GPA + 8;
	assert_start_fails(false, "descriptor table address 0x10008 is not 16-byte aligned");
}

Test(virtqueue, misaligned_avail_ring_is_refused)
{
	configure(8);
	drv->vq.avail_addr = AVAIL_GPA + 1;
	assert_start_fails(false, "available ring address 0x20001 is not 2-byte aligned");
}

Test(virtqueue, misaligned_used_ring_is_refused)
{
	configure(8);
	drv->vq.used_addr = USED_GPA + 2;
	assert_start_fails(false, "used ring address 0x30002 is not 4-byte aligned");
}

Test(virtqueue, ring_outside_ram_is_refused)
{
	configure(8);
	drv->vq.desc_addr = DEFAULT_RAM;
	assert_start_fails(false, "descriptor table (0x1000000+0x80) is not inside guest RAM");
}

/* The event-idx trailers belong to the rings: a ring whose trailer would fall off the end of
 * RAM is refused even without EVENT_IDX. */
Test(virtqueue, ring_trailer_outside_ram_is_refused)
{
	configure(8);
	drv->vq.used_addr = DEFAULT_RAM - (4 + 8 * 8); /* elements fit, avail_event does not */
	assert_start_fails(false, "used ring (0xffffbc+0x46) is not inside guest RAM");
	virtq_reset(&drv->vq);
	configure(8);
	drv->vq.avail_addr = DEFAULT_RAM - (4 + 2 * 8);
	assert_start_fails(true, "available ring (0xffffec+0x16) is not inside guest RAM");
}

Test(virtqueue, rings_ending_exactly_at_the_end_of_ram_are_accepted)
{
	configure(8);
	drv->vq.used_addr = DEFAULT_RAM - (6 + 8 * 8) - 2; /* 4-aligned */
	drv->vq.avail_addr = DEFAULT_RAM - 0x1000 - (6 + 2 * 8);
	drv->vq.desc_addr = DEFAULT_RAM - 0x2000 - 16 * 8;
	cr_assert_eq(virtq_start(&drv->vq, &drv->mem, true, true), 0, "%s", drv->vq.error);
}

/* Byte counts are reported in 32 bits: a chain whose writable (or readable) part exceeds
 * 4 GiB is refused. Needs two 2 GiB buffers: 3 GiB of lazily mapped RAM, never touched. */
Test(virtqueue, more_than_4_gib_in_one_direction_is_refused)
{
	teardown();
	setup_ram(3ULL << 30);
	start(8, false, false);
	desc(0, 0x40000000, 0x80000000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x40000000, 0x7fffffff, VIRTQ_DESC_F_WRITE, 0);
	publish(0);
	cr_assert_eq(virtq_pop(&drv->vq, chain), 1, "4 GiB - 1 fits: %s", drv->vq.error);
	cr_assert_eq(chain->in_bytes, 0xffffffffULL);
	desc(2, 0x40000000, 0x80000000, VIRTQ_DESC_F_NEXT, 3);
	desc(3, 0x40000000, 0x80000000, 0, 0);
	publish(2);
	assert_broken("chain 2 has more than 4 GiB of device-readable buffers");
}

/* ---- Concurrency: a real driver thread against the device, no lost wake-ups. ----
 * The driver thread follows Linux's virtio_ring: it publishes chains and kicks only when the
 * device asks (NO_NOTIFY flag or avail_event), and sleeps for interrupts only after arming
 * them (NO_INTERRUPT flag cleared or used_event set) and re-checking the used ring. The device
 * thread sleeps for kicks and interrupts only when virtq_needs_interrupt says so. A lost
 * wake-up on either side leaves one thread asleep: the timed waits then fail the test. */
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#define RACE_CHAINS 100000u

struct race {
	bool event_idx;
	bool device_disables_kicks; /* drain with disable/enable, or pop until empty */
	sem_t kick, irq;
	unsigned popped;
	bool lost; /* a thread waited 5 s for a wake-up that never came */
};

static bool wait_for(struct race *r, sem_t *s)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	while (sem_timedwait(s, &until) != 0)
		if (errno != EINTR) {
			__atomic_store_n(&r->lost, true, __ATOMIC_RELAXED);
			return false;
		}
	return true;
}

static uint16_t *guest16(uint64_t gpa)
{
	return host(gpa, 2);
}

static bool driver_must_kick(struct race *r, uint16_t old_idx, uint16_t new_idx)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* virtio_mb() in virtqueue_kick_prepare */
	if (r->event_idx) {
		uint16_t event =
		    __atomic_load_n(guest16(USED_GPA + 4 + 8ULL * drv->size), __ATOMIC_RELAXED);
		return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
	}
	return !(__atomic_load_n(guest16(USED_GPA), __ATOMIC_RELAXED) & VIRTQ_USED_F_NO_NOTIFY);
}

/* Arms the used-buffer interrupt; returns true when used entries arrived meanwhile. */
static bool driver_arm_interrupt(struct race *r, uint16_t last_used)
{
	if (r->event_idx)
		__atomic_store_n(guest16(AVAIL_GPA + 4 + 2ULL * drv->size), last_used,
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(guest16(AVAIL_GPA), 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(guest16(USED_GPA + 2), __ATOMIC_ACQUIRE) != last_used;
}

/* Publishes one chain whose 4-byte buffer holds `seq`; kicks when the device asks. */
static void driver_add(struct race *r, uint16_t *avail, uint32_t seq)
{
	uint16_t head = *avail % drv->size; /* in-order device: this slot is free */
	memcpy(host(BUFFERS_GPA + 4ULL * head, 4), &seq, 4);
	put_desc(DESC_GPA, head, BUFFERS_GPA + 4ULL * head, 4, 0, 0);
	__atomic_store_n(guest16(AVAIL_GPA + 4 + 2ULL * (*avail % drv->size)), head,
			 __ATOMIC_RELAXED);
	uint16_t old_idx = (*avail)++;
	__atomic_store_n(guest16(AVAIL_GPA + 2), *avail, __ATOMIC_RELEASE);
	if (driver_must_kick(r, old_idx, *avail))
		sem_post(&r->kick);
}

/* Bursts of 1 .. size chains, each followed by waiting until all are used, as a driver doing
 * synchronous requests: a missed kick or interrupt then stalls both sides. */
static void *driver_thread(void *opaque)
{
	struct race *r = opaque;
	uint16_t avail = 0;
	for (unsigned n = 0; n < RACE_CHAINS && !__atomic_load_n(&r->lost, __ATOMIC_RELAXED);) {
		if (!r->event_idx) /* interrupts off while not waiting (NAPI style) */
			__atomic_store_n(guest16(AVAIL_GPA), VIRTQ_AVAIL_F_NO_INTERRUPT,
					 __ATOMIC_RELAXED);
		unsigned burst = 1 + n % drv->size;
		for (unsigned i = 0; i < burst && n < RACE_CHAINS; i++)
			driver_add(r, &avail, n++);
		uint16_t used;
		while ((used = __atomic_load_n(guest16(USED_GPA + 2), __ATOMIC_ACQUIRE)) != avail)
			if (!driver_arm_interrupt(r, used) && !wait_for(r, &r->irq))
				return NULL;
	}
	return NULL;
}

/* Takes everything available; false on a broken queue or out-of-order data. */
static bool device_drain(struct race *r)
{
	int got;
	while ((got = virtq_pop(&drv->vq, chain)) == 1) {
		uint32_t seq;
		if (virtq_chain_read(chain, 0, &seq, 4) != 4 || seq != r->popped)
			return false;
		r->popped++;
		virtq_push(&drv->vq, chain->head, 0);
		if (virtq_needs_interrupt(&drv->vq))
			sem_post(&r->irq);
	}
	return got == 0;
}

static void race(bool event_idx, bool device_disables_kicks)
{
	struct race r = {.event_idx = event_idx, .device_disables_kicks = device_disables_kicks};
	sem_init(&r.kick, 0, 0);
	sem_init(&r.irq, 0, 0);
	start(8, event_idx, false);
	pthread_t driver;
	cr_assert_eq(pthread_create(&driver, NULL, driver_thread, &r), 0);
	while (r.popped < RACE_CHAINS && wait_for(&r, &r.kick)) {
		bool ok;
		if (device_disables_kicks) {
			do {
				virtq_disable_kicks(&drv->vq);
				ok = device_drain(&r);
				/* Widens the window in which the driver adds chains unkicked. */
				for (volatile unsigned spin = r.popped % 1024; spin; spin--)
					;
			} while (ok && virtq_enable_kicks(&drv->vq));
		} else {
			ok = device_drain(&r);
		}
		cr_assert(ok, "after %u chains: %s", r.popped, drv->vq.error);
	}
	__atomic_store_n(&r.lost, true,
			 __ATOMIC_RELAXED); /* stops the driver if the device gave up */
	sem_post(&r.irq);
	pthread_join(driver, NULL);
	cr_assert_eq(
	    r.popped, RACE_CHAINS,
	    "a wake-up was lost after %u chains: avail idx %u, used idx %u, used_event %u, "
	    "avail_event %u, device last_avail %u used %u signalled %u",
	    r.popped, get16(AVAIL_GPA + 2), used_idx(), get16(AVAIL_GPA + 4 + 2 * 8), avail_event(),
	    drv->vq.last_avail_idx, drv->vq.used_idx, drv->vq.signalled_used);
	sem_destroy(&r.kick);
	sem_destroy(&r.irq);
}

Test(virtqueue, no_lost_wakeups_with_flags)
{
	race(false, true);
}

Test(virtqueue, no_lost_wakeups_with_event_idx)
{
	race(true, true);
}

Test(virtqueue, no_lost_wakeups_with_event_idx_without_disabling_kicks)
{
	race(true, false);
}
