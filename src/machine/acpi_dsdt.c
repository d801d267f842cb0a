/* The DSDT's content: the PCI host bridge, the legacy ISA devices that are present, any extra
 * devices the VMM declares, and the \_S5_ sleep type Linux uses to power off. Devices are data
 * (struct acpi_device) so that adding one is a table entry, not new AML code. */
#include "machine/acpi.h"

#include "machine/layout.h"

#define PCI_SLOTS		   32
#define PCI_PINS		   4 /* INTA..INTD */
#define PCI_ROUTED_GSIS		   8 /* GSIs LAYOUT_GSI_PCI_FIRST .. +7 carry all PCI INTx lines */
#define PCI_BUSES		   LAYOUT_PCI_BUSES
#define PCI_ANY_FUNCTION	   0xffff
#define ACPI_NOTIFY_BUTTON_PRESSED 0x80

static const struct acpi_device com1 = {
    .name = "COM1",
    .hid = "PNP0501",
    .has_uid = true,
    .uid = 1,
    .nr_resources = 2,
    .resources = {{ACPI_RES_IO, LAYOUT_PORT_UART0, 8}, {ACPI_RES_IRQ, LAYOUT_GSI_UART0, 0}},
};

static const struct acpi_device rtc = {
    .name = "RTC",
    .hid = "PNP0B00",
    .nr_resources = 2,
    .resources = {{ACPI_RES_IO, LAYOUT_PORT_RTC, 2}, {ACPI_RES_IRQ, LAYOUT_GSI_RTC, 0}},
};

/* The i8042's data port is 0x60 and its command/status port 0x64. */
static const struct acpi_device i8042 = {
    .name = "KBD",
    .hid = "PNP0303",
    .nr_resources = 3,
    .resources = {{ACPI_RES_IO, LAYOUT_PORT_I8042, 1},
		  {ACPI_RES_IO, LAYOUT_PORT_I8042 + 4, 1},
		  {ACPI_RES_IRQ, 1, 0}},
};

/* Motherboard resources: Linux wants the ECAM area reserved here (or in e820) before it trusts
 * the MCFG table. */
static const struct acpi_device motherboard = {
    .name = "MRES",
    .hid = "PNP0C02",
    .nr_resources = 1,
    .resources = {{ACPI_RES_MEM32, LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE}},
};

static void put_resource(struct aml_builder *b, const struct acpi_resource *r)
{
	switch (r->kind) {
	case ACPI_RES_IO:
		if (r->base > UINT16_MAX || r->len > UINT8_MAX)
			aml_fail(b, "IO resource 0x%x+%u: ports are 16 bits, lengths 8 bits",
				 r->base, r->len);
		else
			aml_res_io(b, (uint16_t)r->base, (uint8_t)r->len);
		break;
	case ACPI_RES_IRQ:
		aml_res_irq_noflags(b, r->base);
		break;
	case ACPI_RES_MEM32:
		aml_res_memory32_fixed(b, r->base, r->len);
		break;
	case ACPI_RES_INTERRUPT:
		aml_res_interrupt_level_high(b, r->base);
		break;
	}
}

/* Name(_HID, EisaId(...)) for IDs of that form, Name(_HID, "...") for the others. */
static void put_hid(struct aml_builder *b, const char *hid)
{
	uint32_t unused;
	if (aml_eisaid_value(hid, &unused))
		aml_name_eisaid(b, "_HID", hid);
	else
		aml_name_string(b, "_HID", hid);
}

static void put_device(struct aml_builder *b, const struct acpi_device *d)
{
	aml_device_begin(b, d->name);
	put_hid(b, d->hid);
	if (d->has_uid)
		aml_name_integer(b, "_UID", d->uid);
	if (d->nr_resources > ACPI_DEVICE_MAX_RESOURCES) {
		aml_fail(b, "device %s: more than %d resources", d->name,
			 ACPI_DEVICE_MAX_RESOURCES);
		return;
	}
	aml_name_decl(b, "_CRS");
	aml_resources_begin(b);
	for (unsigned i = 0; i < d->nr_resources; i++)
		put_resource(b, &d->resources[i]);
	aml_resources_end(b);
	aml_device_end(b);
}

static void put_pci_crs(struct aml_builder *b)
{
	aml_name_decl(b, "_CRS");
	aml_resources_begin(b);
	aml_res_word_bus_number(b, 0, PCI_BUSES - 1);
	aml_res_io(b, LAYOUT_PORT_PCI_CONFIG, 8); /* consumed by the bridge itself */
	aml_res_word_io(b, 0x0000, LAYOUT_PORT_PCI_CONFIG - 1);
	aml_res_word_io(b, LAYOUT_PORT_PCI_CONFIG + 8, 0xffff);
	aml_res_dword_memory(b, LAYOUT_PCI_MMIO_START, LAYOUT_PCI_MMIO_END - 1);
	aml_resources_end(b);
}

unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin)
{
	return LAYOUT_GSI_PCI_FIRST + (slot + pin) % PCI_ROUTED_GSIS;
}

/* _PRT entries: Package { address (slot << 16 | any function), pin, source 0 (= the GSI is
 * global, no link device), GSI }. Slot 0 is the host bridge and raises no interrupts. */
static void put_pci_prt(struct aml_builder *b)
{
	aml_name_decl(b, "_PRT");
	aml_package_begin(b);
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			aml_package_begin(b);
			aml_integer(b, (uint64_t)slot << 16 | PCI_ANY_FUNCTION);
			aml_integer(b, pin);
			aml_integer(b, 0);
			aml_integer(b, acpi_pci_intx_gsi(slot, pin));
			aml_package_end(b);
		}
	}
	aml_package_end(b);
}

static void put_pci_host_bridge(struct aml_builder *b, const struct acpi_config *cfg)
{
	aml_device_begin(b, "PCI0");
	aml_name_eisaid(b, "_HID", "PNP0A08"); /* PCI Express root bridge */
	aml_name_eisaid(b, "_CID", "PNP0A03"); /* compatible with a PCI root bridge */
	aml_name_integer(b, "_SEG", 0);
	aml_name_integer(b, "_BBN", 0);
	aml_name_integer(b, "_UID", 0);
	put_pci_crs(b);
	put_pci_prt(b);
	acpi_pci_slots_build(b, cfg);
	aml_device_end(b);
}

static const struct acpi_device power_button = {
    .name = "PWRB",
    .hid = "PNP0C0C",
    .has_uid = true,
    .uid = 0,
};

/* The Generic Event Device: _EVT runs on each pulse of its line, reads the pending events
 * (which clears them) and notifies the device of each; 0x80 on a power button is "pressed".
 *   Device (GED) { Name (_HID, "ACPI0013"), Name (_UID, 0), Name (_CRS, IRQNoFlags {10}),
 *     OperationRegion (GDST, SystemIO, 0x603, 1), Field (GDST, ByteAcc, ...) { GDAT, 8 }
 *     Method (_EVT, 1, Serialized) {
 *       Store (GDAT, Local0)
 *       If (And (Local0, 1)) { Notify (\_SB.PWRB, 0x80) } } } */
static void put_generic_event_device(struct aml_builder *b, const struct acpi_config *cfg)
{
	aml_device_begin(b, "GED");
	aml_name_string(b, "_HID", "ACPI0013");
	aml_name_integer(b, "_UID", 0);
	aml_name_decl(b, "_CRS");
	aml_resources_begin(b);
	aml_res_irq_noflags(b, LAYOUT_GSI_GED);
	aml_resources_end(b);
	aml_operation_region(b, "GDST", AML_REGION_SYSTEM_IO, LAYOUT_PORT_GED, 1);
	aml_field_begin(b, "GDST");
	aml_field_unit(b, "GDAT", 8);
	aml_field_end(b);
	aml_method_begin(b, "_EVT", 1, true);
	aml_store(b);
	aml_name_ref(b, "GDAT");
	aml_local(b, 0);
	aml_if_local_has(b, 0, LAYOUT_GED_EVENT_POWER_BUTTON);
	aml_notify(b);
	aml_name_ref(b, "\\_SB.PWRB");
	aml_integer(b, ACPI_NOTIFY_BUTTON_PRESSED);
	aml_if_end(b);
	acpi_cpus_scan(b, cfg);
	acpi_pci_slots_scan(b, cfg);
	aml_method_end(b);
	aml_device_end(b);
}

/* Reduced-hardware sleep: Linux writes SLP_TYP << 2 | SLP_EN to the sleep control register,
 * taking SLP_TYP from here; the register's emulation treats that SLP_TYP as "power off". */
static void put_s5(struct aml_builder *b)
{
	aml_name_decl(b, "\\_S5_");
	aml_package_begin(b);
	aml_integer(b, LAYOUT_ACPI_SLP_TYP_S5);
	aml_integer(b, 0);
	aml_package_end(b);
}

void acpi_dsdt_build(struct aml_builder *b, const struct acpi_config *cfg)
{
	aml_scope_begin(b, "\\_SB");
	put_pci_host_bridge(b, cfg);
	put_device(b, &motherboard);
	if (cfg->has_uart0)
		put_device(b, &com1);
	if (cfg->has_rtc)
		put_device(b, &rtc);
	if (cfg->has_i8042)
		put_device(b, &i8042);
	/* The processor devices go before the GED, whose _EVT calls their methods. */
	acpi_cpus_build(b, cfg);
	if (cfg->has_power_button || acpi_has_cpu_hotplug(cfg) || cfg->pci_hotplug) {
		put_device(b, &power_button);
		put_generic_event_device(b, cfg);
	}
	for (unsigned i = 0; i < cfg->nr_extra_devices; i++)
		put_device(b, &cfg->extra_devices[i]);
	aml_scope_end(b);
	put_s5(b);
}
