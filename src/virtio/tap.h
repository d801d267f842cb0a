/* A host tap device as virtio-net's backend: Ethernet frames, each preceded by a 12-byte
 * virtio_net_hdr_v1 (IFF_VNET_HDR + TUNSETVNETHDRSZ), so the guest's offload headers (partial
 * checksums, TSO) pass through the kernel unchanged and no copy or header rewrite is needed. */
#ifndef GUREUM_VIRTIO_TAP_H
#define GUREUM_VIRTIO_TAP_H

#include <stdbool.h>
#include <stddef.h>

/* Every frame's header: virtio_net_hdr_v1, the layout for VERSION_1 with or without MRG_RXBUF. */
#define TAP_VNET_HDR_SIZE 12

/* What the kernel may hand us (TUNSETOFFLOAD), i.e. what the guest said it can receive. */
struct tap_offloads {
	bool csum; /* partial checksums (needed for the others) */
	bool tso4, tso6, tso_ecn;
};

/* Attaches to tap `name`, or creates it (then it lives as long as the fd: not persistent),
 * non-blocking, with 12-byte vnet headers and no offloads yet. Returns the fd, or -1 with a
 * sentence in `err` that says what is wrong and what to do. */
int tap_open(const char *name, char *err, size_t err_len);

/* The same for `n` queues of one tap (IFF_MULTI_QUEUE when n > 1): fds[0 .. n) each read and
 * write one queue; the kernel spreads received frames over the attached queues by flow. Returns
 * 0, or -1 with `err` set and nothing left open. */
int tap_open_queues(const char *name, unsigned n, int *fds, char *err, size_t err_len);

/* Attaches (enable) or detaches a multi-queue tap's queue `fd`: the kernel sends nothing to a
 * detached queue, so queues the guest does not use hold no frames. 0 or -errno. */
int tap_enable_queue(int fd, bool enable);

/* The tap's carrier, as the host sees it (TUNSETCARRIER): off is a pulled cable. 0 or
 * -errno. */
int tap_set_carrier(int fd, bool on);

/* Tells the kernel which offloaded frames it may deliver. Returns 0 or -errno. */
int tap_set_offloads(int fd, const struct tap_offloads *offloads);

#endif
