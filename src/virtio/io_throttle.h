/* I/O limits as a device thread applies them: two token buckets (data bytes and operations per
 * second, lib/token_bucket.h) and the timer that wakes the device when an operation that had to
 * wait may go. virtio_blk.c owns one per disk (requests), virtio_net.c one per direction of a
 * card (frames); each calls it under its device lock. */
#ifndef GUREUM_VIRTIO_IO_THROTTLE_H
#define GUREUM_VIRTIO_IO_THROTTLE_H

#include "lib/token_bucket.h"
#include "virtio/virtio_options.h"

#include <stdbool.h>
#include <stdint.h>

struct io_throttle {
	struct token_bucket bytes, ops;
	bool limited; /* either bucket has a rate: the only thing the fast path looks at */
	int timer_fd; /* timerfd (CLOCK_MONOTONIC), armed while a request waits */
};

/* Creates the timer and sets `limits`. 0, or -errno. */
int io_throttle_init(struct io_throttle *t, const struct io_limits *limits);
void io_throttle_destroy(struct io_throttle *t);
/* New limits from now on; tokens held and debts carry over (token_bucket_set). */
void io_throttle_set(struct io_throttle *t, const struct io_limits *limits);
/* The limits in effect, bursts resolved (a rate's default burst is the rate). */
void io_throttle_get(const struct io_throttle *t, struct io_limits *limits);
/* A request of `bytes` data bytes: 0 when it may go now (its tokens are taken), else the
 * nanoseconds until it may (nothing taken). */
uint64_t io_throttle_admit(struct io_throttle *t, uint64_t bytes);
/* For operations charged in full once they start (a frame, whose size on receive is known
 * only once it is read): 0 when one may start now (neither bucket is in debt; nothing is
 * taken, io_throttle_force takes its size), else the nanoseconds until one may. */
uint64_t io_throttle_ready(struct io_throttle *t);
/* Takes a request's tokens whatever the buckets hold (a pause must not wait for them). */
void io_throttle_force(struct io_throttle *t, uint64_t bytes);
/* The timer fires in `ns` (>= 1), or never. */
void io_throttle_arm(struct io_throttle *t, uint64_t ns);
void io_throttle_disarm(struct io_throttle *t);
/* Consumes the timer's expiry (its fd is readable). */
void io_throttle_ack(struct io_throttle *t);

#endif
