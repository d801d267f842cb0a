/* The part of the kernel's vhost interface (include/uapi/linux/vhost.h) that every vhost device
 * shares: an instance owned by this process, the guest memory table, and the rings the kernel
 * serves in the VMM's place. The device kinds (vhost_net.c, vhost_vsock.c) add what makes the
 * kernel start moving data (a tap as backend, "running").
 *
 * An instance serves `nr_rings` consecutive queues of one virtio device, from `first`: its
 * ring i is the device's queue first + i. While the kernel has a ring, the kernel reads the
 * queue's kick eventfd and raises its interrupt through the transport's irqfd, or through an
 * eventfd of ours (vhost_call_fd) that the device thread watches when there is no irqfd. */
#ifndef GUREUM_VIRTIO_VHOST_H
#define GUREUM_VIRTIO_VHOST_H

#include "virtio/virtio_device.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rings one instance serves at most (vhost-net: a queue pair; vhost-vsock: rx and tx). */
#define VHOST_MAX_RINGS 2

struct vhost {
	int fd;
	const char *what;  /* "vhost-net": the start of every message */
	uint64_t features; /* VHOST_GET_FEATURES */
	unsigned nr_rings;
	unsigned first; /* the device's queue that is our ring 0 (set at start) */
	int call_fd[VHOST_MAX_RINGS];
	bool based[VHOST_MAX_RINGS]; /* the kernel has the ring's position: take it back */
};

/* Opens `device`, becomes its owner (the kernel starts its worker thread) and reads its
 * features. Returns 0, or -1 with a sentence in `err` (a missing or refused device node ends
 * with `hint`, e.g. "load the module: modprobe vhost_net"); vhost_close cleans up either way. */
int vhost_open(struct vhost *v, const char *device, const char *what, unsigned nr_rings,
	       const char *hint, char *err, size_t err_len);
void vhost_close(struct vhost *v);

/* The eventfd the kernel writes for ring `ring` when the transport has no irqfd (-1 for a ring
 * that does not exist). */
int vhost_call_fd(const struct vhost *v, unsigned ring);

/* Hands queues first .. first + nr_rings - 1 of `d` (started, enabled) to the kernel with
 * `features` and guest memory: size, position, addresses, kick and call eventfds. The kernel
 * does nothing with them until the device kind's own step (a backend, running). Called with
 * the device lock held. Returns 0, or -1 with `err` set and the rings taken back. */
int vhost_start_rings(struct vhost *v, struct virtio_device *d, unsigned first, uint64_t features,
		      char *err, size_t err_len);
/* One kick per ring, for chains the driver made available before the kernel watched the kick
 * eventfds (harmless when there were none). */
void vhost_kick_rings(struct vhost *v, struct virtio_device *d);
/* Takes the rings back, after the device kind stopped the kernel's work on them: each queue's
 * last_avail_idx is the kernel's, its used index the one the guest saw, and its kick eventfd
 * the device thread's again. */
void vhost_stop_rings(struct vhost *v, struct virtio_device *d);

#endif
