/* Disk hotplug through the guest's ACPI PCI hotplug (machine/acpi_pci_slots.c). Adding a disk
 * creates its virtio-blk device and plugs it into a free slot of bus 0 while the vCPUs wait
 * (they look up PCI functions and BARs the plug changes), then tells the guest, which finds the
 * function, gives it resources and binds virtio-blk. Removing one asks the guest; Linux unbinds
 * the driver, removes the function and runs the slot's _EJ0. The eject arrives on a vCPU
 * thread, which must not wait for a pause: it only marks the slot, and the session takes the
 * device away on its own thread (vm_remove_ejected). */
#include "vmm/vm.h"

#include "lib/log.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Runs `change` with the vCPUs out of the guest and the devices quiet: paused here, or already
 * (an operator's pause, whose state is what the change then leaves). */
static int with_vm_paused(struct vm *vm, int (*change)(struct vm *, unsigned, char *, size_t),
			  unsigned arg, char *err, size_t err_len)
{
	bool paused_here = !vm_is_paused(vm);
	if (paused_here && vm_pause(vm, err, err_len) < 0)
		return -1;
	int rc = change(vm, arg, err, err_len);
	char ignored[128];
	if (paused_here)
		vm_resume(vm, ignored, sizeof(ignored));
	return rc;
}

static int plug_disk(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	const struct disk_config *d = &vm->config->disks[index];
	struct virtio_device *blk = virtio_blk_create(d, index, err, err_len);
	vm->disks[index] = board_plug_virtio(vm, blk, d->slot, err, err_len);
	return vm->disks[index] ? 0 : -1;
}

int vm_add_disk(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	const char *why = vm_not_running_reason(vm);
	if (why) {
		snprintf(err, err_len, "disk-add: %s", why);
		return -1;
	}
	if (!vm->has_pci_hotplug || index >= vm->config->nr_disks || vm->disks[index] ||
	    vm->config->disks[index].slot == 0) {
		snprintf(err, err_len, "disk-add: this VM cannot take disks while it runs");
		return -1;
	}
	if (with_vm_paused(vm, plug_disk, index, err, err_len) < 0)
		return -1;
	hotplug_slots_insert(&vm->pci_hotplug, vm->config->disks[index].slot);
	return 0;
}

int vm_request_disk_removal(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	const char *why = vm_not_running_reason(vm);
	if (why) {
		snprintf(err, err_len, "disk-remove: %s", why);
		return -1;
	}
	if (!vm->has_pci_hotplug || index >= vm->config->nr_disks || !vm->disks[index]) {
		snprintf(err, err_len, "disk-remove: disk %u is not on the VM", index);
		return -1;
	}
	hotplug_slots_request_removal(&vm->pci_hotplug, virtio_pci_slot(vm->disks[index]));
	return 0;
}

uint32_t vm_take_ejected_slots(struct vm *vm)
{
	return atomic_exchange(&vm->pci_ejected, 0);
}

static int disk_in_slot(const struct vm *vm, unsigned slot)
{
	for (unsigned i = 0; i < vm->config->nr_disks; i++)
		if (vm->disks[i] && virtio_pci_slot(vm->disks[i]) == slot)
			return (int)i;
	return -1;
}

/* Out of vm->virtio (keeping the slot order) and freed; the later disks move down an index,
 * as the configuration's do. */
static int unplug_disk(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	(void)err, (void)err_len;
	struct virtio_pci *vp = vm->disks[index];
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i] != vp)
			continue;
		memmove(&vm->virtio[i], &vm->virtio[i + 1],
			(vm->nr_virtio - i - 1) * sizeof(vm->virtio[0]));
		vm->nr_virtio--;
		break;
	}
	memmove(&vm->disks[index], &vm->disks[index + 1],
		(CONFIG_MAX_DISKS - index - 1) * sizeof(vm->disks[0]));
	vm->disks[CONFIG_MAX_DISKS - 1] = NULL;
	virtio_pci_destroy(vp);
	return 0;
}

/* Whether a device placed by order (no slot of its own) sits after `slot`: it would move
 * down on a boot without the disk that was there. */
static bool later_devices_would_move(struct vm *vm, unsigned slot)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		if (virtio_pci_slot(vm->virtio[i]) <= slot)
			continue;
		bool pinned = false;
		for (unsigned d = 0; d < vm->config->nr_disks; d++)
			pinned |= vm->disks[d] == vm->virtio[i] && vm->config->disks[d].slot;
		if (!pinned)
			return true;
	}
	return false;
}

int vm_remove_ejected(struct vm *vm, unsigned slot, char *err, size_t err_len)
{
	int index = disk_in_slot(vm, slot);
	if (index < 0) {
		/* Only disks leave: the guest gave up a device of the board, which stays. */
		hotplug_slots_set_present(&vm->pci_hotplug, slot, true);
		snprintf(err, err_len, "the guest ejected PCI slot %u, which holds no disk", slot);
		return -1;
	}
	if (!vm->config->disks[index].slot && later_devices_would_move(vm, slot))
		vm->pci_layout_changed = true;
	if (with_vm_paused(vm, unplug_disk, (unsigned)index, err, err_len) < 0) {
		atomic_fetch_or(&vm->pci_ejected, 1u << slot); /* stopping: nothing to undo */
		return -1;
	}
	return index;
}

const char *vm_disk_state(struct vm *vm, unsigned index)
{
	if (index >= vm->config->nr_disks || !vm->disks[index] || !vm->has_pci_hotplug)
		return "attached";
	uint8_t status = hotplug_slots_status(&vm->pci_hotplug, virtio_pci_slot(vm->disks[index]));
	if (status & LAYOUT_HP_REMOVE || !(status & LAYOUT_HP_PRESENT))
		return "removing";
	return status & LAYOUT_HP_INSERT ? "inserting" : "attached";
}

bool vm_pci_settled(struct vm *vm, char *err, size_t err_len)
{
	if (vm->pci_layout_changed) {
		snprintf(err, err_len,
			 "a disk given at start was removed, so devices would move on the PCI "
			 "bus of the copy; reboot the guest first");
		return false;
	}
	for (unsigned i = 0; vm->has_pci_hotplug && i < vm->config->nr_disks; i++) {
		const char *state = vm_disk_state(vm, i);
		if (strcmp(state, "attached") != 0) {
			snprintf(err, err_len,
				 "disk %u is %s: wait until the guest has taken the change", i,
				 state);
			return false;
		}
	}
	return true;
}
