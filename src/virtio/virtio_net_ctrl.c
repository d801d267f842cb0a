/* virtio-net control commands (see virtio_net_ctrl.h). The data a command carries is read from
 * the chain's readable part after the two header bytes; its size must be exactly what the
 * command defines, since a driver that sends more or less is not speaking this protocol. */
#include "virtio/virtio_net_ctrl.h"

#include <string.h>

#define HEADER_BYTES 2 /* class, command */

static void decode_mac(const struct virtq_chain *chain, size_t data_len,
		       struct net_ctrl_command *cmd)
{
	if (cmd->command != VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		cmd->kind = NET_CTRL_UNKNOWN;
		return;
	}
	if (data_len != sizeof(cmd->mac)) {
		cmd->kind = NET_CTRL_BAD_DATA;
		return;
	}
	virtq_chain_read(chain, HEADER_BYTES, cmd->mac, sizeof(cmd->mac));
	cmd->kind = NET_CTRL_SET_MAC;
}

static void decode_mq(const struct virtq_chain *chain, size_t data_len,
		      struct net_ctrl_command *cmd)
{
	uint8_t le[2];
	if (cmd->command != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		cmd->kind = NET_CTRL_UNKNOWN;
		return;
	}
	if (data_len != sizeof(le)) {
		cmd->kind = NET_CTRL_BAD_DATA;
		return;
	}
	virtq_chain_read(chain, HEADER_BYTES, le, sizeof(le));
	cmd->pairs = (uint16_t)(le[0] | le[1] << 8);
	cmd->kind = NET_CTRL_SET_PAIRS;
}

void net_ctrl_decode(const struct virtq_chain *chain, struct net_ctrl_command *cmd)
{
	uint8_t header[HEADER_BYTES];
	memset(cmd, 0, sizeof(*cmd));
	if (chain->in_bytes < 1 || chain->out_bytes < HEADER_BYTES) {
		cmd->kind = NET_CTRL_MALFORMED;
		return;
	}
	virtq_chain_read(chain, 0, header, sizeof(header));
	cmd->class = header[0];
	cmd->command = header[1];
	size_t data_len = chain->out_bytes - HEADER_BYTES;
	if (cmd->class == VIRTIO_NET_CTRL_MAC)
		decode_mac(chain, data_len, cmd);
	else if (cmd->class == VIRTIO_NET_CTRL_MQ)
		decode_mq(chain, data_len, cmd);
	else
		cmd->kind = NET_CTRL_UNKNOWN;
}

uint32_t net_ctrl_ack(const struct virtq_chain *chain, uint8_t ack)
{
	/* The first writable byte, as QEMU writes it, should a driver give more than one. */
	return (uint32_t)virtq_chain_write(chain, 0, &ack, 1);
}
