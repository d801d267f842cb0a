/* virtio-net's control queue (virtio 1.2 section 5.1.6.5): decoding the driver's commands.
 * A command is one chain: class and command bytes and their data, device-readable, then one
 * device-writable ack byte. The device model (virtio_net.c) carries them out. */
#ifndef GUREUM_VIRTIO_VIRTIO_NET_CTRL_H
#define GUREUM_VIRTIO_VIRTIO_NET_CTRL_H

#include "virtio/virtqueue.h"

#include <stddef.h>
#include <stdint.h>

/* Classes and commands (spec 5.1.6.5), with Linux's uapi names. */
#define VIRTIO_NET_CTRL_MAC		1
#define VIRTIO_NET_CTRL_MAC_ADDR_SET	1
#define VIRTIO_NET_CTRL_MQ		4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000

/* The ack byte. */
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

enum net_ctrl_kind {
	NET_CTRL_MALFORMED, /* no room for the ack, or shorter than class + command */
	NET_CTRL_UNKNOWN,   /* a class or command this device does not offer */
	NET_CTRL_BAD_DATA,  /* a known command with data of the wrong size */
	NET_CTRL_SET_MAC,
	NET_CTRL_SET_PAIRS,
};

struct net_ctrl_command {
	enum net_ctrl_kind kind;
	uint8_t class, command;
	uint8_t mac[6]; /* NET_CTRL_SET_MAC */
	uint16_t pairs; /* NET_CTRL_SET_PAIRS, as the driver sent it (not range-checked) */
};

/* Reads one control chain. Never fails: what is wrong with it is in the kind. */
void net_ctrl_decode(const struct virtq_chain *chain, struct net_ctrl_command *cmd);

/* Writes the ack at the end of the chain's writable part. Returns the bytes written (1), or 0
 * when the chain has no writable byte. */
uint32_t net_ctrl_ack(const struct virtq_chain *chain, uint8_t ack);

#endif
