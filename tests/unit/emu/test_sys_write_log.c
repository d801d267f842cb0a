/* The software CPU's log of writes to one region (accel_ops.region_log_start/fetch), what the
 * display uses to find the framebuffer pages the guest drew into: the pages guest code wrote
 * (plain stores, a REP STOSQ across a page boundary, a store through a TLB entry that was
 * writable before the fetch, a store after a read filled the TLB entry) and those a device wrote,
 * each reported once; nothing after a fetch until written again; and, with the guest storing into
 * one page millions of times while another thread fetches, no store is lost: once the guest stops,
 * the last value it wrote is the one a reporting fetch saw. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FB_GPA	 0x2000000ULL /* 32 MiB: past the harness's 8 MiB of RAM, inside its page tables */
#define FB_PAGES 16
#define FB_SIZE	 (FB_PAGES * 4096ULL)

static struct harness h;
static uint8_t *fb;

static void setup(void)
{
	h_init(&h, 1);
	fb = aligned_alloc(4096, FB_SIZE);
	cr_assert_not_null(fb);
	memset(fb, 0, FB_SIZE);
	cr_assert_eq(h.ops->map_memory(h.vm, FB_GPA, FB_SIZE, fb, false), 0);
	cr_assert_eq(h.ops->region_log_start(h.vm, FB_GPA), 0);
}

static void teardown(void)
{
	h_fini(&h);
	free(fb);
}

TestSuite(sys_write_log, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t fetch(void)
{
	uint64_t bits = 0;
	cr_assert_eq(h.ops->region_log_fetch(h.vm, FB_GPA, FB_SIZE, &bits), 0);
	return bits;
}

/* With the page table's dirty bit already set on the framebuffer's 2 MiB page, as after
 * earlier writes: a read's TLB fill may then grant writing too. */
static void run(const uint8_t *start, size_t len)
{
	h_load(&h, H_CODE, start, len);
	h_long_mode(&h, 0, H_CODE);
	uint64_t pde = H_PD + 8 * (FB_GPA >> 21);
	h_wr64(&h, pde, h_rd64(&h, pde) | 0x40);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
}

GUEST_BLOB(two_pages, ".code64\n"
		      "mov $0x2000000, %rdi\n"
		      "movl $0x11, (%rdi)\n"
		      "movl $0x33, 0x3000(%rdi)\n" GUEST_DONE);

GUEST_BLOB(again, ".code64\n"
		  "mov $0x2000000, %rdi\n"
		  "mov 0x3000(%rdi), %eax\n" /* a read fills the TLB entry first */
		  "movl $0x44, 0x3004(%rdi)\n"
		  "movl $1, (%rdi)\n"
		  "movl $2, 8(%rdi)\n"
		  "lea 0x5ff0(%rdi), %rdi\n"
		  "mov $4, %ecx\n"
		  "mov $0x77, %eax\n"
		  "rep stosq\n" GUEST_DONE);

Test(sys_write_log, reports_the_pages_written_once)
{
	cr_assert_eq(fetch(), 0, "nothing written yet");
	run(two_pages_start, BLOB_LEN(two_pages));
	cr_assert_eq(fetch(), (1u << 0) | (1u << 3));
	cr_assert_eq(fb[0], 0x11);
	cr_assert_eq(fb[0x3000], 0x33);
	cr_assert_eq(fetch(), 0, "a second fetch finds nothing new");
	/* Page 0 had a writable TLB entry before the fetch: the next store there must be
	 * logged again, as must a store to page 3 after a read filled its TLB entry, and a
	 * string store across pages 5 and 6. */
	run(again_start, BLOB_LEN(again));
	cr_assert_eq(fetch(), (1u << 0) | (1u << 3) | (1u << 5) | (1u << 6));
	cr_assert_eq(fb[0x6008], 0x77);
}

Test(sys_write_log, device_writes_count_too)
{
	h.ops->memory_written(h.vm, FB_GPA + 0x2000, 4);
	h.ops->memory_written(h.vm, FB_GPA + 0x8ffc, 8); /* pages 8 and 9 */
	cr_assert_eq(fetch(), (1u << 2) | (1u << 8) | (1u << 9));
}

Test(sys_write_log, only_for_a_mapped_region)
{
	cr_assert_eq(h.ops->region_log_start(h.vm, FB_GPA + 0x10000000), -ENOENT);
	uint64_t bits = 0;
	cr_assert_eq(h.ops->region_log_fetch(h.vm, FB_GPA, FB_SIZE / 2, &bits), -EINVAL);
}

#define STORES 3000000

/* Counts down into page 1: the last store leaves 1 there. */
GUEST_BLOB(counter, ".code64\n"
		    "mov $0x2001000, %rdi\n"
		    "mov $3000000, %ecx\n"
		    "1: mov %ecx, (%rdi)\n"
		    "dec %ecx\n"
		    "jnz 1b\n" GUEST_DONE);

static atomic_bool vcpu_done;

static void *run_counter(void *arg)
{
	(void)arg;
	h_long_mode(&h, 0, H_CODE);
	h_run(&h, 0, 50000);
	atomic_store(&vcpu_done, true);
	return NULL;
}

Test(sys_write_log, no_store_is_lost_while_fetching)
{
	h_load(&h, H_CODE, counter_start, BLOB_LEN(counter));
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, run_counter, NULL), 0);
	uint32_t seen = 0;
	unsigned reports = 0;
	while (!atomic_load(&vcpu_done)) {
		if (fetch() & 2) {
			memcpy(&seen, fb + 0x1000, 4);
			reports++;
		}
	}
	pthread_join(t, NULL);
	if (fetch() & 2) {
		memcpy(&seen, fb + 0x1000, 4);
		reports++;
	}
	cr_assert_eq(seen, 1,
		     "the last value a fetch saw is %u, not the last store (1): a "
		     "store was not logged (%u reporting fetches)",
		     seen, reports);
	cr_assert_gt(reports, 1, "the fetches should have caught the guest writing");
}

GUEST_BLOB(moved, ".code64\n"
		  "mov $0x2400000, %rdi\n"
		  "movl $0x55, (%rdi)\n"
		  "movl $0x66, 0x3000(%rdi)\n" GUEST_DONE);

/* A PCI BAR the guest moved (bochs-display's VRAM): the same memory at the new address, its
 * stores logged there; a move onto RAM is refused. */
Test(sys_write_log, a_moved_region_is_logged_at_its_new_address)
{
	const uint64_t to = FB_GPA + 0x400000;
	cr_assert_eq(h.ops->move_memory(h.vm, FB_GPA, 0x100000), -EEXIST, "over guest RAM");
	cr_assert_eq(h.ops->move_memory(h.vm, FB_GPA + 0x1000, to), -ENOENT);
	cr_assert_eq(h.ops->move_memory(h.vm, FB_GPA, to), 0);
	uint64_t bits = 0;
	cr_assert_eq(h.ops->region_log_fetch(h.vm, FB_GPA, FB_SIZE, &bits), -ENOENT,
		     "nothing is at the old address");
	h_load(&h, H_CODE, moved_start, BLOB_LEN(moved));
	h_long_mode(&h, 0, H_CODE);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
	cr_assert_eq(h.ops->region_log_fetch(h.vm, to, FB_SIZE, &bits), 0);
	cr_assert_eq(bits, (1u << 0) | (1u << 3));
	cr_assert_eq(fb[0], 0x55);
	cr_assert_eq(fb[0x3000], 0x66);
}
