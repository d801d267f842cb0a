/* The transport-independent virtio device: feature negotiation, the status state machine
 * (spec 2.1, 3.1.1), reset, and the device thread that turns kick eventfds and backend fds into
 * device callbacks. See virtio_device.h for the contract and the lock order. */
#include "virtio/virtio_device.h"

#include "lib/log.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void lock(struct virtio_device *d)
{
	pthread_mutex_lock(&d->lock);
}

static void unlock(struct virtio_device *d)
{
	pthread_mutex_unlock(&d->lock);
}

/* The device processes requests only between a successful start and the next reset, and
 * not after it (or the driver) declared it broken. */
static bool device_running(const struct virtio_device *d)
{
	return d->started &&
	       !(d->status & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

/* Running and not paused: the device thread may call into the device model. */
static bool device_active(const struct virtio_device *d)
{
	return device_running(d) && !d->paused;
}

static int init_lock(struct virtio_device *d)
{
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	int rc = pthread_mutex_init(&d->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return -rc;
}

int virtio_device_init(struct virtio_device *d, const struct virtio_device_ops *ops,
		       const char *name, uint16_t device_id, uint64_t features,
		       uint32_t config_size, unsigned num_queues, uint16_t queue_max_size)
{
	if (num_queues == 0 || num_queues > VIRTIO_MAX_QUEUES || queue_max_size == 0 ||
	    queue_max_size > VIRTQ_MAX_SIZE || (queue_max_size & (queue_max_size - 1)))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->name = name;
	d->device_id = device_id;
	d->host_features = features | VIRTIO_FEATURE(VIRTIO_F_VERSION_1) |
			   VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) |
			   VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX);
	d->config_size = config_size;
	d->num_queues = num_queues;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		d->queues[i].max_size = queue_max_size;
		virtq_reset(&d->queues[i]);
		d->kick_fd[i] = -1;
		d->kick_sources[i] = (struct virtio_kick_source){d, i};
	}
	for (unsigned i = 0; i < VIRTIO_MAX_WATCHES; i++)
		d->watches[i] = (struct virtio_watch){.dev = d, .fd = -1};
	int rc = init_lock(d);
	if (rc < 0)
		return rc;
	rc = event_loop_init(&d->loop);
	if (rc < 0) {
		event_loop_destroy(&d->loop);
		pthread_mutex_destroy(&d->lock);
		return rc;
	}
	return 0;
}

/* --- the device thread ------------------------------------------------------------------ */

static void on_kick(void *opaque, uint32_t events)
{
	(void)events;
	struct virtio_kick_source *src = opaque;
	struct virtio_device *d = src->dev;
	uint64_t count;
	/* Consume the kick first: a kick that arrives while queue_kick runs is seen next time. */
	if (read(d->kick_fd[src->index], &count, sizeof(count)) != sizeof(count))
		return;
	lock(d);
	/* A kick dropped while paused is made up for by virtio_device_resume's poll. */
	if (device_active(d) && d->queues[src->index].enabled && !d->kick_external[src->index]) {
		d->kicks++;
		d->ops->queue_kick(d, src->index);
	}
	unlock(d);
}

static void on_watch(void *opaque, uint32_t events)
{
	struct virtio_watch *w = opaque;
	struct virtio_device *d = w->dev;
	lock(d);
	/* A stopped device's fds are watched for no events, but epoll still reports hang-ups. */
	if (device_active(d) && w->fd >= 0)
		w->handler(d, w->fd, events);
	unlock(d);
}

/* The events each fd is watched for right now: none while the device is stopped or broken (a
 * readable fd whose handler may not run would spin the device thread). */
static uint32_t kick_events(const struct virtio_device *d, unsigned index)
{
	return d->kick_external[index] || d->paused ? 0 : EPOLLIN;
}

static uint32_t watch_events(const struct virtio_device *d, const struct virtio_watch *w)
{
	return device_active(d) ? w->events : 0;
}

static void apply_kick_events(struct virtio_device *d)
{
	for (unsigned i = 0; i < d->num_queues; i++)
		if (d->kick_fd[i] >= 0)
			event_loop_modify(&d->loop, d->kick_fd[i], kick_events(d, i));
}

static void apply_watch_events(struct virtio_device *d)
{
	for (unsigned i = 0; i < VIRTIO_MAX_WATCHES; i++)
		if (d->watches[i].fd >= 0)
			event_loop_modify(&d->loop, d->watches[i].fd,
					  watch_events(d, &d->watches[i]));
}

/* Device threads must not take the host's signals (SIGINT ... go to the main thread's
 * handlers, SIGUSR1 is the vCPU kick): block them all in the new thread. */
static int start_thread(struct event_loop *loop)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = event_loop_start(loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int create_kick_fds(struct virtio_device *d)
{
	for (unsigned i = 0; i < d->num_queues; i++) {
		d->kick_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->kick_fd[i] < 0)
			return -errno;
		int rc = event_loop_add(&d->loop, d->kick_fd[i], kick_events(d, i), on_kick,
					&d->kick_sources[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int virtio_device_realize(struct virtio_device *d, const struct guest_memory *mem,
			  struct virtio_transport transport)
{
	d->mem = mem;
	d->transport = transport;
	int rc = create_kick_fds(d);
	if (rc < 0)
		return rc;
	rc = start_thread(&d->loop);
	if (rc < 0)
		return rc;
	d->loop_started = true;
	char thread_name[16]; /* the kernel's limit, NUL included: top -H, gdb, perf */
	snprintf(thread_name, sizeof(thread_name), "%s", d->name);
	pthread_setname_np(d->loop.thread, thread_name);
	return 0;
}

/* --- status and features ---------------------------------------------------------------- */

void virtio_device_write_features(struct virtio_device *d, unsigned select, uint32_t value)
{
	lock(d);
	if (!(d->status & VIRTIO_STATUS_FEATURES_OK) && select < 2) {
		unsigned shift = select * 32;
		d->driver_features &= ~(0xffffffffULL << shift);
		d->driver_features |= (uint64_t)value << shift;
	}
	unlock(d);
}

/* Spec 3.1.1 step 5: the device refuses feature sets it did not offer, and (modern only)
 * drivers that did not accept VERSION_1. */
static bool features_acceptable(const struct virtio_device *d)
{
	return (d->driver_features & ~d->host_features) == 0 &&
	       virtio_has_feature(d, VIRTIO_F_VERSION_1);
}

static int start_queue(struct virtio_device *d, unsigned index)
{
	struct virtqueue *vq = &d->queues[index];
	if (virtq_start(vq, d->mem, virtio_has_feature(d, VIRTIO_F_RING_EVENT_IDX),
			virtio_has_feature(d, VIRTIO_F_RING_INDIRECT_DESC)) < 0) {
		virtio_device_fail(d, "queue %u: %s", index, vq->error);
		return -1;
	}
	return 0;
}

/* Wakes the device thread for queue `index` as a kick would (the driver may have made buffers
 * available before the queue was started, and will not kick again for them). */
static void poll_queue(struct virtio_device *d, unsigned index)
{
	uint64_t one = 1;
	if (d->kick_fd[index] >= 0 && write(d->kick_fd[index], &one, sizeof(one)) < 0) {
		/* Only fails when the counter would overflow: a kick is pending anyway. */
	}
}

static void start_device(struct virtio_device *d)
{
	for (unsigned i = 0; i < d->num_queues; i++)
		if (d->queues[i].enabled && start_queue(d, i) < 0)
			return;
	if (d->ops->start && d->ops->start(d) < 0)
		return;
	d->started = true;
	apply_watch_events(d);
	for (unsigned i = 0; i < d->num_queues; i++)
		if (d->queues[i].enabled)
			poll_queue(d, i);
}

void virtio_device_write_status(struct virtio_device *d, uint8_t status)
{
	lock(d);
	if (status == 0) {
		virtio_device_reset(d);
		unlock(d);
		return;
	}
	uint8_t old = d->status;
	uint8_t added = status & ~old;
	/* DEVICE_NEEDS_RESET is the device's to set; the driver cannot set or clear it. */
	status =
	    (status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(d))
		status &= ~VIRTIO_STATUS_FEATURES_OK;
	d->status = status;
	if (added & VIRTIO_STATUS_FAILED)
		apply_watch_events(d);
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !d->started &&
	    !(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		if (!(status & VIRTIO_STATUS_FEATURES_OK))
			virtio_device_fail(d, "the driver set DRIVER_OK without FEATURES_OK");
		else
			start_device(d);
	}
	unlock(d);
}

/* Throws away kicks that arrived for the previous life of the device. */
static void drain_kicks(struct virtio_device *d)
{
	uint64_t count;
	for (unsigned i = 0; i < d->num_queues; i++)
		if (d->kick_fd[i] >= 0 && !d->kick_external[i] &&
		    read(d->kick_fd[i], &count, sizeof(count)) < 0) {
			/* EAGAIN: nothing pending. */
		}
}

void virtio_device_reset(struct virtio_device *d)
{
	lock(d);
	if (d->started) {
		d->started = false;
		apply_watch_events(d);
		if (d->ops->reset)
			d->ops->reset(d);
	}
	d->status = 0;
	d->driver_features = 0;
	d->failure_logged = false;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&d->queues[i]);
	drain_kicks(d);
	unlock(d);
}

/* --- queues --------------------------------------------------------------------------- */

static bool power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

void virtio_device_enable_queue(struct virtio_device *d, unsigned index)
{
	lock(d);
	if (index >= d->num_queues) {
		unlock(d);
		return;
	}
	struct virtqueue *vq = &d->queues[index];
	if (vq->enabled) {
		unlock(d);
		return;
	}
	if (!power_of_two(vq->size) || vq->size > vq->max_size) {
		virtio_device_fail(d,
				   "queue %u enabled with size %u (must be a power of two <= %u)",
				   index, vq->size, vq->max_size);
		unlock(d);
		return;
	}
	vq->enabled = true;
	/* Check the rings now (a bad address fails the device at once, when the driver can tell
	 * what it did) if the features they depend on are final; DRIVER_OK starts them again. */
	if (d->status & VIRTIO_STATUS_FEATURES_OK && start_queue(d, index) == 0 && d->started)
		poll_queue(d, index);
	unlock(d);
}

void virtio_device_kick(struct virtio_device *d, unsigned index)
{
	if (index < d->num_queues)
		poll_queue(d, index);
}

void virtio_device_set_kick_external(struct virtio_device *d, unsigned index, bool external)
{
	if (index >= VIRTIO_MAX_QUEUES)
		return;
	lock(d);
	d->kick_external[index] = external;
	if (d->kick_fd[index] >= 0)
		event_loop_modify(&d->loop, d->kick_fd[index], kick_events(d, index));
	unlock(d);
}

/* --- interrupts and failures ---------------------------------------------------------- */

void virtio_device_notify(struct virtio_device *d, unsigned index)
{
	lock(d);
	if (index < d->num_queues && device_running(d) &&
	    virtq_needs_interrupt(&d->queues[index]) && d->transport.notify_queue) {
		d->interrupts++;
		d->transport.notify_queue(d->transport.opaque, index);
	}
	unlock(d);
}

static void notify_config(struct virtio_device *d)
{
	/* Spec 2.5: configuration change notifications are for a driver that is running. */
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->transport.notify_config) {
		d->interrupts++;
		d->transport.notify_config(d->transport.opaque);
	}
}

void virtio_device_config_changed(struct virtio_device *d)
{
	lock(d);
	d->config_generation++;
	notify_config(d);
	unlock(d);
}

void virtio_device_fail(struct virtio_device *d, const char *fmt, ...)
{
	lock(d);
	if (!d->failure_logged) {
		char reason[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		log_warn("%s: %s; the device stops until the guest driver resets it", d->name,
			 reason);
		d->failure_logged = true;
	}
	if (!(d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		d->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
		apply_watch_events(d);
		notify_config(d);
	}
	unlock(d);
}

/* --- backend fds ---------------------------------------------------------------------- */

static struct virtio_watch *find_watch(struct virtio_device *d, int fd)
{
	for (unsigned i = 0; i < VIRTIO_MAX_WATCHES; i++)
		if (d->watches[i].fd == fd)
			return &d->watches[i];
	return NULL;
}

int virtio_device_watch(struct virtio_device *d, int fd, uint32_t events,
			void (*handler)(struct virtio_device *d, int fd, uint32_t events))
{
	if (fd < 0 || !handler)
		return -EINVAL;
	lock(d);
	int rc = -EEXIST;
	struct virtio_watch *w = find_watch(d, fd);
	if (!w) {
		w = find_watch(d, -1);
		rc = -ENOSPC;
	}
	if (w && w->fd < 0) {
		*w =
		    (struct virtio_watch){.dev = d, .fd = fd, .events = events, .handler = handler};
		rc = event_loop_add(&d->loop, fd, watch_events(d, w), on_watch, w);
		if (rc < 0)
			w->fd = -1;
	}
	unlock(d);
	return rc;
}

int virtio_device_watch_modify(struct virtio_device *d, int fd, uint32_t events)
{
	lock(d);
	int rc = -ENOENT;
	struct virtio_watch *w = fd >= 0 ? find_watch(d, fd) : NULL;
	if (w) {
		w->events = events;
		rc = event_loop_modify(&d->loop, fd, watch_events(d, w));
	}
	unlock(d);
	return rc;
}

void virtio_device_unwatch(struct virtio_device *d, int fd)
{
	lock(d);
	struct virtio_watch *w = fd >= 0 ? find_watch(d, fd) : NULL;
	if (w) {
		event_loop_remove(&d->loop, fd);
		w->fd = -1;
	}
	unlock(d);
}

/* --- teardown ------------------------------------------------------------------------- */

void virtio_device_destroy(struct virtio_device *d)
{
	if (!d)
		return;
	/* The thread goes first: no callback may run while (or after) the model is freed. */
	event_loop_stop(&d->loop);
	d->loop_started = false;
	virtio_device_reset(d);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (d->kick_fd[i] >= 0) {
			close(d->kick_fd[i]);
			d->kick_fd[i] = -1;
		}
	event_loop_destroy(&d->loop);
	pthread_mutex_destroy(&d->lock);
	if (d->ops->destroy)
		d->ops->destroy(d);
}

/* --- pause and resume --------------------------------------------------------------------- */

void virtio_device_pause(struct virtio_device *d)
{
	lock(d);
	if (!d->paused) {
		d->paused = true;
		apply_kick_events(d);
		apply_watch_events(d);
		if (device_running(d) && d->ops->pause)
			d->ops->pause(d);
	}
	unlock(d);
}

void virtio_device_resume(struct virtio_device *d)
{
	lock(d);
	if (d->paused) {
		d->paused = false;
		bool ok = !device_running(d) || !d->ops->resume || d->ops->resume(d) == 0;
		apply_kick_events(d);
		apply_watch_events(d);
		for (unsigned i = 0; ok && device_running(d) && i < d->num_queues; i++)
			if (d->queues[i].enabled && !d->kick_external[i])
				poll_queue(d, i);
	}
	unlock(d);
}

/* --- a loaded device ------------------------------------------------------------------- */

void virtio_device_start_loaded(struct virtio_device *d, const struct virtqueue *queues)
{
	lock(d);
	uint8_t stopped = VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & stopped)) {
		start_device(d);
		/* Still under the lock: the polls start_device sent wait for it, and then see
		 * the interrupt state of the save. */
		for (unsigned i = 0; i < d->num_queues; i++) {
			d->queues[i].signalled_used = queues[i].signalled_used;
			d->queues[i].signalled_used_valid =
			    queues[i].signalled_used_valid && d->queues[i].used != NULL;
		}
	}
	unlock(d);
}

void virtio_device_each_ring(struct virtio_device *d,
			     void (*each)(void *opaque, uint64_t gpa, uint64_t len), void *opaque)
{
	lock(d);
	for (unsigned i = 0; i < d->num_queues; i++) {
		const struct virtqueue *vq = &d->queues[i];
		if (!vq->enabled || !vq->size)
			continue;
		/* Split-ring sizes (virtio 1.x, 2.7): 16-byte descriptors; flags, idx, the ring
		 * and the event field of 2 bytes each; used elements of 8 bytes. */
		each(opaque, vq->desc_addr, 16ULL * vq->size);
		each(opaque, vq->avail_addr, 6 + 2ULL * vq->size);
		each(opaque, vq->used_addr, 6 + 8ULL * vq->size);
	}
	unlock(d);
}
