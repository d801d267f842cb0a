/* The virtio-input tablet: an absolute pointer whose range is the screen's pixels, so that a
 * VNC client's pointer position is the guest's, with no mouse acceleration or grabbing in
 * between; three buttons and a wheel. It sends only what changed since the last frame the
 * guest got. */
#include "virtio/virtio_devices.h"
#include "virtio/virtio_input.h"

#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct virtio_tablet {
	struct virtio_input in; /* first: freed through its address */
	struct virtio_input_desc desc;
	uint32_t max_x, max_y;
	/* What the guest was sent last (device lock); `known` false: nothing yet, or frames
	 * were lost, so the next frame says everything. */
	bool known;
	unsigned buttons;
	uint32_t x, y;
	uint64_t seen_dropped;
};

static const struct {
	unsigned mask, code;
} buttons[] = {
    {VIRTIO_TABLET_BUTTON_LEFT, BTN_LEFT},
    {VIRTIO_TABLET_BUTTON_MIDDLE, BTN_MIDDLE},
    {VIRTIO_TABLET_BUTTON_RIGHT, BTN_RIGHT},
};

static void describe(struct virtio_tablet *t, uint32_t width, uint32_t height)
{
	struct virtio_input_desc *desc = &t->desc;
	desc->name = "Gureum Virtio Tablet";
	desc->serial = "gureum-tablet";
	desc->ids = (struct virtio_input_devids){BUS_VIRTUAL, 0, 2, 1};
	for (size_t i = 0; i < sizeof(buttons) / sizeof(buttons[0]); i++)
		virtio_input_desc_set(desc, EV_KEY, buttons[i].code);
	virtio_input_desc_set(desc, EV_REL, REL_WHEEL);
	virtio_input_desc_set(desc, EV_ABS, ABS_X);
	virtio_input_desc_set(desc, EV_ABS, ABS_Y);
	t->max_x = width - 1;
	t->max_y = height - 1;
	desc->abs[ABS_X] = (struct virtio_input_absinfo){.max = t->max_x};
	desc->abs[ABS_Y] = (struct virtio_input_absinfo){.max = t->max_y};
}

static void tablet_reset(struct virtio_input *in)
{
	((struct virtio_tablet *)in)->known = false;
}

struct virtio_device *virtio_tablet_create(uint32_t width, uint32_t height, char *err,
					   size_t err_len)
{
	struct virtio_tablet *t = calloc(1, sizeof(*t));
	if (!t || !width || !height) {
		snprintf(err, err_len, "virtio-tablet: %s",
			 t ? "the screen has no pixels" : "out of memory");
		free(t);
		return NULL;
	}
	describe(t, width, height);
	t->in.model_reset = tablet_reset;
	int rc = virtio_input_init(&t->in, &t->desc, "virtio-tablet0");
	if (rc < 0) {
		snprintf(err, err_len, "virtio-tablet: cannot create the device: %s",
			 strerror(-rc));
		free(t);
		return NULL;
	}
	return &t->in.dev;
}

static unsigned add(struct virtio_input_event *ev, unsigned n, unsigned type, unsigned code,
		    int32_t value)
{
	ev[n] = (struct virtio_input_event){(uint16_t)type, (uint16_t)code, (uint32_t)value};
	return n + 1;
}

/* The events from what the guest was sent to (mask, x, y). */
static unsigned changes(const struct virtio_tablet *t, unsigned mask, uint32_t x, uint32_t y,
			struct virtio_input_event *ev)
{
	unsigned n = 0;
	if (!t->known || x != t->x)
		n = add(ev, n, EV_ABS, ABS_X, (int32_t)x);
	if (!t->known || y != t->y)
		n = add(ev, n, EV_ABS, ABS_Y, (int32_t)y);
	unsigned was = t->known ? t->buttons : 0;
	for (size_t i = 0; i < sizeof(buttons) / sizeof(buttons[0]); i++)
		if ((mask ^ was) & buttons[i].mask)
			n = add(ev, n, EV_KEY, buttons[i].code, !!(mask & buttons[i].mask));
	/* The wheel's "buttons" click once per press; their releases say nothing. */
	if (mask & ~was & VIRTIO_TABLET_BUTTON_WHEEL_UP)
		n = add(ev, n, EV_REL, REL_WHEEL, 1);
	if (mask & ~was & VIRTIO_TABLET_BUTTON_WHEEL_DOWN)
		n = add(ev, n, EV_REL, REL_WHEEL, -1);
	return n;
}

void virtio_tablet_pointer(struct virtio_device *d, unsigned mask, uint32_t x, uint32_t y)
{
	struct virtio_tablet *t = (struct virtio_tablet *)d;
	x = x < t->max_x ? x : t->max_x;
	y = y < t->max_y ? y : t->max_y;
	pthread_mutex_lock(&d->lock);
	if (t->in.stats.frames_dropped != t->seen_dropped) {
		t->seen_dropped = t->in.stats.frames_dropped;
		t->known = false; /* the guest may have missed a move or a release */
	}
	struct virtio_input_event ev[VIRTIO_INPUT_FRAME_MAX];
	unsigned n = changes(t, mask, x, y, ev);
	/* What the guest did not get (no driver: counted as unready) is not what it has. */
	bool ready = virtio_input_driver_ready(&t->in);
	if (n)
		virtio_input_send_locked(&t->in, ev, n);
	if (n && ready) {
		t->known = true;
		t->buttons = mask;
		t->x = x;
		t->y = y;
	}
	pthread_mutex_unlock(&d->lock);
}
