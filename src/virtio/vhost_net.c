/* vhost-net (see vhost_net.h): the rings are vhost.c's; what is net's is the tap as each ring's
 * backend, which makes the kernel serve it. The kernel side is drivers/vhost/net.c. */
#include "virtio/vhost_net.h"

#include "lib/log.h"
#include "virtio/vhost.h"
#include "virtio/virtio_net.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Virtio bits the kernel's vhost-net implements itself. Bit 27 is left out on purpose: to
 * vhost it means VHOST_NET_F_VIRTIO_NET_HDR (vhost adds the header), but the tap does that. */
#define VHOST_NET_RING_FEATURES                                                                    \
	(VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |   \
	 VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_NOTIFY_ON_EMPTY) |           \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

struct vhost_net {
	struct vhost vhost;
	uint64_t features;		    /* VHOST_GET_FEATURES & VHOST_NET_RING_FEATURES */
	bool backend_set[VHOST_NET_QUEUES]; /* what vhost_net_stop must undo */
};

struct vhost_net *vhost_net_open(const char *device, char *err, size_t err_len)
{
	struct vhost_net *vn = calloc(1, sizeof(*vn));
	if (!vn) {
		snprintf(err, err_len, "vhost-net: out of memory");
		return NULL;
	}
	if (vhost_open(&vn->vhost, device, "vhost-net", VHOST_NET_QUEUES,
		       "load the module: modprobe vhost_net", err, err_len) < 0) {
		vhost_net_close(vn);
		return NULL;
	}
	vn->features = vn->vhost.features & VHOST_NET_RING_FEATURES;
	return vn;
}

void vhost_net_close(struct vhost_net *vn)
{
	if (!vn)
		return;
	vhost_close(&vn->vhost);
	free(vn);
}

uint64_t vhost_net_features(const struct vhost_net *vn)
{
	return vn->features;
}

int vhost_net_call_fd(const struct vhost_net *vn, unsigned index)
{
	return vhost_call_fd(&vn->vhost, index);
}

int vhost_net_start(struct vhost_net *vn, struct virtio_device *d, unsigned first_queue, int tap_fd,
		    char *err, size_t err_len)
{
	uint64_t features = d->driver_features & vn->features;
	if (vhost_start_rings(&vn->vhost, d, first_queue, features, err, err_len) < 0)
		return -1;
	/* With a backend the kernel starts serving the ring. */
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		struct vhost_vring_file backend = {.index = i, .fd = tap_fd};
		if (ioctl(vn->vhost.fd, VHOST_NET_SET_BACKEND, &backend) < 0) {
			snprintf(err, err_len, "vhost-net: queue %u: VHOST_NET_SET_BACKEND: %s",
				 first_queue + i, strerror(errno));
			vhost_net_stop(vn, d);
			return -1;
		}
		vn->backend_set[i] = true;
	}
	vhost_kick_rings(&vn->vhost, d);
	return 0;
}

void vhost_net_stop(struct vhost_net *vn, struct virtio_device *d)
{
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		struct vhost_vring_file none = {.index = i, .fd = -1};
		if (vn->backend_set[i] && ioctl(vn->vhost.fd, VHOST_NET_SET_BACKEND, &none) < 0)
			log_warn("%s: vhost-net: detaching queue %u: %s", d->name,
				 vn->vhost.first + i, strerror(errno));
		vn->backend_set[i] = false;
	}
	vhost_stop_rings(&vn->vhost, d);
}
