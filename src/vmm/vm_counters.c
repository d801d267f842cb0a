/* The counters API's view of a running VM (api_protocol.h's "counters"): each vCPU's exits and
 * its accelerator's counters, each virtio device's notifications and, for disks and network
 * cards, their requests and traffic. Nothing here stops a vCPU or a device: the vCPU counters
 * are read with relaxed loads (each written by its own thread only), the devices' under their
 * own locks, so a read costs the guest nothing. */
#include "vmm/vm_counters.h"

#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"

#include <pthread.h>
#include <stdio.h>

/* vcpu_exit_reason -> the reply's kinds; the reasons that end a run are "other". */
static enum api_vcpu_exit exit_kind(enum vcpu_exit_reason reason)
{
	switch (reason) {
	case VCPU_EXIT_IO:
		return API_EXIT_IO;
	case VCPU_EXIT_MMIO:
		return API_EXIT_MMIO;
	case VCPU_EXIT_HLT:
		return API_EXIT_HLT;
	case VCPU_EXIT_INTERRUPTED:
		return API_EXIT_INTERRUPTED;
	default:
		return API_EXIT_OTHER;
	}
}

static void read_vcpu(const struct vm *vm, const struct vm_vcpu *vcpu,
		      struct api_vcpu_counters *out)
{
	for (unsigned r = 0; r < sizeof(vcpu->exits) / sizeof(vcpu->exits[0]); r++)
		out->exits[exit_kind((enum vcpu_exit_reason)r)] +=
		    __atomic_load_n(&vcpu->exits[r], __ATOMIC_RELAXED);
	if (vm->accel->vcpu_stats && vcpu->accel_vcpu)
		out->nr_accel = (unsigned)vm->accel->vcpu_stats(vcpu->accel_vcpu, out->accel,
								API_MAX_ACCEL_COUNTERS);
}

static void read_device(struct virtio_device *d, struct api_device_counters *out)
{
	snprintf(out->name, sizeof(out->name), "%s", d->name);
	pthread_mutex_lock(&d->lock);
	out->kicks = d->kicks;
	out->interrupts = d->interrupts;
	pthread_mutex_unlock(&d->lock);
	out->kind = API_DEVICE_VIRTIO;
	if (d->device_id == VIRTIO_ID_BLOCK) {
		out->kind = API_DEVICE_BLK;
		virtio_blk_get_counters(d, &out->blk);
	} else if (d->device_id == VIRTIO_ID_NET) {
		out->kind = API_DEVICE_NET;
		virtio_net_get_info(d, &out->net);
	}
}

void vm_read_counters(struct vm *vm, struct api_counters *out)
{
	for (unsigned i = 0; i < vm->nr_vcpus && i < API_MAX_VCPUS; i++)
		read_vcpu(vm, &vm->vcpus[i], &out->vcpus[out->nr_vcpus++]);
	for (unsigned i = 0; i < vm->nr_virtio && i < API_MAX_DEVICES; i++)
		read_device(virtio_pci_device(vm->virtio[i]), &out->devices[out->nr_devices++]);
}
