/* Moving a VM between KVM and the software CPU: the interrupt controllers' records of one
 * become the other's. KVM saves its in-kernel PIC pair, I/O APIC, PIT and clock as the
 * "kvm-pic", "kvm-ioapic", "kvm-pit" and "kvm-clock" records (accel/kvm/kvm_vm_state.h); the
 * software CPU's VMM saves its userspace controllers as "pic", "ioapic" and "pit"
 * (devices/pc_irqchip.h). Both sets stand at the same place in a VM's state (after the
 * machine, before the vCPUs), so a load on the other accelerator translates that part and
 * hands it to its own loader, which checks it as it checks its own records.
 *
 * What carries over exactly: each 8259A's registers, mode and initialisation step; the I/O
 * APIC's ID, register select, redirection table (remote IRR and delivery status included)
 * and pin levels. What does not, because the other side keeps no such state:
 * - the PIT: each channel comes over as programmed (mode, access, BCD, count register, gate,
 *   speaker enable) and starts counting again from its count register, as KVM_SET_PIT2 does
 *   on every KVM load; a latched count or status not read yet is dropped;
 * - the 8259A's ICW3 and single-chip flag (KVM keeps neither; a PC's are a cascade on IR2);
 * - the kvmclock: the software CPU has none. A guest that enabled it goes on reading the
 *   pages KVM last wrote with its TSC, which the software CPU continues at KVM's rate (the
 *   machine record's tsc_hz), so its clock stays right; KVM, given the state back, gets the
 *   guest TSC's time as its clock. */
#ifndef GUREUM_VMM_IRQCHIP_TRANSLATE_H
#define GUREUM_VMM_IRQCHIP_TRANSLATE_H

#include "lib/state_record.h"

#include <stddef.h>
#include <stdint.h>

/* Reads KVM's four records at buf[*pos] and writes the userspace "pic", "ioapic" and "pit"
 * records to `w`. 0 and *pos past them, or -1 with one sentence in err. */
int irqchip_records_from_kvm(const uint8_t *buf, size_t len, size_t *pos, struct state_writer *w,
			     char *err, size_t err_len);

/* Reads the userspace "pic", "ioapic" and "pit" records at buf[*pos] and writes KVM's four
 * to `w`, its clock at `clock_ns` as of the host's CLOCK_REALTIME `realtime_ns`. 0 and *pos
 * past them, or -1 with one sentence in err. */
int irqchip_records_to_kvm(const uint8_t *buf, size_t len, size_t *pos, uint64_t clock_ns,
			   uint64_t realtime_ns, struct state_writer *w, char *err, size_t err_len);

#endif
