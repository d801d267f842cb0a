/* kvm vCPUs: creation, the KVM_RUN loop's exit decoding, and kicks from other threads. */
#include "accel/kvm/kvm_internal.h"

#include "lib/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The signal that interrupts KVM_RUN. Its handler does nothing: the point is the EINTR. */

static void kick_signal_handler(int sig)
{
	(void)sig;
}

static void install_kick_handler(void)
{
	struct sigaction action = {.sa_handler = kick_signal_handler};
	sigemptyset(&action.sa_mask);
	sigaction(KVM_KICK_SIGNAL, &action, NULL); /* no SA_RESTART: KVM_RUN must return */
}

int kvm_vcpu_create(struct accel_vm *vm, unsigned index, const struct accel_vcpu_hooks *hooks,
		    struct accel_vcpu **out)
{
	(void)hooks; /* the in-kernel irqchip and KVM's exits do their work */
	if (index >= vm->nr_vcpus || vm->vcpus[index])
		return -EINVAL;
	struct accel_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->stats_fd = -1;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		int err = errno;
		free(vcpu);
		return -err;
	}
	vcpu->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int err = errno;
		close(vcpu->fd);
		free(vcpu);
		return -err;
	}
	int rc = kvm_setup_cpuid(vcpu);
	if (rc < 0) {
		kvm_vcpu_destroy(vcpu);
		return rc;
	}
	if (index == 0)
		kvm_prune_unreadable_msrs(vcpu);
	kvm_open_stats(vcpu);
	install_kick_handler();
	vm->vcpus[index] = vcpu;
	*out = vcpu;
	return 0;
}

void kvm_vcpu_destroy(struct accel_vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->vm->vcpus[vcpu->index] == vcpu)
		vcpu->vm->vcpus[vcpu->index] = NULL;
	if (vcpu->stats_fd >= 0)
		close(vcpu->stats_fd);
	munmap(vcpu->run, vcpu->vm->vcpu_mmap_size);
	close(vcpu->fd);
	free(vcpu);
}

static void decode_system_event(const struct kvm_run *run, struct vcpu_exit *exit)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		exit->reason = VCPU_EXIT_POWEROFF;
		break;
	case KVM_SYSTEM_EVENT_RESET:
		exit->reason = VCPU_EXIT_RESET;
		break;
	default:
		exit->reason = VCPU_EXIT_INTERNAL_ERROR;
		exit->error.code = run->system_event.type;
		break;
	}
}

static void decode_exit(struct accel_vcpu *vcpu, struct vcpu_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	memset(exit, 0, sizeof(*exit));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->reason = VCPU_EXIT_IO;
		exit->io.port = run->io.port;
		exit->io.size = run->io.size;
		exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->io.count = run->io.count;
		exit->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		exit->reason = VCPU_EXIT_MMIO;
		exit->mmio.address = run->mmio.phys_addr;
		exit->mmio.data = run->mmio.data;
		exit->mmio.len = run->mmio.len;
		exit->mmio.is_write = run->mmio.is_write;
		break;
	case KVM_EXIT_HLT:
		exit->reason = VCPU_EXIT_HLT;
		break;
	case KVM_EXIT_INTR:
		exit->reason = VCPU_EXIT_INTERRUPTED;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = VCPU_EXIT_SHUTDOWN;
		exit->shutdown.registers_reset = vcpu->vm->shutdown_resets_vcpu;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		decode_system_event(run, exit);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit->reason = VCPU_EXIT_INTERNAL_ERROR;
		exit->error.code = run->internal.suberror;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit->reason = VCPU_EXIT_FAIL_ENTRY;
		exit->error.code = run->fail_entry.hardware_entry_failure_reason;
		break;
	default:
		exit->reason = VCPU_EXIT_UNKNOWN;
		exit->error.code = run->exit_reason;
		break;
	}
}

int kvm_vcpu_run(struct accel_vcpu *vcpu, struct vcpu_exit *exit)
{
	if (!atomic_load(&vcpu->thread_known)) {
		vcpu->thread = pthread_self();
		atomic_store(&vcpu->thread_known, true);
	}
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			/* A kick: immediate_exit has done its job, clear it for the next run. */
			vcpu->run->immediate_exit = 0;
			memset(exit, 0, sizeof(*exit));
			exit->reason = VCPU_EXIT_INTERRUPTED;
			return 0;
		}
		return -errno;
	}
	decode_exit(vcpu, exit);
	if (exit->reason == VCPU_EXIT_INTERRUPTED)
		vcpu->run->immediate_exit = 0;
	return 0;
}

int kvm_vcpu_settle(struct accel_vcpu *vcpu, struct vcpu_exit *exit)
{
	/* With immediate_exit set, KVM_RUN completes the pending I/O (complete_userspace_io)
	 * and returns EINTR before it would enter the guest; a rep string instruction may need
	 * the VMM once more and comes back as an exit instead. */
	vcpu->run->immediate_exit = 1;
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		int err = errno;
		vcpu->run->immediate_exit = 0;
		return err == EINTR || err == EAGAIN ? 0 : -err;
	}
	decode_exit(vcpu, exit);
	return exit->reason == VCPU_EXIT_INTERRUPTED ? 0 : 1;
}

/* KVM keeps the guest TSC's rate in kHz (the host's, unless set with TSC scaling). */
uint64_t kvm_vcpu_tsc_hz(struct accel_vcpu *vcpu)
{
	int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	return khz > 0 ? (uint64_t)khz * 1000 : 0;
}

int kvm_vcpu_set_tsc_hz(struct accel_vcpu *vcpu, uint64_t hz)
{
	if (hz / 1000 == 0 || hz / 1000 > UINT32_MAX)
		return -EINVAL;
	return ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)(hz / 1000)) < 0 ? -errno : 0;
}

void kvm_vcpu_kick(struct accel_vcpu *vcpu)
{
	/* immediate_exit covers the window before the thread enters KVM_RUN; the signal
	 * interrupts it once inside. */
	vcpu->run->immediate_exit = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (atomic_load(&vcpu->thread_known) && !pthread_equal(vcpu->thread, pthread_self()))
		pthread_kill(vcpu->thread, KVM_KICK_SIGNAL);
}
