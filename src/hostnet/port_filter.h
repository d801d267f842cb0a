/* A VM port's filter on a virtual switch: frames from the VM are dropped unless they come
 * from its own MAC (Ethernet source and ARP sender), and, when the port was given an IPv4
 * address, from that address (IPv4 source and ARP sender; 0.0.0.0 stays allowed for DHCP).
 * nftables rules in the host's table "bridge gureum", through libnftables: a base chain on
 * the bridge's prerouting hook jumps by input interface (a verdict map) to the port's chain
 * "port-TAP". A guest that spoofs gets no frame through; the counters show what was dropped
 * (nft list table bridge gureum). */
#ifndef GUREUM_HOSTNET_PORT_FILTER_H
#define GUREUM_HOSTNET_PORT_FILTER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* Replaces the filter of `tap` (one left by a VMM that was killed included). `ip` 0: any
 * address. `rate` bytes per second the VM may send (0: no limit). 0, or -1 with nft's
 * own explanation in `err`. */
int port_filter_install(const char *tap, const uint8_t mac[6], struct in_addr ip, uint64_t rate,
			char *err, size_t err_len);

/* The port's card has a new MAC: its filter lets that one through from now on (and the old one
 * no longer), in one transaction. 0, or -1 with nft's explanation (the old filter stays). */
int port_filter_change_mac(const char *tap, const uint8_t mac[6], struct in_addr ip, uint64_t rate,
			   char *err, size_t err_len);

/* Removes the filter of `tap`; quiet when there is none. */
void port_filter_remove(const char *tap);

#endif
