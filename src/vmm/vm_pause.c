/* Pausing a running VM: every vCPU leaves the guest and waits, then every device finishes what
 * it had in flight and stops touching guest memory; resuming undoes it in the opposite order.
 * This is the quiet state a snapshot or a migration's last copy needs; on its own it freezes
 * the guest (the guest's clocks run on meanwhile, so it sees the time jump on resume, as after
 * a host suspend). */
#include "vmm/vm.h"

#include "virtio/virtio_pci.h"

#include <stdio.h>

void vm_park_vcpu_if_paused(struct vm *vm)
{
	if (!__atomic_load_n(&vm->pause_requested, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->lock);
	vm->vcpus_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->pause_requested && vm->stop_reason == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->lock);
	vm->vcpus_parked--;
	pthread_mutex_unlock(&vm->lock);
}

static unsigned started_vcpus(const struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].thread_started && !vm->vcpus[i].unplugged;
	return n;
}

/* Takes every vCPU out of the guest; false when the VM started stopping meanwhile. Called and
 * returns with vm->lock held. */
static bool park_vcpus(struct vm *vm)
{
	__atomic_store_n(&vm->pause_requested, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->pause_cond); /* a throttled vCPU stops sleeping */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vm->accel->vcpu_kick(vm->vcpus[i].accel_vcpu);
	while (vm->vcpus_parked < started_vcpus(vm) && vm->stop_reason == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->lock);
	return vm->stop_reason == VM_RUNNING;
}

void vm_pause_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_device_pause(virtio_pci_device(vm->virtio[i]));
}

void vm_resume_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_device_resume(virtio_pci_device(vm->virtio[i]));
}

int vm_pause(struct vm *vm, char *err, size_t err_len)
{
	pthread_mutex_lock(&vm->lock);
	const char *refusal = vm->stop_reason != VM_RUNNING ? "the VM is stopping"
			      : vm->pause_requested	    ? "the VM is already paused"
							    : NULL;
	if (!refusal && !park_vcpus(vm)) {
		vm->pause_requested = false;
		refusal = "the VM stopped while pausing";
	}
	pthread_mutex_unlock(&vm->lock);
	if (refusal) {
		snprintf(err, err_len, "%s", refusal);
		return -1;
	}
	/* With every vCPU parked nothing new reaches the devices. */
	vm_pause_devices(vm);
	pthread_mutex_lock(&vm->lock);
	vm->paused = true;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

const char *vm_not_running_reason(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	const char *why = vm->stop_reason != VM_RUNNING ? "the VM is stopping"
			  : vm->pause_requested		? "the VM is paused: resume it first"
							: NULL;
	pthread_mutex_unlock(&vm->lock);
	return why;
}

int vm_resume(struct vm *vm, char *err, size_t err_len)
{
	if (!vm_is_paused(vm)) {
		snprintf(err, err_len, "the VM is not paused");
		return -1;
	}
	vm_resume_devices(vm);
	pthread_mutex_lock(&vm->lock);
	vm->paused = false;
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

bool vm_is_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool paused = vm->paused;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}
