/* Opening and configuring a tap for virtio-net (see tap.h). Linux's interface:
 * Documentation/networking/tuntap.rst and include/uapi/linux/if_tun.h. */
#include "virtio/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

static void explain_open_error(int error, char *err, size_t err_len)
{
	if (error == ENOENT || error == ENODEV || error == ENXIO)
		snprintf(err, err_len, "%s: %s (load the tun module: modprobe tun)", TUN_PATH,
			 strerror(error));
	else if (error == EACCES || error == EPERM)
		snprintf(err, err_len, "%s: %s (run as root or give CAP_NET_ADMIN)", TUN_PATH,
			 strerror(error));
	else
		snprintf(err, err_len, "%s: %s", TUN_PATH, strerror(error));
}

static void explain_attach_error(const char *name, int error, bool multi_queue, char *err,
				 size_t err_len)
{
	const char *hint = "";
	if (error == EPERM || error == EACCES)
		hint = " (run as root or give CAP_NET_ADMIN)";
	else if (error == EBUSY)
		hint = " (another process holds it, or it is a multi-queue tap: give queues=)";
	else if (error == EINVAL && multi_queue)
		hint =
		    " (queues= needs a multi-queue tap: ip tuntap add NAME mode tap multi_queue, "
		    "or let gureum create it)";
	else if (error == E2BIG)
		hint = " (more queues than the kernel allows on one tap)";
	else if (error == EINVAL)
		hint = " (is it a tun device? virtio-net needs a tap: ip tuntap add NAME mode tap)";
	snprintf(err, err_len, "%s: %s%s", name, strerror(error), hint);
}

/* TUNSETIFF both attaches to an existing tap and creates a missing one. IFF_ONE_QUEUE is not
 * asked for: it has been a no-op since Linux 3.8. A multi-queue tap gets one fd per queue, each
 * attached with IFF_MULTI_QUEUE (which a tap created without it refuses with EINVAL). */
static int attach(int fd, const char *name, bool multi_queue, char *err, size_t err_len)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi_queue ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		explain_attach_error(name, errno, multi_queue, err, err_len);
		return -1;
	}
	return 0;
}

static int set_vnet_header_size(int fd, const char *name, char *err, size_t err_len)
{
	int size = TAP_VNET_HDR_SIZE;
	if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
		snprintf(err, err_len, "%s: cannot set a %d-byte vnet header: %s (kernel too old?)",
			 name, size, strerror(errno));
		return -1;
	}
	return 0;
}

static int open_queue(const char *name, bool multi_queue, char *err, size_t err_len)
{
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		explain_open_error(errno, err, err_len);
		return -1;
	}
	struct tap_offloads none = {0};
	if (attach(fd, name, multi_queue, err, err_len) < 0 ||
	    set_vnet_header_size(fd, name, err, err_len) < 0)
		goto fail;
	int rc = tap_set_offloads(fd, &none);
	if (rc < 0) {
		snprintf(err, err_len, "%s: cannot configure offloads: %s", name, strerror(-rc));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int tap_open(const char *name, char *err, size_t err_len)
{
	int fd;
	return tap_open_queues(name, 1, &fd, err, err_len) < 0 ? -1 : fd;
}

int tap_open_queues(const char *name, unsigned n, int *fds, char *err, size_t err_len)
{
	if (!name || !name[0] || strlen(name) >= IFNAMSIZ) {
		snprintf(err, err_len, "tap name '%s' must be 1 to %d characters", name ? name : "",
			 IFNAMSIZ - 1);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		fds[i] = open_queue(name, n > 1, err, err_len);
		if (fds[i] < 0) {
			while (i--)
				close(fds[i]);
			return -1;
		}
	}
	return 0;
}

int tap_enable_queue(int fd, bool enable)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = enable ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

int tap_set_offloads(int fd, const struct tap_offloads *o)
{
	unsigned flags = 0;
	/* The kernel refuses TSO without checksum offload; so does the virtio spec (GUEST_TSO4
	 * requires GUEST_CSUM), so this only guards against an inconsistent caller. */
	if (o->csum) {
		flags |= TUN_F_CSUM;
		if (o->tso4)
			flags |= TUN_F_TSO4;
		if (o->tso6)
			flags |= TUN_F_TSO6;
		if (o->tso_ecn && (o->tso4 || o->tso6))
			flags |= TUN_F_TSO_ECN;
	}
	if (ioctl(fd, TUNSETOFFLOAD, flags) < 0)
		return -errno;
	return 0;
}

int tap_set_carrier(int fd, bool on)
{
	int value = on;
	return ioctl(fd, TUNSETCARRIER, &value) < 0 ? -errno : 0;
}
