/* ACPI hotplug registers: a status byte per slot at `port` + index, which the DSDT's devices for
 * those slots read and write (machine/acpi_cpus.c for vCPUs, machine/acpi_pci_slots.c for PCI
 * slots; the bits are machine/layout.h's LAYOUT_HP_*). The VMM marks a slot inserted or asks for
 * its removal; either sets an event bit and raises the Generic Event Device's event for this
 * kind of slot, on which the guest scans every slot, takes the event (writing its bit) and adds
 * the device or lets it go. A guest that let a device go writes EJECT (its _EJ0): the slot is no
 * longer present and the VMM hears of it through ops.ejected. Slot 0 (the boot CPU, the PCI host
 * bridge) cannot be ejected. */
#ifndef GUREUM_DEVICES_HOTPLUG_SLOTS_H
#define GUREUM_DEVICES_HOTPLUG_SLOTS_H

#include "devices/acpi_ged.h"
#include "devices/io_bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define HOTPLUG_SLOTS_MAX 255

struct hotplug_slots_ops {
	/* The guest ejected `slot`. Called on the vCPU thread that ran _EJ0, without the
	 * device's lock: it must not wait for the vCPUs (a pause would wait for itself). */
	void (*ejected)(void *opaque, unsigned slot);
	void *opaque;
};

/* Which registers and which event: fixed by the board. */
struct hotplug_slots_kind {
	const char *name; /* the port range's name ("cpu-hotplug") */
	uint16_t port;	  /* status byte of slot 0 */
	uint8_t event;	  /* the GED event bit (LAYOUT_GED_EVENT_*) */
};

struct hotplug_slots {
	pthread_mutex_t lock;
	unsigned nr_slots; /* registers 0 .. nr_slots - 1 */
	uint8_t status[HOTPLUG_SLOTS_MAX];
	/* Asked to go and not yet ejected: the VMM's own record, since the guest clears
	 * LAYOUT_HP_REMOVE when it takes the request, well before its _EJ0. */
	bool leaving[HOTPLUG_SLOTS_MAX];
	struct hotplug_slots_kind kind;
	struct acpi_ged *ged;
	struct hotplug_slots_ops ops;
};

/* Slots 0 .. present - 1 are present (the CPUs at boot, or those a snapshot had); others are
 * marked with hotplug_slots_set_present. Returns 0, or -1 when `count` is 0 or above
 * HOTPLUG_SLOTS_MAX, or present above it. */
int hotplug_slots_init(struct hotplug_slots *hp, struct hotplug_slots_kind kind, unsigned count,
		       unsigned present, struct acpi_ged *ged, struct hotplug_slots_ops ops);
void hotplug_slots_destroy(struct hotplug_slots *hp);
/* Registers the status bytes. Returns 0, or -1 if a port is taken. */
int hotplug_slots_attach(struct hotplug_slots *hp, struct io_bus *pio);

/* Present or not without telling the guest (what it finds at boot). */
void hotplug_slots_set_present(struct hotplug_slots *hp, unsigned slot, bool present);
/* `slot` got its device: present, and the guest is told (a device check). A removal it was
 * asked for and has not done is called off. */
void hotplug_slots_insert(struct hotplug_slots *hp, unsigned slot);
/* The guest is asked to let `slot` go (an eject request); it stays present until it does. */
void hotplug_slots_request_removal(struct hotplug_slots *hp, unsigned slot);
/* The status byte of `slot` (LAYOUT_HP_* bits); 0 for a slot beyond the last. */
uint8_t hotplug_slots_status(struct hotplug_slots *hp, unsigned slot);
/* Whether `slot` was asked to go and is still present: from the removal request until the
 * guest ejects it or an insert calls the removal off, whether or not the guest has taken the
 * request yet. */
bool hotplug_slots_leaving(struct hotplug_slots *hp, unsigned slot);

#endif
