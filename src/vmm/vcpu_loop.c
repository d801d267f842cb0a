/* The vCPU thread: run the guest, dispatch each exit to the buses, stop on guest power
 * events. Nothing the guest does here may crash the VMM: unclaimed ports read as all-ones,
 * unknown exits stop the VM with a report. */
#include "vmm/vm.h"

#include "lib/log.h"
#include "vmm/sandbox.h"

#include <signal.h>
#include <string.h>
#include <time.h>

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool vm_stopping(struct vm *vm)
{
	return __atomic_load_n(&vm->stop_reason, __ATOMIC_ACQUIRE) != VM_RUNNING;
}

static void handle_io(struct vm *vm, const struct vcpu_exit *exit)
{
	for (uint32_t i = 0; i < exit->io.count; i++) {
		uint8_t *data = exit->io.data + (size_t)i * exit->io.size;
		if (exit->io.is_write)
			io_bus_write(&vm->pio, exit->io.port, data, exit->io.size);
		else
			io_bus_read(&vm->pio, exit->io.port, data, exit->io.size);
	}
}

static void handle_mmio(struct vm *vm, const struct vcpu_exit *exit)
{
	if (exit->mmio.len == 0 || exit->mmio.len > 8)
		return;
	if (exit->mmio.is_write)
		io_bus_write(&vm->mmio, exit->mmio.address, exit->mmio.data, exit->mmio.len);
	else
		io_bus_read(&vm->mmio, exit->mmio.address, exit->mmio.data, exit->mmio.len);
}

static void crash(struct vm_vcpu *vcpu, const char *what, uint64_t code)
{
	log_error("vCPU %u: %s (code 0x%llx); the guest cannot continue", vcpu->index, what,
		  (unsigned long long)code);
	vm_report_vcpu_state(vcpu);
	vm_request_stop(vcpu->vm, VM_STOP_CRASH, VM_EXIT_CRASH);
}

static void triple_fault(struct vm_vcpu *vcpu, const struct vcpu_exit *exit)
{
	if (exit->shutdown.registers_reset)
		log_warn(
		    "vCPU %u: this accelerator re-initialises a vCPU when it shuts down (KVM "
		    "on AMD SVM), so the registers below are its reset state, not those at the "
		    "fault",
		    vcpu->index);
	crash(vcpu, "triple fault", 0);
}

/* Only this thread writes the counter: a relaxed load and store (plain moves on x86-64) keep
 * a reader on another thread from seeing a torn or backwards value without a locked add. */
static void count_exit(struct vm_vcpu *vcpu, enum vcpu_exit_reason reason)
{
	if ((unsigned)reason >= sizeof(vcpu->exits) / sizeof(vcpu->exits[0]))
		return;
	uint64_t *counter = &vcpu->exits[reason];
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Returns false when the thread must stop running the guest. */
static bool handle_exit(struct vm_vcpu *vcpu, const struct vcpu_exit *exit)
{
	struct vm *vm = vcpu->vm;
	count_exit(vcpu, exit->reason);
	switch (exit->reason) {
	case VCPU_EXIT_IO:
		handle_io(vm, exit);
		return true;
	case VCPU_EXIT_MMIO:
		handle_mmio(vm, exit);
		return true;
	case VCPU_EXIT_HLT:
	case VCPU_EXIT_INTERRUPTED:
		return true;
	case VCPU_EXIT_POWEROFF:
		vm_request_stop(vm, VM_STOP_POWEROFF, 0);
		return false;
	case VCPU_EXIT_RESET:
		vm_request_stop(vm, VM_STOP_RESET, 0);
		return false;
	case VCPU_EXIT_SHUTDOWN:
		triple_fault(vcpu, exit);
		return false;
	case VCPU_EXIT_INTERNAL_ERROR:
		crash(vcpu, "internal error in the accelerator", exit->error.code);
		return false;
	case VCPU_EXIT_FAIL_ENTRY:
		crash(vcpu, "hardware refused to enter the guest", exit->error.code);
		return false;
	case VCPU_EXIT_UNKNOWN:
		crash(vcpu, "unexpected exit", exit->error.code);
		return false;
	}
	return false;
}

static void block_host_signals(const struct accel_ops *accel)
{
	/* Host signals (SIGINT, SIGTERM...) are the event loop's; this thread only takes the
	 * accelerator's kick signal, if it has one, which must stay deliverable. */
	sigset_t set;
	sigfillset(&set);
	if (accel->kick_signal)
		sigdelset(&set, accel->kick_signal);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
}

/* Before parking for a pause: the last exit's instruction finished (accel vcpu_settle), so the
 * saved state is at an instruction boundary. False when an exit it caused stops the thread. */
static bool settle_for_pause(struct vm_vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	if (!vm->accel->vcpu_settle || !__atomic_load_n(&vm->pause_requested, __ATOMIC_ACQUIRE))
		return true;
	for (;;) {
		struct vcpu_exit exit;
		int rc = vm->accel->vcpu_settle(vcpu->accel_vcpu, &exit);
		if (rc == 0)
			return true;
		if (rc < 0) {
			log_error("vCPU %u: finishing an instruction before the pause failed: %s",
				  vcpu->index, strerror(-rc));
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
			return false;
		}
		if (!handle_exit(vcpu, &exit))
			return false;
	}
}

void *vcpu_thread_main(void *arg)
{
	struct vm_vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	block_host_signals(vm->accel);
	sandbox_enter_vcpu();
	while (!vm_stopping(vm)) {
		if (__atomic_load_n(&vcpu->unplug_requested, __ATOMIC_ACQUIRE)) {
			vm_vcpu_leave(vcpu);
			break;
		}
		if (!settle_for_pause(vcpu))
			break;
		vm_park_vcpu_if_paused(vm);
		vm_throttle_vcpu(vm);
		if (vm_stopping(vm))
			break;
		if (!vcpu->first_run_done) {
			vcpu->first_run_done = true;
			if (vcpu->index == 0)
				vm->first_run_ns = monotonic_ns();
		}
		struct vcpu_exit exit;
		int rc = vm->accel->vcpu_run(vcpu->accel_vcpu, &exit);
		if (rc < 0) {
			log_error("vCPU %u: running the guest failed: %s", vcpu->index,
				  strerror(-rc));
			vm_report_vcpu_state(vcpu);
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
			break;
		}
		if (!handle_exit(vcpu, &exit))
			break;
	}
	return NULL;
}
