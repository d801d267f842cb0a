/* virtio-net on a real tap, driven as a guest driver would drive it (synthetic rings from
 * fake_driver.h). The tap's other side is the kernel's network stack: each test runs in a
 * network namespace of its own (unshare(CLONE_NEWNET): nothing touches the host's network),
 * gives the tap 10.0.2.1/24 and talks to the kernel as the guest 10.0.2.2 would: an ARP request
 * answered, a UDP datagram with a partial checksum delivered to a socket, a TSO frame received
 * through several mergeable buffers. Skipped where tap devices cannot be created. */
#include "virtio/virtio_devices.h"
#include "virtio/virtio_net.h"

#include "fake_driver.h"
#include "tap_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX 0
#define TX 1

#define TAP_NAME "gnet0"
#define HDR_SIZE 12

#define BUFFERS_GPA 0x100000ULL
#define SLOT_SIZE   0x2000 /* one receive buffer per 8 KiB slot */

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static struct fake_driver drv;
static struct virtio_device *dev;
static uint64_t head_gpa[FAKE_QUEUE_SIZE]; /* receive chain head -> its buffer */
static uint16_t rx_seen;		   /* used entries of the receive queue consumed */

/* --- environment ------------------------------------------------------------------------- */

static void skip_without_taps(void)
{
	tap_host_enter_namespace(false);
}

/* The host side: 10.0.2.1/24 on the tap. */
static void configure_host_side(void)
{
	tap_host_configure(TAP_NAME, "10.0.2.1");
}

static struct virtio_device *create_on(enum vhost_mode vhost, const char *vhost_device, char *err,
				       size_t err_len)
{
	struct net_config cfg = {.tap = TAP_NAME, .vhost = vhost, .vhost_device = vhost_device};
	memcpy(cfg.mac, guest_mac, sizeof(guest_mac));
	cfg.has_mac = true;
	return virtio_net_create(&cfg, 0, err, err_len);
}

static struct virtio_device *create(enum vhost_mode vhost, char *err, size_t err_len)
{
	return create_on(vhost, NULL, err, err_len);
}

/* A started device with the features asked for and the host side configured. */
static void start_with(enum vhost_mode vhost, uint64_t features)
{
	char err[256] = "";
	skip_without_taps();
	dev = create(vhost, err, sizeof(err));
	cr_assert(dev, "virtio_net_create: %s", err);
	fake_driver_init(&drv, 4 << 20, dev);
	fake_driver_start(&drv, features, 2);
	configure_host_side();
	rx_seen = 0;
}

static void start(uint64_t features)
{
	start_with(VHOST_OFF, features);
}

static void stop(void)
{
	if (dev)
		fake_driver_destroy(&drv);
	dev = NULL;
}

TestSuite(virtio_net, .fini = stop, .timeout = 30);

/* --- the driver side --------------------------------------------------------------------- */

/* Makes receive buffer `slot` (len bytes) available, without a kick. */
static void add_rx_buffer(unsigned slot, uint32_t len)
{
	uint64_t gpa = BUFFERS_GPA + slot * SLOT_SIZE;
	struct fake_buf b = {gpa, len, true};
	head_gpa[fake_driver_add(&drv, RX, &b, 1)] = gpa;
}

/* Sends header + frame as two buffers (as Linux does without ANY_LAYOUT tricks) and waits
 * until the device has returned the chain. */
static void transmit(const struct virtio_net_hdr_v1 *hdr, const void *frame, size_t len)
{
	uint64_t hdr_gpa = 0x300000, frame_gpa = 0x301000;
	cr_assert(guest_memory_write(&drv.mem, hdr_gpa, hdr, sizeof(*hdr)));
	cr_assert(guest_memory_write(&drv.mem, frame_gpa, frame, len));
	struct fake_buf bufs[2] = {{hdr_gpa, HDR_SIZE, false}, {frame_gpa, (uint32_t)len, false}};
	fake_driver_add(&drv, TX, bufs, 2);
	uint16_t want = drv.avail_idx[TX];
	virtio_device_kick(dev, TX);
	cr_assert(fake_wait_used(&drv, TX, want, 2000), "the device returned the transmit chain");
}

struct received {
	struct virtio_net_hdr_v1 hdr;
	size_t len; /* frame bytes, header excluded */
	uint8_t frame[70000];
	unsigned buffers;
};

/* Waits for the next received frame and gathers it from its num_buffers chains. */
static bool receive(struct received *r, int ms)
{
	if (!fake_wait_used(&drv, RX, (uint16_t)(rx_seen + 1), ms))
		return false;
	struct virtq_used_elem e = fake_used_elem(&drv, RX, rx_seen);
	cr_assert(e.len >= HDR_SIZE && e.len <= SLOT_SIZE, "used length %u", e.len);
	cr_assert(guest_memory_read(&drv.mem, head_gpa[e.id], &r->hdr, HDR_SIZE));
	r->buffers = r->hdr.num_buffers;
	cr_assert(r->buffers >= 1, "num_buffers is at least 1");
	cr_assert(fake_wait_used(&drv, RX, (uint16_t)(rx_seen + r->buffers), ms),
		  "all %u buffers of the frame are used", r->buffers);
	r->len = 0;
	for (unsigned i = 0; i < r->buffers; i++) {
		e = fake_used_elem(&drv, RX, rx_seen++);
		uint32_t skip = i == 0 ? HDR_SIZE : 0;
		cr_assert(r->len + e.len - skip <= sizeof(r->frame));
		cr_assert(guest_memory_read(&drv.mem, head_gpa[e.id] + skip, r->frame + r->len,
					    e.len - skip));
		r->len += e.len - skip;
	}
	return true;
}

/* --- frames ------------------------------------------------------------------------------ */

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 headers (34 bytes) from 10.0.2.2 to 10.0.2.1 for `l4_len` bytes. */
static void ipv4_headers(uint8_t *f, const uint8_t dst_mac[6], uint8_t proto, size_t l4_len)
{
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, ETHERTYPE_IP);
	uint8_t *ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	ip[8] = 64;
	ip[9] = proto;
	uint8_t src[4] = {10, 0, 2, 2}, dst[4] = {10, 0, 2, 1};
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
}

/* The pseudo-header sum that a partial checksum field holds (not complemented). */
static uint16_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t sum = sum16(ip + 12, 8, 0) + proto + (uint32_t)l4_len;
	return fold(sum);
}

static uint8_t host_mac[6];

static void read_host_mac(void)
{
	tap_host_mac(TAP_NAME, host_mac);
}

/* --- tests ------------------------------------------------------------------------------- */

Test(virtio_net, config_space_holds_the_mac_and_link_up)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS));
	uint8_t config[8];
	for (unsigned i = 0; i < sizeof(config); i++)
		dev->ops->config_read(dev, i, &config[i], 1);
	cr_assert_arr_eq(config, guest_mac, 6);
	cr_assert_eq(config[6] | config[7] << 8, 1, "VIRTIO_NET_S_LINK_UP");
}

Test(virtio_net, derived_mac_is_stable_local_unicast_and_differs_per_card)
{
	skip_without_taps();
	char err[256];
	uint8_t macs[3][6];
	unsigned index[3] = {0, 0, 1};
	for (unsigned i = 0; i < 3; i++) {
		struct net_config cfg = {.tap = TAP_NAME, .vhost = VHOST_OFF};
		struct virtio_device *d = virtio_net_create(&cfg, index[i], err, sizeof(err));
		cr_assert(d, "%s", err);
		for (unsigned b = 0; b < 6; b++)
			d->ops->config_read(d, b, &macs[i][b], 1);
		virtio_device_destroy(d);
	}
	cr_assert_eq(macs[0][0], 0x52);
	cr_assert_eq(macs[0][1], 0x54);
	cr_assert_eq(macs[0][2], 0x00);
	cr_assert_arr_eq(macs[0], macs[1], 6, "same tap and index: same MAC");
	cr_assert_arr_neq(macs[0], macs[2], 6, "another card index: another MAC");
}

static void check_arp(void)
{
	read_host_mac();
	for (unsigned i = 0; i < 4; i++)
		add_rx_buffer(i, 2048);
	virtio_device_kick(dev, RX);

	uint8_t arp[42] = {0};
	memset(arp, 0xff, 6);
	memcpy(arp + 6, guest_mac, 6);
	put16(arp + 12, ETHERTYPE_ARP);
	uint8_t *a = arp + 14;
	put16(a, 1); /* Ethernet */
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6, a[5] = 4;
	put16(a + 6, 1); /* request */
	memcpy(a + 8, guest_mac, 6);
	uint8_t spa[4] = {10, 0, 2, 2}, tpa[4] = {10, 0, 2, 1};
	memcpy(a + 14, spa, 4);
	memcpy(a + 24, tpa, 4);
	struct virtio_net_hdr_v1 hdr = {0};
	transmit(&hdr, arp, sizeof(arp));
	cr_assert(fake_wait_until(drv.queue_notifications[TX] >= 1, 1000), "transmit interrupt");

	static struct received r;
	cr_assert(receive(&r, 2000), "a frame arrived in the receive queue");
	cr_assert_eq(r.buffers, 1);
	cr_assert_geq(r.len, 42);
	cr_assert_arr_eq(r.frame, guest_mac, 6, "addressed to the guest");
	cr_assert_arr_eq(r.frame + 6, host_mac, 6, "from the tap");
	cr_assert_eq(r.frame[12] << 8 | r.frame[13], ETHERTYPE_ARP);
	cr_assert_eq(r.frame[20] << 8 | r.frame[21], 2, "an ARP reply");
	cr_assert_arr_eq(r.frame + 28, tpa, 4, "for 10.0.2.1");
	cr_assert(fake_wait_until(drv.queue_notifications[RX] >= 1, 1000), "receive interrupt");
}

Test(virtio_net, arp_request_from_the_guest_is_answered_by_the_kernel)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	check_arp();
}

/* The tests of vhost-net cards need the host's (they run in the lab where it has none). */
static void require_vhost_net(void)
{
	int fd = open(VHOST_NET_DEVICE, O_RDWR);
	cr_assert_geq(fd, 0, "%s: %s", VHOST_NET_DEVICE, strerror(errno));
	close(fd);
}

/* The same through vhost-net: the kernel moves the frames, its interrupts reach the (fake)
 * transport through the device thread, since the transport has no irqfd. meson runs this
 * program in the nested lab where this host has no /dev/vhost-net (tests/lab/host-or-lab.sh). */
Test(virtio_net, arp_through_vhost_net)
{
	require_vhost_net();
	start_with(VHOST_ON, VIRTIO_FEATURE(VIRTIO_NET_F_MAC) |
				 VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF) |
				 VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX));
	check_arp();
}

/* A UDP datagram to a socket on 10.0.2.1:5555; returns what the socket got (-1: nothing). */
static ssize_t udp_to_host(bool partial_checksum, bool correct_checksum)
{
	read_host_mac();
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(5555)};
	inet_pton(AF_INET, "10.0.2.1", &addr.sin_addr);
	cr_assert_eq(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0, "%s", strerror(errno));

	const char payload[] = "hello from the guest";
	size_t udp_len = 8 + sizeof(payload);
	uint8_t f[128] = {0};
	ipv4_headers(f, host_mac, IPPROTO_UDP, udp_len);
	uint8_t *udp = f + 34;
	put16(udp, 40000);
	put16(udp + 2, 5555);
	put16(udp + 4, (uint16_t)udp_len);
	memcpy(udp + 8, payload, sizeof(payload));
	uint16_t pseudo = pseudo_sum(f + 14, IPPROTO_UDP, udp_len);
	struct virtio_net_hdr_v1 hdr = {0};
	if (partial_checksum) {
		/* The guest leaves the sum over the UDP part to the host, as Linux does. */
		put16(udp + 6, pseudo);
		hdr.flags = 1; /* NEEDS_CSUM */
		hdr.csum_start = 34;
		hdr.csum_offset = 6;
	} else {
		uint16_t full = (uint16_t)~fold(sum16(udp, udp_len, pseudo));
		put16(udp + 6, correct_checksum ? full : (uint16_t)(full ^ 0x5a5a));
	}
	transmit(&hdr, f, 34 + udp_len);

	struct timeval tv = {.tv_usec = 500 * 1000};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char got[64] = "";
	ssize_t n = recv(s, got, sizeof(got), 0);
	if (n >= 0)
		cr_assert_str_eq(got, payload);
	close(s);
	return n;
}

Test(virtio_net, partial_checksum_from_the_guest_is_completed_by_the_host)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_CSUM));
	cr_assert_eq(udp_to_host(true, false), 21, "the socket got the datagram");
}

Test(virtio_net, kernel_drops_a_bad_checksum_that_was_not_marked_partial)
{
	/* The control for the test above: the kernel does check what it is not told to fill. */
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_CSUM));
	cr_assert_eq(udp_to_host(false, true), 21, "a correct full checksum is delivered");
	cr_assert_eq(udp_to_host(false, false), -1, "a wrong one is not");
}

Test(virtio_net, partial_checksum_without_csum_feature_is_dropped_not_fatal)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	cr_assert_eq(udp_to_host(true, false), -1, "the frame is dropped");
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "the device runs on");
	cr_assert_eq(udp_to_host(false, true), 21, "later frames pass");
}

/* Injects a frame into the tap's transmit path (towards the guest) with a packet socket that
 * carries a virtio_net_hdr (10 bytes) for GSO. */
static void inject(const void *vnet_hdr, const void *frame, size_t len)
{
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	cr_assert(s >= 0, "AF_PACKET: %s", strerror(errno));
	int one = 1;
	cr_assert_eq(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_ifindex = (int)if_nametoindex(TAP_NAME),
				 .sll_protocol = htons(ETH_P_IP)};
	cr_assert_eq(bind(s, (struct sockaddr *)&ll, sizeof(ll)), 0, "%s", strerror(errno));
	static uint8_t buf[70000];
	memcpy(buf, vnet_hdr, 10);
	memcpy(buf + 10, frame, len);
	cr_assert_eq(send(s, buf, 10 + len, 0), (ssize_t)(10 + len), "%s", strerror(errno));
	close(s);
}

/* An Ethernet/IPv4/TCP frame to the guest with `payload` bytes of a counting pattern. */
static size_t tcp_frame(uint8_t *f, size_t payload)
{
	read_host_mac();
	size_t tcp_len = 20 + payload;
	ipv4_headers(f, guest_mac, IPPROTO_TCP, tcp_len);
	/* Reverse direction: from the host (10.0.2.1, host_mac) to the guest. */
	memcpy(f + 6, host_mac, 6);
	uint8_t *ip = f + 14;
	uint8_t a[4];
	memcpy(a, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, a, 4);
	uint8_t *tcp = f + 34;
	memset(tcp, 0, 20);
	put16(tcp, 5201);
	put16(tcp + 2, 40000);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH ACK */
	put16(tcp + 14, 65535);
	for (size_t i = 0; i < payload; i++)
		tcp[20 + i] = (uint8_t)(i * 7 + 3);
	put16(tcp + 16, pseudo_sum(ip, IPPROTO_TCP, tcp_len));
	return 34 + tcp_len;
}

Test(virtio_net, tso_frame_arrives_whole_across_mergeable_buffers)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_CSUM) |
	      VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
	/* 9 x 8 KiB: room for the largest frame (64 KiB + header), which the device waits for. */
	for (unsigned i = 0; i < 9; i++)
		add_rx_buffer(i, SLOT_SIZE);
	virtio_device_kick(dev, RX);

	static uint8_t frame[40000];
	size_t len = tcp_frame(frame, 30000);
	struct virtio_net_hdr_v1 gso = {.flags = 1,
					.gso_type = 1 /* TCPV4 */,
					.hdr_len = 54,
					.gso_size = 1448,
					.csum_start = 34,
					.csum_offset = 16};
	inject(&gso, frame, len);

	static struct received r;
	cr_assert(receive(&r, 2000), "the frame arrived");
	cr_assert_eq(r.hdr.gso_type, 1, "still one TSO frame (not segmented by the host)");
	cr_assert_eq(r.hdr.gso_size, 1448);
	cr_assert_eq(r.buffers, (HDR_SIZE + len + SLOT_SIZE - 1) / SLOT_SIZE,
		     "num_buffers: as many 8 KiB buffers as the frame fills");
	cr_assert_eq(r.len, len);
	cr_assert_arr_eq(r.frame + 54, frame + 54, len - 54, "payload intact");
}

Test(virtio_net, without_room_frames_wait_in_the_tap_until_the_driver_kicks)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_CSUM) |
	      VIRTIO_FEATURE(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
	/* 5 x 8 KiB is less than a 64 KiB frame could need: the device must not read yet. */
	for (unsigned i = 0; i < 5; i++)
		add_rx_buffer(i, SLOT_SIZE);
	virtio_device_kick(dev, RX);
	static uint8_t frame[2000];
	size_t len = tcp_frame(frame, 100);
	struct virtio_net_hdr_v1 plain = {0};
	inject(&plain, frame, len);
	usleep(200 * 1000);
	cr_assert_eq(fake_used_idx(&drv, RX), 0, "nothing received while buffers are short");

	for (unsigned i = 5; i < 9; i++)
		add_rx_buffer(i, SLOT_SIZE);
	virtio_device_kick(dev, RX);
	static struct received r;
	cr_assert(receive(&r, 2000), "the waiting frame arrives after the kick (not dropped)");
	cr_assert_eq(r.buffers, 1);
	cr_assert_eq(r.len, len);
	cr_assert_arr_eq(r.frame, frame, len);
}

Test(virtio_net, frame_too_big_for_a_buffer_without_mergeable_buffers_is_dropped)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	add_rx_buffer(0, 200); /* too small for what follows, big enough for the next */
	virtio_device_kick(dev, RX);
	static uint8_t big[1200], small[200];
	size_t big_len = tcp_frame(big, 1000), small_len = tcp_frame(small, 50);
	struct virtio_net_hdr_v1 plain = {0};
	inject(&plain, big, big_len);
	inject(&plain, small, small_len);
	static struct received r;
	cr_assert(receive(&r, 2000));
	cr_assert_eq(r.len, small_len,
		     "the big frame was dropped, the buffer kept for the next (got %zu, big %zu)",
		     r.len, big_len);
	cr_assert_arr_eq(r.frame, small, small_len);
}

Test(virtio_net, transmit_chain_with_a_writable_buffer_fails_the_device)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	struct fake_buf bufs[2] = {{0x300000, HDR_SIZE, false}, {0x301000, 64, true}};
	fake_driver_add(&drv, TX, bufs, 2);
	virtio_device_kick(dev, TX);
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
	cr_assert(fake_wait_until(drv.config_notifications >= 1, 1000));
}

Test(virtio_net, transmit_chain_shorter_than_the_header_fails_the_device)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	struct fake_buf b = {0x300000, 10, false};
	fake_driver_add(&drv, TX, &b, 1);
	virtio_device_kick(dev, TX);
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
}

Test(virtio_net, tso_frame_without_host_tso_is_dropped_and_returned)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_CSUM));
	uint8_t f[100] = {0};
	ipv4_headers(f, guest_mac, IPPROTO_TCP, 40);
	struct virtio_net_hdr_v1 hdr = {
	    .flags = 1, .gso_type = 1, .gso_size = 1448, .csum_start = 34, .csum_offset = 16};
	transmit(&hdr, f, 74);
	struct virtq_used_elem e = fake_used_elem(&drv, TX, 0);
	cr_assert_eq(e.len, 0);
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

Test(virtio_net, receive_chain_with_a_readable_buffer_fails_the_device)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	struct fake_buf b = {BUFFERS_GPA, 2048, false};
	fake_driver_add(&drv, RX, &b, 1);
	virtio_device_kick(dev, RX);
	static uint8_t frame[200];
	struct virtio_net_hdr_v1 plain = {0};
	inject(&plain, frame, tcp_frame(frame, 50));
	cr_assert(fake_wait_until(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 2000));
}

/* The driver resets the card and sets it up again on fresh rings, as a driver reload does. */
static void restart_driver(uint64_t features)
{
	virtio_device_write_status(dev, 0);
	memset(drv.avail_idx, 0, sizeof(drv.avail_idx));
	memset(drv.next_desc, 0, sizeof(drv.next_desc));
	for (unsigned q = 0; q < 2; q++)
		for (unsigned part = 0; part < 3; part++) {
			static uint8_t zero[0x1000];
			cr_assert(guest_memory_write(&drv.mem, fake_ring(q, part), zero, 0x1000));
		}
	fake_driver_start(&drv, features, 2);
	rx_seen = 0;
}

Test(virtio_net, reset_and_restart_keep_working)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	add_rx_buffer(0, 2048);
	virtio_device_kick(dev, RX);
	restart_driver(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	add_rx_buffer(1, 2048);
	virtio_device_kick(dev, RX);
	static uint8_t frame[200];
	struct virtio_net_hdr_v1 plain = {0};
	size_t len = tcp_frame(frame, 50);
	inject(&plain, frame, len);
	static struct received r;
	cr_assert(receive(&r, 2000));
	cr_assert_eq(r.len, len);
	cr_assert_eq(head_gpa[fake_used_elem(&drv, RX, 0).id], BUFFERS_GPA + SLOT_SIZE,
		     "the buffer of the new ring");
}

Test(virtio_net, tun_device_instead_of_tap_is_refused_clearly)
{
	skip_without_taps();
	int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	cr_assert_eq(ioctl(tun, TUNSETIFF, &ifr), 0, "%s", strerror(errno));
	char err[256] = "";
	cr_assert_null(create(VHOST_OFF, err, sizeof(err)));
	cr_assert(strstr(err, TAP_NAME ": "), "names the device: %s", err);
	cr_assert(strstr(err, "mode tap"), "says what to do: %s", err);
	close(tun);
}

/* A host without vhost-net (here: a device node that does not exist, whatever the host has). */
Test(virtio_net, vhost_on_without_vhost_net_fails_clearly)
{
	skip_without_taps();
	static const char missing[] = "/nonexistent/vhost-net";
	char err[256] = "";
	cr_assert_null(create_on(VHOST_ON, missing, err, sizeof(err)));
	cr_assert(strstr(err, missing), "%s", err);
	cr_assert(strstr(err, "modprobe vhost_net"), "%s", err);
	char err2[256] = "";
	struct virtio_device *d = create_on(VHOST_AUTO, missing, err2, sizeof(err2));
	cr_assert(d, "vhost=auto falls back: %s", err2);
	virtio_device_destroy(d);
}

static bool tap_running(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	close(s);
	return ifr.ifr_flags & IFF_RUNNING;
}

Test(virtio_net, a_pulled_cable_is_seen_by_the_guest_and_the_host)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS));
	cr_assert(tap_running());
	virtio_net_set_link(dev, false);
	uint8_t status;
	dev->ops->config_read(dev, 6, &status, 1);
	cr_assert_eq(status & 1, 0, "the guest reads the link down");
	/* The kernel's link watch reports a carrier change within a second. */
	cr_assert(fake_wait_until(!tap_running(), 3000), "the host's tap lost its carrier");
	virtio_net_set_link(dev, true);
	dev->ops->config_read(dev, 6, &status, 1);
	cr_assert_eq(status & 1, 1);
	cr_assert(fake_wait_until(tap_running(), 3000));
	check_arp(); /* and frames flow again */
}

Test(virtio_net, deleted_tap_takes_the_link_down_without_harm)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS));
	if (system("ip link del " TAP_NAME " 2>/dev/null") != 0)
		cr_skip_test("cannot delete the tap with ip(8)");
	uint8_t status = 1;
	cr_assert(fake_wait_until((dev->ops->config_read(dev, 6, &status, 1), status == 0), 2000),
		  "link down in the config space");
	cr_assert(fake_wait_until(drv.config_notifications >= 1, 1000), "config interrupt");
	uint64_t kicks = dev->kicks;
	struct fake_buf b = {BUFFERS_GPA, 2048, true};
	fake_driver_add(&drv, RX, &b, 1);
	virtio_device_kick(dev, RX);
	cr_assert(fake_wait_until(dev->kicks > kicks, 1000),
		  "the device thread still serves kicks");
	cr_assert_eq(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

/* --- migration: the card's writes to guest RAM are logged ----------------------------------- */

static bool page_logged(const uint64_t *bits, uint64_t gpa)
{
	uint64_t page = gpa / 4096;
	return bits[page / 64] >> (page % 64) & 1;
}

#define LOG_WORDS ((4 << 20) / 4096 / 64) /* a bit per page of the fake guest's 4 MiB */

/* A migration's device-write log starts with the card paused, as migration.c starts it. */
static void start_logging(void)
{
	virtio_device_pause(dev);
	cr_assert_eq(guest_memory_log_start(&drv.mem), 0);
	virtio_device_resume(dev);
}

/* The card paused (its writes done) and the log's pages so far in bits. */
static void pause_and_take_log(uint64_t bits[LOG_WORDS])
{
	virtio_device_pause(dev);
	memset(bits, 0, LOG_WORDS * sizeof(uint64_t));
	guest_memory_log_take(&drv.mem, 0, bits);
}

static void end_logging(void)
{
	guest_memory_log_stop(&drv.mem);
	virtio_device_resume(dev);
}

/* A migration starts its device-write log with the VM paused, while the card holds a receive
 * buffer it took before (the userspace card keeps one ready once a frame has come). A frame
 * that arrives afterwards must leave the page it was written to, and the used ring's, in the
 * log by the time the VM pauses again; pages no frame reached stay clean. */
Test(virtio_net, received_frames_are_logged_for_a_migration)
{
	start(VIRTIO_FEATURE(VIRTIO_NET_F_MAC));
	for (unsigned i = 0; i < 4; i++)
		add_rx_buffer(i, 2048);
	virtio_device_kick(dev, RX);
	static uint8_t frame[2000];
	size_t len = tcp_frame(frame, 100);
	struct virtio_net_hdr_v1 plain = {0};
	static struct received r;
	inject(&plain, frame, len);
	cr_assert(receive(&r, 2000), "the first frame arrived");
	start_logging(); /* the card holds the next buffer now */

	inject(&plain, frame, len);
	cr_assert(receive(&r, 2000), "the second frame arrived");
	struct virtq_used_elem e = fake_used_elem(&drv, RX, 1);
	uint64_t bits[LOG_WORDS];
	pause_and_take_log(bits);
	cr_assert(page_logged(bits, head_gpa[e.id]),
		  "the page of the buffer held across the pause is not logged");
	cr_assert(page_logged(bits, FAKE_RINGS_GPA + RX * 0x4000 + 0x2000),
		  "the used ring's page is not logged");
	cr_assert_not(page_logged(bits, BUFFERS_GPA + 3 * SLOT_SIZE),
		      "the page of a buffer still in the ring is logged");
	end_logging();
}

/* vhost's kernel worker writes guest RAM behind the device-write log, so while a migration
 * logs, a vhost-net card moves its packets in userspace (logged like any other card); once the
 * log ends it goes back to vhost, which takes up the buffers the userspace path still held. */
Test(virtio_net, vhost_card_moves_packets_in_userspace_while_a_migration_logs)
{
	require_vhost_net();
	/* Mergeable buffers: without them vhost leaves num_buffers as the tap wrote it (0). */
	start_with(VHOST_ON,
		   VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned i = 0; i < 6; i++)
		add_rx_buffer(i, 2048);
	virtio_device_kick(dev, RX);
	static uint8_t frame[2000];
	size_t len = tcp_frame(frame, 100);
	struct virtio_net_hdr_v1 plain = {0};
	static struct received r;

	start_logging();
	inject(&plain, frame, len);
	cr_assert(receive(&r, 2000), "a frame arrived while the log ran");
	struct virtq_used_elem e = fake_used_elem(&drv, RX, 0);
	uint64_t bits[LOG_WORDS];
	pause_and_take_log(bits);
	cr_assert(page_logged(bits, head_gpa[e.id]), "the frame's page is not logged");
	end_logging();

	/* vhost again: the next frames fill the next buffers in order, none skipped. */
	for (uint16_t n = 1; n < 4; n++) {
		inject(&plain, frame, len);
		cr_assert(receive(&r, 2000), "frame %u after the log ended did not arrive", n);
		e = fake_used_elem(&drv, RX, n);
		cr_assert_eq(head_gpa[e.id], BUFFERS_GPA + n * SLOT_SIZE,
			     "frame %u landed in slot %llu", n,
			     (unsigned long long)((head_gpa[e.id] - BUFFERS_GPA) / SLOT_SIZE));
		cr_assert_arr_eq(r.frame, frame, len);
	}
}

/* A driver that restarts a vhost-net card while a migration logs gets the userspace path too,
 * logged, and vhost once the log has ended. */
Test(virtio_net, vhost_card_restarted_while_a_migration_logs_stays_in_userspace)
{
	require_vhost_net();
	uint64_t features =
	    VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF);
	start_with(VHOST_ON, features);
	start_logging();
	restart_driver(features);
	for (unsigned i = 0; i < 4; i++)
		add_rx_buffer(i, 2048);
	virtio_device_kick(dev, RX);
	static uint8_t frame[2000];
	size_t len = tcp_frame(frame, 100);
	struct virtio_net_hdr_v1 plain = {0};
	static struct received r;
	inject(&plain, frame, len);
	cr_assert(receive(&r, 2000), "a frame arrived after the restart");
	struct virtq_used_elem e = fake_used_elem(&drv, RX, 0);
	uint64_t bits[LOG_WORDS];
	pause_and_take_log(bits);
	cr_assert(page_logged(bits, head_gpa[e.id]),
		  "the restarted card wrote a page the log does not know");
	end_logging();
	inject(&plain, frame, len);
	cr_assert(receive(&r, 2000), "no frame after the log ended");
	cr_assert_arr_eq(r.frame, frame, len);
}

/* A post-copy's destination loads its devices paused and starts them before the guest RAM is
 * ready: a vhost card started then must not let the kernel write received frames into guest
 * memory until the VM resumes (those pages are still to be replaced by the source's). */
Test(virtio_net, vhost_card_started_while_paused_writes_nothing_until_resumed)
{
	require_vhost_net();
	char err[256] = "";
	skip_without_taps();
	dev = create(VHOST_ON, err, sizeof(err));
	cr_assert(dev, "virtio_net_create: %s", err);
	fake_driver_init(&drv, 4 << 20, dev);
	virtio_device_pause(dev);
	uint64_t features =
	    VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF);
	fake_driver_start(&drv, features, 2);
	configure_host_side();
	rx_seen = 0;
	for (unsigned i = 0; i < 4; i++)
		add_rx_buffer(i, 2048);
	virtio_device_kick(dev, RX);
	static uint8_t frame[2000];
	size_t len = tcp_frame(frame, 100);
	struct virtio_net_hdr_v1 plain = {0};
	inject(&plain, frame, len);
	usleep(300 * 1000);
	cr_assert_eq(fake_used_idx(&drv, RX), 0, "a frame reached guest memory while paused");
	virtio_device_resume(dev);
	static struct received r;
	cr_assert(receive(&r, 2000), "the frame arrived after the resume");
	cr_assert_arr_eq(r.frame, frame, len);
}
