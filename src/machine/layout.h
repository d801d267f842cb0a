/* The "microvm-pc" guest-physical memory map. One place, so that e820, ACPI, the loaders and
 * the devices agree.
 *
 *   0x0000_0000 .. 0x0009_fc00   low RAM (real-mode area, boot structures below)
 *   0x0009_fc00 .. 0x0010_0000   reserved: EBDA, legacy VGA/ROM hole; ACPI tables at 0xe0000
 *   0x0010_0000 .. 0xc000_0000   RAM (kernel at 1 MiB)           -- at most 3 GiB below 4G
 *   0xc000_0000 .. 0xe000_0000   PCI 32-bit MMIO window (BARs from its bottom; the linear
 *                                framebuffer of --display at 0xd000_0000)
 *   0xe000_0000 .. 0xf000_0000   PCI ECAM (MCFG), 256 buses
 *   0xfec0_0000                  IOAPIC
 *   0xfee0_0000                  LAPIC
 *   0x1_0000_0000 ..             the rest of RAM
 */
#ifndef GUREUM_MACHINE_LAYOUT_H
#define GUREUM_MACHINE_LAYOUT_H

#define LAYOUT_ZERO_PAGE	 0x7000ULL /* Linux boot_params / PVH start_info / multiboot info */
#define LAYOUT_BOOT_GDT		 0x500ULL /* boot GDT, 0x500..0x52f; no IDT: interrupts are off at entry */
#define LAYOUT_BOOT_PML4	 0x9000ULL /* identity page tables for 64-bit entry (4 GiB) */
#define LAYOUT_BOOT_PDPT	 0xa000ULL
#define LAYOUT_BOOT_PD		 0xb000ULL  /* 4 page directories: 0xb000..0xefff */
#define LAYOUT_BOOT_SCRATCH	 0x10000ULL /* e820 tables, module lists, strings for loaders */
#define LAYOUT_CMDLINE		 0x20000ULL
#define LAYOUT_CMDLINE_MAX	 0x10000ULL
#define LAYOUT_EBDA_START	 0x9fc00ULL
#define LAYOUT_ACPI_START	 0xe0000ULL /* RSDP must sit in 0xe0000..0xfffff to be found */
#define LAYOUT_BIOS_RESET_VECTOR 0xffff0ULL /* f000:fff0, where real-mode reboots jump */
#define LAYOUT_ACPI_END		 LAYOUT_BIOS_RESET_VECTOR /* the last 16 bytes: reset stub */
#define LAYOUT_HIGH_MEMORY	 0x100000ULL /* 1 MiB: where protected-mode kernels load */
#define LAYOUT_LOW_RAM_END	 0xc0000000ULL
#define LAYOUT_PCI_MMIO_START	 0xc0000000ULL
#define LAYOUT_PCI_MMIO_END	 0xe0000000ULL
/* The linear framebuffer (--display): host memory of its own, mapped where firmware's GOP
 * framebuffer would be, inside the PCI window (whose BARs the board places from the bottom,
 * 64 KiB each), so that Linux's PCI code sees it in a bridge window and efifb reserves it
 * there. At most 256 MiB (the window's top half). */
#define LAYOUT_FRAMEBUFFER     0xd0000000ULL
#define LAYOUT_FRAMEBUFFER_MAX 0x10000000ULL
/* bochs-display's register page (its BAR 2), just below its VRAM (BAR 0, at
 * LAYOUT_FRAMEBUFFER), clear of the virtio BARs at the window's start. */
#define LAYOUT_DISPLAY_REGS   0xcffff000ULL
#define LAYOUT_PCI_ECAM_START 0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE  0x10000000ULL
/* Buses the firmware tables declare. Only bus 0 exists; declaring all 256 that the ECAM window
 * could hold makes Linux probe every one of them for peer bridges (8000+ config exits). */
#define LAYOUT_PCI_BUSES    1
#define LAYOUT_IOAPIC	    0xfec00000ULL
#define LAYOUT_LAPIC	    0xfee00000ULL
#define LAYOUT_RAM_ABOVE_4G 0x100000000ULL

/* Fixed interrupt lines (GSIs) of the legacy devices. */
#define LAYOUT_GSI_UART0     4
#define LAYOUT_GSI_RTC	     8
#define LAYOUT_GSI_SCI	     9	/* ACPI SCI (reduced hardware: unused, but the FADT names one) */
#define LAYOUT_GSI_GED	     10 /* the ACPI Generic Event Device's events (power button) */
#define LAYOUT_GSI_PCI_FIRST 16 /* INTx of PCI slots, routed by the DSDT's _PRT */
#define LAYOUT_IOAPIC_PINS   24

/* I/O ports. */
#define LAYOUT_PORT_UART0      0x3f8
#define LAYOUT_PORT_I8042      0x60
#define LAYOUT_PORT_RTC	       0x70
#define LAYOUT_PORT_PCI_CONFIG 0xcf8 /* configuration mechanism #1: 0xcf8 address, 0xcfc data */
#define LAYOUT_PORT_SLEEP_CTL  0x600 /* ACPI reduced-hardware sleep control register */
#define LAYOUT_PORT_SLEEP_STS  0x601 /* ACPI reduced-hardware sleep status register */
#define LAYOUT_PORT_RESET      0x602 /* ACPI reset register (FADT RESET_REG) */
#define LAYOUT_PORT_GED	       0x603 /* ACPI Generic Event Device: pending events, read-to-clear */
/* CPU hotplug: one status byte per possible CPU (at most 255), 0x700 + CPU index. Below 0x1000,
 * where Linux never puts a PCI device's I/O BAR. */
#define LAYOUT_PORT_CPU_HOTPLUG 0x700
/* PCI hotplug: one status byte per slot of bus 0, 0x640 + slot. */
#define LAYOUT_PORT_PCI_HOTPLUG 0x640

/* The values the firmware tables tell the guest to write to those registers, and that the
 * registers (devices/acpi_power.c) act on: the FADT's RESET_VALUE and the SLP_TYP of the
 * DSDT's \_S5 package (soft off). */
#define LAYOUT_ACPI_RESET_VALUE 1
/* The Generic Event Device register's bit for a power button press (devices/acpi_ged.c sets
 * it, the DSDT's _EVT tests it). */
#define LAYOUT_GED_EVENT_POWER_BUTTON 0x01
#define LAYOUT_GED_EVENT_CPU_HOTPLUG  0x02 /* a CPU's status byte has INSERT or REMOVE set */
#define LAYOUT_GED_EVENT_PCI_HOTPLUG  0x04 /* a PCI slot's status byte has INSERT or REMOVE set */
/* A CPU's or PCI slot's status byte (devices/hotplug_slots.c, the DSDT's processor devices in
 * machine/acpi_cpus.c and slot devices in machine/acpi_pci_slots.c). Read: PRESENT, and the
 * events the guest has not taken yet. Write: INSERT or REMOVE takes that event, EJECT says the
 * guest let the device go (its _EJ0). */
#define LAYOUT_HP_PRESENT      0x01
#define LAYOUT_HP_INSERT       0x02
#define LAYOUT_HP_REMOVE       0x04
#define LAYOUT_HP_EJECT	       0x08
#define LAYOUT_ACPI_SLP_TYP_S5 5

#endif
