/* libFuzzer target: virtio-net's control-command decoder (virtio_net_ctrl.c). The guest writes
 * every byte of a control chain and chooses how it is split into buffers; whatever it sends,
 * the decoder must read only inside the chain's readable buffers, say what is wrong in the
 * command's kind, and write the ack only into a writable byte. Build and run with
 * tests/fuzz/run_fuzz_net_ctrl.sh SECONDS.
 *
 * Input: [0] readable buffers (mod 5), [1] writable buffers (mod 3), then one length byte per
 * buffer (mod 17), then the readable bytes. Each buffer is a heap block of exactly its length,
 * so ASan catches any access past one. */
#include "virtio/virtio_net_ctrl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct virtq_chain chain;
	memset(&chain, 0, sizeof(chain));
	chain.nr_out = data[0] % 5;
	chain.nr_in = data[1] % 3;
	unsigned n = chain.nr_out + chain.nr_in;
	if (size < 2 + n)
		return 0;
	size_t pos = 2 + n; /* the readable bytes, after the lengths */
	for (unsigned i = 0; i < n; i++) {
		size_t len = data[2 + i] % 17;
		chain.iov[i].iov_base = malloc(len ? len : 1);
		check(chain.iov[i].iov_base != NULL);
		chain.iov[i].iov_len = len;
		if (i < chain.nr_out) {
			size_t take = size - pos < len ? size - pos : len;
			memcpy(chain.iov[i].iov_base, data + pos, take);
			memset((uint8_t *)chain.iov[i].iov_base + take, 0, len - take);
			pos += take;
			chain.out_bytes += len;
		} else {
			chain.in_bytes += len;
		}
	}
	struct net_ctrl_command cmd;
	net_ctrl_decode(&chain, &cmd);
	/* The kinds that carry data were given exactly their size. */
	if (cmd.kind == NET_CTRL_SET_MAC)
		check(chain.out_bytes == 2 + 6 && cmd.class == VIRTIO_NET_CTRL_MAC);
	if (cmd.kind == NET_CTRL_SET_PAIRS)
		check(chain.out_bytes == 2 + 2 && cmd.class == VIRTIO_NET_CTRL_MQ);
	if (cmd.kind != NET_CTRL_MALFORMED)
		check(chain.out_bytes >= 2 && chain.in_bytes >= 1);
	uint32_t written = net_ctrl_ack(&chain, VIRTIO_NET_ERR);
	check(written == (chain.in_bytes ? 1u : 0u));
	for (unsigned i = 0; i < n; i++)
		free(chain.iov[i].iov_base);
	return 0;
}
