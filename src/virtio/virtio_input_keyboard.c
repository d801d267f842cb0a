/* The virtio-input keyboard: the keys of the PS/2 keyboard's table (one list of a 102-key
 * keyboard for both), the three lock LEDs the guest sets through the status queue, and EV_REP,
 * so the guest's input core repeats a held key itself at the rate the guest chose, as for a
 * USB keyboard. A client's own repeated key-down for a key already down (an X server's
 * autorepeat behind a VNC viewer) is therefore not passed on: it would double the rate (the
 * guest's input core ignores a second press with value 1 anyway, and value 2 would add to its
 * own repeats). Keys are never dropped for room among the events waiting for the guest's
 * buffers (a lost release would leave a key stuck): the caller waits instead. */
#include "virtio/virtio_devices.h"
#include "virtio/virtio_input.h"

#include "devices/ps2_scancodes.h"

#include <errno.h>
#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys of the table: all of them below KEY_MICMUTE's 248. */
#define KEYBOARD_KEY_LIMIT 256

struct virtio_keyboard {
	struct virtio_input in; /* first: freed through its address */
	struct virtio_input_desc desc;
	uint8_t down[KEYBOARD_KEY_LIMIT / 8]; /* keys the guest was told are down (device lock) */
	uint64_t repeats_left_to_guest;
};

static void describe(struct virtio_input_desc *desc)
{
	desc->name = "Gureum Virtio Keyboard";
	desc->serial = "gureum-keyboard";
	desc->ids = (struct virtio_input_devids){BUS_VIRTUAL, 0, 1, 1};
	for (unsigned key = 1; key < KEYBOARD_KEY_LIMIT; key++)
		if (ps2_scancode_of_key(key))
			virtio_input_desc_set(desc, EV_KEY, key);
	virtio_input_desc_set(desc, EV_LED, LED_NUML);
	virtio_input_desc_set(desc, EV_LED, LED_CAPSL);
	virtio_input_desc_set(desc, EV_LED, LED_SCROLLL);
	virtio_input_desc_set(desc, EV_REP, REP_DELAY);
}

static void keyboard_reset(struct virtio_input *in)
{
	struct virtio_keyboard *k = (struct virtio_keyboard *)in;
	memset(k->down, 0, sizeof(k->down));
}

struct virtio_device *virtio_keyboard_create(char *err, size_t err_len)
{
	struct virtio_keyboard *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, err_len, "virtio-keyboard: out of memory");
		return NULL;
	}
	describe(&k->desc);
	k->in.model_reset = keyboard_reset;
	int rc = virtio_input_init(&k->in, &k->desc, "virtio-keyboard0");
	if (rc < 0) {
		snprintf(err, err_len, "virtio-keyboard: cannot create the device: %s",
			 strerror(-rc));
		free(k);
		return NULL;
	}
	return &k->in.dev;
}

int virtio_keyboard_key(struct virtio_device *d, unsigned key, bool down)
{
	struct virtio_keyboard *k = (struct virtio_keyboard *)d;
	if (!virtio_input_desc_has(&k->desc, EV_KEY, key))
		return -ENODEV;
	pthread_mutex_lock(&d->lock);
	uint8_t bit = (uint8_t)(1u << (key % 8));
	bool was_down = k->down[key / 8] & bit;
	int rc = 0;
	if (!virtio_input_driver_ready(&k->in)) {
		rc = -ENODEV;
	} else if (down && was_down) {
		k->repeats_left_to_guest++;
	} else if (!virtio_input_has_room(&k->in, 1)) {
		rc = -EAGAIN;
	} else {
		struct virtio_input_event ev = {EV_KEY, (uint16_t)key, down};
		virtio_input_send_locked(&k->in, &ev, 1);
		k->down[key / 8] = down ? k->down[key / 8] | bit : k->down[key / 8] & ~bit;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}
