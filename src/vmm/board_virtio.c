/* The board's virtio devices: one virtio-pci function per device on bus 0, each in the lowest
 * free slot from 1 in a fixed order (disks, NICs, console, rng, balloon, vsock, mem, the
 * display's tablet and keyboard) so that a guest sees the same PCI addresses on every boot of the
 * same configuration; a disk pinned to a slot (slot=, as one added while the guest ran is) takes
 * that one. BARs are placed by us, as firmware would, one 64 KiB BAR per slot from the start of the
 * PCI MMIO window. */
#include "vmm/vm.h"

#include "machine/acpi.h"
#include "machine/layout.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_pci.h"

#include <stdio.h>
#include <string.h>

static void on_console_output(void *opaque, const uint8_t *buf, size_t len)
{
	console_write(opaque, buf, len);
}

static struct virtio_pci_env transport_env(struct vm *vm)
{
	struct virtio_pci_env env = {
	    .pci = &vm->pci,
	    .mmio = &vm->mmio,
	    .mem = &vm->mem,
	    .irq = vm->irq,
	};
	if (vm->accel->kick_router)
		env.kick = vm->accel->kick_router(vm->accel_vm);
	return env;
}

/* Whether a device placed now without a slot of its own may take `slot`: nothing is there, and
 * no disk or card of the configuration is pinned to it (slot=, which a device added while the
 * guest ran keeps across reboots, snapshots and migrations). */
static bool slot_free(struct vm *vm, unsigned slot)
{
	if (slot == 0 || slot >= PCI_HOST_SLOTS || pci_host_slot_used(&vm->pci, slot))
		return false;
	for (unsigned i = 0; i < vm->config->nr_disks; i++)
		if (vm->config->disks[i].slot == slot)
			return false;
	for (unsigned i = 0; i < vm->config->nr_nics; i++)
		if (vm->config->nics[i].slot == slot)
			return false;
	return true;
}

unsigned board_free_pci_slot(struct vm *vm)
{
	for (unsigned slot = 1; slot < PCI_HOST_SLOTS; slot++)
		if (slot_free(vm, slot))
			return slot;
	return 0;
}

/* Keeps vm->virtio in slot order, which a snapshot's records follow. */
static void insert_in_slot_order(struct vm *vm, struct virtio_pci *vp)
{
	unsigned at = vm->nr_virtio;
	while (at > 0 && virtio_pci_slot(vm->virtio[at - 1]) > virtio_pci_slot(vp)) {
		vm->virtio[at] = vm->virtio[at - 1];
		at--;
	}
	vm->virtio[at] = vp;
	vm->nr_virtio++;
}

struct virtio_pci *board_plug_virtio(struct vm *vm, struct virtio_device *dev, unsigned slot,
				     char *err, size_t err_len)
{
	if (!dev)
		return NULL;
	if (slot == 0)
		slot = board_free_pci_slot(vm);
	if (slot == 0 || vm->nr_virtio >= VM_MAX_VIRTIO_DEVICES) {
		snprintf(err, err_len, "%s: no free PCI slot for it", dev->name);
		virtio_device_destroy(dev);
		return NULL;
	}
	/* Each slot has its BAR's place, as firmware would have put it. */
	uint64_t bar = LAYOUT_PCI_MMIO_START + (slot - 1) * VIRTIO_PCI_BAR_SIZE;
	struct virtio_pci_env env = transport_env(vm);
	/* INTA#, routed as the DSDT's _PRT declares it. */
	uint32_t intx_gsi = acpi_pci_intx_gsi(slot, 0);
	struct virtio_pci *vp = virtio_pci_create(dev, &env, slot, bar, intx_gsi, err, err_len);
	if (vp)
		insert_in_slot_order(vm, vp);
	return vp;
}

/* Takes ownership of dev (NULL: the constructor failed and filled in err). */
static int plug(struct vm *vm, struct virtio_device *dev, char *err, size_t err_len)
{
	return board_plug_virtio(vm, dev, 0, err, err_len) ? 0 : -1;
}

/* vhost-net writes received frames into guest RAM from the host kernel, unseen by an
 * accelerator that must hear of device writes (a software CPU caching decoded code): such a VM
 * moves its frames through gureum (vhost=auto) or refuses vhost=on. */
static int nic_options(const struct vm *vm, const struct net_config *asked, struct net_config *nic,
		       char *err, size_t err_len)
{
	*nic = *asked;
	if (!vm->accel->memory_written || nic->vhost == VHOST_OFF)
		return 0;
	if (nic->vhost == VHOST_ON) {
		snprintf(err, err_len,
			 "--net tap=%s,vhost=on: vhost-net writes guest memory behind the %s "
			 "accelerator's back; use vhost=auto or off with it",
			 nic->tap, vm->accel->name);
		return -1;
	}
	nic->vhost = VHOST_OFF;
	return 0;
}

/* socket=PATH: gureum's own host side; without it the host kernel's vhost-vsock, which writes
 * guest memory behind the back of an accelerator that must hear of device writes (as vhost-net
 * does), with no userspace path to fall back to. */
static struct virtio_device *vsock_create(const struct vm *vm, char *err, size_t err_len)
{
	const struct vsock_config *vc = &vm->config->vsock;
	if (vc->socket)
		return virtio_vsock_create(vc, err, err_len);
	if (vm->accel->memory_written) {
		snprintf(err, err_len,
			 "--vsock cid=%llu: vhost-vsock writes guest memory behind the %s "
			 "accelerator's back; give socket=PATH for gureum's own host side",
			 (unsigned long long)vc->cid, vm->accel->name);
		return NULL;
	}
	return virtio_vsock_vhost_create(vc, err, err_len);
}

struct virtio_pci *board_plug_nic(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	struct net_config nic;
	if (nic_options(vm, &vm->config->nics[index], &nic, err, err_len) < 0)
		return NULL;
	struct virtio_device *dev = virtio_net_create(&nic, index, err, err_len);
	vm->nics[index] = board_plug_virtio(vm, dev, nic.slot, err, err_len);
	return vm->nics[index];
}

static int add_disks_and_nics(struct vm *vm, char *err, size_t err_len)
{
	const struct vm_config *c = vm->config;
	for (unsigned i = 0; i < c->nr_disks; i++) {
		struct virtio_device *blk = virtio_blk_create(&c->disks[i], i, err, err_len);
		vm->disks[i] = board_plug_virtio(vm, blk, c->disks[i].slot, err, err_len);
		if (!vm->disks[i])
			return -1;
	}
	for (unsigned i = 0; i < c->nr_nics; i++)
		if (!board_plug_nic(vm, i, err, err_len))
			return -1;
	return 0;
}

/* --display vnc=... (input=virtio, the default): the clients' pointer and keyboard, last, so
 * that the other devices keep their slots with or without a display. */
static int add_input_devices(struct vm *vm, char *err, size_t err_len)
{
	const struct display_options *d = &vm->config->display;
	if (d->kind != DISPLAY_VNC || d->input != DISPLAY_INPUT_VIRTIO)
		return 0;
	vm->virtio_tablet = virtio_tablet_create(d->width, d->height, err, err_len);
	if (plug(vm, vm->virtio_tablet, err, err_len) < 0) {
		vm->virtio_tablet = NULL;
		return -1;
	}
	vm->virtio_keyboard = virtio_keyboard_create(err, err_len);
	if (plug(vm, vm->virtio_keyboard, err, err_len) < 0) {
		vm->virtio_keyboard = NULL;
		return -1;
	}
	return 0;
}

int board_add_virtio_devices(struct vm *vm, char *err, size_t err_len)
{
	const struct vm_config *c = vm->config;
	if (add_disks_and_nics(vm, err, err_len) < 0)
		return -1;
	if (c->console_device == CONSOLE_DEVICE_VIRTIO) {
		struct virtio_console_output out = {on_console_output, vm->console};
		vm->virtio_console = virtio_console_create(out, err, err_len);
		if (plug(vm, vm->virtio_console, err, err_len) < 0) {
			vm->virtio_console = NULL;
			return -1;
		}
	}
	if (c->rng && plug(vm, virtio_rng_create(err, err_len), err, err_len) < 0)
		return -1;
	if (c->balloon) {
		vm->virtio_balloon = virtio_balloon_create(c->balloon_target, err, err_len);
		if (plug(vm, vm->virtio_balloon, err, err_len) < 0) {
			vm->virtio_balloon = NULL;
			return -1;
		}
	}
	if (c->vsock.cid && plug(vm, vsock_create(vm, err, err_len), err, err_len) < 0)
		return -1;
	const struct guest_region *hotplug = guest_memory_hotplug_region(&vm->mem);
	if (hotplug) {
		vm->virtio_mem = virtio_mem_create(hotplug, err, err_len);
		if (plug(vm, vm->virtio_mem, err, err_len) < 0) {
			vm->virtio_mem = NULL;
			return -1;
		}
	}
	return add_input_devices(vm, err, err_len);
}

void board_remove_virtio_devices(struct vm *vm)
{
	while (vm->nr_virtio > 0)
		virtio_pci_destroy(vm->virtio[--vm->nr_virtio]);
	memset(vm->disks, 0, sizeof(vm->disks));
	memset(vm->nics, 0, sizeof(vm->nics));
	vm->virtio_console = NULL;
	vm->virtio_balloon = NULL;
	vm->virtio_mem = NULL;
	vm->virtio_tablet = vm->virtio_keyboard = NULL;
}
