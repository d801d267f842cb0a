/* CPU hotplug's registers: a status byte per possible CPU at LAYOUT_PORT_CPU_HOTPLUG + index,
 * which the DSDT's processor devices read and write (machine/acpi_cpus.c; the bits are
 * machine/layout.h's LAYOUT_CPU_HP_*). The VMM marks a CPU inserted or asks for its removal;
 * either sets an event bit and raises the Generic Event Device's CPU event, on which the
 * guest scans every CPU, takes the event (writing its bit) and adds the CPU or offlines it.
 * A guest that let a CPU go writes EJECT (its _EJ0): the CPU is no longer present and the
 * VMM hears of it through ops.ejected. */
#ifndef GUREUM_DEVICES_CPU_HOTPLUG_H
#define GUREUM_DEVICES_CPU_HOTPLUG_H

#include "devices/acpi_ged.h"
#include "devices/io_bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CPU_HOTPLUG_MAX_CPUS 255

struct cpu_hotplug_ops {
	/* The guest ejected `cpu`. Called on the vCPU thread that ran _EJ0, without the
	 * device's lock: it must not wait for the vCPUs (a pause would wait for itself). */
	void (*ejected)(void *opaque, unsigned cpu);
	void *opaque;
};

struct cpu_hotplug {
	pthread_mutex_t lock;
	unsigned nr_cpus; /* possible CPUs: registers 0 .. nr_cpus - 1 */
	uint8_t status[CPU_HOTPLUG_MAX_CPUS];
	struct acpi_ged *ged;
	struct cpu_hotplug_ops ops;
};

/* CPUs 0 .. present - 1 are present (those at boot, or those a snapshot had). Returns 0, or
 * -1 when `possible` is 0 or above CPU_HOTPLUG_MAX_CPUS, or present above it. */
int cpu_hotplug_init(struct cpu_hotplug *hp, unsigned possible, unsigned present,
		     struct acpi_ged *ged, struct cpu_hotplug_ops ops);
void cpu_hotplug_destroy(struct cpu_hotplug *hp);
/* Registers the status bytes. Returns 0, or -1 if a port is taken. */
int cpu_hotplug_attach(struct cpu_hotplug *hp, struct io_bus *pio);

/* `cpu` arrived: present, and the guest is told (a device check). A removal it was asked
 * for and has not done is called off. */
void cpu_hotplug_insert(struct cpu_hotplug *hp, unsigned cpu);
/* The guest is asked to let `cpu` go (an eject request); it stays present until it does. */
void cpu_hotplug_request_removal(struct cpu_hotplug *hp, unsigned cpu);
/* The status byte of `cpu` (LAYOUT_CPU_HP_* bits); 0 for a CPU beyond the possible ones. */
uint8_t cpu_hotplug_status(struct cpu_hotplug *hp, unsigned cpu);

#endif
