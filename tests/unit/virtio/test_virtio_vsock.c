/* virtio-vsock as the guest's vsock driver and host processes on its Unix sockets see it: a
 * host "CONNECT <port>" becomes a REQUEST, the guest's RESPONSE an "OK <port>" line, bytes
 * flow both ways within the credit each side gives, a guest connection goes to PATH_PORT (or
 * is reset when nobody listens there), malformed packets are counted and dropped without
 * harming the device, and a device reset closes the host sockets. */
#include "fake_driver.h"
#include "virtio/virtio_devices.h"
#include "virtio/vsock_connection.h"

#include "lib/state_record.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RAM	    (16ULL << 20)
#define RX	    0
#define TX	    1
#define EVENT	    2
#define GUEST_CID   3
#define RX_GPA	    0x100000ULL /* receive buffer of descriptor i at RX_GPA + i * RX_BUF */
#define RX_BUF	    4096u
#define RX_POSTED   8
#define TX_GPA	    0x200000ULL
#define TX_DATA_GPA 0x201000ULL
#define EVENT_GPA   0x300000ULL

static struct fake_driver driver;
static struct virtio_device *dev;
static char path[108];
static uint16_t rx_seen, tx_sent;

static void post_rx(void)
{
	/* One descriptor per chain, so the head names the descriptor and its buffer. */
	uint16_t head = driver.next_desc[RX];
	struct fake_buf b = {RX_GPA + head * RX_BUF, RX_BUF, true};
	fake_driver_add(&driver, RX, &b, 1);
}

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/gureum-vsock-test-%d.sock", getpid());
	unlink(path);
	char err[256] = "";
	struct vsock_config cfg = {.cid = GUEST_CID, .socket = path};
	dev = virtio_vsock_create(&cfg, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, RAM, dev);
	fake_driver_start(&driver, 1, 3);
	for (int i = 0; i < RX_POSTED; i++)
		post_rx();
	virtio_device_kick(dev, RX);
	rx_seen = tx_sent = 0;
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
	struct stat st;
	cr_assert_neq(stat(path, &st), 0, "the socket file is removed with the device");
}

TestSuite(virtio_vsock, .init = setup, .fini = teardown);

/* --- the guest side ---------------------------------------------------------------------- */

static struct vsock_hdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	return (struct vsock_hdr){.src_cid = GUEST_CID,
				  .dst_cid = VSOCK_CID_HOST,
				  .src_port = src_port,
				  .dst_port = dst_port,
				  .type = VSOCK_TYPE_STREAM,
				  .op = op,
				  .buf_alloc = 64 * 1024};
}

/* Sends a chain of `hdr_len` header bytes and the payload (as the Linux driver does: two
 * descriptors) and waits until the device has taken it. */
static void send_raw(const void *hdr, uint32_t hdr_len, const void *payload, uint32_t len)
{
	cr_assert(guest_memory_write(&driver.mem, TX_GPA, hdr, hdr_len));
	struct fake_buf b[2] = {{TX_GPA, hdr_len, false}, {TX_DATA_GPA, len, false}};
	if (len)
		cr_assert(guest_memory_write(&driver.mem, TX_DATA_GPA, payload, len));
	fake_driver_add(&driver, TX, b, len ? 2 : 1);
	virtio_device_kick(dev, TX);
	tx_sent++;
	cr_assert(fake_wait_used(&driver, TX, tx_sent, 2000), "the device took the packet");
}

static void send_packet(struct vsock_hdr h, const void *payload, uint32_t len)
{
	h.len = len;
	send_raw(&h, sizeof(h), payload, len);
}

/* Waits up to `ms` for the next packet to the guest; false when none came. The buffer is
 * posted again. */
static bool recv_packet_within(struct vsock_hdr *h, void *payload, int ms)
{
	if (!fake_wait_used(&driver, RX, (uint16_t)(rx_seen + 1), ms))
		return false;
	struct virtq_used_elem e = fake_used_elem(&driver, RX, rx_seen++);
	cr_assert_geq(e.len, sizeof(*h));
	cr_assert(guest_memory_read(&driver.mem, RX_GPA + e.id * RX_BUF, h, sizeof(*h)));
	cr_assert_eq(e.len, sizeof(*h) + h->len, "the used length covers header and payload");
	if (payload && h->len)
		cr_assert(guest_memory_read(&driver.mem, RX_GPA + e.id * RX_BUF + sizeof(*h),
					    payload, h->len));
	cr_assert_eq(h->src_cid, VSOCK_CID_HOST);
	cr_assert_eq(h->dst_cid, GUEST_CID);
	cr_assert_eq(h->type, VSOCK_TYPE_STREAM);
	post_rx();
	virtio_device_kick(dev, RX);
	return true;
}

static struct vsock_hdr recv_packet(void *payload)
{
	struct vsock_hdr h;
	cr_assert(recv_packet_within(&h, payload, 2000), "a packet reached the guest");
	return h;
}

static struct vsock_stats stats(void)
{
	struct vsock_stats s;
	virtio_vsock_get_stats(dev, &s);
	return s;
}

/* --- the host side ----------------------------------------------------------------------- */

static int unix_connect(const char *p)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect %s: %s", p,
		     strerror(errno));
	return fd;
}

static int unix_listen(const char *p)
{
	unlink(p);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	return fd;
}

/* Reads exactly n bytes within `ms`, or fewer when the socket ends. */
static size_t read_within(int fd, void *buf, size_t n, int ms)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, ms) <= 0)
			break;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void write_all(int fd, const void *buf, size_t n)
{
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
}

/* True when the socket reads end-of-file (or a reset) within `ms`. */
static bool ends_within(int fd, int ms)
{
	char c;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) <= 0;
}

/* A host process connects to guest port `port`; the guest accepts. Returns the host fd, the
 * local port in *local. */
static int host_connect(uint32_t port, uint32_t guest_buf_alloc, uint32_t *local)
{
	int fd = unix_connect(path);
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	write_all(fd, line, (size_t)n);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	cr_assert_eq(h.dst_port, port);
	cr_assert_geq(h.src_port, 1u << 30, "host-initiated local ports start at 2^30");
	cr_assert_eq(h.len, 0);
	cr_assert_eq(h.buf_alloc, VSOCK_BUF_ALLOC, "the device advertises its buffer");
	*local = h.src_port;
	struct vsock_hdr r = guest_hdr(VSOCK_OP_RESPONSE, port, h.src_port);
	r.buf_alloc = guest_buf_alloc;
	send_packet(r, NULL, 0);
	char ok[32] = "";
	char want[32];
	n = snprintf(want, sizeof(want), "OK %u\n", *local);
	cr_assert_eq(read_within(fd, ok, (size_t)n, 2000), (size_t)n);
	cr_assert_str_eq(ok, want);
	return fd;
}

/* --- tests ------------------------------------------------------------------------------- */

Test(virtio_vsock, is_a_socket_device_with_the_cid_in_its_config)
{
	cr_assert_eq(dev->device_id, 19);
	cr_assert_eq(dev->num_queues, 3);
	cr_assert_eq(dev->config_size, 8);
	uint64_t cid = 0;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_read(dev, 0, &cid, 8);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(cid, GUEST_CID);
	uint32_t high = 1;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_read(dev, 4, &high, 4);
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(high, 0);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "only the owner may connect");
}

Test(virtio_vsock, host_connect_becomes_a_request_and_bytes_flow_both_ways)
{
	uint32_t local;
	int fd = host_connect(5000, 64 * 1024, &local);
	write_all(fd, "hello", 5);
	char data[RX_BUF];
	struct vsock_hdr h = recv_packet(data);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_eq(h.src_port, local);
	cr_assert_eq(h.dst_port, 5000);
	cr_assert_eq(h.len, 5);
	cr_assert_arr_eq(data, "hello", 5);

	send_packet(guest_hdr(VSOCK_OP_RW, 5000, local), "world!", 6);
	char back[8] = "";
	cr_assert_eq(read_within(fd, back, 6, 2000), 6);
	cr_assert_arr_eq(back, "world!", 6);
	cr_assert_eq(stats().connections, 1);

	/* The host process closes: the guest hears SHUTDOWN, answers RST, and it is over. */
	close(fd);
	h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_SHUTDOWN);
	cr_assert_eq(h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	send_packet(guest_hdr(VSOCK_OP_RST, 5000, local), NULL, 0);
	cr_assert(fake_wait_until(stats().connections == 0, 2000));
	cr_assert_eq(stats().dropped, 0);
}

Test(virtio_vsock, bytes_behind_the_connect_line_wait_for_the_guest)
{
	int fd = unix_connect(path);
	write_all(fd, "CONNECT 80\nearly", 16);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	send_packet(guest_hdr(VSOCK_OP_RESPONSE, 80, h.src_port), NULL, 0);
	char data[RX_BUF];
	h = recv_packet(data);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_eq(h.len, 5);
	cr_assert_arr_eq(data, "early", 5);
	close(fd);
}

Test(virtio_vsock, the_guest_refusing_closes_the_host_socket)
{
	int fd = unix_connect(path);
	write_all(fd, "CONNECT 81\n", 11);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	send_packet(guest_hdr(VSOCK_OP_RST, 81, h.src_port), NULL, 0);
	cr_assert(ends_within(fd, 2000), "the host socket is closed, without an OK");
	close(fd);
}

Test(virtio_vsock, a_guest_that_never_answers_is_given_up_after_two_seconds)
{
	int fd = unix_connect(path);
	write_all(fd, "CONNECT 82\n", 11);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_REQUEST);
	cr_assert_not(ends_within(fd, 1500), "still waiting after 1.5 s");
	cr_assert(ends_within(fd, 2000), "closed after the 2 s connect timeout");
	struct vsock_hdr r = recv_packet(NULL);
	cr_assert_eq(r.op, VSOCK_OP_RST, "the guest hears the connection is off");
	cr_assert_eq(r.src_port, h.src_port);
	cr_assert_eq(r.dst_port, 82);
	cr_assert_eq(stats().connections, 0);
	close(fd);
}

Test(virtio_vsock, a_bad_handshake_line_closes_the_host_socket)
{
	int fd = unix_connect(path);
	write_all(fd, "HELLO 5\n", 8);
	cr_assert(ends_within(fd, 2000));
	close(fd);
	fd = unix_connect(path);
	write_all(fd, "CONNECT 99999999999\n", 20);
	cr_assert(ends_within(fd, 2000));
	close(fd);
	/* Half a line, then nothing more: closed (not left readable forever). */
	fd = unix_connect(path);
	write_all(fd, "CONN", 4);
	shutdown(fd, SHUT_WR);
	cr_assert(ends_within(fd, 2000));
	close(fd);
	/* A line longer than any CONNECT. */
	fd = unix_connect(path);
	write_all(fd, "CONNECT 1234567890123456789012345678901234567890", 48);
	cr_assert(ends_within(fd, 2000));
	close(fd);
	struct vsock_hdr h;
	cr_assert_not(recv_packet_within(&h, NULL, 100), "the guest heard nothing of them");
}

Test(virtio_vsock, the_device_never_sends_more_than_the_guest_credit)
{
	uint32_t local;
	int fd = host_connect(6000, 1000, &local);
	static char big[5000];
	memset(big, 'x', sizeof(big));
	write_all(fd, big, sizeof(big));
	uint32_t got = 0;
	struct vsock_hdr h;
	char data[RX_BUF];
	while (recv_packet_within(&h, data, 300)) {
		cr_assert_eq(h.op, VSOCK_OP_RW);
		got += h.len;
	}
	cr_assert_eq(got, 1000, "buf_alloc 1000 and fwd_cnt 0 allow 1000 bytes, not %u", got);

	/* The guest consumed 600: 600 more (in flight 400 of 1000). */
	struct vsock_hdr cu = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 6000, local);
	cu.buf_alloc = 1000;
	cu.fwd_cnt = 600;
	send_packet(cu, NULL, 0);
	got = 0;
	while (recv_packet_within(&h, data, 300))
		got += h.len;
	cr_assert_eq(got, 600);

	/* A bigger buffer: the rest, in packets that fit the receive buffers. */
	cu.buf_alloc = 64 * 1024;
	cu.fwd_cnt = 1600;
	send_packet(cu, NULL, 0);
	got = 0;
	while (recv_packet_within(&h, data, 300)) {
		cr_assert_leq(h.len, RX_BUF - sizeof(h));
		got += h.len;
	}
	cr_assert_eq(got, 5000 - 1600);
	close(fd);
}

Test(virtio_vsock, a_credit_request_is_answered_with_our_counters)
{
	uint32_t local;
	int fd = host_connect(6001, 4096, &local);
	send_packet(guest_hdr(VSOCK_OP_RW, 6001, local), "abc", 3);
	char back[3];
	cr_assert_eq(read_within(fd, back, 3, 2000), 3);
	send_packet(guest_hdr(VSOCK_OP_CREDIT_REQUEST, 6001, local), NULL, 0);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(h.buf_alloc, VSOCK_BUF_ALLOC);
	cr_assert_eq(h.fwd_cnt, 3, "the 3 bytes reached the host socket");
	close(fd);
}

Test(virtio_vsock, the_guest_gets_credit_updates_as_the_host_drains)
{
	uint32_t local;
	int fd = host_connect(6002, 4096, &local);
	/* Fill most of our buffer while the host process reads nothing. */
	static char chunk[60000];
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 4; i++)
		send_packet(guest_hdr(VSOCK_OP_RW, 6002, local), chunk, sizeof(chunk));
	static char sink[240000];
	cr_assert_eq(read_within(fd, sink, sizeof(sink), 5000), sizeof(sink));
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
	cr_assert_geq(h.fwd_cnt, VSOCK_BUF_ALLOC / 4);
	cr_assert_eq(stats().dropped, 0);
	close(fd);
}

Test(virtio_vsock, more_than_the_credit_from_the_guest_resets_the_connection)
{
	uint32_t local;
	int fd = host_connect(6003, 4096, &local);
	/* The host process reads nothing: its socket buffer fills, then ours (256 KiB). */
	static char chunk[65536];
	struct vsock_hdr h;
	int sent = 0;
	for (; sent < 64; sent++) {
		send_packet(guest_hdr(VSOCK_OP_RW, 6003, local), chunk, sizeof(chunk));
		if (recv_packet_within(&h, NULL, 20) && h.op == VSOCK_OP_RST)
			break;
	}
	cr_assert_lt(sent, 64, "the device reset a guest sending past its credit");
	cr_assert_eq(h.dst_port, 6003);
	cr_assert_geq(stats().dropped, 1);
	cr_assert_eq(stats().connections, 0);
	close(fd);
}

Test(virtio_vsock, guest_connect_reaches_path_port)
{
	char p[108];
	cr_assert_lt(snprintf(p, sizeof(p), "%s_7000", path), (int)sizeof(p));
	int lfd = unix_listen(p);
	send_packet(guest_hdr(VSOCK_OP_REQUEST, 1025, 7000), NULL, 0);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE);
	cr_assert_eq(h.src_port, 7000);
	cr_assert_eq(h.dst_port, 1025);
	int fd = accept(lfd, NULL, NULL);
	cr_assert_geq(fd, 0);

	send_packet(guest_hdr(VSOCK_OP_RW, 1025, 7000), "ping", 4);
	char buf[RX_BUF];
	cr_assert_eq(read_within(fd, buf, 4, 2000), 4);
	cr_assert_arr_eq(buf, "ping", 4);
	write_all(fd, "pong", 4);
	h = recv_packet(buf);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_arr_eq(buf, "pong", 4);

	/* The guest is done sending: the host reads end-of-file and can still answer. */
	struct vsock_hdr sd = guest_hdr(VSOCK_OP_SHUTDOWN, 1025, 7000);
	sd.flags = VSOCK_SHUTDOWN_SEND;
	send_packet(sd, NULL, 0);
	cr_assert(ends_within(fd, 2000));
	write_all(fd, "bye", 3);
	h = recv_packet(buf);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_arr_eq(buf, "bye", 3);
	/* Then both directions: the device answers RST and closes. */
	sd.flags = VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV;
	send_packet(sd, NULL, 0);
	h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert(fake_wait_until(stats().connections == 0, 2000));
	close(fd);
	close(lfd);
	unlink(p);
}

Test(virtio_vsock, guest_connect_without_a_listener_is_reset)
{
	send_packet(guest_hdr(VSOCK_OP_REQUEST, 1026, 7001), NULL, 0);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert_eq(h.src_port, 7001);
	cr_assert_eq(h.dst_port, 1026);
	cr_assert_eq(stats().connections, 0);
	/* Data for a connection that does not exist: RST too. */
	send_packet(guest_hdr(VSOCK_OP_RW, 1026, 7001), "x", 1);
	h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	/* An RST for one is not answered. */
	send_packet(guest_hdr(VSOCK_OP_RST, 1026, 7001), NULL, 0);
	cr_assert_not(recv_packet_within(&h, NULL, 100));
}

Test(virtio_vsock, malformed_packets_are_dropped_and_counted)
{
	struct vsock_hdr h = guest_hdr(VSOCK_OP_REQUEST, 1027, 7002);
	/* A chain shorter than the header. */
	send_raw(&h, 20, NULL, 0);
	cr_assert_eq(stats().dropped, 1);
	/* Wrong CIDs: dropped without a word. */
	h.src_cid = 4;
	send_packet(h, NULL, 0);
	h.src_cid = GUEST_CID;
	h.dst_cid = 1;
	send_packet(h, NULL, 0);
	cr_assert_eq(stats().dropped, 3);
	struct vsock_hdr r;
	cr_assert_not(recv_packet_within(&r, NULL, 100));
	/* A datagram, an unknown operation, a length the chain does not have, a payload on a
	 * control packet: RST. */
	h = guest_hdr(VSOCK_OP_REQUEST, 1027, 7002);
	h.type = 2;
	send_packet(h, NULL, 0);
	h.type = VSOCK_TYPE_STREAM;
	h.op = 42;
	send_packet(h, NULL, 0);
	h.op = VSOCK_OP_RW;
	h.len = 100;
	send_raw(&h, sizeof(h), "abc", 3);
	h.op = VSOCK_OP_REQUEST;
	send_packet(h, "abc", 3);
	for (int i = 0; i < 4; i++) {
		r = recv_packet(NULL);
		cr_assert_eq(r.op, VSOCK_OP_RST, "packet %d answered with op %u", i, r.op);
	}
	cr_assert_eq(stats().dropped, 7);
	cr_assert_not(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, "the device runs on");
	/* And still works. */
	uint32_t local;
	int fd = host_connect(5001, 4096, &local);
	close(fd);
}

Test(virtio_vsock, many_connections_at_once)
{
	enum { N = 20 };
	int fds[N];
	uint32_t local[N];
	for (int i = 0; i < N; i++)
		fds[i] = host_connect(9000 + (uint32_t)i, 64 * 1024, &local[i]);
	cr_assert_eq(stats().connections, N);
	for (int i = 0; i < N; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "conn %d", i);
		send_packet(guest_hdr(VSOCK_OP_RW, 9000 + (uint32_t)i, local[i]), msg, (uint32_t)n);
	}
	for (int i = 0; i < N; i++) {
		char msg[16], got[16] = "";
		int n = snprintf(msg, sizeof(msg), "conn %d", i);
		cr_assert_eq(read_within(fds[i], got, (size_t)n, 2000), (size_t)n);
		cr_assert_str_eq(got, msg);
		write_all(fds[i], msg, (size_t)n);
	}
	bool seen[N] = {0};
	for (int i = 0; i < N; i++) {
		char data[RX_BUF];
		struct vsock_hdr h = recv_packet(data);
		cr_assert_eq(h.op, VSOCK_OP_RW);
		unsigned k = h.dst_port - 9000;
		cr_assert_lt(k, N);
		cr_assert_eq(h.src_port, local[k]);
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "conn %u", k);
		cr_assert_eq(h.len, (uint32_t)n);
		cr_assert_arr_eq(data, msg, (size_t)n);
		seen[k] = true;
	}
	for (int i = 0; i < N; i++) {
		cr_assert(seen[i]);
		close(fds[i]);
	}
}

Test(virtio_vsock, a_device_reset_closes_every_connection)
{
	uint32_t local;
	int a = host_connect(5002, 4096, &local);
	int b = host_connect(5003, 4096, &local);
	virtio_device_reset(dev);
	cr_assert(ends_within(a, 2000));
	cr_assert(ends_within(b, 2000));
	cr_assert_eq(stats().connections, 0);
	close(a);
	close(b);
}

/* What a snapshot load does to the model (virtio_device_state.c drives these ops): the saved
 * CID comes back, the connections are gone (their host sockets close) and, once started, the
 * guest hears TRANSPORT_RESET on the event queue. */
Test(virtio_vsock, a_load_resets_the_connections_and_tells_the_guest)
{
	uint32_t local;
	int fd = host_connect(5004, 4096, &local);
	struct fake_buf b = {EVENT_GPA, 4, true};
	uint32_t id = 0xffffffff;
	cr_assert(guest_memory_write(&driver.mem, EVENT_GPA, &id, 4));
	fake_driver_add(&driver, EVENT, &b, 1);
	virtio_device_kick(dev, EVENT);
	usleep(50000);
	cr_assert_eq(fake_used_idx(&driver, EVENT), 0, "no event without a load");

	pthread_mutex_lock(&dev->lock);
	struct state_writer w;
	state_writer_init(&w);
	dev->ops->save_state(dev, &w);
	cr_assert_not(state_writer_failed(&w));
	struct state_record rec;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dev->ops->load_state(dev, &rec, false, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dev->ops->load_state(dev, &rec, true, err, sizeof(err)), 0, "%s", err);
	pthread_mutex_unlock(&dev->lock);
	state_writer_free(&w);
	/* As the core polls every queue once a loaded device has started. */
	virtio_device_kick(dev, EVENT);

	cr_assert(ends_within(fd, 2000), "the host socket closed");
	cr_assert_eq(stats().connections, 0);
	cr_assert(fake_wait_used(&driver, EVENT, 1, 2000));
	struct virtq_used_elem e = fake_used_elem(&driver, EVENT, 0);
	cr_assert_eq(e.len, 4);
	cr_assert(guest_memory_read(&driver.mem, EVENT_GPA, &id, 4));
	cr_assert_eq(id, VSOCK_EVENT_TRANSPORT_RESET);
	close(fd);
}

/* A loaded VM's driver posted its event buffer long before the device starts: the reset event
 * goes into it at the start with an interrupt, since the guest's driver looks at the event
 * queue only when interrupted. */
Test(virtio_vsock, a_loaded_device_interrupts_the_guest_with_its_reset_event)
{
	pthread_mutex_lock(&dev->lock);
	struct state_writer w;
	state_writer_init(&w);
	dev->ops->save_state(dev, &w);
	pthread_mutex_unlock(&dev->lock);
	virtio_device_write_status(dev, 0);
	memset(driver.avail_idx, 0, sizeof(driver.avail_idx));
	memset(driver.next_desc, 0, sizeof(driver.next_desc));
	static uint8_t zero[0x1000];
	for (unsigned q = 0; q < 3; q++)
		for (unsigned part = 0; part < 3; part++)
			cr_assert(
			    guest_memory_write(&driver.mem, fake_ring(q, part), zero, 0x1000));
	struct state_record rec;
	size_t pos = 0;
	char err[256];
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	pthread_mutex_lock(&dev->lock);
	cr_assert_eq(dev->ops->load_state(dev, &rec, false, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dev->ops->load_state(dev, &rec, true, err, sizeof(err)), 0, "%s", err);
	pthread_mutex_unlock(&dev->lock);
	state_writer_free(&w);

	fake_driver_setup_queues(&driver, 1, 7);
	struct fake_buf b = {EVENT_GPA, 4, true};
	fake_driver_add(&driver, EVENT, &b, 1);
	fake_driver_ok(&driver);
	cr_assert(fake_wait_used(&driver, EVENT, 1, 2000), "no transport reset event");
	cr_assert(
	    fake_wait_until(
		__atomic_load_n(&driver.queue_notifications[EVENT], __ATOMIC_ACQUIRE) > 0, 2000),
	    "the event came without an interrupt");
	uint32_t id;
	cr_assert(guest_memory_read(&driver.mem, EVENT_GPA, &id, 4));
	cr_assert_eq(id, VSOCK_EVENT_TRANSPORT_RESET);
}

/* A receive buffer with no room past the header is given back unused (counted), and the
 * packet goes into the next one. */
Test(virtio_vsock, receive_buffers_without_room_for_data_are_returned_unused)
{
	/* The driver resets the device and posts a 44-byte buffer before the usual ones. */
	virtio_device_write_status(dev, 0);
	memset(guest_memory_ptr(&driver.mem, FAKE_RINGS_GPA, 3 * 0x4000), 0, 3 * 0x4000);
	memset(driver.avail_idx, 0, sizeof(driver.avail_idx));
	memset(driver.next_desc, 0, sizeof(driver.next_desc));
	tx_sent = rx_seen = 0;
	fake_driver_start(&driver, 1, 3);
	struct fake_buf small = {RX_GPA, sizeof(struct vsock_hdr), true};
	fake_driver_add(&driver, RX, &small, 1);
	for (int i = 0; i < 4; i++)
		post_rx();
	virtio_device_kick(dev, RX);

	send_packet(guest_hdr(VSOCK_OP_REQUEST, 1030, 7003), NULL, 0);
	cr_assert(fake_wait_used(&driver, RX, 1, 2000));
	struct virtq_used_elem e = fake_used_elem(&driver, RX, 0);
	cr_assert_eq(e.id, 0);
	cr_assert_eq(e.len, 0, "the small buffer came back empty");
	rx_seen = 1;
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	cr_assert_eq(stats().dropped, 1);
}
