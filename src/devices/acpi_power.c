#include "devices/acpi_power.h"

#include "machine/layout.h"

#include <string.h>

int acpi_power_init(struct acpi_power *dev, struct power_callbacks power)
{
	*dev = (struct acpi_power){.power = power};
	return 0;
}

static void sleep_control_write(struct acpi_power *dev, uint8_t value)
{
	unsigned slp_typ = (value >> ACPI_POWER_SLP_TYP_SHIFT) & ACPI_POWER_SLP_TYP_MASK;
	/* Other sleep states (S1..S4) are not offered by the DSDT; a write naming them is
	 * ignored rather than treated as poweroff. */
	if ((value & ACPI_POWER_SLP_EN) && slp_typ == LAYOUT_ACPI_SLP_TYP_S5)
		power_request_poweroff(&dev->power);
}

static void reset_write(struct acpi_power *dev, uint8_t value)
{
	if (value == LAYOUT_ACPI_RESET_VALUE)
		power_request_reset(&dev->power);
}

/* The registers are one byte each; a wider access would span a neighbour, so it is ignored
 * (the io_bus does not even route it to us, the ranges being 1 byte long). */
static void sleep_control_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)offset;
	if (size == 1)
		sleep_control_write(opaque, *(const uint8_t *)data);
}

static void reset_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	(void)offset;
	if (size == 1)
		reset_write(opaque, *(const uint8_t *)data);
}

/* Sleep control is write-only and sleep status has nothing to report: we never sleep, so WAK_STS
 * is never set and clearing it (write 1) has nothing to do. Both read 0. */
static void zero_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
}

int acpi_power_attach(struct acpi_power *dev, struct io_bus *pio)
{
	if (io_bus_register(pio, LAYOUT_PORT_SLEEP_CTL, 1, zero_io_read, sleep_control_io_write,
			    dev, "acpi-sleep-control"))
		return -1;
	if (io_bus_register(pio, LAYOUT_PORT_SLEEP_STS, 1, zero_io_read, NULL, dev,
			    "acpi-sleep-status"))
		return -1;
	return io_bus_register(pio, LAYOUT_PORT_RESET, 1, zero_io_read, reset_io_write, dev,
			       "acpi-reset");
}
