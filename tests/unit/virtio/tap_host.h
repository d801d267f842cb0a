/* The host side of a tap for virtio-net device tests: a network namespace of the test's own
 * (nothing touches the host's network), and the tap's address, link and MAC as the kernel
 * sees them. Header-only; each test includes it once. */
#ifndef GUREUM_TESTS_TAP_HOST_H
#define GUREUM_TESTS_TAP_HOST_H

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Skips the test where taps cannot be made; otherwise moves it into a new network namespace
 * (and, with `own_sysfs`, a mount namespace whose /sys shows that network's devices). */
static inline void tap_host_enter_namespace(bool own_sysfs)
{
	int fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		cr_skip_test("/dev/net/tun: %s", strerror(errno));
	close(fd);
	if (unshare(CLONE_NEWNET | (own_sysfs ? CLONE_NEWNS : 0)) < 0)
		cr_skip_test("cannot make a network namespace: %s", strerror(errno));
}

static inline void tap_host_set_address(int s, const char *tap, unsigned long request,
					const char *text)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, text, &a->sin_addr), 1);
	cr_assert_eq(ioctl(s, request, &ifr), 0, "%s: %s", text, strerror(errno));
}

/* `address`/24 on the tap, up, without IPv6 (whose router solicitations would otherwise
 * arrive in the receive queues at random moments). */
static inline void tap_host_configure(const char *tap, const char *address)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", tap);
	int v6 = open(path, O_WRONLY);
	if (v6 >= 0) {
		cr_assert_eq(write(v6, "1", 1), 1);
		close(v6);
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(s >= 0);
	tap_host_set_address(s, tap, SIOCSIFADDR, address);
	tap_host_set_address(s, tap, SIOCSIFNETMASK, "255.255.255.0");
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "up: %s", strerror(errno));
	close(s);
}

/* The tap's own MAC, the one the host's frames to the guest come from. */
static inline void tap_host_mac(const char *tap, uint8_t mac[6])
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
	cr_assert_eq(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
}

#endif
