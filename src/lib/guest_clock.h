/* The guest's time base where time is modelled in userspace (the software accelerator's TSC,
 * the userspace LAPIC timers and PIT): a time stamp counter that runs at a fixed frequency,
 * tsc_hz, counted from `base_ns` on the host's CLOCK_MONOTONIC. A fixed frequency, not the
 * host's: the guest's TSC must not change speed when the VM moves to another host. */
#ifndef GUREUM_LIB_GUEST_CLOCK_H
#define GUREUM_LIB_GUEST_CLOCK_H

#include <stdint.h>

#define GUEST_CLOCK_MIN_TSC_HZ 1000ULL
#define GUEST_CLOCK_MAX_TSC_HZ 100000000000ULL

struct guest_clock {
	uint64_t base_ns;     /* host CLOCK_MONOTONIC at which the TSC read tsc_at_base */
	uint64_t tsc_at_base; /* 0 at power-on; a restored VM continues from its saved value */
	uint64_t tsc_hz;      /* ticks per second */
};

/* The host's CLOCK_MONOTONIC in nanoseconds. */
uint64_t guest_clock_host_ns(void);
/* A clock whose TSC reads 0 now and runs at tsc_hz (1 kHz to 100 GHz; others are clamped). */
void guest_clock_init(struct guest_clock *clock, uint64_t tsc_hz);
/* The TSC at host time `host_ns` (never below tsc_at_base). */
uint64_t guest_clock_tsc(const struct guest_clock *clock, uint64_t host_ns);
/* The host time at which the TSC reaches `tsc` (base_ns when it already has). */
uint64_t guest_clock_host_ns_at(const struct guest_clock *clock, uint64_t tsc);

#endif
