/* `--net user`: user-mode NAT for one network card, with libslirp (the TCP/IP stack QEMU's
 * -netdev user uses). The guest's frames become connections from this process, so it needs no
 * root, no tap and no host configuration: DHCP, DNS relayed to the host's resolver, outbound
 * TCP and UDP, IPv6 (router advertisements of fec0::/64, the host at fec0::2), and ports
 * forwarded from the host to the guest (user_net_options.h).
 *
 * The stack runs on a thread of its own (libslirp is not thread-safe and wants a poll loop
 * with timers); it meets virtio-net through a datagram socketpair that carries each frame
 * with the 12-byte virtio_net_hdr_v1 in front, as a tap does, so the device reads and writes
 * it as it would a tap without offloads. */
#ifndef GUREUM_VIRTIO_USER_NET_H
#define GUREUM_VIRTIO_USER_NET_H

#include "virtio/user_net_options.h"

#include <stddef.h>
#include <stdint.h>

struct user_net;

/* Starts the stack for card `name`: binds the forwarded host ports and starts the thread.
 * *device_fd is the device's end of the socketpair (non-blocking; the device owns it). NULL,
 * with a sentence in `err`, when a port cannot be bound or the stack cannot start. */
struct user_net *user_net_start(const struct user_net_options *o, const char *name, int *device_fd,
				char *err, size_t err_len);

/* Stops the thread, closes every connection and forwarded port. NULL is fine. */
void user_net_stop(struct user_net *u);

#endif
