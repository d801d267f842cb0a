/* accel_ops.vm_save_state / vm_load_state for KVM: the ioctls around kvm_vm_state_record.c.
 *
 * What KVM cannot take back exactly: KVM_SET_PIT2 restarts every channel's count from its
 * reload value (the kernel stamps a new load time), so a channel resumes a full period, not
 * mid-count; and the kvmclock continues from the saved value, or, when both the saving and the
 * loading host offer KVM_CLOCK_REALTIME, from that value plus the wall-clock time that passed
 * in between, so that the guest's wall clock is right after a restore. */
#include "accel/kvm/kvm_vm_state.h"
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* KVM_GET/SET_IRQCHIP's chip_id values. */
enum { CHIP_PIC_MASTER, CHIP_PIC_SLAVE, CHIP_IOAPIC };

static const char *const ioctl_names[] = {"KVM_GET_IRQCHIP", "KVM_GET_PIT2", "KVM_GET_CLOCK",
					  "KVM_SET_IRQCHIP", "KVM_SET_PIT2", "KVM_SET_CLOCK"};

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
	s->has_realtime = clock.flags & KVM_CLOCK_REALTIME;
	s->realtime_ns = s->has_realtime ? clock.realtime : 0;
	return -1;
}

/* As read_state, for the other direction. The realtime is used only when this host's
 * KVM_SET_CLOCK accepts it: KVM then adds the time since `realtime` to the clock. */
static int write_state(struct accel_vm *vm, const struct kvm_vm_state *s, bool use_realtime)
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
	if (use_realtime && s->has_realtime && (vm->clock_flags & KVM_CLOCK_REALTIME)) {
		clock.flags = KVM_CLOCK_REALTIME;
		clock.realtime = s->realtime_ns;
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
