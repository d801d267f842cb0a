/* virtio-net on the user network (libslirp), driven as a guest driver would drive it
 * (fake_driver.h). No tap and no privilege: the other side is libslirp in the device's
 * process, and behind it this process's own sockets. The guest is 10.0.2.15, the gateway
 * 10.0.2.2 (the host's loopback). */
#include "virtio/virtio_devices.h"
#include "virtio/virtio_net.h"

#include "fake_driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RX	   0
#define TX	   1
#define HDR_SIZE   12
#define GUEST_PORT 7000

#define BUFFERS_GPA 0x100000ULL
#define SLOT_SIZE   0x2000

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t guest_ip[4] = {10, 0, 2, 15}, gateway_ip[4] = {10, 0, 2, 2};

static struct fake_driver drv;
static struct virtio_device *dev;
static uint64_t head_gpa[FAKE_QUEUE_SIZE];
static uint16_t rx_seen;
static unsigned next_slot;

/* --- setup ------------------------------------------------------------------------------- */

/* A TCP or UDP port on 127.0.0.1 that nothing uses right now. */
static uint16_t free_port(int type)
{
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static struct virtio_device *create_user(const char *options, char *err, size_t err_len)
{
	struct net_config cfg = {.backend = NET_BACKEND_USER, .has_mac = true};
	memcpy(cfg.mac, guest_mac, sizeof(guest_mac));
	user_net_default_options(&cfg.user);
	if (options)
		cr_assert_eq(user_net_parse_forward(&cfg.user, options, err, err_len), 0, "%s",
			     err);
	return virtio_net_create(&cfg, 0, err, err_len);
}

static void start(const char *forward)
{
	char err[256] = "";
	dev = create_user(forward, err, sizeof(err));
	cr_assert(dev, "virtio_net_create: %s", err);
	fake_driver_init(&drv, 4 << 20, dev);
	fake_driver_start(&drv, VIRTIO_FEATURE(VIRTIO_NET_F_MAC), 2);
	rx_seen = 0;
	next_slot = 0;
}

static void stop(void)
{
	if (dev)
		fake_driver_destroy(&drv);
	dev = NULL;
}

TestSuite(virtio_net_user, .fini = stop, .timeout = 30);

/* --- the driver side --------------------------------------------------------------------- */

static void add_rx_buffers(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = BUFFERS_GPA + (next_slot++ % 64) * SLOT_SIZE;
		struct fake_buf b = {gpa, SLOT_SIZE, true};
		head_gpa[fake_driver_add(&drv, RX, &b, 1)] = gpa;
	}
	virtio_device_kick(dev, RX);
}

static void transmit(const void *frame, size_t len)
{
	static const struct virtio_net_hdr_v1 hdr; /* no offload */
	uint64_t hdr_gpa = 0x300000, frame_gpa = 0x301000;
	cr_assert(guest_memory_write(&drv.mem, hdr_gpa, &hdr, sizeof(hdr)));
	cr_assert(guest_memory_write(&drv.mem, frame_gpa, frame, len));
	struct fake_buf bufs[2] = {{hdr_gpa, HDR_SIZE, false}, {frame_gpa, (uint32_t)len, false}};
	fake_driver_add(&drv, TX, bufs, 2);
	uint16_t want = drv.avail_idx[TX];
	virtio_device_kick(dev, TX);
	cr_assert(fake_wait_used(&drv, TX, want, 2000), "the device returned the transmit chain");
}

struct frame {
	size_t len;
	uint8_t data[SLOT_SIZE];
};

/* The next frame for the guest (one buffer each: frames here are small). */
static bool receive(struct frame *f, int ms)
{
	if (!fake_wait_used(&drv, RX, (uint16_t)(rx_seen + 1), ms))
		return false;
	struct virtq_used_elem e = fake_used_elem(&drv, RX, rx_seen++);
	cr_assert(e.len >= HDR_SIZE && e.len <= SLOT_SIZE, "used length %u", e.len);
	f->len = e.len - HDR_SIZE;
	cr_assert(guest_memory_read(&drv.mem, head_gpa[e.id] + HDR_SIZE, f->data, f->len));
	add_rx_buffers(1);
	return true;
}

/* --- frames ------------------------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ethernet(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, type);
}

/* Who has 10.0.2.2? Tells libslirp the guest's MAC as well. */
static void send_arp_request(void)
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t f[42] = {0};
	ethernet(f, broadcast, ETHERTYPE_ARP);
	uint8_t *a = f + 14;
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6, a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, guest_mac, 6);
	memcpy(a + 14, guest_ip, 4);
	memcpy(a + 24, gateway_ip, 4);
	transmit(f, sizeof(f));
}

/* Waits for a frame `match` accepts, skipping others (IPv6 router advertisements, ...). */
static bool receive_matching(struct frame *f, bool (*match)(const struct frame *), int ms)
{
	for (int waited = 0; waited < ms; waited += 100)
		if (receive(f, 100) && match(f))
			return true;
	return false;
}

static bool is_arp_reply_from_gateway(const struct frame *f)
{
	return f->len >= 42 && get16(f->data + 12) == ETHERTYPE_ARP && get16(f->data + 20) == 2 &&
	       memcmp(f->data + 28, gateway_ip, 4) == 0;
}

static bool is_syn_to_guest_port(const struct frame *f)
{
	const uint8_t *ip = f->data + 14;
	if (f->len < 54 || get16(f->data + 12) != ETHERTYPE_IP || ip[9] != IPPROTO_TCP)
		return false;
	const uint8_t *tcp = ip + (ip[0] & 15) * 4;
	return memcmp(ip + 16, guest_ip, 4) == 0 && get16(tcp + 2) == GUEST_PORT &&
	       (tcp[13] & 0x02);
}

/* An IPv4/UDP datagram from the guest to the gateway's `port` (UDP checksum 0: none). */
static size_t udp_frame(uint8_t *f, const uint8_t *gateway_mac, uint16_t port, const char *text)
{
	size_t payload = strlen(text), udp_len = 8 + payload, ip_len = 20 + udp_len;
	ethernet(f, gateway_mac, ETHERTYPE_IP);
	uint8_t *ip = f + 14, *udp = ip + 20;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, gateway_ip, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, 40000);
	put16(udp + 2, port);
	put16(udp + 4, (uint16_t)udp_len);
	put16(udp + 6, 0);
	memcpy(udp + 8, text, payload);
	return 14 + ip_len;
}

/* --- tests ------------------------------------------------------------------------------- */

Test(virtio_net_user, offers_no_offloads_and_keeps_the_mac)
{
	start(NULL);
	uint64_t offloads =
	    VIRTIO_FEATURE(VIRTIO_NET_F_CSUM) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_CSUM) |
	    VIRTIO_FEATURE(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO4);
	cr_assert_eq(dev->host_features & offloads, 0, "libslirp takes whole frames only");
	cr_assert(dev->host_features & VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
	uint8_t mac[6];
	for (unsigned i = 0; i < 6; i++)
		dev->ops->config_read(dev, i, &mac[i], 1);
	cr_assert_arr_eq(mac, guest_mac, 6);
}

Test(virtio_net_user, the_gateway_answers_arp)
{
	start(NULL);
	add_rx_buffers(8);
	send_arp_request();
	static struct frame f;
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000),
		  "an ARP reply from 10.0.2.2");
	cr_assert_arr_eq(f.data, guest_mac, 6, "addressed to the guest");
}

Test(virtio_net_user, udp_from_the_guest_reaches_a_socket_on_the_hosts_loopback)
{
	start(NULL);
	add_rx_buffers(8);
	send_arp_request();
	static struct frame f;
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000));
	uint8_t gateway_mac[6];
	memcpy(gateway_mac, f.data + 22, 6);

	uint16_t port = free_port(SOCK_DGRAM);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	uint8_t frame[128];
	transmit(frame, udp_frame(frame, gateway_mac, port, "hello from the guest"));
	struct pollfd p = {.fd = s, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 3000), 1, "the datagram arrived on 127.0.0.1:%u", port);
	char got[64] = "";
	cr_assert_eq(recv(s, got, sizeof(got) - 1, 0), 20);
	cr_assert_str_eq(got, "hello from the guest");
	close(s);
}

Test(virtio_net_user, a_host_connection_to_a_forward_reaches_the_guest)
{
	uint16_t port = free_port(SOCK_STREAM);
	char forward[64];
	snprintf(forward, sizeof(forward), "tcp:127.0.0.1:%u-:%u", port, GUEST_PORT);
	start(forward);
	add_rx_buffers(8);
	send_arp_request(); /* libslirp learns where 10.0.2.15 is */
	static struct frame f;
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000));

	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	cr_assert(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
	cr_assert(receive_matching(&f, is_syn_to_guest_port, 3000),
		  "a SYN to 10.0.2.15:%u for the host's connection", GUEST_PORT);
	close(s);
}

static uint16_t link_status(void)
{
	uint8_t status[2];
	for (unsigned i = 0; i < 2; i++)
		dev->ops->config_read(dev, 6 + i, &status[i], 1);
	return (uint16_t)(status[0] | status[1] << 8);
}

Test(virtio_net_user, a_pulled_cable_drops_frames_both_ways_until_plugged_again)
{
	start(NULL);
	add_rx_buffers(8);
	cr_assert_eq(link_status(), 1, "LINK_UP at start");
	virtio_net_set_link(dev, false);
	cr_assert_eq(link_status(), 0, "the guest reads the link down");
	cr_assert(fake_wait_until(drv.config_notifications >= 1, 1000),
		  "with a configuration interrupt");
	send_arp_request();
	static struct frame f;
	cr_assert_not(receive_matching(&f, is_arp_reply_from_gateway, 1000),
		      "nothing goes out nor comes in without a link");
	virtio_net_set_link(dev, true);
	cr_assert_eq(link_status(), 1);
	cr_assert(fake_wait_until(drv.config_notifications >= 2, 1000));
	send_arp_request();
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000),
		  "the gateway answers again once the link is up");
}

Test(virtio_net_user, a_forward_from_a_busy_port_is_refused_clearly)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 1), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	char forward[64], err[256] = "";
	snprintf(forward, sizeof(forward), "tcp:127.0.0.1:%u-:22", ntohs(a.sin_port));
	cr_assert_null(create_user(forward, err, sizeof(err)));
	cr_assert(strstr(err, "cannot listen") && strstr(err, "in use"), "%s", err);
	close(s);
}

Test(virtio_net_user, garbage_from_the_guest_is_survived)
{
	start(NULL);
	add_rx_buffers(8);
	uint8_t junk[1514];
	srand(7);
	static const size_t sizes[] = {1, 13, 14, 15, 20, 34, 42, 60, 200, 1514};
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (size_t b = 0; b < sizes[i]; b++)
				junk[b] = (uint8_t)rand();
			if (sizes[i] >= 14 && round == 1)
				put16(junk + 12, ETHERTYPE_IP); /* an IP header of noise */
			if (sizes[i] >= 14 && round == 2)
				put16(junk + 12, ETHERTYPE_ARP);
			transmit(junk, sizes[i]);
		}
	send_arp_request();
	static struct frame f;
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000),
		  "the network still answers");
}

/* --- rate limits ------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The gateway's MAC, learnt by ARP (libslirp learns the guest's from the request). */
static void learn_gateway(uint8_t gateway_mac[6])
{
	static struct frame f;
	send_arp_request();
	cr_assert(receive_matching(&f, is_arp_reply_from_gateway, 3000));
	memcpy(gateway_mac, f.data + 22, 6);
}

/* A UDP socket on 127.0.0.1; its port in *port. */
static int udp_listener(uint16_t *port)
{
	*port = free_port(SOCK_DGRAM);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(*port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

/* Queues datagram "frame N" for N in [first, first + n) without waiting for the device, then
 * kicks once: the driver's ring holds them all. */
static void queue_datagrams(const uint8_t gateway_mac[6], uint16_t port, unsigned first, unsigned n)
{
	static const struct virtio_net_hdr_v1 hdr;
	for (unsigned i = first; i < first + n; i++) {
		uint8_t frame[128];
		char text[16];
		snprintf(text, sizeof(text), "frame %u", i);
		size_t len = udp_frame(frame, gateway_mac, port, text);
		uint64_t gpa = 0x300000 + (uint64_t)(i % 32) * 0x1000;
		cr_assert(guest_memory_write(&drv.mem, gpa, &hdr, sizeof(hdr)));
		cr_assert(guest_memory_write(&drv.mem, gpa + HDR_SIZE, frame, len));
		struct fake_buf b = {gpa, (uint32_t)(HDR_SIZE + len), false};
		fake_driver_add(&drv, TX, &b, 1);
	}
	virtio_device_kick(dev, TX);
}

/* The next datagram on `s` is "frame N", within `ms`. */
static void expect_datagram(int s, unsigned n, int ms)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, ms), 1, "frame %u arrived", n);
	char got[32] = "", want[16];
	snprintf(want, sizeof(want), "frame %u", n);
	cr_assert_gt(recv(s, got, sizeof(got) - 1, 0), 0);
	cr_assert_str_eq(got, want, "in order, none lost");
}

static void set_limits(struct io_limits rx, struct io_limits tx)
{
	char err[256] = "";
	cr_assert_eq(virtio_net_set_limits(dev, &rx, &tx, err, sizeof(err)), 0, "%s", err);
}

Test(virtio_net_user, frames_beyond_the_tx_limit_wait_in_the_ring_and_none_is_lost)
{
	start(NULL);
	add_rx_buffers(8);
	uint8_t gateway_mac[6];
	learn_gateway(gateway_mac);
	uint16_t port;
	int s = udp_listener(&port);
	set_limits((struct io_limits){0}, (struct io_limits){.iops = 10, .iops_burst = 1});
	struct io_limits rx, tx;
	virtio_net_get_limits(dev, &rx, &tx);
	cr_assert_eq(tx.iops, 10);
	cr_assert_eq(tx.iops_burst, 1);
	cr_assert_eq(rx.iops, 0, "the other direction has none");

	uint64_t start_ms = now_ms();
	queue_datagrams(gateway_mac, port, 0, 5);
	for (unsigned i = 0; i < 5; i++)
		expect_datagram(s, i, 3000);
	/* One frame in the burst, then one per 100 ms: the fifth cannot leave before 400 ms. */
	uint64_t took = now_ms() - start_ms;
	cr_assert_geq(took, 350, "5 frames at 10 per second with a burst of 1 took %llu ms",
		      (unsigned long long)took);
	cr_assert(fake_wait_used(&drv, TX, drv.avail_idx[TX], 1000), "every chain came back");
	close(s);
}

Test(virtio_net_user, lifting_the_tx_limit_lets_waiting_frames_go_at_once)
{
	start(NULL);
	add_rx_buffers(8);
	uint8_t gateway_mac[6];
	learn_gateway(gateway_mac);
	uint16_t port;
	int s = udp_listener(&port);
	set_limits((struct io_limits){0}, (struct io_limits){.iops = 1, .iops_burst = 1});
	queue_datagrams(gateway_mac, port, 0, 4);
	expect_datagram(s, 0, 3000);
	struct pollfd p = {.fd = s, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 200), 0, "frame 1 waits for its token (1 per second)");
	uint64_t lifted = now_ms();
	set_limits((struct io_limits){0}, (struct io_limits){0});
	for (unsigned i = 1; i < 4; i++)
		expect_datagram(s, i, 3000);
	uint64_t took = now_ms() - lifted;
	cr_assert_lt(took, 900,
		     "the waiting frames left %llu ms after the lift, not one per second",
		     (unsigned long long)took);
	close(s);
}

/* Datagrams from the host to the guest's port through a forward: at rx-pps=10 with a burst
 * of 1, the guest's fourth takes at least 250 ms, and none is lost. */
static bool is_udp_to_guest_port(const struct frame *f)
{
	const uint8_t *ip = f->data + 14;
	if (f->len < 42 || get16(f->data + 12) != ETHERTYPE_IP || ip[9] != IPPROTO_UDP)
		return false;
	const uint8_t *udp = ip + (ip[0] & 15) * 4;
	return get16(udp + 2) == GUEST_PORT;
}

Test(virtio_net_user, frames_beyond_the_rx_limit_wait_in_the_backend_and_none_is_lost)
{
	uint16_t port = free_port(SOCK_DGRAM);
	char forward[64];
	snprintf(forward, sizeof(forward), "udp:127.0.0.1:%u-:%u", port, GUEST_PORT);
	start(forward);
	add_rx_buffers(16);
	uint8_t gateway_mac[6];
	learn_gateway(gateway_mac);
	set_limits((struct io_limits){.iops = 10, .iops_burst = 1}, (struct io_limits){0});

	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint64_t start_ms = now_ms();
	for (unsigned i = 0; i < 4; i++) {
		char text[16];
		snprintf(text, sizeof(text), "to guest %u", i);
		cr_assert_gt(sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	static struct frame f;
	for (unsigned i = 0; i < 4; i++) {
		cr_assert(receive_matching(&f, is_udp_to_guest_port, 3000), "datagram %u", i);
		char want[16];
		snprintf(want, sizeof(want), "to guest %u", i);
		cr_assert(f.len >= 42 + strlen(want) &&
			      memcmp(f.data + 42, want, strlen(want)) == 0,
			  "in order, none lost (%u)", i);
	}
	uint64_t took = now_ms() - start_ms;
	cr_assert_geq(took, 250, "4 frames at 10 per second with a burst of 1 took %llu ms",
		      (unsigned long long)took);
	close(s);
}
