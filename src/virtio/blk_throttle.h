/* A disk's I/O limits as the device thread applies them: two token buckets (data bytes and
 * requests per second, lib/token_bucket.h) and the timer that wakes the device when a request
 * that had to wait may go. virtio_blk.c owns one per disk and calls it under the device lock. */
#ifndef GUREUM_VIRTIO_BLK_THROTTLE_H
#define GUREUM_VIRTIO_BLK_THROTTLE_H

#include "lib/token_bucket.h"
#include "virtio/virtio_options.h"

#include <stdbool.h>
#include <stdint.h>

struct blk_throttle {
	struct token_bucket bytes, ops;
	bool limited; /* either bucket has a rate: the only thing the fast path looks at */
	int timer_fd; /* timerfd (CLOCK_MONOTONIC), armed while a request waits */
};

/* Creates the timer and sets `limits`. 0, or -errno. */
int blk_throttle_init(struct blk_throttle *t, const struct disk_limits *limits);
void blk_throttle_destroy(struct blk_throttle *t);
/* New limits from now on; tokens held and debts carry over (token_bucket_set). */
void blk_throttle_set(struct blk_throttle *t, const struct disk_limits *limits);
/* The limits in effect, bursts resolved (a rate's default burst is the rate). */
void blk_throttle_get(const struct blk_throttle *t, struct disk_limits *limits);
/* A request of `bytes` data bytes: 0 when it may go now (its tokens are taken), else the
 * nanoseconds until it may (nothing taken). */
uint64_t blk_throttle_admit(struct blk_throttle *t, uint64_t bytes);
/* Takes a request's tokens whatever the buckets hold (a pause must not wait for them). */
void blk_throttle_force(struct blk_throttle *t, uint64_t bytes);
/* The timer fires in `ns` (>= 1), or never. */
void blk_throttle_arm(struct blk_throttle *t, uint64_t ns);
void blk_throttle_disarm(struct blk_throttle *t);
/* Consumes the timer's expiry (its fd is readable). */
void blk_throttle_ack(struct blk_throttle *t);

#endif
