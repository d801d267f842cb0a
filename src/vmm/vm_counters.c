/* The counters API's view of a running VM (api_protocol.h's "counters"): each vCPU's exits and
 * its accelerator's counters, each virtio device's notifications and, for disks and network
 * cards, their requests and traffic. Nothing here stops a vCPU or a device: the vCPU counters
 * are read with relaxed loads (each written by its own thread only), the devices' under their
 * own locks, so a read costs the guest nothing. A guest reboot makes a new VM whose counters
 * start at 0: the session adds those of the VMs before (vm_counters_add), so that what the API
 * reports only grows. */
#include "vmm/vm_counters.h"

#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
	/* vCPU hotplug changes nr_vcpus under the VM's lock; the slots below it stay valid. */
	pthread_mutex_lock(&vm->lock);
	unsigned nr_vcpus = vm->nr_vcpus;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < nr_vcpus && i < API_MAX_VCPUS; i++)
		read_vcpu(vm, &vm->vcpus[i], &out->vcpus[out->nr_vcpus++]);
	for (unsigned i = 0; i < vm->nr_virtio && i < API_MAX_DEVICES; i++)
		read_device(virtio_pci_device(vm->virtio[i]), &out->devices[out->nr_devices++]);
}

/* `more`'s accelerator counters into `total`'s, matched by name (a name total lacks is added,
 * while there is room). */
static void add_accel(struct api_vcpu_counters *total, const struct api_vcpu_counters *more)
{
	for (unsigned i = 0; i < more->nr_accel; i++) {
		unsigned k = 0;
		while (k < total->nr_accel &&
		       strcmp(total->accel[k].name, more->accel[i].name) != 0)
			k++;
		if (k == total->nr_accel) {
			if (k == API_MAX_ACCEL_COUNTERS)
				continue;
			total->accel[total->nr_accel++] = (struct accel_stat){0};
			memcpy(total->accel[k].name, more->accel[i].name,
			       sizeof(total->accel[k].name));
		}
		total->accel[k].value += more->accel[i].value;
	}
}

static void add_blk(struct virtio_blk_counters *t, const struct virtio_blk_counters *m)
{
	t->read_requests += m->read_requests;
	t->read_bytes += m->read_bytes;
	t->write_requests += m->write_requests;
	t->write_bytes += m->write_bytes;
	t->flush_requests += m->flush_requests;
	t->discard_requests += m->discard_requests;
	t->write_zeroes_requests += m->write_zeroes_requests;
	t->errors += m->errors;
}

static void add_net(struct virtio_net_info *t, const struct virtio_net_info *m)
{
	t->rx_packets += m->rx_packets;
	t->rx_bytes += m->rx_bytes;
	t->tx_packets += m->tx_packets;
	t->tx_bytes += m->tx_bytes;
	t->rx_dropped += m->rx_dropped;
	t->tx_dropped += m->tx_dropped;
	t->ctrl_errors += m->ctrl_errors;
}

void vm_counters_add(struct api_counters *total, const struct api_counters *more)
{
	for (unsigned i = 0; i < more->nr_vcpus && i < API_MAX_VCPUS; i++) {
		struct api_vcpu_counters *t = &total->vcpus[i];
		for (unsigned k = 0; k < API_EXIT_KINDS; k++)
			t->exits[k] += more->vcpus[i].exits[k];
		add_accel(t, &more->vcpus[i]);
	}
	if (total->nr_vcpus < more->nr_vcpus)
		total->nr_vcpus = more->nr_vcpus;
	for (unsigned i = 0; i < more->nr_devices && i < API_MAX_DEVICES; i++) {
		struct api_device_counters *t = &total->devices[i];
		const struct api_device_counters *m = &more->devices[i];
		if (i >= total->nr_devices) { /* new to total: its name and kind, counts from 0 */
			*t = (struct api_device_counters){.kind = m->kind};
			memcpy(t->name, m->name, sizeof(t->name));
		}
		t->kicks += m->kicks;
		t->interrupts += m->interrupts;
		if (t->kind == API_DEVICE_BLK && m->kind == API_DEVICE_BLK)
			add_blk(&t->blk, &m->blk);
		else if (t->kind == API_DEVICE_NET && m->kind == API_DEVICE_NET)
			add_net(&t->net, &m->net);
	}
	if (total->nr_devices < more->nr_devices)
		total->nr_devices = more->nr_devices;
}
