/* The PCI host bridge of bus 0: configuration mechanism #1 (ports 0xcf8/0xcfc) and ECAM (MMIO
 * at LAYOUT_PCI_ECAM_START), both decoding to the same registry of PCI functions. Device 00.0 is
 * the host bridge itself. Only bus 0 exists for now; other buses read as empty.
 *
 * A PCI function is its configuration space plus a per-byte mask of the bits the guest may
 * write. Everything a guest can do to config space (BAR sizing and placement, the command
 * register, read-only IDs and status) follows from those two arrays; the device model is told
 * of each write through config_written() and reads back what it needs (BAR addresses, command). */
#ifndef GUREUM_DEVICES_PCI_HOST_H
#define GUREUM_DEVICES_PCI_HOST_H

#include "devices/io_bus.h"
#include "devices/pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_HOST_SLOTS	   32
#define PCI_HOST_FUNCTIONS 8

/* The host bridge's IDs: Red Hat's "QEMU PCIe host bridge" (1b36:0008), which QEMU's generic
 * PCIe host uses. We chose it over q35's Intel MCH (8086:29c0) because no Linux driver binds
 * to it: impersonating an Intel chipset invites chipset drivers (agp, edac) to poke registers
 * we do not emulate. */
#define PCI_HOST_BRIDGE_VENDOR	  0x1b36
#define PCI_HOST_BRIDGE_DEVICE	  0x0008
#define PCI_SUBSYSTEM_VENDOR_QEMU 0x1af4
#define PCI_SUBSYSTEM_QEMU_VM	  0x1100

struct pci_function {
	uint8_t config[PCI_EXPRESS_CONFIG_SPACE_SIZE];
	uint8_t write_mask[PCI_EXPRESS_CONFIG_SPACE_SIZE]; /* per-byte writable bits */
	uint64_t bar_size[PCI_NUM_BARS];		   /* 0: BAR not implemented */
	bool bar_is_io[PCI_NUM_BARS];
	bool bar_is_64[PCI_NUM_BARS]; /* a 64-bit BAR also uses the next slot */
	/* Called after each guest write to config space (with the host's lock held). May be NULL.
	 */
	void (*config_written)(struct pci_function *f, unsigned offset, unsigned size);
	/* Called before each guest read of config space (with the host's lock held), so that the
	 * model can refresh bytes whose value comes from elsewhere (virtio's PCI configuration
	 * access window). May be NULL. */
	void (*config_reading)(struct pci_function *f, unsigned offset, unsigned size);
	void *opaque;
	uint16_t last_capability; /* 0 or offset of the last capability, to chain the next one */
	uint16_t capability_end;  /* where the next capability goes */
};

/* Fills in a type 0 header: IDs, class code (0xCCSSPP: class, subclass, prog-if), revision;
 * the command register's standard bits, the cache line size and interrupt line are writable;
 * no BARs, no capabilities, no interrupt pin. */
void pci_function_init(struct pci_function *f, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision);
void pci_function_set_subsystem(struct pci_function *f, uint16_t vendor, uint16_t id);
/* pin: 1..4 for INTA..INTD, 0 for none. */
void pci_function_set_interrupt_pin(struct pci_function *f, uint8_t pin);
/* Declares BAR `bar`: `size` a power of two (memory: >= 16, 32-bit BARs <= 2 GiB; I/O: 4..256).
 * A 64-bit BAR takes slots bar and bar+1. Returns 0, or -1 for an invalid request. */
int pci_function_add_bar(struct pci_function *f, unsigned bar, uint64_t size, bool is_io,
			 bool is_64);
/* Where the guest placed the BAR (0 until it did). */
uint64_t pci_function_bar_address(const struct pci_function *f, unsigned bar);
uint16_t pci_function_command(const struct pci_function *f);
/* Appends a capability of `len` bytes (>= 2, header included) to the list in the first 256
 * bytes, writes its id and chains it. Returns its offset, or -1 if it does not fit. The caller
 * fills in the body and sets write_mask for its writable fields. */
int pci_function_add_capability(struct pci_function *f, uint8_t id, unsigned len);

/* Config-space access as the guest sees it: little-endian, `size` 1, 2 or 4 bytes inside the
 * 4 KiB space (out of range reads all-ones, writes are dropped). Writes honour write_mask and
 * call config_written. */
uint32_t pci_function_config_read(const struct pci_function *f, unsigned offset, unsigned size);
void pci_function_config_write(struct pci_function *f, unsigned offset, uint32_t value,
			       unsigned size);

struct pci_host {
	/* Config accesses arrive through two buses (port I/O and MMIO) with separate locks, so
	 * the host serialises them itself. */
	pthread_mutex_t lock;
	uint32_t config_address; /* the 0xcf8 register */
	struct pci_function bridge;
	struct pci_function *functions[PCI_HOST_SLOTS][PCI_HOST_FUNCTIONS];
};

int pci_host_init(struct pci_host *h);
void pci_host_destroy(struct pci_host *h);
/* Registers 0xcf8 (address, 4 bytes), 0xcfc (data, 4 bytes) on `pio` and the ECAM window on
 * `mmio`. Returns 0, or -1 if a range is taken. */
int pci_host_attach(struct pci_host *h, struct io_bus *pio, struct io_bus *mmio);
/* Plugs `f` in at 00:slot.fn. Returns 0, or -1 if the address is invalid or taken. */
int pci_host_add_function(struct pci_host *h, unsigned slot, unsigned fn, struct pci_function *f);
/* Whether a function is plugged in at 00:slot (any function number). */
bool pci_host_slot_used(struct pci_host *h, unsigned slot);

struct state_writer;
struct state_record;
/* The host's own state as a versioned record "pci-host": the 0xcf8 address register and the
 * host bridge's configuration space. The functions plugged in save their own. */
void pci_host_save(struct pci_host *h, struct state_writer *w);
/* Returns 0, or -1 with one sentence in err and the host unchanged. */
int pci_host_load(struct pci_host *h, const struct state_record *rec, char *err, size_t err_len);

#endif
