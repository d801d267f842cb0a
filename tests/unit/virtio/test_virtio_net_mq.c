/* virtio-net with several queue pairs on a multi-queue tap, and its control queue, driven as a
 * guest driver would (fake_driver.h). Each test runs in a network namespace of its own with the
 * tap's host side at 10.0.2.1/24 and the guest at 10.0.2.2. What is checked is what the kernel
 * and the guest see: how many queues the tap has attached (its sysfs queues), frames sent on
 * every pair reaching a host socket, flows from the host spread over the receive queues, the
 * control commands' acks, the MAC the guest reads, and a saved card restoring its pairs.
 * Skipped where tap devices cannot be created. */
#include "lib/state_record.h"
#include "virtio/virtio_device_state.h"
#include "virtio/virtio_devices.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_net_ctrl.h"

#include "fake_driver.h"
#include "tap_host.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_NAME   "gmq0"
#define PAIRS	   4
#define CTRL_QUEUE (2 * PAIRS)
#define HDR_SIZE   12
#define SLOT_SIZE  0x800 /* one receive buffer of 2 KiB: a whole frame without MRG_RXBUF */

#define RX_BUFFERS_GPA 0x100000ULL /* receive queue q's slot s at + (q * 16 + s) * SLOT_SIZE */
#define TX_GPA	       0x300000ULL
#define CTRL_GPA       0x310000ULL

#define FEATURES                                                                                   \
	(VIRTIO_FEATURE(VIRTIO_NET_F_MAC) | VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_VQ) |                 \
	 VIRTIO_FEATURE(VIRTIO_NET_F_MQ) | VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_MAC_ADDR))

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x0a, 0x0b, 0x0c};

static struct fake_driver drv;
static struct virtio_device *dev;

/* --- environment ------------------------------------------------------------------------- */

static void enter_own_network(void)
{
	tap_host_enter_namespace(true);
	/* sysfs shows the network devices of the namespace that mounted it: a private mount
	 * of our own, to read the tap's queues. */
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
	cr_assert_eq(mount("sysfs", "/sys", "sysfs", 0, NULL), 0, "sysfs: %s", strerror(errno));
}

/* 10.0.2.1/24 on the tap, and the guest's address resolved without asking it (the tests do
 * not answer ARP). */
static void configure_host_side(void)
{
	tap_host_configure(TAP_NAME, "10.0.2.1");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(s >= 0);
	struct arpreq arp = {.arp_flags = ATF_COM | ATF_PERM};
	struct sockaddr_in *pa = (struct sockaddr_in *)&arp.arp_pa;
	pa->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.2.2", &pa->sin_addr);
	arp.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(arp.arp_ha.sa_data, guest_mac, 6);
	snprintf(arp.arp_dev, sizeof(arp.arp_dev), "%s", TAP_NAME);
	cr_assert_eq(ioctl(s, SIOCSARP, &arp), 0, "static ARP entry: %s", strerror(errno));
	close(s);
}

static struct virtio_device *create_card(const char *tap, unsigned pairs)
{
	char err[256] = "";
	struct net_config cfg = {.tap = (char *)tap, .vhost = VHOST_OFF, .queues = pairs};
	memcpy(cfg.mac, guest_mac, 6);
	cfg.has_mac = true;
	struct virtio_device *d = virtio_net_create(&cfg, 0, err, sizeof(err));
	cr_assert(d, "virtio_net_create: %s", err);
	return d;
}

/* A started card with PAIRS pairs, the control queue, and the host side configured. */
static void start(void)
{
	enter_own_network();
	dev = create_card(TAP_NAME, PAIRS);
	fake_driver_init(&drv, 8 << 20, dev);
	fake_driver_start(&drv, FEATURES, 2 * PAIRS + 1);
	configure_host_side();
}

static void stop(void)
{
	if (dev)
		fake_driver_destroy(&drv);
	dev = NULL;
}

TestSuite(virtio_net_mq, .fini = stop, .timeout = 30);

/* The queues the kernel lets the tap use (its attached queues): /sys/class/net/TAP/queues. */
static unsigned tap_receive_queues(const char *tap)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", tap);
	DIR *dir = opendir(path);
	cr_assert(dir, "%s: %s", path, strerror(errno));
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += strncmp(e->d_name, "rx-", 3) == 0;
	closedir(dir);
	return n;
}

/* --- the driver side --------------------------------------------------------------------- */

/* Sends one control command and returns the device's ack. */
static uint8_t control(uint8_t class, uint8_t command, const void *data, uint32_t len)
{
	uint8_t request[64] = {class, command}, ack = 0xee;
	cr_assert(len + 2 <= sizeof(request));
	if (len)
		memcpy(request + 2, data, len);
	cr_assert(guest_memory_write(&drv.mem, CTRL_GPA, request, len + 2));
	cr_assert(guest_memory_write(&drv.mem, CTRL_GPA + 0x100, &ack, 1));
	struct fake_buf bufs[2] = {{CTRL_GPA, len + 2, false}, {CTRL_GPA + 0x100, 1, true}};
	fake_driver_add(&drv, CTRL_QUEUE, bufs, 2);
	uint16_t want = drv.avail_idx[CTRL_QUEUE];
	virtio_device_kick(dev, CTRL_QUEUE);
	cr_assert(fake_wait_used(&drv, CTRL_QUEUE, want, 2000), "the control command was answered");
	cr_assert_eq(fake_used_elem(&drv, CTRL_QUEUE, (uint16_t)(want - 1)).len, 1, "one ack byte");
	cr_assert(guest_memory_read(&drv.mem, CTRL_GPA + 0x100, &ack, 1));
	return ack;
}

static uint8_t set_pairs(uint16_t pairs)
{
	uint8_t le[2] = {(uint8_t)pairs, (uint8_t)(pairs >> 8)};
	return control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, le, 2);
}

static uint8_t set_mac(const uint8_t mac[6])
{
	return control(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6);
}

static void read_config_mac(uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++)
		dev->ops->config_read(dev, i, &mac[i], 1);
}

/* A UDP datagram from 10.0.2.2:port to 10.0.2.1:5000, header and frame in one buffer, sent on
 * pair `pair`'s transmit queue. */
static void transmit_udp(unsigned pair, uint16_t port, const uint8_t host_mac[6])
{
	uint8_t f[HDR_SIZE + 14 + 20 + 8 + 4] = {0};
	uint8_t *eth = f + HDR_SIZE, *ip = eth + 14, *udp = ip + 20;
	memcpy(eth, host_mac, 6);
	memcpy(eth + 6, guest_mac, 6);
	eth[12] = 0x08;
	ip[0] = 0x45, ip[3] = 32, ip[8] = 64, ip[9] = IPPROTO_UDP;
	ip[12] = 10, ip[13] = 0, ip[14] = 2, ip[15] = 2;
	ip[16] = 10, ip[17] = 0, ip[18] = 2, ip[19] = 1;
	uint32_t sum = 0;
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
	udp[0] = (uint8_t)(port >> 8), udp[1] = (uint8_t)port;
	udp[2] = 5000 >> 8, udp[3] = 5000 & 0xff, udp[5] = 12; /* no UDP checksum (0) */
	memcpy(udp + 8, "pair", 4);
	uint64_t gpa = TX_GPA + pair * 0x1000;
	cr_assert(guest_memory_write(&drv.mem, gpa, f, sizeof(f)));
	struct fake_buf b = {gpa, sizeof(f), false};
	unsigned q = 2 * pair + 1;
	fake_driver_add(&drv, q, &b, 1);
	uint16_t want = drv.avail_idx[q];
	virtio_device_kick(dev, q);
	cr_assert(fake_wait_used(&drv, q, want, 2000), "pair %u returned the frame", pair);
}

static int udp_socket(uint16_t port)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "10.0.2.1", &a.sin_addr);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	return s;
}

/* --- tests ------------------------------------------------------------------------------- */

Test(virtio_net_mq, offers_its_queue_pairs_and_a_control_queue)
{
	enter_own_network();
	dev = create_card(TAP_NAME, PAIRS);
	fake_driver_init(&drv, 8 << 20, dev);
	uint64_t want = VIRTIO_FEATURE(VIRTIO_NET_F_MQ) | VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_VQ) |
			VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_MAC_ADDR);
	cr_assert_eq(dev->host_features & want, want);
	cr_assert_eq(dev->num_queues, 2 * PAIRS + 1);
	uint16_t pairs = 0;
	dev->ops->config_read(dev, 8, &pairs, 2); /* max_virtqueue_pairs */
	cr_assert_eq(pairs, PAIRS);
	/* Until the driver asks for more, the tap sends everything to its first queue. */
	cr_assert_eq(tap_receive_queues(TAP_NAME), 1);
}

Test(virtio_net_mq, a_single_pair_card_has_no_multiqueue_but_a_control_queue)
{
	enter_own_network();
	dev = create_card(TAP_NAME, 1);
	fake_driver_init(&drv, 8 << 20, dev);
	cr_assert_not(dev->host_features & VIRTIO_FEATURE(VIRTIO_NET_F_MQ));
	cr_assert(dev->host_features & VIRTIO_FEATURE(VIRTIO_NET_F_CTRL_VQ));
	cr_assert_eq(dev->num_queues, 3);
}

Test(virtio_net_mq, the_driver_chooses_how_many_queues_the_tap_uses)
{
	start();
	cr_assert_eq(tap_receive_queues(TAP_NAME), 1);
	cr_assert_eq(set_pairs(PAIRS), VIRTIO_NET_OK);
	cr_assert_eq(tap_receive_queues(TAP_NAME), PAIRS);
	cr_assert_eq(set_pairs(2), VIRTIO_NET_OK);
	cr_assert_eq(tap_receive_queues(TAP_NAME), 2);
	struct virtio_net_info info;
	virtio_net_get_info(dev, &info);
	cr_assert_eq(info.pairs, PAIRS);
	cr_assert_eq(info.active_pairs, 2);
	/* A reset goes back to one pair, as the spec's default. */
	virtio_device_reset(dev);
	cr_assert_eq(tap_receive_queues(TAP_NAME), 1);
}

Test(virtio_net_mq, frames_sent_on_every_pair_reach_the_host)
{
	start();
	cr_assert_eq(set_pairs(PAIRS), VIRTIO_NET_OK);
	int s = udp_socket(5000);
	uint8_t host_mac[6];
	tap_host_mac(TAP_NAME, host_mac);
	for (unsigned p = 0; p < PAIRS; p++)
		transmit_udp(p, (uint16_t)(6000 + p), host_mac);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (unsigned p = 0; p < PAIRS; p++) {
		char buf[16];
		cr_assert_eq(recv(s, buf, sizeof(buf), 0), 4, "datagram %u arrived", p);
		cr_assert_eq(memcmp(buf, "pair", 4), 0);
	}
	struct virtio_net_info info;
	virtio_net_get_info(dev, &info);
	for (unsigned p = 0; p < PAIRS; p++)
		cr_assert_eq(info.pair_tx_packets[p], 1, "pair %u sent one frame", p);
	cr_assert_eq(info.tx_bytes, PAIRS * (14 + 20 + 8 + 4), "the frames' bytes, no header");
	close(s);
}

/* Frames from the host are spread over the receive queues by flow: datagrams from many source
 * ports land on more than one queue, and none is lost. */
Test(virtio_net_mq, flows_from_the_host_spread_over_the_receive_queues)
{
	start();
	cr_assert_eq(set_pairs(PAIRS), VIRTIO_NET_OK);
	for (unsigned p = 0; p < PAIRS; p++) {
		unsigned q = 2 * p;
		for (unsigned slot = 0; slot < FAKE_QUEUE_SIZE; slot++) {
			struct fake_buf b = {RX_BUFFERS_GPA + (q * 16 + slot) * SLOT_SIZE,
					     SLOT_SIZE, true};
			fake_driver_add(&drv, q, &b, 1);
		}
		virtio_device_kick(dev, q);
	}
	enum { FLOWS = 24 };
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	inet_pton(AF_INET, "10.0.2.2", &to.sin_addr);
	for (unsigned i = 0; i < FLOWS; i++) {
		int s = udp_socket((uint16_t)(7000 + i));
		cr_assert_eq(sendto(s, "flow", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
		close(s);
	}
	unsigned used[PAIRS], total = 0;
	for (int ms = 0; ms < 3000 && total < FLOWS; ms += 10) {
		usleep(10000);
		total = 0;
		for (unsigned p = 0; p < PAIRS; p++)
			total += used[p] = fake_used_idx(&drv, 2 * p);
	}
	cr_assert_eq(total, FLOWS, "every datagram arrived (%u of %u)", total, FLOWS);
	unsigned queues_used = 0;
	for (unsigned p = 0; p < PAIRS; p++)
		queues_used += used[p] > 0;
	cr_assert_geq(queues_used, 2, "the flows used %u receive queue(s)", queues_used);
	struct virtio_net_info info;
	virtio_net_get_info(dev, &info);
	for (unsigned p = 0; p < PAIRS; p++)
		cr_assert_eq(info.pair_rx_packets[p], used[p]);
	/* each a datagram of 4 bytes in a frame of 46 (no virtio-net header counted) */
	cr_assert_eq(info.rx_bytes, FLOWS * (14 + 20 + 8 + 4), "%llu bytes",
		     (unsigned long long)info.rx_bytes);
}

Test(virtio_net_mq, bad_control_commands_are_refused_counted_and_survived)
{
	start();
	uint8_t three[3] = {2, 0, 0}, multicast[6] = {0x01, 0, 0x5e, 0, 0, 1};
	cr_assert_eq(set_pairs(0), VIRTIO_NET_ERR);
	cr_assert_eq(set_pairs(PAIRS + 1), VIRTIO_NET_ERR);
	cr_assert_eq(control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, three, 3),
		     VIRTIO_NET_ERR);
	cr_assert_eq(control(9, 0, NULL, 0), VIRTIO_NET_ERR);
	cr_assert_eq(control(VIRTIO_NET_CTRL_MAC, 0, NULL, 0), VIRTIO_NET_ERR); /* MAC table */
	cr_assert_eq(set_mac(multicast), VIRTIO_NET_ERR);
	/* A chain with no room for the ack: returned unanswered, the device goes on. */
	struct fake_buf only_out = {CTRL_GPA, 2, false};
	fake_driver_add(&drv, CTRL_QUEUE, &only_out, 1);
	uint16_t want = drv.avail_idx[CTRL_QUEUE];
	virtio_device_kick(dev, CTRL_QUEUE);
	cr_assert(fake_wait_used(&drv, CTRL_QUEUE, want, 2000));
	cr_assert_eq(fake_used_elem(&drv, CTRL_QUEUE, (uint16_t)(want - 1)).len, 0);
	cr_assert_not(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert_eq(set_pairs(2), VIRTIO_NET_OK);
	struct virtio_net_info info;
	virtio_net_get_info(dev, &info);
	cr_assert_eq(info.ctrl_errors, 7);
	cr_assert_eq(info.active_pairs, 2);
}

Test(virtio_net_mq, the_guest_sets_its_mac_and_a_reset_restores_the_assigned_one)
{
	start();
	uint8_t own[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55}, seen[6];
	cr_assert_eq(set_mac(own), VIRTIO_NET_OK);
	read_config_mac(seen);
	cr_assert_eq(memcmp(seen, own, 6), 0, "the card reports the guest's MAC");
	virtio_device_reset(dev);
	read_config_mac(seen);
	cr_assert_eq(memcmp(seen, guest_mac, 6), 0, "a reset brings back the assigned MAC");

	/* The operator assigns another: the driver reads it at its next probe. */
	uint8_t assigned[6] = {0x52, 0x54, 0x00, 0x99, 0x88, 0x77};
	char err[256] = "";
	cr_assert_eq(virtio_net_set_mac(dev, assigned, err, sizeof(err)), 0, "%s", err);
	read_config_mac(seen);
	cr_assert_eq(memcmp(seen, assigned, 6), 0);
	struct virtio_net_info info;
	virtio_net_get_info(dev, &info);
	cr_assert_eq(memcmp(info.assigned_mac, assigned, 6), 0);
}

/* A card saved with the pairs its driver chose comes back with them (the tap's queues
 * attached), and one with fewer pairs refuses the state with a sentence. */
Test(virtio_net_mq, saved_pairs_come_back_and_a_smaller_card_refuses_them)
{
	start();
	cr_assert_eq(set_pairs(3), VIRTIO_NET_OK);
	virtio_device_pause(dev);
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_save(dev, &w);
	cr_assert_not(state_writer_failed(&w));
	virtio_device_resume(dev);

	struct fake_driver other;
	struct virtio_device *small = create_card("gmq1", 2);
	fake_driver_init(&other, 8 << 20, small);
	struct virtio_device_loaded *loaded = malloc(sizeof(*loaded));
	size_t pos = 0;
	char err[256] = "";
	cr_assert_eq(virtio_device_check_state(small, w.buf, w.len, &pos, loaded, err, sizeof(err)),
		     -1);
	cr_assert(strstr(err, "queue"), "the refusal names the queues: %s", err);
	fake_driver_destroy(&other);

	struct virtio_device *same = create_card("gmq2", PAIRS);
	fake_driver_init(&other, 8 << 20, same);
	pos = 0;
	cr_assert_eq(virtio_device_check_state(same, w.buf, w.len, &pos, loaded, err, sizeof(err)),
		     0, "%s", err);
	virtio_device_apply_state(same, loaded);
	cr_assert_eq(tap_receive_queues("gmq2"), 3);
	struct virtio_net_info info;
	virtio_net_get_info(same, &info);
	cr_assert_eq(info.active_pairs, 3);
	fake_driver_destroy(&other);
	free(loaded);
	state_writer_free(&w);
}
