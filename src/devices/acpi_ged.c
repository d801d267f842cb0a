#include "devices/acpi_ged.h"

#include "machine/layout.h"

#include <string.h>

int acpi_ged_init(struct acpi_ged *dev, const struct irq_router *irq, uint32_t gsi)
{
	*dev = (struct acpi_ged){.irq = irq, .gsi = gsi};
	return 0;
}

/* The line is edge-triggered (the DSDT says IRQNoFlags: edge, active high), so an event is a
 * pulse. Events raised while the guest runs _EVT are not lost: their bit stays set and their
 * own pulse runs _EVT again. */
void acpi_ged_raise(struct acpi_ged *dev, uint8_t events)
{
	__atomic_fetch_or(&dev->pending, events, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&dev->raised, 1, __ATOMIC_RELAXED);
	irq_set_level(dev->irq, dev->gsi, true);
	irq_set_level(dev->irq, dev->gsi, false);
}

/* _EVT reads the register once per interrupt; the read hands over and clears what is
 * pending. Wider reads see the same byte followed by zeros. */
static void event_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct acpi_ged *dev = opaque;
	memset(data, 0, size);
	if (offset == 0 && size >= 1)
		*(uint8_t *)data = __atomic_exchange_n(&dev->pending, 0, __ATOMIC_SEQ_CST);
}

int acpi_ged_attach(struct acpi_ged *dev, struct io_bus *pio)
{
	/* Nothing to write: the register is read-to-clear. */
	return io_bus_register(pio, LAYOUT_PORT_GED, 1, event_io_read, NULL, dev, "acpi-ged");
}
