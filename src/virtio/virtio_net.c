/* virtio-net (virtio 1.2 section 5.1) on a host tap or on the user-mode NAT (user_net.h, which
 * speaks the tap's framing over a socketpair): queue 0 receives, queue 1 transmits.
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
 * With vhost-net the kernel does both directions itself (vhost_net.c); this file then only
 * starts and stops it. */
#include "virtio/virtio_net.h"
#include "hostnet/switch_port.h"
#include "virtio/tap.h"
#include "virtio/user_net.h"
#include "virtio/vhost_net.h"
#include "virtio/virtio_devices.h"

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

/* Device configuration (spec 5.1.4); max_virtqueue_pairs and mtu are read as 1 and 0 (the
 * features that give them meaning, MQ and MTU, are not offered). */
struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

#define RX_QUEUE   0
#define TX_QUEUE   1
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

struct virtio_net {
	struct virtio_device dev; /* first: the core hands us &dev */
	char name[32];
	char backend_name[16];	  /* the tap's name, or "user" */
	const char *vhost_device; /* the vhost-net node to open (virtio_options.h) */
	struct net_config_space config;
	int backend_fd;		 /* the tap, or the user network's socketpair */
	uint32_t backend_events; /* what the device thread watches it for while started */
	struct user_net *user;	 /* NULL on a tap */
	bool on_switch;		 /* the tap is a switch port with a filter to remove */
	bool link_down;		 /* set by the operator (net-link): frames are dropped */
	bool backend_gone;	 /* the tap was deleted: no link for good */

	enum vhost_mode vhost_mode;
	struct vhost_net *vhost; /* NULL: userspace path only */
	bool vhost_running;
	/* Stopped by net_pause (or kept stopped while a migration logs device writes), to be
	 * started again by net_resume. */
	bool vhost_paused;

	/* Transmit: a chain the tap refused with EAGAIN is kept and sent first on EPOLLOUT. */
	bool tx_blocked;
	bool tx_pending;
	struct virtq_chain tx_chain;

	/* Receive. */
	size_t rx_need;	 /* bytes of buffers that hold any frame (header included) */
	bool rx_starved; /* waiting for the driver's kick: the tap is not watched for input */
	struct virtq_chain rx_chain;
	struct rx_pool rx;

	uint64_t rx_packets, rx_dropped, tx_packets, tx_dropped;
	bool logged_tx_drop, logged_rx_error, logged_tx_error, logged_tap_down;
};

static struct virtio_net *to_net(struct virtio_device *d)
{
	return (struct virtio_net *)d;
}

/* --- the tap's events ---------------------------------------------------------------------- */

static void set_backend_events(struct virtio_net *net, uint32_t events)
{
	if (net->backend_events == events)
		return;
	net->backend_events = events;
	virtio_device_watch_modify(&net->dev, net->backend_fd, events);
}

static void add_backend_events(struct virtio_net *net, uint32_t events)
{
	set_backend_events(net, net->backend_events | events);
}

static void remove_backend_events(struct virtio_net *net, uint32_t events)
{
	set_backend_events(net, net->backend_events & ~events);
}

/* A guest error that stops the device: the tap must not be watched meanwhile, or a readable
 * tap would wake the thread for nothing until the driver resets us. */
#define net_fail(net, ...)                                                                         \
	do {                                                                                       \
		set_backend_events((net), 0);                                                      \
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
static int tx_send(struct virtio_net *net, const struct virtq_chain *c)
{
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
		n = writev(net->backend_fd, c->iov, (int)c->nr_out);
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
	net->tx_packets++;
	return 0;
}

/* Sends what the driver made available, up to the budget. Returns true when it stopped for
 * the budget (more may be waiting), false when the queue is empty, the tap is full or the
 * device failed. */
static bool tx_send_batch(struct virtio_net *net, bool *pushed)
{
	struct virtqueue *vq = &net->dev.queues[TX_QUEUE];
	for (unsigned sent = 0; sent < TX_BUDGET; sent++) {
		if (!net->tx_pending) {
			int r = virtq_pop(vq, &net->tx_chain);
			if (r < 0)
				net_fail(net, "transmit queue: %s", vq->error);
			if (r <= 0)
				return false;
		}
		int rc = tx_send(net, &net->tx_chain);
		net->tx_pending = rc == -EAGAIN;
		if (rc == -EAGAIN) {
			net->tx_blocked = true;
			add_backend_events(net, EPOLLOUT);
			return false;
		}
		if (rc < 0)
			return false;
		virtq_push(vq, net->tx_chain.head, 0);
		*pushed = true;
	}
	return true;
}

static void tx_process(struct virtio_net *net)
{
	struct virtqueue *vq = &net->dev.queues[TX_QUEUE];
	bool pushed = false;
	if (net->tx_blocked)
		return;
	for (;;) {
		virtq_disable_kicks(vq);
		if (tx_send_batch(net, &pushed)) {
			/* Let the receive side run, then come back: a kick of our own. */
			virtio_device_kick(&net->dev, TX_QUEUE);
			break;
		}
		if (net->tx_blocked || net->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
			break;
		if (!virtq_enable_kicks(vq))
			break;
	}
	if (pushed)
		virtio_device_notify(&net->dev, TX_QUEUE);
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
static bool rx_pool_has_room(const struct virtio_net *net)
{
	const struct rx_pool *p = &net->rx;
	return p->count < net->dev.queues[RX_QUEUE].size &&
	       p->nr_iov + VIRTQ_MAX_CHAIN <= RX_POOL_IOVS;
}

static bool rx_pool_ready(const struct virtio_net *net)
{
	const struct rx_pool *p = &net->rx;
	if (p->count == 0)
		return false;
	/* Without mergeable buffers a frame goes into one chain, which is dropped if too small
	 * (spec 5.1.6.3.1 requires the driver to make each big enough). */
	if (!has(net, VIRTIO_NET_F_MRG_RXBUF))
		return true;
	/* A pool that cannot grow (the driver made its whole ring available) is used as it is. */
	return p->bytes >= net->rx_need || !rx_pool_has_room(net);
}

/* Takes available chains until the pool can hold any frame. Returns 1 when it can, 0 when the
 * driver has not made enough room available, -1 when the device failed. */
static int rx_fill_pool(struct virtio_net *net)
{
	struct virtqueue *vq = &net->dev.queues[RX_QUEUE];
	struct virtq_chain *c = &net->rx_chain;
	while (!rx_pool_ready(net) && rx_pool_has_room(net)) {
		int r = virtq_pop(vq, c);
		if (r < 0) {
			net_fail(net, "receive queue: %s", vq->error);
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
		rx_pool_add(&net->rx, c);
	}
	return rx_pool_ready(net);
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
static void rx_deliver(struct virtio_net *net, size_t len)
{
	struct virtqueue *vq = &net->dev.queues[RX_QUEUE];
	struct rx_pool *p = &net->rx;
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
	net->rx_packets++;
}

/* Reads one frame into the pool. Returns 1 when one was delivered or dropped, 0 when the tap
 * is empty, -1 on a read error. */
static int rx_read_one(struct virtio_net *net)
{
	struct rx_pool *p = &net->rx;
	ssize_t n;
	/* The tap fills what room it is given and cuts a longer frame short, returning only
	 * what it copied. One byte of room beyond the buffers tells a cut frame (it reaches
	 * that byte) from one that fits exactly. */
	p->iov[p->nr_iov] = (struct iovec){.iov_base = &p->spare, .iov_len = 1};
	do
		n = readv(net->backend_fd, p->iov, (int)p->nr_iov + 1);
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
	/* A frame longer than the buffers is lost; they stay in the pool for the next one. So
	 * is any frame while the link is down. */
	if ((size_t)n > p->bytes || (size_t)n < TAP_VNET_HDR_SIZE + MIN_FRAME || net->link_down) {
		net->rx_dropped++;
		return 1;
	}
	rx_deliver(net, (size_t)n);
	return 1;
}

static void rx_process(struct virtio_net *net)
{
	struct virtqueue *vq = &net->dev.queues[RX_QUEUE];
	uint64_t before = net->rx_packets;
	for (unsigned i = 0; i < RX_BATCH; i++) {
		int ready = rx_fill_pool(net);
		if (ready < 0)
			return;
		if (!ready) {
			/* Out of buffers: stop reading until the driver kicks (the kick is only
			 * sent when we ask for it), unless it added some meanwhile. */
			if (virtq_enable_kicks(vq))
				continue;
			net->rx_starved = true;
			remove_backend_events(net, EPOLLIN);
			break;
		}
		if (!vq->kicks_disabled)
			virtq_disable_kicks(vq);
		if (rx_read_one(net) <= 0)
			break;
	}
	if (net->rx_packets != before)
		virtio_device_notify(&net->dev, RX_QUEUE);
}

/* --- device callbacks ---------------------------------------------------------------------- */

/* The tap reports an error or hang-up only when it lost its interface (deleted with
 * ip link del): for good, and epoll would report it on every round. The card stays, without a
 * link, as if its cable were pulled. */
static void backend_lost(struct virtio_net *net)
{
	log_error("%s: %s is gone: the guest's network card has no link from now on", net->name,
		  net->backend_name);
	virtio_device_unwatch(&net->dev, net->backend_fd);
	net->backend_events = 0;
	net->backend_gone = true;
	net->config.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	virtio_device_config_changed(&net->dev);
}

static void on_backend(struct virtio_device *d, uint32_t events)
{
	struct virtio_net *net = to_net(d);
	if (events & (EPOLLERR | EPOLLHUP)) {
		backend_lost(net);
		return;
	}
	if (net->vhost_running)
		return;
	if (events & EPOLLOUT) {
		net->tx_blocked = false;
		remove_backend_events(net, EPOLLOUT);
		tx_process(net);
	}
	if (events & EPOLLIN)
		rx_process(net);
}

static void net_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_net *net = to_net(d);
	if (index == TX_QUEUE) {
		tx_process(net);
	} else if (index == RX_QUEUE && net->rx_starved) {
		net->rx_starved = false;
		add_backend_events(net, EPOLLIN);
		rx_process(net);
	}
}

/* vhost wrote its call eventfd (the transport had no irqfd): raise the interrupt. The kernel
 * already decided that the driver wants one, so the ring's state (which only the kernel
 * knows while it runs the queue) is not consulted again. */
static void forward_vhost_call(struct virtio_device *d, unsigned index)
{
	struct virtio_net *net = to_net(d);
	uint64_t count;
	if (!net->vhost || read(vhost_net_call_fd(net->vhost, index), &count, sizeof(count)) < 0)
		return;
	if (net->vhost_running && d->transport.notify_queue) {
		d->interrupts++;
		d->transport.notify_queue(d->transport.opaque, index);
	}
}

static void on_vhost_call_rx(struct virtio_device *d, uint32_t events)
{
	(void)events;
	forward_vhost_call(d, RX_QUEUE);
}

static void on_vhost_call_tx(struct virtio_device *d, uint32_t events)
{
	(void)events;
	forward_vhost_call(d, TX_QUEUE);
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

/* vhost=auto falls back to the userspace path when the kernel refuses; vhost=on fails. */
static int start_vhost(struct virtio_net *net)
{
	char err[256];
	if (vhost_net_start(net->vhost, &net->dev, net->backend_fd, err, sizeof(err)) == 0) {
		net->vhost_running = true;
		set_backend_events(net, 0);
		return 0;
	}
	if (net->vhost_mode == VHOST_ON) {
		virtio_device_fail(&net->dev, "%s (vhost=on: no fallback; use vhost=auto)", err);
		return -1;
	}
	log_warn("%s: %s; moving packets in userspace instead", net->name, err);
	virtio_device_unwatch(&net->dev, vhost_net_call_fd(net->vhost, RX_QUEUE));
	virtio_device_unwatch(&net->dev, vhost_net_call_fd(net->vhost, TX_QUEUE));
	vhost_net_close(net->vhost);
	net->vhost = NULL;
	return 1;
}

static int net_start(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	struct tap_offloads offloads = negotiated_offloads(net);
	int rc = net->user ? 0 : tap_set_offloads(net->backend_fd, &offloads);
	if (rc < 0) {
		virtio_device_fail(d, "%s: setting offloads: %s", net->backend_name, strerror(-rc));
		return -1;
	}
	net->tx_blocked = net->tx_pending = net->rx_starved = false;
	rx_pool_clear(&net->rx);
	net->rx_need = rx_buffer_need(net);
	if (net->vhost && guest_memory_logging(d->mem)) {
		/* The driver restarted the card while a migration logs device writes: packets
		 * go through userspace until then, as in net_resume. */
		net->vhost_paused = true;
	} else if (net->vhost) {
		rc = start_vhost(net);
		if (rc <= 0)
			return rc;
	}
	set_backend_events(net, EPOLLIN);
	return 0;
}

static void net_reset(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	if (net->vhost_running)
		vhost_net_stop(net->vhost, d);
	net->vhost_running = net->vhost_paused = false;
	/* Chains held in the pool or pending belong to the old rings: forget them. */
	rx_pool_clear(&net->rx);
	net->tx_pending = net->tx_blocked = net->rx_starved = false;
}

/* The VM pauses: vhost's kernel thread must stop moving packets in and out of guest memory
 * (its ring positions come back into our queues); without vhost, not watching the tap is all
 * it takes. */
static void net_pause(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	if (!net->vhost_running)
		return;
	vhost_net_stop(net->vhost, d);
	net->vhost_running = false;
	net->vhost_paused = true;
}

/* Receive buffers held across a pause are written later, when frames come: a migration that
 * started its device-write log during the pause must hear of them now (it notes new chains
 * as they are taken). */
static void note_held_buffers(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->rx.nr_iov; i++)
		guest_memory_note_host_write(net->dev.mem, net->rx.iov[i].iov_base,
					     net->rx.iov[i].iov_len);
}

/* Back to vhost after the userspace path ran: the chains it holds go back to the driver's ring
 * first, since the kernel starts at last_avail_idx (as a save gives them back, see
 * held_chains). */
static void give_back_held_chains(struct virtio_net *net)
{
	net->dev.queues[RX_QUEUE].last_avail_idx -= (uint16_t)net->rx.count;
	if (net->tx_pending)
		net->dev.queues[TX_QUEUE].last_avail_idx--;
	rx_pool_clear(&net->rx);
	net->tx_pending = net->tx_blocked = net->rx_starved = false;
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
		set_backend_events(net, EPOLLIN);
		return 0;
	}
	give_back_held_chains(net);
	net->vhost_paused = false;
	int rc = start_vhost(net);
	if (rc > 0) /* vhost refused again: the userspace path takes over */
		set_backend_events(net, EPOLLIN);
	return rc < 0 ? -1 : 0;
}

static void net_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	memcpy(data, (const uint8_t *)&to_net(d)->config + offset, size);
}

/* Closes the card's host side (vhost, tap or user network, switch port rules) and frees it. */
static void release_net(struct virtio_net *net)
{
	vhost_net_close(net->vhost);
	close(net->backend_fd);
	user_net_stop(net->user);
	if (net->on_switch)
		switch_port_detach(net->backend_name);
	free(net);
}

static void net_destroy(struct virtio_device *d)
{
	struct virtio_net *net = to_net(d);
	log_debug("%s: rx %llu frames (%llu dropped), tx %llu frames (%llu dropped)", net->name,
		  (unsigned long long)net->rx_packets, (unsigned long long)net->rx_dropped,
		  (unsigned long long)net->tx_packets, (unsigned long long)net->tx_dropped);
	release_net(net);
}

/* --- saved state: record "virtio-net" ------------------------------------------------- */

/* The receive pool's chains and a transmit chain the tap refused are taken from the rings but
 * not used yet: a save gives them back to the ring (the loaded device takes them again), since
 * their buffers are host pointers of this process. */
static uint16_t net_held_chains(struct virtio_device *d, unsigned index)
{
	struct virtio_net *net = to_net(d);
	if (index == RX_QUEUE)
		return (uint16_t)net->rx.count;
	return index == TX_QUEUE && net->tx_pending ? 1 : 0;
}

static const char *const net_state_keys[] = {"mac", NULL};

/* The MAC the driver read at probe and keeps using. The link bit is not saved: it says whether
 * the loading host's tap works, which only that host knows. */
static void net_save_state(struct virtio_device *d, struct state_writer *w)
{
	state_record_begin(w, "virtio-net", 1, 1);
	state_put_bytes(w, "mac", to_net(d)->config.mac, 6, STATE_ESSENTIAL);
	state_record_end(w);
}

static int net_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			  char *err, size_t err_len)
{
	struct state_reader_spec spec = {"virtio-net", 1, 1, net_state_keys};
	const void *mac;
	uint32_t len;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_bytes(rec, "mac", &mac, &len) < 0 || len != 6) {
		state_set_error(err, err_len,
				"virtio-net state: \"mac\" is missing or not 6 bytes");
		return -1;
	}
	if (apply)
		memcpy(to_net(d)->config.mac, mac, 6);
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

/* A stable, locally administered unicast MAC: 52:54:00 (QEMU's customary prefix) and three
 * bytes of an FNV-1a hash of the tap name and the card's index, so a guest sees the same
 * address on every run with the same command line. */
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
	return write(net->backend_fd, frame, sizeof(frame)) == (ssize_t)sizeof(frame) ? 0 : -errno;
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
	int rc = !net->user && !net->backend_gone ? tap_set_carrier(net->backend_fd, up) : 0;
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

#define NET_FEATURES                                                                               \
	(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS) |                  \
	 VIRTIO_FEATURE(VIRTIO_NET_F_CSUM) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_CSUM) |             \
	 VIRTIO_FEATURE(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_FEATURE(VIRTIO_NET_F_HOST_TSO6) |         \
	 VIRTIO_FEATURE(VIRTIO_NET_F_HOST_ECN) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO4) |         \
	 VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_ECN) |        \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

/* On the user network: no offload either way. */
#define USER_NET_FEATURES                                                                          \
	(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS) |                  \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

/* The ring features the core always offers plus mergeable buffers: vhost must do them all,
 * since the driver negotiates before we know whether vhost will start. */
#define VHOST_REQUIRED                                                                             \
	(VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |        \
	 VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF))

static int open_vhost(struct virtio_net *net, char *err, size_t err_len)
{
	if (net->vhost_mode == VHOST_OFF)
		return 0;
	char why[200];
	net->vhost = vhost_net_open(net->vhost_device, why, sizeof(why));
	if (net->vhost && (vhost_net_features(net->vhost) & VHOST_REQUIRED) != VHOST_REQUIRED) {
		snprintf(why, sizeof(why), "vhost-net lacks features %#llx",
			 (unsigned long long)(VHOST_REQUIRED & ~vhost_net_features(net->vhost)));
		vhost_net_close(net->vhost);
		net->vhost = NULL;
	}
	if (net->vhost)
		return 0;
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
	int rc = virtio_device_watch(d, net->backend_fd, 0, on_backend);
	if (rc == 0 && net->vhost) {
		rc = virtio_device_watch(d, vhost_net_call_fd(net->vhost, RX_QUEUE), EPOLLIN,
					 on_vhost_call_rx);
		if (rc == 0)
			rc = virtio_device_watch(d, vhost_net_call_fd(net->vhost, TX_QUEUE),
						 EPOLLIN, on_vhost_call_tx);
	}
	if (rc < 0)
		snprintf(err, err_len, "%s: cannot watch the tap: %s", net->name, strerror(-rc));
	return rc;
}

/* The tap or the user network, and the card's name for it in messages. */
static int open_backend(struct virtio_net *net, const struct net_config *cfg, unsigned index,
			char *err, size_t err_len)
{
	if (cfg->backend == NET_BACKEND_USER) {
		snprintf(net->backend_name, sizeof(net->backend_name), "user");
		net->user = user_net_start(&cfg->user, net->name, &net->backend_fd, err, err_len);
		return net->user ? 0 : -1;
	}
	if (cfg->tap)
		snprintf(net->backend_name, sizeof(net->backend_name), "%s", cfg->tap);
	else /* a switch port's own tap */
		snprintf(net->backend_name, sizeof(net->backend_name), "gs%dn%u", (int)getpid(),
			 index);
	net->backend_fd = tap_open(net->backend_name, err, err_len);
	if (net->backend_fd < 0)
		return -1;
	if (!cfg->port.switch_name[0])
		return 0;
	if (switch_port_attach(&cfg->port, net->backend_name, net->config.mac, err, err_len) < 0) {
		close(net->backend_fd);
		return -1;
	}
	net->on_switch = true;
	return 0;
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
	/* The user network takes no offloads (libslirp wants whole frames with checksums) and
	 * has no kernel path. */
	bool user = cfg->backend == NET_BACKEND_USER;
	net->vhost_mode = user ? VHOST_OFF : cfg->vhost;
	net->vhost_device = cfg->vhost_device ? cfg->vhost_device : VHOST_NET_DEVICE;
	/* The MAC first: a switch port's filter lets only it through. */
	virtio_net_card_mac(cfg, index, net->config.mac);
	if (open_backend(net, cfg, index, err, err_len) < 0) {
		free(net);
		return NULL;
	}
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = 1;
	if (open_vhost(net, err, err_len) < 0)
		goto fail;
	int rc = virtio_device_init(&net->dev, &net_ops, net->name, VIRTIO_ID_NET,
				    user ? USER_NET_FEATURES : NET_FEATURES, sizeof(net->config), 2,
				    QUEUE_SIZE);
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
