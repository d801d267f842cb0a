/* The VM's side of --display: the framebuffer's memory mapped into the guest where the board's
 * map puts it (machine/layout.h), outside RAM, on either accelerator; the accelerator's log of
 * writes to that region lent to the display, which looks only at the pages the guest wrote;
 * the clients' keys and pointer go to the VM's input devices (vm_input.c). */
#include "vmm/vm.h"

#include "devices/bochs_display.h"
#include "display/display.h"
#include "lib/log.h"
#include "machine/layout.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static int fetch_writes(void *opaque, uint64_t *bitmap)
{
	struct vm *vm = opaque;
	const struct framebuffer *fb = display_framebuffer(vm->display);
	return vm->accel->region_log_fetch(vm->accel_vm, atomic_load(&vm->display_gpa), fb->size,
					   bitmap);
}

int vm_display_attach(struct vm *vm, char *err, size_t err_len)
{
	if (!vm->display)
		return 0;
	struct framebuffer *fb = display_framebuffer(vm->display);
	if (fb->size > LAYOUT_FRAMEBUFFER_MAX) {
		snprintf(err, err_len,
			 "--display: a %ux%u framebuffer does not fit the board's %llu MiB",
			 fb->width, fb->height, LAYOUT_FRAMEBUFFER_MAX >> 20);
		return -1;
	}
	/* A power cycle: the new machine's screen starts black (a restored one too: the
	 * picture is not part of a snapshot; the guest draws it again as it writes). */
	framebuffer_clear(fb);
	display_reset_view(vm->display);
	atomic_store(&vm->display_gpa, LAYOUT_FRAMEBUFFER);
	int rc =
	    vm->accel->map_memory(vm->accel_vm, LAYOUT_FRAMEBUFFER, fb->size, fb->pixels, false);
	if (rc < 0) {
		snprintf(err, err_len, "the accelerator refused the framebuffer at 0x%llx: %s",
			 LAYOUT_FRAMEBUFFER, strerror(-rc));
		return -1;
	}
	bool logged = vm->accel->region_log_start &&
		      vm->accel->region_log_start(vm->accel_vm, LAYOUT_FRAMEBUFFER) == 0;
	if (!logged)
		log_warn("display: the %s accelerator cannot log writes to the framebuffer; the "
			 "whole screen is compared every %d ms instead",
			 vm->accel->name, DISPLAY_TICK_MS);
	display_attach(vm->display, logged ? fetch_writes : NULL, vm);
	vm->display_logged = logged;
	vm->display_attached = true;
	return 0;
}

/* The guest moved the VRAM's BAR (PCI host lock held, on a vCPU thread). Turning decoding off
 * leaves the memory where it is: nothing else is placed there, and a guest that turns it off
 * does not read it meanwhile. */
static void vram_placed(void *opaque, uint64_t gpa, bool decoding)
{
	struct vm *vm = opaque;
	uint64_t now = atomic_load(&vm->display_gpa);
	if (!decoding || gpa == now)
		return;
	int rc = vm->accel->move_memory ? vm->accel->move_memory(vm->accel_vm, now, gpa) : -ENOTSUP;
	if (rc < 0) {
		if (!vm->display_move_refused)
			log_warn("bochs-display: the guest moved its VRAM to 0x%llx, but it stays "
				 "at 0x%llx: %s",
				 (unsigned long long)gpa, (unsigned long long)now,
				 rc == -EEXIST ? "that overlaps other memory" : strerror(-rc));
		vm->display_move_refused = true;
		return;
	}
	atomic_store(&vm->display_gpa, gpa);
	log_info("bochs-display: VRAM at 0x%llx", (unsigned long long)gpa);
	/* Writes made before the move may be missing from the log: compare everything once. */
	display_attach(vm->display, vm->display_logged ? fetch_writes : NULL, vm);
}

int vm_display_plug_adapter(struct vm *vm, char *err, size_t err_len)
{
	if (!vm->display_attached || vm->config->display.adapter != DISPLAY_ADAPTER_BOCHS)
		return 0;
	unsigned slot = board_free_pci_slot(vm);
	if (slot == 0) {
		snprintf(err, err_len,
			 "--display adapter=bochs: no free PCI slot (the virtio devices take all "
			 "%u); use fewer devices",
			 PCI_HOST_SLOTS - 1);
		return -1;
	}
	struct bochs_display_env env = {
	    .mmio = &vm->mmio, .display = vm->display, .vram_placed = vram_placed, .opaque = vm};
	vm->bochs = bochs_display_create(&env, &vm->pci, slot, LAYOUT_FRAMEBUFFER,
					 LAYOUT_DISPLAY_REGS, err, err_len);
	if (!vm->bochs)
		return -1;
	/* The screen stays black under a kernel without the driver: say which one has it. */
	log_info(
	    "display: bochs-display at 00:%02x.0; the guest needs DRM's bochs driver (Debian's "
	    "generic kernel has it, the cloud kernel does not)",
	    slot);
	return 0;
}

void vm_display_unplug_adapter(struct vm *vm)
{
	bochs_display_destroy(vm->bochs);
	vm->bochs = NULL;
}

void vm_display_detach(struct vm *vm)
{
	if (vm->display_attached)
		display_detach(vm->display);
	vm->display_attached = false;
}
