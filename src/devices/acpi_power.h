/* The ACPI reduced-hardware power registers (ACPI 6.x, 4.8.3.7 and 4.8.3.6): the sleep control
 * register, the sleep status register and the reset register, one byte each at the ports the
 * layout gives them. The firmware tables (machine/acpi.c) describe them from the same
 * machine/layout.h: SLEEP_CONTROL_REG at LAYOUT_PORT_SLEEP_CTL, SLEEP_STATUS_REG at
 * LAYOUT_PORT_SLEEP_STS, RESET_REG at LAYOUT_PORT_RESET with RESET_VALUE =
 * LAYOUT_ACPI_RESET_VALUE, and the DSDT's \_S5 package gives SLP_TYP = LAYOUT_ACPI_SLP_TYP_S5. */
#ifndef GUREUM_DEVICES_ACPI_POWER_H
#define GUREUM_DEVICES_ACPI_POWER_H

#include "devices/io_bus.h"
#include "devices/power.h"

#define ACPI_POWER_SLP_EN	 0x20 /* sleep control: bit 5 starts the transition */
#define ACPI_POWER_SLP_TYP_SHIFT 2    /* sleep control: bits 2..4 say which state */
#define ACPI_POWER_SLP_TYP_MASK	 0x07
#define ACPI_POWER_WAK_STS	 0x80 /* sleep status: bit 7, write 1 to clear */

struct acpi_power {
	struct power_callbacks power;
};

int acpi_power_init(struct acpi_power *dev, struct power_callbacks power);
/* Registers the three 1-byte registers. Returns 0, or -1 if a port is taken. */
int acpi_power_attach(struct acpi_power *dev, struct io_bus *pio);

#endif
