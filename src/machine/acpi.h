/* The guest's ACPI tables: RSDP, XSDT, FADT (hardware-reduced), DSDT, MADT and MCFG, placed in
 * the legacy BIOS area [LAYOUT_ACPI_START, LAYOUT_ACPI_END) where Linux scans for the RSDP. */
#ifndef GUREUM_MACHINE_ACPI_H
#define GUREUM_MACHINE_ACPI_H

#include "machine/aml.h"
#include "machine/guest_memory.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* KVM's own vCPU limit on current kernels (KVM_MAX_VCPUS); the MADT itself could hold more. */
#define ACPI_MAX_CPUS 1024

/* xAPIC IDs are 8 bits and 0xff is the broadcast ID: CPUs from this index on get x2APIC entries
 * (the guest must then run its local APICs in x2APIC mode to use them). */
#define ACPI_FIRST_X2APIC_CPU 255

/* The I/O APIC's ID in the MADT. 0 because that is what KVM's in-kernel I/O APIC reports in its
 * ID register after reset (and what QEMU uses); since the xAPIC, I/O APIC and local APIC IDs no
 * longer share an APIC bus, so they need not differ, and 0 keeps fitting the 8-bit field however
 * many CPUs there are. */
#define ACPI_IOAPIC_ID 0

/* One resource of a device declared in the DSDT. */
enum acpi_resource_kind {
	ACPI_RES_IO,	    /* ports [base, base + len) */
	ACPI_RES_IRQ,	    /* ISA IRQ `base` (0..15), edge, active high */
	ACPI_RES_MEM32,	    /* fixed MMIO range [base, base + len) */
	ACPI_RES_INTERRUPT, /* GSI `base`, level, active high (e.g. virtio-mmio lines >= 16) */
};

struct acpi_resource {
	enum acpi_resource_kind kind;
	uint32_t base;
	uint32_t len;
};

#define ACPI_DEVICE_MAX_RESOURCES 4

/* A device under \_SB. `hid` is an EISA ID ("PNP0501") or any other _HID string. */
struct acpi_device {
	const char *name; /* 1..4 characters, e.g. "COM1" */
	const char *hid;
	bool has_uid;
	uint32_t uid;
	unsigned nr_resources;
	struct acpi_resource resources[ACPI_DEVICE_MAX_RESOURCES];
};

/* CPUs that can be added while the guest runs (max_cpus) have xAPIC IDs: below 255. */
#define ACPI_MAX_HOTPLUG_CPUS ACPI_FIRST_X2APIC_CPU

struct acpi_config {
	unsigned nr_cpus; /* enabled at boot: 0 .. nr_cpus - 1 */
	/* With cpu_hotplug: CPUs nr_cpus .. max_cpus - 1 can be added later, and any but CPU 0
	 * removed, through the DSDT's processor devices (machine/acpi_cpus.c). */
	bool cpu_hotplug;
	unsigned max_cpus;
	bool has_uart0; /* COM1 0x3f8 IRQ4 */
	bool has_rtc;
	bool has_i8042;
	/* A power button (PNP0C0C) and the Generic Event Device that reports its presses
	 * (devices/acpi_ged.h: register LAYOUT_PORT_GED, line LAYOUT_GSI_GED). */
	bool has_power_button;
	/* PCI slots 1-31 of bus 0 as hotplug slots (machine/acpi_pci_slots.c), with the GED. */
	bool pci_hotplug;
	/* Further devices to declare under \_SB (optional: NULL/0 for none). */
	const struct acpi_device *extra_devices;
	unsigned nr_extra_devices;
};

/* Builds RSDP, XSDT, FADT, DSDT, MADT, MCFG into guest RAM starting at LAYOUT_ACPI_START (RSDP
 * first, at exactly LAYOUT_ACPI_START), all below LAYOUT_ACPI_END. Nothing is written unless
 * every table fits. Returns 0, or -1 with a message in `err`. */
int acpi_build(const struct guest_memory *mem, const struct acpi_config *cfg, char *err,
	       size_t err_len);

/* The CPUs the guest may ever have: max_cpus, or nr_cpus when that is more. */
unsigned acpi_possible_cpus(const struct acpi_config *cfg);

/* The GSI the DSDT's _PRT routes PCI slot `slot`'s INTx pin `pin` (0 = INTA .. 3 = INTD) to:
 * LAYOUT_GSI_PCI_FIRST + (slot + pin) % 8, rotating by slot to spread devices over the lines. */
unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin);

/* Whether the CPUs can change while the guest runs (cpu_hotplug). */
bool acpi_has_cpu_hotplug(const struct acpi_config *cfg);
/* The processor devices (acpi_cpus.c), when the CPUs can change; nothing otherwise. */
void acpi_cpus_build(struct aml_builder *b, const struct acpi_config *cfg);
/* Inside the GED's _EVT, with the events in Local0: each CPU's CSCN on a CPU event. */
void acpi_cpus_scan(struct aml_builder *b, const struct acpi_config *cfg);

/* The PCI slot devices inside \_SB.PCI0 (acpi_pci_slots.c), with pci_hotplug; nothing
 * otherwise. */
void acpi_pci_slots_build(struct aml_builder *b, const struct acpi_config *cfg);
/* Inside the GED's _EVT, with the events in Local0: each slot's PSCN on a PCI event. */
void acpi_pci_slots_scan(struct aml_builder *b, const struct acpi_config *cfg);

/* The DSDT's AML body (without the table header) for `cfg`; check aml_error(b) afterwards. */
void acpi_dsdt_build(struct aml_builder *b, const struct acpi_config *cfg);

#endif
