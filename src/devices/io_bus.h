/* Address-decoded buses for port I/O and MMIO. A device registers a range with read/write
 * callbacks; the vCPU exit handler dispatches accesses. Accesses to unclaimed addresses read
 * as all-ones and ignore writes, as on real hardware, and never fail the VM. */
#ifndef GUREUM_DEVICES_IO_BUS_H
#define GUREUM_DEVICES_IO_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `offset` is relative to the registered base; `size` is 1, 2, 4 or 8. An access lies within
 * the range, except for ranges registered with io_bus_register_overrun(). */
typedef void (*io_read_fn)(void *opaque, uint64_t offset, void *data, unsigned size);
typedef void (*io_write_fn)(void *opaque, uint64_t offset, const void *data, unsigned size);

struct io_range {
	uint64_t base, len;
	io_read_fn read;
	io_write_fn write;
	void *opaque;
	const char *name;
	uint64_t accesses; /* for --stats: which device costs the guest exits */
	bool overrun;	   /* takes accesses that run past its end (io_bus_register_overrun) */
};

/* The most frequently hit unclaimed addresses, for --stats and for spotting missing devices. */
#define IO_BUS_UNCLAIMED_SLOTS 8
struct io_unclaimed {
	uint64_t addr;
	uint64_t count; /* upper bound on the hits (space-saving sketch) */
	uint64_t error; /* how much of count was inherited from the evicted address */
};

struct io_bus {
	const char *name;
	struct io_range *ranges; /* sorted by base, non-overlapping */
	size_t count, capacity;
	/* Serialises device emulation between vCPU threads and the event loop. Devices are
	 * small and their handlers short, so one lock per bus is enough for now. */
	pthread_mutex_t lock;
	/* Guards the range table (and the counters) alone, for the moment of a lookup, so that
	 * ranges can come and go while the VM runs (a guest moving a PCI BAR) -- even from inside
	 * another range's handler, and without the dispatch lock, which a thread that handles a
	 * port I/O access and then remaps MMIO must not take (lock order pio -> mmio). */
	pthread_mutex_t ranges_lock;
	uint64_t unclaimed_accesses;
	struct io_unclaimed unclaimed[IO_BUS_UNCLAIMED_SLOTS];
};

void io_bus_init(struct io_bus *bus, const char *name);
void io_bus_destroy(struct io_bus *bus);
/* Returns 0, or -1 if the range overlaps an existing one or is empty. A NULL `write` makes the
 * range read-only: writes are taken and ignored. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
		    io_write_fn write, void *opaque, const char *name);
/* The same for a device that takes, whole, an access that starts in its range and runs past
 * its end (otherwise unclaimed), as QEMU's memory core hands an I/O access to the region its
 * first byte falls in: the handlers then see `offset + size` beyond `len`. */
int io_bus_register_overrun(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
			    io_write_fn write, void *opaque, const char *name);
/* Removes the range registered at exactly `base` with `opaque`. Returns 0, or -1 if there is
 * none. A handler of that range already running on another thread may still finish. */
int io_bus_unregister(struct io_bus *bus, uint64_t base, void *opaque);
/* Returns true when a device claimed the access. */
bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned size);
bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned size);

#endif
