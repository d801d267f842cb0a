/* The VM's interrupt controllers and timer in userspace, for an accelerator without in-kernel
 * ones (accel_ops.in_kernel_irqchip false: the software CPU): devices/pc_irqchip.h models the
 * LAPICs, I/O APIC, PICs and PIT; this file gives it a clock and a host timer for the PIT, routes
 * its kicks to the vCPUs, and builds each vCPU's accel_vcpu_hooks, through which the
 * accelerator reaches the buses, the LAPIC and the interrupt acknowledge cycle. */
#include "vmm/vm.h"

#include "lib/log.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* The shortest PIT period the host timer honours, as KVM's min_timer_period_us: a guest asking
 * for a faster PIT gets its interrupts coalesced instead of a host thread spinning. */
#define VM_MIN_TIMER_PERIOD_NS 200000ULL

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return guest_clock_host_ns();
}

static uint64_t guest_tsc(void *opaque, unsigned vcpu, uint64_t now_ns)
{
	(void)vcpu;
	const struct vm *vm = opaque;
	return guest_clock_tsc(&vm->clock, now_ns);
}

/* A LAPIC has news for its vCPU (an interrupt, NMI, INIT or SIPI): a running one polls the
 * attention flag anyway; a halted one sleeps inside vcpu_run until kicked. */
static void kick_vcpu(void *opaque, unsigned index)
{
	struct vm *vm = opaque;
	if (vm->vcpus && index < vm->nr_vcpus && vm->vcpus[index].accel_vcpu)
		vm->accel->vcpu_kick(vm->vcpus[index].accel_vcpu);
}

static void pit_deadline_changed(void *opaque)
{
	struct vm *vm = opaque;
	pthread_mutex_lock(&vm->pit_lock);
	vm->pit_rearm = true;
	pthread_cond_signal(&vm->pit_cond);
	pthread_mutex_unlock(&vm->pit_lock);
}

static struct timespec timespec_of(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ULL),
				 .tv_nsec = (long)(ns % 1000000000ULL)};
}

/* The PIT's host timer: sleeps until channel 0's next deadline (or a re-arm), fires it. */
static void *pit_thread_main(void *arg)
{
	struct vm *vm = arg;
	pthread_mutex_lock(&vm->pit_lock);
	while (!vm->pit_stop) {
		vm->pit_rearm = false;
		uint64_t deadline = pc_irqchip_pit_deadline(vm->irqchip);
		uint64_t now = guest_clock_host_ns();
		if (deadline <= now) {
			pthread_mutex_unlock(&vm->pit_lock);
			pc_irqchip_advance(vm->irqchip, now);
			pthread_mutex_lock(&vm->pit_lock);
			continue;
		}
		if (deadline == PC_IRQCHIP_NEVER) {
			while (!vm->pit_stop && !vm->pit_rearm)
				pthread_cond_wait(&vm->pit_cond, &vm->pit_lock);
		} else {
			struct timespec until = timespec_of(deadline);
			while (!vm->pit_stop && !vm->pit_rearm &&
			       pthread_cond_timedwait(&vm->pit_cond, &vm->pit_lock, &until) == 0)
				;
		}
	}
	pthread_mutex_unlock(&vm->pit_lock);
	return NULL;
}

static int start_pit_thread(struct vm *vm, char *err, size_t err_len)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines are monotonic ns */
	pthread_cond_init(&vm->pit_cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&vm->pit_lock, NULL);
	vm->pit_sync_ready = true;
	int rc = pthread_create(&vm->pit_thread, NULL, pit_thread_main, vm);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start the PIT's timer thread: %s", strerror(rc));
		return -1;
	}
	vm->pit_thread_started = true;
	return 0;
}

/* The 8259s as firmware leaves them: initialised (vectors 0x20-0x2f, away from the exception
 * vectors) and every input masked. A guest that never programs them (Linux on the board's
 * hardware-reduced ACPI never does) would otherwise get, through LINT0's ExtINT, a device's
 * IRQ n as vector n: the UART's IRQ 4 arrived as #OF while Linux probed the UART. */
static void init_pics_as_firmware(struct vm *vm)
{
	static const struct {
		uint16_t port;
		uint8_t value;
	} seq[] = {{0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0x21, 0xff},
		   {0xa0, 0x11}, {0xa1, 0x28}, {0xa1, 0x02}, {0xa1, 0x01}, {0xa1, 0xff}};
	for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
		uint8_t v = seq[k].value;
		io_bus_write(&vm->pio, seq[k].port, &v, 1);
	}
}

int vm_userspace_irqchip_create(struct vm *vm, char *err, size_t err_len)
{
	struct pc_irqchip_config cfg = {
	    .nr_vcpus = vm->max_vcpus,
	    .clock = clock_now,
	    .tsc_hz = vm->clock.tsc_hz,
	    .x2apic = true,
	    .tsc_deadline = true,
	    .min_timer_period_ns = VM_MIN_TIMER_PERIOD_NS,
	    .guest_tsc = guest_tsc,
	    .kick = kick_vcpu,
	    .pit_deadline_changed = pit_deadline_changed,
	    .opaque = vm,
	};
	int rc = pc_irqchip_create(&cfg, &vm->pio, &vm->mmio, &vm->irqchip);
	if (rc < 0) {
		snprintf(err, err_len, "cannot create the interrupt controllers: %s",
			 strerror(-rc));
		return -1;
	}
	vm->irq = pc_irqchip_router(vm->irqchip);
	init_pics_as_firmware(vm);
	return start_pit_thread(vm, err, err_len);
}

void vm_userspace_irqchip_stop_timer(struct vm *vm)
{
	if (vm->pit_thread_started) {
		pthread_mutex_lock(&vm->pit_lock);
		vm->pit_stop = true;
		pthread_cond_signal(&vm->pit_cond);
		pthread_mutex_unlock(&vm->pit_lock);
		pthread_join(vm->pit_thread, NULL);
		vm->pit_thread_started = false;
	}
}

void vm_userspace_irqchip_destroy(struct vm *vm)
{
	vm_userspace_irqchip_stop_timer(vm);
	if (vm->pit_sync_ready) {
		pthread_cond_destroy(&vm->pit_cond);
		pthread_mutex_destroy(&vm->pit_lock);
		vm->pit_sync_ready = false;
	}
	if (vm->irqchip)
		pc_irqchip_destroy(vm->irqchip);
	vm->irqchip = NULL;
}

/* ---- the hooks of one vCPU (called on its own thread) ---- */

static void hook_pio(void *opaque, uint16_t port, void *data, unsigned size, bool is_write)
{
	struct vm_vcpu *v = opaque;
	if (is_write)
		io_bus_write(&v->vm->pio, port, data, size);
	else
		io_bus_read(&v->vm->pio, port, data, size);
}

/* This vCPU's LAPIC page first (it is on no shared bus), then the MMIO bus. */
static void hook_mmio(void *opaque, uint64_t gpa, void *data, unsigned size, bool is_write)
{
	struct vm_vcpu *v = opaque;
	struct vm *vm = v->vm;
	if (is_write) {
		if (!pc_irqchip_mmio_write(vm->irqchip, v->index, gpa, data, size))
			io_bus_write(&vm->mmio, gpa, data, size);
	} else if (!pc_irqchip_mmio_read(vm->irqchip, v->index, gpa, data, size)) {
		io_bus_read(&vm->mmio, gpa, data, size);
	}
}

static int hook_rdmsr(void *opaque, uint32_t index, uint64_t *value)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_rdmsr(v->vm->irqchip, v->index, index, value);
}

static int hook_wrmsr(void *opaque, uint32_t index, uint64_t value)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_wrmsr(v->vm->irqchip, v->index, index, value);
}

static uint8_t hook_get_tpr(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return lapic_get_tpr(pc_irqchip_lapic(v->vm->irqchip, v->index));
}

static void hook_set_tpr(void *opaque, uint8_t tpr)
{
	struct vm_vcpu *v = opaque;
	lapic_set_tpr(pc_irqchip_lapic(v->vm->irqchip, v->index), tpr);
}

static int hook_pending_interrupt(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_pending(v->vm->irqchip, v->index);
}

static int hook_acknowledge_interrupt(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_acknowledge(v->vm->irqchip, v->index);
}

static bool hook_take_nmi(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_take_nmi(v->vm->irqchip, v->index);
}

static bool hook_take_init(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_take_init(v->vm->irqchip, v->index);
}

static bool hook_take_sipi(void *opaque, uint8_t *vector)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_take_sipi(v->vm->irqchip, v->index, vector);
}

static uint64_t hook_timer_deadline(void *opaque)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_vcpu_deadline(v->vm->irqchip, v->index);
}

static void hook_timer_advance(void *opaque, uint64_t now_ns)
{
	struct vm_vcpu *v = opaque;
	pc_irqchip_vcpu_advance(v->vm->irqchip, v->index, now_ns);
}

static int hook_save_lapic(void *opaque, struct vcpu_state *state)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_vcpu_save(v->vm->irqchip, v->index, state);
}

static int hook_load_lapic(void *opaque, const struct vcpu_state *state)
{
	struct vm_vcpu *v = opaque;
	return pc_irqchip_vcpu_load(v->vm->irqchip, v->index, state);
}

void vm_userspace_irqchip_hooks(struct vm_vcpu *vcpu, struct accel_vcpu_hooks *hooks)
{
	*hooks = (struct accel_vcpu_hooks){
	    .opaque = vcpu,
	    .pio = hook_pio,
	    .mmio = hook_mmio,
	    .rdmsr = hook_rdmsr,
	    .wrmsr = hook_wrmsr,
	    .get_tpr = hook_get_tpr,
	    .set_tpr = hook_set_tpr,
	    .attention = &pc_irqchip_lapic(vcpu->vm->irqchip, vcpu->index)->attention,
	    .pending_interrupt = hook_pending_interrupt,
	    .acknowledge_interrupt = hook_acknowledge_interrupt,
	    .take_nmi = hook_take_nmi,
	    .take_init = hook_take_init,
	    .take_sipi = hook_take_sipi,
	    .timer_deadline = hook_timer_deadline,
	    .timer_advance = hook_timer_advance,
	    .save_lapic = hook_save_lapic,
	    .load_lapic = hook_load_lapic,
	};
}
