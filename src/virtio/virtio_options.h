/* The options of the virtio devices as a user gives them (--disk, --net): what the device
 * constructors (virtio_devices.h) take; vmm/config_devices.c parses them into a VM's
 * configuration. */
#ifndef GUREUM_VIRTIO_VIRTIO_OPTIONS_H
#define GUREUM_VIRTIO_VIRTIO_OPTIONS_H

#include "hostnet/switch_port.h"
#include "virtio/user_net_options.h"

#include <stdbool.h>
#include <stdint.h>

/* The virtio-blk serial (GET_ID) is at most 20 bytes (VIRTIO_BLK_ID_BYTES). */
#define CONFIG_DISK_SERIAL_MAX 20

/* I/O limits, token buckets of data bytes and of operations per second (io_throttle.h): a disk's
 * bps=, bps-burst=, iops=, iops-burst= (operations are requests), and each direction of a
 * card's, rx-bps=, tx-pps= ... (operations are frames). A rate of 0 is no limit; a burst of 0
 * is one second's worth of its rate. */
struct io_limits {
	uint64_t bps, bps_burst;
	uint64_t iops, iops_burst;
};

static inline bool io_limits_set(const struct io_limits *l)
{
	return l->bps || l->iops;
}

/* --disk path,readonly=on,serial=ID,format=raw|qcow2,cache=none|writeback,bps=..,iops=..,slot=N */
struct disk_config {
	char *path;
	char *format; /* NULL: probe the file */
	bool readonly;
	bool direct; /* cache=none: O_DIRECT data I/O */
	/* overlay=on: the VM writes to a new qcow2 overlay of `path`, which stays as it is
	 * (config_apply_disk_overlays makes it; then path names the overlay and this is off). */
	bool overlay;
	char serial[CONFIG_DISK_SERIAL_MAX + 1];
	struct io_limits limits;
	/* slot=N: the PCI slot of bus 0 (1-31) it is plugged into; 0: the next free one. A disk
	 * added while the guest runs is pinned to the slot it got. */
	unsigned slot;
};

enum vhost_mode { VHOST_AUTO, VHOST_ON, VHOST_OFF };

/* Where a card's frames go: a host tap, or the user-mode NAT in this process. */
enum net_backend { NET_BACKEND_TAP, NET_BACKEND_USER };

/* --net tap=NAME,mac=52:54:00:12:34:56,vhost=auto|on|off,rx-bps=..,tx-pps=..
 * --net user[,net=CIDR][,hostfwd=...]...[,mac=...] */
struct net_config {
	enum net_backend backend;
	char *tap;		      /* NET_BACKEND_TAP */
	struct user_net_options user; /* NET_BACKEND_USER */
	/* switch=NAME,...: the tap is a port of a virtual switch (a tap of its own, named
	 * after the VMM's PID and the card's index unless tap= names one). */
	struct switch_port_options port;
	uint8_t mac[6];
	bool has_mac; /* otherwise one is derived from the tap name (stable across runs) */
	enum vhost_mode vhost;
	/* queues=N: receive/transmit queue pairs (a multi-queue tap with N queues); 0 means 1. */
	unsigned queues;
	/* slot=N: the PCI slot of bus 0 (1-31); 0: the next free one (as for disks). */
	unsigned slot;
	/* rx-bps=, rx-bps-burst=, rx-pps=, rx-pps-burst= (frames to the guest) and the same with
	 * tx- (frames from it). A card with limits does without vhost, which would bypass them. */
	struct io_limits rx_limits, tx_limits;
	/* NULL: VHOST_NET_DEVICE. Tests name a missing one; the string must outlive the device. */
	const char *vhost_device;
};

#define VHOST_NET_DEVICE "/dev/vhost-net"
/* With the control queue, 2 * 8 + 1 = 17 queues: VIRTIO_MAX_QUEUES. */
#define NET_MAX_QUEUE_PAIRS 8

/* --vsock cid=N[,socket=PATH]: the guest's CID (>= 3; 0: no device) and the host side. With
 * socket=, gureum's own on Unix sockets: host processes connect to PATH, guest-initiated
 * connections to port P go to PATH_P. Without it, the host kernel's vhost-vsock: host
 * processes use AF_VSOCK sockets. */
struct vsock_config {
	uint64_t cid;
	char *socket;
	/* NULL: VHOST_VSOCK_DEVICE. Tests name a missing one; the string must outlive the
	 * device. */
	const char *vhost_device;
};
#define VHOST_VSOCK_DEVICE "/dev/vhost-vsock"
/* The longest PATH: PATH_4294967295 must fit in sun_path (108 bytes with its NUL). */
#define VSOCK_SOCKET_PATH_MAX (108 - 1 - 11)

#endif
