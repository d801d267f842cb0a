/* Disk and network card hotplug through the guest's ACPI PCI hotplug
 * (machine/acpi_pci_slots.c). Adding a device creates its virtio device and plugs it into a
 * free slot of bus 0 while the vCPUs wait (they look up PCI functions and BARs the plug
 * changes), then tells the guest, which finds the function, gives it resources and binds its
 * driver. Removing one asks the guest; Linux unbinds the driver, removes the function and runs
 * the slot's _EJ0. The eject arrives on a vCPU thread, which must not wait for a pause: it only
 * marks the slot, and the session takes the device away on its own thread (vm_remove_ejected). */
#include "vmm/vm.h"

#include "lib/log.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[] = {"disk", "card"};

/* The devices of one kind, in configuration order, and how many the configuration has. */
static struct virtio_pci **devices_of(struct vm *vm, enum vm_hotplug_kind kind, unsigned *count)
{
	*count = kind == VM_HOTPLUG_DISK ? vm->config->nr_disks : vm->config->nr_nics;
	return kind == VM_HOTPLUG_DISK ? vm->disks : vm->nics;
}

static unsigned pinned_slot(const struct vm *vm, enum vm_hotplug_kind kind, unsigned index)
{
	return kind == VM_HOTPLUG_DISK ? vm->config->disks[index].slot
				       : vm->config->nics[index].slot;
}

/* Runs `change` with the vCPUs out of the guest and the devices quiet: paused here, or already
 * (an operator's pause, whose state is what the change then leaves). */
typedef int (*bus_change)(struct vm *vm, unsigned kind, unsigned index, char *err, size_t err_len);

static int with_vm_paused(struct vm *vm, bus_change change, unsigned kind, unsigned index,
			  char *err, size_t err_len)
{
	bool paused_here = !vm_is_paused(vm);
	if (paused_here && vm_pause(vm, err, err_len) < 0)
		return -1;
	int rc = change(vm, kind, index, err, err_len);
	char ignored[128];
	if (paused_here)
		vm_resume(vm, ignored, sizeof(ignored));
	return rc;
}

static int plug(struct vm *vm, unsigned kind, unsigned index, char *err, size_t err_len)
{
	if (kind == VM_HOTPLUG_NIC)
		return board_plug_nic(vm, index, err, err_len) ? 0 : -1;
	const struct disk_config *d = &vm->config->disks[index];
	struct virtio_device *blk = virtio_blk_create(d, index, err, err_len);
	vm->disks[index] = board_plug_virtio(vm, blk, d->slot, err, err_len);
	return vm->disks[index] ? 0 : -1;
}

int vm_add_device(struct vm *vm, enum vm_hotplug_kind kind, unsigned index, char *err,
		  size_t err_len)
{
	const char *why = vm_not_running_reason(vm);
	if (why) {
		snprintf(err, err_len, "%s-add: %s", kind_names[kind], why);
		return -1;
	}
	unsigned count;
	struct virtio_pci **devices = devices_of(vm, kind, &count);
	if (!vm->has_pci_hotplug || index >= count || devices[index] ||
	    pinned_slot(vm, kind, index) == 0) {
		snprintf(err, err_len, "%s-add: this VM cannot take devices while it runs",
			 kind_names[kind]);
		return -1;
	}
	if (with_vm_paused(vm, plug, kind, index, err, err_len) < 0)
		return -1;
	hotplug_slots_insert(&vm->pci_hotplug, pinned_slot(vm, kind, index));
	return 0;
}

int vm_request_removal(struct vm *vm, enum vm_hotplug_kind kind, unsigned index, char *err,
		       size_t err_len)
{
	const char *why = vm_not_running_reason(vm);
	if (why) {
		snprintf(err, err_len, "%s-remove: %s", kind_names[kind], why);
		return -1;
	}
	unsigned count;
	struct virtio_pci **devices = devices_of(vm, kind, &count);
	if (!vm->has_pci_hotplug || index >= count || !devices[index]) {
		snprintf(err, err_len, "%s-remove: %s %u is not on the VM", kind_names[kind],
			 kind_names[kind], index);
		return -1;
	}
	hotplug_slots_request_removal(&vm->pci_hotplug, virtio_pci_slot(devices[index]));
	return 0;
}

uint32_t vm_take_ejected_slots(struct vm *vm)
{
	return atomic_exchange(&vm->pci_ejected, 0);
}

/* Which disk or card sits in `slot`: its index, or -1. */
static int device_in_slot(struct vm *vm, unsigned slot, enum vm_hotplug_kind *kind)
{
	for (unsigned k = VM_HOTPLUG_DISK; k <= VM_HOTPLUG_NIC; k++) {
		unsigned count;
		struct virtio_pci **devices = devices_of(vm, k, &count);
		for (unsigned i = 0; i < count; i++) {
			if (devices[i] && virtio_pci_slot(devices[i]) == slot) {
				*kind = k;
				return (int)i;
			}
		}
	}
	return -1;
}

/* Out of vm->virtio (keeping the slot order) and freed; the later disks or cards move down an
 * index, as the configuration's do. */
static int unplug(struct vm *vm, unsigned kind, unsigned index, char *err, size_t err_len)
{
	(void)err, (void)err_len;
	unsigned count;
	struct virtio_pci **devices = devices_of(vm, kind, &count);
	unsigned max = kind == VM_HOTPLUG_DISK ? CONFIG_MAX_DISKS : CONFIG_MAX_NICS;
	struct virtio_pci *vp = devices[index];
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i] != vp)
			continue;
		memmove(&vm->virtio[i], &vm->virtio[i + 1],
			(vm->nr_virtio - i - 1) * sizeof(vm->virtio[0]));
		vm->nr_virtio--;
		break;
	}
	memmove(&devices[index], &devices[index + 1], (max - index - 1) * sizeof(devices[0]));
	devices[max - 1] = NULL;
	virtio_pci_destroy(vp);
	return 0;
}

static bool is_pinned(struct vm *vm, struct virtio_pci *vp)
{
	for (unsigned k = VM_HOTPLUG_DISK; k <= VM_HOTPLUG_NIC; k++) {
		unsigned count;
		struct virtio_pci **devices = devices_of(vm, k, &count);
		for (unsigned i = 0; i < count; i++)
			if (devices[i] == vp && pinned_slot(vm, k, i))
				return true;
	}
	return false;
}

/* Whether a device placed by order (no slot of its own) sits after `slot`: it would move
 * down on a boot without the device that was there. */
static bool later_devices_would_move(struct vm *vm, unsigned slot)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		if (virtio_pci_slot(vm->virtio[i]) > slot && !is_pinned(vm, vm->virtio[i]))
			return true;
	return false;
}

int vm_remove_ejected(struct vm *vm, unsigned slot, enum vm_hotplug_kind *kind, char *err,
		      size_t err_len)
{
	int index = device_in_slot(vm, slot, kind);
	if (index < 0) {
		/* Only disks and cards leave: the guest gave up a device of the board, which
		 * stays. */
		hotplug_slots_set_present(&vm->pci_hotplug, slot, true);
		snprintf(err, err_len,
			 "the guest ejected PCI slot %u, which holds no disk or network card",
			 slot);
		return -1;
	}
	if (!pinned_slot(vm, *kind, (unsigned)index) && later_devices_would_move(vm, slot))
		vm->pci_layout_changed = true;
	if (with_vm_paused(vm, unplug, *kind, (unsigned)index, err, err_len) < 0) {
		atomic_fetch_or(&vm->pci_ejected, 1u << slot); /* stopping: nothing to undo */
		return -1;
	}
	return index;
}

const char *vm_device_state(struct vm *vm, enum vm_hotplug_kind kind, unsigned index)
{
	unsigned count;
	struct virtio_pci **devices = devices_of(vm, kind, &count);
	if (index >= count || !devices[index] || !vm->has_pci_hotplug)
		return "attached";
	unsigned slot = virtio_pci_slot(devices[index]);
	uint8_t status = hotplug_slots_status(&vm->pci_hotplug, slot);
	if (hotplug_slots_leaving(&vm->pci_hotplug, slot) || !(status & LAYOUT_HP_PRESENT))
		return "removing";
	return status & LAYOUT_HP_INSERT ? "inserting" : "attached";
}

bool vm_pci_settled(struct vm *vm, char *err, size_t err_len)
{
	if (vm->pci_layout_changed) {
		snprintf(err, err_len,
			 "a disk or card given at start was removed, so devices would move on the "
			 "PCI bus of the copy; reboot the guest first");
		return false;
	}
	for (unsigned k = VM_HOTPLUG_DISK; vm->has_pci_hotplug && k <= VM_HOTPLUG_NIC; k++) {
		unsigned count;
		devices_of(vm, k, &count);
		for (unsigned i = 0; i < count; i++) {
			const char *state = vm_device_state(vm, k, i);
			if (strcmp(state, "attached") != 0) {
				snprintf(err, err_len,
					 "%s %u is %s: wait until the guest has taken the change",
					 kind_names[k], i, state);
				return false;
			}
		}
	}
	return true;
}
