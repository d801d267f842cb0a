/* virtio-net (virtio 1.2 section 5.1) on a host tap or on the user-mode NAT (user_net.h, which
 * speaks the tap's framing over a socketpair). Queue 2i receives and 2i + 1 transmits for queue
 * pair i; the control queue follows the pairs (virtio_net_ctrl.h).
 *
 * Multiqueue. With queues=N the card has N pairs, each on its own queue of a multi-queue tap
 * (and its own vhost-net instance): the guest's driver transmits on the pair of the CPU it runs
 * on, and the kernel spreads received frames over the tap's attached queues by flow. Only pair
 * 0 is used until the driver asks for more (VQ_PAIRS_SET); the tap queues of the pairs it does
 * not use are detached, so no frame waits where nobody reads. One device thread serves all
 * pairs.
 *
 * Every frame on both sides carries the same 12-byte virtio_net_hdr_v1 the tap reads and writes
 * (IFF_VNET_HDR), so transmit is one writev() of the guest's own buffers and receive one readv()
 * into them: no copy, no header translation. Offloads pass through: the guest's partial checksums
 * and TSO frames go to the kernel as they are (HOST_*), and the tap is told with TUNSETOFFLOAD
 * which kinds of frames the guest accepted to receive (GUEST_*).
 *
 * Receive. A tap read must be given room for the largest frame it may return, since a frame
 * that does not fit is truncated and lost. So the device holds a pool of the driver's receive
 * chains until they cover that size (64 KiB + header with guest TSO and mergeable buffers, one
 * chain without mergeable buffers), reads into all of them at once, and returns only the chains
 * the frame filled (num_buffers of them) -- the rest stay in the pool for the next frame. When
 * the driver has not made enough room available, the tap is not watched for input until it
 * kicks the receive queue: packets wait in the tap's queue instead of spinning the thread or
 * being dropped.
 *
 * Rate limits (rx-bps=, tx-pps= ...): one token-bucket pair per direction for the whole card
 * (io_throttle.h). A frame may go while the buckets are not in debt, and is charged in full:
 * a 64 KiB TSO frame may leave a debt that the refill repays before the next, so the rate holds
 * whatever the frame sizes, and a late timer wake-up loses no tokens (the bucket fills only up
 * to its burst, which a wait for a whole big frame would reach). A transmit chain that must wait
 * stays taken and pending, with kicks off, as when the tap is full; receive stops reading the
 * tap (a frame's size is known only once read). Frames wait in the guest's ring or the tap's queue,
 * where TCP sees the delay and slows down, instead of being dropped. Either direction's timer
 * resumes.
 *
 * With vhost-net the kernel does both directions itself (vhost_net.c); this file then only
 * starts and stops it. A card with rate limits does without it. */
#include "virtio/virtio_net.h"
#include "hostnet/switch_port.h"
#include "virtio/io_throttle.h"
#include "virtio/tap.h"
#include "virtio/user_net.h"
#include "virtio/vhost_net.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_net_ctrl.h"

#include "lib/log.h"
#include "lib/state_record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(struct virtio_net_hdr_v1) == TAP_VNET_HDR_SIZE,
	       "virtio_net_hdr_v1 is 12 bytes");

/* Device configuration (spec 5.1.4); mtu is read as 0 (MTU is not offered). */
struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

#define QUEUE_SIZE 256

/* Largest frame (without the header) a tap hands over: a 64 KiB GSO frame plus Ethernet and
 * VLAN headers, the size Linux's driver sizes its big receive buffers for. */
#define MAX_GSO_FRAME 65550
/* Without guest TSO: a 1500-byte MTU frame with Ethernet and one VLAN header. */
#define MAX_PLAIN_FRAME (1500 + 14 + 4)
#define MIN_FRAME	14 /* an Ethernet header */

/* Frames read per wake-up, chains sent per kick: bounds how long one direction may keep the
 * device thread from the other. */
#define RX_BATCH  64
#define TX_BUDGET 256

/* One readv() takes at most UIO_MAXIOV (1024) buffers: the pool's, plus one spare byte. */
#define RX_POOL_IOVS 1023

/* The receive chains the device holds, oldest first; their writable buffers end to end in
 * iov[] so that one readv() fills them in order. */
struct rx_pool {
	unsigned count;
	size_t bytes;
	unsigned nr_iov;
	uint16_t head[QUEUE_SIZE];
	uint32_t len[QUEUE_SIZE];
	uint16_t nr_iovs_of[QUEUE_SIZE];
	struct iovec iov[RX_POOL_IOVS + 1]; /* + the spare byte, see rx_read_one() */
	uint8_t spare;
};

/* One receive queue and one transmit queue, on one queue of the tap. */
struct net_pair {
	struct virtio_net *net;
	unsigned rx_queue, tx_queue; /* the device's queue indices: 2i, 2i + 1 */
	int fd;			     /* the tap's queue, or the user network's socketpair */
	bool detached;		     /* the tap sends this queue nothing (TUNSETQUEUE) */
	uint32_t events;	     /* what the device thread watches it for while started */
	struct vhost_net *vhost;     /* NULL: userspace path only */

	/* Transmit: a chain the tap refused with EAGAIN is kept and sent first on EPOLLOUT. */
	bool tx_blocked;
	bool tx_pending;
	struct virtq_chain tx_chain;

	/* Receive. */
	bool rx_starved; /* waiting for the driver's kick: the tap is not watched for input */
	/* Waiting for the card's rate limit (its timer): the tap is not read, or the pending
	 * transmit chain not sent. */
	bool rx_throttled, tx_throttled;
	struct virtq_chain rx_chain;
	struct rx_pool rx;

	uint64_t rx_packets, tx_packets; /* this pair's share, for net-info */
	uint64_t rx_bytes, tx_bytes;	 /* of the frames, the virtio-net header left out */
};

struct virtio_net {
	struct virtio_device dev; /* first: the core hands us &dev */
	char name[32];
	char backend_name[16];	  /* the tap's name, or "user" */
	const char *vhost_device; /* the vhost-net node to open (virtio_options.h) */
	struct net_config_space config;
	uint8_t assigned_mac[6]; /* the operator's; config.mac returns to it at a reset */
	unsigned nr_pairs;	 /* queues= */
	unsigned active_pairs;	 /* the pairs the driver uses (VQ_PAIRS_SET) */
	struct net_pair pair[NET_MAX_QUEUE_PAIRS];
	struct user_net *user; /* NULL on a tap */
	bool on_switch;	       /* the tap is a switch port with a filter to remove */
	struct switch_port_options port;
	bool link_down;	   /* set by the operator (net-link): frames are dropped */
	bool backend_gone; /* the tap was deleted: no link for good */

	enum vhost_mode vhost_mode;
	bool vhost_running;
	/* Stopped by net_pause (or kept stopped while a migration logs device writes), to be
	 * started again by net_resume. */
	bool vhost_paused;

	size_t rx_need; /* bytes of buffers that hold any frame (header included) */

	/* rx-* and tx-* limits, over all pairs; each timer fd is -1 until created. */
	struct io_throttle rx_throttle, tx_throttle;

	uint64_t rx_dropped, tx_dropped, ctrl_errors;
	bool logged_tx_drop, logged_rx_error, logged_tx_error, logged_tap_down, logged_ctrl,
	    logged_mac_refused;
};

static struct virtio_net *to_net(struct virtio_device *d)
{
	return (struct virtio_net *)d;
}

/* The frame's bytes in `len` bytes read or written with the tap (its virtio-net header left
 * out): what the counters and the rate limits count. */
static size_t frame_bytes(size_t len)
{
	return len > TAP_VNET_HDR_SIZE ? len - TAP_VNET_HDR_SIZE : 0;
}

/* --- the tap's events ---------------------------------------------------------------------- */

static void set_backend_events(struct net_pair *p, uint32_t events)
{
	if (p->events == events)
		return;
	p->events = events;
	virtio_device_watch_modify(&p->net->dev, p->fd, events);
}

static void add_backend_events(struct net_pair *p, uint32_t events)
{
	set_backend_events(p, p->events | events);
}

static void remove_backend_events(struct net_pair *p, uint32_t events)
{
	set_backend_events(p, p->events & ~events);
}

static void unwatch_all(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++)
		set_backend_events(&net->pair[i], 0);
}

/* A guest error that stops the device: the tap must not be watched meanwhile, or a readable
 * tap would wake the thread for nothing until the driver resets us. */
#define net_fail(net, ...)                                                                         \
	do {                                                                                       \
		unwatch_all(net);                                                                  \
		virtio_device_fail(&(net)->dev, __VA_ARGS__);                                      \
	} while (0)

/* --- transmit ------------------------------------------------------------------------------ */

static bool has(const struct virtio_net *net, unsigned bit)
{
	return virtio_has_feature(&net->dev, bit);
}

/* What is wrong with a transmit header for a frame of `frame` bytes, or NULL. The kernel checks
 * again (virtio_net_hdr_to_skb), but a frame it refuses costs a failed write and a log line;
 * here the driver's contract (spec 5.1.6.2.1) is checked against what it negotiated. */
static const char *tx_header_problem(const struct virtio_net *net,
				     const struct virtio_net_hdr_v1 *h, size_t frame)
{
	uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (frame < MIN_FRAME)
		return "frame shorter than an Ethernet header";
	if (frame > MAX_GSO_FRAME)
		return "frame larger than 64 KiB";
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "unknown header flags";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(net, VIRTIO_NET_F_CSUM))
			return "partial checksum without VIRTIO_NET_F_CSUM";
		if ((size_t)h->csum_start + h->csum_offset + 2 > frame)
			return "checksum field beyond the end of the frame";
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return h->gso_type & VIRTIO_NET_HDR_GSO_ECN ? "ECN flag on a frame without GSO"
							    : NULL;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && !has(net, VIRTIO_NET_F_HOST_TSO4))
		return "TSOv4 frame without VIRTIO_NET_F_HOST_TSO4";
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && !has(net, VIRTIO_NET_F_HOST_TSO6))
		return "TSOv6 frame without VIRTIO_NET_F_HOST_TSO6";
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
		return "unsupported GSO type";
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(net, VIRTIO_NET_F_HOST_ECN))
		return "TSO frame with ECN without VIRTIO_NET_F_HOST_ECN";
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0)
		return "TSO frame without partial checksum or segment size";
	return NULL;
}

static void tx_drop(struct virtio_net *net, const char *why)
{
	net->tx_dropped++;
	if (!net->logged_tx_drop)
		log_warn("%s: dropping a frame from the guest: %s (logged once)", net->name, why);
	net->logged_tx_drop = true;
}

/* Sends one chain. Returns 0 when it is done with (sent or dropped), -EAGAIN when the tap is
 * full, -EINVAL when the chain breaks the protocol (the device has been failed). */
static int tx_send(struct net_pair *p, const struct virtq_chain *c)
{
	struct virtio_net *net = p->net;
	if (c->nr_in) {
		net_fail(net, "transmit chain with %u device-writable buffers", c->nr_in);
		return -EINVAL;
	}
	if (c->out_bytes < TAP_VNET_HDR_SIZE) {
		net_fail(net, "transmit chain of %zu bytes, shorter than the 12-byte header",
			 c->out_bytes);
		return -EINVAL;
	}
	struct virtio_net_hdr_v1 hdr;
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));
	const char *why = tx_header_problem(net, &hdr, c->out_bytes - TAP_VNET_HDR_SIZE);
	if (why) {
		tx_drop(net, why);
		return 0;
	}
	if (net->link_down) {
		net->tx_dropped++;
		return 0;
	}
	ssize_t n;
	do
		n = writev(p->fd, c->iov, (int)c->nr_out);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -EAGAIN;
	if (n < 0) {
		/* EIO while the tap is down, EINVAL for a frame the kernel refuses ... the guest
		 * sees a lost packet, as on a real wire. */
		net->tx_dropped++;
		if (errno == EIO) {
			if (!net->logged_tap_down)
				log_info("%s: %s is down: frames from the guest are dropped until "
					 "it is up (ip link set %s up)",
					 net->name, net->backend_name, net->backend_name);
			net->logged_tap_down = true;
			return 0;
		}
		if (!net->logged_tx_error)
			log_warn("%s: writing to %s: %s (further errors not logged)", net->name,
				 net->backend_name, strerror(errno));
		net->logged_tx_error = true;
		return 0;
	}
	p->tx_packets++;
	p->tx_bytes += frame_bytes((size_t)n);
	return 0;
}

/* Whether the pending chain may go under the tx limits (its size is charged then); if not, it
 * stays pending and the tx timer is set for when it may. */
static bool tx_admit(struct net_pair *p)
{
	uint64_t wait = io_throttle_ready(&p->net->tx_throttle);
	if (!wait) {
		io_throttle_force(&p->net->tx_throttle, frame_bytes(p->tx_chain.out_bytes));
		return true;
	}
	p->tx_pending = p->tx_throttled = true;
	io_throttle_arm(&p->net->tx_throttle, wait);
	return false;
}

/* Sends what the driver made available, up to the budget. Returns true when it stopped for
 * the budget (more may be waiting), false when the queue is empty, the tap is full or the
 * device failed. */
static bool tx_send_batch(struct net_pair *p, bool *pushed)
{
	struct virtqueue *vq = &p->net->dev.queues[p->tx_queue];
	for (unsigned sent = 0; sent < TX_BUDGET; sent++) {
		if (!p->tx_pending) {
			int r = virtq_pop(vq, &p->tx_chain);
			if (r < 0)
				net_fail(p->net, "transmit queue %u: %s", p->tx_queue, vq->error);
			if (r <= 0)
				return false;
		}
		if (p->net->tx_throttle.limited && !tx_admit(p))
			return false;
		int rc = tx_send(p, &p->tx_chain);
		p->tx_pending = rc == -EAGAIN;
		if (rc == -EAGAIN) {
			p->tx_blocked = true;
			add_backend_events(p, EPOLLOUT);
			return false;
		}
		if (rc < 0)
			return false;
		virtq_push(vq, p->tx_chain.head, 0);
		*pushed = true;
	}
	return true;
}

static void tx_process(struct net_pair *p)
{
	struct virtio_device *d = &p->net->dev;
	struct virtqueue *vq = &d->queues[p->tx_queue];
	bool pushed = false;
	if (p->tx_blocked || p->tx_throttled)
		return;
	for (;;) {
		virtq_disable_kicks(vq);
		if (tx_send_batch(p, &pushed)) {
			/* Let the receive side run, then come back: a kick of our own. */
			virtio_device_kick(d, p->tx_queue);
			break;
		}
		if (p->tx_blocked || p->tx_throttled ||
		    d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
			break;
		if (!virtq_enable_kicks(vq))
			break;
	}
	if (pushed)
		virtio_device_notify(d, p->tx_queue);
}

/* --- receive ------------------------------------------------------------------------------- */

static void rx_pool_clear(struct rx_pool *p)
{
	p->count = 0;
	p->bytes = 0;
	p->nr_iov = 0;
}

static void rx_pool_add(struct rx_pool *p, const struct virtq_chain *c)
{
	const struct iovec *in = &c->iov[c->nr_out];
	memcpy(&p->iov[p->nr_iov], in, c->nr_in * sizeof(*in));
	p->nr_iov += c->nr_in;
	p->head[p->count] = c->head;
	p->len[p->count] = (uint32_t)c->in_bytes;
	p->nr_iovs_of[p->count] = (uint16_t)c->nr_in;
	p->count++;
	p->bytes += c->in_bytes;
}

/* Forgets the first `n` chains (given back to the driver). */
static void rx_pool_consume(struct rx_pool *p, unsigned n)
{
	unsigned iovs = 0;
	size_t bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		iovs += p->nr_iovs_of[i];
		bytes += p->len[i];
	}
	memmove(p->head, p->head + n, (p->count - n) * sizeof(p->head[0]));
	memmove(p->len, p->len + n, (p->count - n) * sizeof(p->len[0]));
	memmove(p->nr_iovs_of, p->nr_iovs_of + n, (p->count - n) * sizeof(p->nr_iovs_of[0]));
	memmove(p->iov, p->iov + iovs, (p->nr_iov - iovs) * sizeof(p->iov[0]));
	p->count -= n;
	p->nr_iov -= iovs;
	p->bytes -= bytes;
}

/* True when the pool may take one more chain without overflowing its iovec array. */
static bool rx_pool_has_room(const struct net_pair *pair)
{
	const struct rx_pool *p = &pair->rx;
	return p->count < pair->net->dev.queues[pair->rx_queue].size &&
	       p->nr_iov + VIRTQ_MAX_CHAIN <= RX_POOL_IOVS;
}

static bool rx_pool_ready(const struct net_pair *pair)
{
	const struct rx_pool *p = &pair->rx;
	if (p->count == 0)
		return false;
	/* Without mergeable buffers a frame goes into one chain, which is dropped if too small
	 * (spec 5.1.6.3.1 requires the driver to make each big enough). */
	if (!has(pair->net, VIRTIO_NET_F_MRG_RXBUF))
		return true;
	/* A pool that cannot grow (the driver made its whole ring available) is used as it is. */
	return p->bytes >= pair->net->rx_need || !rx_pool_has_room(pair);
}

/* Takes available chains until the pool can hold any frame. Returns 1 when it can, 0 when the
 * driver has not made enough room available, -1 when the device failed. */
static int rx_fill_pool(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	struct virtqueue *vq = &net->dev.queues[p->rx_queue];
	struct virtq_chain *c = &p->rx_chain;
	while (!rx_pool_ready(p) && rx_pool_has_room(p)) {
		int r = virtq_pop(vq, c);
		if (r < 0) {
			net_fail(net, "receive queue %u: %s", p->rx_queue, vq->error);
			return -1;
		}
		if (r == 0)
			break;
		if (c->nr_out || c->in_bytes < TAP_VNET_HDR_SIZE) {
			net_fail(net,
				 "receive chain with %u device-readable buffers and %zu writable "
				 "bytes (needs none, and at least the 12-byte header)",
				 c->nr_out, c->in_bytes);
			return -1;
		}
		rx_pool_add(&p->rx, c);
	}
	return rx_pool_ready(p);
}

/* Copies `len` bytes into the buffers iov[0 .. n) at `offset`. */
static void iov_write_at(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
			 size_t len)
{
	const uint8_t *src = buf;
	for (unsigned i = 0; i < n && len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len)
			chunk = len;
		memcpy((uint8_t *)iov[i].iov_base + offset, src, chunk);
		src += chunk;
		len -= chunk;
		offset = 0;
	}
}

/* A frame of `len` bytes (header included) was read into the pool: returns the chains it
 * filled to the driver, the number of them in the header's num_buffers. */
static void rx_deliver(struct net_pair *pair, size_t len)
{
	struct virtqueue *vq = &pair->net->dev.queues[pair->rx_queue];
	struct rx_pool *p = &pair->rx;
	unsigned used = 0;
	size_t left = len;
	for (; left > 0 && used < p->count; used++)
		left -= left < p->len[used] ? left : p->len[used];
	/* The tap skips num_buffers (it writes 10 bytes and leaves 2): always ours to fill. */
	uint16_t num_buffers = (uint16_t)used;
	iov_write_at(p->iov, p->nr_iovs_of[0], offsetof(struct virtio_net_hdr_v1, num_buffers),
		     &num_buffers, sizeof(num_buffers));
	left = len;
	for (unsigned i = 0; i < used; i++) {
		uint32_t written = left < p->len[i] ? (uint32_t)left : p->len[i];
		virtq_push(vq, p->head[i], written);
		left -= written;
	}
	rx_pool_consume(p, used);
	pair->rx_packets++;
	pair->rx_bytes += len - TAP_VNET_HDR_SIZE;
}

/* Reads one frame into the pool. Returns 1 when one was delivered or dropped, 0 when the tap
 * is empty, -1 on a read error. */
static int rx_read_one(struct net_pair *pair)
{
	struct virtio_net *net = pair->net;
	struct rx_pool *p = &pair->rx;
	ssize_t n;
	/* The tap fills what room it is given and cuts a longer frame short, returning only
	 * what it copied. One byte of room beyond the buffers tells a cut frame (it reaches
	 * that byte) from one that fits exactly. */
	p->iov[p->nr_iov] = (struct iovec){.iov_base = &p->spare, .iov_len = 1};
	do
		n = readv(pair->fd, p->iov, (int)p->nr_iov + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0) {
		if (!net->logged_rx_error)
			log_warn("%s: reading from %s: %s (further errors not logged)", net->name,
				 net->backend_name, strerror(errno));
		net->logged_rx_error = true;
		return -1;
	}
	if (net->rx_throttle.limited)
		io_throttle_force(&net->rx_throttle, frame_bytes((size_t)n));
	/* A frame longer than the buffers is lost; they stay in the pool for the next one. So
	 * is any frame while the link is down. */
	if ((size_t)n > p->bytes || (size_t)n < TAP_VNET_HDR_SIZE + MIN_FRAME || net->link_down) {
		net->rx_dropped++;
		return 1;
	}
	rx_deliver(pair, (size_t)n);
	return 1;
}

/* Whether the next frame may be read under the rx limits; if not, the tap is not watched
 * until the rx timer fires. */
static bool rx_admit(struct net_pair *p)
{
	uint64_t wait = io_throttle_ready(&p->net->rx_throttle);
	if (!wait)
		return true;
	p->rx_throttled = true;
	remove_backend_events(p, EPOLLIN);
	io_throttle_arm(&p->net->rx_throttle, wait);
	return false;
}

static void rx_process(struct net_pair *p)
{
	struct virtqueue *vq = &p->net->dev.queues[p->rx_queue];
	uint64_t before = p->rx_packets;
	for (unsigned i = 0; i < RX_BATCH; i++) {
		int ready = rx_fill_pool(p);
		if (ready < 0)
			return;
		if (!ready) {
			/* Out of buffers: stop reading until the driver kicks (the kick is only
			 * sent when we ask for it), unless it added some meanwhile. */
			if (virtq_enable_kicks(vq))
				continue;
			p->rx_starved = true;
			remove_backend_events(p, EPOLLIN);
			break;
		}
		if (!vq->kicks_disabled)
			virtq_disable_kicks(vq);
		if (p->net->rx_throttle.limited && !rx_admit(p))
			break;
		if (rx_read_one(p) <= 0)
			break;
	}
	if (p->rx_packets != before)
		virtio_device_notify(&p->net->dev, p->rx_queue);
}

/* --- queue pairs --------------------------------------------------------------------------- */

/* The pairs the negotiated features let the driver use: all of them with MQ, else the first. */
static unsigned usable_pairs(const struct virtio_net *net)
{
	return has(net, VIRTIO_NET_F_MQ) ? net->nr_pairs : 1;
}

/* The control queue comes after the pairs the driver may use (spec 5.1.2). */
static unsigned ctrl_queue(const struct virtio_net *net)
{
	return 2 * usable_pairs(net);
}

static struct net_pair *pair_of_fd(struct virtio_net *net, int fd)
{
	for (unsigned i = 0; i < net->nr_pairs; i++)
		if (net->pair[i].fd == fd)
			return &net->pair[i];
	return NULL;
}

/* The tap sends frames to the attached queues only: those of the pairs in use. */
static void attach_tap_queues(struct virtio_net *net)
{
	if (net->nr_pairs < 2)
		return; /* a single-queue tap has no queues to attach or detach */
	for (unsigned i = 1; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		bool detach = i >= net->active_pairs;
		if (p->detached == detach)
			continue; /* the kernel refuses to attach or detach twice */
		int rc = tap_enable_queue(p->fd, !detach);
		if (rc == 0)
			p->detached = detach;
		else
			log_warn("%s: %s queue %u: %s", net->name,
				 detach ? "detaching" : "attaching", i, strerror(-rc));
	}
}

/* The userspace path reads the taps of the pairs in use. */
static void watch_active_pairs(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		if (i < net->active_pairs) {
			p->rx_starved = false;
			if (!p->rx_throttled)
				add_backend_events(p, EPOLLIN);
		} else {
			set_backend_events(p, 0);
		}
	}
}

static void set_active_pairs(struct virtio_net *net, unsigned n)
{
	net->active_pairs = n;
	attach_tap_queues(net);
	if (net->dev.started && !net->vhost_running)
		watch_active_pairs(net);
}

/* --- the control queue --------------------------------------------------------------------- */

static void ctrl_error(struct virtio_net *net, const char *what)
{
	net->ctrl_errors++;
	if (!net->logged_ctrl)
		log_warn("%s: control command refused: %s (logged once)", net->name, what);
	net->logged_ctrl = true;
}

static void format_mac(const uint8_t mac[6], char text[18])
{
	snprintf(text, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

/* The guest sets its own MAC (ip link set dev eth0 address ...). On a switch port the filter
 * lets only the operator's MAC through: another would be spoofing, so it is refused and the
 * guest's command fails instead of its frames vanishing. */
static uint8_t ctrl_set_mac(struct virtio_net *net, const uint8_t mac[6])
{
	if (!has(net, VIRTIO_NET_F_CTRL_MAC_ADDR) || (mac[0] & 1)) {
		ctrl_error(net, "MAC_ADDR_SET with a multicast address or not negotiated");
		return VIRTIO_NET_ERR;
	}
	if (net->on_switch && memcmp(mac, net->assigned_mac, 6) != 0) {
		char wanted[18], given[18];
		format_mac(mac, wanted);
		format_mac(net->assigned_mac, given);
		if (!net->logged_mac_refused)
			log_warn(
			    "%s: the guest asked for MAC %s; switch port %s lets only %s through "
			    "(gureum ctl SOCK net-mac changes it) (logged once)",
			    net->name, wanted, net->backend_name, given);
		net->logged_mac_refused = true;
		return VIRTIO_NET_ERR;
	}
	memcpy(net->config.mac, mac, 6);
	return VIRTIO_NET_OK;
}

static uint8_t ctrl_set_pairs(struct virtio_net *net, uint16_t pairs)
{
	if (!has(net, VIRTIO_NET_F_MQ) || pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN ||
	    pairs > net->nr_pairs) {
		ctrl_error(net, "VQ_PAIRS_SET beyond the card's queue pairs or not negotiated");
		return VIRTIO_NET_ERR;
	}
	set_active_pairs(net, pairs);
	return VIRTIO_NET_OK;
}

static uint8_t ctrl_execute(struct virtio_net *net, const struct net_ctrl_command *cmd)
{
	switch (cmd->kind) {
	case NET_CTRL_SET_MAC:
		return ctrl_set_mac(net, cmd->mac);
	case NET_CTRL_SET_PAIRS:
		return ctrl_set_pairs(net, cmd->pairs);
	case NET_CTRL_BAD_DATA:
		ctrl_error(net, "a command with data of the wrong size");
		return VIRTIO_NET_ERR;
	case NET_CTRL_UNKNOWN:
		ctrl_error(net, "an unknown class or command");
		return VIRTIO_NET_ERR;
	case NET_CTRL_MALFORMED:
		break;
	}
	ctrl_error(net, "a chain without class, command and ack byte");
	return VIRTIO_NET_ERR;
}

static void ctrl_process(struct virtio_net *net)
{
	unsigned index = ctrl_queue(net);
	struct virtqueue *vq = &net->dev.queues[index];
	struct virtq_chain chain;
	bool pushed = false;
	int r;
	while ((r = virtq_pop(vq, &chain)) > 0) {
		struct net_ctrl_command cmd;
		net_ctrl_decode(&chain, &cmd);
		uint8_t ack = ctrl_execute(net, &cmd);
		virtq_push(vq, chain.head, net_ctrl_ack(&chain, ack));
		pushed = true;
	}
	if (r < 0)
		net_fail(net, "control queue: %s", vq->error);
	if (pushed)
		virtio_device_notify(&net->dev, index);
}

/* --- device callbacks ---------------------------------------------------------------------- */

/* The tap reports an error or hang-up only when it lost its interface (deleted with
 * ip link del): for good, and epoll would report it on every round. The card stays, without a
 * link, as if its cable were pulled. */
static void backend_lost(struct virtio_net *net)
{
	log_error("%s: %s is gone: the guest's network card has no link from now on", net->name,
		  net->backend_name);
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		virtio_device_unwatch(&net->dev, net->pair[i].fd);
		net->pair[i].events = 0;
	}
	net->backend_gone = true;
	net->config.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	virtio_device_config_changed(&net->dev);
}

static void on_backend(struct virtio_device *d, int fd, uint32_t events)
{
	struct virtio_net *net = to_net(d);
	struct net_pair *p = pair_of_fd(net, fd);
	if (!p || net->backend_gone)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		backend_lost(net);
		return;
	}
	if (net->vhost_running)
		return;
	if (events & EPOLLOUT) {
		p->tx_blocked = false;
		remove_backend_events(p, EPOLLOUT);
		tx_process(p);
	}
	if (events & EPOLLIN)
		rx_process(p);
}

static void net_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_net *net = to_net(d);
	if (index == ctrl_queue(net)) {
		ctrl_process(net);
		return;
	}
	if (index >= 2 * usable_pairs(net))
		return; /* a queue the negotiated features leave unused */
	struct net_pair *p = &net->pair[index / 2];
	if (index == p->tx_queue) {
		tx_process(p);
	} else if (p->rx_starved) {
		p->rx_starved = false;
		if (!p->rx_throttled)
			add_backend_events(p, EPOLLIN);
		rx_process(p);
	}
}

/* The rx limit's timer: the pairs it stopped read their taps again. */
static void on_rx_timer(struct virtio_device *d, int fd, uint32_t events)
{
	struct virtio_net *net = to_net(d);
	(void)fd, (void)events;
	io_throttle_ack(&net->rx_throttle);
	for (unsigned i = 0; i < net->active_pairs && !net->backend_gone; i++) {
		struct net_pair *p = &net->pair[i];
		if (!p->rx_throttled)
			continue;
		p->rx_throttled = false;
		if (!p->rx_starved)
			add_backend_events(p, EPOLLIN);
		rx_process(p);
	}
}

/* The tx limit's timer: the pairs it stopped send their pending chains. */
static void on_tx_timer(struct virtio_device *d, int fd, uint32_t events)
{
	struct virtio_net *net = to_net(d);
	(void)fd, (void)events;
	io_throttle_ack(&net->tx_throttle);
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		if (!p->tx_throttled)
			continue;
		p->tx_throttled = false;
		tx_process(p);
	}
}

/* vhost wrote its call eventfd (the transport had no irqfd): raise the interrupt. The kernel
 * already decided that the driver wants one, so the ring's state (which only the kernel
 * knows while it runs the queue) is not consulted again. */
static void on_vhost_call(struct virtio_device *d, int fd, uint32_t events)
{
	struct virtio_net *net = to_net(d);
	(void)events;
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		for (unsigned ring = 0; p->vhost && ring < VHOST_NET_QUEUES; ring++) {
			uint64_t count;
			if (vhost_net_call_fd(p->vhost, ring) != fd ||
			    read(fd, &count, sizeof(count)) < 0)
				continue;
			if (net->vhost_running && d->transport.notify_queue) {
				d->interrupts++;
				d->transport.notify_queue(d->transport.opaque, 2 * i + ring);
			}
		}
	}
}

static struct tap_offloads negotiated_offloads(const struct virtio_net *net)
{
	return (struct tap_offloads){
	    .csum = has(net, VIRTIO_NET_F_GUEST_CSUM),
	    .tso4 = has(net, VIRTIO_NET_F_GUEST_TSO4),
	    .tso6 = has(net, VIRTIO_NET_F_GUEST_TSO6),
	    .tso_ecn = has(net, VIRTIO_NET_F_GUEST_ECN),
	};
}

static size_t rx_buffer_need(const struct virtio_net *net)
{
	bool gso = has(net, VIRTIO_NET_F_GUEST_TSO4) || has(net, VIRTIO_NET_F_GUEST_TSO6) ||
		   has(net, VIRTIO_NET_F_GUEST_UFO);
	return TAP_VNET_HDR_SIZE + (gso ? MAX_GSO_FRAME : MAX_PLAIN_FRAME);
}

static void stop_vhost_pairs(struct virtio_net *net, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vhost_net_stop(net->pair[i].vhost, &net->dev);
}

static void close_vhost(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		if (!p->vhost)
			continue;
		for (unsigned ring = 0; ring < VHOST_NET_QUEUES; ring++)
			virtio_device_unwatch(&net->dev, vhost_net_call_fd(p->vhost, ring));
		vhost_net_close(p->vhost);
		p->vhost = NULL;
	}
}

/* Every usable pair to its vhost instance, or none. Returns 0 or -1 with `err` set. */
static int start_vhost_pairs(struct virtio_net *net, char *err, size_t err_len)
{
	unsigned n = usable_pairs(net);
	for (unsigned i = 0; i < n; i++) {
		struct net_pair *p = &net->pair[i];
		if (vhost_net_start(p->vhost, &net->dev, p->rx_queue, p->fd, err, err_len) < 0) {
			stop_vhost_pairs(net, i);
			return -1;
		}
	}
	return 0;
}

/* vhost=auto falls back to the userspace path when the kernel refuses; vhost=on fails. */
static int start_vhost(struct virtio_net *net)
{
	char err[256];
	if (start_vhost_pairs(net, err, sizeof(err)) == 0) {
		net->vhost_running = true;
		unwatch_all(net);
		return 0;
	}
	if (net->vhost_mode == VHOST_ON) {
		virtio_device_fail(&net->dev, "%s (vhost=on: no fallback; use vhost=auto)", err);
		return -1;
	}
	log_warn("%s: %s; moving packets in userspace instead", net->name, err);
	close_vhost(net);
	return 1;
}

static void clear_pairs(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		rx_pool_clear(&p->rx);
		p->tx_blocked = p->tx_pending = p->rx_starved = false;
		p->rx_throttled = p->tx_throttled = false;
	}
}

static int net_start(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	struct tap_offloads offloads = negotiated_offloads(net);
	/* The offloads are the tap's, set through any of its attached queues. */
	int rc = net->user ? 0 : tap_set_offloads(net->pair[0].fd, &offloads);
	if (rc < 0) {
		virtio_device_fail(d, "%s: setting offloads: %s", net->backend_name, strerror(-rc));
		return -1;
	}
	clear_pairs(net);
	net->rx_need = rx_buffer_need(net);
	if (net->pair[0].vhost && (d->paused || guest_memory_logging(d->mem))) {
		/* The kernel waits for net_resume: the VM is paused (a post-copy's destination
		 * starts its loaded devices before the guest RAM is ready for them, and vhost's
		 * worker would write frames into pages that are then dropped), or the driver
		 * restarted the card while a migration logs device writes (packets go through
		 * userspace until then, as in net_resume). */
		net->vhost_paused = true;
	} else if (net->pair[0].vhost) {
		rc = start_vhost(net);
		if (rc <= 0)
			return rc;
	}
	watch_active_pairs(net);
	return 0;
}

static void net_reset(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	if (net->vhost_running)
		stop_vhost_pairs(net, usable_pairs(net));
	net->vhost_running = net->vhost_paused = false;
	/* Chains held in the pool or pending belong to the old rings: forget them. */
	clear_pairs(net);
	io_throttle_disarm(&net->rx_throttle);
	io_throttle_disarm(&net->tx_throttle);
	/* As at power-on: one pair, the operator's MAC. */
	set_active_pairs(net, 1);
	memcpy(net->config.mac, net->assigned_mac, 6);
}

/* The VM pauses: vhost's kernel thread must stop moving packets in and out of guest memory
 * (its ring positions come back into our queues); without vhost, not watching the tap is all
 * it takes. */
static void net_pause(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	if (!net->vhost_running)
		return;
	stop_vhost_pairs(net, usable_pairs(net));
	net->vhost_running = false;
	net->vhost_paused = true;
}

/* Receive buffers held across a pause are written later, when frames come: a migration that
 * started its device-write log during the pause must hear of them now (it notes new chains
 * as they are taken). */
static void note_held_buffers(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		const struct rx_pool *rx = &net->pair[i].rx;
		for (unsigned v = 0; v < rx->nr_iov; v++)
			guest_memory_note_host_write(net->dev.mem, rx->iov[v].iov_base,
						     rx->iov[v].iov_len);
	}
}

/* Back to vhost after the userspace path ran: the chains it holds go back to the driver's ring
 * first, since the kernel starts at last_avail_idx (as a save gives them back, see
 * held_chains). */
static void give_back_held_chains(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		net->dev.queues[p->rx_queue].last_avail_idx -= (uint16_t)p->rx.count;
		if (p->tx_pending)
			net->dev.queues[p->tx_queue].last_avail_idx--;
	}
	clear_pairs(net);
}

static int net_resume(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	bool logging = guest_memory_logging(d->mem);
	if (logging)
		note_held_buffers(net);
	if (!net->vhost_paused)
		return 0;
	if (logging) {
		/* A migration logs device writes, which vhost's kernel worker would not: until
		 * it ends, packets go through userspace (vhost_paused stays set, so the resume
		 * after it starts vhost again if the VM stays here). */
		watch_active_pairs(net);
		return 0;
	}
	give_back_held_chains(net);
	net->vhost_paused = false;
	int rc = start_vhost(net);
	if (rc > 0) /* vhost refused again: the userspace path takes over */
		watch_active_pairs(net);
	return rc < 0 ? -1 : 0;
}

static void net_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	memcpy(data, (const uint8_t *)&to_net(d)->config + offset, size);
}

/* Closes the card's host side (vhost, tap queues or user network, switch port rules) and
 * frees it. */
static void release_net(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		vhost_net_close(net->pair[i].vhost);
		if (net->pair[i].fd >= 0)
			close(net->pair[i].fd);
	}
	user_net_stop(net->user);
	if (net->on_switch)
		switch_port_detach(net->backend_name);
	io_throttle_destroy(&net->rx_throttle);
	io_throttle_destroy(&net->tx_throttle);
	free(net);
}

static void net_destroy(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	struct virtio_net_info info;
	virtio_net_get_info(d, &info);
	log_debug("%s: rx %llu frames (%llu dropped), tx %llu frames (%llu dropped), %llu control "
		  "errors",
		  net->name, (unsigned long long)info.rx_packets,
		  (unsigned long long)net->rx_dropped, (unsigned long long)info.tx_packets,
		  (unsigned long long)net->tx_dropped, (unsigned long long)net->ctrl_errors);
	release_net(net);
}

/* --- saved state: record "virtio-net" ------------------------------------------------- */

/* The receive pool's chains and a transmit chain the tap refused are taken from the rings but
 * not used yet: a save gives them back to the ring (the loaded device takes them again), since
 * their buffers are host pointers of this process. */
static uint16_t net_held_chains(struct virtio_device *d, unsigned index)
{
	struct virtio_net *net = to_net(d);
	if (index >= 2 * net->nr_pairs)
		return 0; /* the control queue: commands are answered at once */
	const struct net_pair *p = &net->pair[index / 2];
	if (index == p->rx_queue)
		return (uint16_t)p->rx.count;
	return p->tx_pending ? 1 : 0;
}

static const char *const net_state_keys[] = {"mac", "pairs", NULL};

/* The MAC the driver uses (its own, if it set one) and the queue pairs it asked for. The link
 * bit is not saved: it says whether the loading host's tap works, which only that host knows. */
static void net_save_state(struct virtio_device *d, struct state_writer *w)
{
	struct virtio_net *net = to_net(d);
	state_record_begin(w, "virtio-net", 1, 1);
	state_put_bytes(w, "mac", net->config.mac, 6, STATE_ESSENTIAL);
	if (net->active_pairs > 1)
		state_put_u64(w, "pairs", net->active_pairs, STATE_ESSENTIAL);
	state_record_end(w);
}

static int net_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			  char *err, size_t err_len)
{
	struct virtio_net *net = to_net(d);
	struct state_reader_spec spec = {"virtio-net", 1, 1, net_state_keys};
	const void *mac;
	uint32_t len;
	uint64_t pairs = 1;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_bytes(rec, "mac", &mac, &len) < 0 || len != 6) {
		state_set_error(err, err_len,
				"virtio-net state: \"mac\" is missing or not 6 bytes");
		return -1;
	}
	if (state_get_u64(rec, "pairs", &pairs) == -2 || pairs < 1 || pairs > net->nr_pairs) {
		state_set_error(err, err_len,
				"virtio-net state: the driver used %llu queue pairs; this card has "
				"%u (queues= must be what it was)",
				(unsigned long long)pairs, net->nr_pairs);
		return -1;
	}
	if (apply) {
		memcpy(net->config.mac, mac, 6);
		set_active_pairs(net, (unsigned)pairs);
	}
	return 0;
}

static const struct virtio_device_ops net_ops = {
    .save_state = net_save_state,
    .load_state = net_load_state,
    .held_chains = net_held_chains,
    .config_read = net_config_read,
    .start = net_start,
    .reset = net_reset,
    .queue_kick = net_queue_kick,
    .destroy = net_destroy,
    .pause = net_pause,
    .resume = net_resume,
};

/* --- construction -------------------------------------------------------------------------- */

/* A RARP request from the guest's MAC (what QEMU's announce-self sends): switches and bridges
 * on the way learn where the MAC is now, so frames for a VM that moved (a migration, a
 * restore on another host) reach it at once instead of after its next transmission. */
int virtio_net_announce(struct virtio_device *d)
{
	struct virtio_net *net = (struct virtio_net *)d;
	if (net->user)
		return 0; /* the user network is this process: nothing on the way to tell */
	uint8_t frame[TAP_VNET_HDR_SIZE + 60] = {0}; /* the header asks for no offload */
	uint8_t *eth = frame + TAP_VNET_HDR_SIZE, *rarp = eth + 14;
	memset(eth, 0xff, 6);
	memcpy(eth + 6, net->config.mac, 6);
	eth[12] = 0x80, eth[13] = 0x35;				    /* ETH_P_RARP */
	static const uint8_t request[8] = {0, 1, 8, 0, 6, 4, 0, 3}; /* Ethernet, IPv4, op 3 */
	memcpy(rarp, request, sizeof(request));
	memcpy(rarp + 8, net->config.mac, 6);  /* sender MAC; sender IP 0 */
	memcpy(rarp + 18, net->config.mac, 6); /* target MAC; target IP 0 */
	/* Queue 0 is always attached. */
	return write(net->pair[0].fd, frame, sizeof(frame)) == (ssize_t)sizeof(frame) ? 0 : -errno;
}

void virtio_net_set_link(struct virtio_device *d, bool up)
{
	struct virtio_net *net = to_net(d);
	pthread_mutex_lock(&d->lock);
	net->link_down = !up;
	if (up && net->backend_gone)
		log_warn("%s: %s is gone: the link stays down", net->name, net->backend_name);
	bool now = up && !net->backend_gone;
	/* The host side sees the cable too (a switch stops forwarding to the port); with
	 * vhost-net this is also what stops frames toward the guest. */
	int rc = !net->user && !net->backend_gone ? tap_set_carrier(net->pair[0].fd, up) : 0;
	if (rc < 0)
		log_warn("%s: %s keeps its carrier: %s", net->name, net->backend_name,
			 strerror(-rc));
	if (now != !!(net->config.status & VIRTIO_NET_S_LINK_UP)) {
		if (now)
			net->config.status |= VIRTIO_NET_S_LINK_UP;
		else
			net->config.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
		virtio_device_config_changed(d);
	}
	pthread_mutex_unlock(&d->lock);
}

int virtio_net_set_mac(struct virtio_device *d, const uint8_t mac[6], char *err, size_t err_len)
{
	struct virtio_net *net = to_net(d);
	int rc = 0;
	pthread_mutex_lock(&d->lock);
	if (net->on_switch)
		rc = switch_port_change_mac(&net->port, net->backend_name, mac, err, err_len);
	if (rc == 0) {
		memcpy(net->assigned_mac, mac, 6);
		memcpy(net->config.mac, mac, 6);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void virtio_net_get_info(struct virtio_device *d, struct virtio_net_info *info)
{
	struct virtio_net *net = to_net(d);
	pthread_mutex_lock(&d->lock);
	memset(info, 0, sizeof(*info));
	memcpy(info->mac, net->config.mac, 6);
	memcpy(info->assigned_mac, net->assigned_mac, 6);
	info->link_up = net->config.status & VIRTIO_NET_S_LINK_UP;
	info->vhost = net->vhost_running;
	info->pairs = net->nr_pairs;
	info->active_pairs = net->active_pairs;
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		info->pair_rx_packets[i] = net->pair[i].rx_packets;
		info->pair_tx_packets[i] = net->pair[i].tx_packets;
		info->rx_packets += net->pair[i].rx_packets;
		info->tx_packets += net->pair[i].tx_packets;
		info->rx_bytes += net->pair[i].rx_bytes;
		info->tx_bytes += net->pair[i].tx_bytes;
	}
	info->rx_dropped = net->rx_dropped;
	info->tx_dropped = net->tx_dropped;
	info->ctrl_errors = net->ctrl_errors;
	pthread_mutex_unlock(&d->lock);
}

int virtio_net_set_limits(struct virtio_device *d, const struct io_limits *rx,
			  const struct io_limits *tx, char *err, size_t err_len)
{
	struct virtio_net *net = to_net(d);
	int rc = 0;
	pthread_mutex_lock(&d->lock);
	if (net->pair[0].vhost && (io_limits_set(rx) || io_limits_set(tx))) {
		snprintf(err, err_len,
			 "%s: its frames go through vhost-net, past any limit gureum sets: start "
			 "the VM with vhost=off on this card, or with its limits in --net",
			 net->name);
		rc = -1;
	} else {
		io_throttle_set(&net->rx_throttle, rx);
		io_throttle_set(&net->tx_throttle, tx);
		/* Pairs waiting for tokens look again on the device thread, under the new
		 * limits. */
		io_throttle_arm(&net->rx_throttle, 1);
		io_throttle_arm(&net->tx_throttle, 1);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void virtio_net_get_limits(struct virtio_device *d, struct io_limits *rx, struct io_limits *tx)
{
	struct virtio_net *net = to_net(d);
	pthread_mutex_lock(&d->lock);
	io_throttle_get(&net->rx_throttle, rx);
	io_throttle_get(&net->tx_throttle, tx);
	pthread_mutex_unlock(&d->lock);
}

void virtio_net_card_mac(const struct net_config *cfg, unsigned index, uint8_t mac[6])
{
	/* Derived from what names the host side the same way on every run. */
	const char *seed = cfg->backend == NET_BACKEND_USER ? "user"
			   : cfg->tap			    ? cfg->tap
							    : cfg->port.switch_name;
	if (cfg->has_mac)
		memcpy(mac, cfg->mac, 6);
	else
		virtio_net_default_mac(seed, index, mac);
}

/* A stable, locally administered unicast MAC: 52:54:00 (QEMU's customary prefix) and three
 * bytes of an FNV-1a hash of the tap name and the card's index, so a guest sees the same
 * address on every run with the same command line. */
void virtio_net_default_mac(const char *tap, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	for (const char *s = tap; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ ((index >> (8 * i)) & 0xff)) * 16777619u;
	mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16), mac[4] = (uint8_t)(h >> 8), mac[5] = (uint8_t)h;
}

/* The control queue: the guest may set its MAC (refused where it would be spoofing), and with
 * more than one pair choose how many it uses. */
#define CTRL_FEATURES                                                                              \
	(VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_MAC_ADDR))

#define NET_FEATURES                                                                               \
	(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS) |                  \
	 VIRTIO_FEATURE(VIRTIO_NET_F_CSUM) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_CSUM) |             \
	 VIRTIO_FEATURE(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_FEATURE(VIRTIO_NET_F_HOST_TSO6) |         \
	 VIRTIO_FEATURE(VIRTIO_NET_F_HOST_ECN) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO4) |         \
	 VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_ECN) |        \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF) | CTRL_FEATURES)

/* On the user network: no offload either way. */
#define USER_NET_FEATURES                                                                          \
	(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS) |                  \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF) | CTRL_FEATURES)

/* The ring features the core always offers plus mergeable buffers: vhost must do them all,
 * since the driver negotiates before we know whether vhost will start. */
#define VHOST_REQUIRED                                                                             \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |        \
	 VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

/* One vhost-net instance per pair; one that is missing or lacks features means none. */
static const char *open_vhost_pairs(struct virtio_net *net, char *why, size_t why_len)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];
		p->vhost = vhost_net_open(net->vhost_device, why, why_len);
		if (!p->vhost)
			return why;
		uint64_t missing = VHOST_REQUIRED & ~vhost_net_features(p->vhost);
		if (missing) {
			snprintf(why, why_len, "vhost-net lacks features %#llx",
				 (unsigned long long)missing);
			return why;
		}
	}
	return NULL;
}

static int open_vhost(struct virtio_net *net, char *err, size_t err_len)
{
	if (net->vhost_mode == VHOST_OFF)
		return 0;
	char why[200];
	if (!open_vhost_pairs(net, why, sizeof(why)))
		return 0;
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		vhost_net_close(net->pair[i].vhost);
		net->pair[i].vhost = NULL;
	}
	if (net->vhost_mode == VHOST_ON) {
		snprintf(err, err_len, "--net tap=%s,vhost=on: %s (or use vhost=auto or off)",
			 net->backend_name, why);
		return -1;
	}
	log_info("%s: %s; packets go through gureum instead", net->name, why);
	return 0;
}

static int watch_fds(struct virtio_net *net, char *err, size_t err_len)
{
	struct virtio_device *d = &net->dev;
	int rc = 0;
	for (unsigned i = 0; i < net->nr_pairs && rc == 0; i++) {
		struct net_pair *p = &net->pair[i];
		rc = virtio_device_watch(d, p->fd, 0, on_backend);
		for (unsigned ring = 0; rc == 0 && p->vhost && ring < VHOST_NET_QUEUES; ring++)
			rc = virtio_device_watch(d, vhost_net_call_fd(p->vhost, ring), EPOLLIN,
						 on_vhost_call);
	}
	if (rc == 0)
		rc = virtio_device_watch(d, net->rx_throttle.timer_fd, EPOLLIN, on_rx_timer);
	if (rc == 0)
		rc = virtio_device_watch(d, net->tx_throttle.timer_fd, EPOLLIN, on_tx_timer);
	if (rc < 0)
		snprintf(err, err_len, "%s: cannot watch the tap: %s", net->name, strerror(-rc));
	return rc;
}

/* The rate limits' timers and buckets. A card with limits does without vhost-net, whose
 * kernel thread would move frames past them. */
static int open_limits(struct virtio_net *net, const struct net_config *cfg, char *err,
		       size_t err_len)
{
	bool limited = io_limits_set(&cfg->rx_limits) || io_limits_set(&cfg->tx_limits);
	if (limited && net->vhost_mode == VHOST_ON) {
		snprintf(err, err_len, "%s: vhost=on and rate limits exclude each other",
			 net->name);
		return -1;
	}
	if (limited && net->vhost_mode == VHOST_AUTO) {
		log_info("%s: rate limits: packets go through gureum, not vhost-net", net->name);
		net->vhost_mode = VHOST_OFF;
	}
	int rc = io_throttle_init(&net->rx_throttle, &cfg->rx_limits);
	if (rc == 0)
		rc = io_throttle_init(&net->tx_throttle, &cfg->tx_limits);
	if (rc < 0)
		snprintf(err, err_len, "%s: cannot create the rate limits' timers: %s", net->name,
			 strerror(-rc));
	return rc;
}

/* The tap's queues or the user network, and the card's name for it in messages. */
static int open_backend(struct virtio_net *net, const struct net_config *cfg, unsigned index,
			char *err, size_t err_len)
{
	int fds[NET_MAX_QUEUE_PAIRS];
	if (cfg->backend == NET_BACKEND_USER) {
		snprintf(net->backend_name, sizeof(net->backend_name), "user");
		net->user = user_net_start(&cfg->user, net->name, &net->pair[0].fd, err, err_len);
		return net->user ? 0 : -1;
	}
	if (cfg->tap)
		snprintf(net->backend_name, sizeof(net->backend_name), "%s", cfg->tap);
	else /* a switch port's own tap */
		snprintf(net->backend_name, sizeof(net->backend_name), "gs%dn%u", (int)getpid(),
			 index);
	if (tap_open_queues(net->backend_name, net->nr_pairs, fds, err, err_len) < 0)
		return -1;
	for (unsigned i = 0; i < net->nr_pairs; i++)
		net->pair[i].fd = fds[i];
	if (!cfg->port.switch_name[0])
		return 0;
	if (switch_port_attach(&cfg->port, net->backend_name, net->config.mac, err, err_len) < 0)
		return -1;
	net->on_switch = true;
	net->port = cfg->port;
	return 0;
}

static void init_pairs(struct virtio_net *net, unsigned n)
{
	net->nr_pairs = n;
	net->active_pairs = 1;
	for (unsigned i = 0; i < n; i++) {
		struct net_pair *p = &net->pair[i];
		p->net = net;
		p->rx_queue = 2 * i;
		p->tx_queue = 2 * i + 1;
		p->fd = -1;
	}
}

struct virtio_device *virtio_net_create(const struct net_config *cfg, unsigned index, char *err,
					size_t err_len)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	if (!net) {
		snprintf(err, err_len, "virtio-net: out of memory");
		return NULL;
	}
	snprintf(net->name, sizeof(net->name), "virtio-net%u", index);
	net->rx_throttle.timer_fd = net->tx_throttle.timer_fd = -1;
	/* The user network takes no offloads (libslirp wants whole frames with checksums) and
	 * has no kernel path. */
	bool user = cfg->backend == NET_BACKEND_USER;
	unsigned pairs = cfg->queues ? cfg->queues : 1;
	init_pairs(net, pairs);
	net->vhost_mode = user ? VHOST_OFF : cfg->vhost;
	net->vhost_device = cfg->vhost_device ? cfg->vhost_device : VHOST_NET_DEVICE;
	if (open_limits(net, cfg, err, err_len) < 0)
		goto fail;
	/* The MAC first: a switch port's filter lets only it through. */
	virtio_net_card_mac(cfg, index, net->config.mac);
	memcpy(net->assigned_mac, net->config.mac, 6);
	if (open_backend(net, cfg, index, err, err_len) < 0)
		goto fail;
	attach_tap_queues(net); /* only the first until the driver asks for more */
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = (uint16_t)pairs;
	if (open_vhost(net, err, err_len) < 0)
		goto fail;
	uint64_t features = (user ? USER_NET_FEATURES : NET_FEATURES) |
			    (pairs > 1 ? VIRTIO_FEATURE(VIRTIO_NET_F_MQ) : 0);
	int rc = virtio_device_init(&net->dev, &net_ops, net->name, VIRTIO_ID_NET, features,
				    sizeof(net->config), 2 * pairs + 1, QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "%s: %s", net->name, strerror(-rc));
		goto fail;
	}
	if (watch_fds(net, err, err_len) < 0) {
		virtio_device_destroy(&net->dev); /* frees net */
		return NULL;
	}
	return &net->dev;
fail:
	release_net(net);
	return NULL;
}
