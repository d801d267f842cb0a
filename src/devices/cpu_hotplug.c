#include "devices/cpu_hotplug.h"

#include "machine/layout.h"

#include <string.h>

int cpu_hotplug_init(struct cpu_hotplug *hp, unsigned possible, unsigned present,
		     struct acpi_ged *ged, struct cpu_hotplug_ops ops)
{
	if (possible == 0 || possible > CPU_HOTPLUG_MAX_CPUS || present > possible)
		return -1;
	memset(hp, 0, sizeof(*hp));
	pthread_mutex_init(&hp->lock, NULL);
	hp->nr_cpus = possible;
	hp->ged = ged;
	hp->ops = ops;
	for (unsigned i = 0; i < present; i++)
		hp->status[i] = LAYOUT_CPU_HP_PRESENT;
	return 0;
}

void cpu_hotplug_destroy(struct cpu_hotplug *hp)
{
	if (hp->nr_cpus)
		pthread_mutex_destroy(&hp->lock);
	hp->nr_cpus = 0;
}

/* Sets `set` and clears `clear` in cpu's byte, then raises the CPU event. */
static void signal_cpu(struct cpu_hotplug *hp, unsigned cpu, uint8_t set, uint8_t clear)
{
	if (cpu >= hp->nr_cpus)
		return;
	pthread_mutex_lock(&hp->lock);
	hp->status[cpu] = (uint8_t)((hp->status[cpu] & ~clear) | set);
	pthread_mutex_unlock(&hp->lock);
	acpi_ged_raise(hp->ged, LAYOUT_GED_EVENT_CPU_HOTPLUG);
}

void cpu_hotplug_insert(struct cpu_hotplug *hp, unsigned cpu)
{
	signal_cpu(hp, cpu, LAYOUT_CPU_HP_PRESENT | LAYOUT_CPU_HP_INSERT, LAYOUT_CPU_HP_REMOVE);
}

void cpu_hotplug_request_removal(struct cpu_hotplug *hp, unsigned cpu)
{
	signal_cpu(hp, cpu, LAYOUT_CPU_HP_REMOVE, LAYOUT_CPU_HP_INSERT);
}

uint8_t cpu_hotplug_status(struct cpu_hotplug *hp, unsigned cpu)
{
	if (cpu >= hp->nr_cpus)
		return 0;
	pthread_mutex_lock(&hp->lock);
	uint8_t status = hp->status[cpu];
	pthread_mutex_unlock(&hp->lock);
	return status;
}

static void status_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct cpu_hotplug *hp = opaque;
	memset(data, 0, size);
	if (size == 1)
		*(uint8_t *)data = cpu_hotplug_status(hp, (unsigned)offset);
}

/* The guest takes events (their bits written back) and ejects. CPU 0 has no _EJ0, and an
 * eject of a CPU that is not present is nothing: whatever the guest writes, the VMM hears of
 * each CPU leaving once. */
static void status_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct cpu_hotplug *hp = opaque;
	unsigned cpu = (unsigned)offset;
	if (size != 1 || cpu >= hp->nr_cpus)
		return;
	uint8_t value = *(const uint8_t *)data;
	pthread_mutex_lock(&hp->lock);
	hp->status[cpu] &= (uint8_t) ~(value & (LAYOUT_CPU_HP_INSERT | LAYOUT_CPU_HP_REMOVE));
	bool ejected =
	    (value & LAYOUT_CPU_HP_EJECT) && cpu > 0 && (hp->status[cpu] & LAYOUT_CPU_HP_PRESENT);
	if (ejected)
		hp->status[cpu] = 0;
	pthread_mutex_unlock(&hp->lock);
	if (ejected && hp->ops.ejected)
		hp->ops.ejected(hp->ops.opaque, cpu);
}

int cpu_hotplug_attach(struct cpu_hotplug *hp, struct io_bus *pio)
{
	return io_bus_register(pio, LAYOUT_PORT_CPU_HOTPLUG, hp->nr_cpus, status_io_read,
			       status_io_write, hp, "cpu-hotplug");
}
