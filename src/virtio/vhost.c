/* The vhost rings (see vhost.h). The kernel side is drivers/vhost/vhost.c. */
#include "virtio/vhost.h"

#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

int vhost_open(struct vhost *v, const char *device, const char *what, unsigned nr_rings,
	       const char *hint, char *err, size_t err_len)
{
	*v = (struct vhost){.fd = -1, .what = what, .nr_rings = nr_rings};
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		v->call_fd[i] = -1;
	if (nr_rings > VHOST_MAX_RINGS) {
		snprintf(err, err_len, "%s: %u rings (at most %d)", what, nr_rings,
			 VHOST_MAX_RINGS);
		return -1;
	}
	v->fd = open(device, O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		snprintf(err, err_len, "%s: %s (%s)", device, strerror(errno), hint);
		return -1;
	}
	uint64_t features;
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, &features) < 0) {
		snprintf(err, err_len, "%s: cannot take ownership: %s", device, strerror(errno));
		return -1;
	}
	v->features = features;
	for (unsigned i = 0; i < nr_rings; i++) {
		v->call_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (v->call_fd[i] < 0) {
			snprintf(err, err_len, "%s: eventfd: %s", what, strerror(errno));
			return -1;
		}
	}
	return 0;
}

void vhost_close(struct vhost *v)
{
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		if (v->call_fd[i] >= 0)
			close(v->call_fd[i]);
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		v->call_fd[i] = -1;
}

int vhost_call_fd(const struct vhost *v, unsigned ring)
{
	return ring < v->nr_rings ? v->call_fd[ring] : -1;
}

static int set_memory(struct vhost *v, const struct guest_memory *mem)
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
	int rc = ioctl(v->fd, VHOST_SET_MEM_TABLE, table) < 0 ? -errno : 0;
	free(table);
	return rc;
}

/* `ring` is ours; the transport knows the device's queue. */
static int call_fd_for(struct vhost *v, struct virtio_device *d, unsigned ring)
{
	int fd = d->transport.queue_irqfd
		     ? d->transport.queue_irqfd(d->transport.opaque, v->first + ring)
		     : -1;
	return fd >= 0 ? fd : v->call_fd[ring];
}

/* The ioctls that describe one ring to the kernel. Returns 0, or -errno with the failing
 * step's name in *step. */
static int start_ring(struct vhost *v, struct virtio_device *d, unsigned ring, const char **step)
{
	unsigned queue = v->first + ring;
	struct virtqueue *vq = &d->queues[queue];
	struct vhost_vring_state num = {.index = ring, .num = vq->size};
	struct vhost_vring_state base = {.index = ring, .num = vq->last_avail_idx};
	struct vhost_vring_addr addr = {
	    .index = ring,
	    .desc_user_addr = (uintptr_t)vq->desc,
	    .avail_user_addr = (uintptr_t)vq->avail,
	    .used_user_addr = (uintptr_t)vq->used,
	};
	struct vhost_vring_file kick = {.index = ring, .fd = d->kick_fd[queue]};
	struct vhost_vring_file call = {.index = ring, .fd = call_fd_for(v, d, ring)};

	*step = "VHOST_SET_VRING_NUM";
	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0)
		return -errno;
	*step = "VHOST_SET_VRING_BASE";
	if (ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0)
		return -errno;
	v->based[ring] = true;
	*step = "VHOST_SET_VRING_ADDR";
	if (ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0)
		return -errno;
	/* From here on the kernel consumes the kick eventfd; the device thread must not. */
	virtio_device_set_kick_external(d, queue, true);
	*step = "VHOST_SET_VRING_KICK";
	if (ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0)
		return -errno;
	*step = "VHOST_SET_VRING_CALL";
	if (ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -errno;
	return 0;
}

int vhost_start_rings(struct vhost *v, struct virtio_device *d, unsigned first, uint64_t features,
		      char *err, size_t err_len)
{
	v->first = first;
	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0) {
		snprintf(err, err_len, "%s: VHOST_SET_FEATURES %#llx: %s", v->what,
			 (unsigned long long)features, strerror(errno));
		return -1;
	}
	int rc = set_memory(v, d->mem);
	if (rc < 0) {
		snprintf(err, err_len, "%s: VHOST_SET_MEM_TABLE: %s", v->what, strerror(-rc));
		return -1;
	}
	for (unsigned i = 0; i < v->nr_rings; i++) {
		const char *step = "";
		if (!d->queues[first + i].enabled || !d->queues[first + i].size) {
			snprintf(err, err_len, "%s: queue %u is not enabled by the driver", v->what,
				 first + i);
			vhost_stop_rings(v, d);
			return -1;
		}
		rc = start_ring(v, d, i, &step);
		if (rc < 0) {
			snprintf(err, err_len, "%s: queue %u: %s: %s", v->what, first + i, step,
				 strerror(-rc));
			vhost_stop_rings(v, d);
			return -1;
		}
	}
	return 0;
}

void vhost_kick_rings(struct vhost *v, struct virtio_device *d)
{
	for (unsigned i = 0; i < v->nr_rings; i++) {
		uint64_t one = 1;
		if (write(d->kick_fd[v->first + i], &one, sizeof(one)) < 0)
			log_debug("%s: initial %s kick of queue %u: %s", d->name, v->what,
				  v->first + i, strerror(errno));
	}
}

void vhost_stop_rings(struct vhost *v, struct virtio_device *d)
{
	for (unsigned i = 0; i < v->nr_rings; i++) {
		struct virtqueue *vq = &d->queues[v->first + i];
		struct vhost_vring_file none = {.index = i, .fd = -1};
		struct vhost_vring_state base = {.index = i};
		/* Also waits for the kernel's worker to be done with the ring. A ring the kernel
		 * was never given keeps our position (the kernel's would be an old one). */
		if (v->based[i] && ioctl(v->fd, VHOST_GET_VRING_BASE, &base) == 0)
			vq->last_avail_idx = (uint16_t)base.num;
		v->based[i] = false;
		/* The kernel kept its used index to itself: the ring's is the one the guest saw
		 * (a pause saves it, the userspace path pushes after it). */
		virtq_sync_used_idx(vq);
		ioctl(v->fd, VHOST_SET_VRING_KICK, &none);
		ioctl(v->fd, VHOST_SET_VRING_CALL, &none);
		virtio_device_set_kick_external(d, v->first + i, false);
	}
}
