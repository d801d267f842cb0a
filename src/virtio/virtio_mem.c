/* virtio-mem (virtio 1.2, 5.15): memory the guest can be given and asked to give back while it
 * runs, in blocks of a device memory region the board maps like RAM but keeps out of the e820
 * map (guest_memory's device region). The host sets requested_size; the driver plugs or unplugs
 * blocks until plugged_size matches it, each block range with a request on the one queue
 * (mem_blocks.c answers them). A block that leaves has its memory dropped (MADV_DONTNEED: the
 * host gets it back, the guest reads zeros if it looks again). The plugged blocks are saved
 * with the device. */
#include "virtio/virtio_devices.h"

#include "lib/log.h"
#include "lib/state_record.h"
#include "virtio/mem_blocks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MEM_QUEUE_SIZE 128
#define MEM_BLOCK_SIZE (2ULL << 20) /* a transparent huge page: Linux's default too */

/* The device configuration (spec 5.15.4), little-endian as the x86 host's own. */
struct virtio_mem_config {
	uint64_t block_size;
	uint16_t node_id;
	uint8_t padding[6];
	uint64_t addr;
	uint64_t region_size;
	uint64_t usable_region_size;
	uint64_t plugged_size;
	uint64_t requested_size;
} __attribute__((packed));

struct virtio_mem {
	struct virtio_device dev; /* first: the core hands us &dev */
	struct mem_blocks blocks;
	uint8_t *host;		  /* the region's host mapping */
	struct virtq_chain chain; /* scratch, under dev.lock */
};

static struct virtio_mem *to_mem(struct virtio_device *d)
{
	return (struct virtio_mem *)d;
}

static void discard(void *opaque, uint64_t first, uint64_t count)
{
	struct virtio_mem *vm = opaque;
	uint64_t offset = first * vm->blocks.block_size, len = count * vm->blocks.block_size;
	if (madvise(vm->host + offset, len, MADV_DONTNEED) < 0)
		log_warn("%s: cannot return unplugged memory to the host (madvise: %s)",
			 vm->dev.name, strerror(errno));
	guest_memory_note_write(vm->dev.mem, vm->blocks.addr + offset, len);
}

static void mem_queue_kick(struct virtio_device *d, unsigned index)
{
	struct virtio_mem *vm = to_mem(d);
	struct virtqueue *vq = &d->queues[index];
	bool pushed = false;
	do {
		virtq_disable_kicks(vq);
		int rc;
		while ((rc = virtq_pop(vq, &vm->chain)) == 1) {
			struct virtio_mem_req req = {0};
			/* A short request reads as zeros past its end: no valid range. */
			virtq_chain_read(&vm->chain, 0, &req, sizeof(req));
			struct virtio_mem_resp resp = mem_blocks_answer(&vm->blocks, &req);
			size_t len = virtq_chain_write(&vm->chain, 0, &resp, sizeof(resp));
			virtq_push(vq, vm->chain.head, (uint32_t)len);
			pushed = true;
		}
		if (rc < 0) {
			virtio_device_fail(d, "virtio-mem queue: %s", vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	if (pushed)
		virtio_device_notify(d, index);
}

static void mem_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	const struct mem_blocks *b = &to_mem(d)->blocks;
	struct virtio_mem_config config = {.block_size = b->block_size,
					   .addr = b->addr,
					   .region_size = b->region_size,
					   .usable_region_size = b->region_size,
					   .plugged_size = b->plugged,
					   .requested_size = b->requested};
	memcpy(data, (const uint8_t *)&config + offset, size);
}

static int mem_start(struct virtio_device *d)
{
	(void)d;
	return 0;
}

/* The plugged blocks stay plugged across a reset (spec 5.15.5.2): a driver that starts again
 * (after a kexec) unplugs them all first. */
static void mem_reset(struct virtio_device *d)
{
	(void)d;
}

static void mem_destroy(struct virtio_device *d)
{
	struct virtio_mem *vm = to_mem(d);
	mem_blocks_destroy(&vm->blocks);
	free(vm);
}

/* --- saved state: record "virtio-mem" --------------------------------------------------- */

static const char *const mem_state_keys[] = {"requested_size", "plugged", NULL};

static void mem_save_state(struct virtio_device *d, struct state_writer *w)
{
	struct mem_blocks *b = &to_mem(d)->blocks;
	state_record_begin(w, "virtio-mem", 1, 1);
	state_put_u64(w, "requested_size", b->requested, STATE_ESSENTIAL);
	state_put_bytes(w, "plugged", b->bitmap, (uint32_t)mem_blocks_bitmap_bytes(b),
			STATE_ESSENTIAL);
	state_record_end(w);
}

static int mem_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			  char *err, size_t err_len)
{
	struct mem_blocks *b = &to_mem(d)->blocks;
	struct state_reader_spec spec = {"virtio-mem", 1, 1, mem_state_keys};
	uint64_t requested;
	const void *bits;
	uint32_t len;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_u64(rec, "requested_size", &requested) < 0 ||
	    state_get_bytes(rec, "plugged", &bits, &len) < 0 || len != mem_blocks_bitmap_bytes(b) ||
	    requested > b->region_size || requested % b->block_size) {
		state_set_error(err, err_len,
				"virtio-mem state: the saved blocks do not fit this region of "
				"%llu MiB",
				(unsigned long long)(b->region_size >> 20));
		return -1;
	}
	if (!apply)
		return 0;
	memcpy(b->bitmap, bits, len);
	b->requested = requested;
	mem_blocks_recount(b);
	return 0;
}

static const struct virtio_device_ops mem_ops = {
    .save_state = mem_save_state,
    .load_state = mem_load_state,
    .config_read = mem_config_read,
    .start = mem_start,
    .reset = mem_reset,
    .queue_kick = mem_queue_kick,
    .destroy = mem_destroy,
};

int virtio_mem_set_requested(struct virtio_device *d, uint64_t bytes)
{
	struct mem_blocks *b = &to_mem(d)->blocks;
	if (bytes > b->region_size || bytes % b->block_size)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	b->requested = bytes;
	virtio_device_config_changed(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void virtio_mem_get_info(struct virtio_device *d, struct virtio_mem_info *info)
{
	struct mem_blocks *b = &to_mem(d)->blocks;
	pthread_mutex_lock(&d->lock);
	*info = (struct virtio_mem_info){.region_size = b->region_size,
					 .block_size = b->block_size,
					 .requested = b->requested,
					 .plugged = b->plugged};
	pthread_mutex_unlock(&d->lock);
}

struct virtio_device *virtio_mem_create(const struct guest_region *region, char *err,
					size_t err_len)
{
	struct virtio_mem *vm = calloc(1, sizeof(*vm));
	if (!vm || mem_blocks_init(&vm->blocks, region->gpa, region->size, MEM_BLOCK_SIZE) < 0) {
		snprintf(err, err_len, "virtio-mem: out of memory");
		free(vm);
		return NULL;
	}
	vm->host = region->host;
	vm->blocks.discard = discard;
	vm->blocks.opaque = vm;
	int rc = virtio_device_init(&vm->dev, &mem_ops, "virtio-mem", VIRTIO_ID_MEM, 0,
				    sizeof(struct virtio_mem_config), 1, MEM_QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-mem: cannot initialise the device: %s",
			 strerror(-rc));
		mem_blocks_destroy(&vm->blocks);
		free(vm);
		return NULL;
	}
	return &vm->dev;
}
