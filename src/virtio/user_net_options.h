/* The settings of `--net user`: the guest's network and the ports forwarded from the host to
 * it, in QEMU's syntax (-netdev user,net=CIDR,hostfwd=...), parsed and written back as text so
 * a VM's recorded configuration (snapshots, migration) keeps them. */
#ifndef GUREUM_VIRTIO_USER_NET_OPTIONS_H
#define GUREUM_VIRTIO_USER_NET_OPTIONS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USER_NET_MAX_FORWARDS 16

/* hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT. Addresses in network order; a
 * host address of 0 listens on every interface, a guest address of 0 is the guest's DHCP
 * address. */
struct user_net_forward {
	bool udp;
	struct in_addr host_addr, guest_addr;
	uint16_t host_port, guest_port;
};

struct user_net_options {
	struct in_addr network; /* network order, host bits clear */
	unsigned prefix;	/* 1..27: the guest's address is the network's 15th */
	unsigned nr_forwards;
	struct user_net_forward forwards[USER_NET_MAX_FORWARDS];
};

/* 10.0.2.0/24 with no forwards: QEMU's defaults, so guides written for QEMU apply. */
void user_net_default_options(struct user_net_options *o);

/* net=CIDR and hostfwd=SPEC. Each returns 0, or -1 with a sentence in `err` naming the value
 * and what a good one looks like. A forward's guest address must lie in the network, so
 * give net= before hostfwd= when both are given. */
int user_net_parse_network(struct user_net_options *o, const char *cidr, char *err, size_t err_len);
int user_net_parse_forward(struct user_net_options *o, const char *spec, char *err, size_t err_len);

/* The addresses slirp serves, derived from the network as QEMU does: the host (gateway) is
 * .2, the DNS server .3, the guest's DHCP address .15. Network order. */
struct in_addr user_net_host_address(const struct user_net_options *o);
struct in_addr user_net_dns_address(const struct user_net_options *o);
struct in_addr user_net_guest_address(const struct user_net_options *o);
struct in_addr user_net_netmask(const struct user_net_options *o);

/* "net=10.0.2.0/24,hostfwd=tcp::2222-:22,...": what parses back to `o`. Returns the length
 * it needed (as snprintf). */
int user_net_format(const struct user_net_options *o, char *buf, size_t len);

#endif
