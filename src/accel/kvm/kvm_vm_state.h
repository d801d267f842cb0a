/* KVM's VM-level state (the in-kernel PIC pair, I/O APIC, PIT and the kvmclock) <-> the
 * "kvm-pic", "kvm-ioapic", "kvm-pit" and "kvm-clock" state records (docs/snapshot-format.md).
 * This half is pure (kernel structs <-> records, with every value validated) so that it can be
 * fuzzed without /dev/kvm; kvm_vm_state.c does the ioctls around it. */
#ifndef GUREUM_ACCEL_KVM_VM_STATE_H
#define GUREUM_ACCEL_KVM_VM_STATE_H

#include "lib/state_record.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What KVM_GET_IRQCHIP, KVM_GET_PIT2 and KVM_GET_CLOCK report. */
struct kvm_vm_state {
	struct kvm_pic_state pic[2]; /* master, slave */
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit; /* count_load_time is not saved: see kvm_vm_state.c */
	uint64_t clock_ns;	   /* kvmclock */
	/* The saving host's CLOCK_REALTIME at the same instant: KVM's own (KVM_CLOCK_REALTIME)
	 * when KVM_GET_CLOCK reports it, else read right after KVM_GET_CLOCK. Absent only in
	 * records from a gureum that saved it only with KVM_CLOCK_REALTIME. */
	bool has_realtime;
	uint64_t realtime_ns;
};

/* Appends the four records. */
void kvm_vm_state_save(const struct kvm_vm_state *s, struct state_writer *w);
/* Reads the four records (in any order, each once) at buf[*pos] into *s, validating every
 * value. 0 and *pos advanced past them, or -1 with one sentence in err and nothing changed. */
int kvm_vm_state_load(struct kvm_vm_state *s, const uint8_t *buf, size_t len, size_t *pos,
		      char *err, size_t err_len);

/* The kvmclock to set at a load when the host's CLOCK_REALTIME is now_realtime_ns: the saved
 * clock plus the wall-clock time since the save (saturated, never wrapped), or the saved
 * clock itself when there is no saved realtime or the time since is not positive (this host's
 * clock is behind the saving host's: the kvmclock must not go back past a value the guest may
 * have read). What KVM_SET_CLOCK does itself with KVM_CLOCK_REALTIME. */
uint64_t kvm_vm_state_clock_at(const struct kvm_vm_state *s, uint64_t now_realtime_ns);

#endif
