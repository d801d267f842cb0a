/* A virtio-input device (virtio 1.2, 5.8; Linux's virtio_input driver): the configuration space
 * that describes it (virtio_input_config.h), the event queue that carries its events to the
 * guest and the status queue that carries the guest's LED changes back. The tablet and the
 * keyboard (virtio_input_tablet.c, virtio_input_keyboard.c) embed one and decide what to send.
 *
 * Events come from the display's client threads in frames (one or more events ended by
 * EV_SYN SYN_REPORT), each written into its own eventq buffer. While the guest has posted no
 * buffers (its driver busy, the VM paused) frames wait in a bounded queue; when it is full the
 * oldest whole frames are dropped and counted, so that what the guest gets later is still
 * whole frames, newest last. Frames sent before the driver runs are dropped. */
#ifndef GUREUM_VIRTIO_VIRTIO_INPUT_H
#define GUREUM_VIRTIO_VIRTIO_INPUT_H

#include "virtio/virtio_device.h"
#include "virtio/virtio_input_config.h"

#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_INPUT_QUEUE_EVENTS 0
#define VIRTIO_INPUT_QUEUE_STATUS 1
/* Events waiting for eventq buffers at most: 16 frames of a moving, clicking pointer. */
#define VIRTIO_INPUT_PENDING_MAX 64
/* Events in one frame at most. */
#define VIRTIO_INPUT_FRAME_MAX 16

struct virtio_input_stats {
	uint64_t events;	 /* written to eventq buffers */
	uint64_t frames_dropped; /* whole frames lost to a full pending queue */
	uint64_t frames_unready; /* frames sent while the driver was not running */
	uint64_t short_buffers;	 /* eventq buffers too small for an event, skipped */
	uint64_t bad_selects;	 /* config selects the spec does not define */
	uint64_t bad_status;	 /* status buffers that were no valid event */
	uint64_t status_events;	 /* valid ones */
	uint32_t leds;		 /* LED_* bits the guest set last */
};

struct virtio_input {
	struct virtio_device dev; /* first: the core hands us &dev */
	const struct virtio_input_desc *desc;
	/* The configuration the driver selected, and the answer (device lock). */
	uint8_t select, subsel, size;
	uint8_t answer[VIRTIO_INPUT_UNION_SIZE];
	/* Events waiting for buffers: a ring, whole frames only. */
	struct virtio_input_event pending[VIRTIO_INPUT_PENDING_MAX];
	unsigned pending_head, pending_count;
	struct virtq_chain chain; /* scratch, under the device lock */
	struct virtio_input_stats stats;
	/* Called, under the device lock, when the driver resets the device: a model forgets what
	 * it told the guest. May be NULL. */
	void (*model_reset)(struct virtio_input *in);
};

/* Fills in the device for `desc` (kept by pointer: it must outlive the device). `name` names
 * it in logs ("virtio-tablet0"). Returns 0 or -errno. The caller frees the embedding struct
 * through the core's destroy, which free()s `in`'s address: embed it first. */
int virtio_input_init(struct virtio_input *in, const struct virtio_input_desc *desc,
		      const char *name);

/* True when the guest's driver runs (DRIVER_OK, its eventq enabled, nothing failed). Device
 * lock held or not. */
bool virtio_input_driver_ready(struct virtio_input *in);

/* Whether a frame of `n` events fits among the waiting ones without dropping any (device
 * lock held). */
bool virtio_input_has_room(const struct virtio_input *in, unsigned n);

/* Sends one frame of `n` events (at most VIRTIO_INPUT_FRAME_MAX; a SYN_REPORT is added after
 * them). Call with the device lock held (a model's own state goes with it). */
void virtio_input_send_locked(struct virtio_input *in, const struct virtio_input_event *events,
			      unsigned n);

/* Counters. Thread-safe. */
void virtio_input_get_stats(struct virtio_device *d, struct virtio_input_stats *stats);

#endif
