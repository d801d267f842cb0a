/* The host's monotonic clock, for elapsed times (migration rounds, snapshot times, rates), and
 * sleeping on it. */
#ifndef GUREUM_LIB_MONOTONIC_H
#define GUREUM_LIB_MONOTONIC_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t monotonic_ms(void)
{
	return monotonic_ns() / 1000000;
}

/* Sleeps `ns` nanoseconds, the whole of them even when a signal interrupts. */
static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL),
			      .tv_nsec = (long)(ns % 1000000000ULL)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif
