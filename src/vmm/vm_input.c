/* The display's clients type and point on the VM: keys go to the virtio keyboard once the
 * guest's virtio-input driver runs it, to the PS/2 keyboard behind the i8042 before that (the
 * boot, a guest without the module, --display ...,input=ps2), never to both, or the guest's
 * console would get every key twice; the pointer goes to the virtio tablet.
 *
 * The display calls these one at a time (under its input lock), so keys_on_ps2 needs no lock
 * of its own. */
#include "vmm/vm.h"

#include "display/display.h"
#include "lib/log.h"
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <time.h>

/* How long a key waits for room in the controller (or among the virtio keyboard's waiting
 * events): the guest takes the bytes at its keyboard interrupt's pace, and a burst (a paste, a
 * typing client) waits here, on the client's thread, as behind a real keyboard's own buffer. A
 * guest that reads nothing (paused, or its keyboard driver gone) loses the key after that. */
#define KEY_WAIT_MS 500

static void type_on_ps2(struct vm *vm, unsigned key, bool down)
{
	for (int ms = 0; i8042_key(&vm->kbc, key, down) == -EAGAIN; ms++) {
		if (ms == KEY_WAIT_MS) {
			log_debug("display: the guest took no keyboard bytes for %d ms; key %u "
				  "dropped",
				  KEY_WAIT_MS, key);
			return;
		}
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

static bool held_on_ps2(const struct vm *vm, unsigned key)
{
	return key < VM_INPUT_KEY_LIMIT && (vm->keys_on_ps2[key / 8] >> (key % 8)) & 1;
}

static void mark_on_ps2(struct vm *vm, unsigned key, bool down)
{
	if (key >= VM_INPUT_KEY_LIMIT)
		return;
	uint8_t bit = (uint8_t)(1u << (key % 8));
	vm->keys_on_ps2[key / 8] =
	    down ? vm->keys_on_ps2[key / 8] | bit : vm->keys_on_ps2[key / 8] & (uint8_t)~bit;
}

/* The virtio keyboard takes the key: 0 (also when it was dropped after waiting KEY_WAIT_MS
 * for room), or -ENODEV when its driver does not run. */
static int type_on_virtio(struct vm *vm, unsigned key, bool down)
{
	int rc;
	for (int ms = 0; (rc = virtio_keyboard_key(vm->virtio_keyboard, key, down)) == -EAGAIN;
	     ms++) {
		if (ms == KEY_WAIT_MS) {
			log_debug("display: the guest took no virtio keyboard events for %d ms; "
				  "key %u dropped",
				  KEY_WAIT_MS, key);
			return 0;
		}
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	return rc;
}

/* A key held on the PS/2 keyboard stays there (its repeats and its release), so that the
 * guest never sees a key down on one keyboard released on the other. */
static void route_key(void *opaque, unsigned key, bool down)
{
	struct vm *vm = opaque;
	if (!held_on_ps2(vm, key) && vm->virtio_keyboard && type_on_virtio(vm, key, down) == 0)
		return;
	mark_on_ps2(vm, key, down);
	type_on_ps2(vm, key, down);
}

static void route_pointer(void *opaque, unsigned buttons, uint32_t x, uint32_t y)
{
	struct vm *vm = opaque;
	virtio_tablet_pointer(vm->virtio_tablet, buttons, x, y);
}

_Static_assert(VIRTIO_TABLET_BUTTON_LEFT == 1 && VIRTIO_TABLET_BUTTON_MIDDLE == 2 &&
		   VIRTIO_TABLET_BUTTON_RIGHT == 4 && VIRTIO_TABLET_BUTTON_WHEEL_UP == 8 &&
		   VIRTIO_TABLET_BUTTON_WHEEL_DOWN == 16,
	       "the tablet takes RFB's button mask as the display passes it");

void vm_input_attach(struct vm *vm)
{
	if (vm->display_attached)
		display_attach_input(vm->display, route_key,
				     vm->virtio_tablet ? route_pointer : NULL, vm);
}
