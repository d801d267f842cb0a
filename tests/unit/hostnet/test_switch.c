/* Virtual switches and their ports on the real kernel, in a network namespace of each test's
 * own: frames written into one port's tap are read (or not) from the others', as a VM's would
 * be. Ports of one VLAN reach each other untagged, a trunk port sees them tagged, another
 * VLAN sees nothing; a port's filter drops frames from a MAC or IPv4 address not its own and
 * what exceeds its rate; `net list` finds only gureum's bridges. */
#include "hostnet/port_filter.h"
#include "hostnet/switch.h"
#include "hostnet/switch_port.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SWITCH "gsw0"

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
	}
}

/* A namespace of our own without IPv6, whose neighbour discovery would add frames of the
 * kernel's own to every tap. */
static void setup(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
}

TestSuite(hostnet_switch, .init = setup, .timeout = 30);

static int open_tap(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	cr_assert_geq(fd, 0, "/dev/net/tun: %s", strerror(errno));
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0, "TUNSETIFF %s: %s", name, strerror(errno));
	return fd;
}

struct port {
	int fd;
	uint8_t mac[6];
};

/* A tap named `name` on the switch with `settings` ("vlan=10", "trunk=10:20,ip=10.0.0.1"). */
static struct port add_port(const char *name, uint8_t last_mac_byte, const char *settings)
{
	struct port p = {.mac = {0x52, 0x54, 0, 0, 0, last_mac_byte}};
	struct switch_port_options o = {0};
	char err[256], text[128];
	snprintf(text, sizeof(text), "%s", settings);
	cr_assert_eq(switch_port_parse(&o, "switch", SWITCH, err, sizeof(err)), 0, "%s", err);
	for (char *save, *item = strtok_r(text, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=');
		*value++ = 0;
		cr_assert_eq(switch_port_parse(&o, item, value, err, sizeof(err)), 0, "%s", err);
	}
	cr_assert_eq(switch_port_check(&o, err, sizeof(err)), 0, "%s", err);
	p.fd = open_tap(name);
	cr_assert_eq(switch_port_attach(&o, name, p.mac, err, sizeof(err)), 0, "%s", err);
	return p;
}

static void make_switch(void)
{
	char err[256];
	cr_assert_eq(switch_create(SWITCH, err, sizeof(err)), 0, "%s", err);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A broadcast frame of the test's own EtherType (0x88b5, local experimental) from `src`
 * carrying `marker`. */
static size_t test_frame(uint8_t *f, const uint8_t src[6], uint8_t marker)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, 0x88b5);
	memset(f + 14, marker, 46);
	return 60;
}

/* An IPv4/UDP broadcast from `src` with source address `ip`. */
static size_t ip_frame(uint8_t *f, const uint8_t src[6], const char *ip, uint8_t marker)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, 0x0800);
	uint8_t *h = f + 14;
	memset(h, 0, 28);
	h[0] = 0x45;
	put16(h + 2, 28 + 18);
	h[8] = 64;
	h[9] = 17;
	inet_pton(AF_INET, ip, h + 12);
	memset(h + 16, 0xff, 4);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(h + 10, (uint16_t)~sum);
	put16(h + 20, 5000);
	put16(h + 22, 5000);
	put16(h + 24, 8 + 18);
	memset(h + 28, marker, 18);
	return 14 + 28 + 18;
}

static void send_frame(const struct port *p, const uint8_t *f, size_t len)
{
	cr_assert_eq(write(p->fd, f, len), (ssize_t)len, "write: %s", strerror(errno));
}

/* Whether a frame carrying `marker` arrives on `p` within `ms`; *vlan is its 802.1Q tag's VLAN
 * (0 untagged). Other frames are skipped. */
static bool arrives(const struct port *p, uint8_t marker, int ms, unsigned *vlan)
{
	uint8_t f[2048];
	for (int waited = 0; waited <= ms; waited += 50) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) != 1)
			continue;
		ssize_t n = read(p->fd, f, sizeof(f));
		if (n < 60)
			continue;
		unsigned tag = 0, at = 12;
		if (f[12] == 0x81 && f[13] == 0x00) {
			tag = (unsigned)((f[14] & 0x0f) << 8 | f[15]);
			at = 16;
		}
		if (f[n - 1] == marker && f[at + 2 + 1] == marker) {
			if (vlan)
				*vlan = tag;
			return true;
		}
		if (f[at] == 0x08 && f[at + 1] == 0 && f[n - 1] == marker) {
			if (vlan)
				*vlan = tag;
			return true;
		}
	}
	return false;
}

/* --- tests ------------------------------------------------------------------------------- */

Test(hostnet_switch, ports_of_one_vlan_meet_a_trunk_sees_them_tagged_other_vlans_see_nothing)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10"), b = add_port("tb", 0x0b, "vlan=10"),
		    c = add_port("tc", 0x0c, "vlan=20"), d = add_port("td", 0x0d, "trunk=10:20");
	uint8_t f[128];
	unsigned vlan = 99;
	send_frame(&a, f, test_frame(f, a.mac, 0xa1));
	cr_assert(arrives(&b, 0xa1, 1000, &vlan), "a -> b: same VLAN");
	cr_assert_eq(vlan, 0, "an access port's frames are untagged");
	cr_assert(arrives(&d, 0xa1, 1000, &vlan), "a -> the trunk");
	cr_assert_eq(vlan, 10, "tagged with the sender's VLAN");
	cr_assert_not(arrives(&c, 0xa1, 300, NULL), "VLAN 20 sees nothing of VLAN 10");

	send_frame(&c, f, test_frame(f, c.mac, 0xc1));
	cr_assert(arrives(&d, 0xc1, 1000, &vlan), "c -> the trunk");
	cr_assert_eq(vlan, 20);
	cr_assert_not(arrives(&a, 0xc1, 300, NULL), "VLAN 10 sees nothing of VLAN 20");
	cr_assert_not(arrives(&b, 0xc1, 300, NULL));
}

Test(hostnet_switch, a_spoofed_mac_gets_nothing_through)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10"), b = add_port("tb", 0x0b, "vlan=10");
	uint8_t f[128], other[6] = {0x52, 0x54, 0, 0, 0, 0x77};
	send_frame(&a, f, test_frame(f, other, 0xa2));
	cr_assert_not(arrives(&b, 0xa2, 500, NULL), "a frame from another MAC is dropped");
	/* An ARP reply claiming another MAC in the ARP header only. */
	size_t n = test_frame(f, a.mac, 0xa3);
	put16(f + 12, 0x0806);
	uint8_t *arp = f + 14;
	put16(arp, 1), put16(arp + 2, 0x0800), arp[4] = 6, arp[5] = 4, put16(arp + 6, 2);
	memcpy(arp + 8, other, 6);
	send_frame(&a, f, n);
	cr_assert_not(arrives(&b, 0xa3, 500, NULL), "an ARP sender of another MAC is dropped");
	send_frame(&a, f, test_frame(f, a.mac, 0xa4));
	cr_assert(arrives(&b, 0xa4, 1000, NULL), "its own MAC passes");
}

/* The operator gives the card another MAC: from then on that one passes and the old one is
 * spoofing; the port's address binding stays. */
Test(hostnet_switch, the_filter_follows_a_mac_the_operator_changes)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10,ip=10.0.0.1"),
		    b = add_port("tb", 0x0b, "vlan=10");
	struct switch_port_options o = {0};
	char err[256];
	cr_assert_eq(switch_port_parse(&o, "switch", SWITCH, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(switch_port_parse(&o, "vlan", "10", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(switch_port_parse(&o, "ip", "10.0.0.1", err, sizeof(err)), 0, "%s", err);
	uint8_t old[6], f[128];
	memcpy(old, a.mac, 6);
	a.mac[5] = 0x99;
	cr_assert_eq(switch_port_change_mac(&o, "ta", a.mac, err, sizeof(err)), 0, "%s", err);
	send_frame(&a, f, ip_frame(f, a.mac, "10.0.0.1", 0xd1));
	cr_assert(arrives(&b, 0xd1, 1000, NULL), "the new MAC passes");
	send_frame(&a, f, ip_frame(f, old, "10.0.0.1", 0xd2));
	cr_assert_not(arrives(&b, 0xd2, 500, NULL), "the old MAC is dropped");
	send_frame(&a, f, ip_frame(f, a.mac, "10.0.0.9", 0xd3));
	cr_assert_not(arrives(&b, 0xd3, 500, NULL), "the address binding stays");
}

Test(hostnet_switch, a_port_given_an_address_sends_only_from_it)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10,ip=10.0.0.1"),
		    b = add_port("tb", 0x0b, "vlan=10");
	uint8_t f[128];
	send_frame(&a, f, ip_frame(f, a.mac, "10.0.0.9", 0xb1));
	cr_assert_not(arrives(&b, 0xb1, 500, NULL), "another source address is dropped");
	send_frame(&a, f, ip_frame(f, a.mac, "10.0.0.1", 0xb2));
	cr_assert(arrives(&b, 0xb2, 1000, NULL), "its own address passes");
	send_frame(&a, f, ip_frame(f, a.mac, "0.0.0.0", 0xb3));
	cr_assert(arrives(&b, 0xb3, 1000, NULL), "0.0.0.0 passes (DHCP)");
}

Test(hostnet_switch, a_rate_limited_port_sends_its_burst_and_no_more)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10,rate=64K"),
		    b = add_port("tb", 0x0b, "vlan=10");
	uint8_t f[1100];
	test_frame(f, a.mac, 0xd1);
	memset(f + 14, 0xd1, sizeof(f) - 14);
	/* 400 frames of 1 KiB at once: 400 KiB against 64 KiB/s with a 64 KiB burst. */
	for (int i = 0; i < 400; i++)
		send_frame(&a, f, sizeof(f));
	unsigned got = 0;
	while (arrives(&b, 0xd1, 200, NULL))
		got++;
	cr_assert_gt(got, 20, "the burst passes (%u frames)", got);
	cr_assert_lt(got, 200, "the rest is dropped (%u of 400 frames passed)", got);
}

static void count_switch(const char *name, unsigned ports, void *data)
{
	if (strcmp(name, SWITCH) == 0)
		*(int *)data = (int)ports;
}

Test(hostnet_switch, list_finds_gureums_bridges_only_and_delete_refuses_others)
{
	make_switch();
	char err[256];
	int ports = -1;
	cr_assert_eq(switch_list(count_switch, &ports, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ports, 0);
	struct port a = add_port("ta", 0x0a, "vlan=10");
	(void)a;
	cr_assert_eq(switch_list(count_switch, &ports, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ports, 1);
	cr_assert_eq(switch_create(SWITCH, err, sizeof(err)), -1);
	cr_assert(strstr(err, "exists"), "%s", err);
	cr_assert_eq(switch_delete("lo", err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a gureum switch"), "%s", err);
	cr_assert_eq(switch_delete(SWITCH, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(switch_check(SWITCH, err, sizeof(err)), -1);
	cr_assert(strstr(err, "gureum net create " SWITCH), "%s", err);
}

static bool nft_ok(const char *command)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	int rc = nft_run_cmd_from_buffer(nft, command);
	nft_ctx_free(nft);
	return rc == 0;
}

Test(hostnet_switch, a_port_that_leaves_takes_its_rules_along)
{
	make_switch();
	struct port a = add_port("ta", 0x0a, "vlan=10");
	(void)a;
	cr_assert(nft_ok("list chain bridge gureum port-ta"));
	switch_port_detach("ta");
	cr_assert_not(nft_ok("list chain bridge gureum port-ta"), "the port's chain is gone");
	char err[256];
	uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 0x0a};
	cr_assert_eq(port_filter_install("ta", mac, (struct in_addr){0}, 0, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(port_filter_install("ta", mac, (struct in_addr){0}, 0, err, sizeof(err)), 0,
		     "a filter left by a killed VMM is replaced: %s", err);
}

Test(hostnet_switch, a_port_on_a_missing_switch_is_refused_clearly)
{
	struct switch_port_options o = {.access_vlan = 10};
	snprintf(o.switch_name, sizeof(o.switch_name), "nosuch");
	uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 1};
	char err[256];
	int fd = open_tap("ta");
	cr_assert_eq(switch_port_attach(&o, "ta", mac, err, sizeof(err)), -1);
	cr_assert(strstr(err, "gureum net create nosuch"), "%s", err);
	close(fd);
}
