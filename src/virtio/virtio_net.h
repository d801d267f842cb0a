/* The virtio network device's wire format (virtio 1.2, section 5.1): feature bits, status bits
 * and the per-packet header. Names follow Linux's uapi virtio_net.h so they can be compared
 * with the guest driver. The device model is virtio_net.c; its constructor is in
 * virtio_devices.h. */
#ifndef GUREUM_VIRTIO_VIRTIO_NET_H
#define GUREUM_VIRTIO_VIRTIO_NET_H

#include <stdint.h>

/* Feature bits (spec 5.1.3). */
#define VIRTIO_NET_F_CSUM	   0
#define VIRTIO_NET_F_GUEST_CSUM	   1
#define VIRTIO_NET_F_MAC	   5
#define VIRTIO_NET_F_GUEST_TSO4	   7
#define VIRTIO_NET_F_GUEST_TSO6	   8
#define VIRTIO_NET_F_GUEST_ECN	   9
#define VIRTIO_NET_F_GUEST_UFO	   10
#define VIRTIO_NET_F_HOST_TSO4	   11
#define VIRTIO_NET_F_HOST_TSO6	   12
#define VIRTIO_NET_F_HOST_ECN	   13
#define VIRTIO_NET_F_MRG_RXBUF	   15
#define VIRTIO_NET_F_STATUS	   16
#define VIRTIO_NET_F_CTRL_VQ	   17
#define VIRTIO_NET_F_MQ		   22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* Configuration space status (spec 5.1.4). */
#define VIRTIO_NET_S_LINK_UP 1

/* virtio_net_hdr_v1 (spec 5.1.6): the header in front of every packet, both directions. */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE	    0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN	    0x80

struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#endif
