/* virtio-vsock's packets and connections (virtio 1.2 section 5.10.6): the 44-byte packet
 * header, the stream connection's state with its credit counters, the bytes from the guest
 * that the host socket has not taken yet, and the table that finds a connection by its two
 * ports. No I/O and no queues here: virtio_vsock.c moves the bytes.
 *
 * Ports. The host end of every connection has CID 2 (VMADDR_CID_HOST). `local_port` is that
 * end's port (the port the guest connected to, or one gureum chose for a host-initiated
 * connection), `peer_port` the guest's. The pair names a connection. */
#ifndef GUREUM_VIRTIO_VSOCK_CONNECTION_H
#define GUREUM_VIRTIO_VSOCK_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_ID_VSOCK 19

#define VSOCK_CID_HOST 2

/* Packet header (5.10.6), little-endian on the wire (x86 guests only here). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == 44, "the vsock packet header is 44 bytes");

#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags: the sender will receive (RCV) or send (SEND) no more. */
#define VSOCK_SHUTDOWN_RCV  1u
#define VSOCK_SHUTDOWN_SEND 2u

/* Event queue (5.10.6.7): the only event, sent after a snapshot load or migration. */
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* What our end advertises as its receive buffer (buf_alloc): bytes from the guest the host
 * socket has not taken yet are kept, up to this much per connection. */
#define VSOCK_BUF_ALLOC (256u * 1024)
/* Payload of one packet to the guest at most (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)

enum vsock_conn_state {
	/* A host process connected to the Unix socket; its "CONNECT <port>\n" line is awaited
	 * (not in the table yet: it has no ports). */
	VSOCK_CONN_HOST_HANDSHAKE,
	/* We sent the guest a REQUEST and wait for its RESPONSE. */
	VSOCK_CONN_CONNECTING,
	VSOCK_CONN_ESTABLISHED,
};

/* Packets a connection owes the guest, sent as soon as the receive queue has room. */
#define VSOCK_PENDING_REQUEST  (1u << 0)
#define VSOCK_PENDING_RESPONSE (1u << 1)
#define VSOCK_PENDING_CREDIT   (1u << 2) /* CREDIT_UPDATE */
#define VSOCK_PENDING_SHUTDOWN (1u << 3) /* SHUTDOWN with `shutdown_flags` */

struct vsock_conn {
	enum vsock_conn_state state;
	uint32_t local_port, peer_port;
	int fd; /* the host process's Unix socket */

	/* Credit of the guest's side (5.10.6.3): its buffer size and how much of what we sent
	 * it has consumed, from the header of its last packet; tx_cnt is what we sent. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Our side: bytes received from the guest (rx_cnt) and passed to the host socket
	 * (fwd_cnt), and the fwd_cnt the guest last heard of. */
	uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;

	/* Guest bytes the host socket did not take yet (at most VSOCK_BUF_ALLOC). */
	uint8_t *out;
	size_t out_len, out_cap;

	unsigned pending;	 /* VSOCK_PENDING_* */
	uint32_t shutdown_flags; /* for VSOCK_PENDING_SHUTDOWN */
	bool host_readable;	 /* the host socket may have bytes for the guest */
	bool host_eof;		 /* the host process sent its last byte (read returned 0) */
	bool guest_sent_all;	 /* the guest said SHUTDOWN SEND: shut the host socket's write
				    side once `out` is empty */
	bool guest_no_rcv;	 /* the guest said SHUTDOWN RCV: it takes no more data */
	bool guest_done;	 /* the guest shut both directions: close once `out` is empty */
	bool host_hup;		 /* the host socket hung up: no longer in the epoll set */
	bool watching_out;	 /* EPOLLOUT asked for the host socket */
	uint32_t fd_events;	 /* what the device's epoll watches fd for */

	/* CLOCK_MONOTONIC ns by which the guest must answer our REQUEST (0: none pending). */
	uint64_t connect_deadline;
	/* The handshake line of a host-initiated connection (VSOCK_CONN_HOST_HANDSHAKE). */
	char line[32];
	size_t line_len;

	struct vsock_conn *next_in_bucket;
	/* The device's list of connections with something to send to the guest. */
	struct vsock_conn *next_ready;
	bool ready_listed;
	bool in_table;
};

/* The connections of one device, by (local_port, peer_port). */
#define VSOCK_TABLE_BUCKETS   256
#define VSOCK_MAX_CONNECTIONS 1024

struct vsock_table {
	struct vsock_conn *bucket[VSOCK_TABLE_BUCKETS];
	unsigned count;
};

struct vsock_conn *vsock_conn_new(int fd);
/* Closes the host socket and frees the connection (which must not be in the table). */
void vsock_conn_free(struct vsock_conn *c);

struct vsock_conn *vsock_table_find(const struct vsock_table *t, uint32_t local_port,
				    uint32_t peer_port);
/* Adds c under its ports; -1 when the table is full or the pair is taken. */
int vsock_table_insert(struct vsock_table *t, struct vsock_conn *c);
void vsock_table_remove(struct vsock_table *t, struct vsock_conn *c);
/* Calls each(c, opaque) for every connection; `each` may remove and free c. */
void vsock_table_each(struct vsock_table *t, void (*each)(struct vsock_conn *c, void *opaque),
		      void *opaque);

/* Credit: the bytes we may still send the guest (never negative, also when the guest shrank
 * its buffer below what is in flight). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);
/* True when a packet of `len` bytes from the guest stays within what we advertised. */
bool vsock_conn_rx_fits(const struct vsock_conn *c, uint32_t len);
/* True when the guest's idea of our free space is low enough that it deserves an update:
 * a quarter of the buffer or more was forwarded since it last heard of fwd_cnt. */
bool vsock_conn_wants_credit_update(const struct vsock_conn *c);

/* Keeps `len` bytes for the host socket. -1 when they do not fit (never past VSOCK_BUF_ALLOC)
 * or without memory. */
int vsock_conn_out_append(struct vsock_conn *c, const void *buf, size_t len);
/* Forgets the first n bytes of `out` (the host socket took them). */
void vsock_conn_out_consume(struct vsock_conn *c, size_t n);

/* Parses a host process's "CONNECT <port>\n" line (without the newline; a trailing '\r' is
 * allowed). Returns 0 with the port, -1 when it is anything else. */
int vsock_parse_connect_line(const char *line, uint32_t *port);

#endif
