/* The saved state of a virtio device, independent of its transport (issue #11,
 * docs/snapshot-format.md): the core's record "virtio-device" (status, negotiated features,
 * configuration generation, every queue's configuration and progress) followed by the device
 * model's own record when it has one (virtio_device_ops.save_state). The transport saves and
 * loads these between its own record and going live (virtio_pci_state.c). */
#ifndef GUREUM_VIRTIO_VIRTIO_DEVICE_STATE_H
#define GUREUM_VIRTIO_VIRTIO_DEVICE_STATE_H

#include "lib/state_record.h"
#include "virtio/virtio_device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a load found valid, waiting to be applied. */
struct virtio_device_loaded {
	uint8_t status, config_generation;
	uint64_t driver_features;
	struct virtqueue queues[VIRTIO_MAX_QUEUES];
	bool has_model_record;
	struct state_record model; /* points into the caller's buffer */
};

/* Writes the core's record and the model's. The device is paused, nothing runs on it. */
void virtio_device_save(struct virtio_device *d, struct state_writer *w);

/* Parses the records at buf[*pos] and validates every value against `d` (its type, the
 * features it offers, its queues' maximum sizes, its guest memory) into `out`, changing
 * nothing. Returns 0 and advances *pos, or -1 with one sentence in err. */
int virtio_device_check_state(struct virtio_device *d, const uint8_t *buf, size_t len, size_t *pos,
			      struct virtio_device_loaded *out, char *err, size_t err_len);

/* Takes what virtio_device_check_state validated. Nothing starts: the transport sets up its
 * interrupts first, then calls virtio_device_start_loaded. */
void virtio_device_apply_state(struct virtio_device *d, const struct virtio_device_loaded *s);

#endif
