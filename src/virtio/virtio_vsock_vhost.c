/* virtio-vsock with the host kernel as its host side (vhost-vsock, vhost_vsock.h): `--vsock
 * cid=N` without socket=. Host processes talk to the guest with AF_VSOCK sockets to CID N, and
 * the guest reaches their listeners at CID 2; neither kicks nor packets pass through the VMM.
 *
 * The kernel serves the rx and tx queues while the device is started; the event queue stays
 * here (vsock_device.c), for the transport reset a loaded device owes the guest. The kernel
 * claims the CID when the device is created, so a CID another VM has fails the start of the VM,
 * not the guest's driver.
 *
 * The kernel writes guest memory unseen by the VMM. So it stops at a pause (the rings'
 * positions come back into the core's queues, which a snapshot saves), and it stays stopped
 * while a migration logs the device writes to guest memory: the guest's vsock connections
 * stall meanwhile (the destination resets them anyway), and go on if the migration is
 * cancelled. Nothing is ever held in userspace (held_chains is 0 for every queue). A VM on an
 * accelerator that must hear of every device write (the software CPU) cannot use this host
 * side at all: the board refuses it. */
#include "virtio/virtio_devices.h"

#include "lib/log.h"
#include "virtio/vhost_vsock.h"
#include "virtio/vsock_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* What the kernel must do of what the core always offers: the driver negotiates before the
 * kernel gets the rings, so a kernel without one of these cannot serve this device. */
#define VHOST_REQUIRED                                                                             \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |        \
	 VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX))

struct vsock_vhost {
	struct vsock_device vd; /* first: the core hands us &vd.dev */
	struct vhost_vsock *vhost;
	bool running; /* the kernel has the rx and tx queues */
	/* Started by the driver, but the kernel waits: the VM is paused, or a migration logs
	 * device writes. The next resume without a log starts it. */
	bool held_back;
};

static struct vsock_vhost *to_vv(struct virtio_device *d)
{
	return (struct vsock_vhost *)d;
}

/* The kernel wrote a call eventfd (the transport had no irqfd for the queue): raise the
 * interrupt. The kernel already decided that the driver wants one. */
static void on_vhost_call(struct virtio_device *d, int fd, uint32_t events)
{
	struct vsock_vhost *vv = to_vv(d);
	(void)events;
	for (unsigned ring = 0; ring < VHOST_VSOCK_RINGS; ring++) {
		uint64_t count;
		if (vhost_vsock_call_fd(vv->vhost, ring) != fd ||
		    read(fd, &count, sizeof(count)) < 0)
			continue;
		if (vv->running && d->transport.notify_queue) {
			d->interrupts++;
			d->transport.notify_queue(d->transport.opaque, ring);
		}
	}
}

/* The kernel takes the rx and tx queues, unless something must see every write to guest
 * memory now. Returns 0, or -1 after failing the device (there is no other host side to fall
 * back to). */
static int start_vhost(struct vsock_vhost *vv)
{
	struct virtio_device *d = &vv->vd.dev;
	if (d->paused || guest_memory_logging(d->mem)) {
		vv->held_back = true;
		return 0;
	}
	char err[256];
	if (vhost_vsock_start(vv->vhost, d, err, sizeof(err)) < 0) {
		virtio_device_fail(d, "%s", err);
		return -1;
	}
	vv->held_back = false;
	vv->running = true;
	return 0;
}

static void stop_vhost(struct vsock_vhost *vv)
{
	if (vv->running)
		vhost_vsock_stop(vv->vhost, &vv->vd.dev);
	vv->running = false;
}

/* The event queue's due reset event goes at the core's first poll (vsock_device.h). */
static int vv_start(struct virtio_device *d)
{
	return start_vhost(to_vv(d));
}

/* The driver reset the device (or the VM stops). The host's connections to the guest stay in
 * the kernel: the guest answers their next packet with a reset, as after a reboot. */
static void vv_reset(struct virtio_device *d)
{
	struct vsock_vhost *vv = to_vv(d);
	stop_vhost(vv);
	vv->held_back = false;
}

/* Only the event queue is ours while the kernel runs. While it is held back, kicks of rx and
 * tx wait in their rings: the start kicks them again. */
static void vv_queue_kick(struct virtio_device *d, unsigned index)
{
	if (index == VSOCK_EVENT_QUEUE)
		vsock_device_send_reset_event(&to_vv(d)->vd);
}

static void vv_pause(struct virtio_device *d)
{
	struct vsock_vhost *vv = to_vv(d);
	if (!vv->running)
		return;
	stop_vhost(vv);
	vv->held_back = true;
}

static int vv_resume(struct virtio_device *d)
{
	struct vsock_vhost *vv = to_vv(d);
	return vv->held_back ? start_vhost(vv) : 0;
}

/* A load: the guest hears that its connections are gone. The CID stays the one this host's
 * kernel gave the device (a destination on the same host needs another than the source's):
 * the guest's driver reads it again at the transport reset. */
static int vv_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			 char *err, size_t err_len)
{
	uint64_t cid;
	if (vsock_device_check_state(rec, &cid, err, err_len) < 0)
		return -1;
	if (apply) {
		struct vsock_vhost *vv = to_vv(d);
		if (cid != vv->vd.guest_cid)
			log_info("%s: the guest had CID %llu; it gets %llu here", d->name,
				 (unsigned long long)cid, (unsigned long long)vv->vd.guest_cid);
		vv->vd.reset_event_due = true;
	}
	return 0;
}

static uint16_t vv_held_chains(struct virtio_device *d, unsigned index)
{
	(void)d, (void)index;
	return 0;
}

static void vv_destroy(struct virtio_device *d)
{
	struct vsock_vhost *vv = to_vv(d);
	vhost_vsock_close(vv->vhost);
	free(vv);
}

static const struct virtio_device_ops vv_ops = {
    .config_read = vsock_device_config_read,
    .start = vv_start,
    .reset = vv_reset,
    .queue_kick = vv_queue_kick,
    .destroy = vv_destroy,
    .pause = vv_pause,
    .resume = vv_resume,
    .save_state = vsock_device_save_state,
    .load_state = vv_load_state,
    .held_chains = vv_held_chains,
};

/* The kernel's instance for the CID, with the features the device offers. */
static struct vhost_vsock *open_vhost(const struct vsock_config *cfg, char *err, size_t err_len)
{
	const char *device = cfg->vhost_device ? cfg->vhost_device : VHOST_VSOCK_DEVICE;
	char why[400];
	struct vhost_vsock *vhost = vhost_vsock_open(device, cfg->cid, why, sizeof(why));
	if (!vhost) {
		snprintf(err, err_len, "--vsock cid=%llu: %s", (unsigned long long)cfg->cid, why);
		return NULL;
	}
	uint64_t missing = VHOST_REQUIRED & ~vhost_vsock_features(vhost);
	if (missing) {
		snprintf(err, err_len,
			 "--vsock cid=%llu: %s lacks virtio features %#llx; give socket=PATH for "
			 "gureum's own host side",
			 (unsigned long long)cfg->cid, device, (unsigned long long)missing);
		vhost_vsock_close(vhost);
		return NULL;
	}
	return vhost;
}

static int watch_calls(struct vsock_vhost *vv, char *err, size_t err_len)
{
	for (unsigned ring = 0; ring < VHOST_VSOCK_RINGS; ring++) {
		int rc = virtio_device_watch(&vv->vd.dev, vhost_vsock_call_fd(vv->vhost, ring),
					     EPOLLIN, on_vhost_call);
		if (rc < 0) {
			snprintf(err, err_len, "virtio-vsock: cannot watch vhost's eventfds: %s",
				 strerror(-rc));
			return -1;
		}
	}
	return 0;
}

struct virtio_device *virtio_vsock_vhost_create(const struct vsock_config *cfg, char *err,
						size_t err_len)
{
	if (cfg->cid < 3 || cfg->cid > UINT32_MAX - 1) {
		snprintf(err, err_len, "--vsock: needs cid=N (3 to 4294967294)");
		return NULL;
	}
	struct vsock_vhost *vv = calloc(1, sizeof(*vv));
	if (!vv) {
		snprintf(err, err_len, "virtio-vsock: out of memory");
		return NULL;
	}
	vv->vhost = open_vhost(cfg, err, err_len);
	if (!vv->vhost || vsock_device_init(&vv->vd, &vv_ops, cfg->cid, err, err_len) < 0) {
		vhost_vsock_close(vv->vhost);
		free(vv);
		return NULL;
	}
	if (watch_calls(vv, err, err_len) < 0) {
		virtio_device_destroy(&vv->vd.dev); /* frees vv */
		return NULL;
	}
	return &vv->vd.dev;
}
