/* vhost-vsock: the host kernel is virtio-vsock's host side (/dev/vhost-vsock). It serves the
 * device's receive and transmit queues itself, and host processes reach the guest with
 * ordinary AF_VSOCK sockets to its CID (the guest reaches their listeners at CID 2). The VMM
 * gives the kernel the guest's CID, guest memory and the two rings, and says when it runs;
 * the event queue stays with the VMM. */
#ifndef GUREUM_VIRTIO_VHOST_VSOCK_H
#define GUREUM_VIRTIO_VHOST_VSOCK_H

#include "virtio/virtio_device.h"

#include <stddef.h>
#include <stdint.h>

/* The kernel's rings: 0 receive (to the guest), 1 transmit; the device's queues 0 and 1. */
#define VHOST_VSOCK_RINGS 2

struct vhost_vsock;

/* Opens `device` (VHOST_VSOCK_DEVICE), becomes its owner and claims `cid` for the guest on
 * this host. Returns NULL with a sentence in `err`: the module is not loaded, or another VM
 * has the CID. */
struct vhost_vsock *vhost_vsock_open(const char *device, uint64_t cid, char *err, size_t err_len);
void vhost_vsock_close(struct vhost_vsock *vv);

/* The virtio feature bits the kernel implements (ring layout, event index, indirect
 * descriptors, VERSION_1). */
uint64_t vhost_vsock_features(const struct vhost_vsock *vv);

/* The eventfd the kernel writes when ring `ring` wants an interrupt and the transport has no
 * irqfd for it: the device thread watches it and raises the interrupt. */
int vhost_vsock_call_fd(const struct vhost_vsock *vv, unsigned ring);

/* Hands queues 0 and 1 of the started device `d` to the kernel with the negotiated features,
 * and lets it run: packets move from here on. Called with the device lock held. Returns 0, or
 * -1 with `err` set and the rings taken back. */
int vhost_vsock_start(struct vhost_vsock *vv, struct virtio_device *d, char *err, size_t err_len);
/* Stops the kernel and takes the rings back: after it returns the kernel no longer touches
 * guest memory and the queues' positions are the kernel's. Host connections stay; packets to
 * the guest wait in the kernel until the next start. */
void vhost_vsock_stop(struct vhost_vsock *vv, struct virtio_device *d);

#endif
