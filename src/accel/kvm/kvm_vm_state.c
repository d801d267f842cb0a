/* accel_ops.vm_save_state / vm_load_state for KVM: the ioctls around kvm_vm_state_record.c.
 *
 * What KVM cannot take back exactly: KVM_SET_PIT2 restarts every channel's count from its
 * reload value (the kernel stamps a new load time), so a channel resumes a full period, not
 * mid-count.
 *
 * The kvmclock. A save records the kvmclock and the host's CLOCK_REALTIME at the same instant
 * (KVM's own when KVM_GET_CLOCK reports KVM_CLOCK_REALTIME, which it does only while its
 * master clock runs on a TSC clocksource; otherwise read here right after the ioctl). A load
 * sets the saved kvmclock plus the wall-clock time since the save: through KVM_SET_CLOCK's
 * KVM_CLOCK_REALTIME when this host's KVM_CAP_ADJUST_CLOCK offers it, else computed here
 * (kvm_vm_state_clock_at). Either way the result is the same: the kvmclock jumps forward by
 * the time the VM was away (the host clocks of both ends must agree, as NTP makes them).
 *
 * What the guest sees: a guest whose clocksource is kvm-clock reads CLOCK_MONOTONIC,
 * CLOCK_REALTIME and sched_clock from the kvmclock, so all of them jump forward by that time
 * at its next clock read; its wall clock is right again, and its timers due in between fire at
 * once (an absence of minutes or more can draw soft-lockup or RCU-stall warnings). The guest
 * TSC does not jump (the vcpu records restore it), so a guest that chose the TSC as its
 * clocksource (Linux does when CPUID offers an invariant TSC, as KVM passes through from such
 * hosts) keeps its clocks where they were and stays behind. Upstream QEMU does neither: it
 * restores the saved kvmclock as it is, so its guests stay behind by the time away until NTP
 * or the guest agent steps them. */
#include "accel/kvm/kvm_vm_state.h"
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

/* KVM_GET/SET_IRQCHIP's chip_id values. */
enum { CHIP_PIC_MASTER, CHIP_PIC_SLAVE, CHIP_IOAPIC };

static const char *const ioctl_names[] = {"KVM_GET_IRQCHIP", "KVM_GET_PIT2", "KVM_GET_CLOCK",
					  "KVM_SET_IRQCHIP", "KVM_SET_PIT2", "KVM_SET_CLOCK"};

/* The host's CLOCK_REALTIME in ns, or false when it cannot be read (or is before 1970). */
static bool realtime_ns(uint64_t *ns)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || ts.tv_sec < 0)
		return false;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return true;
}

/* Which ioctl failed (an index into ioctl_names), or -1. */
static int read_state(struct accel_vm *vm, struct kvm_vm_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int chip = CHIP_PIC_MASTER; chip <= CHIP_IOAPIC; chip++) {
		struct kvm_irqchip c = {.chip_id = (uint32_t)chip};
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
			return 0;
		if (chip == CHIP_IOAPIC)
			s->ioapic = c.chip.ioapic;
		else
			s->pic[chip] = c.chip.pic;
	}
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return 1;
	struct kvm_clock_data clock = {0};
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return 2;
	s->clock_ns = clock.clock;
	if (clock.flags & KVM_CLOCK_REALTIME) {
		s->realtime_ns = clock.realtime;
		s->has_realtime = true;
	} else {
		/* A few microseconds after KVM read the clock: that much error at most. */
		s->has_realtime = realtime_ns(&s->realtime_ns);
	}
	return -1;
}

/* As read_state, for the other direction. With `advance` the kvmclock goes forward by the
 * wall-clock time since the save (see the top of this file); without it (putting back a VM's
 * own state after a refused load) it is set as it was read. */
static int write_state(struct accel_vm *vm, const struct kvm_vm_state *s, bool advance)
{
	for (int chip = CHIP_PIC_MASTER; chip <= CHIP_IOAPIC; chip++) {
		struct kvm_irqchip c = {.chip_id = (uint32_t)chip};
		if (chip == CHIP_IOAPIC)
			c.chip.ioapic = s->ioapic;
		else
			c.chip.pic = s->pic[chip];
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c) < 0)
			return 3;
	}
	struct kvm_pit_state2 pit = s->pit;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return 4;
	struct kvm_clock_data clock = {.clock = s->clock_ns};
	uint64_t now;
	if (advance && s->has_realtime && (vm->clock_flags & KVM_CLOCK_REALTIME)) {
		/* KVM adds the time since `realtime` itself, reading the host's clock inside
		 * the ioctl, and never steps the clock back. */
		clock.flags = KVM_CLOCK_REALTIME;
		clock.realtime = s->realtime_ns;
	} else if (advance && s->has_realtime && realtime_ns(&now)) {
		clock.clock = kvm_vm_state_clock_at(s, now);
	}
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return 5;
	return -1;
}

int kvm_vm_save_state(struct accel_vm *vm, struct state_writer *w, char *err, size_t err_len)
{
	struct kvm_vm_state s;
	int failed = read_state(vm, &s);
	if (failed >= 0) {
		state_set_error(err, err_len, "saving KVM's VM state: %s failed: %s",
				ioctl_names[failed], strerror(errno));
		return -1;
	}
	kvm_vm_state_save(&s, w);
	if (state_writer_failed(w)) {
		state_set_error(err, err_len, "saving KVM's VM state: out of memory");
		return -1;
	}
	return 0;
}

int kvm_vm_load_state(struct accel_vm *vm, const uint8_t *buf, size_t len, size_t *pos, char *err,
		      size_t err_len)
{
	struct kvm_vm_state *next = calloc(2, sizeof(*next)), *before = next + 1;
	if (!next) {
		state_set_error(err, err_len, "loading KVM's VM state: out of memory");
		return -1;
	}
	size_t at = *pos;
	int rc = kvm_vm_state_load(next, buf, len, &at, err, err_len);
	int failed = rc < 0 ? -1 : read_state(vm, before);
	if (rc == 0 && failed < 0)
		failed = write_state(vm, next, true);
	if (rc == 0 && failed >= 0) {
		int saved_errno = errno;
		/* Put back what the VM had, so that a refusal leaves it as it was. */
		if (failed >= 3)
			write_state(vm, before, false);
		state_set_error(err, err_len, "loading KVM's VM state: %s failed: %s",
				ioctl_names[failed], strerror(saved_errno));
		rc = -1;
	}
	free(next);
	if (rc == 0)
		*pos = at;
	return rc;
}
