#include "devices/hotplug_slots.h"

#include "machine/layout.h"

#include <string.h>

int hotplug_slots_init(struct hotplug_slots *hp, struct hotplug_slots_kind kind, unsigned count,
		       unsigned present, struct acpi_ged *ged, struct hotplug_slots_ops ops)
{
	if (count == 0 || count > HOTPLUG_SLOTS_MAX || present > count)
		return -1;
	memset(hp, 0, sizeof(*hp));
	pthread_mutex_init(&hp->lock, NULL);
	hp->nr_slots = count;
	hp->kind = kind;
	hp->ged = ged;
	hp->ops = ops;
	for (unsigned i = 0; i < present; i++)
		hp->status[i] = LAYOUT_HP_PRESENT;
	return 0;
}

void hotplug_slots_destroy(struct hotplug_slots *hp)
{
	if (hp->nr_slots)
		pthread_mutex_destroy(&hp->lock);
	hp->nr_slots = 0;
}

/* Sets `set` and clears `clear` in the slot's byte, and records whether it is leaving. */
static void update(struct hotplug_slots *hp, unsigned slot, uint8_t set, uint8_t clear,
		   bool leaving)
{
	if (slot >= hp->nr_slots)
		return;
	pthread_mutex_lock(&hp->lock);
	hp->status[slot] = (uint8_t)((hp->status[slot] & ~clear) | set);
	hp->leaving[slot] = leaving;
	pthread_mutex_unlock(&hp->lock);
}

void hotplug_slots_set_present(struct hotplug_slots *hp, unsigned slot, bool present)
{
	update(hp, slot, present ? LAYOUT_HP_PRESENT : 0, present ? 0 : 0xff, false);
}

/* The same, then raises the event. */
static void signal_slot(struct hotplug_slots *hp, unsigned slot, uint8_t set, uint8_t clear,
			bool leaving)
{
	if (slot >= hp->nr_slots)
		return;
	update(hp, slot, set, clear, leaving);
	acpi_ged_raise(hp->ged, hp->kind.event);
}

void hotplug_slots_insert(struct hotplug_slots *hp, unsigned slot)
{
	signal_slot(hp, slot, LAYOUT_HP_PRESENT | LAYOUT_HP_INSERT, LAYOUT_HP_REMOVE, false);
}

void hotplug_slots_request_removal(struct hotplug_slots *hp, unsigned slot)
{
	signal_slot(hp, slot, LAYOUT_HP_REMOVE, LAYOUT_HP_INSERT, true);
}

uint8_t hotplug_slots_status(struct hotplug_slots *hp, unsigned slot)
{
	if (slot >= hp->nr_slots)
		return 0;
	pthread_mutex_lock(&hp->lock);
	uint8_t status = hp->status[slot];
	pthread_mutex_unlock(&hp->lock);
	return status;
}

bool hotplug_slots_leaving(struct hotplug_slots *hp, unsigned slot)
{
	if (slot >= hp->nr_slots)
		return false;
	pthread_mutex_lock(&hp->lock);
	bool leaving = hp->leaving[slot] && (hp->status[slot] & LAYOUT_HP_PRESENT);
	pthread_mutex_unlock(&hp->lock);
	return leaving;
}

static void status_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct hotplug_slots *hp = opaque;
	memset(data, 0, size);
	if (size == 1)
		*(uint8_t *)data = hotplug_slots_status(hp, (unsigned)offset);
}

/* The guest takes events (their bits written back) and ejects. Slot 0 has no _EJ0, and an
 * eject of a slot that is not present is nothing: whatever the guest writes, the VMM hears of
 * each device leaving once. */
static void status_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct hotplug_slots *hp = opaque;
	unsigned slot = (unsigned)offset;
	if (size != 1 || slot >= hp->nr_slots)
		return;
	uint8_t value = *(const uint8_t *)data;
	pthread_mutex_lock(&hp->lock);
	hp->status[slot] &= (uint8_t) ~(value & (LAYOUT_HP_INSERT | LAYOUT_HP_REMOVE));
	bool ejected =
	    (value & LAYOUT_HP_EJECT) && slot > 0 && (hp->status[slot] & LAYOUT_HP_PRESENT);
	if (ejected) {
		hp->status[slot] = 0;
		hp->leaving[slot] = false;
	}
	pthread_mutex_unlock(&hp->lock);
	if (ejected && hp->ops.ejected)
		hp->ops.ejected(hp->ops.opaque, slot);
}

int hotplug_slots_attach(struct hotplug_slots *hp, struct io_bus *pio)
{
	return io_bus_register(pio, hp->kind.port, hp->nr_slots, status_io_read, status_io_write,
			       hp, hp->kind.name);
}
