/* vhost-net: the kernel moves virtio-net's packets between the guest's rings and the tap
 * itself (/dev/vhost-net), so neither a kick nor a packet passes through the VMM. The VMM
 * describes guest memory and the rings, hands over the queues' kick eventfds and interrupt
 * eventfds, and takes the rings back (their avail index) when the driver resets the device. */
#ifndef GUREUM_VIRTIO_VHOST_NET_H
#define GUREUM_VIRTIO_VHOST_NET_H

#include "virtio/virtio_device.h"

#include <stddef.h>
#include <stdint.h>

/* One /dev/vhost-net instance serves one queue pair: its rings 0 (receive) and 1 (transmit).
 * A multi-queue card opens one per pair. */
#define VHOST_NET_QUEUES 2

struct vhost_net;

/* Opens `device` (VHOST_NET_DEVICE, /dev/vhost-net) and becomes its owner (the kernel starts
 * its worker thread). Returns NULL with a sentence in `err` (e.g. the module is not loaded). */
struct vhost_net *vhost_net_open(const char *device, char *err, size_t err_len);
void vhost_net_close(struct vhost_net *vn);

/* The virtio feature bits the kernel implements for us (ring layout, event index, indirect
 * descriptors, mergeable receive buffers). Offload bits are the tap's business, not vhost's. */
uint64_t vhost_net_features(const struct vhost_net *vn);

/* Eventfd that the kernel writes when ring `index` (0 or 1) wants an interrupt and the
 * transport has no irqfd for it: the device thread must watch it and raise the interrupt
 * itself. */
int vhost_net_call_fd(const struct vhost_net *vn, unsigned index);

/* Hands the started queues first_queue (receive) and first_queue + 1 (transmit) of `d` to the
 * kernel with `tap_fd` (that pair's tap queue) as backend, with the negotiated features.
 * Called with the device lock held. Returns 0, or -1 with `err` set and the kernel's rings
 * detached again. */
int vhost_net_start(struct vhost_net *vn, struct virtio_device *d, unsigned first_queue, int tap_fd,
		    char *err, size_t err_len);
/* Detaches the backend and takes the rings back: after it returns the kernel no longer
 * touches guest memory, and each queue's last_avail_idx is the kernel's. */
void vhost_net_stop(struct vhost_net *vn, struct virtio_device *d);

#endif
