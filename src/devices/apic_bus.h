/* The APIC bus (the system bus's interrupt messages, really): delivers an apic_message to the
 * local APICs it is for.
 *
 * Destinations: physical (APIC ID; 0xff, or 0xffffffff in x2APIC format, is everyone),
 * logical in each target's own model (xAPIC flat: MDA & LDR; xAPIC cluster: cluster nibble
 * equal and member bits shared; x2APIC: cluster 31:16 equal and member bits 15:0 shared),
 * ICR shorthands (self, all including self, all excluding self). An 8-bit destination reaching
 * an APIC in x2APIC mode is zero-extended (0xff staying the broadcast), as KVM does for I/O
 * APIC and MSI messages without interrupt remapping.
 *
 * Lowest priority (delivery mode 1, or an MSI with the redirection hint set): one APIC among
 * the destinations that accept fixed interrupts: the focus processor (the vector already in
 * its IRR or ISR, focus checking on) if any, else the lowest processor priority (PPR), ties
 * going to the lowest APIC ID, so the choice is deterministic.
 *
 * MSI: address 0xfee00000-0xfeefffff (upper half 0), destination in bits 19:12 plus the
 * extended destination ID in bits 11:5 (APIC ID bits 14:8, Linux's virtualisation
 * extension), redirection hint bit 3, destination mode bit 2; a remappable-format address (bit
 * 4) needs an IOMMU and is refused. Data: vector 7:0, delivery mode 10:8, level 14, trigger 15.
 *
 * Threads: any; the bus holds no lock of its own and takes each LAPIC's lock in turn (for
 * lowest priority, one at a time, so the choice may race with a PPR change, as on hardware). */
#ifndef GUREUM_DEVICES_APIC_BUS_H
#define GUREUM_DEVICES_APIC_BUS_H

#include "devices/apic_message.h"
#include "devices/lapic.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define APIC_MSI_BASE	 0xfee00000ULL
#define APIC_MSI_SIZE	 0x100000ULL
#define APIC_MSI_RH	 (1u << 3)
#define APIC_MSI_LOGICAL (1u << 2)
#define APIC_MSI_REMAP	 (1u << 4)
#define APIC_MSI_LEVEL	 (1u << 15)
#define APIC_MSI_ASSERT	 (1u << 14)

struct apic_bus {
	struct lapic **lapics; /* by index: the `source` of IPIs */
	unsigned count;
	atomic_uint_fast64_t messages, bad_msi;
};

void apic_bus_init(struct apic_bus *bus, struct lapic **lapics, unsigned count);
/* Returns how many local APICs took the message. */
unsigned apic_bus_deliver(struct apic_bus *bus, const struct apic_message *msg);
/* Decodes an MSI write. Returns false (nothing to deliver) for an address outside the MSI
 * window or in remappable format, and for the reserved delivery modes. */
bool apic_msi_decode(uint64_t address, uint32_t data, struct apic_message *msg);
/* Delivers an MSI. Returns how many local APICs took it, or -EINVAL for an invalid MSI. */
int apic_bus_msi(struct apic_bus *bus, uint64_t address, uint32_t data);

#endif
