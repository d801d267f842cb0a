/* Constructors of gureum's virtio device models, for the board. Each returns a device ready to
 * be handed to a transport (virtio_pci_create), or NULL with a sentence in `err` that says what
 * is wrong and what to do. */
#ifndef GUREUM_VIRTIO_VIRTIO_DEVICES_H
#define GUREUM_VIRTIO_VIRTIO_DEVICES_H

#include "virtio/virtio_device.h"
#include "virtio/virtio_options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* virtio-blk on a raw file or block device (or qcow2) through the block layer; `index` names it
 * (virtio-blk0 ...). */
struct virtio_device *virtio_blk_create(const struct disk_config *cfg, unsigned index, char *err,
					size_t err_len);

/* The VM is paused: the disk goes on in the image `cfg` names, which must have the same size
 * (an overlay of the current one, or the image below it again). The current image is flushed
 * and closed; on failure it stays. Returns 0, or -1 with a sentence in err. */
int virtio_blk_replace_image(struct virtio_device *d, const struct disk_config *cfg, char *err,
			     size_t err_len);

/* The disk's I/O limits from now on (bps=, iops=; struct io_limits): requests beyond them
 * wait in the ring, a limit of 0 is lifted. Thread-safe. */
void virtio_blk_set_limits(struct virtio_device *d, const struct io_limits *limits);
/* The limits in effect, each burst as it applies (a rate's default burst is the rate). */
void virtio_blk_get_limits(struct virtio_device *d, struct io_limits *limits);

/* What a disk has done since the device was made: requests answered OK by type, with their data
 * bytes, and requests answered with an error (invalid, unsupported, or the host's I/O failed). */
struct virtio_blk_counters {
	uint64_t read_requests, read_bytes, write_requests, write_bytes, flush_requests,
	    discard_requests, write_zeroes_requests, errors;
};
void virtio_blk_get_counters(struct virtio_device *d, struct virtio_blk_counters *counters);

/* virtio-net on a host tap device (opened with IFF_VNET_HDR; vhost-net when available). */
struct virtio_device *virtio_net_create(const struct net_config *cfg, unsigned index, char *err,
					size_t err_len);

/* Sends one RARP announcement of the card's MAC from its tap (after a migration or restore).
 * 0 or -errno. */
int virtio_net_announce(struct virtio_device *d);
/* The card's link, as the guest sees it (config status LINK_UP, with a configuration
 * interrupt): down is a pulled cable, frames both ways are dropped until it is up again. */
void virtio_net_set_link(struct virtio_device *d, bool up);
/* The MAC of card `index` on `tap` when --net names none: stable across runs, so a guest keeps
 * its address; a VM that moves to another tap keeps the one it had (config_apply_net_hosts). */
void virtio_net_default_mac(const char *tap, unsigned index, uint8_t mac[6]);
/* Card `index`'s MAC: the one --net gives, else the default derived from its host side (the
 * tap's name, "user", or the switch's name). */
void virtio_net_card_mac(const struct net_config *cfg, unsigned index, uint8_t mac[6]);
/* The operator gives the card another MAC: a switch port's filter lets it through from now on,
 * the guest may take it (ip link set address, through the control queue) and reads it at its
 * next boot. 0, or -1 with a sentence (the filter was refused: nothing changed). */
int virtio_net_set_mac(struct virtio_device *d, const uint8_t mac[6], char *err, size_t err_len);

/* What net-info reports: the card's addresses, link, and its traffic per queue pair. */
struct virtio_net_info {
	uint8_t mac[6];		 /* the one the guest uses */
	uint8_t assigned_mac[6]; /* the operator's */
	bool link_up, vhost;
	unsigned pairs, active_pairs;
	uint64_t pair_rx_packets[NET_MAX_QUEUE_PAIRS], pair_tx_packets[NET_MAX_QUEUE_PAIRS];
	uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped, ctrl_errors;
	/* frame bytes (the virtio-net header left out) through the userspace path */
	uint64_t rx_bytes, tx_bytes;
};
void virtio_net_get_info(struct virtio_device *d, struct virtio_net_info *info);
/* The card's rate limits from now on, per direction (rx: to the guest; tx: from it). 0, or -1
 * with a sentence when the card runs on vhost-net and limits are asked for (nothing changed). */
int virtio_net_set_limits(struct virtio_device *d, const struct io_limits *rx,
			  const struct io_limits *tx, char *err, size_t err_len);
/* The limits in effect, bursts resolved. */
void virtio_net_get_limits(struct virtio_device *d, struct io_limits *rx, struct io_limits *tx);

/* virtio-rng: entropy from getrandom(). */
struct virtio_device *virtio_rng_create(char *err, size_t err_len);

/* Where virtio-console's output goes (the board: the VM's console). Called on the device
 * thread with the device lock held; it must not call back into the device. */
struct virtio_console_output {
	void (*write)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
};

/* virtio-console, a single port (hvc0) whose output goes to `out` (`out.write` may be NULL:
 * output discarded). Host input goes in with virtio_console_receive(). */
struct virtio_device *virtio_console_create(struct virtio_console_output out, char *err,
					    size_t err_len);
/* Host input: copies what fits into the receive buffers the driver posted and returns the
 * count taken (0 until the driver runs and has posted some: the caller keeps the rest and
 * offers it again later). Thread-safe. */
size_t virtio_console_receive(struct virtio_device *d, const uint8_t *buf, size_t len);
/* True when the driver runs and has a receive buffer posted. Thread-safe. */
bool virtio_console_can_receive(struct virtio_device *d);

/* virtio-balloon with statistics and free-page reporting; `target` bytes inflated at boot. */
struct virtio_device *virtio_balloon_create(uint64_t target, char *err, size_t err_len);

struct balloon_info {
	uint64_t target;      /* bytes the host asked for */
	uint64_t actual;      /* bytes the guest has given (its "actual" config field) */
	uint64_t reported;    /* bytes returned to the host by free-page reporting so far */
	bool stats_valid;     /* the guest has sent statistics */
	uint64_t free_memory; /* from the guest's last statistics (bytes) */
	uint64_t total_memory;
	uint64_t available_memory;
};

/* Asks the guest to make the balloon hold `bytes` (rounded down to 4 KiB pages). Returns 0, or
 * -EINVAL when bytes is not below the guest's RAM. */
int virtio_balloon_set_target(struct virtio_device *d, uint64_t bytes);
void virtio_balloon_get_info(struct virtio_device *d, struct balloon_info *info);

/* virtio-mem over the guest's device memory region (guest_memory.h): nothing plugged, nothing
 * requested at first. */
struct guest_region;
struct virtio_device *virtio_mem_create(const struct guest_region *region, char *err,
					size_t err_len);
struct virtio_mem_info {
	uint64_t region_size, block_size;
	uint64_t requested; /* bytes the host asked the guest to have plugged */
	uint64_t plugged;   /* bytes the guest has plugged */
};
/* Asks the guest to have `bytes` plugged (a multiple of the block size, up to the region's
 * size). 0, or -EINVAL. */
int virtio_mem_set_requested(struct virtio_device *d, uint64_t bytes);
void virtio_mem_get_info(struct virtio_device *d, struct virtio_mem_info *info);

/* virtio-input (virtio_input.h): a tablet and a keyboard for the display's clients. */
/* The pointer's buttons, as RFB's button mask has them. */
#define VIRTIO_TABLET_BUTTON_LEFT	1u
#define VIRTIO_TABLET_BUTTON_MIDDLE	2u
#define VIRTIO_TABLET_BUTTON_RIGHT	4u
#define VIRTIO_TABLET_BUTTON_WHEEL_UP	8u
#define VIRTIO_TABLET_BUTTON_WHEEL_DOWN 16u
/* An absolute pointer over a width x height screen (ABS_X 0..width-1, ABS_Y 0..height-1). */
struct virtio_device *virtio_tablet_create(uint32_t width, uint32_t height, char *err,
					   size_t err_len);
/* The pointer is at (x, y) (clamped to the screen) with the buttons of `mask` down: the guest
 * gets what changed (moves, presses, releases, a wheel click per wheel-button press) in one
 * frame. Thread-safe; dropped while the guest's driver does not run. */
void virtio_tablet_pointer(struct virtio_device *d, unsigned mask, uint32_t x, uint32_t y);
/* A keyboard of the PS/2 keyboard's keys, with LEDs and the guest's own key repeat. */
struct virtio_device *virtio_keyboard_create(char *err, size_t err_len);
/* Key `key` (KEY_*) pressed or released. Thread-safe. Returns 0 (sent, or a repeated press
 * left to the guest's own repeat), -ENODEV (nothing sent) when the guest's driver does not
 * run or the keyboard has no such key, -EAGAIN when the events waiting for the guest's
 * buffers leave no room: keys are never dropped to make room, the caller waits (as behind a
 * PS/2 keyboard's buffer) and tries again. */
int virtio_keyboard_key(struct virtio_device *d, unsigned key, bool down);
/* Whether the guest's virtio-input driver runs the device (DRIVER_OK, event queue enabled,
 * not failed). Thread-safe. */
bool virtio_input_ready(struct virtio_device *d);

/* virtio-vsock with Firecracker's "hybrid" host side (virtio_vsock.c): host processes connect
 * to the Unix socket cfg->socket and say "CONNECT <port>"; guest connections to CID 2 port P
 * go to the Unix socket "<socket>_P". */
struct virtio_device *virtio_vsock_create(const struct vsock_config *cfg, char *err,
					  size_t err_len);
/* virtio-vsock with the host kernel's vhost-vsock as its host side (virtio_vsock_vhost.c): host
 * processes use AF_VSOCK sockets to cfg->cid. Fails (with what to do) when /dev/vhost-vsock is
 * missing or another VM on this host has the CID. */
struct virtio_device *virtio_vsock_vhost_create(const struct vsock_config *cfg, char *err,
						size_t err_len);

struct vsock_stats {
	uint64_t rx_packets; /* to the guest */
	uint64_t tx_packets; /* from the guest */
	uint64_t dropped;    /* malformed packets from the guest, dropped */
	uint64_t resets;     /* RSTs sent to the guest */
	unsigned connections;
};
/* Of a virtio_vsock_create device (the kernel keeps vhost-vsock's counters). Thread-safe. */
void virtio_vsock_get_stats(struct virtio_device *d, struct vsock_stats *stats);

#endif
