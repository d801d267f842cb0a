/* virtio-vsock on the host kernel's vhost-vsock (`--vsock cid=N` without socket=), as the
 * guest's driver and host processes with AF_VSOCK sockets see it: a host connect to the CID
 * arrives in the receive queue as a REQUEST from CID 2, a guest REQUEST reaches a host
 * listener, bytes flow both ways, interrupts reach the transport; a CID another device has is
 * refused, a missing /dev/vhost-vsock says what to do; a pause and a migration's device-write
 * log keep the kernel out of guest memory (ring positions come back into the queues), and a
 * load on another CID tells the guest to reset and read its new CID. meson runs this program
 * in the nested lab where this host has no /dev/vhost-vsock (tests/lab/host-or-lab.sh). */
#include "fake_driver.h"
#include "virtio/virtio_devices.h"
#include "virtio/vsock_connection.h"

#include "lib/state_record.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM	    (16ULL << 20)
#define RX	    0
#define TX	    1
#define EVENT	    2
#define RX_GPA	    0x100000ULL /* receive buffer of descriptor i at RX_GPA + i * RX_BUF */
#define RX_BUF	    4096u
#define RX_POSTED   8
#define TX_GPA	    0x200000ULL
#define TX_DATA_GPA 0x201000ULL
#define EVENT_GPA   0x300000ULL
#define GUEST_PORT  1234

static struct fake_driver driver;
static struct virtio_device *dev;
static uint64_t guest_cid;
static uint16_t rx_seen, tx_sent;

static void post_rx(void)
{
	/* One descriptor per chain, so the head names the descriptor and its buffer. */
	uint16_t head = driver.next_desc[RX];
	struct fake_buf b = {RX_GPA + head * RX_BUF, RX_BUF, true};
	fake_driver_add(&driver, RX, &b, 1);
}

static struct virtio_device *create(uint64_t cid, const char *device, char *err, size_t err_len)
{
	struct vsock_config cfg = {.cid = cid, .vhost_device = device};
	return virtio_vsock_vhost_create(&cfg, err, err_len);
}

/* The driver's side of a fresh start: features, three queues, receive buffers posted. */
static void start_driver(void)
{
	fake_driver_start(&driver, 1, 3);
	for (int i = 0; i < RX_POSTED; i++)
		post_rx();
	virtio_device_kick(dev, RX);
	rx_seen = tx_sent = 0;
}

static void setup(void)
{
	/* A CID of this process's own, unlikely to meet a VM's on a host that runs some. */
	guest_cid = 100000 + (uint64_t)getpid();
	char err[512] = "";
	dev = create(guest_cid, NULL, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, RAM, dev);
	start_driver();
}

static void teardown(void)
{
	fake_driver_destroy(&driver);
}

TestSuite(virtio_vsock_vhost, .init = setup, .fini = teardown);

/* --- the guest side ---------------------------------------------------------------------- */

static struct vsock_hdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	return (struct vsock_hdr){.src_cid = guest_cid,
				  .dst_cid = VSOCK_CID_HOST,
				  .src_port = src_port,
				  .dst_port = dst_port,
				  .type = VSOCK_TYPE_STREAM,
				  .op = op,
				  .buf_alloc = 64 * 1024};
}

/* Makes a packet available on the transmit queue and kicks it, as the Linux driver does (header
 * and payload in two descriptors). */
static void offer_packet(struct vsock_hdr h, const void *payload, uint32_t len)
{
	h.len = len;
	cr_assert(guest_memory_write(&driver.mem, TX_GPA + (tx_sent % 8) * 64, &h, sizeof(h)));
	struct fake_buf b[2] = {{TX_GPA + (tx_sent % 8) * 64, sizeof(h), false},
				{TX_DATA_GPA + (tx_sent % 8) * 0x1000, len, false}};
	if (len)
		cr_assert(guest_memory_write(&driver.mem, b[1].gpa, payload, len));
	fake_driver_add(&driver, TX, b, len ? 2 : 1);
	virtio_device_kick(dev, TX);
	tx_sent++;
}

/* The same, and waits until the kernel has taken it. */
static void send_packet(struct vsock_hdr h, const void *payload, uint32_t len)
{
	offer_packet(h, payload, len);
	cr_assert(fake_wait_used(&driver, TX, tx_sent, 2000), "the kernel took the guest's packet");
}

/* The next packet to the guest within `ms` (credit updates skipped); false when none came. The
 * buffer is posted again. */
static bool recv_packet_within(struct vsock_hdr *h, void *payload, int ms)
{
	for (;;) {
		if (!fake_wait_used(&driver, RX, (uint16_t)(rx_seen + 1), ms))
			return false;
		struct virtq_used_elem e = fake_used_elem(&driver, RX, rx_seen++);
		cr_assert_geq(e.len, sizeof(*h));
		cr_assert(guest_memory_read(&driver.mem, RX_GPA + e.id * RX_BUF, h, sizeof(*h)));
		cr_assert_eq(e.len, sizeof(*h) + h->len, "the used length covers the packet");
		if (payload && h->len)
			cr_assert(guest_memory_read(
			    &driver.mem, RX_GPA + e.id * RX_BUF + sizeof(*h), payload, h->len));
		post_rx();
		virtio_device_kick(dev, RX);
		cr_assert_eq(h->src_cid, VSOCK_CID_HOST, "from CID %llu",
			     (unsigned long long)h->src_cid);
		cr_assert_eq(h->dst_cid, guest_cid);
		cr_assert_eq(h->type, VSOCK_TYPE_STREAM);
		if (h->op != VSOCK_OP_CREDIT_UPDATE)
			return true;
	}
}

static struct vsock_hdr recv_packet(void *payload)
{
	struct vsock_hdr h;
	cr_assert(recv_packet_within(&h, payload, 2000), "a packet reached the guest");
	return h;
}

/* --- the host side ----------------------------------------------------------------------- */

static struct sockaddr_vm vsock_addr(uint64_t cid, uint32_t port)
{
	return (struct sockaddr_vm){
	    .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid, .svm_port = port};
}

/* A host connection to the guest's `port` under way (non-blocking). */
static int host_connect_start(uint32_t port)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "AF_VSOCK socket: %s", strerror(errno));
	struct sockaddr_vm a = vsock_addr(guest_cid, port);
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	cr_assert(rc == -1 && errno == EINPROGRESS, "connect: %s", strerror(errno));
	return fd;
}

static void host_connected(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	cr_assert_eq(poll(&p, 1, 2000), 1, "the host's connect completed");
	int error = -1;
	socklen_t len = sizeof(error);
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len), 0);
	cr_assert_eq(error, 0, "connect: %s", strerror(error));
}

/* A host process connects to guest port `port` and the guest accepts. Returns the host's fd;
 * *host_port is the host end's port. */
static int host_connect(uint32_t port, uint32_t *host_port)
{
	int fd = host_connect_start(port);
	struct vsock_hdr req = recv_packet(NULL);
	cr_assert_eq(req.op, VSOCK_OP_REQUEST, "op %u, not a REQUEST", req.op);
	cr_assert_eq(req.dst_port, port);
	send_packet(guest_hdr(VSOCK_OP_RESPONSE, port, req.src_port), NULL, 0);
	host_connected(fd);
	*host_port = req.src_port;
	return fd;
}

static int host_listen(uint32_t port)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "AF_VSOCK socket: %s", strerror(errno));
	struct sockaddr_vm a = vsock_addr(VMADDR_CID_ANY, port);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
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

/* --- tests ------------------------------------------------------------------------------- */

Test(virtio_vsock_vhost, host_connect_arrives_as_a_request_and_bytes_flow_both_ways)
{
	int before = __atomic_load_n(&driver.queue_notifications[RX], __ATOMIC_ACQUIRE);
	uint32_t host_port;
	int fd = host_connect(5000, &host_port);
	/* The interrupt comes through irqfd from the kernel's thread: it may land just after
	 * connect() returned. */
	cr_assert(
	    fake_wait_until(
		__atomic_load_n(&driver.queue_notifications[RX], __ATOMIC_ACQUIRE) > before, 2000),
	    "the kernel's packet interrupted the guest");

	cr_assert_eq(write(fd, "hello", 5), 5);
	char buf[64] = "";
	struct vsock_hdr h = recv_packet(buf);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_eq(h.src_port, host_port);
	cr_assert_eq(h.dst_port, 5000);
	cr_assert_eq(h.len, 5);
	cr_assert_arr_eq(buf, "hello", 5);

	send_packet(guest_hdr(VSOCK_OP_RW, 5000, host_port), "world!", 6);
	cr_assert_eq(read_within(fd, buf, 6, 2000), 6);
	cr_assert_arr_eq(buf, "world!", 6);
	close(fd);
}

Test(virtio_vsock_vhost, guest_connect_reaches_a_host_listener_at_cid_2)
{
	int lfd = host_listen(6000);
	send_packet(guest_hdr(VSOCK_OP_REQUEST, GUEST_PORT, 6000), NULL, 0);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE, "op %u, not a RESPONSE", h.op);
	cr_assert_eq(h.src_port, 6000);
	cr_assert_eq(h.dst_port, GUEST_PORT);

	struct sockaddr_vm peer;
	socklen_t len = sizeof(peer);
	int fd = accept(lfd, (struct sockaddr *)&peer, &len);
	cr_assert_geq(fd, 0, "accept: %s", strerror(errno));
	cr_assert_eq(peer.svm_cid, guest_cid);
	cr_assert_eq(peer.svm_port, GUEST_PORT);

	send_packet(guest_hdr(VSOCK_OP_RW, GUEST_PORT, 6000), "ping", 4);
	char buf[8];
	cr_assert_eq(read_within(fd, buf, 4, 2000), 4);
	cr_assert_arr_eq(buf, "ping", 4);
	close(fd);
	close(lfd);
}

Test(virtio_vsock_vhost, guest_connect_without_a_listener_is_reset)
{
	send_packet(guest_hdr(VSOCK_OP_REQUEST, GUEST_PORT, 6001), NULL, 0);
	struct vsock_hdr h = recv_packet(NULL);
	cr_assert_eq(h.op, VSOCK_OP_RST, "op %u, not an RST", h.op);
	cr_assert_eq(h.dst_port, GUEST_PORT);
}

Test(virtio_vsock_vhost, a_cid_another_device_has_is_refused)
{
	char err[512] = "";
	cr_assert_null(create(guest_cid, NULL, err, sizeof(err)));
	cr_assert(strstr(err, "--vsock cid=") && strstr(err, "in use"), "%s", err);
}

Test(virtio_vsock_vhost, without_vhost_vsock_the_error_says_what_to_do)
{
	char err[512] = "";
	cr_assert_null(create(guest_cid + 1, "/nonexistent/vhost-vsock", err, sizeof(err)));
	cr_assert(strstr(err, "modprobe vhost_vsock") && strstr(err, "socket=PATH"), "%s", err);
}

/* While paused the kernel leaves guest memory alone, and the queues hold its positions (what a
 * snapshot saves); after the resume the bytes that waited arrive. */
Test(virtio_vsock_vhost, a_paused_device_moves_nothing_and_the_resume_goes_on)
{
	uint32_t host_port;
	int fd = host_connect(5001, &host_port);
	virtio_device_pause(dev);
	cr_assert_eq(dev->queues[TX].last_avail_idx, tx_sent, "the kernel's tx position came back");
	cr_assert_eq(dev->queues[RX].last_avail_idx, rx_seen, "the kernel's rx position came back");
	cr_assert_eq(dev->queues[RX].used_idx, fake_used_idx(&driver, RX));
	for (unsigned q = 0; q < 3; q++)
		cr_assert_eq(dev->ops->held_chains(dev, q), 0, "queue %u holds chains", q);

	cr_assert_eq(write(fd, "later", 5), 5);
	struct vsock_hdr h;
	cr_assert_not(recv_packet_within(&h, NULL, 300), "a packet reached a paused guest");
	virtio_device_resume(dev);
	char buf[8];
	h = recv_packet(buf);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_arr_eq(buf, "later", 5);
	close(fd);
}

/* The kernel's writes would escape the log a migration keeps of device writes: while it runs,
 * the kernel stays stopped and packets wait both ways; when it ends they move. */
Test(virtio_vsock_vhost, the_kernel_stays_stopped_while_a_migration_logs)
{
	uint32_t host_port;
	int fd = host_connect(5002, &host_port);
	virtio_device_pause(dev);
	cr_assert_eq(guest_memory_log_start(&driver.mem), 0);
	virtio_device_resume(dev);

	cr_assert_eq(write(fd, "held", 4), 4);
	offer_packet(guest_hdr(VSOCK_OP_RW, 5002, host_port), "back", 4);
	struct vsock_hdr h;
	cr_assert_not(recv_packet_within(&h, NULL, 500), "a packet reached the guest while logged");
	cr_assert_neq(fake_used_idx(&driver, TX), tx_sent, "the guest's packet was taken");

	virtio_device_pause(dev);
	guest_memory_log_stop(&driver.mem);
	virtio_device_resume(dev);
	char buf[8];
	h = recv_packet(buf);
	cr_assert_eq(h.op, VSOCK_OP_RW);
	cr_assert_arr_eq(buf, "held", 4);
	cr_assert(fake_wait_used(&driver, TX, tx_sent, 2000),
		  "the guest's packet went after the log");
	cr_assert_eq(read_within(fd, buf, 4, 2000), 4);
	cr_assert_arr_eq(buf, "back", 4);
	close(fd);
}

/* A driver that resets the device and starts it again on fresh rings is served again. */
Test(virtio_vsock_vhost, a_driver_reload_is_served_again)
{
	virtio_device_write_status(dev, 0);
	memset(driver.avail_idx, 0, sizeof(driver.avail_idx));
	memset(driver.next_desc, 0, sizeof(driver.next_desc));
	static uint8_t zero[0x1000];
	for (unsigned q = 0; q < 3; q++)
		for (unsigned part = 0; part < 3; part++)
			cr_assert(
			    guest_memory_write(&driver.mem, fake_ring(q, part), zero, 0x1000));
	start_driver();
	uint32_t host_port;
	int fd = host_connect(5003, &host_port);
	close(fd);
}

/* A snapshot or migration loaded on another CID (a destination on the same host cannot have
 * the source's): the guest hears TRANSPORT_RESET, reads its new CID from the config space, and
 * the kernel serves the new CID. */
Test(virtio_vsock_vhost, a_load_on_another_cid_resets_the_guest_onto_it)
{
	virtio_device_pause(dev);
	struct state_writer w;
	state_writer_init(&w);
	dev->ops->save_state(dev, &w);
	cr_assert_not(state_writer_failed(&w));
	fake_driver_destroy(&driver);

	uint64_t old_cid = guest_cid;
	guest_cid = old_cid + 1;
	char err[512] = "";
	dev = create(guest_cid, NULL, err, sizeof(err));
	cr_assert_not_null(dev, "%s", err);
	fake_driver_init(&driver, RAM, dev);
	struct state_record rec;
	size_t pos = 0;
	cr_assert_eq(state_record_parse(w.buf, w.len, &pos, &rec, err, sizeof(err)), 0, "%s", err);
	pthread_mutex_lock(&dev->lock);
	cr_assert_eq(dev->ops->load_state(dev, &rec, false, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dev->ops->load_state(dev, &rec, true, err, sizeof(err)), 0, "%s", err);
	pthread_mutex_unlock(&dev->lock);
	state_writer_free(&w);

	/* The driver as the snapshot left it: its buffers posted before the device starts. */
	fake_driver_setup_queues(&driver, 1, 7);
	struct fake_buf b = {EVENT_GPA, 4, true};
	uint32_t id = 0xffffffff;
	cr_assert(guest_memory_write(&driver.mem, EVENT_GPA, &id, 4));
	fake_driver_add(&driver, EVENT, &b, 1);
	for (int i = 0; i < RX_POSTED; i++)
		post_rx();
	rx_seen = tx_sent = 0;
	fake_driver_ok(&driver);
	cr_assert(fake_wait_used(&driver, EVENT, 1, 2000), "no transport reset event");
	cr_assert(
	    fake_wait_until(
		__atomic_load_n(&driver.queue_notifications[EVENT], __ATOMIC_ACQUIRE) > 0, 2000),
	    "the event came without an interrupt");
	cr_assert(guest_memory_read(&driver.mem, EVENT_GPA, &id, 4));
	cr_assert_eq(id, VSOCK_EVENT_TRANSPORT_RESET);
	uint64_t cid = 0;
	pthread_mutex_lock(&dev->lock);
	dev->ops->config_read(dev, 0, &cid, sizeof(cid));
	pthread_mutex_unlock(&dev->lock);
	cr_assert_eq(cid, guest_cid, "the config space says CID %llu", (unsigned long long)cid);

	uint32_t host_port;
	int fd = host_connect(5004, &host_port);
	close(fd);
}
