#include "emu_user/address_space.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint64_t page_up(uint64_t x)
{
	return (x + GUEST_PAGE_MASK) & ~GUEST_PAGE_MASK;
}

/* x86 page tables cannot express write-only or (without protection keys) exec-only pages, so
 * Linux makes both readable; the guest sees the same. */
static int effective_prot(int prot)
{
	return (prot & (PROT_WRITE | PROT_EXEC)) ? (prot | PROT_READ) : prot;
}

/* The host never executes guest code: the emulator reads it, so exec becomes read. */
static int host_prot(int prot)
{
	return effective_prot(prot) & (PROT_READ | PROT_WRITE);
}

/* Returns the range to the PROT_NONE reservation, dropping whatever the host had there. */
static int host_reserve(struct guest_as *as, uint64_t addr, uint64_t len)
{
	void *p = mmap(as->host_base + addr, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	return p == MAP_FAILED ? -errno : 0;
}

/* Index of the first region whose end lies above `addr` (count when none does). */
static size_t first_ending_above(const struct guest_as *as, uint64_t addr)
{
	size_t lo = 0, hi = as->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (as->regions[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve_slots(struct guest_as *as, size_t extra)
{
	if (as->count + extra <= as->capacity)
		return 0;
	size_t capacity = as->capacity ? as->capacity * 2 : 64;
	while (capacity < as->count + extra)
		capacity *= 2;
	struct guest_region *grown = realloc(as->regions, capacity * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	as->regions = grown;
	as->capacity = capacity;
	return 0;
}

/* Makes `addr` a region boundary: a region straddling it is cut in two. */
static int split_at(struct guest_as *as, uint64_t addr)
{
	size_t i = first_ending_above(as, addr);
	if (i == as->count || as->regions[i].start >= addr)
		return 0;
	if (reserve_slots(as, 1) < 0)
		return -ENOMEM;
	memmove(&as->regions[i + 1], &as->regions[i], (as->count - i) * sizeof(as->regions[0]));
	as->count++;
	as->regions[i].end = addr;
	as->regions[i + 1].start = addr;
	return 0;
}

/* Joins neighbours that touch and agree on protection and flags, keeping the table short. */
static void coalesce(struct guest_as *as)
{
	size_t out = 0;
	for (size_t i = 0; i < as->count; i++) {
		struct guest_region *r = &as->regions[i];
		if (out > 0) {
			struct guest_region *prev = &as->regions[out - 1];
			if (prev->end == r->start && prev->prot == r->prot &&
			    prev->flags == r->flags) {
				prev->end = r->end;
				continue;
			}
		}
		as->regions[out++] = *r;
	}
	as->count = out;
}

/* Removes [start, end) from the table (host side untouched). */
static int carve(struct guest_as *as, uint64_t start, uint64_t end)
{
	if (split_at(as, start) < 0 || split_at(as, end) < 0)
		return -ENOMEM;
	size_t first = first_ending_above(as, start);
	size_t last = first;
	while (last < as->count && as->regions[last].start < end)
		last++;
	if (last > first)
		memmove(&as->regions[first], &as->regions[last],
			(as->count - last) * sizeof(as->regions[0]));
	as->count -= last - first;
	return 0;
}

/* Records a new region over a range that carve() has emptied. */
static int insert(struct guest_as *as, uint64_t start, uint64_t end, int prot, int flags)
{
	if (reserve_slots(as, 1) < 0)
		return -ENOMEM;
	size_t i = first_ending_above(as, start);
	memmove(&as->regions[i + 1], &as->regions[i], (as->count - i) * sizeof(as->regions[0]));
	as->regions[i] = (struct guest_region){start, end, prot, flags};
	as->count++;
	coalesce(as);
	return 0;
}

static bool range_is_free(const struct guest_as *as, uint64_t start, uint64_t end)
{
	size_t i = first_ending_above(as, start);
	return i == as->count || as->regions[i].start >= end;
}

static bool range_is_mapped(const struct guest_as *as, uint64_t start, uint64_t end)
{
	uint64_t cur = start;
	for (size_t i = first_ending_above(as, start); i < as->count && cur < end; i++) {
		if (as->regions[i].start > cur)
			return false;
		cur = as->regions[i].end;
	}
	return cur >= end;
}

/* Highest free range of `len` bytes below mmap_top, like the kernel's top-down allocator. */
static int64_t find_free(const struct guest_as *as, uint64_t len)
{
	uint64_t hi = as->mmap_top;
	for (size_t i = as->count; i-- > 0;) {
		const struct guest_region *r = &as->regions[i];
		if (r->start >= hi)
			continue;
		if (r->end <= hi && hi - r->end >= len)
			return (int64_t)(hi - len);
		hi = r->start;
	}
	if (hi >= GUEST_MIN_ADDR + len)
		return (int64_t)(hi - len);
	return -ENOMEM;
}

int guest_as_init(struct guest_as *as, uint64_t size)
{
	memset(as, 0, sizeof(*as));
	if ((size & GUEST_PAGE_MASK) || size < (16ULL << 20) + GUEST_STACK_RESERVE)
		return -EINVAL;
	void *base =
	    mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	as->host_base = base;
	as->size = size;
	as->mmap_top = size - GUEST_STACK_RESERVE;
	return 0;
}

void guest_as_destroy(struct guest_as *as)
{
	if (as->host_base)
		munmap(as->host_base, as->size);
	free(as->regions);
	memset(as, 0, sizeof(*as));
}

int guest_as_reset(struct guest_as *as)
{
	int rc = host_reserve(as, 0, as->size);
	if (rc < 0)
		return rc;
	as->count = 0;
	as->brk_start = as->brk_cur = 0;
	as->generation++;
	return 0;
}

static int64_t choose_address(struct guest_as *as, uint64_t addr, uint64_t len, int flags)
{
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & GUEST_PAGE_MASK)
			return -EINVAL;
		if (addr < GUEST_MIN_ADDR)
			return -EPERM;
		if (addr >= as->size || len > as->size - addr)
			return -ENOMEM;
		if (!(flags & MAP_FIXED) && !range_is_free(as, addr, addr + len))
			return -EEXIST;
		return (int64_t)addr;
	}
	addr = page_up(addr);
	if (addr >= GUEST_MIN_ADDR && addr < as->size && len <= as->size - addr &&
	    range_is_free(as, addr, addr + len))
		return (int64_t)addr;
	return find_free(as, len);
}

/* After a failed host mmap over [addr, addr+len): the kernel refuses bad arguments before it
 * touches the old pages, but a failure after that leaves a hole in the reservation, which the
 * host could later fill with its own memory. Such a hole is closed and forgotten. */
static void recover_failed_map(struct guest_as *as, uint64_t addr, uint64_t len)
{
	if (msync(as->host_base + addr, len, MS_ASYNC) == 0 || errno != ENOMEM)
		return;
	host_reserve(as, addr, len);
	carve(as, addr, addr + len);
	as->generation++;
}

/* Records a mapping the host has just made, replacing whatever the table had there. */
static int64_t record_mapping(struct guest_as *as, uint64_t addr, uint64_t len, int prot,
			      int region_flags)
{
	if (!range_is_free(as, addr, addr + len))
		as->generation++;
	if (carve(as, addr, addr + len) < 0 ||
	    insert(as, addr, addr + len, prot, region_flags) < 0) {
		host_reserve(as, addr, len);
		carve(as, addr, addr + len);
		return -ENOMEM;
	}
	return (int64_t)addr;
}

int64_t guest_as_mmap(struct guest_as *as, uint64_t addr, uint64_t len, int prot, int flags,
		      int host_fd, uint64_t offset)
{
	int type = flags & MAP_TYPE;
	bool anonymous = flags & MAP_ANONYMOUS;
	if (len == 0 || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
	    (offset & GUEST_PAGE_MASK))
		return -EINVAL;
	if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	if (len > as->size)
		return -ENOMEM;
	len = page_up(len);
	int64_t where = choose_address(as, addr, len, flags);
	if (where < 0)
		return where;
	int host_type = type == MAP_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
	int host_flags = host_type | MAP_FIXED | (anonymous ? MAP_ANONYMOUS | MAP_NORESERVE : 0);
	void *p = mmap(as->host_base + where, len, host_prot(prot), host_flags,
		       anonymous ? -1 : host_fd, anonymous ? 0 : (off_t)offset);
	if (p == MAP_FAILED) {
		int rc = -errno;
		recover_failed_map(as, (uint64_t)where, len);
		return rc;
	}
	return record_mapping(as, (uint64_t)where, len, prot,
			      (type != MAP_PRIVATE ? GUEST_MAP_SHARED : 0) |
				  (anonymous ? 0 : GUEST_MAP_FILE));
}

int guest_as_munmap(struct guest_as *as, uint64_t addr, uint64_t len)
{
	if ((addr & GUEST_PAGE_MASK) || len == 0 || addr >= as->size ||
	    page_up(len) > as->size - addr || len > as->size)
		return -EINVAL;
	len = page_up(len);
	if (range_is_free(as, addr, addr + len))
		return 0;
	int rc = carve(as, addr, addr + len);
	if (rc < 0)
		return rc;
	as->generation++;
	return host_reserve(as, addr, len);
}

int guest_as_mprotect(struct guest_as *as, uint64_t addr, uint64_t len, int prot)
{
	if ((addr & GUEST_PAGE_MASK) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (len > as->size || addr >= as->size || page_up(len) > as->size - addr)
		return -ENOMEM;
	len = page_up(len);
	uint64_t end = addr + len;
	if (!range_is_mapped(as, addr, end))
		return -ENOMEM;
	if (split_at(as, addr) < 0 || split_at(as, end) < 0)
		return -ENOMEM;
	if (mprotect(as->host_base + addr, len, host_prot(prot)) < 0)
		return -errno;
	for (size_t i = first_ending_above(as, addr); i < as->count && as->regions[i].start < end;
	     i++)
		as->regions[i].prot = prot;
	coalesce(as);
	as->generation++;
	return 0;
}

/* The single region that holds all of [addr, end), or NULL. */
static const struct guest_region *region_holding(const struct guest_as *as, uint64_t addr,
						 uint64_t end)
{
	size_t i = first_ending_above(as, addr);
	if (i == as->count || as->regions[i].start > addr || as->regions[i].end < end)
		return NULL;
	return &as->regions[i];
}

static int64_t mremap_in_place(struct guest_as *as, const struct guest_region *r, uint64_t old_addr,
			       uint64_t old_len, uint64_t new_len)
{
	uint64_t old_end = old_addr + old_len, new_end = old_addr + new_len;
	int prot = r->prot, flags = r->flags;
	if (new_end > as->size || !range_is_free(as, old_end, new_end))
		return -ENOMEM;
	/* The host grows a mapping in place only into unmapped space: lift the reservation. */
	munmap(as->host_base + old_end, new_end - old_end);
	void *p = mremap(as->host_base + old_addr, old_len, new_len, 0);
	if (p == MAP_FAILED) {
		int rc = -errno;
		host_reserve(as, old_end, new_end - old_end);
		return rc;
	}
	if (insert(as, old_end, new_end, prot, flags) < 0)
		return -ENOMEM;
	return (int64_t)old_addr;
}

static int64_t mremap_move(struct guest_as *as, const struct guest_region *r, uint64_t old_addr,
			   uint64_t old_len, uint64_t new_len, int64_t target)
{
	int prot = r->prot, flags = r->flags;
	void *p = mremap(as->host_base + old_addr, old_len, new_len, MREMAP_MAYMOVE | MREMAP_FIXED,
			 as->host_base + target);
	if (p == MAP_FAILED) {
		int rc = -errno;
		recover_failed_map(as, (uint64_t)target, new_len);
		return rc;
	}
	host_reserve(as, old_addr, old_len);
	as->generation++;
	if (carve(as, old_addr, old_addr + old_len) < 0 ||
	    carve(as, (uint64_t)target, (uint64_t)target + new_len) < 0 ||
	    insert(as, (uint64_t)target, (uint64_t)target + new_len, prot, flags) < 0)
		return -ENOMEM;
	return target;
}

int64_t guest_as_mremap(struct guest_as *as, uint64_t old_addr, uint64_t old_len, uint64_t new_len,
			int flags, uint64_t new_addr)
{
	if ((old_addr & GUEST_PAGE_MASK) || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) || new_len == 0 || old_len == 0 ||
	    old_len > as->size || new_len > as->size)
		return -EINVAL;
	old_len = page_up(old_len);
	new_len = page_up(new_len);
	if (old_addr >= as->size || old_len > as->size - old_addr)
		return -EFAULT;
	const struct guest_region *r = region_holding(as, old_addr, old_addr + old_len);
	if (!r)
		return -EFAULT;
	if (flags & MREMAP_FIXED) {
		if ((new_addr & GUEST_PAGE_MASK) || new_addr < GUEST_MIN_ADDR ||
		    new_addr >= as->size || new_len > as->size - new_addr ||
		    (new_addr < old_addr + old_len && old_addr < new_addr + new_len))
			return -EINVAL;
		return mremap_move(as, r, old_addr, old_len, new_len, (int64_t)new_addr);
	}
	if (new_len <= old_len) {
		if (new_len < old_len)
			guest_as_munmap(as, old_addr + new_len, old_len - new_len);
		return (int64_t)old_addr;
	}
	int64_t rc = mremap_in_place(as, r, old_addr, old_len, new_len);
	if (rc >= 0 || !(flags & MREMAP_MAYMOVE))
		return rc;
	int64_t target = find_free(as, new_len);
	if (target < 0)
		return target;
	return mremap_move(as, region_holding(as, old_addr, old_addr + old_len), old_addr, old_len,
			   new_len, target);
}

void guest_as_set_brk_start(struct guest_as *as, uint64_t brk_start)
{
	as->brk_start = as->brk_cur = page_up(brk_start);
}

uint64_t guest_as_brk(struct guest_as *as, uint64_t new_brk)
{
	if (new_brk < as->brk_start || new_brk >= as->size)
		return as->brk_cur;
	uint64_t old_end = page_up(as->brk_cur), new_end = page_up(new_brk);
	if (new_end > old_end) {
		if (!range_is_free(as, old_end, new_end))
			return as->brk_cur;
		void *p = mmap(as->host_base + old_end, new_end - old_end, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			recover_failed_map(as, old_end, new_end - old_end);
			return as->brk_cur;
		}
		if (insert(as, old_end, new_end, PROT_READ | PROT_WRITE, GUEST_MAP_HEAP) < 0) {
			host_reserve(as, old_end, new_end - old_end);
			return as->brk_cur;
		}
	} else if (new_end < old_end) {
		if (guest_as_munmap(as, new_end, old_end - new_end) < 0)
			return as->brk_cur;
	}
	as->brk_cur = new_brk;
	return new_brk;
}

const struct guest_region *guest_as_find(const struct guest_as *as, uint64_t addr)
{
	size_t i = first_ending_above(as, addr);
	if (i == as->count || as->regions[i].start > addr)
		return NULL;
	return &as->regions[i];
}

void *guest_as_translate(const struct guest_as *as, uint64_t addr, uint64_t len, int prot)
{
	if (addr >= as->size || len > as->size - addr)
		return NULL;
	uint64_t cur = addr, end = addr + len;
	for (size_t i = first_ending_above(as, addr); cur < end; i++) {
		if (i == as->count || as->regions[i].start > cur)
			return NULL;
		if ((effective_prot(as->regions[i].prot) & prot) != prot)
			return NULL;
		cur = as->regions[i].end;
	}
	return as->host_base + addr;
}

uint64_t guest_as_accessible(const struct guest_as *as, uint64_t addr, uint64_t len, int prot)
{
	if (addr >= as->size)
		return 0;
	uint64_t end = len <= as->size - addr ? addr + len : as->size, cur = addr;
	for (size_t i = first_ending_above(as, addr); cur < end; i++) {
		if (i == as->count || as->regions[i].start > cur ||
		    (effective_prot(as->regions[i].prot) & prot) != prot)
			break;
		cur = as->regions[i].end;
	}
	return (cur < end ? cur : end) - addr;
}

const char *guest_as_string(const struct guest_as *as, uint64_t addr, size_t max, int *error)
{
	if (addr >= as->size) {
		*error = -EFAULT;
		return NULL;
	}
	bool max_fits = max <= as->size - addr;
	uint64_t cur = addr, limit = max_fits ? addr + max : as->size;
	for (size_t i = first_ending_above(as, addr); cur < limit; i++) {
		if (i == as->count || as->regions[i].start > cur ||
		    !(effective_prot(as->regions[i].prot) & PROT_READ))
			break;
		uint64_t stop = as->regions[i].end < limit ? as->regions[i].end : limit;
		if (memchr(as->host_base + cur, 0, stop - cur))
			return (const char *)as->host_base + addr;
		cur = stop;
	}
	*error = cur >= limit && max_fits ? -ENAMETOOLONG : -EFAULT;
	return NULL;
}
