/* The DSDT's PCI slot devices, through which the guest's ACPI PCI hotplug (Linux: acpiphp) adds
 * and removes devices on bus 0 while it runs (acpi_config.pci_hotplug). Each slot but the host
 * bridge's is a child of \_SB.PCI0 over its status byte at LAYOUT_PORT_PCI_HOTPLUG + slot:
 *   Device (S05) {
 *     Name (_ADR, 0x00050000)  Name (_SUN, 5)
 *     OperationRegion (PREG, SystemIO, 0x645, 1)  Field (PREG, ByteAcc, ...) { PSTS, 8 }
 *     Method (_EJ0, 1) { PSTS = EJECT }
 *     Method (PSCN) { Local0 = PSTS
 *       If (Local0 & INSERT) { PSTS = INSERT  Notify (\_SB.PCI0.S05, 1) }    device check
 *       If (Local0 & REMOVE) { PSTS = REMOVE  Notify (\_SB.PCI0.S05, 3) } } } eject request
 * An _EJ0 is what makes Linux take the object for a hotplug slot; the slot has no _STA, so the
 * guest learns whether a device is there from the function's vendor ID, as on a PCI bus. The
 * Generic Event Device's _EVT calls each PSCN on a PCI hotplug event (acpi_pci_slots_scan). */
#include "machine/acpi.h"

#include "machine/layout.h"

#include <stdio.h>
#include <string.h>

#define PCI_SLOTS	     32
#define NOTIFY_DEVICE_CHECK  1
#define NOTIFY_EJECT_REQUEST 3

static void slot_path(unsigned slot, char path[24])
{
	snprintf(path, 24, "\\_SB.PCI0.S%02X", slot & 0xff); /* slot < PCI_SLOTS */
}

static void put_slot(struct aml_builder *b, unsigned slot)
{
	char name[8], path[24];
	snprintf(name, sizeof(name), "S%02X", slot & 0xff);
	slot_path(slot, path);
	aml_device_begin(b, name);
	aml_name_integer(b, "_ADR", (uint64_t)slot << 16);
	aml_name_integer(b, "_SUN", slot);
	aml_operation_region(b, "PREG", AML_REGION_SYSTEM_IO, LAYOUT_PORT_PCI_HOTPLUG + slot, 1);
	aml_field_begin(b, "PREG");
	aml_field_unit(b, "PSTS", 8);
	aml_field_end(b);
	aml_method_begin(b, "_EJ0", 1, true);
	aml_store_integer(b, LAYOUT_HP_EJECT, "PSTS");
	aml_method_end(b);
	aml_method_begin(b, "PSCN", 0, true);
	aml_store(b);
	aml_name_ref(b, "PSTS");
	aml_local(b, 0);
	aml_take_event(b, 0, LAYOUT_HP_INSERT, "PSTS", path, NOTIFY_DEVICE_CHECK);
	aml_take_event(b, 0, LAYOUT_HP_REMOVE, "PSTS", path, NOTIFY_EJECT_REQUEST);
	aml_method_end(b);
	aml_device_end(b);
}

void acpi_pci_slots_build(struct aml_builder *b, const struct acpi_config *cfg)
{
	if (!cfg->pci_hotplug)
		return;
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++)
		put_slot(b, slot);
}

void acpi_pci_slots_scan(struct aml_builder *b, const struct acpi_config *cfg)
{
	if (!cfg->pci_hotplug)
		return;
	aml_if_local_has(b, 0, LAYOUT_GED_EVENT_PCI_HOTPLUG);
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		char method[32];
		slot_path(slot, method);
		snprintf(method + strlen(method), sizeof(method) - strlen(method), ".PSCN");
		aml_name_ref(b, method);
	}
	aml_if_end(b);
}
