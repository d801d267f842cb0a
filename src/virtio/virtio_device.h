/* A virtio device, independent of its transport: feature negotiation, the status state
 * machine, reset, its queues, and the device's own thread.
 *
 * Threads. Each device runs an event loop of its own (an epoll thread, like QEMU's iothreads):
 * queue kicks arrive there as eventfds (written by KVM's ioeventfd without any exit to the VMM,
 * or by the transport when the guest's write did exit), and so do the device's backend fds (a
 * tap, the block layer's completion eventfd). The transport's register accesses run on vCPU
 * threads. `lock` serialises the two: the device thread holds it while it runs a device
 * callback, the transport while it changes status, features or queue configuration.
 *
 * Lock order: io_bus lock -> device lock -> transport's interrupt lock. A device callback must
 * never take an io_bus lock.
 *
 * Device models (virtio_blk.c, virtio_net.c ...) embed a struct virtio_device, fill in ops and
 * call virtio_device_init(); the board hands the device to a transport (virtio_pci.h), which
 * calls virtio_device_realize(). */
#ifndef GUREUM_VIRTIO_VIRTIO_DEVICE_H
#define GUREUM_VIRTIO_VIRTIO_DEVICE_H

#include "lib/event_loop.h"
#include "machine/guest_memory.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* virtio-net's 8 queue pairs and its control queue. */
#define VIRTIO_MAX_QUEUES 17
/* Backend fds one device may watch (tap queues, block completions, vhost call eventfds ...). */
#define VIRTIO_MAX_WATCHES 32

struct virtio_device;
struct state_writer;
struct state_record;

/* The core's records of what the device thread watches (internal to virtio_device.c). */
struct virtio_watch {
	struct virtio_device *dev;
	int fd; /* -1: free slot */
	uint32_t events;
	void (*handler)(struct virtio_device *d, int fd, uint32_t events);
};

struct virtio_kick_source {
	struct virtio_device *dev;
	unsigned index;
};

struct virtio_device_ops {
	/* Device-specific configuration space; offset + size <= config_size (checked by the
	 * caller). size is 1, 2, 4 or 8. config_write may be NULL (read-only config). Both run
	 * with the device lock held. */
	void (*config_read)(struct virtio_device *d, uint32_t offset, void *data, unsigned size);
	void (*config_write)(struct virtio_device *d, uint32_t offset, const void *data,
			     unsigned size);
	/* The driver set DRIVER_OK: features (d->driver_features) and queues are final, the
	 * enabled queues are started. Returns 0, or -1 after calling virtio_device_fail(). */
	int (*start)(struct virtio_device *d);
	/* The driver reset the device (or the VM is being torn down): stop using the queues;
	 * requests in flight are finished (or cancelled) before returning, since guest memory
	 * may be reused right after. Not called if start() was never called. */
	void (*reset)(struct virtio_device *d);
	/* Queue `index` has new chains (a kick, or a poll after start). Only called while the
	 * device is started and not broken, on the device thread. */
	void (*queue_kick)(struct virtio_device *d, unsigned index);
	/* Frees the device model (after reset, with the thread stopped). */
	void (*destroy)(struct virtio_device *d);
	/* Optional. The VM pauses: finish the requests in flight (their results reach the used
	 * rings) and stop whatever works on guest memory outside the device thread (an in-kernel
	 * backend). Called with the lock held, the device started, its fds no longer watched. */
	void (*pause)(struct virtio_device *d);
	/* Optional. The VM resumes after pause: restart what pause stopped. Returns 0, or -1
	 * after calling virtio_device_fail(). The core then polls every enabled queue. */
	int (*resume)(struct virtio_device *d);

	/* Saved state (virtio_device_state.c), all optional. A model whose guest-visible state
	 * is more than the core's (status, features, queues) writes one record of its own with
	 * save_state (the device paused, lock held). load_state validates such a record into
	 * nothing but locals when `apply` is false, and takes it when true: it is only called
	 * with apply after the same record passed without, and may then not fail. It runs
	 * before the loaded device starts (ops->start follows when the driver had started). */
	void (*save_state)(struct virtio_device *d, struct state_writer *w);
	int (*load_state)(struct virtio_device *d, const struct state_record *rec, bool apply,
			  char *err, size_t err_len);
	/* Chains the model took from queue `index` and still holds at a pause (a receive
	 * pool): a save rewinds that queue's last_avail_idx by as many, so that the restored
	 * device takes them from the ring again. They must be the last ones taken. */
	uint16_t (*held_chains)(struct virtio_device *d, unsigned index);
};

/* How the device raises interrupts: provided by the transport. Called with the device lock. */
struct virtio_transport {
	void (*notify_queue)(void *opaque, unsigned index); /* used buffer notification */
	void (*notify_config)(void *opaque);		    /* configuration change */
	/* For in-kernel backends (vhost): an eventfd that raises queue `index`'s interrupt when
	 * written (an irqfd the transport keeps bound to the queue's MSI-X vector), or -1 when
	 * there is none (INTx in use, vector masked or unassigned, no irqfd). */
	int (*queue_irqfd)(void *opaque, unsigned index);
	void *opaque;
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	const char *name; /* "virtio-blk0": logs and --stats */
	uint16_t device_id;
	uint64_t host_features;	  /* offered: device bits | transport bits */
	uint64_t driver_features; /* accepted by the driver (a subset) */
	uint8_t status;
	uint8_t config_generation;
	uint32_t config_size;
	unsigned num_queues;
	struct virtqueue queues[VIRTIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfds, one per queue */
	/* The device model consumes kick_fd[i] itself (vhost reads it in the kernel), so the
	 * core does not watch it. */
	bool kick_external[VIRTIO_MAX_QUEUES];
	bool started; /* start() succeeded and no reset since */
	bool paused;  /* the VM is paused: no callbacks, nothing watched (virtio_device_pause) */
	bool failure_logged;

	const struct guest_memory *mem;
	struct virtio_transport transport;
	struct event_loop loop;
	bool loop_started;
	/* Recursive, so that the helpers below (watch, notify, fail ...) may be called both
	 * from device callbacks (lock held) and from elsewhere. */
	pthread_mutex_t lock;
	struct virtio_watch watches[VIRTIO_MAX_WATCHES];
	struct virtio_kick_source kick_sources[VIRTIO_MAX_QUEUES];

	/* Counters for --stats. */
	uint64_t kicks, interrupts;
};

/* Fills in the generic part. `features` are the device-type bits; VERSION_1, INDIRECT_DESC
 * and EVENT_IDX are added here. Every queue offers `queue_max_size` entries. Returns 0 or
 * -errno. */
int virtio_device_init(struct virtio_device *d, const struct virtio_device_ops *ops,
		       const char *name, uint16_t device_id, uint64_t features,
		       uint32_t config_size, unsigned num_queues, uint16_t queue_max_size);

/* Transport side. */
/* Creates the kick eventfds and starts the device thread. Returns 0 or -errno. */
int virtio_device_realize(struct virtio_device *d, const struct guest_memory *mem,
			  struct virtio_transport transport);
/* The driver wrote the status register: handles 0 (reset), FEATURES_OK (refused -- the bit
 * stays clear -- when the driver accepted bits we did not offer or lacks VERSION_1) and
 * DRIVER_OK (starts the device). */
void virtio_device_write_status(struct virtio_device *d, uint8_t status);
/* Accepts a driver feature word (select 0: bits 0-31, 1: bits 32-63); ignored once
 * FEATURES_OK is set. */
void virtio_device_write_features(struct virtio_device *d, unsigned select, uint32_t value);
/* Resets to the power-on state (status 0, queues unconfigured). */
void virtio_device_reset(struct virtio_device *d);
/* Enables queue `index` as the driver configured it; a bad configuration fails the device. */
void virtio_device_enable_queue(struct virtio_device *d, unsigned index);
/* The guest's notify write reached the VMM (no ioeventfd): forward it to the device thread. */
void virtio_device_kick(struct virtio_device *d, unsigned index);
/* Stops the thread, resets, and calls ops->destroy. */
void virtio_device_destroy(struct virtio_device *d);
/* The VM pauses (its vCPUs are stopped first): from return on, the device runs no callback
 * and touches no guest memory, and the requests it had in flight are finished. A reset or
 * driver start while paused is still honoured, but the device stays quiet. */
void virtio_device_pause(struct virtio_device *d);
/* The VM resumes: the device looks at every enabled queue again (kicks that arrived while
 * it was paused were not processed). */
void virtio_device_resume(struct virtio_device *d);

/* Starts a device whose state was just loaded (virtio_device_state.c) as the driver had it:
 * when the loaded status says DRIVER_OK (and nothing failed), the enabled queues are mapped,
 * ops->start runs and every enabled queue is polled for chains waiting in the ring. The
 * signalled used indices are taken from `queues` after virtq_start (which forgets them). */
void virtio_device_start_loaded(struct virtio_device *d, const struct virtqueue *queues);

/* Device-model side. */
/* After pushing used chains on queue `index`: interrupts the driver if it wants one. */
void virtio_device_notify(struct virtio_device *d, unsigned index);
/* Calls each(opaque, gpa, len) for the descriptor table, available ring and used ring of every
 * enabled queue: the guest RAM a loading device touches first (post-copy sends these pages
 * before the records). */
void virtio_device_each_ring(struct virtio_device *d,
			     void (*each)(void *opaque, uint64_t gpa, uint64_t len), void *opaque);
/* The device configuration changed (e.g. balloon target, link state). */
void virtio_device_config_changed(struct virtio_device *d);
/* Something the driver did is invalid (broken queue, bad request): set DEVICE_NEEDS_RESET,
 * log the reason once, stop processing until the driver resets the device. The VMM runs on. */
void virtio_device_fail(struct virtio_device *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Watches a backend fd on the device thread; `handler` runs with the device lock held, and
 * only while the device is started: the core stops watching the fd at reset and watches it
 * again at the next start, so a readable tap does not spin the loop meanwhile. The handler is
 * given the fd, so that one handler may serve several (a tap's queues). */
int virtio_device_watch(struct virtio_device *d, int fd, uint32_t events,
			void (*handler)(struct virtio_device *d, int fd, uint32_t events));
int virtio_device_watch_modify(struct virtio_device *d, int fd, uint32_t events);
void virtio_device_unwatch(struct virtio_device *d, int fd);
/* Hands queue `index`'s kick eventfd to the device model (external = true) or back to the core
 * (the device thread watches it again). */
void virtio_device_set_kick_external(struct virtio_device *d, unsigned index, bool external);
/* True when feature bit `bit` was negotiated. */
static inline bool virtio_has_feature(const struct virtio_device *d, unsigned bit)
{
	return (d->driver_features >> bit) & 1;
}

#endif
