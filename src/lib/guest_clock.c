/* The guest's TSC on the host's monotonic clock (see guest_clock.h). The conversions use 128-bit
 * intermediates: at 100 GHz a 64-bit product of nanoseconds and hertz overflows in 3 minutes. */
#include "lib/guest_clock.h"

#include "lib/monotonic.h"

#define NS_PER_SECOND 1000000000ULL

uint64_t guest_clock_host_ns(void)
{
	return monotonic_ns();
}

void guest_clock_init(struct guest_clock *clock, uint64_t tsc_hz)
{
	if (tsc_hz < GUEST_CLOCK_MIN_TSC_HZ)
		tsc_hz = GUEST_CLOCK_MIN_TSC_HZ;
	if (tsc_hz > GUEST_CLOCK_MAX_TSC_HZ)
		tsc_hz = GUEST_CLOCK_MAX_TSC_HZ;
	clock->base_ns = guest_clock_host_ns();
	clock->tsc_at_base = 0;
	clock->tsc_hz = tsc_hz;
}

uint64_t guest_clock_tsc(const struct guest_clock *clock, uint64_t host_ns)
{
	if (host_ns <= clock->base_ns)
		return clock->tsc_at_base;
	unsigned __int128 ticks =
	    (unsigned __int128)(host_ns - clock->base_ns) * clock->tsc_hz / NS_PER_SECOND;
	return clock->tsc_at_base + (uint64_t)ticks;
}

uint64_t guest_clock_host_ns_at(const struct guest_clock *clock, uint64_t tsc)
{
	if (tsc <= clock->tsc_at_base)
		return clock->base_ns;
	/* Rounded up: at the returned time the TSC has reached `tsc`, not one tick short. */
	unsigned __int128 ns =
	    ((unsigned __int128)(tsc - clock->tsc_at_base) * NS_PER_SECOND + clock->tsc_hz - 1) /
	    clock->tsc_hz;
	if (ns > UINT64_MAX - clock->base_ns)
		return UINT64_MAX;
	return clock->base_ns + (uint64_t)ns;
}
