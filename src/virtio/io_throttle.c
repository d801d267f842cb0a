#include "virtio/io_throttle.h"

#include "lib/monotonic.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

int io_throttle_init(struct io_throttle *t, const struct io_limits *limits)
{
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->timer_fd < 0)
		return -errno;
	uint64_t now = monotonic_ns();
	token_bucket_init(&t->bytes, 0, 0, now);
	token_bucket_init(&t->ops, 0, 0, now);
	io_throttle_set(t, limits);
	return 0;
}

void io_throttle_destroy(struct io_throttle *t)
{
	if (t->timer_fd >= 0)
		close(t->timer_fd);
	t->timer_fd = -1;
}

void io_throttle_set(struct io_throttle *t, const struct io_limits *limits)
{
	uint64_t now = monotonic_ns();
	token_bucket_set(&t->bytes, limits->bps, limits->bps_burst, now);
	token_bucket_set(&t->ops, limits->iops, limits->iops_burst, now);
	t->limited = token_bucket_limited(&t->bytes) || token_bucket_limited(&t->ops);
}

void io_throttle_get(const struct io_throttle *t, struct io_limits *limits)
{
	*limits = (struct io_limits){.bps = t->bytes.rate,
				     .bps_burst = t->bytes.burst,
				     .iops = t->ops.rate,
				     .iops_burst = t->ops.burst};
}

/* Nanoseconds until `bytes` and one operation may be taken at `now`: the later of the two. */
static uint64_t wait_ns(struct io_throttle *t, uint64_t bytes, uint64_t now)
{
	uint64_t wait_bytes = token_bucket_wait_ns(&t->bytes, bytes, now);
	uint64_t wait_ops = token_bucket_wait_ns(&t->ops, 1, now);
	return wait_bytes > wait_ops ? wait_bytes : wait_ops;
}

uint64_t io_throttle_admit(struct io_throttle *t, uint64_t bytes)
{
	uint64_t now = monotonic_ns();
	uint64_t wait = wait_ns(t, bytes, now);
	if (wait)
		return wait;
	token_bucket_take(&t->bytes, bytes, now);
	token_bucket_take(&t->ops, 1, now);
	return 0;
}

uint64_t io_throttle_ready(struct io_throttle *t)
{
	return wait_ns(t, 1, monotonic_ns());
}

void io_throttle_force(struct io_throttle *t, uint64_t bytes)
{
	uint64_t now = monotonic_ns();
	token_bucket_take(&t->bytes, bytes, now);
	token_bucket_take(&t->ops, 1, now);
}

void io_throttle_arm(struct io_throttle *t, uint64_t ns)
{
	struct itimerspec when = {.it_value = {.tv_sec = (time_t)(ns / 1000000000ull),
					       .tv_nsec = (long)(ns % 1000000000ull)}};
	if (ns == 0)
		when.it_value.tv_nsec = 1; /* all zero would disarm it */
	timerfd_settime(t->timer_fd, 0, &when, NULL);
}

void io_throttle_disarm(struct io_throttle *t)
{
	struct itimerspec off = {0};
	timerfd_settime(t->timer_fd, 0, &off, NULL);
}

void io_throttle_ack(struct io_throttle *t)
{
	uint64_t expirations;
	if (read(t->timer_fd, &expirations, sizeof(expirations)) < 0)
		return; /* EAGAIN: a disarm or re-arm came between the wake and the read */
}
