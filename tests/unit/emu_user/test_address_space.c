#include "emu_user/address_space.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE GUEST_PAGE_SIZE
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define RW   (PROT_READ | PROT_WRITE)

static struct guest_as as;

static void setup(void)
{
	cr_assert_eq(guest_as_init(&as, GUEST_AS_DEFAULT), 0);
}

static void teardown(void)
{
	guest_as_destroy(&as);
}

TestSuite(address_space, .init = setup, .fini = teardown);

static uint64_t map_fixed(uint64_t addr, uint64_t len, int prot)
{
	int64_t got = guest_as_mmap(&as, addr, len, prot, ANON | MAP_FIXED, -1, 0);
	cr_assert_eq(got, (int64_t)addr, "MAP_FIXED at 0x%llx gave %lld", (unsigned long long)addr,
		     (long long)got);
	return addr;
}

Test(address_space, anonymous_mapping_is_zeroed_page_aligned_and_usable)
{
	int64_t addr = guest_as_mmap(&as, 0, 10000, RW, ANON, -1, 0);
	cr_assert_geq(addr, (int64_t)GUEST_MIN_ADDR);
	cr_assert_eq(addr & (int64_t)GUEST_PAGE_MASK, 0);
	uint8_t *host = guest_as_translate(&as, (uint64_t)addr, 3 * PAGE, PROT_WRITE);
	cr_assert_not_null(host);
	for (size_t i = 0; i < 3 * PAGE; i++)
		cr_assert_eq(host[i], 0);
	memset(host, 0xab, 3 * PAGE); /* the length was rounded up to whole pages */
	cr_assert_null(guest_as_translate(&as, (uint64_t)addr, 3 * PAGE + 1, PROT_READ));
}

Test(address_space, translate_refuses_unmapped_and_forbidden_access)
{
	uint64_t a = map_fixed(0x100000, 2 * PAGE, PROT_READ);
	cr_assert_not_null(guest_as_translate(&as, a, 2 * PAGE, PROT_READ));
	cr_assert_null(guest_as_translate(&as, a, 1, PROT_WRITE), "write to read-only page");
	cr_assert_null(guest_as_translate(&as, a, 1, PROT_EXEC), "exec of non-exec page");
	cr_assert_null(guest_as_translate(&as, a - 1, 2, PROT_READ), "starts before the mapping");
	cr_assert_null(guest_as_translate(&as, a + PAGE, 2 * PAGE, PROT_READ), "runs past the end");
	cr_assert_null(guest_as_translate(&as, 0, 8, PROT_READ), "NULL page");
	cr_assert_null(guest_as_translate(&as, UINT64_MAX - 4, 8, PROT_READ), "wraps around");
	cr_assert_null(guest_as_translate(&as, GUEST_AS_DEFAULT, 1, PROT_READ), "beyond the space");
}

Test(address_space, exec_and_write_imply_read_like_x86_page_tables)
{
	uint64_t a = map_fixed(0x100000, PAGE, PROT_EXEC);
	cr_assert_not_null(guest_as_translate(&as, a, PAGE, PROT_READ | PROT_EXEC));
	uint64_t b = map_fixed(0x200000, PAGE, PROT_WRITE);
	cr_assert_not_null(guest_as_translate(&as, b, PAGE, PROT_READ | PROT_WRITE));
}

Test(address_space, adjacent_mappings_translate_as_one_range)
{
	map_fixed(0x100000, PAGE, RW);
	map_fixed(0x101000, PAGE, PROT_READ);
	cr_assert_not_null(guest_as_translate(&as, 0x100800, PAGE, PROT_READ));
	cr_assert_null(guest_as_translate(&as, 0x100800, PAGE, PROT_WRITE));
}

Test(address_space, munmap_in_the_middle_leaves_both_sides)
{
	uint64_t a = map_fixed(0x100000, 3 * PAGE, RW);
	cr_assert_eq(guest_as_munmap(&as, a + PAGE, PAGE), 0);
	cr_assert_not_null(guest_as_translate(&as, a, PAGE, PROT_WRITE));
	cr_assert_null(guest_as_translate(&as, a + PAGE, 1, PROT_READ));
	cr_assert_not_null(guest_as_translate(&as, a + 2 * PAGE, PAGE, PROT_WRITE));
	cr_assert_eq(as.count, 2);
	cr_assert_eq(guest_as_munmap(&as, a + PAGE, PAGE), 0, "unmapping a hole is fine");
	cr_assert_eq(guest_as_munmap(&as, a + 1, PAGE), -EINVAL, "unaligned");
	cr_assert_eq(guest_as_munmap(&as, a, 0), -EINVAL, "empty");
}

Test(address_space, remapping_after_munmap_gives_fresh_zero_pages)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	memset(guest_as_translate(&as, a, PAGE, PROT_WRITE), 0x5a, PAGE);
	cr_assert_eq(guest_as_munmap(&as, a, PAGE), 0);
	map_fixed(a, PAGE, RW);
	cr_assert_eq(((uint8_t *)guest_as_translate(&as, a, PAGE, PROT_READ))[100], 0);
}

Test(address_space, mprotect_changes_access_and_needs_a_mapped_range)
{
	uint64_t a = map_fixed(0x100000, 4 * PAGE, RW);
	cr_assert_eq(guest_as_mprotect(&as, a + PAGE, PAGE, PROT_READ), 0);
	cr_assert_null(guest_as_translate(&as, a + PAGE, 1, PROT_WRITE));
	cr_assert_not_null(guest_as_translate(&as, a, PAGE, PROT_WRITE));
	cr_assert_not_null(guest_as_translate(&as, a + 2 * PAGE, 2 * PAGE, PROT_WRITE));
	cr_assert_eq(as.count, 3);
	cr_assert_eq(guest_as_mprotect(&as, a + PAGE, PAGE, RW), 0);
	cr_assert_eq(as.count, 1, "equal neighbours merge again");
	cr_assert_eq(guest_as_mprotect(&as, a + 3 * PAGE, 2 * PAGE, PROT_READ), -ENOMEM);
	cr_assert_eq(guest_as_mprotect(&as, a + 1, PAGE, PROT_READ), -EINVAL);
	cr_assert_eq(guest_as_mprotect(&as, a, PAGE, 0x100), -EINVAL);
}

Test(address_space, mprotect_none_makes_the_host_page_inaccessible_too)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	volatile uint8_t *host = guest_as_translate(&as, a, PAGE, PROT_WRITE);
	cr_assert_eq(guest_as_mprotect(&as, a, PAGE, PROT_NONE), 0);
	cr_assert_null(guest_as_translate(&as, a, 1, PROT_READ));
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* sanitizers install their own handler */
		(void)host[0];
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

Test(address_space, fixed_mappings_are_validated)
{
	cr_assert_eq(guest_as_mmap(&as, 0x1000, PAGE, RW, ANON | MAP_FIXED, -1, 0), -EPERM);
	cr_assert_eq(guest_as_mmap(&as, 0x100001, PAGE, RW, ANON | MAP_FIXED, -1, 0), -EINVAL);
	cr_assert_eq(guest_as_mmap(&as, 0x100000, 0, RW, ANON, -1, 0), -EINVAL);
	cr_assert_eq(guest_as_mmap(&as, 0x100000, PAGE, 0x40, ANON, -1, 0), -EINVAL);
	cr_assert_eq(
	    guest_as_mmap(&as, GUEST_AS_DEFAULT - PAGE, 2 * PAGE, RW, ANON | MAP_FIXED, -1, 0),
	    -ENOMEM);
	cr_assert_eq(guest_as_mmap(&as, 0, UINT64_MAX, RW, ANON, -1, 0), -ENOMEM);
	map_fixed(0x100000, PAGE, RW);
	cr_assert_eq(guest_as_mmap(&as, 0x100000, PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0),
		     -EEXIST);
}

Test(address_space, hint_is_used_when_free_and_never_overlaps)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	cr_assert_eq(guest_as_mmap(&as, 0x300000, PAGE, RW, ANON, -1, 0), 0x300000);
	int64_t b = guest_as_mmap(&as, a, PAGE, RW, ANON, -1, 0);
	cr_assert_neq(b, (int64_t)a, "a hint over a mapping must not replace it");
	cr_assert_gt(b, 0);
}

Test(address_space, brk_grows_shrinks_and_refuses_collisions)
{
	guest_as_set_brk_start(&as, 0x500123);
	cr_assert_eq(guest_as_brk(&as, 0), 0x501000, "brk(0) reports the page-aligned start");
	cr_assert_eq(guest_as_brk(&as, 0x503010), 0x503010);
	uint8_t *heap = guest_as_translate(&as, 0x501000, 0x2010, PROT_WRITE);
	cr_assert_not_null(heap);
	cr_assert_eq(heap[0x2000], 0);
	heap[0] = 1;
	cr_assert_eq(guest_as_brk(&as, 0x502000), 0x502000);
	cr_assert_null(guest_as_translate(&as, 0x502000, 1, PROT_READ), "shrunk pages are gone");
	cr_assert_eq(guest_as_brk(&as, 0x400000), 0x502000, "below the start: unchanged");
	map_fixed(0x600000, PAGE, RW);
	cr_assert_eq(guest_as_brk(&as, 0x700000), 0x502000, "would run into a mapping");
}

Test(address_space, mremap_grows_in_place_or_moves_keeping_contents)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	memcpy(guest_as_translate(&as, a, 5, PROT_WRITE), "hello", 5);
	cr_assert_eq(guest_as_mremap(&as, a, PAGE, 2 * PAGE, 0, 0), (int64_t)a);
	cr_assert_not_null(guest_as_translate(&as, a, 2 * PAGE, PROT_WRITE));
	map_fixed(a + 2 * PAGE, PAGE, RW);
	cr_assert_eq(guest_as_mremap(&as, a, 2 * PAGE, 4 * PAGE, 0, 0), -ENOMEM,
		     "blocked and not allowed to move");
	int64_t moved = guest_as_mremap(&as, a, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, 0);
	cr_assert_gt(moved, 0);
	cr_assert_neq(moved, (int64_t)a);
	cr_assert_null(guest_as_translate(&as, a, 1, PROT_READ), "old range is unmapped");
	cr_assert_eq(
	    memcmp(guest_as_translate(&as, (uint64_t)moved, 4 * PAGE, PROT_WRITE), "hello", 5), 0);
	cr_assert_eq(guest_as_mremap(&as, (uint64_t)moved, 4 * PAGE, PAGE, 0, 0), moved);
	cr_assert_null(guest_as_translate(&as, (uint64_t)moved + PAGE, 1, PROT_READ));
	cr_assert_eq(guest_as_mremap(&as, 0x900000, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0), -EFAULT);
}

Test(address_space, accessible_prefix_stops_at_the_first_bad_page)
{
	map_fixed(0x100000, 2 * PAGE, RW);
	map_fixed(0x102000, PAGE, PROT_READ);
	cr_assert_eq(guest_as_accessible(&as, 0x100800, 8 * PAGE, PROT_READ), 0x2800);
	cr_assert_eq(guest_as_accessible(&as, 0x100800, 8 * PAGE, PROT_WRITE), 0x1800);
	cr_assert_eq(guest_as_accessible(&as, 0x100800, 0x10, PROT_WRITE), 0x10);
	cr_assert_eq(guest_as_accessible(&as, 0x103000, 0x10, PROT_READ), 0);
	cr_assert_eq(guest_as_accessible(&as, UINT64_MAX - 8, 0x10, PROT_READ), 0);
}

Test(address_space, strings_are_bounded_by_mapping_and_length)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	char *host = guest_as_translate(&as, a, PAGE, PROT_WRITE);
	strcpy(host, "/bin/sh");
	int error = 0;
	cr_assert_str_eq(guest_as_string(&as, a, 4096, &error), "/bin/sh");
	cr_assert_null(guest_as_string(&as, a, 4, &error));
	cr_assert_eq(error, -ENAMETOOLONG);
	memset(host, 'x', PAGE); /* runs into the unmapped page after it */
	cr_assert_null(guest_as_string(&as, a, 1 << 20, &error));
	cr_assert_eq(error, -EFAULT);
	cr_assert_null(guest_as_string(&as, 0, 16, &error));
	cr_assert_eq(error, -EFAULT);
}

Test(address_space, private_file_mapping_shows_the_file)
{
	char path[] = "/tmp/gureum-as-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, "file contents", 13), 13);
	int64_t a = guest_as_mmap(&as, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	cr_assert_gt(a, 0);
	cr_assert_eq(
	    memcmp(guest_as_translate(&as, (uint64_t)a, 13, PROT_READ), "file contents", 13), 0);
	cr_assert_eq(guest_as_find(&as, (uint64_t)a)->flags & GUEST_MAP_FILE, GUEST_MAP_FILE);
	cr_assert_eq(guest_as_mmap(&as, 0, PAGE, PROT_READ, MAP_PRIVATE, fd, 100), -EINVAL,
		     "unaligned offset");
	close(fd);
}

Test(address_space, failed_file_mapping_keeps_the_old_pages)
{
	uint64_t a = map_fixed(0x100000, PAGE, RW);
	((uint8_t *)guest_as_translate(&as, a, PAGE, PROT_WRITE))[0] = 42;
	cr_assert_eq(guest_as_mmap(&as, a, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, 1000, 0),
		     -EBADF);
	const uint8_t *host = guest_as_translate(&as, a, PAGE, PROT_WRITE);
	cr_assert_not_null(host, "a refused mmap must not drop the mapping underneath");
	cr_assert_eq(host[0], 42);
}

Test(address_space, reset_drops_every_mapping_and_the_heap)
{
	map_fixed(0x100000, PAGE, RW);
	guest_as_set_brk_start(&as, 0x200000);
	guest_as_brk(&as, 0x210000);
	uint64_t generation = as.generation;
	cr_assert_eq(guest_as_reset(&as), 0);
	cr_assert_null(guest_as_translate(&as, 0x100000, 1, PROT_READ));
	cr_assert_null(guest_as_translate(&as, 0x200000, 1, PROT_READ));
	cr_assert_eq(as.count, 0);
	cr_assert_gt(as.generation, generation);
}

/* Random mmap/munmap/mprotect over a 64-page window, checked page by page against a model:
 * protection, mapped-ness and the data each page holds. Fixed seed: failures reproduce. */
#define WINDOW_BASE  0x1000000ULL
#define WINDOW_PAGES 64

struct page_model {
	int prot; /* -1: unmapped */
	uint8_t tag;
};

static void model_check(const struct page_model *model)
{
	for (int i = 0; i < WINDOW_PAGES; i++) {
		uint64_t addr = WINDOW_BASE + (uint64_t)i * PAGE;
		const struct guest_region *r = guest_as_find(&as, addr);
		if (model[i].prot < 0) {
			cr_assert_null(r, "page %d should be unmapped", i);
			continue;
		}
		cr_assert_not_null(r, "page %d should be mapped", i);
		cr_assert_eq(r->prot, model[i].prot, "page %d prot %d, model %d", i, r->prot,
			     model[i].prot);
		if (model[i].prot & PROT_READ) {
			uint8_t *host = guest_as_translate(&as, addr, PAGE, PROT_READ);
			cr_assert_not_null(host);
			cr_assert_eq(host[7], model[i].tag, "page %d lost its data", i);
		}
	}
	for (size_t i = 1; i < as.count; i++)
		cr_assert_leq(as.regions[i - 1].end, as.regions[i].start,
			      "regions overlap/unsorted");
}

Test(address_space, random_operations_match_a_page_model)
{
	struct page_model model[WINDOW_PAGES];
	for (int i = 0; i < WINDOW_PAGES; i++)
		model[i] = (struct page_model){-1, 0};
	srand(1234);
	const int prots[] = {PROT_NONE, PROT_READ, RW, PROT_READ | PROT_EXEC};
	for (int step = 0; step < 3000; step++) {
		int first = rand() % WINDOW_PAGES;
		int count = 1 + rand() % (WINDOW_PAGES - first);
		uint64_t addr = WINDOW_BASE + (uint64_t)first * PAGE, len = (uint64_t)count * PAGE;
		int prot = prots[rand() % 4];
		switch (rand() % 3) {
		case 0: {
			cr_assert_eq(guest_as_mmap(&as, addr, len, RW, ANON | MAP_FIXED, -1, 0),
				     (int64_t)addr);
			uint8_t tag = (uint8_t)(1 + rand() % 255);
			for (int i = first; i < first + count; i++) {
				((uint8_t *)guest_as_translate(
				    &as, WINDOW_BASE + (uint64_t)i * PAGE, PAGE, PROT_WRITE))[7] =
				    tag;
				model[i] = (struct page_model){RW, tag};
			}
			if (prot != RW) {
				cr_assert_eq(guest_as_mprotect(&as, addr, len, prot), 0);
				for (int i = first; i < first + count; i++)
					model[i].prot = prot;
			}
			break;
		}
		case 1:
			cr_assert_eq(guest_as_munmap(&as, addr, len), 0);
			for (int i = first; i < first + count; i++)
				model[i].prot = -1;
			break;
		default: {
			bool all_mapped = true;
			for (int i = first; i < first + count; i++)
				all_mapped &= model[i].prot >= 0;
			cr_assert_eq(guest_as_mprotect(&as, addr, len, prot),
				     all_mapped ? 0 : -ENOMEM);
			for (int i = first; all_mapped && i < first + count; i++)
				model[i].prot = prot;
			break;
		}
		}
		model_check(model);
	}
}
