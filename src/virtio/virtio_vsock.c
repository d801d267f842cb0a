/* virtio-vsock (virtio 1.2 section 5.10) with a userspace host side on Unix sockets, the
 * "hybrid vsock" of Firecracker: queue 0 (rx) carries packets to the guest, queue 1 (tx) the
 * guest's packets, queue 2 (event) the transport-reset event. Only stream sockets exist.
 *
 * Host side. The device listens on the Unix socket PATH (mode 0600). A host process that
 * connects writes "CONNECT <port>\n"; we send the guest a REQUEST for that port from a local
 * port of our choosing, and on its RESPONSE write "OK <local port>\n" back: from then on the
 * socket carries the stream. A guest that connects to CID 2, port P reaches whoever listens on
 * the Unix socket "PATH_P"; nobody there is an RST. A guest that neither accepts nor refuses
 * a host connection within 2 s gets an RST and the host socket is closed. Connections
 * (vsock_connection.h) are found by their two ports; their host sockets sit in an epoll set of the
 * device's own, which the device thread watches as one fd (virtio_device_watch has room for a few
 * fds only).
 *
 * Flow control is the spec's credit (5.10.6.3) both ways: we send the guest no more than its
 * buf_alloc minus what is in flight, reading the host socket only then (the host process
 * feels the back-pressure), and keep at most VSOCK_BUF_ALLOC bytes from the guest that the
 * host socket has not taken, sending CREDIT_UPDATE as the host drains them.
 *
 * Packets to the guest wait until the driver posts receive buffers: connections that owe one
 * (a control packet, or host bytes with credit to send them) form a ready list served
 * round-robin, one packet each. A receive chain taken from the ring when nothing was left to
 * write into it is held for the next packet (held_chains gives it back at a save).
 *
 * Everything in a packet from the guest is checked: a short chain, a length that disagrees
 * with the chain, the wrong CIDs, a type other than stream or an unknown operation is counted
 * and dropped (answered with an RST where the spec asks for one); a guest that sends beyond
 * its credit loses the connection. None of it fails the device.
 *
 * A snapshot keeps only the CID: host sockets cannot be saved. A loaded device starts without
 * connections and tells the guest so with VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, after which
 * the guest's driver resets its sockets (as after a live migration). */
#include "virtio/virtio_devices.h"
#include "virtio/vsock_connection.h"
#include "virtio/vsock_device.h"

#include "lib/log.h"
#include "lib/unix_listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Host processes that connected and have not said CONNECT yet. */
#define MAX_HANDSHAKES 64
/* Guest packets handled per kick, and epoll events per wake-up: bounds how long one side
 * keeps the device thread from the other. */
#define TX_BUDGET   256
#define EPOLL_BATCH 64
/* The first local port of host-initiated connections (as Firecracker chooses them, high
 * enough not to meet the ports guest-initiated connections ask for). */
#define FIRST_LOCAL_PORT (1u << 30)
/* A host process's connection the guest neither accepts nor refuses within this long is
 * given up (RST to the guest, the host socket closed), as Firecracker does; the timer that
 * checks ticks only while such connections exist. */
#define CONNECT_TIMEOUT_NS 2000000000ULL
#define TIMER_TICK_NS	   250000000L

struct rst_reply {
	uint32_t local_port, peer_port;
};

struct virtio_vsock {
	struct vsock_device vd; /* first: the core hands us &vd.dev */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int epoll_fd;
	int timer_fd; /* connect timeouts, in the epoll set */
	bool timer_armed;

	struct vsock_table table;
	struct vsock_conn *handshakes; /* linked through next_in_bucket (not in the table) */
	unsigned nr_handshakes;
	struct vsock_conn *ready_head, *ready_tail;
	/* RSTs owed for packets that have (or had) no connection. */
	struct rst_reply *rsts;
	unsigned nr_rsts, rsts_cap;
	uint32_t next_local_port;

	bool rx_held; /* rx_chain was taken from the ring and not used yet */
	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain;

	struct vsock_stats stats;
	bool logged_drop;
	uint8_t bounce[VSOCK_BUF_ALLOC];
};

static struct virtio_vsock *to_vsock(struct virtio_device *d)
{
	return (struct virtio_vsock *)d;
}

static void drop_packet(struct virtio_vsock *vs, const char *why)
{
	vs->stats.dropped++;
	if (!vs->logged_drop)
		log_warn("%s: dropping a packet from the guest: %s (logged once)", vs->vd.dev.name,
			 why);
	vs->logged_drop = true;
}

/* --- the host sockets' epoll set ---------------------------------------------------------- */

static void set_fd_events(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t events)
{
	if (c->host_hup || c->fd < 0 || c->fd_events == events)
		return;
	struct epoll_event ev = {.events = events, .data.ptr = c};
	epoll_ctl(vs->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
	c->fd_events = events;
}

/* What a connection's host socket is watched for: input while we do not know it has some
 * (and the guest may take it), output while bytes wait for it. */
static void update_fd_events(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t events = 0;
	if (c->state == VSOCK_CONN_HOST_HANDSHAKE)
		events = EPOLLIN;
	else if (c->state == VSOCK_CONN_ESTABLISHED && !c->host_readable && !c->host_eof &&
		 !c->guest_no_rcv)
		events = EPOLLIN;
	if (c->out_len)
		events |= EPOLLOUT;
	set_fd_events(vs, c, events);
}

static int watch_fd(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -errno;
	c->fd_events = events;
	return 0;
}

static void unwatch_fd(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (!c->host_hup && c->fd >= 0)
		epoll_ctl(vs->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	c->host_hup = true;
}

/* --- connections ------------------------------------------------------------------------ */

static bool has_data_to_send(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->host_readable && !c->host_eof &&
	       !c->guest_no_rcv && vsock_conn_peer_credit(c) > 0;
}

static bool has_work(const struct vsock_conn *c)
{
	return c->pending || has_data_to_send(c);
}

/* Puts c on the ready list when it owes the guest a packet. */
static void make_ready(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->ready_listed || !has_work(c))
		return;
	c->ready_listed = true;
	c->next_ready = NULL;
	if (vs->ready_tail)
		vs->ready_tail->next_ready = c;
	else
		vs->ready_head = c;
	vs->ready_tail = c;
}

static void unlist_ready(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (!c->ready_listed)
		return;
	struct vsock_conn *prev = NULL;
	for (struct vsock_conn *p = vs->ready_head; p; prev = p, p = p->next_ready) {
		if (p != c)
			continue;
		if (prev)
			prev->next_ready = c->next_ready;
		else
			vs->ready_head = c->next_ready;
		if (vs->ready_tail == c)
			vs->ready_tail = prev;
		break;
	}
	c->ready_listed = false;
	c->next_ready = NULL;
}

static void queue_rst(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	if (vs->nr_rsts == vs->rsts_cap) {
		unsigned cap = vs->rsts_cap ? vs->rsts_cap * 2 : 64;
		/* Each RST answers a guest packet, and a guest that sends faster than it takes
		 * the answers gets no more of them than this: it only loses replies to bogus
		 * packets. */
		if (cap > 2 * VSOCK_MAX_CONNECTIONS)
			return;
		struct rst_reply *grown = realloc(vs->rsts, cap * sizeof(*grown));
		if (!grown)
			return;
		vs->rsts = grown;
		vs->rsts_cap = cap;
	}
	vs->rsts[vs->nr_rsts++] = (struct rst_reply){local_port, peer_port};
}

/* Forgets a connection without telling the guest (it reset it, or the device resets). */
static void close_conn(struct virtio_vsock *vs, struct vsock_conn *c)
{
	unlist_ready(vs, c);
	vsock_table_remove(&vs->table, c);
	unwatch_fd(vs, c);
	vsock_conn_free(c);
}

/* Ends a connection with an RST to the guest. */
static void reset_conn(struct virtio_vsock *vs, struct vsock_conn *c)
{
	queue_rst(vs, c->local_port, c->peer_port);
	close_conn(vs, c);
}

static void remove_handshake(struct virtio_vsock *vs, struct vsock_conn *c)
{
	for (struct vsock_conn **p = &vs->handshakes; *p; p = &(*p)->next_in_bucket)
		if (*p == c) {
			*p = c->next_in_bucket;
			c->next_in_bucket = NULL;
			vs->nr_handshakes--;
			return;
		}
}

static void close_handshake(struct virtio_vsock *vs, struct vsock_conn *c)
{
	remove_handshake(vs, c);
	close_conn(vs, c);
}

static void close_each(struct vsock_conn *c, void *opaque)
{
	close_conn(opaque, c);
}

static void close_all(struct virtio_vsock *vs)
{
	while (vs->handshakes)
		close_handshake(vs, vs->handshakes);
	vsock_table_each(&vs->table, close_each, vs);
	vs->ready_head = vs->ready_tail = NULL;
	vs->nr_rsts = 0;
}

/* --- packets to the guest ----------------------------------------------------------------- */

static struct vsock_hdr header(const struct virtio_vsock *vs, uint32_t local_port,
			       uint32_t peer_port, uint16_t op)
{
	return (struct vsock_hdr){
	    .src_cid = VSOCK_CID_HOST,
	    .dst_cid = vs->vd.guest_cid,
	    .src_port = local_port,
	    .dst_port = peer_port,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	};
}

/* A packet of c's: carries our credit, which the guest now knows. */
static struct vsock_hdr conn_header(const struct virtio_vsock *vs, struct vsock_conn *c,
				    uint16_t op)
{
	struct vsock_hdr h = header(vs, c->local_port, c->peer_port, op);
	h.buf_alloc = VSOCK_BUF_ALLOC;
	h.fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
	return h;
}

/* Returns the held receive chain with `h` and `len` payload bytes from the bounce buffer. */
static void deliver(struct virtio_vsock *vs, const struct vsock_hdr *h, size_t len)
{
	virtq_chain_write(&vs->rx_chain, 0, h, sizeof(*h));
	if (len)
		virtq_chain_write(&vs->rx_chain, sizeof(*h), vs->bounce, len);
	virtq_push(&vs->vd.dev.queues[VSOCK_RX_QUEUE], vs->rx_chain.head,
		   (uint32_t)(sizeof(*h) + len));
	vs->rx_held = false;
	vs->stats.rx_packets++;
	if (h->op == VSOCK_OP_RST)
		vs->stats.resets++;
}

/* The control packet c owes the guest first, or false when it owes none. */
static bool deliver_control(struct virtio_vsock *vs, struct vsock_conn *c)
{
	static const struct {
		unsigned bit;
		uint16_t op;
	} order[] = {
	    {VSOCK_PENDING_REQUEST, VSOCK_OP_REQUEST},
	    {VSOCK_PENDING_RESPONSE, VSOCK_OP_RESPONSE},
	    {VSOCK_PENDING_CREDIT, VSOCK_OP_CREDIT_UPDATE},
	    {VSOCK_PENDING_SHUTDOWN, VSOCK_OP_SHUTDOWN},
	};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(c->pending & order[i].bit))
			continue;
		c->pending &= ~order[i].bit;
		struct vsock_hdr h = conn_header(vs, c, order[i].op);
		if (order[i].op == VSOCK_OP_SHUTDOWN)
			h.flags = c->shutdown_flags;
		/* A credit update is also carried by any other packet. */
		if (order[i].op != VSOCK_OP_CREDIT_UPDATE)
			c->pending &= ~VSOCK_PENDING_CREDIT;
		deliver(vs, &h, 0);
		return true;
	}
	return false;
}

/* The host process sent its last byte: the guest hears SHUTDOWN SEND (and RCV too when the
 * socket hung up altogether, so that the guest's side closes). */
static void host_finished(struct virtio_vsock *vs, struct vsock_conn *c)
{
	c->host_eof = true;
	c->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
	if (c->host_hup)
		c->shutdown_flags |= VSOCK_SHUTDOWN_RCV;
	c->pending |= VSOCK_PENDING_SHUTDOWN;
	update_fd_events(vs, c);
}

/* Reads host bytes for c into one RW packet, if the credit and the chain allow. Returns 1
 * when a packet went out, 0 when nothing did, -1 when c was reset (freed). */
static int deliver_data(struct virtio_vsock *vs, struct vsock_conn *c)
{
	size_t room = vs->rx_chain.in_bytes - sizeof(struct vsock_hdr);
	size_t want = vsock_conn_peer_credit(c);
	if (want > room)
		want = room;
	if (want > VSOCK_MAX_PKT_PAYLOAD)
		want = VSOCK_MAX_PKT_PAYLOAD;
	ssize_t n;
	do
		n = recv(c->fd, vs->bounce, want, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->host_readable = false;
		update_fd_events(vs, c);
		return 0;
	}
	if (n < 0) {
		reset_conn(vs, c);
		return -1;
	}
	if (n == 0) {
		host_finished(vs, c);
		return deliver_control(vs, c) ? 1 : 0;
	}
	struct vsock_hdr h = conn_header(vs, c, VSOCK_OP_RW);
	h.len = (uint32_t)n;
	c->tx_cnt += (uint32_t)n;
	c->pending &= ~VSOCK_PENDING_CREDIT;
	deliver(vs, &h, (size_t)n);
	return 1;
}

/* Takes a receive chain unless one is held. Returns 1, 0 (none available) or -1 (failed). */
static int take_rx_chain(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vd.dev.queues[VSOCK_RX_QUEUE];
	while (!vs->rx_held) {
		int r = virtq_pop(vq, &vs->rx_chain);
		if (r < 0) {
			virtio_device_fail(&vs->vd.dev, "rx queue: %s", vq->error);
			return -1;
		}
		if (r == 0)
			return 0;
		/* Room for the header and at least a byte: any packet fits (a data packet takes
		 * what the buffer holds). */
		if (vs->rx_chain.in_bytes > sizeof(struct vsock_hdr)) {
			vs->rx_held = true;
			break;
		}
		/* Given back unused (the driver's mistake; Linux posts 4 KiB buffers). */
		virtq_push(vq, vs->rx_chain.head, 0);
		drop_packet(vs, "a receive buffer with no room past the 44-byte header");
	}
	return 1;
}

/* Sends the guest what is owed while it has receive buffers posted. */
static void rx_flush(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vd.dev.queues[VSOCK_RX_QUEUE];
	uint16_t before = vq->used_idx;
	while (vs->nr_rsts || vs->ready_head) {
		if (take_rx_chain(vs) <= 0)
			break;
		if (vs->nr_rsts) {
			struct rst_reply r = vs->rsts[0];
			memmove(vs->rsts, vs->rsts + 1, --vs->nr_rsts * sizeof(*vs->rsts));
			struct vsock_hdr h = header(vs, r.local_port, r.peer_port, VSOCK_OP_RST);
			deliver(vs, &h, 0);
			continue;
		}
		struct vsock_conn *c = vs->ready_head;
		unlist_ready(vs, c);
		if (!deliver_control(vs, c) && has_data_to_send(c) && deliver_data(vs, c) < 0)
			continue; /* c is gone */
		make_ready(vs, c);
	}
	if (vq->used_idx != before)
		virtio_device_notify(&vs->vd.dev, VSOCK_RX_QUEUE);
}

/* --- bytes for the host socket ------------------------------------------------------------ */

/* Finishes what the guest asked for once its bytes are all with the host socket: shut the
 * socket's write side (SHUTDOWN SEND), or close with an RST (both directions). Returns -1
 * when c is gone. */
static int after_flush(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->out_len)
		return 0;
	if (c->guest_done) {
		reset_conn(vs, c);
		return -1;
	}
	if (c->guest_sent_all)
		shutdown(c->fd, SHUT_WR);
	return 0;
}

/* Writes kept bytes to the host socket. Returns -1 when c was reset. */
static int flush_out(struct virtio_vsock *vs, struct vsock_conn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			reset_conn(vs, c);
			return -1;
		}
		vsock_conn_out_consume(c, (size_t)n);
		c->fwd_cnt += (uint32_t)n;
	}
	update_fd_events(vs, c);
	if (vsock_conn_wants_credit_update(c)) {
		c->pending |= VSOCK_PENDING_CREDIT;
		make_ready(vs, c);
	}
	return after_flush(vs, c);
}

/* The guest's payload for the host socket: written at once when nothing waits before it,
 * the rest kept. Returns -1 when c was reset. */
static int forward_payload(struct virtio_vsock *vs, struct vsock_conn *c, const uint8_t *buf,
			   size_t len)
{
	c->rx_cnt += (uint32_t)len;
	if (vsock_conn_out_append(c, buf, len) < 0) {
		reset_conn(vs, c);
		return -1;
	}
	return flush_out(vs, c);
}

/* --- packets from the guest --------------------------------------------------------------- */

/* The guest connects to host port hdr->dst_port: to the Unix socket PATH_PORT. */
static void guest_connect(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int len = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", vs->path, h->dst_port);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || len >= (int)sizeof(addr.sun_path) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		/* Nobody listens (ENOENT, ECONNREFUSED), or its backlog is full (EAGAIN). */
		if (fd >= 0)
			close(fd);
		queue_rst(vs, h->dst_port, h->src_port);
		return;
	}
	struct vsock_conn *c = vsock_conn_new(fd);
	if (!c) {
		close(fd);
		queue_rst(vs, h->dst_port, h->src_port);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (vsock_table_insert(&vs->table, c) < 0 || watch_fd(vs, c, EPOLLIN) < 0) {
		c->host_hup = true; /* not in the epoll set */
		reset_conn(vs, c);
		return;
	}
	c->pending |= VSOCK_PENDING_RESPONSE;
	make_ready(vs, c);
}

/* The guest accepted a host-initiated connection: the host process hears "OK <port>". */
static void guest_accepted(struct virtio_vsock *vs, struct vsock_conn *c)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
	/* A fresh socket's buffer takes a line whole. */
	if (send(c->fd, ok, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
		reset_conn(vs, c);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->connect_deadline = 0;
	update_fd_events(vs, c);
}

/* Returns -1 when c is gone (both directions shut and nothing left for the host). */
static int guest_shutdown(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV) {
		c->guest_no_rcv = true;
		update_fd_events(vs, c);
	}
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->guest_sent_all = true;
	if ((flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
	    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		c->guest_done = true;
	return after_flush(vs, c);
}

/* A packet for an existing connection. */
static void conn_packet(struct virtio_vsock *vs, struct vsock_conn *c, const struct vsock_hdr *h,
			const uint8_t *payload)
{
	if (h->op == VSOCK_OP_RST) {
		close_conn(vs, c);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_CONN_CONNECTING) {
			reset_conn(vs, c);
			return;
		}
		guest_accepted(vs, c);
		return;
	case VSOCK_OP_RW:
		if (c->state != VSOCK_CONN_ESTABLISHED || c->guest_sent_all) {
			reset_conn(vs, c);
			return;
		}
		if (!vsock_conn_rx_fits(c, h->len)) {
			drop_packet(vs, "more data than the credit we gave");
			reset_conn(vs, c);
			return;
		}
		if (forward_payload(vs, c, payload, h->len) < 0)
			return;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VSOCK_PENDING_CREDIT;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (guest_shutdown(vs, c, h->flags) < 0)
			return;
		break;
	default: /* REQUEST on a live connection */
		reset_conn(vs, c);
		return;
	}
	make_ready(vs, c); /* the credit may allow more data now */
}

/* One packet from the guest, whose header the chain had. */
static void guest_packet(struct virtio_vsock *vs, const struct vsock_hdr *h, const uint8_t *payload)
{
	if (h->src_cid != vs->vd.guest_cid || h->dst_cid != VSOCK_CID_HOST) {
		drop_packet(vs, "wrong source or destination CID");
		return;
	}
	if (h->type != VSOCK_TYPE_STREAM || h->op == VSOCK_OP_INVALID ||
	    h->op > VSOCK_OP_CREDIT_REQUEST) {
		drop_packet(vs, h->type != VSOCK_TYPE_STREAM ? "not a stream socket"
							     : "unknown operation");
		if (h->op != VSOCK_OP_RST)
			queue_rst(vs, h->dst_port, h->src_port);
		return;
	}
	if (h->op != VSOCK_OP_RW && h->len) {
		drop_packet(vs, "payload on a control packet");
		if (h->op != VSOCK_OP_RST)
			queue_rst(vs, h->dst_port, h->src_port);
		return;
	}
	struct vsock_conn *c = vsock_table_find(&vs->table, h->dst_port, h->src_port);
	if (c) {
		conn_packet(vs, c, h, payload);
		return;
	}
	if (h->op == VSOCK_OP_REQUEST)
		guest_connect(vs, h);
	else if (h->op != VSOCK_OP_RST)
		queue_rst(vs, h->dst_port, h->src_port);
}

/* Reads one transmit chain: header, then payload. */
static void tx_chain(struct virtio_vsock *vs, const struct virtq_chain *chain)
{
	struct vsock_hdr h;
	vs->stats.tx_packets++;
	if (chain->out_bytes < sizeof(h)) {
		drop_packet(vs, "a chain shorter than the 44-byte header");
		return;
	}
	virtq_chain_read(chain, 0, &h, sizeof(h));
	if (h.len != chain->out_bytes - sizeof(h)) {
		drop_packet(vs, "the header's length disagrees with the chain's");
		if (h.op != VSOCK_OP_RST && h.src_cid == vs->vd.guest_cid)
			queue_rst(vs, h.dst_port, h.src_port);
		return;
	}
	if (h.len > VSOCK_BUF_ALLOC) {
		drop_packet(vs, "a payload larger than our whole buffer");
		queue_rst(vs, h.dst_port, h.src_port);
		return;
	}
	if (h.len)
		virtq_chain_read(chain, sizeof(h), vs->bounce, h.len);
	guest_packet(vs, &h, vs->bounce);
}

static void tx_process(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vd.dev.queues[VSOCK_TX_QUEUE];
	bool pushed = false;
	unsigned done = 0;
	do {
		virtq_disable_kicks(vq);
		int rc = 0;
		while (done < TX_BUDGET && (rc = virtq_pop(vq, &vs->tx_chain)) == 1) {
			tx_chain(vs, &vs->tx_chain);
			virtq_push(vq, vs->tx_chain.head, 0);
			pushed = true;
			done++;
		}
		if (done == TX_BUDGET) {
			/* Let the host side run, then come back: a kick of our own. */
			virtio_device_kick(&vs->vd.dev, VSOCK_TX_QUEUE);
			break;
		}
		if (rc < 0) {
			virtio_device_fail(&vs->vd.dev, "tx queue: %s", vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	if (pushed)
		virtio_device_notify(&vs->vd.dev, VSOCK_TX_QUEUE);
	rx_flush(vs);
}

/* --- host events -------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void arm_timer(struct virtio_vsock *vs, bool on)
{
	if (vs->timer_armed == on)
		return;
	struct itimerspec its = {0};
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = TIMER_TICK_NS;
	timerfd_settime(vs->timer_fd, 0, &its, NULL);
	vs->timer_armed = on;
}

struct expiry {
	struct virtio_vsock *vs;
	uint64_t now;
	unsigned waiting;
};

static void expire_one(struct vsock_conn *c, void *opaque)
{
	struct expiry *e = opaque;
	if (c->state != VSOCK_CONN_CONNECTING || !c->connect_deadline)
		return;
	if (c->connect_deadline <= e->now)
		reset_conn(e->vs, c);
	else
		e->waiting++;
}

/* A tick: host connections the guest did not answer in time are given up. */
static void expire_connects(struct virtio_vsock *vs)
{
	uint64_t ticks;
	if (read(vs->timer_fd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: a tick already taken */
	}
	struct expiry e = {vs, now_ns(), 0};
	vsock_table_each(&vs->table, expire_one, &e);
	arm_timer(vs, e.waiting > 0);
}

static void accept_host(struct virtio_vsock *vs)
{
	for (;;) {
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (vs->nr_handshakes >= MAX_HANDSHAKES ||
		    vs->table.count >= VSOCK_MAX_CONNECTIONS) {
			close(fd);
			continue;
		}
		struct vsock_conn *c = vsock_conn_new(fd);
		if (!c) {
			close(fd);
			continue;
		}
		c->state = VSOCK_CONN_HOST_HANDSHAKE;
		if (watch_fd(vs, c, EPOLLIN) < 0) {
			vsock_conn_free(c);
			continue;
		}
		c->next_in_bucket = vs->handshakes;
		vs->handshakes = c;
		vs->nr_handshakes++;
	}
}

/* A free local port for a connection to the guest's `peer_port`. */
static uint32_t choose_local_port(struct virtio_vsock *vs, uint32_t peer_port)
{
	for (;;) {
		uint32_t port = vs->next_local_port++;
		if (vs->next_local_port == 0 || vs->next_local_port == UINT32_MAX)
			vs->next_local_port = FIRST_LOCAL_PORT;
		if (!vsock_table_find(&vs->table, port, peer_port))
			return port;
	}
}

/* The host process's "CONNECT <port>\n", read a byte at a time up to the newline, so that
 * bytes it sent right behind it stay in the socket for the guest (and a partial line followed
 * by end-of-file is seen as such, not as input that is forever readable). */
static void host_handshake(struct virtio_vsock *vs, struct vsock_conn *c)
{
	for (;;) {
		char ch;
		ssize_t n = recv(c->fd, &ch, 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (ch != '\n' && c->line_len == sizeof(c->line) - 1)) {
			close_handshake(vs, c); /* gone, or no line of ours is that long */
			return;
		}
		if (ch == '\n')
			break;
		c->line[c->line_len++] = ch;
	}
	c->line[c->line_len] = '\0';
	uint32_t port;
	if (vsock_parse_connect_line(c->line, &port) < 0) {
		close_handshake(vs, c);
		return;
	}
	remove_handshake(vs, c);
	c->state = VSOCK_CONN_CONNECTING;
	c->peer_port = port;
	c->local_port = choose_local_port(vs, port);
	if (vsock_table_insert(&vs->table, c) < 0) {
		close_conn(vs, c);
		return;
	}
	update_fd_events(vs, c);
	c->pending |= VSOCK_PENDING_REQUEST;
	c->connect_deadline = now_ns() + CONNECT_TIMEOUT_NS;
	arm_timer(vs, true);
	make_ready(vs, c);
}

static void host_event(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t events)
{
	if (c->state == VSOCK_CONN_HOST_HANDSHAKE) {
		host_handshake(vs, c);
		return;
	}
	if (events & EPOLLERR) {
		reset_conn(vs, c);
		return;
	}
	if ((events & EPOLLOUT) && flush_out(vs, c) < 0)
		return;
	if (events & EPOLLHUP) {
		/* Reported whatever we watch: out of the set, and what is left is read without
		 * it (a hung-up socket never says EAGAIN again). */
		unwatch_fd(vs, c);
		if (c->out_len) {
			reset_conn(vs, c); /* the host process will not take the rest */
			return;
		}
		if (c->state != VSOCK_CONN_ESTABLISHED) {
			reset_conn(vs, c);
			return;
		}
		c->host_readable = true;
		if (c->host_eof || c->guest_no_rcv) {
			c->shutdown_flags |= VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
			c->pending |= VSOCK_PENDING_SHUTDOWN;
		}
	}
	if (events & EPOLLIN) {
		c->host_readable = true;
		update_fd_events(vs, c);
	}
	make_ready(vs, c);
}

static void on_epoll(struct virtio_device *d, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	struct virtio_vsock *vs = to_vsock(d);
	struct epoll_event ev[EPOLL_BATCH];
	int n = epoll_wait(vs->epoll_fd, ev, EPOLL_BATCH, 0);
	/* Each event touches its own connection only (and may free it): what ends other
	 * connections (timeouts, packets to the guest) runs after the batch. */
	bool tick = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == NULL)
			accept_host(vs);
		else if (ev[i].data.ptr == &vs->timer_fd)
			tick = true;
		else
			host_event(vs, ev[i].data.ptr, ev[i].events);
	}
	if (tick)
		expire_connects(vs);
	rx_flush(vs);
}

/* --- device ops --------------------------------------------------------------------------- */

/* The driver reset the device (or the VM stops): every connection ends, the host sockets
 * close. The listening socket stays. */
static void vsock_reset(struct virtio_device *d)
{
	struct virtio_vsock *vs = to_vsock(d);
	close_all(vs);
	vs->rx_held = false;
}

static void vsock_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_vsock *vs = to_vsock(d);
	if (index == VSOCK_TX_QUEUE)
		tx_process(vs);
	else if (index == VSOCK_RX_QUEUE)
		rx_flush(vs);
	else
		vsock_device_send_reset_event(&vs->vd);
}

static uint16_t vsock_held_chains(struct virtio_device *d, unsigned index)
{
	return index == VSOCK_RX_QUEUE && to_vsock(d)->rx_held ? 1 : 0;
}

static void vsock_destroy(struct virtio_device *d)
{
	struct virtio_vsock *vs = to_vsock(d);
	close_all(vs);
	log_debug("%s: %llu packets to the guest, %llu from it (%llu dropped), %llu resets",
		  d->name, (unsigned long long)vs->stats.rx_packets,
		  (unsigned long long)vs->stats.tx_packets, (unsigned long long)vs->stats.dropped,
		  (unsigned long long)vs->stats.resets);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->path);
	}
	if (vs->timer_fd >= 0)
		close(vs->timer_fd);
	if (vs->epoll_fd >= 0)
		close(vs->epoll_fd);
	free(vs->rsts);
	free(vs);
}

/* A load: the connections end (their host sockets stay with the old process) and the guest
 * hears of it. The CID is the saved one, which the guest's driver read at probe. */
static int vsock_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			    char *err, size_t err_len)
{
	uint64_t cid;
	if (vsock_device_check_state(rec, &cid, err, err_len) < 0)
		return -1;
	if (apply) {
		struct virtio_vsock *vs = to_vsock(d);
		vs->vd.guest_cid = cid;
		close_all(vs);
		vs->rx_held = false;
		vs->vd.reset_event_due = true;
	}
	return 0;
}

static const struct virtio_device_ops vsock_ops = {
    .save_state = vsock_device_save_state,
    .load_state = vsock_load_state,
    .held_chains = vsock_held_chains,
    .config_read = vsock_device_config_read,
    .reset = vsock_reset,
    .queue_kick = vsock_queue_kick,
    .destroy = vsock_destroy,
};

void virtio_vsock_get_stats(struct virtio_device *d, struct vsock_stats *stats)
{
	struct virtio_vsock *vs = to_vsock(d);
	pthread_mutex_lock(&d->lock);
	*stats = vs->stats;
	stats->connections = vs->table.count;
	pthread_mutex_unlock(&d->lock);
}

/* --- construction ------------------------------------------------------------------------- */

/* Only its owner may connect (the guest's ports are behind it): the socket file is 0600. A
 * file left by a VM that is gone is replaced; one a running VM answers on is not. */
static int listen_on(struct virtio_vsock *vs, char *err, size_t err_len)
{
	char label[sizeof(vs->path) + 16];
	snprintf(label, sizeof(label), "--vsock socket=%s", vs->path);
	vs->listen_fd = unix_listener_open(vs->path, 64, 0600, label, err, err_len);
	if (vs->listen_fd < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, vs->listen_fd, &ev) < 0) {
		snprintf(err, err_len, "--vsock: epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct virtio_device *virtio_vsock_create(const struct vsock_config *cfg, char *err, size_t err_len)
{
	if (!cfg->socket || strlen(cfg->socket) > VSOCK_SOCKET_PATH_MAX || cfg->cid < 3 ||
	    cfg->cid > UINT32_MAX - 1) {
		snprintf(err, err_len,
			 "--vsock: needs cid=N (3 to 4294967294) and socket=PATH (at most %d "
			 "bytes)",
			 VSOCK_SOCKET_PATH_MAX);
		return NULL;
	}
	struct virtio_vsock *vs = calloc(1, sizeof(*vs));
	if (!vs) {
		snprintf(err, err_len, "virtio-vsock: out of memory");
		return NULL;
	}
	vs->next_local_port = FIRST_LOCAL_PORT;
	vs->listen_fd = -1;
	vs->timer_fd = -1;
	snprintf(vs->path, sizeof(vs->path), "%s", cfg->socket);
	if (vsock_device_init(&vs->vd, &vsock_ops, cfg->cid, err, err_len) < 0) {
		free(vs);
		return NULL;
	}
	int rc = 0;
	vs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (vs->epoll_fd < 0) {
		snprintf(err, err_len, "virtio-vsock: epoll: %s", strerror(errno));
		virtio_device_destroy(&vs->vd.dev); /* frees vs */
		return NULL;
	}
	vs->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &vs->timer_fd};
	if (vs->timer_fd < 0 || epoll_ctl(vs->epoll_fd, EPOLL_CTL_ADD, vs->timer_fd, &tev) < 0) {
		snprintf(err, err_len, "virtio-vsock: timerfd: %s", strerror(errno));
		virtio_device_destroy(&vs->vd.dev);
		return NULL;
	}
	if (listen_on(vs, err, err_len) < 0 ||
	    (rc = virtio_device_watch(&vs->vd.dev, vs->epoll_fd, EPOLLIN, on_epoll)) < 0) {
		if (rc < 0)
			snprintf(err, err_len, "virtio-vsock: cannot watch its sockets: %s",
				 strerror(-rc));
		virtio_device_destroy(&vs->vd.dev);
		return NULL;
	}
	return &vs->vd.dev;
}
