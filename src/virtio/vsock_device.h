/* What virtio-vsock's two host sides share (virtio 1.2 section 5.10): the device type with its
 * three queues (rx to the guest, tx from it, event), the configuration space (the guest's
 * CID), the event queue's one event, and the saved record "virtio-vsock". The host sides are
 * virtio_vsock.c (gureum's own, on Unix sockets) and virtio_vsock_vhost.c (the host kernel's
 * vhost-vsock); both save the same record, so a VM moves from one to the other. */
#ifndef GUREUM_VIRTIO_VSOCK_DEVICE_H
#define GUREUM_VIRTIO_VSOCK_DEVICE_H

#include "virtio/virtio_device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSOCK_RX_QUEUE	  0
#define VSOCK_TX_QUEUE	  1
#define VSOCK_EVENT_QUEUE 2
#define VSOCK_NUM_QUEUES  3
#define VSOCK_QUEUE_SIZE  256

struct state_writer;
struct state_record;

struct vsock_device {
	struct virtio_device dev; /* first: the core hands us &dev */
	uint64_t guest_cid;	  /* the configuration space: one le64 */
	struct virtq_chain event_chain;
	bool reset_event_due; /* a loaded device: tell the guest its connections are gone */
};

/* The generic part of a vsock device for `cid` with the model's ops. Returns 0, or -1 with a
 * sentence in `err`. */
int vsock_device_init(struct vsock_device *vd, const struct virtio_device_ops *ops, uint64_t cid,
		      char *err, size_t err_len);

/* ops->config_read of both models. */
void vsock_device_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size);

/* Sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET when a load made it due and the driver has posted an
 * event buffer (otherwise at its next kick). For the event queue's kicks: the core polls every
 * queue once the device started, which sends the event a loaded device owes. Not from
 * ops->start, whose notifications are dropped (the device counts as started only after it),
 * so the guest's driver, which reads the event queue only when interrupted, never saw it. */
void vsock_device_send_reset_event(struct vsock_device *vd);

/* ops->save_state of both models: the CID. */
void vsock_device_save_state(struct virtio_device *d, struct state_writer *w);
/* Checks a "virtio-vsock" record and gives its CID. Returns 0, or -1 with `err` set. */
int vsock_device_check_state(const struct state_record *rec, uint64_t *cid, char *err,
			     size_t err_len);

#endif
