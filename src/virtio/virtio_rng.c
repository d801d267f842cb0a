/* virtio-rng (virtio 1.2 section 5.4): one request queue; every device-writable buffer the
 * driver makes available comes back filled with bytes from the host's getrandom(). */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RNG_QUEUE_SIZE 256
/* Bytes one request gets at most: the spec lets the device write fewer than offered, and a
 * guest handing us a gigabyte must not keep the device thread busy for seconds. Linux asks for
 * at most a few KiB at a time. */
#define RNG_MAX_BYTES_PER_REQUEST (64 * 1024)

struct virtio_rng {
	struct virtio_device dev;
	struct virtq_chain chain; /* scratch for the chain being served (device lock) */
};

static void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* getrandom cannot fail once the pool is ready (Linux >= 3.17) */
		p += n;
		len -= (size_t)n;
	}
}

/* Fills the chain's writable buffers; returns the bytes written. */
static uint32_t serve(struct virtq_chain *chain)
{
	size_t budget = RNG_MAX_BYTES_PER_REQUEST;
	uint32_t written = 0;
	for (unsigned i = chain->nr_out; i < chain->nr_out + chain->nr_in && budget; i++) {
		size_t len = chain->iov[i].iov_len < budget ? chain->iov[i].iov_len : budget;
		fill_random(chain->iov[i].iov_base, len);
		budget -= len;
		written += (uint32_t)len;
	}
	return written;
}

static void rng_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_rng *rng = (struct virtio_rng *)d;
	struct virtqueue *vq = &d->queues[index];
	int rc;
	do {
		virtq_disable_kicks(vq);
		while ((rc = virtq_pop(vq, &rng->chain)) == 1)
			virtq_push(vq, rng->chain.head, serve(&rng->chain));
		if (rc < 0) {
			virtio_device_fail(d, "%s", vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	virtio_device_notify(d, index);
}

static void rng_destroy(struct virtio_device *d)
{
	free(d);
}

static const struct virtio_device_ops rng_ops = {
    .queue_kick = rng_queue_kick,
    .destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(char *err, size_t err_len)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng) {
		snprintf(err, err_len, "virtio-rng: out of memory");
		return NULL;
	}
	int rc = virtio_device_init(&rng->dev, &rng_ops, "virtio-rng0", VIRTIO_ID_RNG, 0, 0, 1,
				    RNG_QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-rng: cannot create the device: %s", strerror(-rc));
		free(rng);
		return NULL;
	}
	return &rng->dev;
}
