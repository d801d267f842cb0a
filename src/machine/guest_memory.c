#include "machine/guest_memory.h"

#include "lib/huge_pages.h"
#include "machine/layout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void guest_memory_plan(struct guest_memory *mem, uint64_t ram_size)
{
	memset(mem, 0, sizeof(*mem));
	mem->ram_size = ram_size;
	uint64_t low = ram_size < LAYOUT_LOW_RAM_END ? ram_size : LAYOUT_LOW_RAM_END;
	mem->regions[mem->nr_regions++] = (struct guest_region){.gpa = 0, .size = low};
	if (ram_size > low)
		mem->regions[mem->nr_regions++] =
		    (struct guest_region){.gpa = LAYOUT_RAM_ABOVE_4G, .size = ram_size - low};
}

void guest_memory_plan_hotplug(struct guest_memory *mem, uint64_t hotplug_size)
{
	if (!hotplug_size)
		return;
	const struct guest_region *last = &mem->regions[mem->nr_regions - 1];
	uint64_t end = last->gpa + last->size;
	if (end < LAYOUT_RAM_ABOVE_4G)
		end = LAYOUT_RAM_ABOVE_4G; /* never in the PCI hole below 4 GiB */
	uint64_t gpa = (end + GUEST_MEMORY_HOTPLUG_ALIGN - 1) & ~(GUEST_MEMORY_HOTPLUG_ALIGN - 1);
	mem->regions[mem->nr_regions++] =
	    (struct guest_region){.gpa = gpa, .size = hotplug_size, .device = true};
}

uint64_t guest_memory_mapped_size(const struct guest_memory *mem)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < mem->nr_regions; i++)
		total += mem->regions[i].size;
	return total;
}

const struct guest_region *guest_memory_hotplug_region(const struct guest_memory *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++)
		if (mem->regions[i].device)
			return &mem->regions[i];
	return NULL;
}

int guest_memory_create(struct guest_memory *mem, uint64_t ram_size)
{
	return guest_memory_create_hotplug(mem, ram_size, 0);
}

int guest_memory_create_hotplug(struct guest_memory *mem, uint64_t ram_size, uint64_t hotplug_size)
{
	guest_memory_plan(mem, ram_size);
	guest_memory_plan_hotplug(mem, hotplug_size);
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		struct guest_region *r = &mem->regions[i];
		/* On huge pages: KVM then maps the guest with 2 MiB pages too. Untouched RAM
		 * costs the host nothing. */
		void *host = huge_pages_map(r->size);
		if (host == MAP_FAILED) {
			int err = errno;
			guest_memory_destroy(mem);
			return -err;
		}
		r->host = host;
	}
	return 0;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		if (mem->regions[i].host)
			munmap(mem->regions[i].host, mem->regions[i].size);
		mem->regions[i].host = NULL;
	}
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (!r->host || gpa < r->gpa)
			continue;
		uint64_t offset = gpa - r->gpa;
		/* Written to avoid overflow for guest-chosen gpa/len. */
		if (offset >= r->size || len > r->size - offset)
			continue;
		return r->host + offset;
	}
	return NULL;
}

bool guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_memory_ptr(mem, gpa, len);
	if (!dst)
		return false;
	memcpy(dst, src, len);
	guest_memory_note_write(mem, gpa, len);
	return true;
}

bool guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, size_t len)
{
	const void *src = guest_memory_ptr(mem, gpa, len);
	if (!src)
		return false;
	memcpy(dst, src, len);
	return true;
}

uint64_t guest_memory_end(const struct guest_memory *mem)
{
	const struct guest_region *last = &mem->regions[mem->nr_regions - 1];
	return last->gpa + last->size;
}

/* ---- the device-write log of a migration ---- */

uint64_t guest_region_bitmap_words(const struct guest_region *r)
{
	return (r->size / 4096 + 63) / 64;
}

int guest_memory_log_start(struct guest_memory *mem)
{
	uint64_t *logs[GUEST_MEMORY_MAX_REGIONS] = {0};
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		logs[i] = calloc(guest_region_bitmap_words(&mem->regions[i]), sizeof(uint64_t));
		if (!logs[i]) {
			for (unsigned k = 0; k < i; k++)
				free(logs[k]);
			return -ENOMEM;
		}
	}
	/* Region 0's log last: guest_memory_note_write looks only at it. */
	for (unsigned i = mem->nr_regions; i-- > 0;)
		__atomic_store_n(&mem->write_log[i], logs[i], __ATOMIC_RELEASE);
	return 0;
}

void guest_memory_log_write(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions && len; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t *log = __atomic_load_n(&mem->write_log[i], __ATOMIC_ACQUIRE);
		if (!log || gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		uint64_t first = (gpa - r->gpa) / 4096;
		uint64_t end = gpa - r->gpa + len;
		uint64_t last = ((end > r->size ? r->size : end) - 1) / 4096;
		for (uint64_t p = first; p <= last; p++)
			__atomic_fetch_or(&log[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
	}
}

void guest_memory_note_host_write(const struct guest_memory *mem, const void *host, size_t len)
{
	const uint8_t *at = host;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (at >= r->host && at < r->host + r->size) {
			guest_memory_note_write(mem, r->gpa + (uint64_t)(at - r->host), len);
			return;
		}
	}
}

void guest_memory_log_take(const struct guest_memory *mem, unsigned region, uint64_t *bitmap)
{
	const uint64_t *log = __atomic_load_n(&mem->write_log[region], __ATOMIC_ACQUIRE);
	for (uint64_t w = 0; log && w < guest_region_bitmap_words(&mem->regions[region]); w++)
		bitmap[w] |= __atomic_load_n(&log[w], __ATOMIC_RELAXED);
}

void guest_memory_log_stop(struct guest_memory *mem)
{
	/* Called with the devices quiet (the VM paused or stopped): nobody is in log_write. */
	for (unsigned i = 0; i < GUEST_MEMORY_MAX_REGIONS; i++)
		free(__atomic_exchange_n(&mem->write_log[i], NULL, __ATOMIC_ACQ_REL));
}
