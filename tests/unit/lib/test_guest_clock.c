/* The guest TSC: runs at its own frequency from its base, converts back to host time exactly
 * enough for timers (never early), and does not overflow at high frequencies or long uptimes. */
#include "lib/guest_clock.h"

#include <criterion/criterion.h>

static struct guest_clock clock_at(uint64_t base_ns, uint64_t tsc_at_base, uint64_t hz)
{
	return (struct guest_clock){.base_ns = base_ns, .tsc_at_base = tsc_at_base, .tsc_hz = hz};
}

Test(guest_clock, counts_ticks_at_its_own_frequency)
{
	struct guest_clock c = clock_at(1000, 0, 2000000000ULL);
	cr_assert_eq(guest_clock_tsc(&c, 1000), 0);
	cr_assert_eq(guest_clock_tsc(&c, 1000 + 1000000000ULL), 2000000000ULL, "one second");
	cr_assert_eq(guest_clock_tsc(&c, 1500), 1000, "half a microsecond at 2 GHz");
}

Test(guest_clock, never_runs_backwards_before_its_base)
{
	struct guest_clock c = clock_at(5000, 77, 1000000000ULL);
	cr_assert_eq(guest_clock_tsc(&c, 100), 77);
	cr_assert_eq(guest_clock_host_ns_at(&c, 10), 5000);
}

Test(guest_clock, deadline_time_is_never_early)
{
	struct guest_clock c = clock_at(0, 0, 3000000000ULL); /* 3 ticks per ns */
	for (uint64_t tsc = 1; tsc < 100; tsc++) {
		uint64_t ns = guest_clock_host_ns_at(&c, tsc);
		cr_assert_geq(guest_clock_tsc(&c, ns), tsc, "at %llu ns the TSC reached %llu",
			      (unsigned long long)ns, (unsigned long long)tsc);
		cr_assert_lt(guest_clock_tsc(&c, ns - 1), tsc, "and not a nanosecond earlier");
	}
}

Test(guest_clock, a_year_at_100_ghz_does_not_overflow)
{
	uint64_t year_ns = 365ULL * 24 * 3600 * 1000000000ULL;
	struct guest_clock c = clock_at(0, 0, 100000000000ULL);
	uint64_t tsc = guest_clock_tsc(&c, year_ns);
	cr_assert_eq(tsc, 365ULL * 24 * 3600 * 100000000000ULL);
	cr_assert_eq(guest_clock_host_ns_at(&c, tsc), year_ns);
}

Test(guest_clock, init_clamps_the_frequency_and_starts_at_zero_now)
{
	struct guest_clock c;
	guest_clock_init(&c, 0);
	cr_assert_eq(c.tsc_hz, 1000);
	cr_assert_eq(c.tsc_at_base, 0);
	cr_assert_leq(c.base_ns, guest_clock_host_ns());
}
