/* The ACPI Generic Event Device (ACPI 6.x, 5.6.9): how a hardware-reduced machine, which has
 * no SCI and no fixed-feature event registers, tells the guest that something happened, here
 * that the power button was pressed. An event sets its bit in a one-byte register and pulses
 * an interrupt line; the DSDT's GED device (machine/acpi_dsdt.c) names that line, and its _EVT
 * method reads the register, which clears it, and notifies the device each set bit stands for
 * (ACPI_GED_POWER_BUTTON: \_SB.PWRB, Notify 0x80, which Linux's button driver reports as the
 * KEY_POWER key). The register is at LAYOUT_PORT_GED, the line is LAYOUT_GSI_GED. */
#ifndef GUREUM_DEVICES_ACPI_GED_H
#define GUREUM_DEVICES_ACPI_GED_H

#include "accel/irq.h"
#include "devices/io_bus.h"

#include <stdint.h>

#include "machine/layout.h"

#define ACPI_GED_POWER_BUTTON LAYOUT_GED_EVENT_POWER_BUTTON

struct acpi_ged {
	const struct irq_router *irq;
	uint32_t gsi;
	uint8_t pending; /* events the guest has not read yet; accessed atomically */
	uint64_t raised; /* events raised, for the log and tests */
};

int acpi_ged_init(struct acpi_ged *dev, const struct irq_router *irq, uint32_t gsi);
/* Registers the event register at LAYOUT_PORT_GED. Returns 0, or -1 if the port is taken. */
int acpi_ged_attach(struct acpi_ged *dev, struct io_bus *pio);
/* Sets `events` pending and interrupts the guest. Any thread may call it. */
void acpi_ged_raise(struct acpi_ged *dev, uint8_t events);

#endif
