#include "vmm/vm.h"

#include "accel/cpu_models.h"
#include "lib/log.h"
#include "vmm/postcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static void on_device_write(void *opaque, uint64_t gpa, uint64_t len)
{
	struct vm *vm = opaque;
	vm->accel->memory_written(vm->accel_vm, gpa, len);
}

static int map_guest_ram(struct vm *vm, char *err, size_t err_len)
{
	int rc =
	    guest_memory_create_hotplug(&vm->mem, vm->config->memory, vm->config->memory_hotplug);
	if (rc < 0) {
		snprintf(err, err_len, "cannot reserve %llu MiB of guest RAM: %s",
			 (unsigned long long)(vm->config->memory >> 20), strerror(-rc));
		return -1;
	}
	if (vm->origin && vm->origin->map_memory &&
	    vm->origin->map_memory(vm, vm->origin->opaque, err, err_len) < 0)
		return -1;
	if (vm->accel->memory_written)
		vm->mem.observer = (struct guest_memory_observer){on_device_write, vm};
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];
		rc = vm->accel->map_memory(vm->accel_vm, r->gpa, r->size, r->host, false);
		if (rc < 0) {
			snprintf(err, err_len, "the accelerator refused guest RAM at 0x%llx: %s",
				 (unsigned long long)r->gpa, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* Where the accelerator keeps the guest TSC itself (KVM: the host's rate unless --tsc-khz
 * asks for another, which needs TSC scaling), the VMM's clock runs at its rate, so the saved
 * state names the rate the guest saw. (Elsewhere the VMM's clock is the guest TSC: vm_create
 * set its rate.) */
int vm_set_vcpus_tsc_hz(struct vm *vm, uint64_t hz)
{
	if (!vm->accel->vcpu_set_tsc_hz)
		return -ENOTSUP;
	int rc = 0;
	for (unsigned i = 0; i < vm->nr_vcpus && rc == 0; i++)
		rc = vm->accel->vcpu_set_tsc_hz(vm->vcpus[i].accel_vcpu, hz);
	return rc;
}

static int set_guest_tsc_rate(struct vm *vm, char *err, size_t err_len)
{
	if (!vm->accel->vcpu_tsc_hz)
		return 0;
	uint64_t want = vm->config->tsc_khz * 1000;
	if (want) {
		int rc = vm_set_vcpus_tsc_hz(vm, want);
		if (rc < 0) {
			uint64_t own = vm->accel->vcpu_tsc_hz(vm->vcpus[0].accel_vcpu);
			snprintf(err, err_len,
				 "--tsc-khz %llu: the %s accelerator cannot run the guest's TSC at "
				 "that rate here (%s: no TSC scaling?); its own is %llu kHz",
				 (unsigned long long)vm->config->tsc_khz, vm->accel->name,
				 strerror(-rc), (unsigned long long)(own / 1000));
			return -1;
		}
	}
	uint64_t tsc_hz = vm->accel->vcpu_tsc_hz(vm->vcpus[0].accel_vcpu);
	if (tsc_hz)
		guest_clock_init(&vm->clock, tsc_hz);
	return 0;
}

int vm_create_vcpu(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	struct vm_vcpu *v = &vm->vcpus[index];
	v->vm = vm;
	v->index = index;
	struct accel_vcpu_hooks hooks;
	if (vm->irqchip)
		vm_userspace_irqchip_hooks(v, &hooks);
	int rc = vm->accel->vcpu_create(vm->accel_vm, index, vm->irqchip ? &hooks : NULL,
					&v->accel_vcpu);
	if (rc < 0) {
		snprintf(err, err_len, "cannot create vCPU %u: %s", index, strerror(-rc));
		return -1;
	}
	return 0;
}

static int create_vcpus(struct vm *vm, char *err, size_t err_len)
{
	vm->vcpus = calloc(vm->max_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm_create_vcpu(vm, i, err, err_len) < 0)
			return -1;
	return set_guest_tsc_rate(vm, err, err_len);
}

/* The accelerator's VM, showing the guest the --cpu-model's features, and refused when this host
 * lacks any of them. */
static int create_accel_vm(struct vm *vm, char *err, size_t err_len)
{
	const char *spec = vm->config->cpu_model ? vm->config->cpu_model : "host";
	struct cpu_model model;
	if (cpu_model_parse(spec, &model, err, err_len) < 0)
		return -1;
	/* The accelerator is made for every vCPU the VM may get (its CPUID's topology too). */
	struct accel_vm_config accel_config = {.nr_vcpus = vm->max_vcpus, .clock = &vm->clock};
	cpu_model_configure(&model, &accel_config);
	if (vm->accel->vm_create(&accel_config, &vm->accel_vm, err, err_len) < 0)
		return -1;
	struct cpu_features offered;
	if (cpu_features_of_vm(vm->accel, vm->accel_vm, &offered) < 0)
		return 0; /* the accelerator cannot tell: nothing to check */
	char host[64];
	snprintf(host, sizeof(host), "this host's CPU (as the %s accelerator offers it)",
		 vm->accel->name);
	return cpu_model_check(&model, spec, &offered, host, err, err_len);
}

struct vm *vm_create(const struct vm_config *config, const struct accel_ops *accel,
		     struct console *console, struct display *display,
		     const struct vm_origin *origin, char *err, size_t err_len)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	vm->config = config;
	vm->accel = accel;
	vm->console = console;
	vm->display = display;
	vm->origin = origin;
	vm->nr_vcpus = config->cpus;
	vm->max_vcpus = config->max_cpus > config->cpus ? config->max_cpus : config->cpus;
	pthread_mutex_init(&vm->lock, NULL);
	vm->hotplug_fd = -1;
	pthread_mutex_init(&vm->resize_lock, NULL);
	pthread_cond_init(&vm->stopped_cond, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	io_bus_init(&vm->pio, "port I/O");
	io_bus_init(&vm->mmio, "MMIO");
	guest_clock_init(&vm->clock, config->tsc_khz ? config->tsc_khz * 1000 : VM_GUEST_TSC_HZ);
	if (create_accel_vm(vm, err, err_len) < 0)
		goto refused;
	if (accel->in_kernel_irqchip)
		vm->irq = accel->irq_router(vm->accel_vm);
	else if (vm_userspace_irqchip_create(vm, err, err_len) < 0)
		goto refused;
	if (map_guest_ram(vm, err, err_len) < 0 || vm_display_attach(vm, err, err_len) < 0 ||
	    create_vcpus(vm, err, err_len) < 0 || board_build(vm, err, err_len) < 0)
		goto refused;
	if (origin && origin->load(vm, origin->opaque, err, err_len) < 0)
		goto fail;
	vm_input_attach(vm);
	return vm;
refused:
	if (origin && origin->refuse)
		origin->refuse(origin->opaque, err);
fail:
	vm_destroy(vm);
	return NULL;
}

int vm_start(struct vm *vm, char *err, size_t err_len)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vm_vcpu *v = &vm->vcpus[i];
		int rc = pthread_create(&v->thread, NULL, vcpu_thread_main, v);
		if (rc != 0) {
			snprintf(err, err_len, "cannot start the thread of vCPU %u: %s", i,
				 strerror(rc));
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
			return -1;
		}
		v->thread_started = true;
	}
	return 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->stop_reason == VM_RUNNING) {
		vm->stop_reason = reason;
		vm->exit_status = exit_status;
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus && vm->vcpus[i].accel_vcpu)
				vm->accel->vcpu_kick(vm->vcpus[i].accel_vcpu);
		pthread_cond_broadcast(&vm->stopped_cond);
		pthread_cond_broadcast(&vm->pause_cond); /* parked vCPUs leave, a pauser gives up */
	}
	pthread_mutex_unlock(&vm->lock);
}

enum vm_stop_reason vm_wait(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (vm->stop_reason == VM_RUNNING)
		pthread_cond_wait(&vm->stopped_cond, &vm->lock);
	enum vm_stop_reason reason = vm->stop_reason;
	pthread_mutex_unlock(&vm->lock);
	return reason;
}

static void join_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->max_vcpus; i++) {
		if (!vm->vcpus[i].thread_started)
			continue;
		/* Kick again: a vCPU may have been between its stop check and KVM_RUN. */
		vm->accel->vcpu_kick(vm->vcpus[i].accel_vcpu);
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
}

static void destroy_vcpus(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->max_vcpus; i++)
		if (vm->vcpus[i].accel_vcpu)
			vm->accel->vcpu_destroy(vm->vcpus[i].accel_vcpu);
	free(vm->vcpus);
	vm->vcpus = NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* The display's fetches read the vCPUs' state (the software CPU's): none from now on. */
	vm_display_detach(vm);
	vm_throttle_stop(vm);
	vm_userspace_irqchip_stop_timer(vm);
	if (vm->vcpus) {
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
		join_vcpus(vm);
	}
	board_remove_virtio_devices(vm);
	vm_display_unplug_adapter(vm);
	postcopy_destination_finish(vm->postcopy);
	vm->postcopy = NULL;
	if (vm->devices_attached) {
		uart16550_destroy(&vm->uart);
		i8042_destroy(&vm->kbc);
		pci_host_destroy(&vm->pci);
		if (vm->has_cpu_hotplug)
			hotplug_slots_destroy(&vm->cpu_hotplug);
		if (vm->has_pci_hotplug)
			hotplug_slots_destroy(&vm->pci_hotplug);
	}
	/* Only now, with every device that raises interrupts gone: a device's timer on the event
	 * loop (the balloon's statistics) could still send an MSI whose LAPIC kicks its vCPU, a
	 * kick that reached a vCPU being destroyed (UBSan saw it on a migration's destination). */
	destroy_vcpus(vm);
	vm_userspace_irqchip_destroy(vm);
	if (vm->accel_vm)
		vm->accel->vm_destroy(vm->accel_vm);
	guest_memory_destroy(&vm->mem);
	if (vm->bios_image)
		munmap(vm->bios_image, vm->bios_size);
	io_bus_destroy(&vm->pio);
	io_bus_destroy(&vm->mmio);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->resize_lock);
	pthread_cond_destroy(&vm->stopped_cond);
	pthread_cond_destroy(&vm->pause_cond);
	free(vm);
}
