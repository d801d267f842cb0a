/* vhost-vsock (see vhost_vsock.h): the rings are vhost.c's; what is vsock's is the guest's CID
 * and "running", which makes the kernel serve both rings. The kernel side is
 * drivers/vhost/vsock.c. */
#include "virtio/vhost_vsock.h"

#include "lib/log.h"
#include "virtio/vhost.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Virtio bits the kernel's vhost-vsock implements that the device may negotiate. */
#define VHOST_VSOCK_RING_FEATURES                                                                  \
	(VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |   \
	 VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_NOTIFY_ON_EMPTY))

struct vhost_vsock {
	struct vhost vhost;
	uint64_t features; /* VHOST_GET_FEATURES & VHOST_VSOCK_RING_FEATURES */
	bool running;	   /* what vhost_vsock_stop must undo */
};

/* Claims the CID. The kernel refuses one that another vhost-vsock instance (another VM on
 * this host) has, or that is this host's own on some vsock transport. */
static int set_cid(struct vhost_vsock *vv, uint64_t cid, char *err, size_t err_len)
{
	if (ioctl(vv->vhost.fd, VHOST_VSOCK_SET_GUEST_CID, &cid) == 0)
		return 0;
	if (errno == EADDRINUSE)
		snprintf(err, err_len,
			 "--vsock cid=%llu: CID %llu is in use on this host (another VM has it, "
			 "or it is the host's own): give each VM a cid= of its own",
			 (unsigned long long)cid, (unsigned long long)cid);
	else
		snprintf(err, err_len, "--vsock cid=%llu: the kernel refused the CID: %s",
			 (unsigned long long)cid, strerror(errno));
	return -1;
}

struct vhost_vsock *vhost_vsock_open(const char *device, uint64_t cid, char *err, size_t err_len)
{
	struct vhost_vsock *vv = calloc(1, sizeof(*vv));
	if (!vv) {
		snprintf(err, err_len, "vhost-vsock: out of memory");
		return NULL;
	}
	if (vhost_open(&vv->vhost, device, "vhost-vsock", VHOST_VSOCK_RINGS,
		       "load the module: modprobe vhost_vsock; or give --vsock socket=PATH for "
		       "gureum's own host side on Unix sockets",
		       err, err_len) < 0 ||
	    set_cid(vv, cid, err, err_len) < 0) {
		vhost_vsock_close(vv);
		return NULL;
	}
	vv->features = vv->vhost.features & VHOST_VSOCK_RING_FEATURES;
	return vv;
}

void vhost_vsock_close(struct vhost_vsock *vv)
{
	if (!vv)
		return;
	/* Closing the instance also resets the host sockets connected to the guest. */
	vhost_close(&vv->vhost);
	free(vv);
}

uint64_t vhost_vsock_features(const struct vhost_vsock *vv)
{
	return vv->features;
}

int vhost_vsock_call_fd(const struct vhost_vsock *vv, unsigned ring)
{
	return vhost_call_fd(&vv->vhost, ring);
}

static int set_running(struct vhost_vsock *vv, int running)
{
	return ioctl(vv->vhost.fd, VHOST_VSOCK_SET_RUNNING, &running) < 0 ? -errno : 0;
}

int vhost_vsock_start(struct vhost_vsock *vv, struct virtio_device *d, char *err, size_t err_len)
{
	uint64_t features = d->driver_features & vv->features;
	if (vhost_start_rings(&vv->vhost, d, 0, features, err, err_len) < 0)
		return -1;
	int rc = set_running(vv, 1);
	if (rc < 0) {
		snprintf(err, err_len, "vhost-vsock: VHOST_VSOCK_SET_RUNNING: %s", strerror(-rc));
		vhost_stop_rings(&vv->vhost, d);
		return -1;
	}
	vv->running = true;
	vhost_kick_rings(&vv->vhost, d);
	return 0;
}

void vhost_vsock_stop(struct vhost_vsock *vv, struct virtio_device *d)
{
	int rc = vv->running ? set_running(vv, 0) : 0;
	if (rc < 0)
		log_warn("%s: vhost-vsock: VHOST_VSOCK_SET_RUNNING 0: %s", d->name, strerror(-rc));
	vv->running = false;
	vhost_stop_rings(&vv->vhost, d);
}
