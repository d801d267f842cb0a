/* vhost-net (see vhost_net.h). Kernel interface: include/uapi/linux/vhost.h; the kernel side is
 * drivers/vhost/net.c. */
#include "virtio/vhost_net.h"

#include "lib/log.h"
#include "virtio/virtio_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Virtio bits the kernel's vhost-net implements itself. Bit 27 is left out on purpose: to
 * vhost it means VHOST_NET_F_VIRTIO_NET_HDR (vhost adds the header), but the tap does that. */
#define VHOST_NET_RING_FEATURES                                                                    \
	(VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |   \
	 VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_NOTIFY_ON_EMPTY) |           \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

struct vhost_net {
	int fd;
	uint64_t features;		    /* VHOST_GET_FEATURES & VHOST_NET_RING_FEATURES */
	int call_fd[VHOST_NET_QUEUES];	    /* used when the transport has no irqfd */
	bool backend_set[VHOST_NET_QUEUES]; /* what vhost_net_stop must undo */
	unsigned first;			    /* the device's queue that is our ring 0 */
};

struct vhost_net *vhost_net_open(const char *device, char *err, size_t err_len)
{
	struct vhost_net *vn = calloc(1, sizeof(*vn));
	if (!vn) {
		snprintf(err, err_len, "vhost-net: out of memory");
		return NULL;
	}
	vn->call_fd[0] = vn->call_fd[1] = -1;
	vn->fd = open(device, O_RDWR | O_CLOEXEC);
	if (vn->fd < 0) {
		snprintf(err, err_len, "%s: %s (load the module: modprobe vhost_net)", device,
			 strerror(errno));
		goto fail;
	}
	uint64_t features;
	if (ioctl(vn->fd, VHOST_SET_OWNER) < 0 ||
	    ioctl(vn->fd, VHOST_GET_FEATURES, &features) < 0) {
		snprintf(err, err_len, "%s: cannot take ownership: %s", device, strerror(errno));
		goto fail;
	}
	vn->features = features & VHOST_NET_RING_FEATURES;
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		vn->call_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vn->call_fd[i] < 0) {
			snprintf(err, err_len, "vhost-net: eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	return vn;
fail:
	vhost_net_close(vn);
	return NULL;
}

void vhost_net_close(struct vhost_net *vn)
{
	if (!vn)
		return;
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++)
		if (vn->call_fd[i] >= 0)
			close(vn->call_fd[i]);
	if (vn->fd >= 0)
		close(vn->fd);
	free(vn);
}

uint64_t vhost_net_features(const struct vhost_net *vn)
{
	return vn->features;
}

int vhost_net_call_fd(const struct vhost_net *vn, unsigned index)
{
	return index < VHOST_NET_QUEUES ? vn->call_fd[index] : -1;
}

static int set_memory(struct vhost_net *vn, const struct guest_memory *mem)
{
	size_t size =
	    sizeof(struct vhost_memory) + mem->nr_regions * sizeof(struct vhost_memory_region);
	struct vhost_memory *table = calloc(1, size);
	if (!table)
		return -ENOMEM;
	table->nregions = mem->nr_regions;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		table->regions[i].guest_phys_addr = mem->regions[i].gpa;
		table->regions[i].memory_size = mem->regions[i].size;
		table->regions[i].userspace_addr = (uintptr_t)mem->regions[i].host;
	}
	int rc = ioctl(vn->fd, VHOST_SET_MEM_TABLE, table) < 0 ? -errno : 0;
	free(table);
	return rc;
}

/* `index` is our ring (0 or 1); the transport knows the device's queue. */
static int call_fd_for(struct vhost_net *vn, struct virtio_device *d, unsigned index)
{
	int fd = d->transport.queue_irqfd
		     ? d->transport.queue_irqfd(d->transport.opaque, vn->first + index)
		     : -1;
	return fd >= 0 ? fd : vn->call_fd[index];
}

/* The ioctls that describe one ring to the kernel and attach the tap to it. Returns 0, or
 * -errno with the failing step's name in *step. */
static int start_queue(struct vhost_net *vn, struct virtio_device *d, unsigned index, int tap_fd,
		       const char **step)
{
	unsigned queue = vn->first + index;
	struct virtqueue *vq = &d->queues[queue];
	struct vhost_vring_state num = {.index = index, .num = vq->size};
	struct vhost_vring_state base = {.index = index, .num = vq->last_avail_idx};
	struct vhost_vring_addr addr = {
	    .index = index,
	    .desc_user_addr = (uintptr_t)vq->desc,
	    .avail_user_addr = (uintptr_t)vq->avail,
	    .used_user_addr = (uintptr_t)vq->used,
	};
	struct vhost_vring_file kick = {.index = index, .fd = d->kick_fd[queue]};
	struct vhost_vring_file call = {.index = index, .fd = call_fd_for(vn, d, index)};
	struct vhost_vring_file backend = {.index = index, .fd = tap_fd};

	*step = "VHOST_SET_VRING_NUM";
	if (ioctl(vn->fd, VHOST_SET_VRING_NUM, &num) < 0)
		return -errno;
	*step = "VHOST_SET_VRING_BASE";
	if (ioctl(vn->fd, VHOST_SET_VRING_BASE, &base) < 0)
		return -errno;
	*step = "VHOST_SET_VRING_ADDR";
	if (ioctl(vn->fd, VHOST_SET_VRING_ADDR, &addr) < 0)
		return -errno;
	/* From here on the kernel consumes the kick eventfd; the device thread must not. */
	virtio_device_set_kick_external(d, queue, true);
	*step = "VHOST_SET_VRING_KICK";
	if (ioctl(vn->fd, VHOST_SET_VRING_KICK, &kick) < 0)
		return -errno;
	*step = "VHOST_SET_VRING_CALL";
	if (ioctl(vn->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -errno;
	*step = "VHOST_NET_SET_BACKEND";
	if (ioctl(vn->fd, VHOST_NET_SET_BACKEND, &backend) < 0)
		return -errno;
	vn->backend_set[index] = true;
	return 0;
}

int vhost_net_start(struct vhost_net *vn, struct virtio_device *d, unsigned first_queue, int tap_fd,
		    char *err, size_t err_len)
{
	uint64_t features = d->driver_features & vn->features;
	int rc;
	vn->first = first_queue;
	if (ioctl(vn->fd, VHOST_SET_FEATURES, &features) < 0) {
		snprintf(err, err_len, "vhost-net: VHOST_SET_FEATURES %#llx: %s",
			 (unsigned long long)features, strerror(errno));
		return -1;
	}
	rc = set_memory(vn, d->mem);
	if (rc < 0) {
		snprintf(err, err_len, "vhost-net: VHOST_SET_MEM_TABLE: %s", strerror(-rc));
		return -1;
	}
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		const char *step = "";
		if (!d->queues[first_queue + i].enabled || !d->queues[first_queue + i].size) {
			snprintf(err, err_len, "vhost-net: queue %u is not enabled by the driver",
				 first_queue + i);
			vhost_net_stop(vn, d);
			return -1;
		}
		rc = start_queue(vn, d, i, tap_fd, &step);
		if (rc < 0) {
			snprintf(err, err_len, "vhost-net: queue %u: %s: %s", first_queue + i, step,
				 strerror(-rc));
			vhost_net_stop(vn, d);
			return -1;
		}
	}
	/* Chains the driver made available before the kernel watched the kick eventfds would
	 * otherwise wait for the next kick: one spurious kick per queue is harmless. */
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		uint64_t one = 1;
		if (write(d->kick_fd[first_queue + i], &one, sizeof(one)) < 0)
			log_debug("%s: initial vhost kick of queue %u: %s", d->name,
				  first_queue + i, strerror(errno));
	}
	return 0;
}

void vhost_net_stop(struct vhost_net *vn, struct virtio_device *d)
{
	for (unsigned i = 0; i < VHOST_NET_QUEUES; i++) {
		struct virtqueue *vq = &d->queues[vn->first + i];
		struct vhost_vring_file none = {.index = i, .fd = -1};
		struct vhost_vring_state base = {.index = i};
		if (vn->backend_set[i] && ioctl(vn->fd, VHOST_NET_SET_BACKEND, &none) < 0)
			log_warn("%s: vhost-net: detaching queue %u: %s", d->name, vn->first + i,
				 strerror(errno));
		vn->backend_set[i] = false;
		/* Also waits for the kernel's worker to be done with the ring. */
		if (ioctl(vn->fd, VHOST_GET_VRING_BASE, &base) == 0)
			vq->last_avail_idx = (uint16_t)base.num;
		/* The kernel kept its used index to itself: the ring's is the one the guest saw
		 * (a pause saves it, the userspace path pushes after it). */
		virtq_sync_used_idx(vq);
		ioctl(vn->fd, VHOST_SET_VRING_KICK, &none);
		ioctl(vn->fd, VHOST_SET_VRING_CALL, &none);
		virtio_device_set_kick_external(d, vn->first + i, false);
	}
}
