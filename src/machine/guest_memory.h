/* Guest RAM: host mappings of guest-physical ranges, split around the PCI hole below 4 GiB.
 * Every access the VMM makes to guest memory on behalf of a guest-controlled address goes
 * through guest_memory_ptr(), which refuses ranges that are not entirely inside one region. */
#ifndef GUREUM_MACHINE_GUEST_MEMORY_H
#define GUREUM_MACHINE_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEMORY_MAX_REGIONS 3

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	/* Hotpluggable memory behind a virtio-mem device: mapped like RAM, but not in the e820
	 * map and not in ram_size; the guest learns of it from the device. */
	bool device;
};

/* Who must hear about writes to guest RAM that bypass the vCPUs (device DMA): a software CPU
 * that caches decoded guest code drops what it had of the range. */
struct guest_memory_observer {
	void (*written)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

struct guest_memory {
	uint64_t ram_size;
	unsigned nr_regions;
	struct guest_region regions[GUEST_MEMORY_MAX_REGIONS];
	struct guest_memory_observer observer; /* none: written == NULL */
	/* While a migration runs: a bit per page of each region that a device was given to
	 * write (guest_memory_log_*). NULL otherwise. */
	uint64_t *write_log[GUEST_MEMORY_MAX_REGIONS]; /* __atomic_* access */
};

/* Maps `ram_size` bytes of anonymous memory (lazily populated). Returns 0 or -errno. */
int guest_memory_create(struct guest_memory *mem, uint64_t ram_size);
void guest_memory_destroy(struct guest_memory *mem);

/* The same with `hotplug_size` bytes (a multiple of GUEST_MEMORY_HOTPLUG_ALIGN, or 0) of
 * device memory after the RAM, at a GUEST_MEMORY_HOTPLUG_ALIGN boundary (the last region). */
int guest_memory_create_hotplug(struct guest_memory *mem, uint64_t ram_size, uint64_t hotplug_size);
#define GUEST_MEMORY_HOTPLUG_ALIGN (1ULL << 30)

/* Lays out the regions for `ram_size` without mapping anything (host == NULL). */
void guest_memory_plan(struct guest_memory *mem, uint64_t ram_size);
/* Adds the device memory region to a plan (guest_memory_create_hotplug). */
void guest_memory_plan_hotplug(struct guest_memory *mem, uint64_t hotplug_size);
/* Every region's bytes: RAM and device memory (what a snapshot's memory file holds). */
uint64_t guest_memory_mapped_size(const struct guest_memory *mem);
/* The device memory region, or NULL. */
const struct guest_region *guest_memory_hotplug_region(const struct guest_memory *mem);

/* Host pointer for [gpa, gpa+len) or NULL if any byte is outside guest RAM. */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Sets the device-write log's bits for [gpa, gpa+len) (see guest_memory_log_start). */
void guest_memory_log_write(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* True while a migration logs device writes (between guest_memory_log_start and _stop). */
static inline bool guest_memory_logging(const struct guest_memory *mem)
{
	return __atomic_load_n(&mem->write_log[0], __ATOMIC_ACQUIRE) != NULL;
}

/* A device is about to write [gpa, gpa+len) (a writable virtio buffer it was handed): tells the
 * observer, if any, and the device-write log while it runs. Writes through
 * guest_memory_write() tell them themselves. */
static inline void guest_memory_note_write(const struct guest_memory *mem, uint64_t gpa,
					   uint64_t len)
{
	if (mem->observer.written)
		mem->observer.written(mem->observer.opaque, gpa, len);
	if (guest_memory_logging(mem))
		guest_memory_log_write(mem, gpa, len);
}

/* guest_memory_note_write for a buffer known by its host address (an iovec a device took
 * earlier and still holds); host addresses outside guest RAM are ignored. */
void guest_memory_note_host_write(const struct guest_memory *mem, const void *host, size_t len);

/* The log of device writes a migration needs (KVM's dirty log sees only the vCPUs'): from
 * log_start on, every range noted above sets its pages' bits, and the bits stay set until
 * log_stop, since a device may write a buffer long after it was noted (the caller sends all of
 * them once the devices are quiet). log_take ORs region i's bits into `bitmap` (a bit per 4 KiB
 * page, bit p of bitmap[p / 64]). */
int guest_memory_log_start(struct guest_memory *mem);
/* The 64-bit words of a bitmap with a bit per 4 KiB page of region r (the logs' layout). */
uint64_t guest_region_bitmap_words(const struct guest_region *r);
void guest_memory_log_take(const struct guest_memory *mem, unsigned region, uint64_t *bitmap);
void guest_memory_log_stop(struct guest_memory *mem);

/* Copy in and out of guest RAM; false if the range is not RAM. */
bool guest_memory_write(const struct guest_memory *mem, uint64_t gpa, const void *src, size_t len);
bool guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst, size_t len);

/* Highest guest-physical address + 1 that is RAM. */
uint64_t guest_memory_end(const struct guest_memory *mem);

#endif
