/* virtio-console (virtio 1.2, 5.3) with a single port and no MULTIPORT: the guest sees it as
 * hvc0. Queue 0 (receiveq) carries host input to the guest, queue 1 (transmitq) the guest's
 * output, which goes to the VM's console like the UART's does.
 *
 * Input arrives on the session's event-loop thread through virtio_console_receive(): the
 * console offers bytes only while virtio_console_can_receive() says the guest has posted
 * receive buffers and otherwise keeps them (and retries on its timer), so input typed before
 * the driver is up is not lost. Output is handled on the device thread and leaves through the
 * board's virtio_console_output. Both hold the device lock while they touch the queues. */
#include "virtio/virtio_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_QUEUE_RX   0
#define CONSOLE_QUEUE_TX   1
#define CONSOLE_NUM_QUEUES 2
#define CONSOLE_QUEUE_SIZE 128

/* Feature bits (spec 5.3.3). Only EMERG_WRITE is offered: no terminal size (the host side
 * may be a pipe or a file) and a single port. */
#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Device configuration layout (spec 5.3.4), little-endian. */
struct virtio_console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

#define CONSOLE_EMERG_WR_OFFSET offsetof(struct virtio_console_config, emerg_wr)

struct virtio_console {
	struct virtio_device dev; /* first: the core hands us &dev */
	struct virtio_console_output out;
	struct virtq_chain chain; /* scratch for the chain being handled, under dev.lock */
	uint64_t rx_bytes, tx_bytes;
};

static struct virtio_console *to_console(struct virtio_device *d)
{
	return (struct virtio_console *)d;
}

static void write_output(struct virtio_console *vc, const void *buf, size_t len)
{
	if (vc->out.write)
		vc->out.write(vc->out.opaque, buf, len);
}

static void console_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	/* All zero: no size, no ports (both only meaningful with features we do not offer), and
	 * emerg_wr reads as 0. */
	struct virtio_console_config config = {0};
	(void)d;
	memcpy(data, (const uint8_t *)&config + offset, size);
}

static void console_config_write(struct virtio_device *d, uint32_t offset, const void *data,
				 unsigned size)
{
	/* Emergency write: one character, written before (or instead of) the queues. */
	if (offset != CONSOLE_EMERG_WR_OFFSET ||
	    !virtio_has_feature(d, VIRTIO_CONSOLE_F_EMERG_WRITE))
		return;
	uint8_t c;
	memcpy(&c, data, 1);
	(void)size;
	write_output(to_console(d), &c, 1);
}

static int console_start(struct virtio_device *d)
{
	(void)d;
	return 0;
}

static void console_reset(struct virtio_device *d)
{
	(void)d; /* no buffer is ever held between calls */
}

/* Writes every readable buffer of the chain to the console. */
static void output_chain(struct virtio_console *vc)
{
	for (unsigned i = 0; i < vc->chain.nr_out; i++)
		write_output(vc, vc->chain.iov[i].iov_base, vc->chain.iov[i].iov_len);
	vc->tx_bytes += vc->chain.out_bytes;
}

static void transmit(struct virtio_console *vc)
{
	struct virtqueue *vq = &vc->dev.queues[CONSOLE_QUEUE_TX];
	bool pushed = false;
	do {
		virtq_disable_kicks(vq);
		int rc;
		while ((rc = virtq_pop(vq, &vc->chain)) == 1) {
			output_chain(vc);
			virtq_push(vq, vc->chain.head, 0);
			pushed = true;
		}
		if (rc < 0) {
			virtio_device_fail(&vc->dev, "transmitq: %s", vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	if (pushed)
		virtio_device_notify(&vc->dev, CONSOLE_QUEUE_TX);
}

static void console_queue_kick(struct virtio_device *d, unsigned index)
{
	/* Receive buffers need no action: the console's retry timer polls can_receive(). */
	if (index == CONSOLE_QUEUE_TX)
		transmit(to_console(d));
}

static void console_destroy(struct virtio_device *d)
{
	free(to_console(d));
}

static const struct virtio_device_ops console_ops = {
    .config_read = console_config_read,
    .config_write = console_config_write,
    .start = console_start,
    .reset = console_reset,
    .queue_kick = console_queue_kick,
    .destroy = console_destroy,
};

/* True when the driver runs and the receive queue can be used (device lock held). */
static bool receive_queue_ready(struct virtio_console *vc)
{
	const struct virtqueue *vq = &vc->dev.queues[CONSOLE_QUEUE_RX];
	uint8_t stopped = VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	return vc->dev.started && !(vc->dev.status & stopped) && vq->enabled && !vq->broken;
}

/* Copies input into as many receive buffers as it needs; returns the bytes delivered. */
static size_t fill_receive_buffers(struct virtio_console *vc, const uint8_t *buf, size_t len)
{
	struct virtqueue *vq = &vc->dev.queues[CONSOLE_QUEUE_RX];
	size_t done = 0;
	while (done < len) {
		int rc = virtq_pop(vq, &vc->chain);
		if (rc == 0)
			break;
		if (rc < 0) {
			virtio_device_fail(&vc->dev, "receiveq: %s", vq->error);
			break;
		}
		if (vc->chain.in_bytes == 0) {
			virtq_push(vq, vc->chain.head, 0);
			virtio_device_fail(&vc->dev, "receiveq: a buffer without a device-writable "
						     "part");
			break;
		}
		size_t n = virtq_chain_write(&vc->chain, 0, buf + done, len - done);
		virtq_push(vq, vc->chain.head, (uint32_t)n);
		done += n;
	}
	vc->rx_bytes += done;
	return done;
}

size_t virtio_console_receive(struct virtio_device *d, const uint8_t *buf, size_t len)
{
	struct virtio_console *vc = to_console(d);
	size_t done = 0;
	pthread_mutex_lock(&vc->dev.lock);
	if (receive_queue_ready(vc)) {
		done = fill_receive_buffers(vc, buf, len);
		if (done > 0)
			virtio_device_notify(&vc->dev, CONSOLE_QUEUE_RX);
	}
	pthread_mutex_unlock(&vc->dev.lock);
	return done;
}

bool virtio_console_can_receive(struct virtio_device *d)
{
	struct virtio_console *vc = to_console(d);
	pthread_mutex_lock(&vc->dev.lock);
	bool ready = receive_queue_ready(vc) && virtq_has_work(&vc->dev.queues[CONSOLE_QUEUE_RX]);
	pthread_mutex_unlock(&vc->dev.lock);
	return ready;
}

struct virtio_device *virtio_console_create(struct virtio_console_output out, char *err,
					    size_t err_len)
{
	struct virtio_console *vc = calloc(1, sizeof(*vc));
	if (!vc) {
		snprintf(err, err_len, "virtio-console: out of memory");
		return NULL;
	}
	vc->out = out;
	int rc = virtio_device_init(&vc->dev, &console_ops, "virtio-console", VIRTIO_ID_CONSOLE,
				    VIRTIO_FEATURE(VIRTIO_CONSOLE_F_EMERG_WRITE),
				    sizeof(struct virtio_console_config), CONSOLE_NUM_QUEUES,
				    CONSOLE_QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-console: cannot initialise the device: %s",
			 strerror(-rc));
		free(vc);
		return NULL;
	}
	return &vc->dev;
}
