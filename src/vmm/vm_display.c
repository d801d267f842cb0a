/* The VM's side of --display: the framebuffer's memory mapped into the guest where the board's
 * map puts it (machine/layout.h), outside RAM, on either accelerator; the accelerator's log of
 * writes to that region lent to the display, which looks only at the pages the guest wrote;
 * the clients' keys and pointer go to the VM's input devices (vm_input.c). */
#include "vmm/vm.h"

#include "display/display.h"
#include "lib/log.h"
#include "machine/layout.h"

#include <string.h>

static int fetch_writes(void *opaque, uint64_t *bitmap)
{
	struct vm *vm = opaque;
	const struct framebuffer *fb = display_framebuffer(vm->display);
	return vm->accel->region_log_fetch(vm->accel_vm, LAYOUT_FRAMEBUFFER, fb->size, bitmap);
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
	vm->display_attached = true;
	return 0;
}

void vm_display_detach(struct vm *vm)
{
	if (vm->display_attached)
		display_detach(vm->display);
	vm->display_attached = false;
}
