/* The virtio device core as a driver and a device model see it: feature negotiation, the
 * status state machine, reset, failures, and kicks arriving on the device's own thread. A tiny
 * device model ("echo": it returns every chain it gets, writing nothing) and a fake transport
 * that records notifications stand in for the real ones. */
#include "virtio/virtio_device.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_SIZE 16
#define DESC_GPA   0x10000
#define AVAIL_GPA  0x11000
#define USED_GPA   0x12000
#define BUFFER_GPA 0x20000
#define FEATURE_X  3 /* a device-type feature bit the test device offers */

struct echo_device {
	struct virtio_device dev;
	int starts, resets, kicks, backend_events, pauses, resumes;
	pthread_t kick_thread;
	int backend_fd;
	bool fail_on_kick;
};

struct fake_transport {
	int queue_notifications, config_notifications;
};

static struct guest_memory mem;
static struct echo_device *echo;
static struct fake_transport transport;

static struct echo_device *to_echo(struct virtio_device *d)
{
	return (struct echo_device *)d;
}

static int echo_start(struct virtio_device *d)
{
	to_echo(d)->starts++;
	return 0;
}

static void echo_reset(struct virtio_device *d)
{
	to_echo(d)->resets++;
}

static void echo_queue_kick(struct virtio_device *d, unsigned index)
{
	struct echo_device *e = to_echo(d);
	e->kick_thread = pthread_self();
	if (e->fail_on_kick) {
		virtio_device_fail(d, "test failure on queue %u", index);
		return;
	}
	struct virtq_chain *chain = malloc(sizeof(*chain));
	while (virtq_pop(&d->queues[index], chain) == 1)
		virtq_push(&d->queues[index], chain->head, 0);
	free(chain);
	virtio_device_notify(d, index);
	__atomic_add_fetch(&e->kicks, 1, __ATOMIC_RELEASE);
}

static void echo_backend(struct virtio_device *d, int fd, uint32_t events)
{
	(void)events;
	struct echo_device *e = to_echo(d);
	uint64_t v;
	/* The handler is told which fd is ready: the one it was registered for. */
	if (fd == e->backend_fd && read(fd, &v, sizeof(v)) == sizeof(v))
		__atomic_add_fetch(&e->backend_events, 1, __ATOMIC_RELEASE);
}

static void echo_destroy(struct virtio_device *d)
{
	free(to_echo(d));
}

static void echo_pause(struct virtio_device *d)
{
	to_echo(d)->pauses++;
}

static int echo_resume(struct virtio_device *d)
{
	to_echo(d)->resumes++;
	return 0;
}

static const struct virtio_device_ops echo_ops = {
    .start = echo_start,
    .reset = echo_reset,
    .queue_kick = echo_queue_kick,
    .destroy = echo_destroy,
    .pause = echo_pause,
    .resume = echo_resume,
};

static void fake_notify_queue(void *opaque, unsigned index)
{
	(void)index;
	__atomic_add_fetch(&((struct fake_transport *)opaque)->queue_notifications, 1,
			   __ATOMIC_RELEASE);
}

static void fake_notify_config(void *opaque)
{
	__atomic_add_fetch(&((struct fake_transport *)opaque)->config_notifications, 1,
			   __ATOMIC_RELEASE);
}

static void setup(void)
{
	cr_assert_eq(guest_memory_create(&mem, 1 << 20), 0);
	echo = calloc(1, sizeof(*echo));
	cr_assert(echo);
	echo->backend_fd = -1;
	cr_assert_eq(virtio_device_init(&echo->dev, &echo_ops, "virtio-echo0", 42,
					VIRTIO_FEATURE(FEATURE_X), 0, 2, QUEUE_SIZE),
		     0);
	memset(&transport, 0, sizeof(transport));
	struct virtio_transport t = {
	    .notify_queue = fake_notify_queue,
	    .notify_config = fake_notify_config,
	    .opaque = &transport,
	};
	cr_assert_eq(virtio_device_realize(&echo->dev, &mem, t), 0);
}

static void teardown(void)
{
	int fd = echo->backend_fd;
	virtio_device_destroy(&echo->dev);
	if (fd >= 0)
		close(fd);
	guest_memory_destroy(&mem);
}

TestSuite(virtio_device, .init = setup, .fini = teardown);

/* Waits up to 2 s for *counter to reach `want`. */
static bool wait_for(int *counter, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

/* Lets the device thread run for a while, for checks that something did NOT happen. */
static void settle(void)
{
	usleep(50 * 1000);
}

static void negotiate(uint64_t features)
{
	struct virtio_device *d = &echo->dev;
	virtio_device_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_device_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_write_features(d, 0, (uint32_t)features);
	virtio_device_write_features(d, 1, (uint32_t)(features >> 32));
	virtio_device_write_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
}

static const uint8_t status_ready =
    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

static void configure_queue(unsigned index, uint16_t size)
{
	struct virtqueue *vq = &echo->dev.queues[index];
	vq->size = size;
	vq->desc_addr = DESC_GPA + index * 0x4000;
	vq->avail_addr = AVAIL_GPA + index * 0x4000;
	vq->used_addr = USED_GPA + index * 0x4000;
	virtio_device_enable_queue(&echo->dev, index);
}

static void driver_ok(void)
{
	virtio_device_write_status(&echo->dev, status_ready | VIRTIO_STATUS_DRIVER_OK);
}

/* Makes one single-buffer chain available on queue `index`, as a driver would. */
static void add_buffer(unsigned index)
{
	uint64_t base = index * 0x4000;
	struct virtq_avail avail;
	cr_assert(guest_memory_read(&mem, AVAIL_GPA + base, &avail, sizeof(avail)));
	uint16_t slot = avail.idx % QUEUE_SIZE;
	struct virtq_desc desc = {.addr = BUFFER_GPA, .len = 64, .flags = 0, .next = 0};
	cr_assert(
	    guest_memory_write(&mem, DESC_GPA + base + slot * sizeof(desc), &desc, sizeof(desc)));
	cr_assert(guest_memory_write(&mem, AVAIL_GPA + base + 4 + slot * 2, &slot, 2));
	avail.idx++;
	cr_assert(guest_memory_write(&mem, AVAIL_GPA + base + 2, &avail.idx, 2));
}

static uint16_t used_idx(unsigned index)
{
	uint16_t idx;
	cr_assert(guest_memory_read(&mem, USED_GPA + index * 0x4000 + 2, &idx, 2));
	return idx;
}

static uint64_t version_1(void)
{
	return VIRTIO_FEATURE(VIRTIO_F_VERSION_1);
}

Test(virtio_device, offers_the_ring_features_and_version_1)
{
	uint64_t f = echo->dev.host_features;
	cr_assert(f & VIRTIO_FEATURE(FEATURE_X));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_F_VERSION_1));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC));
	cr_assert(f & VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX));
	cr_assert_eq(echo->dev.status, 0);
}

Test(virtio_device, accepts_a_subset_with_version_1)
{
	negotiate(version_1() | VIRTIO_FEATURE(FEATURE_X));
	cr_assert_eq(echo->dev.status, status_ready);
	cr_assert(virtio_has_feature(&echo->dev, FEATURE_X));
}

Test(virtio_device, refuses_features_it_did_not_offer)
{
	negotiate(version_1() | VIRTIO_FEATURE(5));
	cr_assert_eq(echo->dev.status & VIRTIO_STATUS_FEATURES_OK, 0,
		     "FEATURES_OK must stay clear when the driver accepts an unoffered bit");
}

Test(virtio_device, refuses_a_driver_without_version_1)
{
	negotiate(VIRTIO_FEATURE(FEATURE_X));
	cr_assert_eq(echo->dev.status & VIRTIO_STATUS_FEATURES_OK, 0);
}

Test(virtio_device, features_are_frozen_after_features_ok)
{
	negotiate(version_1());
	virtio_device_write_features(&echo->dev, 0, 1u << FEATURE_X);
	cr_assert_not(virtio_has_feature(&echo->dev, FEATURE_X));
}

Test(virtio_device, driver_ok_without_features_ok_breaks_the_device)
{
	virtio_device_write_status(&echo->dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						   VIRTIO_STATUS_DRIVER_OK);
	cr_assert(echo->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert_eq(echo->starts, 0);
}

Test(virtio_device, kicks_are_delivered_on_the_device_thread)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert_eq(echo->starts, 1);
	cr_assert(wait_for(&echo->kicks, 1), "DRIVER_OK polls every enabled queue once");
	int before = __atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE);
	add_buffer(0);
	virtio_device_kick(&echo->dev, 0);
	cr_assert(wait_for(&echo->kicks, before + 1));
	cr_assert_not(pthread_equal(echo->kick_thread, pthread_self()));
	cr_assert_eq(used_idx(0), 1, "the chain came back used");
	cr_assert(wait_for(&transport.queue_notifications, 1));
}

Test(virtio_device, buffers_added_before_driver_ok_are_processed)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	add_buffer(0);
	add_buffer(0);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1));
	cr_assert_eq(used_idx(0), 2);
}

Test(virtio_device, kicks_are_ignored_while_not_started)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	virtio_device_kick(&echo->dev, 0);
	settle();
	cr_assert_eq(__atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE), 0);
	virtio_device_kick(&echo->dev, 7); /* no such queue: ignored, no crash */
}

Test(virtio_device, kicks_on_a_disabled_queue_are_ignored)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1));
	settle();
	int before = __atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE);
	virtio_device_kick(&echo->dev, 1); /* queue 1 was never enabled */
	settle();
	cr_assert_eq(__atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE), before);
}

Test(virtio_device, a_bad_queue_size_fails_the_device)
{
	negotiate(version_1());
	configure_queue(0, 12);
	cr_assert(echo->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert_not(echo->dev.queues[0].enabled);
}

Test(virtio_device, a_ring_outside_ram_fails_the_device)
{
	negotiate(version_1());
	struct virtqueue *vq = &echo->dev.queues[0];
	vq->size = QUEUE_SIZE;
	vq->desc_addr = 0xfff00000; /* far beyond the 1 MiB of RAM */
	vq->avail_addr = AVAIL_GPA;
	vq->used_addr = USED_GPA;
	virtio_device_enable_queue(&echo->dev, 0);
	driver_ok();
	cr_assert(echo->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert_eq(echo->starts, 0);
}

Test(virtio_device, fail_sets_needs_reset_notifies_and_stops_processing)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	echo->fail_on_kick = true;
	driver_ok();
	settle();
	cr_assert(echo->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	cr_assert(echo->dev.failure_logged);
	cr_assert_eq(__atomic_load_n(&transport.config_notifications, __ATOMIC_ACQUIRE), 1,
		     "a device that needs a reset after DRIVER_OK must tell the driver");
	echo->fail_on_kick = false;
	add_buffer(0);
	virtio_device_kick(&echo->dev, 0);
	settle();
	cr_assert_eq(used_idx(0), 0, "a broken device processes nothing");
	/* The driver cannot clear NEEDS_RESET by writing the status... */
	driver_ok();
	cr_assert(echo->dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* ...only a reset does. */
	virtio_device_write_status(&echo->dev, 0);
	cr_assert_eq(echo->dev.status, 0);
	cr_assert_not(echo->dev.failure_logged);
}

Test(virtio_device, reset_returns_to_the_power_on_state)
{
	negotiate(version_1() | VIRTIO_FEATURE(FEATURE_X));
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1));
	virtio_device_write_status(&echo->dev, 0);
	cr_assert_eq(echo->resets, 1);
	cr_assert_eq(echo->dev.status, 0);
	cr_assert_eq(echo->dev.driver_features, 0);
	cr_assert_not(echo->dev.started);
	cr_assert_not(echo->dev.queues[0].enabled);
	cr_assert_eq(echo->dev.queues[0].size, 0);
	cr_assert_eq(echo->dev.queues[0].max_size, QUEUE_SIZE);
	/* Kicks after the reset do not reach the model. */
	int before = __atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE);
	virtio_device_kick(&echo->dev, 0);
	settle();
	cr_assert_eq(__atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE), before);
}

Test(virtio_device, reset_before_start_does_not_call_the_model)
{
	negotiate(version_1());
	virtio_device_write_status(&echo->dev, 0);
	cr_assert_eq(echo->resets, 0);
	cr_assert_eq(echo->dev.status, 0);
}

Test(virtio_device, the_device_starts_again_after_a_reset)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1));
	virtio_device_write_status(&echo->dev, 0);
	memset(mem.regions[0].host + AVAIL_GPA, 0, 0x3000);
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert_eq(echo->starts, 2);
	add_buffer(0);
	virtio_device_kick(&echo->dev, 0);
	for (int i = 0; i < 2000 && used_idx(0) != 1; i++)
		usleep(1000);
	cr_assert_eq(used_idx(0), 1);
}

Test(virtio_device, config_change_bumps_the_generation_and_notifies_a_running_driver)
{
	uint8_t gen = echo->dev.config_generation;
	virtio_device_config_changed(&echo->dev);
	cr_assert_eq(echo->dev.config_generation, (uint8_t)(gen + 1));
	cr_assert_eq(transport.config_notifications, 0, "no driver yet: no interrupt");
	negotiate(version_1());
	driver_ok();
	virtio_device_config_changed(&echo->dev);
	cr_assert_eq(transport.config_notifications, 1);
}

Test(virtio_device, backend_fds_are_watched_only_while_started)
{
	echo->backend_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(echo->backend_fd, 0);
	cr_assert_eq(virtio_device_watch(&echo->dev, echo->backend_fd, EPOLLIN, echo_backend), 0);
	uint64_t one = 1;
	cr_assert_eq(write(echo->backend_fd, &one, sizeof(one)), sizeof(one));
	settle();
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 0);
	negotiate(version_1());
	driver_ok();
	cr_assert(wait_for(&echo->backend_events, 1), "the pending event is seen at start");
	virtio_device_write_status(&echo->dev, 0);
	cr_assert_eq(write(echo->backend_fd, &one, sizeof(one)), sizeof(one));
	settle();
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 1);
	virtio_device_unwatch(&echo->dev, echo->backend_fd);
	negotiate(version_1());
	driver_ok();
	settle();
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 1,
		     "an unwatched fd is not watched again");
}

/* Paused, the device runs no callback: kicks and backend events wait, and resume processes
 * what the driver made available meanwhile. Pausing twice is one pause. */
Test(virtio_device, a_paused_device_runs_nothing_until_resumed)
{
	echo->backend_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(echo->backend_fd, 0);
	cr_assert_eq(virtio_device_watch(&echo->dev, echo->backend_fd, EPOLLIN, echo_backend), 0);
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1));
	settle();
	int kicks = __atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE);
	virtio_device_pause(&echo->dev);
	virtio_device_pause(&echo->dev);
	cr_assert_eq(echo->pauses, 1);
	add_buffer(0);
	virtio_device_kick(&echo->dev, 0);
	uint64_t one = 1;
	cr_assert_eq(write(echo->backend_fd, &one, sizeof(one)), sizeof(one));
	settle();
	cr_assert_eq(__atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE), kicks);
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 0);
	cr_assert_eq(used_idx(0), 0, "nothing was used while paused");
	virtio_device_resume(&echo->dev);
	cr_assert_eq(echo->resumes, 1);
	cr_assert(wait_for(&echo->kicks, kicks + 1), "resume looks at the queue");
	cr_assert(wait_for(&echo->backend_events, 1), "the backend event is seen after resume");
	cr_assert_eq(used_idx(0), 1);
}

Test(virtio_device, pausing_a_device_that_is_not_started_calls_no_model_hook)
{
	virtio_device_pause(&echo->dev);
	virtio_device_resume(&echo->dev);
	cr_assert_eq(echo->pauses, 0);
	cr_assert_eq(echo->resumes, 0);
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	driver_ok();
	cr_assert(wait_for(&echo->kicks, 1), "the device works after a pause before start");
}

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A broken device runs no handler, so a backend fd that stays readable (I/O completions still
 * arriving) must not be watched either: the device thread would spin at 100% until reset. */
static void expect_idle_device_thread(void)
{
	uint64_t before = process_cpu_ns();
	usleep(300 * 1000);
	uint64_t used = process_cpu_ns() - before;
	cr_assert_lt(used, 60 * 1000000ULL, "the device thread burnt %llu ms of CPU in 300 ms",
		     (unsigned long long)(used / 1000000));
}

Test(virtio_device, a_broken_device_does_not_spin_on_a_readable_backend_fd)
{
	echo->backend_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(echo->backend_fd, 0);
	cr_assert_eq(virtio_device_watch(&echo->dev, echo->backend_fd, EPOLLIN, echo_backend), 0);
	negotiate(version_1());
	driver_ok();
	virtio_device_fail(&echo->dev, "test failure");
	uint64_t one = 1;
	cr_assert_eq(write(echo->backend_fd, &one, sizeof(one)), sizeof(one));
	expect_idle_device_thread();
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 0);

	/* The driver giving up (FAILED) stops the device the same way. */
	virtio_device_write_status(&echo->dev, 0);
	negotiate(version_1());
	driver_ok();
	cr_assert(wait_for(&echo->backend_events, 1), "the device works again after a reset");
	virtio_device_write_status(&echo->dev,
				   status_ready | VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED);
	cr_assert_eq(write(echo->backend_fd, &one, sizeof(one)), sizeof(one));
	expect_idle_device_thread();
	cr_assert_eq(__atomic_load_n(&echo->backend_events, __ATOMIC_ACQUIRE), 1);
}

Test(virtio_device, an_external_kick_fd_is_left_alone)
{
	negotiate(version_1());
	configure_queue(0, QUEUE_SIZE);
	virtio_device_set_kick_external(&echo->dev, 0, true);
	driver_ok();
	settle();
	cr_assert_eq(__atomic_load_n(&echo->kicks, __ATOMIC_ACQUIRE), 0);
	uint64_t count = 0;
	cr_assert_eq(read(echo->dev.kick_fd[0], &count, sizeof(count)), sizeof(count),
		     "the start-up poll is left in the eventfd for its owner (vhost)");
	virtio_device_set_kick_external(&echo->dev, 0, false);
	virtio_device_kick(&echo->dev, 0);
	cr_assert(wait_for(&echo->kicks, 1));
}

Test(virtio_device, init_rejects_impossible_queue_layouts)
{
	struct virtio_device d;
	cr_assert_lt(virtio_device_init(&d, &echo_ops, "x", 1, 0, 0, 0, 16), 0);
	cr_assert_lt(virtio_device_init(&d, &echo_ops, "x", 1, 0, 0, VIRTIO_MAX_QUEUES + 1, 16), 0);
	cr_assert_lt(virtio_device_init(&d, &echo_ops, "x", 1, 0, 0, 1, 100), 0);
}
