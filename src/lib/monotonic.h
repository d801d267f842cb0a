/* The host's monotonic clock, for elapsed times (migration rounds, snapshot times, rates). */
#ifndef GUREUM_LIB_MONOTONIC_H
#define GUREUM_LIB_MONOTONIC_H

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

#endif
