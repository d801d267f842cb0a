/* Missing-page faults handled in this process, as post-copy uses them for guest RAM: a thread
 * touching a registered page waits until the page is placed and then sees its contents; pages
 * already there are never overwritten; zero pages read as zero; after unregistering, faults
 * are the kernel's again. (Kernel-mode faults need root or vm.unprivileged_userfaultfd=1: the
 * suite runs as root.) */
#include "lib/userfault.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE  4096u
#define PAGES 16u

static uint8_t *anonymous(void)
{
	uint8_t *m = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	return m;
}

static struct userfault open_or_fail(void)
{
	struct userfault uf;
	char err[256];
	cr_assert_eq(userfault_open(&uf, err, sizeof(err)), 0, "%s", err);
	return uf;
}

struct reader {
	const volatile uint8_t *at;
	_Atomic int seen; /* -1 until the read returned */
};

static void *read_byte(void *opaque)
{
	struct reader *r = opaque;
	atomic_store(&r->seen, r->at[100]);
	return NULL;
}

/* The fault of a reader on a missing page: reported with its address, the reader waits while
 * nobody places the page, and gets the placed contents. */
Test(userfault, a_reader_waits_for_the_page_and_sees_what_was_placed)
{
	uint8_t *m = anonymous();
	struct userfault uf = open_or_fail();
	cr_assert_eq(userfault_register(&uf, m, PAGES * PAGE), 0);
	struct reader r = {.at = m + 3 * PAGE, .seen = -1};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, read_byte, &r), 0);
	uint64_t addr = 0;
	int rc = 0;
	for (int i = 0; i < 50 && rc == 0; i++)
		rc = userfault_next(&uf, 100, &addr);
	cr_assert_eq(rc, 1, "no fault reported");
	cr_assert_eq(addr & ~(uint64_t)(PAGE - 1), (uintptr_t)(m + 3 * PAGE));
	usleep(50000);
	cr_assert_eq(atomic_load(&r.seen), -1, "the reader went on before the page was placed");
	uint8_t page[PAGE];
	memset(page, 0x5c, sizeof(page));
	cr_assert_eq(userfault_copy(&uf, m + 3 * PAGE, page, PAGE), 0);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&r.seen), 0x5c);
	userfault_close(&uf);
	munmap(m, PAGES * PAGE);
}

/* A copy over a range where some pages are there already fills the others and leaves those
 * (the guest's own writes) as they are; zero pages read as zero. */
Test(userfault, pages_already_there_are_kept)
{
	uint8_t *m = anonymous();
	struct userfault uf = open_or_fail();
	cr_assert_eq(userfault_register(&uf, m, PAGES * PAGE), 0);
	static uint8_t first[PAGE];
	memset(first, 0x11, sizeof(first));
	cr_assert_eq(userfault_copy(&uf, m + 5 * PAGE, first, PAGE), 0);
	cr_assert_eq(userfault_zero(&uf, m + 9 * PAGE, PAGE), 0);
	static uint8_t later[4 * PAGE];
	memset(later, 0x22, sizeof(later));
	cr_assert_eq(userfault_copy(&uf, m + 4 * PAGE, later, 4 * PAGE), 0,
		     "pages 4-7 with page 5 there already");
	cr_assert_eq(userfault_copy(&uf, m + 8 * PAGE, later, 2 * PAGE), 0,
		     "pages 8-9 with page 9 there already");
	for (unsigned p = 4; p < 10; p++) {
		uint8_t want = p == 5 ? 0x11 : p == 9 ? 0 : 0x22;
		cr_assert_eq(m[p * PAGE], want, "page %u", p);
		cr_assert_eq(m[p * PAGE + PAGE - 1], want, "page %u", p);
	}
	userfault_close(&uf);
	munmap(m, PAGES * PAGE);
}

/* Unregistered, a missing page is the kernel's zero page again: no fault comes. */
Test(userfault, unregistered_pages_fault_as_usual)
{
	uint8_t *m = anonymous();
	struct userfault uf = open_or_fail();
	cr_assert_eq(userfault_register(&uf, m, PAGES * PAGE), 0);
	cr_assert_eq(userfault_unregister(&uf, m, PAGES * PAGE), 0);
	cr_assert_eq(((volatile uint8_t *)m)[7 * PAGE], 0);
	uint64_t addr;
	cr_assert_eq(userfault_next(&uf, 0, &addr), 0);
	userfault_close(&uf);
	munmap(m, PAGES * PAGE);
}
