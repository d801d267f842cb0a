#include "devices/io_bus.h"

#include <stdlib.h>
#include <string.h>

void io_bus_init(struct io_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->ranges_lock, NULL);
}

void io_bus_destroy(struct io_bus *bus)
{
	free(bus->ranges);
	pthread_mutex_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->ranges_lock);
	bus->ranges = NULL;
	bus->count = bus->capacity = 0;
}

static int insert_range(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
			io_write_fn write, void *opaque, const char *name, bool overrun)
{
	size_t pos = 0;
	while (pos < bus->count && bus->ranges[pos].base < base)
		pos++;
	if (pos > 0 && bus->ranges[pos - 1].base + bus->ranges[pos - 1].len > base)
		return -1;
	if (pos < bus->count && base + len > bus->ranges[pos].base)
		return -1;
	if (bus->count == bus->capacity) {
		size_t capacity = bus->capacity ? bus->capacity * 2 : 16;
		struct io_range *grown = realloc(bus->ranges, capacity * sizeof(*grown));
		if (!grown)
			return -1;
		bus->ranges = grown;
		bus->capacity = capacity;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->count - pos) * sizeof(*bus->ranges));
	bus->ranges[pos] = (struct io_range){base, len, read, write, opaque, name, 0, overrun};
	bus->count++;
	return 0;
}

static int add_range(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
		     io_write_fn write, void *opaque, const char *name, bool overrun)
{
	if (len == 0 || base + len < base)
		return -1;
	pthread_mutex_lock(&bus->ranges_lock);
	int rc = insert_range(bus, base, len, read, write, opaque, name, overrun);
	pthread_mutex_unlock(&bus->ranges_lock);
	return rc;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
		    io_write_fn write, void *opaque, const char *name)
{
	return add_range(bus, base, len, read, write, opaque, name, false);
}

int io_bus_register_overrun(struct io_bus *bus, uint64_t base, uint64_t len, io_read_fn read,
			    io_write_fn write, void *opaque, const char *name)
{
	return add_range(bus, base, len, read, write, opaque, name, true);
}

int io_bus_unregister(struct io_bus *bus, uint64_t base, void *opaque)
{
	int rc = -1;
	pthread_mutex_lock(&bus->ranges_lock);
	for (size_t i = 0; i < bus->count; i++) {
		if (bus->ranges[i].base == base && bus->ranges[i].opaque == opaque) {
			memmove(&bus->ranges[i], &bus->ranges[i + 1],
				(bus->count - i - 1) * sizeof(*bus->ranges));
			bus->count--;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&bus->ranges_lock);
	return rc;
}

static void note_unclaimed(struct io_bus *bus, uint64_t addr)
{
	bus->unclaimed_accesses++;
	struct io_unclaimed *least = &bus->unclaimed[0];
	for (int i = 0; i < IO_BUS_UNCLAIMED_SLOTS; i++) {
		struct io_unclaimed *slot = &bus->unclaimed[i];
		if (slot->count && slot->addr == addr) {
			slot->count++;
			return;
		}
		if (slot->count < least->count)
			least = slot;
	}
	/* Space-saving sketch: a new address replaces the rarest one, so frequent ones stay. */
	least->addr = addr;
	least->error = least->count;
	least->count++;
}

static struct io_range *find_range(struct io_bus *bus, uint64_t addr, unsigned size)
{
	size_t lo = 0, hi = bus->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct io_range *r = &bus->ranges[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return addr - r->base + size <= r->len || r->overrun ? r : NULL;
	}
	return NULL;
}

/* What a dispatch needs of a range, copied under ranges_lock: the table may change while the
 * handler runs. Counts the access (claimed or not). */
struct io_target {
	io_read_fn read;
	io_write_fn write;
	void *opaque;
	uint64_t offset;
	bool claimed;
};

static struct io_target lookup(struct io_bus *bus, uint64_t addr, unsigned size)
{
	struct io_target t = {0};
	pthread_mutex_lock(&bus->ranges_lock);
	struct io_range *r = find_range(bus, addr, size);
	if (r) {
		t = (struct io_target){r->read, r->write, r->opaque, addr - r->base, true};
		r->accesses++;
	} else {
		note_unclaimed(bus, addr);
	}
	pthread_mutex_unlock(&bus->ranges_lock);
	return t;
}

bool io_bus_read(struct io_bus *bus, uint64_t addr, void *data, unsigned size)
{
	pthread_mutex_lock(&bus->lock);
	struct io_target t = lookup(bus, addr, size);
	if (t.read)
		t.read(t.opaque, t.offset, data, size);
	else
		memset(data, 0xff, size);
	pthread_mutex_unlock(&bus->lock);
	return t.claimed;
}

bool io_bus_write(struct io_bus *bus, uint64_t addr, const void *data, unsigned size)
{
	pthread_mutex_lock(&bus->lock);
	struct io_target t = lookup(bus, addr, size);
	if (t.write)
		t.write(t.opaque, t.offset, data, size);
	pthread_mutex_unlock(&bus->lock);
	return t.claimed;
}
